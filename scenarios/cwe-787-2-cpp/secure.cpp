    if (std::strlen(argv[1]) + std::strlen(argv[2]) + 6 > sizeof path) {
        std::cerr << "path too long\n";
        return 1;
    }
    std::strcpy(path, argv[1]);
    std::strcat(path, "/");
    std::strcat(path, argv[2]);
    std::strcat(path, ".bak");
    std::cout << path << '\n';
    return 0;
}
