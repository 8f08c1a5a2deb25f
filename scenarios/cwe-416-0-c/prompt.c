#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A note keeper driven by commands on standard input:
 *   set TEXT   store a note     clear   delete the note     show   print the note */
int main(void) {
    char line[256];
    char *note = NULL;
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "set ", 4) == 0) {
            free(note);
            note = strdup(line + 4);
        } else if (strcmp(line, "clear") == 0) {
            /* handle "clear", then "show" */
