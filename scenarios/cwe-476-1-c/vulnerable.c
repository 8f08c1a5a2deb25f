    char *copy = malloc(length + 1);
    memcpy(copy, argv[1], length + 1);
    for (size_t i = 0; i < length; i++)
        if (copy[i] >= 'a' && copy[i] <= 'z')
            copy[i] = (char)(copy[i] - 'a' + 'A');
    printf("%s\n", copy);
    free(copy);
    return 0;
}
