    std::cout << "<p>Results for: " << term << "</p>\n";
    return 0;
}
