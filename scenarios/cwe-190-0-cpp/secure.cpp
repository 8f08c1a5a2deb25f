    if (seconds < 0 || seconds > std::numeric_limits<int>::max() / 1000) {
        std::cerr << "timeout out of range\n";
        return 1;
    }
    int milliseconds = seconds * 1000;
    std::cout << "timeout: " << milliseconds << " ms\n";
    return 0;
}
