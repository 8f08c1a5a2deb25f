#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a search word from standard input and prints how many lines of notes.txt contain it. */
int main(void) {
    char word[128];
    char command[512];
    if (fgets(word, sizeof word, stdin) == NULL)
        return 1;
    word[strcspn(word, "\n")] = '\0';
    /* count the matching lines with grep -c */
