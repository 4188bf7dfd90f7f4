/*
 * test_items.c - the storage operations: store/get/delete, CAS, incr/decr
 * rules, expiry and flush, chunked items, eviction and page moves under a
 * memory limit, -M, references, the stats listings, and a two-thread smoke
 * test (run it under -fsanitize=thread too). TAP output.
 *
 * The clock is faked here (this file defines the clock.h functions, so
 * clock.c is not linked): tests move time by setting fake_now. Expected
 * values were read from memcached 1.6.18 where the behaviour is the
 * reference's (see the comments at each case).
 */
#include "clock.h"
#include "items.h"
#include "settings.h"
#include "stats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fake clock ---------------------------------------------------------- */

static uint32_t fake_now = 1000;

uint32_t clock_now(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

time_t clock_epoch(void)
{
    return 1700000000;
}

void clock_setup(void)
{
}

void clock_tick(void)
{
}

uint32_t clock_exptime(int64_t exptime)
{
    return exptime == 0 ? 0 : (uint32_t)(clock_now() + exptime);
}

/* ---- TAP ----------------------------------------------------------------- */

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
    fflush(stdout);
    if (!cond) {
        failures++;
    }
}

/* ---- helpers ------------------------------------------------------------- */

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

static void setup(const struct settings *s)
{
    char err[256] = "";

    if (!storage_setup(s, err, sizeof(err))) {
        printf("Bail out! storage_setup: %s\n", err);
        exit(1);
    }
}

static void fill(struct item *it, const char *val, size_t len)
{
    size_t off = 0;

    while (off < len + 2) {
        char *p;
        size_t n = item_value_segment(it, off, &p);
        for (size_t i = 0; i < n; i++, off++) {
            p[i] = off < len ? val[off] : (off == len ? '\r' : '\n');
        }
    }
}

static enum store_result store_op(const char *key, const char *val, enum store_op op,
                                  uint64_t cas_in, uint64_t *cas_out)
{
    enum item_alloc_status st;
    size_t len = strlen(val);
    struct item *it = item_alloc(key, strlen(key), 0, 0, len + 2, &st);
    enum store_result r;

    if (it == NULL) {
        return STORE_NO_MEMORY;
    }
    fill(it, val, len);
    r = item_store(it, op, cas_in, cas_out);
    item_release(it);
    return r;
}

static bool set_str(const char *key, const char *val)
{
    return store_op(key, val, STORE_SET, 0, NULL) == STORE_STORED;
}

static bool set_exp(const char *key, const char *val, uint32_t exptime)
{
    enum item_alloc_status st;
    size_t len = strlen(val);
    struct item *it = item_alloc(key, strlen(key), 0, exptime, len + 2, &st);
    enum store_result r;

    if (it == NULL) {
        return false;
    }
    fill(it, val, len);
    r = item_store(it, STORE_SET, 0, NULL);
    item_release(it);
    return r == STORE_STORED;
}

/* The value without "\r\n" into a static buffer, or NULL on a miss. */
static const char *get_str(const char *key, enum get_result *why)
{
    static char buf[4096];
    enum get_result w;
    struct item *it = item_get(key, strlen(key), why ? why : &w);
    char *p;
    size_t n;

    if (it == NULL) {
        return NULL;
    }
    n = item_value_segment(it, 0, &p);
    n = n - 2 < sizeof(buf) - 1 ? n - 2 : sizeof(buf) - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    item_release(it);
    return buf;
}

static bool has(const char *key)
{
    return get_str(key, NULL) != NULL;
}

/* Captured stats lines, "name value\n". */
static char stats_buf[65536];

static void capture(void *ctx, const char *name, const char *val)
{
    size_t used = strlen(stats_buf);

    (void)ctx;
    snprintf(stats_buf + used, sizeof(stats_buf) - used, "%s %s\n", name, val);
}

static long long stat_of(const char *name)
{
    char pat[128];
    const char *p;

    snprintf(pat, sizeof(pat), "%s ", name);
    for (p = stats_buf; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, pat, strlen(pat)) == 0) {
            return atoll(p + strlen(pat));
        }
    }
    return -1;
}

static void slabs_stats(void)
{
    stats_buf[0] = '\0';
    storage_emit_slabs(NULL, capture, NULL);
}

static void items_stats(void)
{
    stats_buf[0] = '\0';
    storage_emit_items(capture, NULL);
}

/* ---- tests --------------------------------------------------------------- */

