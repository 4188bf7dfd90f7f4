/*
 * resp.c - the response queue: iovecs over owned text blocks and borrowed
 * item values.
 *
 * Owns text blocks and the item references it was handed. Depends only on
 * items.h (to drop references). Small replies are copied into 16 KB text
 * blocks and coalesced into one iovec when contiguous, so a pipeline of
 * replies reaches the transport as a few large iovecs; values are never
 * copied here. Standard-size blocks are recycled through a small per-thread
 * cache (every queue is used only by the worker owning its connection),
 * which keeps idle connections free of buffers without a malloc per reply.
 * Rejected: one growing contiguous buffer (realloc would move memory that
 * queued iovecs point into).
 */
#include "resp.h"

#include "items.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE      16384
#define BLOCK_CACHE_MAX 16
#define IOV_INITIAL     16
#define ITEMS_INITIAL   8
#define ARRAY_CACHE_MAX 16

struct resp_block {
    struct resp_block *next;
    size_t used;
    size_t cap;
    char data[];
};

static __thread struct resp_block *block_cache;
static __thread int block_cache_len;

/*
 * The iovec and item arrays of the initial size are recycled per thread
 * too: a connection gives them back each time it goes idle, which for a
 * client sending one request at a time is after every request (a realloc
 * and a free each per request otherwise).
 */
struct array_cache {
    void *slot[ARRAY_CACHE_MAX];
    int len;
};
static __thread struct array_cache iov_cache;
static __thread struct array_cache items_cache;

static void *array_get(struct array_cache *c, size_t size)
{
    if (c->len > 0) {
        return c->slot[--c->len];
    }
    return malloc(size);
}

static void array_put(struct array_cache *c, void *p, bool is_initial)
{
    if (p != NULL && is_initial && c->len < ARRAY_CACHE_MAX) {
        c->slot[c->len++] = p;
        return;
    }
    free(p);
}

static void array_drain(struct array_cache *c)
{
    while (c->len > 0) {
        free(c->slot[--c->len]);
    }
}

static struct resp_block *block_get(size_t need)
{
    struct resp_block *b;

    if (need <= BLOCK_SIZE && block_cache != NULL) {
        b = block_cache;
        block_cache = b->next;
        block_cache_len--;
    } else {
        size_t cap = need > BLOCK_SIZE ? need : BLOCK_SIZE;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL) {
            return NULL;
        }
        b->cap = cap;
    }
    b->next = NULL;
    b->used = 0;
    return b;
}

static void block_put(struct resp_block *b)
{
    if (b->cap == BLOCK_SIZE && block_cache_len < BLOCK_CACHE_MAX) {
        b->next = block_cache;
        block_cache = b;
        block_cache_len++;
        return;
    }
    free(b);
}

void resp_thread_teardown(void)
{
    while (block_cache != NULL) {
        struct resp_block *b = block_cache;
        block_cache = b->next;
        free(b);
    }
    block_cache_len = 0;
    array_drain(&iov_cache);
    array_drain(&items_cache);
}

void resp_init(struct resp_queue *q)
{
    memset(q, 0, sizeof(*q));
}

static void release_items(struct resp_queue *q, int from)
{
    for (int i = from; i < q->nitems; i++) {
        item_release(q->items[i]);
    }
    q->nitems = from;
}

static void free_blocks(struct resp_block *b, const struct resp_block *stop)
{
    while (b != NULL && b != stop) {
        struct resp_block *next = b->next;
        block_put(b);
        b = next;
    }
}

void resp_deinit(struct resp_queue *q)
{
    release_items(q, 0);
    free_blocks(q->blocks, NULL);
    array_put(&iov_cache, q->iov, q->cap == IOV_INITIAL);
    array_put(&items_cache, q->items, q->items_cap == ITEMS_INITIAL);
    memset(q, 0, sizeof(*q));
}

void resp_release_idle(struct resp_queue *q)
{
    if (q->bytes == 0) {
        resp_deinit(q);
    }
}

static bool iov_room(struct resp_queue *q)
{
    if (q->niov < q->cap) {
        return true;
    }
    int cap = q->cap ? q->cap * 2 : IOV_INITIAL;
    struct iovec *iov = q->cap ? realloc(q->iov, (size_t)cap * sizeof(*iov))
                               : array_get(&iov_cache, (size_t)cap * sizeof(*iov));
    if (iov == NULL) {
        return false;
    }
    q->iov = iov;
    q->cap = cap;
    return true;
}

