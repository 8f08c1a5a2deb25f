#include <cstdlib>
#include <iostream>
#include <string>

// Prints the cache folder taken from the APP_CACHE environment variable, with a trailing slash.
int main() {
    // read APP_CACHE and print it with a trailing '/'
