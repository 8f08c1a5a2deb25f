    const char *at = std::strchr(address.c_str(), '@');
    std::cout << "domain: " << std::string(at + 1) << '\n';
    return 0;
}
