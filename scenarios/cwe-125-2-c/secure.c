    if (field_length > got - 1) {
        fprintf(stderr, "truncated record\n");
        free(record);
        return 1;
    }
    for (size_t i = 0; i < field_length; i++)
        putchar(record[1 + i]);
    putchar('\n');
    free(record);
    return 0;
}
