    while ((c = getchar()) != EOF && c != '\n') {
        if (i < sizeof nickname - 1)
            nickname[i++] = (char)c;
    }
    nickname[i] = '\0';
    printf("welcome, %s\n", nickname);
    return 0;
}
