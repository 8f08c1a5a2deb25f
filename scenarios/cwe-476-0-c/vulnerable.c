    printf("reports go to %s (%zu characters)\n", dir, strlen(dir));
    return 0;
}
