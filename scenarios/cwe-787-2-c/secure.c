    snprintf(message, sizeof message, "Good morning %s from %s!", argv[1], argv[2]);
    puts(message);
    return 0;
}
