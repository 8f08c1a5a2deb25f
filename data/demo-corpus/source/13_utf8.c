// @commit: bufkit-utf8-trailing
// @repo: demo/bufkit
// @path: src/utf8.c
// @cwe: CWE-125
// @cve: CVE-2099-0302
#include <stddef.h>

/* Old-style definitions kept from the first release. */
static int
seq_length(lead)
    unsigned char lead;
{
    if (lead < 0x80)
        return 1;
    if ((lead & 0xE0) == 0xC0)
        return 2;
    if ((lead & 0xF0) == 0xE0)
        return 3;
    if ((lead & 0xF8) == 0xF0)
        return 4;
    return -1;
}

long
utf8_decode(s, len, cp)
    const unsigned char *s;
    size_t len;
    unsigned long *cp;
{
    int n = seq_length(s[0]);
    int i;

    if (n < 0)
        return -1;
    if ((size_t)n > len) //+
        return -1; //+
    *cp = n == 1 ? s[0] : (s[0] & (0x7F >> n));
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

size_t
utf8_count(s, len)
    const unsigned char *s;
    size_t len;
{
    size_t count = 0;
    while (len > 0) {
        long n = utf8_decode(s, len, &(unsigned long){0});
        if (n < 0)
            break;
        s += n;
        len -= (size_t)n;
        count++;
    }
    return count;
}
