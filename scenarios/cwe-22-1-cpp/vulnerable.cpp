    std::ofstream log("logs/" + user + ".log", std::ios::app);
    if (!log) {
        std::cerr << "cannot open the log\n";
        return 1;
    }
    log << message << '\n';
    std::cout << "logged\n";
    return 0;
}
