    if (offset < 0 || (size_t)offset >= got) {
        fprintf(stderr, "offset out of range\n");
        return 1;
    }
    printf("%02x\n", data[offset]);
    return 0;
}
