/* Infinite loop: contained when RLIMIT_CPU or the wall clock ends it. */
int main(void) { volatile unsigned long n = 0; for (;;) n++; }
