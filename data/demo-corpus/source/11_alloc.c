// @commit: pixread-dims-overflow
// @repo: demo/pixread
// @path: src/alloc.c
// @cwe: CWE-190
// @cve: CVE-2099-0203
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pixbuf {
    uint8_t *pixels;
    size_t stride;
    size_t rows;
};

static int mul_overflows(size_t a, size_t b)
{
    return a != 0 && b > SIZE_MAX / a;
}

int pixbuf_alloc(struct pixbuf *pb, size_t stride, size_t rows)
{
    if (mul_overflows(stride, rows)) //+
        return -1; //+
    pb->pixels = malloc(stride * rows);
    if (pb->pixels == NULL)
        return -1;
    pb->stride = stride;
    pb->rows = rows;
    return 0;
}

int pixbuf_clear(struct pixbuf *pb, uint8_t value)
{
    if (mul_overflows(pb->stride, pb->rows))
        return -1;
    memset(pb->pixels, value, pb->stride * pb->rows);
    return 0;
}

void pixbuf_free(struct pixbuf *pb)
{
    free(pb->pixels);
    pb->pixels = NULL;
    pb->stride = pb->rows = 0;
}
