    const char *key = argv[1];
    if (key[0] == '\0' || key[0] == '.' || strchr(key, '/') != NULL) {
        fprintf(stderr, "invalid cache key\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s%s", CACHE_DIR, key);
    if (unlink(path) != 0) {
        perror(path);
        return 1;
    }
    printf("evicted %s\n", key);
    return 0;
}
