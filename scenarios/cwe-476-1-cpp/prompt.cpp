#include <cstring>
#include <iostream>
#include <string>

// Reads an e-mail address from standard input and prints its domain part.
int main() {
    std::string address;
    std::getline(std::cin, address);
    // find the '@' with std::strchr and print "domain: DOMAIN"
