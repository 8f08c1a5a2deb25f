    const int count = static_cast<int>(sizeof LEVELS / sizeof LEVELS[0]);
    if (level < 0 || level >= count) {
        std::cerr << "unknown level\n";
        return 1;
    }
    std::cout << LEVELS[level] << '\n';
    return 0;
}
