        std::cout << "<tr><td>" << name << "</td><td>" << city << "</td></tr>\n";
    }
    std::cout << "</table>\n";
    return 0;
}
