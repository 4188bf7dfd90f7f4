/*
 * items.c - item lifetime, LRU, eviction and the storage operations.
 *
 * Owns the storage mutex, the per-class LRUs and their counters, the CAS
 * counter and the flush horizon. Memory comes from slabs.c, lookups go
 * through assoc.c; this file is the only one that takes the lock, so the
 * other storage files stay lock-free helpers. It depends on settings (read at
 * setup), clock (item times), stats.h (the slab_stats type it prints) and
 * logger; never on connections or protocol code.
 *
 * One LRU per class, newest at the head. A fetch only sets bits (FETCHED,
 * then ACTIVE): the get path is one hash (before the lock), one lock, one
 * bucket walk and a refcount increment, with no list surgery. Eviction looks
 * at the tail: items in use are skipped, dead items reclaimed, ACTIVE ones
 * get a second chance at the head (CLOCK-like), the first other is evicted.
 * Rejected: memcached's hot/warm/cold segments with a maintainer thread (a
 * background thread and a second lock order for a hit-rate gain our
 * benchmarks do not need), and moving items to the head on every hit (a
 * cache-line write per get).
 *
 * When a class has no free chunk and the memory limit is reached, it first
 * evicts from its own LRU, then takes a whole page from the class whose
 * tail is oldest (evicting that page's items), so a shift in item sizes does
 * not leave sets failing. See doc/threads.txt for the full policy.
 *
 * Items larger than slab_chunk_max are "chunked": a header chunk holding the
 * key and a table of pieces, each piece a largest-class chunk (the last one
 * from the smallest class that fits it). Their value is only ever addressed
 * through item_value_segment().
 */
#include "items.h"

#include "assoc.h"
#include "clock.h"
#include "hash.h"
#include "settings.h"
#include "slabs.h"
#include "stats.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* memcached's item header without CAS, for the sizes we report. */
#define MC_HEADER_NOCAS 48
/* memcached's chunk descriptor in a chunked item's header (measured). */
#define MC_CHUNK_DESC 48
/* LRU tail items examined per eviction attempt (in use or, with -M, live). */
#define TAIL_TRIES 5
/* ACTIVE items given a second chance per eviction attempt, at most. */
#define ACTIVE_MOVES 50
/* Eviction attempts per allocation before moving a page. */
#define EVICT_ROUNDS 5
/* Classes tried when moving a page. */
#define STEAL_TRIES 4
/* Seconds by which another class's oldest item must be older to give a page. */
#define BALANCE_MIN_GAP 10
/* A reference count this high treats the item as unavailable (no overflow). */
#define REFCOUNT_LIMIT 60000

struct lru {
    struct item *head;
    struct item *tail;
    uint64_t number;
    uint64_t mem_requested;
    uint64_t evicted;
    uint64_t evicted_nonzero;
    uint64_t evicted_time;
    uint64_t outofmemory;
    uint64_t reclaimed;
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t evicted_active;
    uint64_t lrutail_reflocked;
    uint64_t moves_within_lru;
    uint64_t direct_reclaims;
    uint64_t hits;
};

/* The header of a chunked item: after the key, 8-byte aligned. */
struct chunk_table {
    uint32_t nchunks;
    uint8_t hdr_clsid; /* the class the header chunk itself came from */
    struct item *chunk[];
};

static pthread_mutex_t storage_mutex = PTHREAD_MUTEX_INITIALIZER;
static __thread bool lock_held;

static struct lru lrus[SLAB_MAX_CLASSES];
static bool use_cas;
static bool evict_to_free;
static size_t item_size_max;
static size_t chunk_max;
static size_t piece_usable;
static unsigned largest;

static uint64_t cas_id;
static uint32_t oldest_live;
static uint64_t oldest_cas;
static uint64_t total_items;
static uint64_t slabs_moved;
static uint64_t reassign_evictions;
static uint64_t reassign_busy;

/* Second a page move last failed per class: retried at most once a second. */
static uint32_t steal_failed_at[SLAB_MAX_CLASSES];
/* Second of the last age-balancing check (balance_locked). */
static uint32_t last_balance;

/* The calling worker's counters for get_expired / get_flushed (may be NULL). */
static __thread struct thread_stats *thread_counters;

static uint32_t *sizes_hist;
static size_t sizes_buckets;

void storage_lock(void)
{
    pthread_mutex_lock(&storage_mutex);
    lock_held = true;
}

void storage_unlock(void)
{
    lock_held = false;
    pthread_mutex_unlock(&storage_mutex);
}

#define ASSERT_LOCKED() assert(lock_held)

/* ---- small helpers ---------------------------------------------------- */

static inline void flags_set(struct item *it, uint16_t f)
{
    __atomic_store_n(&it->it_flags, (uint16_t)(item_flags(it) | f), __ATOMIC_RELAXED);
}

static inline void flags_clear(struct item *it, uint16_t f)
{
    __atomic_store_n(&it->it_flags, (uint16_t)(item_flags(it) & ~f), __ATOMIC_RELAXED);
}

static inline void set_cas(struct item *it, uint64_t cas)
{
    __atomic_store_n(&it->cas, cas, __ATOMIC_RELAXED);
}

/* Acquire: a holder's last reads happen before we reuse the memory. */
static inline uint16_t refs(const struct item *it)
{
    return __atomic_load_n(&it->refcount, __ATOMIC_ACQUIRE);
}

static inline void ref_incr(struct item *it)
{
    __atomic_add_fetch(&it->refcount, 1, __ATOMIC_RELAXED);
}

static inline bool ref_decr(struct item *it)
{
    return __atomic_sub_fetch(&it->refcount, 1, __ATOMIC_ACQ_REL) == 0;
}

static inline char *value_ptr(const struct item *it)
{
    return (char *)it->data + it->nkey + 1;
}

static inline size_t table_offset(size_t nkey)
{
    return (offsetof(struct item, data) + nkey + 1 + 7) & ~(size_t)7;
}

static inline struct chunk_table *table_of(const struct item *it)
{
    return (struct chunk_table *)((char *)it + table_offset(it->nkey));
}

static uint64_t next_cas(void)
{
    return use_cas ? ++cas_id : 0;
}

