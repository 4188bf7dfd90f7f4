/*
 * test_slabs.c - slab class sizes (against memcached 1.6.18's -vv listing),
 * chunk allocation, the memory limit and page moves. TAP output.
 *
 * Expected class tables were read from `/usr/bin/memcached -u root -p 0
 * -vv` with the same options; each case names its options.
 */
#include "settings.h"
#include "slabs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_no;
static int failures;

static void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    printf("%sok %d - ", cond ? "" : "not ", ++test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        failures++;
    }
}

static struct settings defaults(void)
{
    struct settings s;

    memset(&s, 0, sizeof(s));
    s.maxbytes = 64 * 1024 * 1024;
    s.evict_to_free = true;
    s.item_size_max = 1024 * 1024;
    s.slab_chunk_size_max = 512 * 1024;
    s.factor = 1.25;
    s.chunk_size = 48;
    s.hash_expand = true;
    s.use_cas = true;
    return s;
}

struct expect {
    unsigned nclasses;
    unsigned sizes[8];   /* first classes */
    unsigned perslab[8]; /* their perslab */
    unsigned last_size;  /* the largest class */
    unsigned last_perslab;
};

static void check_classes(const char *name, const struct settings *s, const struct expect *e)
{
    char err[256] = "";
    int good;

    if (!slabs_setup(s, err, sizeof(err))) {
        ok(0, "%s: setup failed: %s", name, err);
        return;
    }
    ok(slabs_largest() == e->nclasses, "%s: %u classes (got %u)", name, e->nclasses,
       slabs_largest());
    good = 1;
    for (unsigned i = 0; i < 8 && e->sizes[i] != 0; i++) {
        struct slabs_class_info info;
        slabs_class_info_locked(i + 1, &info);
        if (info.chunk_size != e->sizes[i] || info.perslab != e->perslab[i]) {
            printf("# class %u: size %zu perslab %u, want %u %u\n", i + 1, info.chunk_size,
                   info.perslab, e->sizes[i], e->perslab[i]);
            good = 0;
        }
    }
    ok(good, "%s: first class sizes and perslab", name);
    {
        struct slabs_class_info info;
        slabs_class_info_locked(slabs_largest(), &info);
        ok(info.chunk_size == e->last_size && info.perslab == e->last_perslab,
           "%s: largest class %u perslab %u (got %zu %u)", name, e->last_size, e->last_perslab,
           info.chunk_size, info.perslab);
    }
    slabs_teardown();
}

static void test_class_tables(void)
{
    struct settings s = defaults();
    const struct expect def = {39,
                               {96, 120, 152, 192, 240, 304, 384, 480},
                               {10922, 8738, 6898, 5461, 4369, 3449, 2730, 2184},
                               524288,
                               2};
    const struct expect f11 = {63,
                               {152, 168, 184, 208, 232, 256, 288, 320},
                               {6898, 6241, 5698, 5041, 4519, 4096, 3640, 3276},
                               524288,
                               2};
    const struct expect n10 = {40,
                               {64, 80, 104, 136, 176, 224, 280, 352},
                               {16384, 13107, 10082, 7710, 5957, 4681, 3744, 2978},
                               524288,
                               2};
    const struct expect f2 = {13,
                              {96, 192, 384, 768, 1536, 3072, 6144, 12288},
                              {10922, 5461, 2730, 1365, 682, 341, 170, 85},
                              524288,
                              2};
    const struct expect f101 = {63,
                                {96, 96, 96, 96, 96, 96, 96, 96},
                                {10922, 10922, 10922, 10922, 10922, 10922, 10922, 10922},
                                524288,
                                2};
    const struct expect cm16k = {23, {96, 120, 152, 0}, {10922, 8738, 6898, 0}, 16384, 64};
    const struct expect cm1m = {42, {96, 0}, {10922, 0}, 1048576, 1};

    check_classes("defaults", &s, &def);
    s.factor = 1.1;
    s.chunk_size = 100;
    check_classes("-f 1.1 -n 100", &s, &f11);
    s = defaults();
    s.chunk_size = 10;
    check_classes("-n 10", &s, &n10);
    s = defaults();
    s.factor = 2;
    s.item_size_max = 2 * 1024 * 1024;
    check_classes("-f 2 -I 2m", &s, &f2);
    s = defaults();
    s.factor = 1.01;
    check_classes("-f 1.01", &s, &f101);
    s = defaults();
    s.slab_chunk_size_max = 16384;
    check_classes("-o slab_chunk_max=16384", &s, &cm16k);
    s = defaults();
    s.item_size_max = 4 * 1024 * 1024;
    s.slab_chunk_size_max = 1024 * 1024;
    check_classes("-I 4m -o slab_chunk_max=1048576", &s, &cm1m);
}

