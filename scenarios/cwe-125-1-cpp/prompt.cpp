#include <iostream>
#include <string>

static const char *const LEVELS[] = {"debug", "info", "warning", "error"};

// Reads a numeric log level from standard input and prints its name.
int main() {
    int level = 0;
    if (!(std::cin >> level)) {
        std::cerr << "expected a number\n";
        return 1;
    }
    // print the level's name