static bool is_flushed(const struct item *it, uint32_t now)
{
    uint64_t cas = item_cas(it);

    if (oldest_live == 0 || oldest_live > now) {
        return false;
    }
    return it->time <= oldest_live || (oldest_cas != 0 && cas != 0 && cas < oldest_cas);
}

static bool is_dead(const struct item *it, uint32_t now)
{
    return is_flushed(it, now) || clock_is_expired(item_exptime(it), now);
}

/* ---- sizes ------------------------------------------------------------ */

/* The reference stores client flags only when they are non-zero (4 bytes). */
static size_t ntotal_of(size_t nkey, size_t nbytes, uint32_t cflags)
{
    return (use_cas ? sizeof(struct item) : MC_HEADER_NOCAS) + nkey + 1 + nbytes +
           (cflags != 0 ? sizeof(uint32_t) : 0);
}

/* Chunk bytes a plain item needs: never less than the reference's choice. */
static size_t need_of(size_t nkey, size_t nbytes, uint32_t cflags)
{
    size_t real = offsetof(struct item, data) + nkey + 1 + nbytes;
    size_t mc = ntotal_of(nkey, nbytes, cflags);

    return real > mc ? real : mc;
}

/*
 * Header chunk of a chunked item: never less than the reference's (its
 * header + key + a 48-byte chunk descriptor), so it lands in the same class.
 */
static size_t header_need(size_t nkey, size_t nbytes, uint32_t cflags)
{
    size_t pieces = (nbytes + piece_usable - 1) / piece_usable;
    size_t real = table_offset(nkey) + sizeof(struct chunk_table) + pieces * sizeof(struct item *);
    size_t mc = ntotal_of(nkey, 0, cflags) + MC_CHUNK_DESC;

    return real > mc ? real : mc;
}

size_t item_ntotal(const struct item *it)
{
    return ntotal_of(it->nkey, it->nbytes, it->client_flags);
}

bool item_size_ok(size_t nkey, size_t nbytes, uint32_t cflags)
{
    if (nkey > KEY_MAX_LENGTH || ntotal_of(nkey, nbytes, cflags) > item_size_max) {
        return false;
    }
    return need_of(nkey, nbytes, cflags) <= chunk_max ||
           header_need(nkey, nbytes, cflags) <= chunk_max;
}

static void sizes_account(size_t ntotal, bool add)
{
    size_t b;

    if (sizes_hist == NULL) {
        return;
    }
    b = (ntotal + 31) / 32;
    if (b >= sizes_buckets) {
        b = sizes_buckets - 1;
    }
    if (add) {
        sizes_hist[b]++;
    } else if (sizes_hist[b] > 0) {
        /* Items stored before `stats sizes_enable` were never counted. */
        sizes_hist[b]--;
    }
}

/* ---- LRU, link, unlink, free ----------------------------------------- */

static void lru_push(struct item *it)
{
    struct lru *l = &lrus[it->slabs_clsid];

    it->prev = NULL;
    it->next = l->head;
    if (l->head != NULL) {
        l->head->prev = it;
    }
    l->head = it;
    if (l->tail == NULL) {
        l->tail = it;
    }
}

static void lru_remove(struct item *it)
{
    struct lru *l = &lrus[it->slabs_clsid];

    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        l->head = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    } else {
        l->tail = it->prev;
    }
    it->next = it->prev = NULL;
}

static void free_locked(struct item *it)
{
    assert((item_flags(it) & ITEM_LINKED) == 0);
    if (item_flags(it) & ITEM_CHUNKED) {
        struct chunk_table *t = table_of(it);
        unsigned hdr = t->hdr_clsid;

        for (uint32_t i = 0; i < t->nchunks; i++) {
            slabs_free_locked(t->chunk[i], t->chunk[i]->slabs_clsid);
        }
        slabs_free_locked(it, hdr);
        return;
    }
    slabs_free_locked(it, it->slabs_clsid);
}

static void put_locked(struct item *it)
{
    if (ref_decr(it)) {
        free_locked(it);
    }
}

static void link_locked(struct item *it, uint32_t hv)
{
    struct lru *l = &lrus[it->slabs_clsid];
    size_t nt = item_ntotal(it);

    assert((item_flags(it) & (ITEM_LINKED | ITEM_SLABBED)) == 0);
    flags_set(it, ITEM_LINKED);
    it->time = clock_now();
    set_cas(it, next_cas());
    assoc_insert_locked(it, hv);
    lru_push(it);
    l->number++;
    l->mem_requested += nt;
    total_items++;
    sizes_account(nt, true);
    ref_incr(it);
}

/* Unlink and drop the table's reference (frees it if nobody else holds it). */
static void unlink_hv_locked(struct item *it, uint32_t hv)
{
    struct lru *l = &lrus[it->slabs_clsid];
    size_t nt = item_ntotal(it);

    if ((item_flags(it) & ITEM_LINKED) == 0) {
        return;
    }
    flags_clear(it, ITEM_LINKED);
    assoc_delete_locked(it, hv);
    lru_remove(it);
    l->number--;
    l->mem_requested -= nt;
    sizes_account(nt, false);
    put_locked(it);
}

static void unlink_any_locked(struct item *it)
{
    unlink_hv_locked(it, hash_key(item_key(it), it->nkey));
}

void item_unlink_locked(struct item *it)
{
    ASSERT_LOCKED();
    unlink_any_locked(it);
}

static void replace_locked(struct item *old, struct item *it, uint32_t hv)
{
    unlink_hv_locked(old, hv);
    link_locked(it, hv);
}

/* ---- eviction --------------------------------------------------------- */

static void reclaim_locked(struct lru *l, struct item *it)
{
    l->reclaimed++;
    l->direct_reclaims++;
    if ((item_flags(it) & ITEM_FETCHED) == 0) {
        l->expired_unfetched++;
    }
    unlink_any_locked(it);
}

static void evict_locked(struct lru *l, struct item *it, uint32_t now)
{
    uint16_t f = item_flags(it);

    l->evicted++;
    l->direct_reclaims++;
    l->evicted_time = now - it->time;
    if (item_exptime(it) != 0) {
        l->evicted_nonzero++;
    }
    if ((f & ITEM_FETCHED) == 0) {
        l->evicted_unfetched++;
    }
    if (f & ITEM_ACTIVE) {
        l->evicted_active++;
    }
    unlink_any_locked(it);
}

