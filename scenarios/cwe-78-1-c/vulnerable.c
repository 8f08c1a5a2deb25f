    snprintf(command, sizeof command, "grep -c '%s' notes.txt", word);
    system(command);
    return 0;
}
