#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session {
    char *user;
    int id;
};

static struct session *open_session(const char *user, int id) {
    struct session *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->user = strdup(user);
    s->id = id;
    return s;
}

/* Usage: session USER [logout]. Greets USER; with "logout" it releases the session and
 * prints "goodbye USER". */
int main(int argc, char *argv[]) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s USER [logout]\n", argv[0]);
        return 1;
    }
    struct session *s = open_session(argv[1], 42);
    if (s == NULL || s->user == NULL)
        return 1;
    printf("welcome %s (session %d)\n", s->user, s->id);
    if (argc > 2 && strcmp(argv[2], "logout") == 0) {
        /* release the session and say goodbye */