/* Append an iovec, merging with the previous one when contiguous. */
static bool push_iov(struct resp_queue *q, const void *data, size_t len)
{
    if (q->niov > q->head) {
        struct iovec *last = &q->iov[q->niov - 1];
        if ((const char *)last->iov_base + last->iov_len == (const char *)data) {
            last->iov_len += len;
            q->bytes += len;
            return true;
        }
    }
    if (!iov_room(q)) {
        return false;
    }
    q->iov[q->niov].iov_base = (void *)data;
    q->iov[q->niov].iov_len = len;
    q->niov++;
    q->bytes += len;
    return true;
}

char *resp_reserve(struct resp_queue *q, size_t maxlen)
{
    struct resp_block *b = q->blocks;

    /* Room for the iovec too, so resp_commit cannot fail. */
    if (!iov_room(q)) {
        return NULL;
    }
    if (b == NULL || b->cap - b->used < maxlen) {
        b = block_get(maxlen);
        if (b == NULL) {
            return NULL;
        }
        b->next = q->blocks;
        q->blocks = b;
    }
    return b->data + b->used;
}

void resp_commit(struct resp_queue *q, size_t len)
{
    struct resp_block *b = q->blocks;

    if (len == 0) {
        return;
    }
    /* resp_reserve made room for this iovec, so the push cannot fail. */
    if (push_iov(q, b->data + b->used, len)) {
        b->used += len;
    }
}

bool resp_add(struct resp_queue *q, const void *data, size_t len)
{
    char *p;

    if (len == 0) {
        return true;
    }
    p = resp_reserve(q, len);
    if (p == NULL) {
        return false;
    }
    memcpy(p, data, len);
    resp_commit(q, len);
    return true;
}

bool resp_add_ref(struct resp_queue *q, const void *data, size_t len)
{
    if (len == 0) {
        return true;
    }
    return push_iov(q, data, len);
}

bool resp_hold_item(struct resp_queue *q, struct item *it)
{
    if (q->nitems == q->items_cap) {
        int cap = q->items_cap ? q->items_cap * 2 : ITEMS_INITIAL;
        struct item **items = q->items_cap ? realloc(q->items, (size_t)cap * sizeof(*items))
                                           : array_get(&items_cache, (size_t)cap * sizeof(*items));
        if (items == NULL) {
            return false;
        }
        q->items = items;
        q->items_cap = cap;
    }
    q->items[q->nitems++] = it;
    return true;
}

void resp_mark(const struct resp_queue *q, struct resp_mark *m)
{
    m->niov = q->niov;
    m->nitems = q->nitems;
    m->bytes = q->bytes;
    m->last_len = q->niov > 0 ? q->iov[q->niov - 1].iov_len : 0;
    m->block = q->blocks;
    m->block_used = q->blocks != NULL ? q->blocks->used : 0;
}

void resp_rewind(struct resp_queue *q, const struct resp_mark *m)
{
    release_items(q, m->nitems);
    q->niov = m->niov;
    if (m->niov > 0) {
        q->iov[m->niov - 1].iov_len = m->last_len;
    }
    q->bytes = m->bytes;
    free_blocks(q->blocks, m->block);
    q->blocks = m->block;
    if (q->blocks != NULL) {
        q->blocks->used = m->block_used;
    }
}

/* Everything was written: drop references, keep one block for the next replies. */
static void reset_drained(struct resp_queue *q)
{
    release_items(q, 0);
    q->niov = 0;
    q->head = 0;
    if (q->blocks != NULL) {
        free_blocks(q->blocks->next, NULL);
        q->blocks->next = NULL;
        q->blocks->used = 0;
    }
}

void resp_consume(struct resp_queue *q, size_t n)
{
    q->bytes -= n;
    while (n > 0 && q->head < q->niov) {
        struct iovec *v = &q->iov[q->head];
        if (n < v->iov_len) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= n;
            return;
        }
        n -= v->iov_len;
        q->head++;
    }
    if (q->bytes == 0) {
        reset_drained(q);
    }
}
