// @commit: bufkit-base64-len
// @repo: demo/bufkit
// @path: src/base64.c
// @cwe: CWE-787
// @cve: CVE-2099-0305
#include <stddef.h>
#include <string.h>

#define B64_INVALID 0xFF
#define B64_DECODED_MAX(n) (((n) / 4) * 3) //-
#define B64_DECODED_MAX(n) ((((n) + 3) / 4) * 3) //+

static unsigned char b64_value(char c)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (unsigned char)(p - alphabet) : B64_INVALID;
}

/* Decodes text into out (cap bytes); returns the decoded length or -1. */
long b64_decode(const char *text, unsigned char *out, size_t cap)
{
    size_t len = strlen(text);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t i;

    if (B64_DECODED_MAX(len) > cap)
        return -1;
    for (i = 0; i < len && text[i] != '='; i++) {
        unsigned char v = b64_value(text[i]);
        if (v == B64_INVALID)
            return -1;
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

size_t b64_encoded_len(size_t raw)
{
    return ((raw + 2) / 3) * 4;
}
