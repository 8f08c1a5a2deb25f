#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads one record from standard input, a length byte followed by a text field, and prints
 * the text field. */
int main(void) {
    unsigned char buffer[256];
    size_t got = fread(buffer, 1, sizeof buffer, stdin);
    if (got == 0)
        return 1;
    unsigned char *record = malloc(got);
    if (record == NULL)
        return 1;
    memcpy(record, buffer, got);
    size_t field_length = record[0];
    /* print the text field that follows the length byte */
