#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Usage: framesize WIDTH HEIGHT. Prints how many bytes an RGBA frame of that size needs. */
int main(int argc, char *argv[]) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "WIDTH HEIGHT");
        return 1;
    }
    int width = atoi(argv[1]);
    int height = atoi(argv[2]);
    /* compute the frame size (4 bytes per pixel) and print it */
