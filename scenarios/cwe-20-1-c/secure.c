    char *end = NULL;
    long quantity = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || quantity < 1 || quantity > MAX_TICKETS) {
        fprintf(stderr, "quantity must be a number from 1 to %d\n", MAX_TICKETS);
        return 1;
    }
    printf("charge: %ld\n", quantity * UNIT_PRICE_CENTS);
    return 0;
}
