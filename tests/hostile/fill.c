/* Many files, each under RLIMIT_FSIZE: contained when the work folder's tmpfs runs out of
   space or inodes. Prints how many files and bytes it managed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    long per_file = argc > 1 ? atol(argv[1]) : 0;
    static char block[1 << 16];
    memset(block, 'y', sizeof block);
    long files = 0, bytes = 0;
    for (;;) {
        char name[64];
        snprintf(name, sizeof name, "f%06ld", files);
        FILE *f = fopen(name, "wb");
        if (!f) break;
        long left = per_file, failed = 0;
        while (left > 0) {
            long n = left < (long)sizeof block ? left : (long)sizeof block;
            if (fwrite(block, 1, n, f) != (size_t)n) { failed = 1; break; }
            left -= n;
        }
        if (fclose(f) != 0 || failed) break;
        files++;
        bytes += per_file;
        if (files > 1000000) break;
    }
    printf("%ld %ld\n", files, bytes);
    return 0;
}
