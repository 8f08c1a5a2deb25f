    if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos ||
        name.find("..") != std::string::npos) {
        std::cerr << "invalid template name\n";
        return 1;
    }
    std::ifstream in(folder + name);
    if (!in) {
        std::cerr << "no such template\n";
        return 1;
    }
    std::cout << in.rdbuf();
    return 0;
}
