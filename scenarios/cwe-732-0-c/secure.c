    int fd = open("token.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror("token.txt");
        return 1;
    }
    size_t length = strlen(argv[1]);
    if (write(fd, argv[1], length) != (ssize_t)length || write(fd, "\n", 1) != 1) {
        perror("token.txt");
        close(fd);
        return 1;
    }
    close(fd);
    printf("token saved\n");
    return 0;
}
