    memcpy(payload, line, length);
    payload[length] = '\0';
    printf("payload: %s\n", payload);
    return 0;
}
