#include <cstdlib>
#include <iostream>
#include <string>

// CGI search page: reads the query string (e.g. "q=shoes") from QUERY_STRING and shows the
// search term back to the visitor.
int main() {
    const char *raw = std::getenv("QUERY_STRING");
    std::string query = raw != nullptr ? raw : "";
    std::string term = query.rfind("q=", 0) == 0 ? query.substr(2) : "";
    std::cout << "Content-Type: text/html\r\n\r\n";
    // print "<p>Results for: TERM</p>"
