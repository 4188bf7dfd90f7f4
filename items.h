/*
 * items.h - the cache: items, their lifetime, LRU and the operations the
 * protocol layer executes (get, store, delete, arithmetic, touch, flush).
 *
 * Storage never formats wire text and never sees connections. Every call is
 * thread-safe. Locking (see doc/threads.txt): one storage mutex guards the
 * hash table, the LRUs and the slab allocator. Functions ending in _locked
 * require the caller to hold it (storage_lock()/storage_unlock()); they exist
 * so the meta commands can run multi-step sequences atomically.
 *
 * References: every item returned to a caller carries one reference that the
 * caller must drop with item_release(). An item is freed when it is unlinked
 * and its last reference is dropped, so a value being written to a socket is
 * never freed underneath the writer.
 *
 * Values: an item's value is nbytes long and includes the trailing "\r\n".
 * Large items (above slab_chunk_max) are stored in several chunks, so value
 * bytes are only addressed through item_value_segment().
 */
#ifndef ITEMS_H
#define ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct settings;

#define KEY_MAX_LENGTH 250

/* it_flags bits */
#define ITEM_LINKED  0x01 /* in hash table and LRU */
#define ITEM_CAS     0x02 /* has a cas value */
#define ITEM_SLABBED 0x04 /* free, on a slab freelist */
#define ITEM_FETCHED 0x08 /* read at least once since stored */
#define ITEM_ACTIVE  0x10 /* read twice (for `stats`' *_active counters) */
#define ITEM_CHUNKED 0x20 /* value lives in chunks */
#define ITEM_STALE   0x40 /* meta: invalidated, serve as stale (X flag) */
#define ITEM_TOKEN   0x80 /* meta: a client already won the recache token (Z flag) */

struct item {
    struct item *next;     /* LRU, owned by items.c */
    struct item *prev;     /* LRU, owned by items.c */
    struct item *h_next;   /* hash chain, owned by assoc.c */
    uint64_t cas;          /* 0 when CAS is disabled (-C) */
    uint32_t time;         /* last access, relative seconds (clock.h) */
    uint32_t exptime;      /* relative expiry, 0 = never */
    uint32_t nbytes;       /* value length including "\r\n" */
    uint32_t client_flags; /* opaque 32-bit client flags */
    uint16_t refcount;     /* atomic; see file comment */
    uint16_t it_flags;     /* ITEM_* bits; change only under the storage lock */
    uint8_t slabs_clsid;   /* slab class (for per-class stats) */
    uint8_t nkey;          /* key length, <= KEY_MAX_LENGTH */
    char data[];           /* key, then storage-private layout */
};

enum item_alloc_status {
    ITEM_ALLOC_OK,
    ITEM_ALLOC_TOO_LARGE, /* "SERVER_ERROR object too large for cache" */
    ITEM_ALLOC_NO_MEMORY, /* "SERVER_ERROR out of memory storing object" */
};

enum store_op {
    STORE_SET,
    STORE_ADD,
    STORE_REPLACE,
    STORE_APPEND,
    STORE_PREPEND,
    STORE_CAS,
};

enum store_result {
    STORE_STORED,
    STORE_NOT_STORED,
    STORE_EXISTS,
    STORE_NOT_FOUND,
    STORE_NO_MEMORY, /* append/prepend could not allocate the combined item */
    STORE_TOO_LARGE, /* append/prepend result larger than the largest item */
};

enum get_result {
    GET_HIT,
    GET_MISS,    /* never stored or evicted */
    GET_EXPIRED, /* found but past its exptime (counts get_expired) */
    GET_FLUSHED, /* found but invalidated by flush_all (counts get_flushed) */
};

enum delta_result {
    DELTA_OK,
    DELTA_NON_NUMERIC, /* "CLIENT_ERROR cannot increment or decrement non-numeric value" */
    DELTA_NOT_FOUND,
    DELTA_EXISTS, /* cas mismatch (meta) */
    DELTA_NO_MEMORY,
};

enum delete_result {
    DELETE_DELETED,
    DELETE_NOT_FOUND,
    DELETE_EXISTS, /* cas given and different */
};

/* Module lifecycle: slabs, hash table, LRU. false + err on bad configuration. */
bool storage_setup(const struct settings *s, char *err, size_t errlen);
void storage_teardown(void);

/* The storage mutex, for multi-step sequences with the _locked functions. */
void storage_lock(void);
void storage_unlock(void);

/* Key bytes of an item (not NUL-terminated). */
static inline const char *item_key(const struct item *it)
{
    return it->data;
}

/*
 * Contiguous value bytes at offset (0 <= offset < nbytes): sets *ptr and
 * returns how many bytes are contiguous there. Used both to fill a new item
 * from the network and to send a value with writev.
 */
