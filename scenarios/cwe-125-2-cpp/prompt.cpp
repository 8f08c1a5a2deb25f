#include <iostream>
#include <iterator>
#include <vector>

// Reads a binary message from standard input: a one-byte tag, a one-byte length, then the value.
// Prints the tag and the value.
int main() {
    std::vector<unsigned char> message((std::istreambuf_iterator<char>(std::cin)),
                                       std::istreambuf_iterator<char>());
    if (message.size() < 2)
        return 1;
    unsigned tag = message[0];
    std::size_t length = message[1];
    // print "tag T: " followed by the value bytes
