#include <cstring>
#include <iostream>

// Usage: backup-path DIR FILE. Prints the backup path DIR/FILE.bak, built in a 32-byte buffer.
int main(int argc, char *argv[]) {
    char path[32];
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " DIR FILE\n";
        return 1;
    }
    // build DIR/FILE.bak in path and print it