size_t item_value_segment(const struct item *it, size_t offset, char **ptr);

/*
 * A new unlinked item with one reference, or NULL with *status set. nbytes
 * includes "\r\n". exptime is relative (clock_exptime()). May evict.
 */
struct item *item_alloc(const char *key, size_t nkey, uint32_t client_flags, uint32_t exptime,
                        size_t nbytes, enum item_alloc_status *status);

/* Whether an item of this key/value size could ever be stored (for swallowing). */
bool item_size_ok(size_t nkey, size_t nbytes, uint32_t client_flags);

/* Drop one reference (frees when unlinked and unreferenced). NULL is a no-op. */
void item_release(struct item *it);

/*
 * Look up a live item; returns it with a reference, or NULL with *why set.
 * Expired/flushed items found are unlinked on the way (lazy expiry). Marks
 * the item fetched and bumps it in the LRU.
 */
struct item *item_get(const char *key, size_t nkey, enum get_result *why);
struct item *item_get_locked(const char *key, size_t nkey, enum get_result *why);

/* item_get plus a new exptime (touch, gat). */
struct item *item_touch(const char *key, size_t nkey, uint32_t exptime, enum get_result *why);

/*
 * Store it (allocated by item_alloc and filled) with op. For STORE_CAS,
 * cas_in is the client's unique. On success *cas_out (if not NULL) is the
 * new cas. The caller keeps its own reference and must still release it.
 */
enum store_result item_store(struct item *it, enum store_op op, uint64_t cas_in, uint64_t *cas_out);
enum store_result item_store_locked(struct item *it, enum store_op op, uint64_t cas_in,
                                    uint64_t *cas_out);

/*
 * incr/decr with memcached's rules: 64-bit unsigned, incr wraps, decr floors
 * at 0, value must be a decimal number (leading digits, <= 20 chars). When
 * cas_in != 0 it must match. *value_out gets the new value; *cas_out the new
 * cas. item_delta_ex (below) also hands back the updated item.
 */
enum delta_result item_delta(const char *key, size_t nkey, bool incr, uint64_t delta,
                             uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out);

/* Delete; cas_in == 0 means any. */
enum delete_result item_delete(const char *key, size_t nkey, uint64_t cas_in);

/* Unlink an item the caller holds (under the lock). */
void item_unlink_locked(struct item *it);

/* Assign a fresh cas value to a linked item (under the lock); returns it. */
uint64_t item_new_cas_locked(struct item *it);

/*
 * flush_all: every item stored at or before relative time `when` becomes
 * invalid (when may be in the future for a delayed flush; 0 = now).
 */
void item_flush(uint32_t when);

/* cache_memlimit: new memory limit in bytes; false if refused. */
bool storage_set_memlimit(size_t bytes);

/* Counters for the general `stats` listing, memcached's names. */
struct storage_stats {
    uint64_t curr_items;
    uint64_t total_items;
    uint64_t bytes;
    uint64_t evictions;
    uint64_t reclaimed;
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t evicted_active;
    uint64_t hash_power_level;
    uint64_t hash_bytes;
    uint64_t hash_is_expanding;
    uint64_t limit_maxbytes;
    uint64_t total_malloced;
    uint64_t slab_global_page_pool;
    uint64_t malloc_fails;
    /* page moves between classes (see doc/threads.txt, "Memory policy") */
    uint64_t slabs_moved;
    uint64_t slab_reassign_evictions_nomem; /* live items dropped by page moves */
    uint64_t slab_reassign_busy_items;      /* page moves refused: an item was in use */
    /* sums of the `stats items` columns, for the general `stats` */
    uint64_t lrutail_reflocked;
    uint64_t moves_within_lru;
    uint64_t direct_reclaims;
};
void storage_stats_snapshot(struct storage_stats *out);

/* Emit one name/value pair (used by the stats listings below). */
typedef void stats_emit_fn(void *ctx, const char *name, const char *val);

/* `stats items`, `stats sizes`: lines in memcached's order and names. */
void storage_emit_items(stats_emit_fn *emit, void *ctx);
void storage_emit_sizes(stats_emit_fn *emit, void *ctx);

/*
 * `stats slabs`: per-class lines; hits[] are the per-class request counters
 * aggregated from the workers (struct slab_stats in stats.h), indexed by class.
 */
struct slab_stats;
void storage_emit_slabs(const struct slab_stats *hits, stats_emit_fn *emit, void *ctx);

/*
 * Additions for the meta commands and per-class counters. Everything below
 * follows the same reference rules as above.
 */

/* Storage-private it_flags bit: a chunk holding part of a chunked value. */
#define ITEM_PIECE 0x100

