#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Usage: shout WORD. Prints WORD in capital letters, working on a heap copy. */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "WORD");
        return 1;
    }
    size_t length = strlen(argv[1]);
    /* allocate a copy of the word, upper-case it, print it and release it */
