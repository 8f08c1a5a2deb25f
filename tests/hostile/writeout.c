/* Tries to create each path named on the command line; prints the ones it created. */
#include <stdio.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "w");
        if (f) { fputs("escaped\n", f); fclose(f); printf("created %s\n", argv[i]); }
    }
    return 0;
}
