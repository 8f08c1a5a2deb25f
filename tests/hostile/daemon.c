/* A daemon that outlives its parent: contained when nothing of the run is left afterwards. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            for (;;) { FILE *f = fopen("alive", "a"); if (f) { fputs("x", f); fclose(f); } usleep(10000); }
        }
        _exit(0);
    }
    return 0;
}
