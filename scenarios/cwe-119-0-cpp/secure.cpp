    if (length > sizeof message) {
        std::cerr << "message too long\n";
        return 1;
    }
    std::cin.read(message, static_cast<std::streamsize>(length));
    std::cout.write(message, std::cin.gcount());
    std::cout << '\n';
    return 0;
}
