    for (const char *p = word; *p != '\0'; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == ' ';
        if (!ok) {
            fprintf(stderr, "search words may hold letters, digits and spaces only\n");
            return 1;
        }
    }
    snprintf(command, sizeof command, "grep -c -- '%s' notes.txt", word);
    system(command);
    return 0;
}
