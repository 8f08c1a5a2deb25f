#include <iostream>
#include <limits>
#include <vector>

// Reads file sizes in bytes (one integer per line) from standard input and prints the total
// and the average size.
int main() {
    std::vector<int> sizes;
    int size;
    while (std::cin >> size)
        sizes.push_back(size);
    if (sizes.empty())
        return 1;
    // compute the total and the average, then print "total: T average: A"
