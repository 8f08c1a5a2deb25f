    if (strstr(target, "shop.example.com") != NULL)
        printf("Location: %s\n", target);
    else
        printf("Location: https://shop.example.com/\n");
    return 0;
}
