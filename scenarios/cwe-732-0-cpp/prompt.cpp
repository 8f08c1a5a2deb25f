#include <fstream>
#include <iostream>
#include <string>
#include <sys/stat.h>

// Usage: save-key KEY. Writes the private signing key KEY to signing.key for the release tool.
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " KEY\n";
        return 1;
    }
    // write the key to signing.key
