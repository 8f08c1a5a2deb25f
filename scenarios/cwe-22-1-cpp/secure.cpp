    if (user.empty())
        return 1;
    for (char c : user) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            std::cerr << "invalid user name\n";
            return 1;
        }
    }
    std::ofstream log("logs/" + user + ".log", std::ios::app);
    if (!log) {
        std::cerr << "cannot open the log\n";
        return 1;
    }
    log << message << '\n';
    std::cout << "logged\n";
    return 0;
}
