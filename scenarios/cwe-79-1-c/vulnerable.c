        printf("<li>%s</li>\n", line);
    }
    printf("</ul>\n");
    return 0;
}
