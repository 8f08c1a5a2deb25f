    snprintf(path, sizeof path, "%s%s", PUBLIC_DIR, argv[1]);
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
