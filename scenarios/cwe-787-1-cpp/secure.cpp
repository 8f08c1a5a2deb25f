    while (count < 10 && std::cin >> value)
        temperatures[count++] = value;
    for (int i = count - 1; i >= 0; --i)
        std::cout << temperatures[i] << ' ';
    std::cout << '\n';
    return 0;
}
