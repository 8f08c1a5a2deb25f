    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "REPORT_DIR is not set\n");
        return 1;
    }
    printf("reports go to %s (%zu characters)\n", dir, strlen(dir));
    return 0;
}
