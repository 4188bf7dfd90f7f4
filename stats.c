/*
 * stats.c - registry and aggregation of per-worker counters, and the
 * server-wide connection counters.
 *
 * Owns the list of registered worker counter blocks and the reset baseline.
 * Depends on nothing above it: storage and TLS counters are snapshotted by
 * their owners, and the `stats` command composes everything in process.c.
 * A baseline subtraction implements `stats reset` because zeroing another
 * thread's single-writer counters would race with its increments.
 */
#include "stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define STATS_MAX_THREADS 1024

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_stats *registry[STATS_MAX_THREADS];
static int nregistered;
static struct thread_stats baseline;
static struct server_stats server;

void stats_thread_register(struct thread_stats *ts)
{
    pthread_mutex_lock(&registry_lock);
    if (nregistered < STATS_MAX_THREADS) {
        registry[nregistered++] = ts;
    }
    pthread_mutex_unlock(&registry_lock);
}

#define STATS_SUM(name) out->name += __atomic_load_n(&ts->name, __ATOMIC_RELAXED);
#define SLAB_SUM(name)  o->name += __atomic_load_n(&s->name, __ATOMIC_RELAXED);
#define STATS_SUB(name) out->name -= base->name;
#define SLAB_SUB(name)  o->name -= b->name;

static void add_thread(struct thread_stats *out, const struct thread_stats *ts)
{
    THREAD_STATS_FIELDS(STATS_SUM)
    for (int c = 0; c < STATS_MAX_CLASSES; c++) {
        struct slab_stats *o = &out->slab[c];
        const struct slab_stats *s = &ts->slab[c];
        SLAB_STATS_FIELDS(SLAB_SUM)
    }
}

static void sum_raw(struct thread_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < nregistered; i++) {
        add_thread(out, registry[i]);
    }
}

void stats_aggregate(struct thread_stats *out)
{
    const struct thread_stats *base = &baseline;

    pthread_mutex_lock(&registry_lock);
    sum_raw(out);
    THREAD_STATS_FIELDS(STATS_SUB)
    for (int c = 0; c < STATS_MAX_CLASSES; c++) {
        struct slab_stats *o = &out->slab[c];
        const struct slab_stats *b = &base->slab[c];
        SLAB_STATS_FIELDS(SLAB_SUB)
    }
    pthread_mutex_unlock(&registry_lock);
}

void stats_slab_totals(const struct thread_stats *agg, struct slab_stats *o)
{
    memset(o, 0, sizeof(*o));
    for (int c = 0; c < STATS_MAX_CLASSES; c++) {
        const struct slab_stats *s = &agg->slab[c];
        SLAB_STATS_FIELDS(SLAB_SUM)
    }
}

void stats_reset(void)
{
    pthread_mutex_lock(&registry_lock);
    sum_raw(&baseline);
    pthread_mutex_unlock(&registry_lock);
    __atomic_store_n(&server.total_conns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&server.rejected_conns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&server.listen_disabled_num, 0, __ATOMIC_RELAXED);
}

void stats_conn_opened(void)
{
    uint64_t curr = __atomic_add_fetch(&server.curr_conns, 1, __ATOMIC_RELAXED);
    uint64_t seen = __atomic_load_n(&server.conn_structures, __ATOMIC_RELAXED);

    __atomic_add_fetch(&server.total_conns, 1, __ATOMIC_RELAXED);
    /* memcached's connection_structures: the most connections ever open at once */
    while (curr > seen && !__atomic_compare_exchange_n(&server.conn_structures, &seen, curr, false,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void stats_conn_closed(void)
{
    __atomic_sub_fetch(&server.curr_conns, 1, __ATOMIC_RELAXED);
}

void stats_conn_rejected(void)
{
    __atomic_add_fetch(&server.rejected_conns, 1, __ATOMIC_RELAXED);
}

void stats_listen_disabled(void)
{
    __atomic_add_fetch(&server.listen_disabled_num, 1, __ATOMIC_RELAXED);
}

void stats_set_accepting(int accepting)
{
    __atomic_store_n(&server.accepting_conns, accepting ? 1 : 0, __ATOMIC_RELAXED);
}

void stats_handshake_timeout(void)
{
    __atomic_add_fetch(&server.handshake_timeouts, 1, __ATOMIC_RELAXED);
}

void stats_server_snapshot(struct server_stats *out)
{
    out->curr_conns = __atomic_load_n(&server.curr_conns, __ATOMIC_RELAXED);
    out->total_conns = __atomic_load_n(&server.total_conns, __ATOMIC_RELAXED);
    out->rejected_conns = __atomic_load_n(&server.rejected_conns, __ATOMIC_RELAXED);
    out->conn_structures = __atomic_load_n(&server.conn_structures, __ATOMIC_RELAXED);
    out->listen_disabled_num = __atomic_load_n(&server.listen_disabled_num, __ATOMIC_RELAXED);
    out->accepting_conns = __atomic_load_n(&server.accepting_conns, __ATOMIC_RELAXED);
    out->handshake_timeouts = __atomic_load_n(&server.handshake_timeouts, __ATOMIC_RELAXED);
}
