#include <iostream>
#include <sstream>
#include <string>

// Renders standard input, lines of "name,city", as the rows of an HTML table.
int main() {
    std::string line;
    std::cout << "<table>\n";
    while (std::getline(std::cin, line)) {
        std::istringstream fields(line);
        std::string name, city;
        std::getline(fields, name, ',');
        std::getline(fields, city);
        // print one table row with the two cells