/* A dead item at the tail is freed before new memory is used. */
static void reclaim_tail_locked(unsigned id)
{
    struct item *it = lrus[id].tail;

    if (it != NULL && refs(it) == 1 && is_dead(it, clock_now())) {
        reclaim_locked(&lrus[id], it);
    }
}

struct steal_ctx {
    bool evict_live;
    uint32_t now;
};

/* Whether a chunk of a candidate page can be freed right now. */
static bool chunk_movable(struct item *c, void *arg)
{
    const struct steal_ctx *ctx = arg;
    uint16_t f = item_flags(c);
    struct item *owner = (f & ITEM_PIECE) ? c->h_next : c;

    if (f & ITEM_SLABBED) {
        return true;
    }
    if ((item_flags(owner) & ITEM_LINKED) == 0 || refs(owner) != 1) {
        return false;
    }
    return ctx->evict_live || is_dead(owner, ctx->now);
}

static bool chunk_clear(struct item *c, void *arg)
{
    const struct steal_ctx *ctx = arg;
    uint16_t f = item_flags(c);
    struct item *owner = (f & ITEM_PIECE) ? c->h_next : c;

    if ((f & ITEM_SLABBED) || (item_flags(owner) & ITEM_LINKED) == 0) {
        return true;
    }
    if (!is_dead(owner, ctx->now)) {
        reassign_evictions++;
    }
    unlink_any_locked(owner);
    return true;
}

/*
 * The class to take a page from: one with at least two pages (a class is
 * never emptied), preferring one that may hold a wholly free page, then the
 * oldest LRU tail. 0 if there is none.
 */
static unsigned pick_victim(unsigned id, const bool *tried)
{
    unsigned best = 0;
    uint64_t best_score = UINT64_MAX;

    for (unsigned c = 1; c <= largest; c++) {
        struct slabs_class_info info;
        uint64_t score;

        if (c == id || tried[c] || slabs_pages(c) < 2) {
            continue;
        }
        slabs_class_info_locked(c, &info);
        if (info.free_chunks >= info.perslab) {
            score = 0;
        } else if (lrus[c].tail != NULL) {
            score = (uint64_t)lrus[c].tail->time + 1;
        } else {
            score = UINT64_MAX - 1; /* pages held by chunked items or in flight */
        }
        if (score < best_score) {
            best = c;
            best_score = score;
        }
    }
    return best;
}

/* The page of class v holding its oldest item, else any of its pages. */
static void *victim_page(unsigned v)
{
    struct item *t = lrus[v].tail;

    if (t != NULL) {
        struct item *c = t;
        if (item_flags(t) & ITEM_CHUNKED) {
            c = table_of(t)->chunk[0];
        }
        if (c->slabs_clsid == v) {
            return slabs_page_of(c);
        }
    }
    return slabs_some_page_locked(v);
}

/* Empty one page of class v (evicting its items) and give it to class id. */
static bool move_page_locked(unsigned v, unsigned id, const struct steal_ctx *ctx)
{
    void *page = victim_page(v);

    if (page == NULL || !slabs_page_each_locked(page, v, chunk_movable, (void *)ctx)) {
        reassign_busy++;
        return false;
    }
    slabs_page_each_locked(page, v, chunk_clear, (void *)ctx);
    slabs_page_move_locked(page, v, id);
    slabs_moved++;
    return true;
}

/* A page for class id, which cannot free a chunk itself, from another class. */
static bool steal_page_locked(unsigned id, bool evict_live)
{
    bool tried[SLAB_MAX_CLASSES] = {false};
    struct steal_ctx ctx = {.evict_live = evict_live, .now = clock_now()};

    /* A failed attempt walks up to STEAL_TRIES pages: not again this second. */
    if (steal_failed_at[id] == ctx.now) {
        return false;
    }
    for (int attempt = 0; attempt < STEAL_TRIES; attempt++) {
        unsigned v = pick_victim(id, tried);

        if (v == 0) {
            break;
        }
        tried[v] = true;
        if (move_page_locked(v, id, &ctx)) {
            return true;
        }
    }
    steal_failed_at[id] = ctx.now;
    return false;
}

/*
 * Balance by age, at most once a second: when class id evicts an item of
 * age `age` while another class keeps items more than twice as old (and at
 * least BALANCE_MIN_GAP seconds older), that class gives id a page. Over
 * time the classes' oldest items converge to similar ages, so a workload
 * whose sizes shift gets its memory back.
 */
static void balance_locked(unsigned id, uint32_t age, uint32_t now)
{
    bool tried[SLAB_MAX_CLASSES] = {false};
    struct steal_ctx ctx = {.evict_live = true, .now = now};
    unsigned v;
    uint32_t v_age;

    if (now == last_balance) {
        return;
    }
    last_balance = now;
    v = pick_victim(id, tried);
    if (v == 0 || lrus[v].tail == NULL) {
        return;
    }
    v_age = now - lrus[v].tail->time;
    if (v_age > 2 * age && v_age - age >= BALANCE_MIN_GAP) {
        move_page_locked(v, id, &ctx);
    }
}

/* Free one item from the tail of class id's LRU; false if none could go. */
static bool pull_tail_locked(unsigned id, bool evict_live)
{
    struct lru *l = &lrus[id];
    uint32_t now = clock_now();
    struct item *it = l->tail;
    int tries = 0;
    int moves = 0;

    while (it != NULL && tries < TAIL_TRIES) {
        struct item *prev = it->prev;

        if (refs(it) != 1) {
            l->lrutail_reflocked++;
            tries++;
        } else if (is_dead(it, now)) {
            reclaim_locked(l, it);
            return true;
        } else if (!evict_live) {
            tries++;
        } else if ((item_flags(it) & ITEM_ACTIVE) && moves < ACTIVE_MOVES) {
            flags_clear(it, ITEM_ACTIVE);
            lru_remove(it);
            lru_push(it);
            l->moves_within_lru++;
            moves++;
        } else {
            uint32_t age = now - it->time;
            evict_locked(l, it, now);
            balance_locked(id, age, now);
            return true;
        }
        it = prev;
    }
    return false;
}

