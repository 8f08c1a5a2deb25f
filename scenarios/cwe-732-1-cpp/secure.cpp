    int fd = open("service.pid", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        std::perror("service.pid");
        return 1;
    }
    std::string line = pid + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        std::perror("service.pid");
        close(fd);
        return 1;
    }
    close(fd);
    std::cout << "pid file written\n";
    return 0;
}
