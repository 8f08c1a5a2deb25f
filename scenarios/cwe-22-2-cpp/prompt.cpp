#include <cstdio>
#include <iostream>
#include <string>

// Reads a session id from standard input and deletes that session's file in sessions/.
int main() {
    std::string id;
    std::getline(std::cin, id);
    // delete sessions/<id> and report it