/* ---- allocation -------------------------------------------------------- */

static struct item *chunk_init(struct item *it, unsigned id)
{
    it->next = it->prev = it->h_next = NULL;
    it->refcount = 1;
    it->it_flags = 0;
    it->slabs_clsid = (uint8_t)id;
    return it;
}

/* A chunk of class id: free list, new page, eviction, page move, in that order. */
static struct item *alloc_chunk_locked(unsigned id)
{
    struct item *it;

    reclaim_tail_locked(id);
    it = slabs_alloc_locked(id);
    for (int i = 0; it == NULL && i < EVICT_ROUNDS; i++) {
        if (!pull_tail_locked(id, evict_to_free)) {
            break;
        }
        it = slabs_alloc_locked(id);
    }
    if (it == NULL && steal_page_locked(id, evict_to_free)) {
        it = slabs_alloc_locked(id);
    }
    /* Last resort, as memcached: a class's first page may exceed the limit. */
    if (it == NULL && slabs_grow_locked(id, false)) {
        it = slabs_alloc_locked(id);
    }
    if (it == NULL) {
        lrus[id].outofmemory++;
        return NULL;
    }
    return chunk_init(it, id);
}

/* A piece for len value bytes; a short last piece uses a smaller class if free. */
static struct item *alloc_piece_locked(size_t len, struct item *head)
{
    unsigned id = slabs_clsid(len + sizeof(struct item));
    struct item *p = NULL;

    if (id != 0 && id != largest) {
        p = slabs_alloc_locked(id);
    }
    if (p != NULL) {
        chunk_init(p, id);
    } else {
        p = alloc_chunk_locked(largest);
    }
    if (p != NULL) {
        p->it_flags = ITEM_PIECE;
        p->h_next = head;
        p->nbytes = (uint32_t)len;
    }
    return p;
}

static struct item *alloc_chunked_locked(size_t nkey, size_t nbytes, uint32_t cflags)
{
    size_t n = (nbytes + piece_usable - 1) / piece_usable;
    unsigned hid = slabs_clsid(header_need(nkey, nbytes, cflags));
    struct item *hdr = hid ? alloc_chunk_locked(hid) : NULL;
    struct chunk_table *t;

    if (hdr == NULL) {
        return NULL;
    }
    hdr->nkey = (uint8_t)nkey;
    hdr->it_flags = ITEM_CHUNKED;
    hdr->slabs_clsid = (uint8_t)largest; /* LRU and counters of the largest class */
    t = table_of(hdr);
    t->hdr_clsid = (uint8_t)hid;
    t->nchunks = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = i + 1 < n ? piece_usable : nbytes - i * piece_usable;
        struct item *p = alloc_piece_locked(len, hdr);

        if (p == NULL) {
            free_locked(hdr);
            return NULL;
        }
        t->chunk[t->nchunks++] = p;
    }
    return hdr;
}

struct item *item_alloc_locked(const char *key, size_t nkey, uint32_t client_flags,
                               uint32_t exptime, size_t nbytes, enum item_alloc_status *status)
{
    size_t need = need_of(nkey, nbytes, client_flags);
    struct item *it;

    ASSERT_LOCKED();
    if (!item_size_ok(nkey, nbytes, client_flags)) {
        *status = ITEM_ALLOC_TOO_LARGE;
        return NULL;
    }
    it = need <= chunk_max ? alloc_chunk_locked(slabs_clsid(need))
                           : alloc_chunked_locked(nkey, nbytes, client_flags);
    if (it == NULL) {
        *status = ITEM_ALLOC_NO_MEMORY;
        return NULL;
    }
    it->nkey = (uint8_t)nkey;
    it->nbytes = (uint32_t)nbytes;
    it->client_flags = client_flags;
    it->exptime = exptime;
    it->time = clock_now();
    it->cas = 0;
    if (use_cas) {
        it->it_flags |= ITEM_CAS;
    }
    memcpy(it->data, key, nkey);
    it->data[nkey] = '\0';
    *status = ITEM_ALLOC_OK;
    return it;
}

struct item *item_alloc(const char *key, size_t nkey, uint32_t client_flags, uint32_t exptime,
                        size_t nbytes, enum item_alloc_status *status)
{
    struct item *it;

    storage_lock();
    it = item_alloc_locked(key, nkey, client_flags, exptime, nbytes, status);
    storage_unlock();
    return it;
}

void item_release_locked(struct item *it)
{
    ASSERT_LOCKED();
    if (it != NULL) {
        put_locked(it);
    }
}

void item_release(struct item *it)
{
    if (it == NULL || !ref_decr(it)) {
        return;
    }
    /* Last reference of an unlinked item: its memory goes back to the slabs. */
    if (lock_held) {
        free_locked(it);
        return;
    }
    storage_lock();
    free_locked(it);
    storage_unlock();
}

size_t item_value_segment(const struct item *it, size_t offset, char **ptr)
{
    const struct chunk_table *t;
    size_t idx;
    size_t within;
    size_t left = offset < it->nbytes ? it->nbytes - offset : 0;

    if (left == 0) {
        *ptr = NULL;
        return 0;
    }
    if ((item_flags(it) & ITEM_CHUNKED) == 0) {
        *ptr = value_ptr(it) + offset;
        return left;
    }
    t = table_of(it);
    idx = offset / piece_usable;
    within = offset % piece_usable;
    *ptr = (char *)t->chunk[idx] + sizeof(struct item) + within;
    return piece_usable - within < left ? piece_usable - within : left;
}

static void copy_value(struct item *dst, size_t doff, const struct item *src, size_t soff,
                       size_t len)
{
    while (len > 0) {
        char *d;
        char *s;
        size_t n = item_value_segment(dst, doff, &d);
        size_t m = item_value_segment(src, soff, &s);

        n = n < m ? n : m;
        n = n < len ? n : len;
        memcpy(d, s, n);
        doff += n;
        soff += n;
        len -= n;
    }
}

/* ---- lookups ----------------------------------------------------------- */

/* The live item for key (no reference taken); dead ones are unlinked. */
static struct item *find_live_locked(const char *key, size_t nkey, uint32_t hv,
                                     enum get_result *why)
{
    struct item *it = assoc_find_locked(key, nkey, hv);
    uint32_t now;

