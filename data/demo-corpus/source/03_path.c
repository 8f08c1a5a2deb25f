// @commit: tinyhttpd-dotdot
// @repo: demo/tinyhttpd
// @path: src/util/path.c
// @cwe: CWE-22
// @cve: CVE-2099-0102
#include <string.h>

/* A segment is one name between slashes. */
static int segment_is(const char *seg, size_t len, const char *name)
{
    return strlen(name) == len && strncmp(seg, name, len) == 0;
}

int path_is_safe(const char *path)
{
    const char *p = path;

    if (path[0] == '/') //+
        return 0; //+
    while (*p != '\0') {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (segment_is(p, len, ".."))
            return 0;
        if (len > 0 && p[0] == '.' && len == 1)
            return 0;
        if (memchr(p, '\\', len) != NULL) //+
            return 0; //+
        p += len;
        if (*p == '/')
            p++;
    }
    return 1;
}

size_t path_depth(const char *path)
{
    size_t depth = 0;
    const char *p;

    for (p = path; *p != '\0'; p++) {
        if (*p == '/' && p[1] != '/' && p[1] != '\0')
            depth++;
    }
    return depth;
}
