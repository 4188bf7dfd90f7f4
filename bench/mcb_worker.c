/* Worker threads of mcbench: one libevent base and a set of connections.
 *
 * Owns: the phases a thread goes through (connect, prefill, idle connects,
 * measured run), what request comes next, the stop conditions (deadline,
 * request budget, abort), reconnects, per-thread counters and latency, and
 * the step gate that lets main measure the server between phases.
 * Must not touch sockets or TLS itself; connections (mcb_conn) do.
 *
 * Each thread is independent: it never shares a base or a connection, and
 * main reads its counters only through the atomics published by the
 * 100 ms tick, or directly after the thread has finished. Rejected: one
 * base for all threads behind a lock (serialises the client), and
 * publishing counters atomically on every op (a locked add per request). */
#include "mcb_worker.h"

#include "mcb_conn.h"
#include "mcb_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define MAX_CONNECTING   128 /* keeps SYNs within the server's listen backlog */
#define TICK_US          100000
#define MAX_LOGGED       5
#define DRAIN_GRACE_S    5.0
#define PREFILL_DEEP_MAX 16384 /* largest value prefilled with a deep pipeline */

uint64_t mcb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mcb_stats_add(struct mcb_stats *dst, const struct mcb_stats *src)
{
#define MCB_STAT_ADD(name) dst->name += src->name;
    MCB_STATS(MCB_STAT_ADD)
#undef MCB_STAT_ADD
}

