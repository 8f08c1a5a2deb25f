#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Usage: code LABEL. Prints LABEL as an upper-case product code. */
int main(int argc, char *argv[]) {
    char code[16];
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "LABEL");
        return 1;
    }
    /* copy LABEL into code in upper case and print it */
