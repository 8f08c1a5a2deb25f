    printf("<h1>Hello, ");
    for (const char *p = name; *p != '\0'; p++) {
        switch (*p) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        case '\'': fputs("&#39;", stdout); break;
        default: putchar(*p);
        }
    }
    printf("!</h1>\n");
    printf("</body></html>\n");
    return 0;
}