static void test_roundtrip(void)
{
    struct settings s = defaults();
    enum get_result why;
    struct storage_stats st;

    setup(&s);
    ok(set_str("foo", "bar"), "set foo");
    ok(get_str("foo", &why) != NULL && strcmp(get_str("foo", NULL), "bar") == 0 && why == GET_HIT,
       "get foo -> bar");
    ok(get_str("nope", &why) == NULL && why == GET_MISS, "miss reports GET_MISS");
    ok(item_delete("foo", 3, 0) == DELETE_DELETED, "delete foo");
    ok(!has("foo") && item_delete("foo", 3, 0) == DELETE_NOT_FOUND, "gone after delete");
    ok(store_op("a", "1", STORE_ADD, 0, NULL) == STORE_STORED &&
           store_op("a", "2", STORE_ADD, 0, NULL) == STORE_NOT_STORED,
       "add stores once");
    ok(store_op("r", "1", STORE_REPLACE, 0, NULL) == STORE_NOT_STORED &&
           store_op("a", "3", STORE_REPLACE, 0, NULL) == STORE_STORED &&
           strcmp(get_str("a", NULL), "3") == 0,
       "replace needs an existing item");
    ok(store_op("a", "xy", STORE_APPEND, 0, NULL) == STORE_STORED &&
           store_op("a", "<", STORE_PREPEND, 0, NULL) == STORE_STORED &&
           strcmp(get_str("a", NULL), "<3xy") == 0,
       "append and prepend");
    ok(store_op("none", "x", STORE_APPEND, 0, NULL) == STORE_NOT_STORED,
       "append to a missing item: NOT_STORED");
    storage_stats_snapshot(&st);
    /* Linked: foo, add a, replace a, append a, prepend a. */
    ok(st.curr_items == 1 && st.total_items == 5 && st.limit_maxbytes == 64 * 1024 * 1024,
       "curr_items 1, total_items 5 (%" PRIu64 ")", st.total_items);
    ok(st.hash_power_level == 16 && st.hash_bytes == 524288 && st.hash_is_expanding == 0,
       "hash stats as the reference's defaults");
    storage_teardown();
}

static void test_sizes_and_stats(void)
{
    struct settings s = defaults();
    struct item *it;
    enum get_result why;
    struct storage_stats st;

    setup(&s);
    set_str("a", "x");
    it = item_peek("a", 1, &why);
    /* Reference: `ms t 1` -> `me` size=61, cls=1; stats bytes 61. */
    ok(it != NULL && item_ntotal(it) == 61 && it->slabs_clsid == 1, "key a, 1 byte: 61, class 1");
    ok(it != NULL && !(item_flags(it) & ITEM_FETCHED), "peek does not mark fetched");
    item_release(it);
    storage_stats_snapshot(&st);
    ok(st.bytes == 61 && st.total_malloced == 1048576, "bytes 61, total_malloced 1 MB");
    items_stats();
    ok(strncmp(stats_buf,
               "items:1:number 1\nitems:1:number_hot 0\nitems:1:number_warm 0\n"
               "items:1:number_cold 1\nitems:1:age_hot 0\nitems:1:age_warm 0\n"
               "items:1:age 0\nitems:1:mem_requested 61\n",
               strlen("items:1:number 1\nitems:1:number_hot 0\nitems:1:number_warm 0\n"
                      "items:1:number_cold 1\nitems:1:age_hot 0\nitems:1:age_warm 0\n"
                      "items:1:age 0\nitems:1:mem_requested 61\n")) == 0,
       "stats items: names and order");
    ok(stat_of("items:1:hits_to_temp") == 0 && stat_of("items:1:moves_within_lru") == 0 &&
           stat_of("items:2:number") == -1,
       "stats items: 28 fields per class, empty classes skipped");
    slabs_stats();
    ok(stat_of("1:chunk_size") == 96 && stat_of("1:chunks_per_page") == 10922 &&
           stat_of("1:total_pages") == 1 && stat_of("1:used_chunks") == 1 &&
           stat_of("1:free_chunks") == 10921 && stat_of("1:free_chunks_end") == 0 &&
           stat_of("active_slabs") == 1 && stat_of("total_malloced") == 1048576,
       "stats slabs matches the reference dump");
    fake_now += 5;
    items_stats();
    ok(stat_of("items:1:age") == 5, "age of the LRU tail");
    stats_buf[0] = '\0';
    storage_emit_sizes(capture, NULL);
    ok(strcmp(stats_buf, "sizes_status disabled\n") == 0, "stats sizes disabled by default");
    stats_buf[0] = '\0';
    storage_sizes_toggle(true, capture, NULL);
    ok(strcmp(stats_buf, "sizes_status enabled\n") == 0, "sizes_enable");
    set_str("b", "y");
    stats_buf[0] = '\0';
    storage_emit_sizes(capture, NULL);
    ok(strcmp(stats_buf, "64 1\n") == 0, "sizes: items stored after enabling, 32-byte buckets");
    storage_teardown();
}