    if (it == NULL) {
        *why = GET_MISS;
        return NULL;
    }
    now = clock_now();
    if (is_flushed(it, now)) {
        unlink_hv_locked(it, hv);
        *why = GET_FLUSHED;
        if (thread_counters != NULL) {
            STATS_INCR(thread_counters, get_flushed);
        }
        return NULL;
    }
    if (clock_is_expired(item_exptime(it), now)) {
        unlink_hv_locked(it, hv);
        *why = GET_EXPIRED;
        if (thread_counters != NULL) {
            STATS_INCR(thread_counters, get_expired);
        }
        return NULL;
    }
    *why = GET_HIT;
    return it;
}

static struct item *hold_locked(const char *key, size_t nkey, uint32_t hv, enum get_result *why)
{
    struct item *it;

    assoc_step_locked();
    it = find_live_locked(key, nkey, hv, why);
    if (it == NULL) {
        return NULL;
    }
    if (refs(it) >= REFCOUNT_LIMIT) {
        *why = GET_MISS;
        return NULL;
    }
    ref_incr(it);
    return it;
}

void item_bump_locked(struct item *it)
{
    uint16_t f = item_flags(it);

    ASSERT_LOCKED();
    lrus[it->slabs_clsid].hits++;
    if ((f & ITEM_FETCHED) == 0) {
        flags_set(it, ITEM_FETCHED);
    } else if ((f & ITEM_ACTIVE) == 0) {
        flags_set(it, ITEM_ACTIVE);
        it->time = clock_now();
    }
}

struct item *item_get_locked(const char *key, size_t nkey, enum get_result *why)
{
    struct item *it;

    ASSERT_LOCKED();
    it = hold_locked(key, nkey, hash_key(key, nkey), why);
    if (it != NULL) {
        item_bump_locked(it);
    }
    return it;
}

struct item *item_get(const char *key, size_t nkey, enum get_result *why)
{
    uint32_t hv = hash_key(key, nkey);
    struct item *it;

    storage_lock();
    it = hold_locked(key, nkey, hv, why);
    if (it != NULL) {
        item_bump_locked(it);
    }
    storage_unlock();
    return it;
}

struct item *item_peek_locked(const char *key, size_t nkey, enum get_result *why)
{
    ASSERT_LOCKED();
    return hold_locked(key, nkey, hash_key(key, nkey), why);
}

struct item *item_peek(const char *key, size_t nkey, enum get_result *why)
{
    uint32_t hv = hash_key(key, nkey);
    struct item *it;

    storage_lock();
    it = hold_locked(key, nkey, hv, why);
    storage_unlock();
    return it;
}

void item_change_flags_locked(struct item *it, uint16_t set, uint16_t clear)
{
    ASSERT_LOCKED();
    flags_set(it, set);
    flags_clear(it, clear);
}

void item_set_exptime_locked(struct item *it, uint32_t exptime)
{
    ASSERT_LOCKED();
    __atomic_store_n(&it->exptime, exptime, __ATOMIC_RELAXED);
}

struct item *item_touch(const char *key, size_t nkey, uint32_t exptime, enum get_result *why)
{
    uint32_t hv = hash_key(key, nkey);
    struct item *it;

    storage_lock();
    it = hold_locked(key, nkey, hv, why);
    if (it != NULL) {
        item_bump_locked(it);
        item_set_exptime_locked(it, exptime);
    }
    storage_unlock();
    return it;
}

/* ---- store ------------------------------------------------------------- */

/* The append/prepend result: a new item, old's flags and exptime. */
static enum store_result combine_locked(struct item *old, struct item *add, bool append,
                                        struct item **out)
{
    size_t total = old->nbytes + add->nbytes - 2;
    enum item_alloc_status st;
    struct item *it;

    if (!item_size_ok(old->nkey, total, old->client_flags)) {
        return STORE_TOO_LARGE;
    }
    ref_incr(old); /* so allocating cannot evict it */
    it = item_alloc_locked(item_key(old), old->nkey, old->client_flags, item_exptime(old), total,
                           &st);
    if (it != NULL && append) {
        copy_value(it, 0, old, 0, old->nbytes - 2);
        copy_value(it, old->nbytes - 2, add, 0, add->nbytes);
    } else if (it != NULL) {
        copy_value(it, 0, add, 0, add->nbytes - 2);
        copy_value(it, add->nbytes - 2, old, 0, old->nbytes);
    }
    put_locked(old);
    *out = it;
    if (it == NULL) {
        return st == ITEM_ALLOC_TOO_LARGE ? STORE_TOO_LARGE : STORE_NO_MEMORY;
    }
    return STORE_STORED;
}

/* Whether op may go ahead given the current item (NULL if none). */
static enum store_result store_check(enum store_op op, const struct item *old, uint64_t cas_in)
{
    switch (op) {
    case STORE_SET:
        return STORE_STORED;
    case STORE_ADD:
        return old != NULL ? STORE_NOT_STORED : STORE_STORED;
    case STORE_REPLACE:
        return old == NULL ? STORE_NOT_STORED : STORE_STORED;
    case STORE_CAS:
        if (old == NULL) {
            return STORE_NOT_FOUND;
        }
        /* Unique 0 never matches; with -C every item has 0, so cas never stores. */
        return cas_in != 0 && cas_in == item_cas(old) ? STORE_STORED : STORE_EXISTS;
    case STORE_APPEND:
    case STORE_PREPEND:
        if (old == NULL) {
            return STORE_NOT_STORED;
        }
        return cas_in != 0 && cas_in != item_cas(old) ? STORE_EXISTS : STORE_STORED;
    }
    return STORE_NOT_STORED;
}

static enum store_result store_hv_locked(struct item *it, enum store_op op, uint64_t cas_in,
                                         uint64_t *cas_out, uint32_t hv)
{
    enum get_result why;
    struct item *old = find_live_locked(item_key(it), it->nkey, hv, &why);
    struct item *stored = it;
    enum store_result res = store_check(op, old, cas_in);

    if (res == STORE_STORED && (op == STORE_APPEND || op == STORE_PREPEND)) {
        res = combine_locked(old, it, op == STORE_APPEND, &stored);
    }
    if (res != STORE_STORED) {
        return res;
    }
    if (old != NULL) {
        replace_locked(old, stored, hv);
    } else {
        link_locked(stored, hv);
    }
    if (cas_out != NULL) {
        *cas_out = item_cas(stored);
    }
    if (stored != it) {
        put_locked(stored); /* the table keeps the combined item alive */
    }
    return STORE_STORED;
}

