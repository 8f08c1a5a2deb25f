    strcpy(badge, argv[2]);
    strcat(badge, ", ");
    strcat(badge, argv[1]);
    printf("%s\n", badge);
    return 0;
}