static void test_cas(void)
{
    struct settings s = defaults();
    uint64_t c1 = 0;
    uint64_t c2 = 0;
    struct item *it;
    enum get_result why;

    setup(&s);
    store_op("k", "v", STORE_SET, 0, &c1);
    store_op("k2", "v", STORE_SET, 0, &c2);
    ok(c1 == 1 && c2 == 2, "cas counts up from 1");
    ok(store_op("k", "w", STORE_CAS, c1 + 5, NULL) == STORE_EXISTS, "cas mismatch: EXISTS");
    ok(store_op("k", "w", STORE_CAS, 0, NULL) == STORE_EXISTS, "cas unique 0 never matches");
    ok(store_op("k", "w", STORE_CAS, c1, &c1) == STORE_STORED && c1 == 3, "cas match stores");
    ok(store_op("zz", "w", STORE_CAS, 1, NULL) == STORE_NOT_FOUND, "cas on a missing key");
    ok(item_delete("k", 1, 99) == DELETE_EXISTS && item_delete("k", 1, c1) == DELETE_DELETED,
       "delete with cas");
    it = item_peek("k2", 2, &why);
    storage_lock();
    ok(item_new_cas_locked(it) == 4 && item_cas(it) == 4, "item_new_cas_locked");
    item_release_locked(it);
    storage_unlock();
    /* Reference: flush_all consumes a cas value (set after flush gets 3, not 2). */
    item_flush(0);
    store_op("k3", "v", STORE_SET, 0, &c1);
    ok(c1 == 6, "flush_all consumes one cas value");
    storage_teardown();

    s.use_cas = false;
    setup(&s);
    store_op("k", "v", STORE_SET, 0, &c1);
    ok(c1 == 0, "-C: cas 0");
    /* Reference with -C: `cas` is always EXISTS. */
    ok(store_op("k", "w", STORE_CAS, 0, NULL) == STORE_EXISTS &&
           store_op("k", "w", STORE_CAS, 5, NULL) == STORE_EXISTS,
       "-C: cas never stores");
    it = item_peek("k", 1, &why);
    ok(it != NULL && item_ntotal(it) == 53, "-C: size 53 as the reference's `me`");
    item_release(it);
    storage_teardown();
}

struct delta_case {
    const char *value;
    bool incr;
    uint64_t delta;
    enum delta_result res;
    uint64_t result;
    const char *stored; /* value afterwards */
};

/* Every row observed on memcached 1.6.18 (incr/decr then get). */
static const struct delta_case delta_cases[] = {
    {"100", false, 1, DELTA_OK, 99, "99 "},
    {"99 ", true, 1, DELTA_OK, 100, "100"},
    {"  12", true, 1, DELTA_OK, 13, "13  "},
    {" \t12", true, 1, DELTA_OK, 13, "13  "},
    {"\n5", true, 1, DELTA_OK, 6, "6 "},
    {"12\t", true, 1, DELTA_OK, 13, "13 "},
    {"1 2", true, 1, DELTA_OK, 2, "2  "},
    {"+12", true, 1, DELTA_OK, 13, "13 "},
    {"-0", true, 1, DELTA_OK, 1, "1 "},
    {"-18446744073709551615", true, 1, DELTA_OK, 2, "2                    "},
    {"-9223372036854775809", true, 1, DELTA_OK, 9223372036854775808ULL, "9223372036854775808 "},
    {"0000000000000000000000000000000000000000000007", true, 1, DELTA_OK, 8,
     "8                                             "},
    {"18446744073709551615", true, 1, DELTA_OK, 0, "0                   "},
    {"5", true, 18446744073709551615ULL, DELTA_OK, 4, "4"},
    {"9", false, 100, DELTA_OK, 0, "0"},
    {"9", true, 1, DELTA_OK, 10, "10"},
    {"12abc", true, 1, DELTA_NON_NUMERIC, 0, "12abc"},
    {"-1", true, 1, DELTA_NON_NUMERIC, 0, "-1"},
    {"-1000", true, 1, DELTA_NON_NUMERIC, 0, "-1000"},
    {"-9223372036854775808", true, 1, DELTA_NON_NUMERIC, 0, "-9223372036854775808"},
    {"9223372036854775808 -x", true, 1, DELTA_NON_NUMERIC, 0, "9223372036854775808 -x"},
    {"5 -x", true, 1, DELTA_OK, 6, "6   "},
    {"18446744073709551616", true, 1, DELTA_NON_NUMERIC, 0, "18446744073709551616"},
    {"0x10", true, 1, DELTA_NON_NUMERIC, 0, "0x10"},
    {"", true, 1, DELTA_NON_NUMERIC, 0, ""},
    {"   ", true, 1, DELTA_NON_NUMERIC, 0, "   "},
};

