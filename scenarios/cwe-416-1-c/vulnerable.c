        free(s->user);
        free(s);
        printf("goodbye %s\n", s->user);
        return 0;
    }
    free(s->user);
    free(s);
    return 0;
}
