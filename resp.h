/*
 * resp.h - a connection's queue of response bytes waiting to be written.
 *
 * The queue is a list of iovecs pointing either into text blocks the queue
 * owns (small replies composed by process.c) or into item values (no copy),
 * plus the item references that keep those values alive. Everything is
 * released when the queue has been written out completely. The connection
 * owns the queue; process.c appends to it; the transport reads its iovecs.
 *
 * Bounded: resp_bytes() lets the connection stop reading new requests while
 * a large backlog is queued, and close a client whose backlog passes a limit.
 */
#ifndef RESP_H
#define RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

struct item;
struct resp_block;

struct resp_queue {
    struct iovec *iov; /* pending output, iov[head..niov) */
    int niov;
    int head; /* first iovec not fully written */
    int cap;
    struct item **items; /* references released when drained */
    int nitems;
    int items_cap;
    struct resp_block *blocks; /* text storage, newest first */
    size_t bytes;              /* bytes queued and not yet written */
};

void resp_init(struct resp_queue *q);
/* Release references and memory. */
void resp_deinit(struct resp_queue *q);

/* Append a copy of len bytes. false on allocation failure. */
bool resp_add(struct resp_queue *q, const void *data, size_t len)
    __attribute__((warn_unused_result));
static inline bool resp_add_str(struct resp_queue *q, const char *s);

/* Room for up to maxlen bytes of text to be written in place; commit the used length. */
char *resp_reserve(struct resp_queue *q, size_t maxlen) __attribute__((warn_unused_result));
void resp_commit(struct resp_queue *q, size_t len);

/*
 * Append the value bytes [offset, offset+len) of an item without copying,
 * and take over one reference of it (the caller's): released when drained.
 * Call resp_hold_item once per reference, then resp_add_value for the bytes.
 */
bool resp_hold_item(struct resp_queue *q, struct item *it) __attribute__((warn_unused_result));
bool resp_add_ref(struct resp_queue *q, const void *data, size_t len)
    __attribute__((warn_unused_result));

/* Drop everything queued after a mark (meta quiet mode, errors mid-reply). */
struct resp_mark {
    int niov;
    int nitems;
    size_t bytes;
    size_t last_len;          /* length of iov[niov-1], which later text may extend */
    struct resp_block *block; /* newest block at the mark */
    size_t block_used;
};
void resp_mark(const struct resp_queue *q, struct resp_mark *m);
void resp_rewind(struct resp_queue *q, const struct resp_mark *m);

static inline bool resp_is_empty(const struct resp_queue *q)
{
    return q->bytes == 0;
}

static inline size_t resp_bytes(const struct resp_queue *q)
{
    return q->bytes;
}

/* Pending iovecs for the transport. */
static inline const struct iovec *resp_iov(const struct resp_queue *q, int *count)
{
    *count = q->niov - q->head;
    return q->iov + q->head;
}

/* n bytes were written; when everything is written, release and reset. */
void resp_consume(struct resp_queue *q, size_t n);

/* Free the calling thread's cache of text blocks (at thread exit). */
void resp_thread_teardown(void);

/* The connection is going idle: give buffers back (queue must be empty). */
void resp_release_idle(struct resp_queue *q);

#include <string.h>

static inline bool resp_add_str(struct resp_queue *q, const char *s)
{
    return resp_add(q, s, strlen(s));
}

#endif /* RESP_H */