/* Printable form of a value for a test description (\t, \n shown escaped). */
static const char *shown(const char *v, char *buf, size_t len)
{
    size_t o = 0;

    for (; *v != '\0' && o + 3 < len; v++) {
        if (*v == '\n' || *v == '\t') {
            buf[o++] = '\\';
            buf[o++] = *v == '\n' ? 'n' : 't';
        } else {
            buf[o++] = *v;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void test_delta_rules(void)
{
    struct settings s = defaults();

    setup(&s);
    for (size_t i = 0; i < sizeof(delta_cases) / sizeof(delta_cases[0]); i++) {
        const struct delta_case *c = &delta_cases[i];
        uint64_t v = 0;
        uint64_t cas = 0;
        enum delta_result r;
        const char *after;
        char desc[64];

        set_str("n", c->value);
        r = item_delta("n", 1, c->incr, c->delta, 0, &v, &cas);
        after = get_str("n", NULL);
        shown(c->value, desc, sizeof(desc));
        ok(r == c->res && (r != DELTA_OK || v == c->result) && after != NULL &&
               strcmp(after, c->stored) == 0,
           "%s \"%s\" by %" PRIu64 ": result %d value %" PRIu64 ", stored \"%s\"",
           c->incr ? "incr" : "decr", desc, c->delta, (int)r, v, after ? after : "(null)");
    }
    ok(item_delta("missing", 7, true, 1, 0, &(uint64_t){0}, NULL) == DELTA_NOT_FOUND,
       "incr on a missing key");
    storage_teardown();
}

static void test_delta_cas_and_refs(void)
{
    struct settings s = defaults();
    uint64_t v;
    uint64_t cas;
    uint64_t old_cas;
    struct item *held;
    struct item *after = NULL;
    enum get_result why;
    char *p;

    setup(&s);
    store_op("n", "10", STORE_SET, 0, &old_cas);
    ok(item_delta("n", 1, true, 1, old_cas + 1, &v, &cas) == DELTA_EXISTS, "cas mismatch");
    ok(item_delta("n", 1, true, 1, old_cas, &v, &cas) == DELTA_OK && v == 11 && cas > old_cas,
       "cas match gives a new cas");
    /* A reader holds the item: the new value must go into a new item. */
    held = item_get("n", 1, &why);
    ok(item_delta_ex("n", 1, true, 1, 0, &v, &cas, &after) == DELTA_OK && v == 12 &&
           after != NULL && after != held,
       "incr while a reader holds the item creates a new item");
    item_value_segment(held, 0, &p);
    ok(memcmp(p, "11\r\n", 4) == 0, "the reader's value is untouched");
    ok(after != NULL && after->slabs_clsid == 1 && item_cas(after) == cas,
       "item_delta_ex hands back the item (class, cas)");
    item_release(after);
    item_release(held);
    ok(strcmp(get_str("n", NULL), "12") == 0, "the table has the new value");
    storage_teardown();
}

static void test_expiry_and_flush(void)
{
    struct settings s = defaults();
    enum get_result why;
    uint32_t t0;

    setup(&s);
    fake_now = 1000;
    ok(set_exp("e1", "x", 1) && get_str("e1", &why) == NULL && why == GET_EXPIRED,
       "exptime 1 (already past) is expired at once");
    ok(set_exp("e10", "x", fake_now + 10) && has("e10"), "exptime now+10 is live");
    fake_now += 9;
    ok(has("e10"), "still live one second before");
    fake_now += 1;
    ok(get_str("e10", &why) == NULL && why == GET_EXPIRED, "expired when exptime == now");
    ok(item_delete("e10", 3, 0) == DELETE_NOT_FOUND, "and unlinked on the way");

    set_str("old", "x");
    fake_now++;
    item_flush(0);
    ok(get_str("old", &why) == NULL && why == GET_FLUSHED, "flush_all invalidates older items");
    ok(set_str("new", "y") && has("new"), "an item stored right after the flush lives");

    t0 = fake_now;
    set_str("d", "x");
    item_flush(t0 + 2); /* flush_all 2 */
    ok(has("d"), "delayed flush: item visible before it fires");
    fake_now = t0 + 1;
    set_str("d2", "x");
    ok(!has("d") && !has("d2"), "delayed flush fires at when-1, taking items set before");
    fake_now = t0 + 2;
    ok(set_str("d3", "x") && has("d3"), "items set after it fired live");
    item_flush(1); /* flush_all <absolute time in the past>: the reference flushes nothing */
    ok(has("d3"), "a flush time in the past flushes nothing (as the reference)");
    storage_teardown();

    /* Reference with -C: an item set in the flush's own second is flushed too. */
    s.use_cas = false;
    setup(&s);
    item_flush(0);
    ok(set_str("c", "x") && !has("c"), "-C: set in the same second as flush_all is invisible");
    fake_now++;
    ok(set_str("c", "x") && has("c"), "-C: one second later it stays");
    storage_teardown();
}

static void test_touch_and_bump(void)
{
    struct settings s = defaults();
    enum get_result why;
    struct item *it;

    setup(&s);
    fake_now = 2000;
    set_str("t", "v");
    it = item_touch("t", 1, fake_now + 5, &why);
    ok(it != NULL && item_exptime(it) == fake_now + 5 && (item_flags(it) & ITEM_FETCHED),
       "touch sets exptime and counts as a fetch");
    item_release(it);
    fake_now += 3;
    it = item_get("t", 1, &why);
    ok(it != NULL && (item_flags(it) & ITEM_ACTIVE) && it->time == fake_now,
       "second fetch sets ACTIVE and the access time");
    storage_lock();
    item_set_exptime_locked(it, 0);
    item_change_flags_locked(it, ITEM_STALE | ITEM_TOKEN, ITEM_TOKEN);
    storage_unlock();
    ok((item_flags(it) & (ITEM_STALE | ITEM_TOKEN | ITEM_LINKED)) == (ITEM_STALE | ITEM_LINKED),
       "item_change_flags_locked sets then clears");
    item_release(it);
    fake_now += 10;
    ok(has("t"), "exptime cleared under the lock");
    storage_teardown();
}

static void test_chunked(void)
{
    struct settings s = defaults();
    enum item_alloc_status st;
    size_t len = 2000000;
    struct item *it;
    enum get_result why;
    char *val = malloc(len);
    size_t off = 0;
    int same = 1;

    s.item_size_max = 4 * 1024 * 1024; /* -I 4m */
    setup(&s);
    for (size_t i = 0; i < len; i++) {
        val[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    }
    it = item_alloc("big", 3, 0, 0, len + 2, &st);
    ok(it != NULL && (item_flags(it) & ITEM_CHUNKED), "2 MB item is chunked");
    fill(it, val, len);
    ok(item_store(it, STORE_SET, 0, NULL) == STORE_STORED, "stored");
    item_release(it);
    it = item_get("big", 3, &why);
    while (it != NULL && off < len + 2) {
        char *p;
        size_t n = item_value_segment(it, off, &p);
        for (size_t i = 0; i < n; i++, off++) {
            char want = off < len ? val[off] : (off == len ? '\r' : '\n');
            if (p[i] != want) {
                same = 0;
            }
        }
    }
    ok(it != NULL && same && off == len + 2, "value read back through segments");
    ok(it != NULL && item_ntotal(it) == 2000062 && it->slabs_clsid == 39,
       "size 2000062, class 39 (reference `me`)");
    item_release(it);
    /* Reference -I 4m, one 2 MB item: class 2 one chunk, class 39 4 chunks on 2 pages. */
    slabs_stats();
    ok(stat_of("2:used_chunks") == 1 && stat_of("39:used_chunks") == 4 &&
           stat_of("39:total_pages") == 2 && stat_of("total_malloced") == 3145728,
       "stats slabs as the reference: header in class 2, 4 chunks in 39");
    ok(item_delta("big", 3, true, 1, 0, &(uint64_t){0}, NULL) == DELTA_NON_NUMERIC,
       "incr on a chunked item: non-numeric");
    ok(store_op("big", "tail", STORE_APPEND, 0, NULL) == STORE_STORED, "append to chunked");
    it = item_get("big", 3, &why);
    {
        char *p;
        size_t n = item_value_segment(it, len - 2, &p);
        ok(n >= 2 && memcmp(p, val + len - 2, 2) == 0, "old tail kept");
        item_value_segment(it, len, &p);
        ok(memcmp(p, "t", 1) == 0 && it->nbytes == len + 6, "appended bytes follow");
    }
    item_release(it);
    ok(item_delete("big", 3, 0) == DELETE_DELETED, "delete chunked");
    slabs_stats();
    ok(stat_of("2:used_chunks") == 0 && stat_of("39:used_chunks") == 0, "all chunks freed");
    /* 600,000 bytes: one full chunk + a remainder in a smaller class (reference: class 31). */
    it = item_alloc("big2", 4, 0, 0, 600002, &st);
    item_store(it, STORE_SET, 0, NULL);
    item_release(it);
    slabs_stats();
    ok(stat_of("31:used_chunks") == 1 && stat_of("39:used_chunks") == 1,
       "600 KB item: remainder chunk from class 31 as the reference");
    item_delete("big2", 4, 0);
    /* Reference: the header of a 600 KB item moves from class 2 to 3 at 16-byte keys. */
    for (size_t nk = 15; nk <= 16; nk++) {
        const char *key = "kkkkkkkkkkkkkkkk";
        it = item_alloc(key, nk, 0, 0, 600002, &st);
        item_store(it, STORE_SET, 0, NULL);
        item_release(it);
        slabs_stats();
        ok(stat_of(nk == 15 ? "2:used_chunks" : "3:used_chunks") == 1,
           "chunked header class for a %zu-byte key as the reference", nk);
        item_delete(key, nk, 0);
    }
    ok(item_size_ok(1, 4194304 - 56 - 2, 0) && !item_size_ok(1, 4194304 - 56 - 1, 0),
       "-I 4m boundary");
    storage_teardown();
    s = defaults();
    setup(&s);
    /* Reference -I 1m: key "a" with 1048516 value bytes stores, 1048517 is too large. */
    ok(item_size_ok(1, 1048516 + 2, 0) && !item_size_ok(1, 1048517 + 2, 0), "-I 1m boundary");
    /* Non-zero client flags take 4 bytes: 1048512 stores with flags 1, 1048513 does not. */
    ok(item_size_ok(1, 1048512 + 2, 1) && !item_size_ok(1, 1048513 + 2, 1),
       "-I 1m boundary with client flags");
    it = item_alloc("a", 1, 0, 0, 1048517 + 2, &st);
    ok(it == NULL && st == ITEM_ALLOC_TOO_LARGE, "too large: ITEM_ALLOC_TOO_LARGE");
    free(val);
    storage_teardown();
}

static void test_append_too_large(void)
{
    struct settings s = defaults();
    char *v = malloc(600001);

    setup(&s);
    memset(v, 'x', 600000);
    v[600000] = '\0';
    set_str("k", v);
    ok(store_op("k", v, STORE_APPEND, 0, NULL) == STORE_TOO_LARGE,
       "append past item_size_max: STORE_TOO_LARGE");
    free(v);
    storage_teardown();
}

static void test_eviction(void)
{
    struct settings s = defaults();
    char key[32];
    char val[1001];
    int stored = 0;
    size_t max_malloced = 0;
    struct storage_stats st;
    int last_ok = 1;

    s.maxbytes = 2 * 1024 * 1024;
    setup(&s);
    memset(val, 'v', 1000);
    val[1000] = '\0';
    for (int i = 0; i < 10000; i++) { /* 10 MB of values */
        snprintf(key, sizeof(key), "key%d", i);
        if (set_str(key, val)) {
            stored++;
        }
        storage_stats_snapshot(&st);
        if (st.total_malloced > max_malloced) {
            max_malloced = st.total_malloced;
        }
    }
    ok(stored == 10000, "every set succeeded");
    ok(max_malloced <= 2 * 1024 * 1024, "memory never above the limit (%zu)", max_malloced);
    ok(!has("key0") && !has("key100"), "early items evicted");
    for (int i = 9900; i < 10000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        if (!has(key)) {
            last_ok = 0;
        }
    }
    ok(last_ok, "the last 100 are readable");
    storage_stats_snapshot(&st);
    ok(st.evictions > 8000 && st.curr_items == 1770 && st.evicted_unfetched > 0 &&
           st.direct_reclaims >= st.evictions,
       "evictions %" PRIu64 ", curr_items %" PRIu64 " (2 pages of 885)", st.evictions,
       st.curr_items);
    storage_teardown();
}

static void test_second_chance(void)
{
    struct settings s = defaults();
    char key[32];
    char val[1001];
    int hot_ok = 1;

    s.maxbytes = 2 * 1024 * 1024;
    setup(&s);
    memset(val, 'v', 1000);
    val[1000] = '\0';
    set_str("hot", val);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        set_str(key, val);
        if (i % 500 == 0) {
            /* Two fetches make it ACTIVE; eviction then moves it back to the head. */
            if (!has("hot") || !has("hot")) {
                hot_ok = 0;
            }
        }
    }
    items_stats();
    ok(hot_ok && stat_of("items:12:moves_within_lru") > 0,
       "a frequently read item survives a scan (second chance)");
    storage_teardown();
}

static void test_no_evict(void)
{
    struct settings s = defaults();
    char key[32];
    char val[1001];
    int i;
    enum item_alloc_status st = ITEM_ALLOC_OK;
    struct storage_stats ss;

    s.maxbytes = 2 * 1024 * 1024;
    s.evict_to_free = false; /* -M */
    setup(&s);
    memset(val, 'v', 1000);
    val[1000] = '\0';
    for (i = 0; i < 5000; i++) {
        struct item *it;
        snprintf(key, sizeof(key), "key%d", i);
        it = item_alloc(key, strlen(key), 0, 0, 1002, &st);
        if (it == NULL) {
            break;
        }
        fill(it, val, 1000);
        item_store(it, STORE_SET, 0, NULL);
        item_release(it);
    }
    ok(i == 1770 && st == ITEM_ALLOC_NO_MEMORY, "-M: out of memory after 2 pages (%d)", i);
    ok(has("key0") && has("key1769"), "-M: nothing was evicted");
    storage_stats_snapshot(&ss);
    ok(ss.evictions == 0 && ss.total_malloced == 2 * 1024 * 1024, "-M: no evictions, 2 MB");
    items_stats();
    ok(stat_of("items:12:outofmemory") >= 1, "outofmemory counted");
    /* Expired items are still reclaimed with -M. */
    fake_now = 5000;
    set_exp("key-exp", "x", 1);
    storage_teardown();
}

static void test_page_move(void)
{
    struct settings s = defaults();
    char key[32];
    char small[101];
    char big[5001];
    int big_ok = 1;
    struct storage_stats st;

    s.maxbytes = 2 * 1024 * 1024;
    setup(&s);
    memset(small, 's', 100);
    small[100] = '\0';
    memset(big, 'b', 5000);
    big[5000] = '\0';
    for (int i = 0; i < 20000; i++) { /* fills both pages with one class */
        snprintf(key, sizeof(key), "s%d", i);
        set_str(key, small);
    }
    storage_stats_snapshot(&st);
    ok(st.total_malloced == 2 * 1024 * 1024, "memory full with small items");
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "b%d", i);
        if (!set_str(key, big) || !has(key)) {
            big_ok = 0;
        }
    }
    storage_stats_snapshot(&st);
    ok(big_ok, "a new size class still stores once memory is full");
    ok(st.slabs_moved >= 1 && st.total_malloced == 2 * 1024 * 1024,
       "by moving a page (%" PRIu64 " moved), not by growing", st.slabs_moved);
    {
        int left = 0;
        for (int i = 0; i < 20000; i++) {
            snprintf(key, sizeof(key), "s%d", i);
            left += has(key);
        }
        /* Two pages of 5461 held the newest 10922; the moved page's items went. */
        ok(left == 5461, "the other page's small items survive (%d)", left);
    }
    storage_teardown();
}

/* A workload whose item size changes gets its memory back over time. */
static void test_balance(void)
{
    struct settings s = defaults();
    char key[32];
    char small[101];
    char big[5001];
    long long pages;

    s.maxbytes = 8 * 1024 * 1024;
    setup(&s);
    memset(small, 's', 100);
    small[100] = '\0';
    memset(big, 'b', 5000);
    big[5000] = '\0';
    fake_now = 10000;
    for (int i = 0; i < 60000; i++) {
        snprintf(key, sizeof(key), "s%d", i);
        set_str(key, small);
    }
    fake_now += 100;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "b%d", i);
        set_str(key, big);
        if (i % 100 == 99) {
            fake_now++;
        }
    }
    slabs_stats();
    pages = stat_of("19:total_pages");
    ok(pages >= 6 && stat_of("4:total_pages") >= 1 && stat_of("total_malloced") == 8 * 1048576,
       "after a size shift the new class gained pages (%lld) within the limit", pages);
    storage_teardown();
}

