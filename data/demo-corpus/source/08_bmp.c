// @commit: pixread-bmp-palette
// @repo: demo/pixread
// @path: src/bmp.c
// @cwe: CWE-119
// @cve: CVE-2099-0201
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct bmp_info {
    int32_t width;
    int32_t height;
    uint16_t bpp;
    uint32_t colors_used;
    uint8_t palette[256][4];
};

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t read_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

int bmp_read_info(FILE *f, struct bmp_info *info)
{
    uint8_t hdr[54];
    uint32_t i;

    if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || hdr[0] != 'B' || hdr[1] != 'M')
        return -1;
    info->width = (int32_t)read_le32(hdr + 18);
    info->height = (int32_t)read_le32(hdr + 22);
    info->bpp = read_le16(hdr + 28);
    info->colors_used = read_le32(hdr + 46);
    if (info->bpp <= 8) {
        if (info->colors_used == 0)
            info->colors_used = 1u << info->bpp;
        if (info->colors_used > 256) //+
            return -1; //+
        for (i = 0; i < info->colors_used; i++) {
            if (fread(info->palette[i], 1, 4, f) != 4)
                return -1;
        }
    }
    return 0;
}

int bmp_row_stride(const struct bmp_info *info)
{
    return ((info->width * info->bpp + 31) / 32) * 4;
}
