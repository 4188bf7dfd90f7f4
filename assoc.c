/*
 * assoc.c - chained hash table from keys to items, expanded online.
 *
 * Owns the bucket arrays and the expansion state. Depends on items.h (for
 * struct item's h_next and key) and hash.h (to rehash moved items); it never
 * takes a lock itself, so it must not be called without the storage lock.
 *
 * Expansion is incremental, like an incremental rehash: when the table holds
 * more than 1.5 items per bucket, a table twice the size is allocated and
 * the old buckets move over a few at a time, on each insert and lookup.
 * During the move, a key whose old bucket has not moved yet is found in the
 * old table, every other key in the new one. Rejected: memcached's separate
 * expansion thread (a second lock holder and a thread to stop at teardown,
 * for work that costs a few pointer moves per request) and a stop-the-world
 * rehash (a multi-millisecond stall at millions of items).
 */
#include "assoc.h"

#include "hash.h"
#include "items.h"

#include <stdlib.h>
#include <string.h>

/* Buckets moved per step: 2^n steps finish an expansion of 2^n buckets. */
#define ASSOC_STEP_BUCKETS 4

static struct item **primary;   /* 2^power buckets */
static struct item **old_table; /* 2^(power-1) buckets while expanding */
static unsigned power;
static bool expanding;
static bool expand_enabled;
static size_t migrated; /* old buckets already moved */
static size_t count;

static inline size_t bucket_count(unsigned p)
{
    return (size_t)1 << p;
}

static inline size_t bucket_mask(unsigned p)
{
    return bucket_count(p) - 1;
}

bool assoc_setup(unsigned p, bool may_expand)
{
    if (p == 0) {
        p = ASSOC_DEFAULT_POWER;
    }
    if (p > ASSOC_MAX_POWER) {
        return false;
    }
    primary = calloc(bucket_count(p), sizeof(*primary));
    if (primary == NULL) {
        return false;
    }
    power = p;
    old_table = NULL;
    expanding = false;
    expand_enabled = may_expand;
    migrated = 0;
    count = 0;
    return true;
}

void assoc_teardown(void)
{
    free(primary);
    free(old_table);
    primary = NULL;
    old_table = NULL;
    expanding = false;
    count = 0;
}

/* The chain head a key with hash hv lives in right now. */
static struct item **bucket_of(uint32_t hv)
{
    if (expanding) {
        size_t ob = hv & bucket_mask(power - 1);
        if (ob >= migrated) {
            return &old_table[ob];
        }
    }
    return &primary[hv & bucket_mask(power)];
}

struct item *assoc_find_locked(const char *key, size_t nkey, uint32_t hv)
{
    for (struct item *it = *bucket_of(hv); it != NULL; it = it->h_next) {
        if (it->nkey == nkey && memcmp(item_key(it), key, nkey) == 0) {
            return it;
        }
    }
    return NULL;
}

static void start_expansion(void)
{
    struct item **bigger = calloc(bucket_count(power + 1), sizeof(*bigger));

    /* Out of memory: keep the current table; a later insert retries. */
    if (bigger == NULL) {
        return;
    }
    old_table = primary;
    primary = bigger;
    power++;
    migrated = 0;
    expanding = true;
}

static void move_bucket(size_t ob)
{
    struct item *it = old_table[ob];

    while (it != NULL) {
        struct item *next = it->h_next;
        size_t nb = hash_key(item_key(it), it->nkey) & bucket_mask(power);

        it->h_next = primary[nb];
        primary[nb] = it;
        it = next;
    }
    old_table[ob] = NULL;
}

void assoc_step_locked(void)
{
    if (!expanding) {
        return;
    }
    for (int i = 0; i < ASSOC_STEP_BUCKETS && migrated < bucket_count(power - 1); i++) {
        move_bucket(migrated++);
    }
    if (migrated == bucket_count(power - 1)) {
        free(old_table);
        old_table = NULL;
        expanding = false;
    }
}

void assoc_insert_locked(struct item *it, uint32_t hv)
{
    struct item **b = bucket_of(hv);

    it->h_next = *b;
    *b = it;
    count++;
    if (!expanding && expand_enabled && power < ASSOC_MAX_POWER &&
        count > bucket_count(power) + bucket_count(power) / 2) {
        start_expansion();
    }
    assoc_step_locked();
}

void assoc_delete_locked(struct item *it, uint32_t hv)
{
    struct item **pp = bucket_of(hv);

    while (*pp != NULL && *pp != it) {
        pp = &(*pp)->h_next;
    }
    if (*pp == it) {
        *pp = it->h_next;
        it->h_next = NULL;
        count--;
    }
}

unsigned assoc_hashpower(void)
{
    return power;
}

size_t assoc_bytes(void)
{
    return bucket_count(power) * sizeof(struct item *);
}

bool assoc_is_expanding(void)
{
    return expanding;
}

size_t assoc_count(void)
{
    return count;
}
