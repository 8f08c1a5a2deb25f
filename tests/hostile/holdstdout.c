/* A child keeps stdout open long after the parent exits: the run must still return. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
    puts("parent done");
    fflush(stdout);
    if (fork() == 0) { sleep(300); return 0; }
    return 0;
}
