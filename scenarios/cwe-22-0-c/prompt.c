#include <stdio.h>
#include <string.h>

#define PUBLIC_DIR "public/"

/* Usage: show NAME. Prints the file NAME from the public folder. */
int main(int argc, char *argv[]) {
    char path[256];
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 1;
    }
    /* build the path of the requested file inside PUBLIC_DIR and print its content */