enum store_result item_store_locked(struct item *it, enum store_op op, uint64_t cas_in,
                                    uint64_t *cas_out)
{
    ASSERT_LOCKED();
    return store_hv_locked(it, op, cas_in, cas_out, hash_key(item_key(it), it->nkey));
}

enum store_result item_store(struct item *it, enum store_op op, uint64_t cas_in, uint64_t *cas_out)
{
    uint32_t hv = hash_key(item_key(it), it->nkey);
    enum store_result res;

    storage_lock();
    res = store_hv_locked(it, op, cas_in, cas_out, hv);
    storage_unlock();
    return res;
}

/* ---- incr / decr ------------------------------------------------------- */

static bool is_c_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * memcached's safe_strtoull over the value (which is followed by "\r\n"):
 * leading white space, an optional sign, decimal digits that fit 64 bits,
 * then the end or white space. A '-' anywhere rejects results >= 2^63
 * (strtoull negates "-N"). An all-blank value is not a number here;
 * memcached's strtoull runs past the value there and parses whatever
 * follows in memory.
 */
static bool parse_u64(const char *p, size_t len, uint64_t *out)
{
    size_t i = 0;
    size_t start;
    bool neg = false;
    uint64_t v = 0;

    while (i < len && is_c_space(p[i])) {
        i++;
    }
    if (i < len && (p[i] == '+' || p[i] == '-')) {
        neg = p[i++] == '-';
    }
    for (start = i; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false; /* ERANGE */
        }
        v = v * 10 + d;
    }
    if (i == start || (i < len && !is_c_space(p[i]))) {
        return false;
    }
    if (neg) {
        v = -v;
    }
    if ((int64_t)v < 0 && memchr(p, '-', len) != NULL) {
        return false;
    }
    *out = v;
    return true;
}

/* Write the new number: in place if it fits and nobody reads the item. */
static struct item *delta_write_locked(struct item *it, uint32_t hv, const char *num, size_t len)
{
    enum item_alloc_status st;
    struct item *n;

    if (len + 2 <= it->nbytes && refs(it) == 1) {
        char *v = value_ptr(it);
        memcpy(v, num, len);
        memset(v + len, ' ', it->nbytes - 2 - len);
        set_cas(it, next_cas());
        return it;
    }
    ref_incr(it);
    n = item_alloc_locked(item_key(it), it->nkey, it->client_flags, item_exptime(it), len + 2, &st);
    if (n != NULL) {
        memcpy(value_ptr(n), num, len);
        memcpy(value_ptr(n) + len, "\r\n", 2);
        replace_locked(it, n, hv);
        put_locked(n); /* linked: the table holds it */
    }
    put_locked(it);
    return n;
}

static enum delta_result delta_hv_locked(const char *key, size_t nkey, uint32_t hv, bool incr,
                                         uint64_t delta, uint64_t cas_in, uint64_t *value_out,
                                         uint64_t *cas_out, struct item **it_out)
{
    enum get_result why;
    struct item *it = find_live_locked(key, nkey, hv, &why);
    uint64_t value;
    char num[24];
    int len;

    if (it == NULL) {
        return DELTA_NOT_FOUND;
    }
    if (it->nbytes <= 2 || (item_flags(it) & ITEM_CHUNKED)) {
        return DELTA_NON_NUMERIC;
    }
    if (cas_in != 0 && cas_in != item_cas(it)) {
        return DELTA_EXISTS;
    }
    if (!parse_u64(value_ptr(it), it->nbytes - 2, &value)) {
        return DELTA_NON_NUMERIC;
    }
    value = incr ? value + delta : (delta > value ? 0 : value - delta);
    len = snprintf(num, sizeof(num), "%" PRIu64, value);
    it = delta_write_locked(it, hv, num, (size_t)len);
    if (it == NULL) {
        return DELTA_NO_MEMORY;
    }
    *value_out = value;
    if (cas_out != NULL) {
        *cas_out = item_cas(it);
    }
    if (it_out != NULL) {
        ref_incr(it);
        *it_out = it;
    }
    return DELTA_OK;
}

enum delta_result item_delta_locked(const char *key, size_t nkey, bool incr, uint64_t delta,
                                    uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out,
                                    struct item **it_out)
{
    ASSERT_LOCKED();
    return delta_hv_locked(key, nkey, hash_key(key, nkey), incr, delta, cas_in, value_out, cas_out,
                           it_out);
}

enum delta_result item_delta_ex(const char *key, size_t nkey, bool incr, uint64_t delta,
                                uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out,
                                struct item **it_out)
{
    uint32_t hv = hash_key(key, nkey);
    enum delta_result res;

    storage_lock();
    res = delta_hv_locked(key, nkey, hv, incr, delta, cas_in, value_out, cas_out, it_out);
    storage_unlock();
    return res;
}

enum delta_result item_delta(const char *key, size_t nkey, bool incr, uint64_t delta,
                             uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out)
{
    return item_delta_ex(key, nkey, incr, delta, cas_in, value_out, cas_out, NULL);
}

/* ---- delete, flush, cas ------------------------------------------------ */

static enum delete_result delete_hv_locked(const char *key, size_t nkey, uint32_t hv,
                                           uint64_t cas_in, unsigned *clsid_out)
{
    enum get_result why;
    struct item *it = find_live_locked(key, nkey, hv, &why);

    if (it == NULL) {
        return DELETE_NOT_FOUND;
    }
    if (cas_in != 0 && cas_in != item_cas(it)) {
        return DELETE_EXISTS;
    }
    if (clsid_out != NULL) {
        *clsid_out = it->slabs_clsid;
    }
    unlink_hv_locked(it, hv);
    return DELETE_DELETED;
}

