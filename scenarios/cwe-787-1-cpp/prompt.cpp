#include <iostream>

// Reads up to 10 temperatures (integers) from standard input and prints them in reverse order.
int main() {
    int temperatures[10];
    int count = 0;
    int value;
    // read the temperatures into the array, then print them last to first
