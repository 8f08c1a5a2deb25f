    char *equals = strchr(text, '=');
    if (equals == NULL) {
        fprintf(stderr, "expected KEY=VALUE\n");
        return 1;
    }
    *equals = '\0';
    printf("key: %s\nvalue: %s\n", text, equals + 1);
    return 0;
}
