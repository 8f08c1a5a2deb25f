// @commit: bufkit-ring-wrap
// @repo: demo/bufkit
// @path: src/ring.c
// @cwe: CWE-119
// @cve: CVE-2099-0301
#include <stddef.h>
#include <string.h>

#define RING_CAP 4096
#define RING_MIN(a, b) ((a) < (b) ? (a) : (b))

struct ring {
    unsigned char data[RING_CAP];
    size_t head;
    size_t used;
};

size_t ring_space(const struct ring *r)
{
    return RING_CAP - r->used;
}

size_t ring_write(struct ring *r, const void *src, size_t len)
{
    size_t tail = (r->head + r->used) % RING_CAP;
    size_t first;

    len = RING_MIN(len, ring_space(r)); //+
    first = RING_MIN(len, RING_CAP - tail);
    memcpy(r->data + tail, src, first);
    memcpy(r->data, (const unsigned char *)src + first, len - first);
    r->used += len;
    return len;
}

size_t ring_read(struct ring *r, void *dst, size_t len)
{
    size_t first;

    len = RING_MIN(len, r->used);
    first = RING_MIN(len, RING_CAP - r->head);
    memcpy(dst, r->data + r->head, first);
    memcpy((unsigned char *)dst + first, r->data, len - first);
    r->head = (r->head + len) % RING_CAP;
    r->used -= len;
    return len;
}
