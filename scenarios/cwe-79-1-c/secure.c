        fputs("<li>", stdout);
        for (const char *p = line; *p != '\0'; p++) {
            if (*p == '<')
                fputs("&lt;", stdout);
            else if (*p == '>')
                fputs("&gt;", stdout);
            else if (*p == '&')
                fputs("&amp;", stdout);
            else if (*p == '"')
                fputs("&quot;", stdout);
            else
                putchar(*p);
        }
        fputs("</li>\n", stdout);
    }
    printf("</ul>\n");
    return 0;
}
