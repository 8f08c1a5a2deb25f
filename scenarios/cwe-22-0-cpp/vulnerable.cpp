    std::ifstream in(folder + name);
    if (!in) {
        std::cerr << "no such template\n";
        return 1;
    }
    std::cout << in.rdbuf();
    return 0;
}
