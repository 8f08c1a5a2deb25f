/* Eight processes of 96 MiB each, under the per-process RLIMIT_AS: only a total-memory
   layer (cgroup or RSS watchdog) stops them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 7; i++) if (fork() == 0) break;
    size_t size = (size_t)96 << 20;
    /* volatile: the optimizer must not drop the writes (RSS only grows on touched pages) */
    volatile char *p = malloc(size);
    if (!p) return 3;
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    for (;;) pause();
}
