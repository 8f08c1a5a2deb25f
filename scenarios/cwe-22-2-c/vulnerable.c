    snprintf(path, sizeof path, "%s%s", CACHE_DIR, argv[1]);
    if (unlink(path) != 0) {
        perror(path);
        return 1;
    }
    printf("evicted %s\n", argv[1]);
    return 0;
}
