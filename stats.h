/*
 * stats.h - counters: per-worker request counters and server-wide
 * connection counters.
 *
 * Each worker owns one struct thread_stats and is its only writer; it bumps
 * fields with STATS_INCR, a relaxed load+store (no lock prefix, no shared
 * cache line with other workers). Readers aggregate with relaxed loads, so a
 * `stats` command sees each counter whole, never torn. `stats reset` records a
 * baseline instead of writing other threads' counters.
 *
 * Server-wide counters (connections) are atomics owned here. Storage and TLS
 * keep their own counters and expose snapshots; this module does not call
 * them, so it stays a leaf.
 */
#ifndef STATS_H
#define STATS_H

#include <stdint.h>

#define STATS_MAX_CLASSES 64 /* slab class ids 0..63, as memcached */

/* Per-worker counters, memcached's meaning; names are the struct fields. */
#define THREAD_STATS_FIELDS(X)                                                                     \
    X(get_cmds)                                                                                    \
    X(get_misses)                                                                                  \
    X(get_expired)                                                                                 \
    X(get_flushed)                                                                                 \
    X(touch_cmds)                                                                                  \
    X(touch_misses)                                                                                \
    X(delete_misses)                                                                               \
    X(incr_misses)                                                                                 \
    X(decr_misses)                                                                                 \
    X(cas_misses)                                                                                  \
    X(flush_cmds)                                                                                  \
    X(meta_cmds)                                                                                   \
    X(bytes_read)                                                                                  \
    X(bytes_written)                                                                               \
    X(conn_yields)                                                                                 \
    X(store_too_large)                                                                             \
    X(store_no_memory)                                                                             \
    X(auth_cmds)                                                                                   \
    X(auth_errors)                                                                                 \
    X(idle_kicks)                                                                                  \
    X(response_obj_oom)                                                                            \
    X(read_buf_oom)                                                                                \
    X(conns_output_overflow)                                                                       \
    X(malloc_fails)

/* Per-slab-class hit counters (for `stats slabs` and the totals in `stats`). */
#define SLAB_STATS_FIELDS(X)                                                                       \
    X(set_cmds)                                                                                    \
    X(get_hits)                                                                                    \
    X(touch_hits)                                                                                  \
    X(delete_hits)                                                                                 \
    X(cas_hits)                                                                                    \
    X(cas_badval)                                                                                  \
    X(incr_hits)                                                                                   \
    X(decr_hits)

#define STATS_FIELD_DECL(name) uint64_t name;

struct slab_stats {
    SLAB_STATS_FIELDS(STATS_FIELD_DECL)
};

struct thread_stats {
    THREAD_STATS_FIELDS(STATS_FIELD_DECL)
    struct slab_stats slab[STATS_MAX_CLASSES];
};

/* Single-writer increments: only the owning worker may use these. */
#define STATS_ADD(ts, field, n)                                                                    \
    __atomic_store_n(&(ts)->field, __atomic_load_n(&(ts)->field, __ATOMIC_RELAXED) + (n),          \
                     __ATOMIC_RELAXED)
#define STATS_INCR(ts, field)             STATS_ADD(ts, field, 1)
#define SLAB_STATS_INCR(ts, clsid, field) STATS_ADD(ts, slab[(clsid)].field, 1)

/* Register a worker's counters (at worker setup, before it serves). */
void stats_thread_register(struct thread_stats *ts);

/* Sum of all workers' counters since the last reset. */
void stats_aggregate(struct thread_stats *out);

/* Sum of the per-class counters of an aggregate (for totals like cmd_set). */
void stats_slab_totals(const struct thread_stats *agg, struct slab_stats *out);

/* Server-wide connection counters. */
struct server_stats {
    uint64_t curr_conns;
    uint64_t total_conns;
    uint64_t rejected_conns;
    uint64_t conn_structures;
    uint64_t listen_disabled_num;
    uint64_t accepting_conns;
    uint64_t handshake_timeouts;
};

void stats_conn_opened(void);
void stats_conn_closed(void);
void stats_conn_rejected(void);
void stats_listen_disabled(void);
void stats_set_accepting(int accepting);
void stats_handshake_timeout(void);
void stats_server_snapshot(struct server_stats *out);

/* `stats reset`: later aggregates count from now. */
void stats_reset(void);

#endif /* STATS_H */
