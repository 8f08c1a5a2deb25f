        printf("goodbye %s\n", s->user);
        free(s->user);
        free(s);
        return 0;
    }
    free(s->user);
    free(s);
    return 0;
}
