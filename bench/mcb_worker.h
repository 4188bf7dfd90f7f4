#ifndef MCB_WORKER_H
#define MCB_WORKER_H

#include "mcb_hist.h"
#include "mcb_proto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event;
struct event_base;
struct mcb_conn;
struct mcb_opts;
struct mcb_tls;

/* Steps every worker passes in order. Main waits until all workers have
 * arrived at a step before opening it, and measures in between. */
enum mcb_step {
    MCB_STEP_CONNECTED = 1, /* active connections up (and prefill done) */
    MCB_STEP_IDLE_UP = 2,   /* idle connections up; next is the measured phase */
    MCB_STEP_RAN = 3,       /* measured phase over; connections still open */
    MCB_STEP_FINISHED = 4,
};

enum mcb_phase {
    MCB_PHASE_SETUP,   /* connecting active connections */
    MCB_PHASE_PREFILL, /* setting every key once */
    MCB_PHASE_IDLE,    /* connecting idle connections */
    MCB_PHASE_RUN,     /* measured */
    MCB_PHASE_OVER,
};

/* Per-thread totals, written only by the owning worker. `errors` counts
 * every failure, including those broken down by the counters after it. */
#define MCB_STATS(X)                                                                               \
    X(ops)                                                                                         \
    X(sets)                                                                                        \
    X(gets)                                                                                        \
    X(hits)                                                                                        \
    X(misses)                                                                                      \
    X(errors)                                                                                      \
    X(error_replies)                                                                               \
    X(proto_errors)                                                                                \
    X(conn_failures)                                                                               \
    X(lost)                                                                                        \
    X(connects)                                                                                    \
    X(resumed)                                                                                     \
    X(bytes_in)                                                                                    \
    X(bytes_out)                                                                                   \
    X(prefilled)

struct mcb_stats {
#define MCB_STAT_FIELD(name) uint64_t name;
    MCB_STATS(MCB_STAT_FIELD)
#undef MCB_STAT_FIELD
};

/* Adds every counter of src to dst. */
void mcb_stats_add(struct mcb_stats *dst, const struct mcb_stats *src);

/* State shared by all workers. Read-only once threads start, except the
 * atomics and the gate (which the mutex protects). */
struct mcb_shared {
    const struct mcb_opts *o;
    struct mcb_tls *tls; /* NULL for plain */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *pattern; /* every value set is a prefix of it */
    size_t pattern_len;
    struct mcb_keyfmt kf;
    atomic_uint_fast64_t prefill_next;
    atomic_bool is_abort;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate;            /* highest step main has opened */
    unsigned arrived[5]; /* workers that reached each step */
    uint64_t t0_ns;      /* start of the measured phase, set before gate 2 */
};

struct mcb_worker {
    struct mcb_shared *sh;
    unsigned id;
    pthread_t tid;
    struct event_base *base;
    struct event *tick;
    struct event *deadline;
    struct mcb_conn *conns; /* nactive active ones, then nidle idle ones */
    unsigned nactive;
    unsigned nidle;
    enum mcb_phase phase;
    bool is_phase_done;
    bool is_stopping; /* measured phase: issue nothing new */
    bool is_aborted;
    unsigned next_start; /* throttled connection setup over [.., range_end) */
    unsigned range_end;
    unsigned range_len;
    unsigned connecting;
    unsigned settled;
    unsigned quiet;
    unsigned live;
    unsigned dead;
    unsigned nlogged;
    uint64_t budget;
    uint64_t now_ns; /* refreshed at the start of every event callback */
    uint64_t rng;
    struct mcb_stats st;
    struct mcb_hist hist;              /* latency of measured requests, ns */
    atomic_uint_fast64_t pub_progress; /* published by the tick for main */
    atomic_uint_fast64_t pub_ops;
    atomic_uint_fast64_t pub_errors;
};

uint64_t mcb_now_ns(void);

/* Sets up w (connections, event base); 0 or -1 with a message on stderr. */
int mcb_worker_init(struct mcb_worker *w, struct mcb_shared *sh, unsigned id, unsigned nactive,
                    unsigned nidle, uint64_t budget);
void mcb_worker_deinit(struct mcb_worker *w);
void *mcb_worker_main(void *arg);

/* Main thread side of the step gate. */
void mcb_gate_open(struct mcb_shared *sh, int step);
/* Waits up to ms milliseconds; returns how many workers reached step. */
unsigned mcb_gate_arrivals(struct mcb_shared *sh, int step, unsigned ms);
void mcb_gate_abort(struct mcb_shared *sh);

/* Hooks the connections call. */
bool mcb_worker_next_req(struct mcb_worker *w, struct mcb_req *r);
unsigned mcb_worker_depth(const struct mcb_worker *w);
uint64_t mcb_worker_gen_limit(const struct mcb_worker *w);
void mcb_worker_on_reply(struct mcb_worker *w, const struct mcb_req *r, int reply);
void mcb_worker_on_ready(struct mcb_worker *w, struct mcb_conn *c, bool is_resumed);
void mcb_worker_on_drained(struct mcb_worker *w, struct mcb_conn *c);
void mcb_worker_on_failed(struct mcb_worker *w, struct mcb_conn *c, const char *why,
                          bool is_protocol, unsigned lost);

#endif
