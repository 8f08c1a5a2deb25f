#include <algorithm>
#include <iostream>
#include <vector>

// Reads sensor readings (integers) from standard input and keeps the latest batch in a fixed
// array of 8 slots, then prints the batch.
int main() {
    std::vector<int> readings;
    int value;
    while (std::cin >> value)
        readings.push_back(value);
    int batch[8];
    // copy the readings into batch and print them separated by spaces
