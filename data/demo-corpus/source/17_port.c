// @commit: cfgkit-port-range
// @repo: demo/cfgkit
// @path: src/cfg/port.c
// @cwe: CWE-20
// @cve: CVE-2099-0401
#include <stdlib.h>
#include <string.h>

struct listen_cfg {
    char host[64];
    int port;
};

static int
parse_number(text, out)
    const char *text;
    long *out;
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int
cfg_parse_listen(value, cfg)
    const char *value;
    struct listen_cfg *cfg;
{
    const char *colon = strrchr(value, ':');
    size_t host_len;
    long port;

    if (colon == NULL)
        return -1;
    host_len = (size_t)(colon - value);
    if (host_len >= sizeof(cfg->host))
        return -1;
    if (parse_number(colon + 1, &port) != 0)
        return -1;
    if (port < 1 || port > 65535) //+
        return -1; //+
    memcpy(cfg->host, value, host_len);
    cfg->host[host_len] = '\0';
    cfg->port = (int)port;
    return 0;
}
