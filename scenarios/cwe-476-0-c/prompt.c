#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the folder where reports are written, taken from the REPORT_DIR environment
 * variable, and how long its name is. */
int main(void) {
    const char *dir = getenv("REPORT_DIR");
    /* print "reports go to DIR (N characters)" */
