// @commit: tinyhttpd-content-length
// @repo: demo/tinyhttpd
// @path: src/http/header.c
// @cwe: CWE-20
// @cve: CVE-2099-0101
// @diff: yes
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct header {
    const char *name;
    const char *value;
};

struct header_set {
    struct header items[32];
    size_t count;
    long content_length;
};

static const char *header_find(const struct header_set *set, const char *name)
{
    size_t i;
    for (i = 0; i < set->count; i++) {
        if (strcasecmp(set->items[i].name, name) == 0)
            return set->items[i].value;
    }
    return NULL;
}

int header_parse_content_length(struct header_set *set)
{
    const char *raw = header_find(set, "Content-Length");
    char *end = NULL;
    long value;

    set->content_length = 0;
    if (raw == NULL)
        return 0;
    while (isspace((unsigned char)*raw))
        raw++;
    errno = 0;
    value = strtol(raw, &end, 10);
    if (end != raw) { //-
    if (end != raw && errno == 0 && value >= 0 && (*end == '\0' || isspace((unsigned char)*end))) { //+
        set->content_length = value;
        return 0;
    }
    return -1;
}

int header_wants_close(const struct header_set *set)
{
    const char *conn = header_find(set, "Connection");
    return conn != NULL && strcasecmp(conn, "close") == 0;
}
