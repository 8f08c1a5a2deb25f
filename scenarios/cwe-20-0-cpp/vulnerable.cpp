    int n = std::stoi(argv[1]);
    for (int i = 0; i < n; ++i)
        std::cout << catalogue[i] << '\n';
    return 0;
}
