    int quantity = atoi(argv[1]);
    printf("charge: %d\n", quantity * UNIT_PRICE_CENTS);
    return 0;
}