enum delete_result item_delete_locked(const char *key, size_t nkey, uint64_t cas_in,
                                      unsigned *clsid_out)
{
    ASSERT_LOCKED();
    return delete_hv_locked(key, nkey, hash_key(key, nkey), cas_in, clsid_out);
}

enum delete_result item_delete_ex(const char *key, size_t nkey, uint64_t cas_in,
                                  unsigned *clsid_out)
{
    uint32_t hv = hash_key(key, nkey);
    enum delete_result res;

    storage_lock();
    res = delete_hv_locked(key, nkey, hv, cas_in, clsid_out);
    storage_unlock();
    return res;
}

enum delete_result item_delete(const char *key, size_t nkey, uint64_t cas_in)
{
    return item_delete_ex(key, nkey, cas_in, NULL);
}

/*
 * memcached's flush horizon: items last touched at or before oldest_live die
 * once that second arrives. With CAS, items stored within the flush's own
 * second are caught by CAS instead (those older than the flush's CAS value),
 * which is why the flush consumes one CAS value.
 */
void item_flush(uint32_t when)
{
    uint32_t now;

    storage_lock();
    now = clock_now();
    if (when == 0) {
        when = now;
    }
    if (use_cas) {
        oldest_live = when - 1;
        if (oldest_live <= now) {
            oldest_cas = next_cas();
        }
    } else {
        oldest_live = when;
    }
    storage_unlock();
}

uint64_t item_new_cas_locked(struct item *it)
{
    uint64_t cas = next_cas();

    ASSERT_LOCKED();
    set_cas(it, cas);
    return cas;
}

/* ---- setup ------------------------------------------------------------- */

static void reset_state(void)
{
    memset(lrus, 0, sizeof(lrus));
    memset(steal_failed_at, 0, sizeof(steal_failed_at));
    last_balance = 0;
    cas_id = 0;
    oldest_live = 0;
    oldest_cas = 0;
    total_items = 0;
    slabs_moved = 0;
    reassign_evictions = 0;
    reassign_busy = 0;
}

bool storage_setup(const struct settings *s, char *err, size_t errlen)
{
    reset_state();
    use_cas = s->use_cas;
    evict_to_free = s->evict_to_free;
    item_size_max = (size_t)s->item_size_max;
    if (s->slab_chunk_size_max > s->item_size_max) {
        snprintf(err, errlen,
                 "slab_chunk_max (bytes: %d) cannot be larger than -I (item_size_max %d)",
                 s->slab_chunk_size_max, s->item_size_max);
        return false;
    }
    if (!slabs_setup(s, err, errlen)) {
        return false;
    }
    largest = slabs_largest();
    chunk_max = slabs_chunk_size(largest);
    piece_usable = chunk_max - sizeof(struct item);
    if (!assoc_setup((unsigned)s->hashpower_init, s->hash_expand)) {
        snprintf(err, errlen, "cannot allocate a hash table of power %d", s->hashpower_init);
        slabs_teardown();
        return false;
    }
    if (s->track_sizes && !storage_sizes_enable(true)) {
        snprintf(err, errlen, "cannot allocate the item size histogram");
        storage_teardown();
        return false;
    }
    return true;
}

void storage_teardown(void)
{
    storage_lock();
    free(sizes_hist);
    sizes_hist = NULL;
    assoc_teardown();
    slabs_teardown();
    reset_state();
    storage_unlock();
}

bool storage_set_memlimit(size_t bytes)
{
    /* Pages above a lowered limit stay; only new pages are refused. */
    storage_lock();
    slabs_set_limit_locked(bytes);
    storage_unlock();
    return true;
}

bool storage_sizes_enable(bool on)
{
    bool ok = true;

    storage_lock();
    if (on && sizes_hist == NULL) {
        sizes_buckets = item_size_max / 32 + 2;
        sizes_hist = calloc(sizes_buckets, sizeof(*sizes_hist));
        ok = sizes_hist != NULL;
    } else if (!on) {
        free(sizes_hist);
        sizes_hist = NULL;
    }
    storage_unlock();
    return ok;
}

void storage_sizes_toggle(bool enable, stats_emit_fn *emit, void *ctx)
{
    if (enable && !use_cas) {
        /* The reference's histogram needs CAS; mirror its refusal. */
        emit(ctx, "sizes_status", "error");
        emit(ctx, "sizes_error", "cas_support_disabled");
        return;
    }
    if (!storage_sizes_enable(enable)) {
        emit(ctx, "sizes_status", "error");
        return;
    }
    emit(ctx, "sizes_status", enable ? "enabled" : "disabled");
}

void storage_thread_stats(struct thread_stats *ts)
{
    thread_counters = ts;
}

bool storage_sizes_enabled(void)
{
    bool on;

    storage_lock();
    on = sizes_hist != NULL;
    storage_unlock();
    return on;
}

/* ---- statistics -------------------------------------------------------- */

void storage_stats_snapshot(struct storage_stats *out)
{
    memset(out, 0, sizeof(*out));
    storage_lock();
    for (unsigned c = 1; c <= largest; c++) {
        const struct lru *l = &lrus[c];
        out->curr_items += l->number;
        out->bytes += l->mem_requested;
        out->evictions += l->evicted;
        out->reclaimed += l->reclaimed;
        out->expired_unfetched += l->expired_unfetched;
        out->evicted_unfetched += l->evicted_unfetched;
        out->evicted_active += l->evicted_active;
        out->lrutail_reflocked += l->lrutail_reflocked;
        out->moves_within_lru += l->moves_within_lru;
        out->direct_reclaims += l->direct_reclaims;
    }
    out->total_items = total_items;
    out->hash_power_level = assoc_hashpower();
    out->hash_bytes = assoc_bytes();
    out->hash_is_expanding = assoc_is_expanding();
    out->limit_maxbytes = slabs_limit_locked();
    out->total_malloced = slabs_malloced_locked();
    out->malloc_fails = slabs_malloc_fails_locked();
    out->slabs_moved = slabs_moved;
    out->slab_reassign_evictions_nomem = reassign_evictions;
    out->slab_reassign_busy_items = reassign_busy;
    storage_unlock();
}

static void emit_u64(stats_emit_fn *emit, void *ctx, const char *name, uint64_t v)
{
    char val[24];

    snprintf(val, sizeof(val), "%" PRIu64, v);
    emit(ctx, name, val);
}

