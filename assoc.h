/*
 * assoc.h - the key -> item hash table, with online expansion.
 *
 * Not thread-safe by itself: every call requires the storage lock (items.c).
 * Chains are linked through item->h_next. The caller computes the key hash
 * (hash_key) once and passes it in, usually before taking the lock.
 */
#ifndef ASSOC_H
#define ASSOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct item;

#define ASSOC_DEFAULT_POWER 16
#define ASSOC_MAX_POWER     32 /* the hash is 32 bits wide */

/*
 * Allocate a table of 2^power buckets (0 = ASSOC_DEFAULT_POWER). may_expand
 * false pins the size (-o no_hashexpand). false if the allocation failed.
 */
bool assoc_setup(unsigned power, bool may_expand);
void assoc_teardown(void);

/* The item with this key, or NULL. */
struct item *assoc_find_locked(const char *key, size_t nkey, uint32_t hv);

/*
 * Add an item whose key is not in the table. Starts an expansion when the
 * table holds more than 1.5 items per bucket, and moves a few buckets of a
 * running expansion.
 */
void assoc_insert_locked(struct item *it, uint32_t hv);

/* Remove an item that is in the table. */
void assoc_delete_locked(struct item *it, uint32_t hv);

/*
 * Move a few buckets of a running expansion to the new table; a no-op when
 * none runs. Cheap enough for every request; lookups call it so an expansion
 * finishes even when no more items arrive.
 */
void assoc_step_locked(void);

/* For `stats`: current power, table bytes, whether an expansion runs. */
unsigned assoc_hashpower(void);
size_t assoc_bytes(void);
bool assoc_is_expanding(void);
size_t assoc_count(void);

#endif /* ASSOC_H */
