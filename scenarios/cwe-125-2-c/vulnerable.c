    for (size_t i = 0; i < field_length; i++)
        putchar(record[1 + i]);
    putchar('\n');
    free(record);
    return 0;
}