static void test_hash_growth(void)
{
    struct settings s = defaults();
    char key[32];
    int found = 0;
    struct storage_stats st;
    bool expanded_midway = false;

    s.hashpower_init = 10;
    setup(&s);
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        set_str(key, "v");
        if (i == 150000) {
            storage_stats_snapshot(&st);
            expanded_midway = st.hash_power_level > 10;
        }
    }
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        found += has(key);
    }
    storage_stats_snapshot(&st);
    ok(expanded_midway && found == 200000, "200k items all found across online expansions");
    ok(st.hash_power_level == 18 && st.hash_is_expanding == 0 && st.curr_items == 200000,
       "hash_power_level 18, expansion finished by lookups");
    storage_teardown();
}

static void test_refcount(void)
{
    struct settings s = defaults();
    enum get_result why;
    struct item *held;
    char *p;
    char key[16];
    long long used;

    setup(&s);
    set_str("r", "precious");
    held = item_get("r", 1, &why);
    ok(item_delete("r", 1, 0) == DELETE_DELETED && !has("r"), "deleted while held");
    slabs_stats();
    used = stat_of("1:used_chunks");
    ok(used == 1, "its chunk is still in use");
    for (int i = 0; i < 1000; i++) { /* would reuse the chunk if it had been freed */
        snprintf(key, sizeof(key), "o%d", i);
        set_str(key, "overwrite");
    }
    item_value_segment(held, 0, &p);
    ok(memcmp(p, "precious\r\n", 10) == 0, "value intact after 1000 more sets");
    item_release(held);
    slabs_stats();
    ok(stat_of("1:used_chunks") == 1000, "freed at the last release");
    /* set over a held item: the reader keeps the old value */
    set_str("r", "one");
    held = item_get("r", 1, &why);
    set_str("r", "two");
    item_value_segment(held, 0, &p);
    ok(memcmp(p, "one\r\n", 5) == 0 && strcmp(get_str("r", NULL), "two") == 0,
       "replace while held: reader sees old, table has new");
    item_release(held);
    storage_teardown();
}

