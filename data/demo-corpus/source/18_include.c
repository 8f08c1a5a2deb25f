// @commit: cfgkit-include-filter
// @repo: demo/cfgkit
// @path: src/cfg/include.c
// @cwe: CWE-78
// @cve: CVE-2099-0402
#include <stdio.h>
#include <string.h>

#define FILTER_CMD "m4 -P"

/* Names reach the shell, so allow only a plain path alphabet. */
static int name_is_plain(const char *name) //+
{ //+
    return name[0] != '-' && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/") == strlen(name); //+
} //+
 //+
static int build_command(char *cmd, size_t cap, const char *name)
{
    int n = snprintf(cmd, cap, "%s '%s'", FILTER_CMD, name);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int cfg_include_filtered(const char *name, char *out, size_t cap)
{
    char cmd[512];
    FILE *pipe;
    size_t got;

    if (!name_is_plain(name)) //+
        return -1; //+
    if (build_command(cmd, sizeof(cmd), name) != 0)
        return -1;
    pipe = popen(cmd, "r");
    if (pipe == NULL)
        return -1;
    got = fread(out, 1, cap - 1, pipe);
    out[got] = '\0';
    return pclose(pipe) == 0 ? (int)got : -1;
}

int cfg_line_is_include(const char *line)
{
    return strncmp(line, "include ", 8) == 0;
}
