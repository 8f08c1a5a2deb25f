// @commit: pixread-dims-overflow
// @repo: demo/pixread
// @path: src/header.c
// @cwe: CWE-190
// @cve: CVE-2099-0203
// @diff: yes
#include <stddef.h>
#include <stdint.h>

#define MAX_DIM 65535u

struct image_header {
    uint32_t width;
    uint32_t height;
    uint32_t channels;
    uint32_t depth_bits;
};

int header_validate(const struct image_header *h)
{
    if (h->width == 0 || h->height == 0)
        return -1;
    if (h->width > MAX_DIM || h->height > MAX_DIM) //+
        return -1; //+
    if (h->channels < 1 || h->channels > 4)
        return -1;
    if (h->depth_bits != 8 && h->depth_bits != 16)
        return -1;
    return 0;
}

size_t header_row_bytes(const struct image_header *h)
{
    return h->width * h->channels * (h->depth_bits / 8); //-
    return (size_t)h->width * h->channels * (h->depth_bits / 8); //+
}

size_t header_image_bytes(const struct image_header *h)
{
    return header_row_bytes(h) * h->height;
}
