    const char *name = argv[1];
    if (name[0] == '\0' || name[0] == '-') {
        fprintf(stderr, "invalid file name\n");
        return 1;
    }
    for (const char *p = name; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '_' || *p == '-' || *p == '/';
        if (!ok) {
            fprintf(stderr, "invalid file name\n");
            return 1;
        }
    }
    snprintf(command, sizeof command, "wc -c < '%s'", name);
    return system(command) == 0 ? 0 : 1;
}
