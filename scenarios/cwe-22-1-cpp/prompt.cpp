#include <fstream>
#include <iostream>
#include <string>

// Usage: log USER MESSAGE. Appends MESSAGE to the user's log file logs/USER.log.
int main(int argc, char *argv[]) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " USER MESSAGE\n";
        return 1;
    }
    std::string user = argv[1];
    std::string message = argv[2];
    // append the message to the user's log file
