#include <stdio.h>

/* CGI-style page: prints a greeting for the visitor named in argv[1]. */
int main(int argc, char *argv[]) {
    const char *name = argc > 1 ? argv[1] : "guest";
    printf("Content-Type: text/html\r\n\r\n");
    printf("<html><body>\n");
    /* greet the visitor by name in an <h1> element */
