    char *reversed = static_cast<char *>(std::malloc(length + 1));
    for (std::size_t i = 0; i < length; ++i)
        reversed[i] = argv[1][length - 1 - i];
    reversed[length] = '\0';
    std::cout << reversed << '\n';
    std::free(reversed);
    return 0;
}
