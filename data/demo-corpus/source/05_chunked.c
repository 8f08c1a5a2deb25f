// @commit: tinyhttpd-chunk-size
// @repo: demo/tinyhttpd
// @path: src/http/chunked.c
// @cwe: CWE-125
// @cve: CVE-2099-0104
#include <stddef.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses "<hex>\r\n" at buf; returns bytes consumed or -1. */
long chunk_parse_size(const char *buf, size_t len, size_t *size)
{
    size_t i = 0;
    size_t value = 0;

    while (hex_value(buf[i]) >= 0) { //-
    while (i < len && hex_value(buf[i]) >= 0) { //+
        if (value > (((size_t)-1) >> 4))
            return -1;
        value = (value << 4) | (size_t)hex_value(buf[i]);
        i++;
    }
    if (i == 0 || i + 1 >= len)
        return -1;
    if (buf[i] != '\r' || buf[i + 1] != '\n')
        return -1;
    *size = value;
    return (long)(i + 2);
}

int chunk_is_last(size_t size)
{
    return size == 0;
}
