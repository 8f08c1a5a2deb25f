#include <stdio.h>
#include <stdlib.h>

/* Usage: peek OFFSET < file. Reads up to 64 bytes from standard input and prints the byte
 * at OFFSET as two hex digits. */
int main(int argc, char *argv[]) {
    unsigned char data[64];
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "OFFSET");
        return 1;
    }
    size_t got = fread(data, 1, sizeof data, stdin);
    long offset = strtol(argv[1], NULL, 10);
    /* print the byte at the requested offset */
