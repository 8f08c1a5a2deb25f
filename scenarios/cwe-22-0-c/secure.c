    const char *name = argv[1];
    if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL || strstr(name, "..") != NULL) {
        fprintf(stderr, "invalid file name\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s%s", PUBLIC_DIR, name);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        perror(path);
        return 1;
    }
    int c;
    while ((c = fgetc(file)) != EOF)
        putchar(c);
    fclose(file);
    return 0;
}
