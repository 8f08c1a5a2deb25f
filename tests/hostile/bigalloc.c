/* One huge allocation: contained when malloc fails (RLIMIT_AS) or the run is killed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    size_t size = (size_t)8 << 30;
    volatile char *p = malloc(size);
    if (!p) { puts("malloc failed"); return 3; }
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    puts("allocated");
    return 0;
}
