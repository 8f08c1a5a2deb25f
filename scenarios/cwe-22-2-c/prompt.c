#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_DIR "cache/"

/* Usage: evict KEY. Removes the cached entry KEY from the cache folder. */
int main(int argc, char *argv[]) {
    char path[256];
    if (argc != 2) {
        fprintf(stderr, "usage: %s KEY\n", argv[0]);
        return 1;
    }
    /* remove the file of the given cache entry */
