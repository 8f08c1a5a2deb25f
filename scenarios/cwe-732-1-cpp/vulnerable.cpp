    std::FILE *file = std::fopen("service.pid", "w");
    if (file == nullptr) {
        std::perror("service.pid");
        return 1;
    }
    std::fputs((pid + "\n").c_str(), file);
    std::fclose(file);
    std::cout << "pid file written\n";
    return 0;
}
