    FILE *file = fopen("token.txt", "w");
    if (file == NULL) {
        perror("token.txt");
        return 1;
    }
    fprintf(file, "%s\n", argv[1]);
    fclose(file);
    printf("token saved\n");
    return 0;
}
