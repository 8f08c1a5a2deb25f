/* One huge file: contained when RLIMIT_FSIZE stops it (SIGXFSZ) near the limit. */
#include <stdio.h>
#include <string.h>
int main(void) {
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    FILE *f = fopen("big.bin", "wb");
    if (!f) return 2;
    for (;;) if (fwrite(block, 1, sizeof block, f) != sizeof block) { puts("write failed"); return 3; }
}
