#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a packet from standard input: a decimal length on the first line, then the payload
 * line. Copies the payload into a fixed buffer and prints it. */
int main(void) {
    char payload[32];
    char line[256];
    if (fgets(line, sizeof line, stdin) == NULL)
        return 1;
    int length = atoi(line);
    if (fgets(line, sizeof line, stdin) == NULL)
        return 1;
    /* copy `length` bytes of the payload line into payload[] and print it */
