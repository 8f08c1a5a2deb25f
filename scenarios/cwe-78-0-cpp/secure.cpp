    if (name.empty() || name[0] == '-' ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos) {
        std::cerr << "invalid log name\n";
        return 1;
    }
    std::string command = "cat -- '" + name + "'";
    return std::system(command.c_str()) == 0 ? 0 : 1;
}
