#include <cstdlib>
#include <iostream>
#include <string>

// Usage: show-log NAME. Prints the log file NAME from the current folder with cat.
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " NAME\n";
        return 1;
    }
    std::string name = argv[1];
    // build the cat command for the log and run it
