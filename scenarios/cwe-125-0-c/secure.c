    if (month < 1 || month > 12) {
        fprintf(stderr, "month must be from 1 to 12\n");
        return 1;
    }
    printf("%s\n", MONTHS[month - 1]);
    return 0;
}
