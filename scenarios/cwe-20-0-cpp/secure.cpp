    long n = 0;
    try {
        std::size_t used = 0;
        std::string text = argv[1];
        n = std::stol(text, &used);
        if (used != text.size())
            n = 0;
    } catch (const std::exception &) {
        n = 0;
    }
    if (n < 1 || n > static_cast<long>(catalogue.size())) {
        std::cerr << "N must be a number from 1 to " << catalogue.size() << "\n";
        return 1;
    }
    for (long i = 0; i < n; ++i)
        std::cout << catalogue[static_cast<std::size_t>(i)] << '\n';
    return 0;
}
