        auto escape = [](const std::string &text) {
            std::string out;
            for (char c : text) {
                if (c == '<')
                    out += "&lt;";
                else if (c == '>')
                    out += "&gt;";
                else if (c == '&')
                    out += "&amp;";
                else if (c == '"')
                    out += "&quot;";
                else
                    out += c;
            }
            return out;
        };
        std::cout << "<tr><td>" << escape(name) << "</td><td>" << escape(city) << "</td></tr>\n";
    }
    std::cout << "</table>\n";
    return 0;
}
