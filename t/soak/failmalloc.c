/*
 * failmalloc.c - LD_PRELOAD shim for the soak test: makes a chosen fraction
 * of malloc/calloc/realloc calls in the server fail, anywhere (request path,
 * TLS, libevent), after a start-up grace period.
 *
 * The soak builds it into its temporary directory (cc -shared -fPIC) when a
 * compiler is there; it is never linked into the server. Environment:
 *   FAILMALLOC_ONE_IN  fail one call in N (default 0 = never)
 *   FAILMALLOC_AFTER   number of calls to let through first (start-up)
 * At exit it prints "failmalloc: F of N calls failed" to stderr.
 *
 * The choice is a hash of the call number, so a run is repeatable given the
 * same sequence of calls. dlsym() may itself call calloc before the real one
 * is known; those few early calls are served from a static arena.
 * Rejected: glibc's malloc hooks (removed in glibc 2.34) and RLIMIT_AS (glibc
 * then fails only large allocations: slab pages, never a read buffer).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

static _Atomic uint64_t calls;
static _Atomic uint64_t failed;
static uint64_t one_in;
static uint64_t after;

static _Alignas(16) char boot[8192];
static size_t boot_used;

static int is_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void report(void)
{
    char line[128];
    int len = snprintf(line, sizeof(line), "failmalloc: %llu of %llu calls failed\n",
                       (unsigned long long)failed, (unsigned long long)calls);

    if (len > 0 && write(2, line, (size_t)len) < 0) {
        return;
    }
}

__attribute__((constructor)) static void setup(void)
{
    const char *a = getenv("FAILMALLOC_ONE_IN");
    const char *b = getenv("FAILMALLOC_AFTER");

    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    one_in = a != NULL ? strtoull(a, NULL, 10) : 0;
    after = b != NULL ? strtoull(b, NULL, 10) : 0;
    atexit(report);
}

static int should_fail(void)
{
    uint64_t n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    uint64_t h;

    if (one_in == 0 || n < after) {
        return 0;
    }
    h = n * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    if (h % one_in != 0) {
        return 0;
    }
    atomic_fetch_add_explicit(&failed, 1, memory_order_relaxed);
    return 1;
}

static void *boot_alloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;

    if (boot_used + need > sizeof(boot)) {
        return NULL;
    }
    boot_used += need;
    return boot + boot_used - need;
}

void *malloc(size_t n)
{
    if (real_malloc == NULL) {
        return boot_alloc(n);
    }
    return should_fail() ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    if (real_calloc == NULL) {
        return boot_alloc(n * m); /* static arena: already zero */
    }
    return should_fail() ? NULL : real_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    if (p != NULL && is_boot(p)) {
        void *q = malloc(n);
        if (q != NULL) {
            memcpy(q, p, n); /* boot blocks are small and never reallocated in practice */
        }
        return q;
    }
    if (real_realloc == NULL) {
        return boot_alloc(n);
    }
    return should_fail() ? NULL : real_realloc(p, n);
}

void free(void *p)
{
    if (p == NULL || is_boot(p)) {
        return;
    }
    if (real_free != NULL) {
        real_free(p);
    }
}
