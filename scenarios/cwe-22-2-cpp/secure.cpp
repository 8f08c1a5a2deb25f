    if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
        std::cerr << "invalid session id\n";
        return 1;
    }
    std::string path = "sessions/" + id;
    if (std::remove(path.c_str()) != 0) {
        std::perror(path.c_str());
        return 1;
    }
    std::cout << "session " << id << " closed\n";
    return 0;
}
