// @commit: bufkit-pool-release
// @repo: demo/bufkit
// @path: src/pool.c
// @cwe: CWE-416
// @cve: CVE-2099-0304
#include <stdlib.h>

struct block {
    struct block *next;
    size_t size;
};

struct pool {
    struct block *free_list;
    size_t block_size;
    size_t outstanding;
};

void *pool_get(struct pool *p)
{
    struct block *b = p->free_list;

    if (b != NULL) {
        p->free_list = b->next;
    } else {
        b = malloc(sizeof(*b) + p->block_size);
        if (b == NULL)
            return NULL;
        b->size = p->block_size;
    }
    p->outstanding++;
    return b + 1;
}

void pool_put(struct pool *p, void *mem)
{
    struct block *b = (struct block *)mem - 1;

    free(b); //-
    b->next = p->free_list;
    p->free_list = b;
    p->outstanding--;
}

void pool_drain(struct pool *p)
{
    while (p->free_list != NULL) {
        struct block *next = p->free_list->next;
        free(p->free_list);
        p->free_list = next;
    }
}
