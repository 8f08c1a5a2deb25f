#include <iostream>
#include <string>
#include <vector>

// Usage: score PLAYER. Prints the score of player number PLAYER (counted from 0).
int main(int argc, char *argv[]) {
    std::vector<int> scores = {120, 95, 143, 88, 101};
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " PLAYER\n";
        return 1;
    }
    int player = std::stoi(argv[1]);
    // print the player's score
