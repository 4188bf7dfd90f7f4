/*
 * slabs.c - slab classes, pages and free chunks.
 *
 * Owns every byte of item memory: 1 MB pages mapped lazily up to the memory
 * limit, each cut into equal chunks of one class. Depends on items.h only for
 * the struct item header of free chunks, on settings.h for the sizes, and on
 * logger.h for the -vv class listing; it knows nothing about LRUs or keys.
 * Eviction and page moves between classes are decided by items.c, which
 * walks a page with slabs_page_each_locked().
 *
 * Class sizes are computed exactly as memcached 1.6 does (48-byte nominal
 * header + -n, times -f with truncation, rounded up to 8, last class =
 * slab_chunk_max), so `stats slabs` and the -vv lines match the reference.
 *
 * Pages come from mmap and are 1 MB aligned, so the page of any chunk is its
 * address with the low 20 bits cleared; that is what lets items.c pick the
 * page holding the LRU tail when it must move a page to another class.
 * Rejected: malloc'd pages (no alignment, so a page lookup table would be
 * needed) and memcached's free_chunks_end lazy carving (a page is cut into
 * the free list at once; cheap at one page per MB stored).
 */
#include "slabs.h"

#include "logger.h"
#include "settings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* memcached's sizeof(item) on 64-bit, which its class sizes are based on. */
#define MC_ITEM_HEADER 48
#define CHUNK_ALIGN    8
#define MIN_CHUNK_MAX  512

struct slab_class {
    size_t size;       /* chunk bytes */
    unsigned perslab;  /* chunks per page */
    struct item *free; /* doubly linked through next/prev */
    uint64_t nfree;
    void **pages;
    unsigned npages;
    unsigned pages_cap;
    unsigned cursor; /* slabs_some_page_locked() rotation */
};

static struct slab_class classes[SLAB_MAX_CLASSES];
static unsigned largest;
static size_t mem_limit;
static size_t mem_malloced;
static uint64_t malloc_fails;

static bool compute_classes(const struct settings *s, char *err, size_t errlen)
{
    unsigned size = MC_ITEM_HEADER + (unsigned)s->chunk_size;
    size_t chunk_max = (size_t)s->slab_chunk_size_max;
    unsigned i = 0;

    if (s->factor <= 1.0 || s->chunk_size <= 0) {
        snprintf(err, errlen, "factor must be greater than 1 and chunk size positive");
        return false;
    }
    if (chunk_max < MIN_CHUNK_MAX || chunk_max > SLAB_PAGE_SIZE) {
        snprintf(err, errlen, "slab_chunk_max must be between %d and %zu bytes", MIN_CHUNK_MAX,
                 SLAB_PAGE_SIZE);
        return false;
    }
    while (++i < SLAB_MAX_CLASSES - 1) {
        if (size >= (double)chunk_max / s->factor) {
            break;
        }
        if (size % CHUNK_ALIGN) {
            size += CHUNK_ALIGN - size % CHUNK_ALIGN;
        }
        classes[i].size = size;
        classes[i].perslab = (unsigned)(SLAB_PAGE_SIZE / size);
        size = (unsigned)(size * s->factor);
    }
    largest = i;
    classes[i].size = chunk_max;
    classes[i].perslab = (unsigned)(SLAB_PAGE_SIZE / chunk_max);
    return true;
}

bool slabs_setup(const struct settings *s, char *err, size_t errlen)
{
    memset(classes, 0, sizeof(classes));
    mem_malloced = 0;
    malloc_fails = 0;
    mem_limit = s->maxbytes;
    if (!compute_classes(s, err, errlen)) {
        return false;
    }
    for (unsigned i = 1; i <= largest; i++) {
        LOG_INFO("slab class %3u: chunk size %9zu perslab %7u", i, classes[i].size,
                 classes[i].perslab);
    }
    return true;
}

void slabs_teardown(void)
{
    for (unsigned i = 1; i <= largest; i++) {
        for (unsigned p = 0; p < classes[i].npages; p++) {
            munmap(classes[i].pages[p], SLAB_PAGE_SIZE);
        }
        free(classes[i].pages);
    }
    memset(classes, 0, sizeof(classes));
    mem_malloced = 0;
    largest = 0;
}

