    if (length < 0 || (size_t)length >= sizeof payload || (size_t)length > strlen(line)) {
        fprintf(stderr, "bad payload length\n");
        return 1;
    }
    memcpy(payload, line, (size_t)length);
    payload[length] = '\0';
    printf("payload: %s\n", payload);
    return 0;
}
