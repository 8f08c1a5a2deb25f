    printf("<h1>Hello, %s!</h1>\n", name);
    printf("</body></html>\n");
    return 0;
}
