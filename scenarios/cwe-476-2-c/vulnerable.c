    char *equals = strchr(text, '=');
    *equals = '\0';
    printf("key: %s\nvalue: %s\n", text, equals + 1);
    return 0;
}