unsigned slabs_clsid(size_t size)
{
    unsigned lo = 1;
    unsigned hi = largest;

    if (size == 0 || largest == 0 || size > classes[largest].size) {
        return 0;
    }
    /* Sizes never decrease with the id (a tiny -f may repeat a size). */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (classes[mid].size >= size) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

unsigned slabs_largest(void)
{
    return largest;
}

size_t slabs_chunk_size(unsigned id)
{
    return classes[id].size;
}

static void free_push(struct slab_class *c, struct item *it)
{
    it->prev = NULL;
    it->next = c->free;
    if (c->free != NULL) {
        c->free->prev = it;
    }
    c->free = it;
    c->nfree++;
}

static void free_remove(struct slab_class *c, struct item *it)
{
    if (it->prev != NULL) {
        it->prev->next = it->next;
    } else {
        c->free = it->next;
    }
    if (it->next != NULL) {
        it->next->prev = it->prev;
    }
    it->next = it->prev = NULL;
    c->nfree--;
}

/* Cut a page into free chunks; pushed backwards so allocation runs forwards. */
static void carve(struct slab_class *c, char *page)
{
    for (unsigned i = c->perslab; i-- > 0;) {
        struct item *it = (struct item *)(page + (size_t)i * c->size);
        it->it_flags = ITEM_SLABBED;
        it->refcount = 0;
        it->slabs_clsid = 0;
        free_push(c, it);
    }
}

/* One 1 MB page aligned to 1 MB: map 2 MB, unmap the slack on both sides. */
static void *map_page(void)
{
    size_t len = 2 * SLAB_PAGE_SIZE;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t start;
    size_t head;

    if (raw == MAP_FAILED) {
        malloc_fails++;
        return NULL;
    }
    start = ((uintptr_t)raw + SLAB_PAGE_SIZE - 1) & ~(uintptr_t)(SLAB_PAGE_SIZE - 1);
    head = start - (uintptr_t)raw;
    if (head > 0) {
        munmap(raw, head);
    }
    if (len - head - SLAB_PAGE_SIZE > 0) {
        munmap((char *)start + SLAB_PAGE_SIZE, len - head - SLAB_PAGE_SIZE);
    }
    return (void *)start;
}

static bool add_page(struct slab_class *c, void *page)
{
    if (c->npages == c->pages_cap) {
        unsigned cap = c->pages_cap ? c->pages_cap * 2 : 16;
        void **grown = realloc(c->pages, cap * sizeof(*grown));
        if (grown == NULL) {
            malloc_fails++;
            return false;
        }
        c->pages = grown;
        c->pages_cap = cap;
    }
    c->pages[c->npages++] = page;
    carve(c, page);
    return true;
}

bool slabs_grow_locked(unsigned id, bool force)
{
    struct slab_class *c = &classes[id];
    void *page;

    if (!force && c->npages > 0) {
        return false;
    }
    page = map_page();
    if (page == NULL) {
        return false;
    }
    if (!add_page(c, page)) {
        munmap(page, SLAB_PAGE_SIZE);
        return false;
    }
    mem_malloced += SLAB_PAGE_SIZE;
    return true;
}

void *slabs_alloc_locked(unsigned id)
{
    struct slab_class *c = &classes[id];
    struct item *it = c->free;

    if (it == NULL) {
        if (mem_limit != 0 && mem_malloced + SLAB_PAGE_SIZE > mem_limit) {
            return NULL;
        }
        if (!slabs_grow_locked(id, true)) {
            return NULL;
        }
        it = c->free;
    }
    free_remove(c, it);
    it->it_flags = 0;
    return it;
}

void slabs_free_locked(void *chunk, unsigned id)
{
    struct item *it = chunk;

    it->it_flags = ITEM_SLABBED;
    it->refcount = 0;
    it->slabs_clsid = 0;
    free_push(&classes[id], it);
}

unsigned slabs_pages(unsigned id)
{
    return classes[id].npages;
}

void *slabs_page_of(const void *chunk)
{
    return (void *)((uintptr_t)chunk & ~(uintptr_t)(SLAB_PAGE_SIZE - 1));
}

void *slabs_some_page_locked(unsigned id)
{
    struct slab_class *c = &classes[id];

    if (c->npages == 0) {
        return NULL;
    }
    c->cursor = (c->cursor + 1) % c->npages;
    return c->pages[c->cursor];
}

bool slabs_page_each_locked(void *page, unsigned id, slabs_chunk_fn *fn, void *ctx)
{
    const struct slab_class *c = &classes[id];

    for (unsigned i = 0; i < c->perslab; i++) {
        if (!fn((struct item *)((char *)page + (size_t)i * c->size), ctx)) {
            return false;
        }
    }
    return true;
}

void slabs_page_move_locked(void *page, unsigned from, unsigned to)
{
    struct slab_class *src = &classes[from];

    for (unsigned i = 0; i < src->perslab; i++) {
        free_remove(src, (struct item *)((char *)page + (size_t)i * src->size));
    }
    for (unsigned p = 0; p < src->npages; p++) {
        if (src->pages[p] == page) {
            src->pages[p] = src->pages[--src->npages];
            break;
        }
    }
    if (!add_page(&classes[to], page)) {
        /* No room to record it: the page is dropped, not leaked into use. */
        munmap(page, SLAB_PAGE_SIZE);
        mem_malloced -= SLAB_PAGE_SIZE;
    }
}

void slabs_set_limit_locked(size_t bytes)
{
    mem_limit = bytes;
}

size_t slabs_limit_locked(void)
{
    return mem_limit;
}

size_t slabs_malloced_locked(void)
{
    return mem_malloced;
}

uint64_t slabs_malloc_fails_locked(void)
{
    return malloc_fails;
}

void slabs_class_info_locked(unsigned id, struct slabs_class_info *out)
{
    const struct slab_class *c = &classes[id];

    out->chunk_size = c->size;
    out->perslab = c->perslab;
    out->pages = c->npages;
    out->free_chunks = c->nfree;
}
