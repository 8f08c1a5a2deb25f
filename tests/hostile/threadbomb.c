/* Thread bomb: contained when the run returns (RLIMIT_NPROC counts threads). */
#include <pthread.h>
#include <unistd.h>
static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return 0; }
int main(void) { pthread_t t; for (;;) pthread_create(&t, 0, sleeper, 0); }
