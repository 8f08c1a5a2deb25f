    snprintf(path, sizeof path, "%s%s", UPLOAD_DIR, argv[1]);
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
}
