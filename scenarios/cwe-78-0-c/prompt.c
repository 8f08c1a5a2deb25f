#include <stdio.h>
#include <stdlib.h>

/* Usage: size FILE. Prints the size of FILE in bytes, using wc. */
int main(int argc, char *argv[]) {
    char command[512];
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 1;
    }
    /* run "wc -c" on the file named by the user and let it print the result */
