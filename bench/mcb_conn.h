#ifndef MCB_CONN_H
#define MCB_CONN_H

#include "mcb_io.h"
#include "mcb_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct mcb_worker;
struct ssl_session_st;

enum mcb_conn_state {
    MCB_CONN_CLOSED,     /* not started, or closed by the worker */
    MCB_CONN_CONNECTING, /* TCP connect in progress */
    MCB_CONN_HANDSHAKE,  /* TLS handshake in progress */
    MCB_CONN_READY,
    MCB_CONN_DEAD, /* failed; never restarted */
};

/* One client connection, owned by exactly one worker thread. Active
 * connections own a pipeline ring, an output staging buffer (wbuf) and an
 * input buffer (rbuf); idle connections own none of them. */
struct mcb_conn {
    struct mcb_worker *w;
    struct mcb_io io;
    struct event *ev_read;  /* persistent while the socket is open */
    struct event *ev_write; /* one-shot: armed by connect or a blocked write */
    enum mcb_conn_state state;
    unsigned id;
    unsigned gen; /* bumped by every start: a callback can tell it was replaced */
    bool is_idle;
    bool is_quiet;     /* drained during prefill */
    bool is_throttled; /* counted in the worker's connects-in-progress */
    /* Requests in flight, oldest at head; the last `unsent` of them are not
     * yet fully copied to wbuf, the first of those up to emit_off bytes. */
    struct mcb_req *ring;
    unsigned cap;
    unsigned head;
    unsigned count;
    unsigned unsent;
    size_t emit_off;
    char *wbuf;
    size_t wlen;
    size_t woff;
    char *rbuf;
    size_t rlen;
    struct mcb_parser parser;
    struct mcb_expect expect;
    char expect_key[MCB_KEY_MAX];
    uint64_t gen_issued; /* requests issued since the last (re)connect */
    uint64_t gen_done;
    struct ssl_session_st *session; /* newest ticket, for --tls-resume */
};

/* Allocates buffers (active connections only). 0 or -1 (out of memory). */
int mcb_conn_init(struct mcb_conn *c, struct mcb_worker *w, unsigned id, bool is_idle);
void mcb_conn_deinit(struct mcb_conn *c);

/* Opens the socket and starts connecting; in the measured phase it also
 * queues the first requests, so their latency includes connection setup.
 * Failures are reported through mcb_worker_on_failed(). */
void mcb_conn_start(struct mcb_conn *c);

/* Fills the pipeline and writes after a worker phase change; reports
 * mcb_worker_on_drained() when there is nothing to issue. */
void mcb_conn_kick(struct mcb_conn *c);

/* Closes the socket and forgets requests in flight. */
void mcb_conn_close(struct mcb_conn *c, bool is_graceful);

#endif
