    const char *home = "https://shop.example.com/";
    if (strncmp(target, home, strlen(home)) == 0)
        printf("Location: %s\n", target);
    else
        printf("Location: %s\n", home);
    return 0;
}
