    const char *at = std::strchr(address.c_str(), '@');
    if (at == nullptr) {
        std::cerr << "not an e-mail address\n";
        return 1;
    }
    std::cout << "domain: " << std::string(at + 1) << '\n';
    return 0;
}