static void test_memlimit(void)
{
    struct settings s = defaults();
    struct storage_stats st;
    char key[32];
    char val[1001];

    setup(&s);
    memset(val, 'v', 1000);
    val[1000] = '\0';
    for (int i = 0; i < 2000; i++) { /* 3 pages of class 12 */
        snprintf(key, sizeof(key), "k%d", i);
        set_str(key, val);
    }
    ok(storage_set_memlimit(2 * 1024 * 1024), "lowering the limit is accepted");
    for (int i = 2000; i < 4000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        set_str(key, val);
    }
    storage_stats_snapshot(&st);
    ok(st.total_malloced == 3 * 1024 * 1024 && st.limit_maxbytes == 2 * 1024 * 1024,
       "pages above the new limit stay, no new ones (%" PRIu64 ")", st.total_malloced);
    storage_set_memlimit(8 * 1024 * 1024);
    for (int i = 4000; i < 6000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        set_str(key, val);
    }
    storage_stats_snapshot(&st);
    ok(st.total_malloced > 3 * 1024 * 1024, "raising it lets memory grow again");
    storage_teardown();
}

static bool dump_cb(void *ctx, const char *key, size_t nkey, uint32_t len, uint64_t exptime)
{
    char line[300];

    snprintf(line, sizeof(line), "ITEM %.*s [%u b; %" PRIu64 " s]\n", (int)nkey, key, len, exptime);
    strncat((char *)ctx, line, 4000 - strlen((char *)ctx));
    return true;
}

