    std::strcpy(path, argv[1]);
    std::strcat(path, "/");
    std::strcat(path, argv[2]);
    std::strcat(path, ".bak");
    std::cout << path << '\n';
    return 0;
}
