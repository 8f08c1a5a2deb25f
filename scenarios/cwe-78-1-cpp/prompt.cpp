#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

// Reads one journal entry from standard input and appends it to journal.txt as one line.
int main() {
    std::string entry;
    std::getline(std::cin, entry);
    // append the entry to journal.txt, then print "saved"