static void test_cachedump_and_reset(void)
{
    struct settings s = defaults();
    char out[4096] = "";
    struct storage_stats st;

    setup(&s);
    fake_now = 100;
    set_str("a", "1");
    set_exp("b", "12", 200);
    storage_cachedump(1, 0, dump_cb, out);
    ok(strcmp(out, "ITEM b [2 b; 1700000200 s]\nITEM a [1 b; 0 s]\n") == 0,
       "cachedump: newest first, absolute exptime");
    out[0] = '\0';
    storage_cachedump(1, 1, dump_cb, out);
    ok(strcmp(out, "ITEM b [2 b; 1700000200 s]\n") == 0, "cachedump limit");
    storage_stats_reset();
    storage_stats_snapshot(&st);
    ok(st.total_items == 0 && st.curr_items == 2 && st.bytes > 0,
       "stats reset: total_items 0, curr_items kept");
    storage_teardown();
}

static void test_thread_counters(void)
{
    struct settings s = defaults();
    struct thread_stats ts;

    memset(&ts, 0, sizeof(ts));
    setup(&s);
    storage_thread_stats(&ts);
    set_exp("x", "1", 1);
    item_delete("x", 1, 0);
    set_str("y", "1");
    item_flush(0);
    item_delta("y", 1, true, 1, 0, &(uint64_t){0}, NULL);
    ok(ts.get_expired == 1 && ts.get_flushed == 1,
       "expired/flushed finds by delete and incr are counted for the bound worker");
    storage_thread_stats(NULL);
    storage_teardown();
}

