#include <iostream>
#include <string>

// Reads the "next" URL from standard input after a login and prints the redirect. Only pages
// of https://accounts.example.org/ may be targets; anything else goes to the dashboard.
int main() {
    std::string next;
    std::getline(std::cin, next);
    const std::string site = "https://accounts.example.org/";
    // decide where to redirect and print "Redirect: <url>"