static void emit_class(stats_emit_fn *emit, void *ctx, const char *prefix, unsigned c,
                       const char *field, uint64_t v)
{
    char name[64];

    snprintf(name, sizeof(name), "%s%u:%s", prefix, c, field);
    emit_u64(emit, ctx, name, v);
}

/* One class of `stats items`; a single LRU reads as "everything is cold". */
static void emit_items_class(stats_emit_fn *emit, void *ctx, unsigned c, const struct lru *l,
                             uint64_t age)
{
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"number", l->number},
        {"number_hot", 0},
        {"number_warm", 0},
        {"number_cold", l->number},
        {"age_hot", 0},
        {"age_warm", 0},
        {"age", age},
        {"mem_requested", l->mem_requested},
        {"evicted", l->evicted},
        {"evicted_nonzero", l->evicted_nonzero},
        {"evicted_time", l->evicted_time},
        {"outofmemory", l->outofmemory},
        {"tailrepairs", 0},
        {"reclaimed", l->reclaimed},
        {"expired_unfetched", l->expired_unfetched},
        {"evicted_unfetched", l->evicted_unfetched},
        {"evicted_active", l->evicted_active},
        {"crawler_reclaimed", 0},
        {"crawler_items_checked", 0},
        {"lrutail_reflocked", l->lrutail_reflocked},
        {"moves_to_cold", 0},
        {"moves_to_warm", 0},
        {"moves_within_lru", l->moves_within_lru},
        {"direct_reclaims", l->direct_reclaims},
        {"hits_to_hot", 0},
        {"hits_to_warm", 0},
        {"hits_to_cold", l->hits},
        {"hits_to_temp", 0},
    };

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        emit_class(emit, ctx, "items:", c, f[i].name, f[i].v);
    }
}

void storage_emit_items(stats_emit_fn *emit, void *ctx)
{
    struct lru snap[SLAB_MAX_CLASSES];
    uint64_t age[SLAB_MAX_CLASSES];
    unsigned top;

    storage_lock();
    top = largest;
    memcpy(snap, lrus, sizeof(snap));
    for (unsigned c = 1; c <= top; c++) {
        age[c] = lrus[c].tail != NULL ? clock_now() - lrus[c].tail->time : 0;
    }
    storage_unlock();
    for (unsigned c = 1; c <= top; c++) {
        if (snap[c].number > 0) {
            emit_items_class(emit, ctx, c, &snap[c], age[c]);
        }
    }
}

static void emit_slabs_class(stats_emit_fn *emit, void *ctx, unsigned c,
                             const struct slabs_class_info *in, const struct slab_stats *h)
{
    uint64_t total = (uint64_t)in->pages * in->perslab;
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"chunk_size", in->chunk_size},
        {"chunks_per_page", in->perslab},
        {"total_pages", in->pages},
        {"total_chunks", total},
        {"used_chunks", total - in->free_chunks},
        {"free_chunks", in->free_chunks},
        {"free_chunks_end", 0},
        {"get_hits", h ? h->get_hits : 0},
        {"cmd_set", h ? h->set_cmds : 0},
        {"delete_hits", h ? h->delete_hits : 0},
        {"incr_hits", h ? h->incr_hits : 0},
        {"decr_hits", h ? h->decr_hits : 0},
        {"cas_hits", h ? h->cas_hits : 0},
        {"cas_badval", h ? h->cas_badval : 0},
        {"touch_hits", h ? h->touch_hits : 0},
    };

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        emit_class(emit, ctx, "", c, f[i].name, f[i].v);
    }
}

void storage_emit_slabs(const struct slab_stats *hits, stats_emit_fn *emit, void *ctx)
{
    struct slabs_class_info info[SLAB_MAX_CLASSES];
    unsigned top;
    uint64_t malloced;
    uint64_t active = 0;

    storage_lock();
    top = largest;
    for (unsigned c = 1; c <= top; c++) {
        slabs_class_info_locked(c, &info[c]);
    }
    malloced = slabs_malloced_locked();
    storage_unlock();
    for (unsigned c = 1; c <= top; c++) {
        if (info[c].pages == 0) {
            continue;
        }
        active++;
        emit_slabs_class(emit, ctx, c, &info[c],
                         hits != NULL && c < STATS_MAX_CLASSES ? &hits[c] : NULL);
    }
    emit_u64(emit, ctx, "active_slabs", active);
    emit_u64(emit, ctx, "total_malloced", malloced);
}

void storage_emit_sizes(stats_emit_fn *emit, void *ctx)
{
    char name[24];

    storage_lock();
    if (sizes_hist == NULL) {
        storage_unlock();
        emit(ctx, "sizes_status", "disabled");
        return;
    }
    for (size_t b = 0; b < sizes_buckets; b++) {
        if (sizes_hist[b] != 0) {
            snprintf(name, sizeof(name), "%zu", b * 32);
            emit_u64(emit, ctx, name, sizes_hist[b]);
        }
    }
    storage_unlock();
}

void storage_stats_reset(void)
{
    storage_lock();
    for (unsigned c = 0; c < SLAB_MAX_CLASSES; c++) {
        struct lru *l = &lrus[c];
        struct lru keep = {.head = l->head,
                           .tail = l->tail,
                           .number = l->number,
                           .mem_requested = l->mem_requested};
        *l = keep;
    }
    total_items = 0;
    slabs_moved = 0;
    reassign_evictions = 0;
    reassign_busy = 0;
    storage_unlock();
}

void storage_cachedump(unsigned clsid, unsigned limit, storage_dump_fn *fn, void *ctx)
{
    unsigned shown = 0;

    storage_lock();
    if (clsid >= 1 && clsid <= largest) {
        for (struct item *it = lrus[clsid].head; it != NULL; it = it->next) {
            uint32_t exp = item_exptime(it);
            uint64_t abs = exp == 0 ? 0 : (uint64_t)clock_epoch() + exp;

            if ((limit != 0 && shown >= limit) ||
                !fn(ctx, item_key(it), it->nkey, it->nbytes - 2, abs)) {
                break;
            }
            shown++;
        }
    }
    storage_unlock();
}
