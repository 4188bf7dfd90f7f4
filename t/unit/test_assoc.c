/*
 * test_assoc.c - the hash function and the hash table with online
 * expansion: every key stays findable before, during and after expansions,
 * deletes work in both tables, and a pinned table never grows. TAP output.
 *
 * Items are plain malloc'd headers here: assoc.c only uses h_next and the key.
 */
#include "assoc.h"
#include "hash.h"
#include "items.h"

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

static struct item *make_item(unsigned i)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "key:%u", i);
    struct item *it = calloc(1, sizeof(struct item) + (size_t)n + 1);

    it->nkey = (uint8_t)n;
    memcpy(it->data, key, (size_t)n + 1);
    return it;
}

static uint32_t hv_of(const struct item *it)
{
    return hash_key(item_key(it), it->nkey);
}

static int find_all(struct item **items, unsigned n, unsigned step)
{
    for (unsigned i = 0; i < n; i += step) {
        if (items[i] != NULL &&
            assoc_find_locked(item_key(items[i]), items[i]->nkey, hv_of(items[i])) != items[i]) {
            printf("# key %u not found\n", i);
            return 0;
        }
    }
    return 1;
}

static void test_hash(void)
{
    ok(hash_key("", 0) == 0, "murmur3(\"\") = 0");
    ok(hash_key("hello", 5) == 0x248bfa47u, "murmur3(\"hello\") matches the reference vector");
    ok(hash_key("The quick brown fox jumps over the lazy dog", 43) == 0x2e4ff723u,
       "murmur3(fox) matches the reference vector");
    ok(hash_key("abc", 3) == 0xb3dd93fau, "murmur3(\"abc\") (3-byte tail)");
}

static void test_expansion(void)
{
    enum { N = 200000 };
    struct item **items = calloc(N, sizeof(*items));
    int during = 1;
    unsigned expansions = 0;
    bool was = false;

    ok(assoc_setup(10, true), "setup with power 10");
    for (unsigned i = 0; i < N; i++) {
        items[i] = make_item(i);
        assoc_insert_locked(items[i], hv_of(items[i]));
        if (assoc_is_expanding() && !was) {
            expansions++;
        }
        was = assoc_is_expanding();
        /* Spot checks while buckets are half moved. */
        if (was && i % 997 == 0 && !find_all(items, i + 1, 13)) {
            during = 0;
        }
    }
    ok(during, "keys found while an expansion is running");
    ok(expansions >= 7, "table expanded online %u times", expansions);
    for (int i = 0; i < 1000000 && assoc_is_expanding(); i++) {
        assoc_step_locked();
    }
    ok(!assoc_is_expanding(), "expansion finishes through lookups' steps");
    ok(assoc_hashpower() == 18 && assoc_bytes() == ((size_t)8 << 18),
       "power 18 for 200k items (%u)", assoc_hashpower());
    ok(find_all(items, N, 1), "all 200000 keys found after expansion");
    ok(assoc_count() == N, "count %zu", assoc_count());
    for (unsigned i = 0; i < N; i += 2) {
        assoc_delete_locked(items[i], hv_of(items[i]));
        free(items[i]);
        items[i] = NULL;
    }
    ok(find_all(items, N, 1) && assoc_count() == N / 2, "half deleted, the rest still found");
    {
        struct item *gone = make_item(0);
        ok(assoc_find_locked(item_key(gone), gone->nkey, hv_of(gone)) == NULL,
           "deleted key not found");
        free(gone);
    }
    for (unsigned i = 1; i < N; i += 2) {
        free(items[i]);
    }
    free(items);
    assoc_teardown();
}

static void test_delete_during_expansion(void)
{
    enum { N = 3000 };
    struct item *items[N];
    unsigned i;

    assoc_setup(10, true);
    for (i = 0; i < N && !assoc_is_expanding(); i++) {
        items[i] = make_item(i);
        assoc_insert_locked(items[i], hv_of(items[i]));
    }
    ok(assoc_is_expanding(), "expansion started after %u items (1.5 per bucket)", i);
    for (unsigned j = 0; j < i; j++) {
        assoc_delete_locked(items[j], hv_of(items[j]));
    }
    ok(assoc_count() == 0, "every item deleted from old and new buckets");
    for (unsigned j = 0; j < i; j++) {
        if (assoc_find_locked(item_key(items[j]), items[j]->nkey, hv_of(items[j])) != NULL) {
            ok(0, "deleted item %u still found", j);
            break;
        }
        free(items[j]);
    }
    assoc_teardown();
}

static void test_pinned(void)
{
    enum { N = 5000 };
    struct item *items[N];

    assoc_setup(8, false);
    for (unsigned i = 0; i < N; i++) {
        items[i] = make_item(i);
        assoc_insert_locked(items[i], hv_of(items[i]));
    }
    ok(assoc_hashpower() == 8 && !assoc_is_expanding(), "no_hashexpand keeps power 8");
    ok(find_all(items, N, 1), "long chains still find every key");
    for (unsigned i = 0; i < N; i++) {
        free(items[i]);
    }
    assoc_teardown();
    ok(assoc_setup(0, true) && assoc_hashpower() == 16 && assoc_bytes() == 524288,
       "power 0 means the default 16 (hash_bytes 524288 as the reference)");
    assoc_teardown();
    ok(!assoc_setup(33, true), "power above 32 refused");
}

int main(void)
{
    test_hash();
    test_expansion();
    test_delete_during_expansion();
    test_pinned();
    printf("1..%d\n", test_no);
    return failures == 0 ? 0 : 1;
}
