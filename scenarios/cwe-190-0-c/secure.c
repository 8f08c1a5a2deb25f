    if (width <= 0 || height <= 0 || width > INT_MAX / 4 / height) {
        fprintf(stderr, "frame size out of range\n");
        return 1;
    }
    int bytes = width * height * 4;
    printf("%d bytes\n", bytes);
    return 0;
}
