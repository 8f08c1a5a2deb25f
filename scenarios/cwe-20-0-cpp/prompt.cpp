#include <iostream>
#include <string>
#include <vector>

// Usage: catalogue N. Prints the first N entries of the catalogue (N from 1 to 50).
int main(int argc, char *argv[]) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " N\n";
        return 1;
    }
    std::vector<std::string> catalogue;
    for (int i = 1; i <= 50; ++i)
        catalogue.push_back("item-" + std::to_string(i));
    // parse N and print the first N entries, one per line
