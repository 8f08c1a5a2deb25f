// @commit: bufkit-vec-grow
// @repo: demo/bufkit
// @path: src/vec.c
// @cwe: CWE-190
// @cve: CVE-2099-0303
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vec {
    void *items;
    size_t len;
    size_t cap;
    size_t elem;
};

void vec_init(struct vec *v, size_t elem)
{
    v->items = NULL;
    v->len = v->cap = 0;
    v->elem = elem;
}

static int vec_grow(struct vec *v, size_t need)
{
    size_t cap = v->cap ? v->cap : 8;
    void *p;

    while (cap < need) {
        if (cap > SIZE_MAX / 2) //+
            return -1; //+
        cap *= 2;
    }
    if (cap > SIZE_MAX / v->elem) //+
        return -1; //+
    p = realloc(v->items, cap * v->elem);
    if (p == NULL)
        return -1;
    v->items = p;
    v->cap = cap;
    return 0;
}

int vec_push(struct vec *v, const void *item)
{
    if (v->len == v->cap && vec_grow(v, v->len + 1) != 0)
        return -1;
    memcpy((char *)v->items + v->len * v->elem, item, v->elem);
    v->len++;
    return 0;
}
