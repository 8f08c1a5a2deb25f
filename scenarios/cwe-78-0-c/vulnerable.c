    snprintf(command, sizeof command, "wc -c < %s", argv[1]);
    return system(command) == 0 ? 0 : 1;
}