/* ---- two threads --------------------------------------------------------- */

static int corrupt;

/* Values are numbers (digits, then spaces) or one byte repeated. */
static void check_value(struct item *it)
{
    size_t off = 0;
    char first = 0;

    while (off < it->nbytes - 2) {
        char *p;
        size_t n = item_value_segment(it, off, &p);
        for (size_t i = 0; i < n && off < it->nbytes - 2; i++, off++) {
            bool digit = p[i] >= '0' && p[i] <= '9';
            if (off == 0) {
                first = p[i];
            } else if (first >= '0' && first <= '9' ? !(digit || p[i] == ' ') : p[i] != first) {
                __atomic_store_n(&corrupt, 1, __ATOMIC_RELAXED);
            }
        }
    }
}

static void set_pattern(const char *key, char c, size_t len)
{
    enum item_alloc_status st;
    struct item *it = item_alloc(key, strlen(key), 0, 0, len + 2, &st);
    size_t off = 0;

    if (it == NULL) {
        return;
    }
    while (off < len + 2) {
        char *p;
        size_t n = item_value_segment(it, off, &p);
        for (size_t i = 0; i < n; i++, off++) {
            p[i] = off < len ? c : (off == len ? '\r' : '\n');
        }
    }
    item_store(it, STORE_SET, 0, NULL);
    item_release(it);
}

static void one_op(unsigned r)
{
    static const size_t sizes[] = {1, 40, 1500, 3000};
    char key[16];
    enum get_result why;
    struct item *it;

    snprintf(key, sizeof(key), "k%u", (r >> 8) % 3000);
    switch ((r >> 4) % 8) {
    case 0:
    case 1:
    case 2:
        it = item_get(key, strlen(key), &why);
        if (it != NULL) {
            check_value(it);
            (void)item_cas(it);
            item_release(it);
        }
        break;
    case 3:
        set_pattern(key, (char)('a' + r % 26), (r >> 20) % 500 == 0 ? 600000 : sizes[r % 4]);
        break;
    case 4:
        set_str(key, "12");
        break;
    case 5:
        item_delta(key, strlen(key), (r & 1) != 0, 7, 0, &(uint64_t){0}, NULL);
        break;
    case 6:
        item_release(item_touch(key, strlen(key), (r & 2) ? 0 : 1, &why));
        break;
    default:
        item_delete(key, strlen(key), 0);
        break;
    }
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;

    for (int i = 0; i < 40000; i++) {
        seed = seed * 1103515245u + 12345u;
        one_op(seed);
    }
    return NULL;
}

static void test_threads(void)
{
    struct settings s = defaults();
    pthread_t t[2];
    struct storage_stats st;

    s.maxbytes = 3 * 1024 * 1024; /* evictions and page moves happen during the run */
    s.hashpower_init = 4;         /* and expansions */
    setup(&s);
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    storage_stats_snapshot(&st);
    ok(!corrupt, "two threads: every value read was whole");
    ok(st.total_malloced <= 3 * 1024 * 1024 + 2 * 1024 * 1024,
       "two threads: %" PRIu64 " items, %" PRIu64 " evictions, %" PRIu64 " pages moved, %" PRIu64
       " bytes mapped",
       st.curr_items, st.evictions, st.slabs_moved, st.total_malloced);
    storage_teardown();
}

int main(void)
{
    test_roundtrip();
    test_sizes_and_stats();
    test_cas();
    test_delta_rules();
    test_delta_cas_and_refs();
    test_expiry_and_flush();
    test_touch_and_bump();
    test_chunked();
    test_append_too_large();
    test_eviction();
    test_second_chance();
    test_no_evict();
    test_page_move();
    test_balance();
    test_hash_growth();
    test_refcount();
    test_memlimit();
    test_cachedump_and_reset();
    test_thread_counters();
    test_threads();
    printf("1..%d\n", test_no);
    return failures == 0 ? 0 : 1;
}
