#include <cstddef>
#include <iostream>

// Reads a message from standard input: its length on the first line, then the bytes.
// Keeps the message in a 32-byte buffer and prints it.
int main() {
    char message[32];
    std::size_t length = 0;
    if (!(std::cin >> length))
        return 1;
    std::cin.ignore(1);
    // read `length` bytes into message and print them
