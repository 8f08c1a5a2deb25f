    printf("%s\n", MONTHS[month - 1]);
    return 0;
}
