    printf("%02x\n", data[offset]);
    return 0;
}
