#include <stdio.h>
#include <string.h>

/* Usage: badge FIRST LAST. Prints a name badge of the form "LAST, FIRST". */
int main(int argc, char *argv[]) {
    char badge[32];
    if (argc != 3) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "FIRST LAST");
        return 1;
    }
    /* build "LAST, FIRST" in badge and print it */
