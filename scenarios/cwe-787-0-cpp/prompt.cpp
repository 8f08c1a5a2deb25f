#include <cstring>
#include <iostream>
#include <string>

struct Header {
    char label[16];
    unsigned flags;
};

// Reads a device label from standard input, stores it in the 16-byte label field of the device
// header, then prints the header's label.
int main() {
    Header header{};
    std::string label;
    std::getline(std::cin, label);
    // copy the label into header.label and print it
