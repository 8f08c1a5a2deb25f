    std::cout << LEVELS[level] << '\n';
    return 0;
}
