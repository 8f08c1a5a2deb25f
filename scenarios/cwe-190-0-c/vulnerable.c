    int bytes = width * height * 4;
    printf("%d bytes\n", bytes);
    return 0;
}
