            free(note);
        } else if (strcmp(line, "show") == 0) {
            if (note != NULL)
                printf("%s\n", note);
            else
                printf("(empty)\n");
        }
    }
    free(note);
    return 0;
}
