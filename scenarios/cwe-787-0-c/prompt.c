#include <stdio.h>

/* Reads the user's nickname (one line, at most 31 characters) from standard input and
 * prints a welcome. */
int main(void) {
    char nickname[32];
    int c;
    size_t i = 0;
    /* read the characters up to the end of the line into nickname */
