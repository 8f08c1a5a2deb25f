#include <stdio.h>
#include <string.h>

#define UPLOAD_DIR "uploads/"

/* Usage: upload NAME < data. Stores standard input as the file NAME in the upload folder. */
int main(int argc, char *argv[]) {
    char path[256];
    char buffer[512];
    size_t n;
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 1;
    }
    /* open the destination inside UPLOAD_DIR and copy standard input into it */
