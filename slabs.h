/*
 * slabs.h - the slab allocator: 1 MB pages cut into fixed-size chunks, one
 * size per class, classes growing by the -f factor (memcached's scheme).
 *
 * Not thread-safe by itself: every _locked call requires the storage lock
 * (items.c). Free chunks are kept as struct item headers flagged
 * ITEM_SLABBED, linked through next/prev, so a page can be walked chunk by
 * chunk and every chunk tells whether it is free.
 */
#ifndef SLABS_H
#define SLABS_H

#include "items.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct settings;

#define SLAB_PAGE_SIZE   ((size_t)1024 * 1024)
#define SLAB_MAX_CLASSES 64 /* class ids 1..63; 0 means "no class" */

/*
 * Compute the classes from s->chunk_size, s->factor, s->slab_chunk_size_max
 * and set the memory limit to s->maxbytes (0 = unlimited). Prints memcached's
 * "slab class" lines at -vv. false + err on an impossible configuration.
 */
bool slabs_setup(const struct settings *s, char *err, size_t errlen);

/* Unmap every page. */
void slabs_teardown(void);

/* Smallest class whose chunks hold size bytes; 0 if none does. */
unsigned slabs_clsid(size_t size);

/* The largest class (its chunk size is slab_chunk_size_max). */
unsigned slabs_largest(void);

/* Chunk size of a class. */
size_t slabs_chunk_size(unsigned id);

/*
 * A free chunk of class id, taking a new page while total pages stay within
 * the limit. NULL when the class is full and the limit is reached.
 */
void *slabs_alloc_locked(unsigned id);

/*
 * Give class id one more page even above the memory limit; memcached grants
 * a class its first page this way. false if the class already has pages
 * (unless force) or mmap failed.
 */
bool slabs_grow_locked(unsigned id, bool force);

/* Return a chunk to its class (marks it ITEM_SLABBED). */
void slabs_free_locked(void *chunk, unsigned id);

/* Pages a class owns. */
unsigned slabs_pages(unsigned id);

/* The page holding a chunk. */
void *slabs_page_of(const void *chunk);

/* Some page of class id (rotating, so repeated calls spread out); NULL if none. */
void *slabs_some_page_locked(unsigned id);

/*
 * Call fn on each chunk of a page of class id, in address order; stops and
 * returns false as soon as fn returns false.
 */
typedef bool slabs_chunk_fn(struct item *chunk, void *ctx);
bool slabs_page_each_locked(void *page, unsigned id, slabs_chunk_fn *fn, void *ctx);

/*
 * Move a page whose chunks are all free from class `from` to class `to`,
 * re-cutting it into `to`'s chunk size.
 */
void slabs_page_move_locked(void *page, unsigned from, unsigned to);

/* Memory limit (bytes, 0 = unlimited) and bytes of pages mapped. */
void slabs_set_limit_locked(size_t bytes);
size_t slabs_limit_locked(void);
size_t slabs_malloced_locked(void);
uint64_t slabs_malloc_fails_locked(void);

/* Per-class numbers for `stats slabs`. */
struct slabs_class_info {
    size_t chunk_size;
    unsigned perslab;
    unsigned pages;
    uint64_t free_chunks;
};
void slabs_class_info_locked(unsigned id, struct slabs_class_info *out);

#endif /* SLABS_H */
