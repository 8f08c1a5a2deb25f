// @commit: tinyhttpd-dotdot
// @repo: demo/tinyhttpd
// @path: src/http/static.c
// @cwe: CWE-22
// @cve: CVE-2099-0102
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int path_is_safe(const char *path);

struct static_root {
    char dir[256];
    int allow_index;
};

static int join_path(char *out, size_t cap, const char *root, const char *rel)
{
    int n = snprintf(out, cap, "%s/%s", root, rel);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int static_resolve(const struct static_root *root, const char *uri, char *out, size_t cap)
{
    struct stat st;

    while (*uri == '/')
        uri++;
    if (!path_is_safe(uri)) //+
        return -1; //+
    if (join_path(out, cap, root->dir, uri) != 0)
        return -1;
    if (stat(out, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        if (!root->allow_index)
            return -1;
        if (strlen(out) + sizeof("/index.html") > cap)
            return -1;
        strcat(out, "/index.html");
    }
    return 0;
}

const char *static_mime(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html";
    if (strcmp(dot, ".css") == 0)
        return "text/css";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    return "application/octet-stream";
}
