/*
 * faultinject: an LD_PRELOAD library that makes allocations fail on purpose, so the judge
 * reaches error paths (unchecked malloc results, CWE-476) that no input reaches.
 *
 * Configured by environment variables (all optional; unset means "never fail"):
 *   FAULTINJECT_FAIL_SIZE=N      fail every malloc/calloc/realloc/aligned request of exactly N bytes
 *                                (calloc: nmemb * size) and every nothrow operator new of N bytes
 *   FAULTINJECT_FAIL_MIN_SIZE=N  fail every such request of N bytes or more
 *   FAULTINJECT_FAIL_NTH=N       fail the Nth request counted from the library's constructor (1-based)
 *   FAULTINJECT_LOG=1            print one line per injected failure to stderr
 *
 * Build: gcc -shared -fPIC -O2 -o libfaultinject.so faultinject.c -ldl
 * With AddressSanitizer the library must come first in LD_PRELOAD and the program must run
 * with ASAN_OPTIONS=verify_asan_link_order=0; RTLD_NEXT then resolves to ASan's allocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);

static malloc_fn next_malloc;
static calloc_fn next_calloc;
static realloc_fn next_realloc;
static free_fn next_free;

/* dlsym may allocate while we resolve the real functions: serve those from a static arena. */
static unsigned char bootstrap_arena[16384] __attribute__((aligned(16)));
static size_t bootstrap_used;
static int resolving;

static long long fail_size = -1;
static long long fail_min_size = -1;
static long long fail_nth = -1;
static int log_failures;
static long long request_count;
static int configured;

static long long env_number(const char *name)
{
    const char *text = getenv(name);
    if (text == NULL || *text == '\0')
        return -1;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || value < 0)
        return -1;
    return value;
}

/* Runs after libc and libasan are initialised: getenv is unreliable in allocations made earlier. */
__attribute__((constructor)) static void configure(void)
{
    if (configured)
        return;
    configured = 1;
    fail_size = env_number("FAULTINJECT_FAIL_SIZE");
    fail_min_size = env_number("FAULTINJECT_FAIL_MIN_SIZE");
    fail_nth = env_number("FAULTINJECT_FAIL_NTH");
    log_failures = env_number("FAULTINJECT_LOG") > 0;
}

static void resolve(void)
{
    if (next_malloc != NULL || resolving)
        return;
    resolving = 1;
    next_malloc = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
    next_calloc = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
    next_realloc = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
    next_free = (free_fn)dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

static void *bootstrap_alloc(size_t size)
{
    size_t rounded = (size + 15u) & ~(size_t)15u;
    if (rounded > sizeof bootstrap_arena - bootstrap_used)
        return NULL;
    void *block = bootstrap_arena + bootstrap_used;
    bootstrap_used += rounded;
    memset(block, 0, size);
    return block;
}

static int from_bootstrap(const void *ptr)
{
    const unsigned char *p = ptr;
    return p >= bootstrap_arena && p < bootstrap_arena + sizeof bootstrap_arena;
}

static void note_failure(size_t size)
{
    if (!log_failures)
        return;
    char line[64] = "faultinject: failed allocation of ";
    size_t len = strlen(line);
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + size % 10);
        size /= 10;
    } while (size != 0 && n < 23);
    while (n > 0 && len < sizeof line - 2)
        line[len++] = digits[--n];
    line[len++] = '\n';
    ssize_t ignored = write(2, line, len);
    (void)ignored;
}

/* Decides whether this request fails; counts every request once. */
static int should_fail(size_t size)
{
    if (resolving || !configured)
        return 0;
    request_count++;
    int fail = (fail_size >= 0 && (unsigned long long)fail_size == size) ||
               (fail_min_size >= 0 && size >= (unsigned long long)fail_min_size) ||
               (fail_nth > 0 && request_count == fail_nth);
    if (fail) {
        note_failure(size);
        errno = ENOMEM;
    }
    return fail;
}

void *malloc(size_t size)
{
    resolve();
    if (next_malloc == NULL)
        return bootstrap_alloc(size);
    if (should_fail(size))
        return NULL;
    return next_malloc(size);
}

void *calloc(size_t nmemb, size_t size)
{
    resolve();
    if (next_calloc == NULL) {
        if (size != 0 && nmemb > SIZE_MAX / size)
            return NULL;
        return bootstrap_alloc(nmemb * size);
    }
    size_t total = 0;
    if (__builtin_mul_overflow(nmemb, size, &total))
        total = SIZE_MAX;
    if (should_fail(total))
        return NULL;
    return next_calloc(nmemb, size);
}

void *realloc(void *ptr, size_t size)
{
    resolve();
    if (ptr != NULL && from_bootstrap(ptr)) {
        void *moved = malloc(size);
        if (moved != NULL)
            memcpy(moved, ptr, size);
        return moved;
    }
    if (next_realloc == NULL)
        return bootstrap_alloc(size);
    if (should_fail(size))
        return NULL;
    return next_realloc(ptr, size);
}

void free(void *ptr)
{
    if (ptr == NULL || from_bootstrap(ptr))
        return;
    resolve();
    if (next_free != NULL)
        next_free(ptr);
}

/* nothrow operator new / new[] (Itanium ABI names); the throwing forms are left alone. */
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag)
{
    (void)tag;
    if (should_fail(size))
        return NULL;
    typedef void *(*new_fn)(size_t, const void *);
    static new_fn next_new;
    if (next_new == NULL)
        next_new = (new_fn)dlsym(RTLD_NEXT, "_ZnwmRKSt9nothrow_t");
    return next_new != NULL ? next_new(size, tag) : NULL;
}

void *_ZnamRKSt9nothrow_t(size_t size, const void *tag)
{
    (void)tag;
    if (should_fail(size))
        return NULL;
    typedef void *(*new_fn)(size_t, const void *);
    static new_fn next_new;
    if (next_new == NULL)
        next_new = (new_fn)dlsym(RTLD_NEXT, "_ZnamRKSt9nothrow_t");
    return next_new != NULL ? next_new(size, tag) : NULL;
}
