    std::string command = "cat " + name;
    return std::system(command.c_str()) == 0 ? 0 : 1;
}