/*
 * Fields that may change while a reader holds a reference (cas: meta
 * invalidation; exptime: touch; it_flags: fetch bookkeeping). Read them
 * through these outside the lock so the read is a whole, race-free load.
 */
static inline uint64_t item_cas(const struct item *it)
{
    return __atomic_load_n(&it->cas, __ATOMIC_RELAXED);
}

static inline uint32_t item_exptime(const struct item *it)
{
    return __atomic_load_n(&it->exptime, __ATOMIC_RELAXED);
}

static inline uint16_t item_flags(const struct item *it)
{
    return __atomic_load_n(&it->it_flags, __ATOMIC_RELAXED);
}

/*
 * Bytes the item is accounted as: memcached's ITEM_ntotal (header 48, +8
 * with CAS, key + 1, value). `me` size=, `stats items` mem_requested.
 */
size_t item_ntotal(const struct item *it);

/* item_alloc / item_release for callers already holding the lock. */
struct item *item_alloc_locked(const char *key, size_t nkey, uint32_t client_flags,
                               uint32_t exptime, size_t nbytes, enum item_alloc_status *status);
void item_release_locked(struct item *it);

/*
 * Like item_get, but neither marks the item fetched nor counts a hit
 * (`me`, and meta get's `u` flag). Expired/flushed items are still unlinked.
 */
struct item *item_peek(const char *key, size_t nkey, enum get_result *why);
struct item *item_peek_locked(const char *key, size_t nkey, enum get_result *why);

/*
 * The fetch bookkeeping item_get does: first fetch sets ITEM_FETCHED, the
 * second sets ITEM_ACTIVE and the last-access time (it->time); counts a hit
 * for `stats items`. For meta get after reading the pre-fetch state.
 */
void item_bump_locked(struct item *it);

/*
 * Set then clear it_flags bits (e.g. ITEM_STALE, ITEM_TOKEN) of an item the
 * caller holds; readers elsewhere use item_flags().
 */
void item_change_flags_locked(struct item *it, uint16_t set, uint16_t clear);

/* New relative exptime (0 = never) for an item the caller holds. */
void item_set_exptime_locked(struct item *it, uint32_t exptime);

/*
 * item_delta, plus *it_out (if not NULL): the item after the update, with a
 * reference, for per-class counters and meta's t/c/v flags.
 */
enum delta_result item_delta_ex(const char *key, size_t nkey, bool incr, uint64_t delta,
                                uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out,
                                struct item **it_out);
enum delta_result item_delta_locked(const char *key, size_t nkey, bool incr, uint64_t delta,
                                    uint64_t cas_in, uint64_t *value_out, uint64_t *cas_out,
                                    struct item **it_out);

/* item_delete, plus *clsid_out (if not NULL): the deleted item's class. */
enum delete_result item_delete_ex(const char *key, size_t nkey, uint64_t cas_in,
                                  unsigned *clsid_out);
enum delete_result item_delete_locked(const char *key, size_t nkey, uint64_t cas_in,
                                      unsigned *clsid_out);

/*
 * `stats sizes_enable` / `stats sizes_disable` (and -o track_sizes at
 * setup): a histogram of item sizes in 32-byte buckets. Enabling starts
 * empty, as in memcached. false if the histogram could not be allocated.
 */
bool storage_sizes_enable(bool on);
bool storage_sizes_enabled(void);

/*
 * The reply lines of `stats sizes_enable` / `sizes_disable`, as the
 * reference: "sizes_status enabled|disabled", or with -C "sizes_status
 * error" + "sizes_error cas_support_disabled" (enabling only).
 */
void storage_sizes_toggle(bool enable, stats_emit_fn *emit, void *ctx);

/*
 * `stats reset`: zero total_items, the per-class counters of `stats items`
 * and the page-move counters; current items and bytes stay.
 */
void storage_stats_reset(void);

/*
 * `stats cachedump <clsid> <limit>`: calls fn for the items of a class,
 * newest first, at most limit of them (0 = all), until fn returns false.
 * value_len excludes "\r\n"; exptime is absolute Unix time, 0 = never.
 * fn runs under the storage lock: it must only copy the data out.
 */
typedef bool storage_dump_fn(void *ctx, const char *key, size_t nkey, uint32_t value_len,
                             uint64_t exptime);
void storage_cachedump(unsigned clsid, unsigned limit, storage_dump_fn *fn, void *ctx);

/*
 * Bind the calling worker's counters: from then on every storage lookup
 * made on this thread that finds an expired or flushed item (get, touch,
 * delete, incr/decr, the old-item lookup of a store, meta) bumps its
 * get_expired / get_flushed, as memcached counts them. Callers that do so
 * must not also count them from enum get_result. NULL unbinds.
 */
struct thread_stats;
void storage_thread_stats(struct thread_stats *ts);

#endif /* ITEMS_H */
