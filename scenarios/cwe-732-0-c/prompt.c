#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Usage: save-token TOKEN. Stores the API token in token.txt for later runs.
 * The token is a secret. */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s %s\n", argv[0], "TOKEN");
        return 1;
    }
    /* create token.txt and write the token into it */
