// @commit: tinyhttpd-conn-close
// @repo: demo/tinyhttpd
// @path: src/net/conn.c
// @cwe: CWE-416
// @cve: CVE-2099-0105
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct conn {
    int fd;
    unsigned id;
    char *rbuf;
    struct conn *next;
};

static struct conn *active;

struct conn *conn_open(int fd, unsigned id)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->id = id;
    c->next = active;
    active = c;
    return c;
}

static void conn_unlink(struct conn *c)
{
    struct conn **pp;
    for (pp = &active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

void conn_close(struct conn *c, FILE *log)
{
    unsigned id = c->id; //+
    conn_unlink(c);
    close(c->fd);
    free(c->rbuf);
    free(c);
    fprintf(log, "conn %u closed\n", c->id); //-
    fprintf(log, "conn %u closed\n", id); //+
}
