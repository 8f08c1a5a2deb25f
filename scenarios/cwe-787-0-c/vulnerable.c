    while ((c = getchar()) != EOF && c != '\n')
        nickname[i++] = (char)c;
    nickname[i] = '\0';
    printf("welcome, %s\n", nickname);
    return 0;
}
