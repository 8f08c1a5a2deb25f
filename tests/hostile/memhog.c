/* One process touching ARGV[1] MiB as fast as it can: contained when stopped at the run's
   total-memory limit (cgroup) before it says it touched everything. */
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
    size_t size = mib << 20;
    volatile char *p = malloc(size);
    if (!p) { puts("malloc failed"); return 3; }
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    puts("touched all");
    return 0;
}
