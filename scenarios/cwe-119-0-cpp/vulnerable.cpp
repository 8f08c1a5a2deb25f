    std::cin.read(message, length);
    std::cout.write(message, std::cin.gcount());
    std::cout << '\n';
    return 0;
}
