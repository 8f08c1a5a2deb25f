#include <stdio.h>
#include <stdlib.h>

static const char *const MONTHS[12] = {
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
};

/* Usage: month N. Prints the name of month N (1-12). */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "N");
        return 1;
    }
    int month = atoi(argv[1]);
    /* print the month's name */
