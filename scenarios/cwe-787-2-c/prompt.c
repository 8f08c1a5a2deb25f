#include <stdio.h>

/* Usage: motd NAME CITY. Prints the message of the day for a visitor. */
int main(int argc, char *argv[]) {
    char message[48];
    if (argc != 3) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "NAME CITY");
        return 1;
    }
    /* format "Good morning NAME from CITY!" into message and print it */
