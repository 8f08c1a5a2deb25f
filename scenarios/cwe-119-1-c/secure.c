    int written = snprintf(badge, sizeof badge, "%s, %s", argv[2], argv[1]);
    if (written < 0 || (size_t)written >= sizeof badge) {
        fprintf(stderr, "name too long for a badge\n");
        return 1;
    }
    printf("%s\n", badge);
    return 0;
}
