    const char *name = argv[1];
    if (name[0] == '\0' || name[0] == '.')
        goto bad_name;
    for (const char *p = name; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '_' || *p == '-';
        if (!ok)
            goto bad_name;
    }
    snprintf(path, sizeof path, "%s%s", UPLOAD_DIR, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL) {
        perror(path);
        return 1;
    }
    while ((n = fread(buffer, 1, sizeof buffer, stdin)) > 0)
        fwrite(buffer, 1, n, out);
    fclose(out);
    printf("stored %s\n", path);
    return 0;
bad_name:
    fprintf(stderr, "invalid file name\n");
    return 1;
}