/* Every class of the default table, from `memcached -vv` (1.6.18, no options). */
static void test_default_table(void)
{
    static const unsigned want[] = {96,     120,    152,    192,    240,    304,    384,   480,
                                    600,    752,    944,    1184,   1480,   1856,   2320,  2904,
                                    3632,   4544,   5680,   7104,   8880,   11104,  13880, 17352,
                                    21696,  27120,  33904,  42384,  52984,  66232,  82792, 103496,
                                    129376, 161720, 202152, 252696, 315872, 394840, 524288};
    struct settings s = defaults();
    char err[256];
    int good = 1;

    slabs_setup(&s, err, sizeof(err));
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct slabs_class_info info;
        slabs_class_info_locked(i + 1, &info);
        if (info.chunk_size != want[i] || info.perslab != SLAB_PAGE_SIZE / want[i]) {
            printf("# class %u: %zu, want %u\n", i + 1, info.chunk_size, want[i]);
            good = 0;
        }
    }
    ok(good, "all 39 default classes match the reference");
    slabs_teardown();
}

static void test_clsid(void)
{
    struct settings s = defaults();
    char err[256];

    slabs_setup(&s, err, sizeof(err));
    ok(slabs_clsid(1) == 1 && slabs_clsid(96) == 1 && slabs_clsid(97) == 2,
       "clsid: 96 -> 1, 97 -> 2");
    ok(slabs_clsid(524288) == 39 && slabs_clsid(524289) == 0 && slabs_clsid(0) == 0,
       "clsid: largest boundary and out of range");
    slabs_teardown();
}

static void test_alloc_and_limit(void)
{
    struct settings s = defaults();
    char err[256];
    void *chunks[2 * 10922 + 1];
    unsigned n = 0;
    struct slabs_class_info info;
    int aligned = 1;

    s.maxbytes = 2 * SLAB_PAGE_SIZE;
    slabs_setup(&s, err, sizeof(err));
    while (n < sizeof(chunks) / sizeof(chunks[0])) {
        void *c = slabs_alloc_locked(1);
        if (c == NULL) {
            break;
        }
        chunks[n++] = c;
    }
    ok(n == 2 * 10922, "limit 2 MB: exactly two pages of class 1 (%u chunks)", n);
    ok(slabs_malloced_locked() == 2 * SLAB_PAGE_SIZE, "total_malloced is 2 MB");
    for (unsigned i = 0; i < n; i++) {
        if (slabs_page_of(chunks[i]) != slabs_page_of((char *)chunks[i] + 95)) {
            aligned = 0;
        }
    }
    ok(aligned && ((uintptr_t)slabs_page_of(chunks[0]) & (SLAB_PAGE_SIZE - 1)) == 0,
       "pages are 1 MB aligned and chunks do not straddle them");
    ok(slabs_alloc_locked(2) == NULL, "another class gets nothing at the limit");
    ok(slabs_grow_locked(2, false) && slabs_alloc_locked(2) != NULL,
       "but a class's first page may exceed the limit (memcached's rule)");
    ok(!slabs_grow_locked(2, false), "only the first page");
    slabs_free_locked(chunks[--n], 1);
    slabs_class_info_locked(1, &info);
    ok(info.free_chunks == 1 && info.pages == 2, "free returns the chunk");
    ok(slabs_alloc_locked(1) == chunks[n], "and it is handed out again");
    slabs_set_limit_locked(0);
    ok(slabs_alloc_locked(1) != NULL, "limit 0 means unlimited");
    slabs_teardown();
}

static bool count_free(struct item *c, void *ctx)
{
    if (c->it_flags & ITEM_SLABBED) {
        (*(unsigned *)ctx)++;
    }
    return true;
}

static void test_page_move(void)
{
    struct settings s = defaults();
    char err[256];
    struct item *c;
    void *page;
    unsigned nfree = 0;
    struct slabs_class_info a, b;

    slabs_setup(&s, err, sizeof(err));
    c = slabs_alloc_locked(1);
    page = slabs_page_of(c);
    slabs_page_each_locked(page, 1, count_free, &nfree);
    ok(nfree == 10921, "page walk sees 10921 free chunks and one in use");
    slabs_free_locked(c, 1);
    slabs_page_move_locked(page, 1, 5);
    slabs_class_info_locked(1, &a);
    slabs_class_info_locked(5, &b);
    ok(a.pages == 0 && a.free_chunks == 0, "source class lost the page");
    ok(b.pages == 1 && b.free_chunks == 4369, "target class re-cut it into 4369 chunks");
    ok(slabs_malloced_locked() == SLAB_PAGE_SIZE, "no new memory was mapped");
    ok(slabs_some_page_locked(5) == page, "the page now belongs to class 5");
    slabs_teardown();
}

static void test_bad_config(void)
{
    struct settings s = defaults();
    char err[256] = "";

    s.factor = 1.0;
    ok(!slabs_setup(&s, err, sizeof(err)) && err[0] != '\0', "factor 1.0 refused: %s", err);
    s = defaults();
    s.slab_chunk_size_max = 2 * 1024 * 1024;
    ok(!slabs_setup(&s, err, sizeof(err)), "slab_chunk_max above the page size refused");
}

int main(void)
{
    test_class_tables();
    test_default_table();
    test_clsid();
    test_alloc_and_limit();
    test_page_move();
    test_bad_config();
    printf("1..%d\n", test_no);
    return failures == 0 ? 0 : 1;
}
