// @commit: tinyhttpd-percent-decode
// @repo: demo/tinyhttpd
// @path: src/http/url.c
// @cwe: CWE-787
// @cve: CVE-2099-0106
#include <stddef.h>
#include <string.h>

#define IS_HEX(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define HEX_VAL(c) ((c) <= '9' ? (c) - '0' : ((c) | 0x20) - 'a' + 10)

/* Decodes %XX and '+' into out; out holds cap bytes including the NUL. */
int url_decode(const char *in, char *out, size_t cap)
{
    size_t o = 0;

    if (cap == 0) //+
        return -1; //+
    while (*in != '\0') {
        if (o + 1 >= cap) //+
            return -1; //+
        if (in[0] == '%' && IS_HEX(in[1]) && IS_HEX(in[2])) {
            out[o++] = (char)(HEX_VAL(in[1]) * 16 + HEX_VAL(in[2]));
            in += 3;
        } else if (*in == '+') {
            out[o++] = ' ';
            in++;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = '\0';
    return (int)o;
}

const char *url_query(const char *uri)
{
    const char *q = strchr(uri, '?');
    return q ? q + 1 : NULL;
}
