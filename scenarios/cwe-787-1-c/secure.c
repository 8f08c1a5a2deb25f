    size_t length = strlen(argv[1]);
    if (length >= sizeof code) {
        fprintf(stderr, "label too long\n");
        return 1;
    }
    for (size_t i = 0; i <= length; i++)
        code[i] = (char)toupper((unsigned char)argv[1][i]);
    printf("%s\n", code);
    return 0;
}
