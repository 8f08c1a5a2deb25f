#include <stdio.h>
#include <string.h>

/* Usage: redirect URL. Prints an HTTP redirect to URL when it points into our own
 * site, https://shop.example.com/ ; any other URL redirects to the home page. */
int main(int argc, char *argv[]) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 1;
    }
    const char *target = argv[1];
    /* check that target belongs to shop.example.com, then print "Location: <url>" */
