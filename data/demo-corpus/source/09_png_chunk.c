// @commit: pixread-chunk-len
// @repo: demo/pixread
// @path: src/png_chunk.c
// @cwe: CWE-125
// @cve: CVE-2099-0202
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct chunk {
    uint32_t length;
    char type[5];
    const uint8_t *data;
};

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Reads the chunk at buf[*pos]; advances *pos past its CRC. */
int chunk_next(const uint8_t *buf, size_t len, size_t *pos, struct chunk *out)
{
    size_t p = *pos;

    if (len - p < 12)
        return -1;
    out->length = be32(buf + p);
    memcpy(out->type, buf + p + 4, 4);
    out->type[4] = '\0';
    if (out->length > len - p - 12) //+
        return -1; //+
    out->data = buf + p + 8;
    *pos = p + 12 + out->length;
    return 0;
}

int chunk_is_critical(const struct chunk *c)
{
    return c->type[0] >= 'A' && c->type[0] <= 'Z';
}

int chunk_find(const uint8_t *buf, size_t len, const char *type, struct chunk *out)
{
    size_t pos = 8;

    while (pos < len) {
        if (chunk_next(buf, len, &pos, out) != 0)
            return -1;
        if (strcmp(out->type, type) == 0)
            return 0;
    }
    return -1;
}
