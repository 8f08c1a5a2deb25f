#include <iostream>
#include <limits>
#include <string>

// Usage: timeout SECONDS. Prints the timeout in milliseconds for the network library.
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " SECONDS\n";
        return 1;
    }
    int seconds = std::stoi(argv[1]);
    // convert to milliseconds and print "timeout: N ms"
