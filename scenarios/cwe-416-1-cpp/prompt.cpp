#include <iostream>
#include <string>

struct Connection {
    std::string peer;
    int bytes_sent = 0;
};

// Commands on standard input drive one connection: "send N" counts N bytes as sent, "close"
// closes the connection, "stats" prints the peer and the bytes sent.
int main() {
    Connection *connection = new Connection{"10.0.0.7", 0};
    std::string command;
    while (std::cin >> command) {
        if (command == "send") {
            int n = 0;
            std::cin >> n;
            if (connection != nullptr)
                connection->bytes_sent += n;
        } else if (command == "close") {
            // handle "close", then "stats"
