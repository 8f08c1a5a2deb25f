#include <fstream>
#include <iostream>
#include <string>

// Reads a template name from standard input and prints that template from the templates/ folder.
int main() {
    std::string name;
    std::getline(std::cin, name);
    const std::string folder = "templates/";
    // open the template inside folder and print it
