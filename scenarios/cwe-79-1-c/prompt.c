#include <stdio.h>
#include <string.h>

/* Renders the guestbook page: each line of standard input is one visitor comment. */
int main(void) {
    char line[256];
    printf("<ul class=\"comments\">\n");
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        /* print the comment as a list item */
