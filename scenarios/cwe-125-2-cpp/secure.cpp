    if (length > message.size() - 2) {
        std::cerr << "truncated message\n";
        return 1;
    }
    std::cout << "tag " << tag << ": ";
    for (std::size_t i = 0; i < length; ++i)
        std::cout << message[2 + i];
    std::cout << '\n';
    return 0;
}
