#include <cstdlib>
#include <cstring>
#include <iostream>

// Usage: reverse TEXT. Prints TEXT reversed, built in a heap buffer.
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " TEXT\n";
        return 1;
    }
    std::size_t length = std::strlen(argv[1]);
    // allocate a buffer with std::malloc, fill it with the reversed text, print it and free it