/* xorshift64*: fast, and good enough to spread keys and sizes. */
static uint64_t next_rand(struct mcb_worker *w)
{
    uint64_t x = w->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t pick_vlen(struct mcb_worker *w)
{
    const struct mcb_opts *o = w->sh->o;
    uint64_t span = (uint64_t)(o->vmax - o->vmin) + 1;

    return (uint32_t)(o->vmin + next_rand(w) % span);
}

/* --- step gate ------------------------------------------------------- */

static void gate_pass(struct mcb_worker *w, int step)
{
    struct mcb_shared *sh = w->sh;

    pthread_mutex_lock(&sh->mu);
    sh->arrived[step]++;
    pthread_cond_broadcast(&sh->cv);
    /* Nobody opens the last step: arriving there is the end. */
    while (step != MCB_STEP_FINISHED && sh->gate < step && !atomic_load(&sh->is_abort)) {
        pthread_cond_wait(&sh->cv, &sh->mu);
    }
    pthread_mutex_unlock(&sh->mu);
}

void mcb_gate_open(struct mcb_shared *sh, int step)
{
    pthread_mutex_lock(&sh->mu);
    sh->gate = step;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

void mcb_gate_abort(struct mcb_shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    atomic_store(&sh->is_abort, true);
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

unsigned mcb_gate_arrivals(struct mcb_shared *sh, int step, unsigned ms)
{
    struct timespec until;
    unsigned n;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sh->mu);
    (void)pthread_cond_timedwait(&sh->cv, &sh->mu, &until);
    n = sh->arrived[step];
    pthread_mutex_unlock(&sh->mu);
    return n;
}

/* --- hooks called by connections ------------------------------------- */

static bool can_continue(const struct mcb_worker *w)
{
    return w->phase == MCB_PHASE_RUN && !w->is_stopping && w->budget > 0;
}

bool mcb_worker_next_req(struct mcb_worker *w, struct mcb_req *r)
{
    const struct mcb_opts *o = w->sh->o;

    if (w->phase == MCB_PHASE_PREFILL) {
        uint64_t k = atomic_fetch_add(&w->sh->prefill_next, 1);

        if (k >= o->keyspace) {
            return false;
        }
        r->is_set = true;
        r->key = k;
    } else if (can_continue(w)) {
        w->budget--;
        r->is_set = next_rand(w) % (o->ratio_set + o->ratio_get) < o->ratio_set;
        r->key = next_rand(w) % o->keyspace;
    } else {
        return false;
    }
    r->vlen = r->is_set ? pick_vlen(w) : 0;
    r->t_start_ns = w->now_ns;
    return true;
}

unsigned mcb_worker_depth(const struct mcb_worker *w)
{
    const struct mcb_opts *o = w->sh->o;

    /* Prefill pipelines small sets deeply for speed, but large ones no
     * deeper than asked: memcached 1.6.18 can stall on a TLS connection
     * that pipelines several large sets (request bytes left inside OpenSSL
     * while the socket is empty). */
    if (w->phase == MCB_PHASE_PREFILL && o->vmax <= PREFILL_DEEP_MAX) {
        return ~0u;
    }
    return o->pipeline;
}

uint64_t mcb_worker_gen_limit(const struct mcb_worker *w)
{
    return w->phase == MCB_PHASE_RUN ? w->sh->o->reconnect_every : 0;
}

void mcb_worker_on_reply(struct mcb_worker *w, const struct mcb_req *r, int reply)
{
    if (reply == MCB_REPLY_ERROR) {
        w->st.errors++;
        w->st.error_replies++;
    }
    if (w->phase != MCB_PHASE_RUN) {
        w->st.prefilled++;
        return;
    }
    w->st.ops++;
    mcb_hist_add(&w->hist, w->now_ns - r->t_start_ns);
    if (r->is_set) {
        w->st.sets++;
    } else {
        w->st.gets++;
        w->st.hits += reply == MCB_REPLY_HIT;
        w->st.misses += reply == MCB_REPLY_MISS;
    }
}

static void phase_done(struct mcb_worker *w)
{
    w->is_phase_done = true;
}

static void start_more(struct mcb_worker *w)
{
    while (w->connecting < MAX_CONNECTING && w->next_start < w->range_end) {
        struct mcb_conn *c = &w->conns[w->next_start++];

        w->connecting++;
        c->is_throttled = true;
        mcb_conn_start(c);
    }
}

static void enter_prefill(struct mcb_worker *w)
{
    w->phase = MCB_PHASE_PREFILL;
    w->quiet = 0;
    for (unsigned i = 0; i < w->nactive; i++) {
        w->conns[i].is_quiet = w->conns[i].state == MCB_CONN_DEAD;
        w->quiet += w->conns[i].is_quiet;
    }
    if (w->quiet == w->nactive) {
        phase_done(w);
        return;
    }
    for (unsigned i = 0; i < w->nactive; i++) {
        mcb_conn_kick(&w->conns[i]);
    }
}

/* A connection of the throttled setup range is up or has failed. */
static void settle(struct mcb_worker *w, struct mcb_conn *c)
{
    if (!c->is_throttled) {
        return;
    }
    c->is_throttled = false;
    w->connecting--;
    w->settled++;
    start_more(w);
    if (w->settled < w->range_len) {
        return;
    }
    if (w->phase == MCB_PHASE_SETUP && w->sh->o->is_prefill && w->dead < w->nactive) {
        enter_prefill(w);
    } else {
        phase_done(w);
    }
}

void mcb_worker_on_ready(struct mcb_worker *w, struct mcb_conn *c, bool is_resumed)
{
    if (w->phase == MCB_PHASE_RUN) {
        w->st.connects++;
        w->st.resumed += is_resumed;
    }
    settle(w, c);
}

static void quieten(struct mcb_worker *w, struct mcb_conn *c)
{
    if (!c->is_quiet) {
        c->is_quiet = true;
        if (++w->quiet == w->nactive) {
            phase_done(w);
        }
    }
}

static void retire(struct mcb_worker *w)
{
    if (w->live > 0 && --w->live == 0) {
        phase_done(w);
    }
}

void mcb_worker_on_drained(struct mcb_worker *w, struct mcb_conn *c)
{
    uint64_t every = w->sh->o->reconnect_every;

    if (w->phase == MCB_PHASE_PREFILL) {
        quieten(w, c);
        return;
    }
    if (w->phase != MCB_PHASE_RUN) {
        return;
    }
    mcb_conn_close(c, true);
    if (every != 0 && c->gen_done >= every && can_continue(w)) {
        mcb_conn_start(c);
        return;
    }
    retire(w);
}

void mcb_worker_on_failed(struct mcb_worker *w, struct mcb_conn *c, const char *why,
                          bool is_protocol, unsigned lost)
{
    w->st.errors += 1 + (uint64_t)lost;
    w->st.lost += lost;
    if (is_protocol) {
        w->st.proto_errors++;
    } else {
        w->st.conn_failures++;
    }
    if (w->nlogged++ < MAX_LOGGED) {
        fprintf(stderr, "mcbench: thread %u conn %u%s: %s\n", w->id, c->id,
                c->is_idle ? " (idle)" : "", why);
    }
    w->dead++;
    settle(w, c);
    if (c->is_idle) {
        return;
    }
    if (w->phase == MCB_PHASE_PREFILL) {
        quieten(w, c);
    } else if (w->phase == MCB_PHASE_RUN) {
        retire(w);
    }
}

/* --- timers ----------------------------------------------------------- */

static void publish(struct mcb_worker *w)
{
    const struct mcb_stats *s = &w->st;

    atomic_store_explicit(&w->pub_ops, s->ops, memory_order_relaxed);
    atomic_store_explicit(&w->pub_errors, s->errors, memory_order_relaxed);
    atomic_store_explicit(&w->pub_progress,
                          s->ops + s->prefilled + s->connects + s->errors + w->settled,
                          memory_order_relaxed);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct mcb_worker *w = arg;
    const struct mcb_opts *o = w->sh->o;

    (void)fd;
    (void)what;
    w->now_ns = mcb_now_ns();
    publish(w);
    if (atomic_load(&w->sh->is_abort)) {
        w->is_aborted = true;
    }
    if (w->phase == MCB_PHASE_RUN &&
        w->now_ns > w->sh->t0_ns + (uint64_t)((o->duration + DRAIN_GRACE_S) * 1e9)) {
        fprintf(stderr, "mcbench: thread %u: requests still unanswered %.0f s after the end\n",
                w->id, DRAIN_GRACE_S);
        w->is_aborted = true;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct mcb_worker *w = arg;

    (void)fd;
    (void)what;
    w->is_stopping = true;
}

/* Runs the event loop until the current phase is over. */
static void run_loop(struct mcb_worker *w)
{
    while (!w->is_phase_done && !w->is_aborted) {
        if (event_base_loop(w->base, EVLOOP_ONCE) < 0) {
            fprintf(stderr, "mcbench: thread %u: event loop failed\n", w->id);
            w->is_aborted = true;
        }
    }
    w->is_phase_done = false;
}

static void connect_range(struct mcb_worker *w, enum mcb_phase phase, unsigned lo, unsigned hi)
{
    w->phase = phase;
    w->now_ns = mcb_now_ns();
    w->next_start = lo;
    w->range_end = hi;
    w->range_len = hi - lo;
    w->settled = 0;
    if (lo == hi) {
        return;
    }
    start_more(w);
    run_loop(w);
}

static void start_run(struct mcb_worker *w)
{
    double left = w->sh->o->duration - (double)(mcb_now_ns() - w->sh->t0_ns) / 1e9;
    struct timeval tv;

    w->phase = MCB_PHASE_RUN;
    w->now_ns = mcb_now_ns();
    if (left < 0) {
        left = 0;
    }
    tv.tv_sec = (time_t)left;
    tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
    /* The base caches time from before the gate wait; timers need now. */
    event_base_update_cache_time(w->base);
    evtimer_add(w->deadline, &tv);
    w->live = 0;
    for (unsigned i = 0; i < w->nactive; i++) {
        w->live += w->conns[i].state != MCB_CONN_DEAD;
    }
    for (unsigned i = 0; i < w->nactive && w->live > 0; i++) {
        struct mcb_conn *c = &w->conns[i];

        if (c->state == MCB_CONN_CLOSED && can_continue(w)) {
            mcb_conn_start(c);
        } else if (c->state == MCB_CONN_CLOSED) {
            retire(w);
        } else {
            mcb_conn_kick(c);
        }
    }
}

/* Says where a stuck connection stopped, to tell client from server bugs. */
static void report_stuck(struct mcb_worker *w, const struct mcb_conn *c)
{
    if (w->nlogged++ >= MAX_LOGGED) {
        return;
    }
    fprintf(stderr,
            "mcbench: thread %u conn %u stuck: state %d, %u in flight, %u not yet in wbuf, "
            "%zu bytes in wbuf unsent, %zu bytes unparsed, parser state %d with %zu value "
            "bytes to go, %zu bytes pending in TLS\n",
            w->id, c->id, (int)c->state, c->count, c->unsent, c->wlen - c->woff, c->rlen,
            c->parser.state, c->parser.data_left, mcb_io_pending(&c->io));
}

static void close_all(struct mcb_worker *w)
{
    for (unsigned i = 0; i < w->nactive + w->nidle; i++) {
        struct mcb_conn *c = &w->conns[i];

        if (c->count > 0) {
            report_stuck(w, c);
            w->st.errors += c->count;
            w->st.lost += c->count;
        }
        mcb_conn_close(c, true);
    }
}

void *mcb_worker_main(void *arg)
{
    struct mcb_worker *w = arg;
    const struct mcb_opts *o = w->sh->o;

    connect_range(w, MCB_PHASE_SETUP, 0, w->nactive);
    if (o->reconnect_every != 0) {
        /* Measured connections start fresh, so each op includes a setup. */
        for (unsigned i = 0; i < w->nactive; i++) {
            mcb_conn_close(&w->conns[i], true);
        }
    }
    publish(w);
    gate_pass(w, MCB_STEP_CONNECTED);
    if (!atomic_load(&w->sh->is_abort)) {
        connect_range(w, MCB_PHASE_IDLE, w->nactive, w->nactive + w->nidle);
    }
    publish(w);
    gate_pass(w, MCB_STEP_IDLE_UP);
    if (!atomic_load(&w->sh->is_abort) && !w->is_aborted) {
        start_run(w);
        if (w->live > 0) {
            run_loop(w);
        }
    }
    w->phase = MCB_PHASE_OVER;
    publish(w);
    /* Main reads the server before the closes below add their cost. */
    gate_pass(w, MCB_STEP_RAN);
    close_all(w);
    publish(w);
    gate_pass(w, MCB_STEP_FINISHED);
    return NULL;
}

int mcb_worker_init(struct mcb_worker *w, struct mcb_shared *sh, unsigned id, unsigned nactive,
                    unsigned nidle, uint64_t budget)
{
    struct timeval tick = {0, TICK_US};

    memset(w, 0, sizeof(*w));
    w->sh = sh;
    w->id = id;
    w->nactive = nactive;
    w->nidle = nidle;
    w->budget = budget;
    w->rng = (sh->o->seed ^ (0x9E3779B97F4A7C15ULL * (id + 1))) | 1;
    mcb_hist_init(&w->hist);
    w->base = event_base_new();
    w->conns = calloc((size_t)nactive + nidle + 1, sizeof(*w->conns));
    if (w->base == NULL || w->conns == NULL) {
        return -1;
    }
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    w->deadline = evtimer_new(w->base, on_deadline, w);
    if (w->tick == NULL || w->deadline == NULL || event_add(w->tick, &tick) != 0) {
        return -1;
    }
    for (unsigned i = 0; i < nactive + nidle; i++) {
        if (mcb_conn_init(&w->conns[i], w, i, i >= nactive) != 0) {
            return -1;
        }
    }
    return 0;
}

void mcb_worker_deinit(struct mcb_worker *w)
{
    if (w->conns != NULL) {
        for (unsigned i = 0; i < w->nactive + w->nidle; i++) {
            mcb_conn_deinit(&w->conns[i]);
        }
        free(w->conns);
        w->conns = NULL;
    }
    if (w->tick != NULL) {
        event_free(w->tick);
    }
    if (w->deadline != NULL) {
        event_free(w->deadline);
    }
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    w->tick = NULL;
    w->deadline = NULL;
    w->base = NULL;
}
