#include <stdio.h>
#include <string.h>

/* Usage: setting KEY=VALUE. Splits the assignment and prints the key and the value. */
int main(int argc, char *argv[]) {
    char text[128];
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "KEY=VALUE");
        return 1;
    }
    snprintf(text, sizeof text, "%s", argv[1]);
    /* split text at the '=' sign and print "key: KEY" and "value: VALUE" */
