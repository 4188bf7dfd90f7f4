/*
 * process_stats.c - the `stats` command family and the `stats detail`
 * per-prefix counters.
 *
 * Owns the order and names of every `stats` line (memcached 1.6.18's, so
 * scripts that scrape them keep working) and the prefix table. Counters
 * themselves belong to their modules: workers' request counters (stats.c),
 * storage (items.h snapshots), TLS (tls.h snapshot), connections (the
 * emit_conns hook). This file only reads and formats them.
 *
 * The prefix table is hashed like memcached's (murmur3 of the prefix, 256
 * buckets, newest first) so `stats detail dump` lists prefixes in the same
 * order. It is bounded (PREFIX_MAX entries); memcached's is not.
 *
 * Rejected: formatting into one malloc'd buffer like memcached's
 * append_stats (a second copy of every byte); lines are composed straight
 * into the reply queue and rewound if the queue runs out of memory.
 */
#include "process_stats.h"

#include "clock.h"
#include "config.h"
#include "items.h"
#include "proto_text.h"
#include "resp.h"
#include "settings.h"
#include "stats.h"
#include "tls.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PREFIX_BUCKETS 256
#define PREFIX_MAX     65536
#define CACHEDUMP_MAX  (2 * 1024 * 1024) /* memcached caps a dump at 2 MB of text */

static struct process_hooks hooks;

/* ---- emitting lines --------------------------------------------------- */

struct emitter {
    struct session *s;
    struct resp_mark start;
    bool failed;
};

static void emitter_init(struct emitter *e, struct session *s)
{
    e->s = s;
    e->failed = false;
    resp_mark(&s->out, &e->start);
}

/* stats_emit_fn: one "STAT name value" line. */
static void emit_line(void *ctx, const char *name, const char *val)
{
    struct emitter *e = ctx;
    char *p;

    if (e->failed) {
        return;
    }
    p = resp_reserve(&e->s->out, PROTO_STAT_LINE_LEN(strlen(name), strlen(val)));
    if (p == NULL) {
        e->failed = true;
        return;
    }
    resp_commit(&e->s->out, proto_compose_stat(p, name, val));
}

static void emit_fmt(struct emitter *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void emit_fmt(struct emitter *e, const char *name, const char *fmt, ...)
{
    char val[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    emit_line(e, name, val);
}

static void emit_u64(struct emitter *e, const char *name, uint64_t v)
{
    emit_fmt(e, name, "%llu", (unsigned long long)v);
}

/* End the listing ("END" unless !with_end); on allocation failure replace it by an error. */
static enum process_status emitter_finish(struct emitter *e, bool with_end)
{
    if (!e->failed && with_end && !resp_add(&e->s->out, "END\r\n", 5)) {
        e->failed = true;
    }
    if (e->failed) {
        resp_rewind(&e->s->out, &e->start);
        return process_reply(e->s, PROTO_REPLY_NO_MEMORY_STATS, false);
    }
    return PROCESS_OK;
}

/* ---- general `stats` -------------------------------------------------- */

/* Everything the general listing reads, taken once. */
struct snapshot {
    struct thread_stats agg;
    struct slab_stats slab;
    struct server_stats server;
    struct storage_stats storage;
    struct tls_stats tls;
};

static void emit_process(struct emitter *e)
{
    struct rusage ru;
    uint32_t now = clock_now();
    const char *libevent = hooks.libevent_version != NULL ? hooks.libevent_version : "";

    memset(&ru, 0, sizeof(ru));
    getrusage(RUSAGE_SELF, &ru);
    emit_fmt(e, "pid", "%ld", (long)getpid());
    /* clock_now() starts at 2, as memcached's uptime does. */
    emit_fmt(e, "uptime", "%u", now);
    emit_fmt(e, "time", "%ld", (long)(clock_epoch() + (time_t)now));
    emit_line(e, "version", PACKAGE_VERSION);
    emit_line(e, "libevent", libevent);
    emit_fmt(e, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    emit_fmt(e, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
    emit_fmt(e, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
}

static void emit_connections(struct emitter *e, const struct snapshot *sn)
{
    emit_fmt(e, "max_connections", "%d", settings->maxconns);
    /* Listeners count as connections and memcached subtracts one (its own listener). */
    emit_u64(e, "curr_connections", sn->server.curr_conns - 1);
    emit_u64(e, "total_connections", sn->server.total_conns);
    if (settings->maxconns_fast) {
        emit_u64(e, "rejected_connections", sn->server.rejected_conns);
    }
    emit_u64(e, "connection_structures", sn->server.conn_structures);
    emit_u64(e, "response_obj_oom", sn->agg.response_obj_oom);
    /* Not tracked by our connection layer (its buffers are pooled per thread). */
    emit_u64(e, "response_obj_count", 0);
    emit_u64(e, "response_obj_bytes", 0);
    emit_u64(e, "read_buf_count", 0);
    emit_u64(e, "read_buf_bytes", 0);
    emit_u64(e, "read_buf_bytes_free", 0);
    emit_u64(e, "read_buf_oom", sn->agg.read_buf_oom);
    /*
     * Ours (the reference never closes a slow reader). Printed once it is
     * not 0, so a server that never hit the limit lists exactly memcached's
     * names: client test suites count them.
     */
    if (sn->agg.conns_output_overflow != 0) {
        emit_u64(e, "conns_output_overflow", sn->agg.conns_output_overflow);
    }
    /* memcached reserves five descriptors per worker thread. */
    emit_fmt(e, "reserved_fds", "%d", 5 * settings->num_threads);
}

static void emit_commands(struct emitter *e, const struct snapshot *sn)
{
    const struct thread_stats *a = &sn->agg;
    const struct slab_stats *sl = &sn->slab;

    emit_u64(e, "cmd_get", a->get_cmds);
    emit_u64(e, "cmd_set", sl->set_cmds);
    emit_u64(e, "cmd_flush", a->flush_cmds);
    emit_u64(e, "cmd_touch", a->touch_cmds);
    emit_u64(e, "cmd_meta", a->meta_cmds);
    emit_u64(e, "get_hits", sl->get_hits);
    emit_u64(e, "get_misses", a->get_misses);
    emit_u64(e, "get_expired", a->get_expired);
    emit_u64(e, "get_flushed", a->get_flushed);
    emit_u64(e, "delete_misses", a->delete_misses);
    emit_u64(e, "delete_hits", sl->delete_hits);
    emit_u64(e, "incr_misses", a->incr_misses);
    emit_u64(e, "incr_hits", sl->incr_hits);
    emit_u64(e, "decr_misses", a->decr_misses);
    emit_u64(e, "decr_hits", sl->decr_hits);
    emit_u64(e, "cas_misses", a->cas_misses);
    emit_u64(e, "cas_hits", sl->cas_hits);
    emit_u64(e, "cas_badval", sl->cas_badval);
    emit_u64(e, "touch_hits", sl->touch_hits);
    emit_u64(e, "touch_misses", a->touch_misses);
    emit_u64(e, "store_too_large", a->store_too_large);
    emit_u64(e, "store_no_memory", a->store_no_memory);
    emit_u64(e, "auth_cmds", a->auth_cmds);
    emit_u64(e, "auth_errors", a->auth_errors);
    if (settings->idle_timeout > 0) {
        emit_u64(e, "idle_kicks", sn->agg.idle_kicks);
    }
    emit_u64(e, "bytes_read", a->bytes_read);
    emit_u64(e, "bytes_written", a->bytes_written);
}

static void emit_server(struct emitter *e, const struct snapshot *sn)
{
    emit_u64(e, "limit_maxbytes", sn->storage.limit_maxbytes);
    emit_u64(e, "accepting_conns", sn->server.accepting_conns);
    emit_u64(e, "listen_disabled_num", sn->server.listen_disabled_num);
    emit_u64(e, "time_in_listen_disabled_us", 0);
    emit_fmt(e, "threads", "%d", settings->num_threads);
    emit_u64(e, "conn_yields", sn->agg.conn_yields);
    emit_u64(e, "hash_power_level", sn->storage.hash_power_level);
    emit_u64(e, "hash_bytes", sn->storage.hash_bytes);
    emit_u64(e, "hash_is_expanding", sn->storage.hash_is_expanding);
}

/* Background machinery memcached has and we do not (no page mover, crawler or log threads). */
static void emit_reassign(struct emitter *e, const struct snapshot *sn)
{
    const struct storage_stats *st = &sn->storage;

    if (!settings->slab_reassign) {
        return;
    }
    emit_u64(e, "slab_reassign_rescues", 0);
    emit_u64(e, "slab_reassign_chunk_rescues", 0);
    emit_u64(e, "slab_reassign_evictions_nomem", st->slab_reassign_evictions_nomem);
    emit_u64(e, "slab_reassign_inline_reclaim", 0);
    emit_u64(e, "slab_reassign_busy_items", st->slab_reassign_busy_items);
    emit_u64(e, "slab_reassign_busy_deletes", 0);
    emit_u64(e, "slab_reassign_running", 0);
    emit_u64(e, "slabs_moved", st->slabs_moved);
}

static void emit_background(struct emitter *e, const struct snapshot *sn)
{
    static const char *const logs[] = {
        "log_worker_dropped", "log_worker_written", "log_watcher_skipped",
        "log_watcher_sent",   "log_watchers",
    };

    emit_reassign(e, sn);
    if (settings->lru_crawler) {
        emit_u64(e, "lru_crawler_running", 0);
        emit_u64(e, "lru_crawler_starts", 0);
    }
    if (settings->lru_maintainer_thread) {
        emit_u64(e, "lru_maintainer_juggles", 0);
    }
    emit_u64(e, "malloc_fails", sn->storage.malloc_fails + sn->agg.malloc_fails);
    for (size_t i = 0; i < sizeof(logs) / sizeof(*logs); i++) {
        emit_u64(e, logs[i], 0);
    }
}

/*
 * The reference prints ssl_new_sessions (only with the session cache) before
 * the handshake errors; ssl_proto_errors and ssl_handshake_timeouts (stalled
 * handshakes closed, also counted in ssl_handshake_errors) are ours and come
 * last.
 */
static void emit_tls(struct emitter *e, const struct snapshot *sn)
{
    if (!settings->ssl_enabled) {
        return;
    }
    if (settings->ssl_session_cache) {
        emit_u64(e, "ssl_new_sessions", sn->tls.ssl_new_sessions);
    }
    emit_u64(e, "ssl_handshake_errors", sn->tls.ssl_handshake_errors);
    emit_u64(e, "time_since_server_cert_refresh", sn->tls.time_since_server_cert_refresh);
    emit_u64(e, "ssl_proto_errors", sn->tls.ssl_proto_errors);
    emit_u64(e, "ssl_handshake_timeouts", sn->server.handshake_timeouts);
}

static void emit_items(struct emitter *e, const struct snapshot *sn)
{
    const struct storage_stats *st = &sn->storage;

    emit_u64(e, "unexpected_napi_ids", 0);
    emit_u64(e, "round_robin_fallback", 0);
    emit_u64(e, "bytes", st->bytes);
    emit_u64(e, "curr_items", st->curr_items);
    emit_u64(e, "total_items", st->total_items);
    emit_u64(e, "slab_global_page_pool", st->slab_global_page_pool);
    emit_u64(e, "expired_unfetched", st->expired_unfetched);
    emit_u64(e, "evicted_unfetched", st->evicted_unfetched);
    emit_u64(e, "evicted_active", st->evicted_active);
    emit_u64(e, "evictions", st->evictions);
    emit_u64(e, "reclaimed", st->reclaimed);
    emit_u64(e, "crawler_reclaimed", 0);
    emit_u64(e, "crawler_items_checked", 0);
    emit_u64(e, "lrutail_reflocked", 0);
    if (settings->lru_maintainer_thread) {
        emit_u64(e, "moves_to_cold", 0);
        emit_u64(e, "moves_to_warm", 0);
        emit_u64(e, "moves_within_lru", 0);
        emit_u64(e, "direct_reclaims", 0);
        emit_u64(e, "lru_bumps_dropped", 0);
    }
}

static enum process_status stats_general(struct session *s)
{
    struct snapshot *sn = calloc(1, sizeof(*sn));
    struct emitter e;

    if (sn == NULL) {
        return process_reply(s, PROTO_REPLY_NO_MEMORY_STATS, false);
    }
    stats_aggregate(&sn->agg);
    stats_slab_totals(&sn->agg, &sn->slab);
    stats_server_snapshot(&sn->server);
    storage_stats_snapshot(&sn->storage);
    if (settings->ssl_enabled) {
        tls_stats_snapshot(&sn->tls);
    }
    emitter_init(&e, s);
    emit_process(&e);
    emit_connections(&e, sn);
    emit_commands(&e, sn);
    emit_server(&e, sn);
    emit_background(&e, sn);
    emit_tls(&e, sn);
    emit_items(&e, sn);
    free(sn);
    return emitter_finish(&e, true);
}

/* ---- `stats detail`: per-prefix counters ------------------------------- */

enum { DETAIL_GET, DETAIL_HIT, DETAIL_SET, DETAIL_DEL };

struct prefix_stats {
    struct prefix_stats *next;
    uint64_t counts[4]; /* DETAIL_* */
    size_t len;
    char name[];
};

static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prefix_stats *prefix_buckets[PREFIX_BUCKETS];
static size_t prefix_count;
static bool detail_enabled; /* atomic: `stats detail on|off` */
static char prefix_delimiter = ':';

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t murmur3_mix(uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = rotl32(k, 15);
    return k * 0x1b873593u;
}

/* MurmurHash3 x86_32, seed 0: memcached's default hash, which orders its prefix dump. */
static uint32_t murmur3_32(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    size_t nblocks = len / 4;
    uint32_t h = 0;
    uint32_t k = 0;

    for (size_t i = 0; i < nblocks; i++) {
        k = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
            (uint32_t)p[4 * i + 3] << 24;
        h ^= murmur3_mix(k);
        h = rotl32(h, 13) * 5 + 0xe6546b64u;
    }
    k = 0;
    switch (len & 3) {
    case 3:
        k ^= (uint32_t)p[4 * nblocks + 2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t)p[4 * nblocks + 1] << 8;
        /* fall through */
    case 1:
        k ^= p[4 * nblocks];
        h ^= murmur3_mix(k);
        break;
    default:
        break;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* The counters of the key's prefix, created on first use; NULL if the key has no delimiter. */
static struct prefix_stats *prefix_find_locked(const char *key, size_t nkey)
{
    const char *d = memchr(key, prefix_delimiter, nkey);
    size_t len;
    uint32_t b;
    struct prefix_stats *p;

    if (d == NULL) {
        return NULL;
    }
    len = (size_t)(d - key);
    b = murmur3_32(key, len) % PREFIX_BUCKETS;
    for (p = prefix_buckets[b]; p != NULL; p = p->next) {
        if (p->len == len && memcmp(p->name, key, len) == 0) {
            return p;
        }
    }
    if (prefix_count >= PREFIX_MAX || (p = calloc(1, sizeof(*p) + len + 1)) == NULL) {
        return NULL;
    }
    memcpy(p->name, key, len);
    p->len = len;
    p->next = prefix_buckets[b];
    prefix_buckets[b] = p;
    prefix_count++;
    return p;
}

static void detail_record(const char *key, size_t nkey, int what, bool hit)
{
    struct prefix_stats *p;

    if (!__atomic_load_n(&detail_enabled, __ATOMIC_RELAXED)) {
        return;
    }
    pthread_mutex_lock(&prefix_lock);
    p = prefix_find_locked(key, nkey);
    if (p != NULL) {
        p->counts[what]++;
        if (hit) {
            p->counts[DETAIL_HIT]++;
        }
    }
    pthread_mutex_unlock(&prefix_lock);
}

void process_detail_get(const char *key, size_t nkey, bool hit)
{
    detail_record(key, nkey, DETAIL_GET, hit);
}

void process_detail_set(const char *key, size_t nkey)
{
    detail_record(key, nkey, DETAIL_SET, false);
}

void process_detail_delete(const char *key, size_t nkey)
{
    detail_record(key, nkey, DETAIL_DEL, false);
}

static void detail_clear(void)
{
    pthread_mutex_lock(&prefix_lock);
    for (int b = 0; b < PREFIX_BUCKETS; b++) {
        while (prefix_buckets[b] != NULL) {
            struct prefix_stats *p = prefix_buckets[b];
            prefix_buckets[b] = p->next;
            free(p);
        }
    }
    prefix_count = 0;
    pthread_mutex_unlock(&prefix_lock);
}

static enum process_status detail_dump(struct session *s)
{
    struct emitter e;

    emitter_init(&e, s);
    pthread_mutex_lock(&prefix_lock);
    for (int b = 0; b < PREFIX_BUCKETS && !e.failed; b++) {
        for (struct prefix_stats *p = prefix_buckets[b]; p != NULL; p = p->next) {
            char *dst = resp_reserve(&s->out, PROTO_DETAIL_LINE_MAX(p->len));
            if (dst == NULL) {
                e.failed = true;
                break;
            }
            resp_commit(&s->out, proto_compose_detail(dst, p->name, p->len, p->counts));
        }
    }
    pthread_mutex_unlock(&prefix_lock);
    return emitter_finish(&e, true);
}

/* ---- sub-commands ----------------------------------------------------- */

void process_stats_setup(const struct process_hooks *h)
{
    hooks = *h;
    prefix_delimiter = settings->prefix_delimiter;
    __atomic_store_n(&detail_enabled, settings->detail_enabled, __ATOMIC_RELAXED);
}

static void emit_settings(struct emitter *e)
{
    struct settings_runtime rt;
    struct storage_stats st;

    storage_stats_snapshot(&st);
    rt.maxbytes = st.limit_maxbytes;
    rt.oldest = process_flush_oldest();
    rt.detail_enabled = __atomic_load_n(&detail_enabled, __ATOMIC_RELAXED);
    settings_emit_stats(&rt, emit_line, e);
}

struct dump_ctx {
    struct emitter *e;
    size_t used;
};

/* storage_dump_fn: one "ITEM ..." line; runs under the storage lock, so only copies. */
static bool dump_line(void *ctx, const char *key, size_t nkey, uint32_t value_len, uint64_t exptime)
{
    struct dump_ctx *d = ctx;
    char line[PROTO_CACHEDUMP_LINE_MAX];
    size_t n = proto_compose_cachedump(line, key, nkey, value_len, exptime);

    /* memcached stops when the line plus "END\r\n\0" would pass its 2 MB buffer. */
    if (d->used + n + 6 > CACHEDUMP_MAX) {
        return false;
    }
    if (!resp_add(&d->e->s->out, line, n)) {
        d->e->failed = true;
        return false;
    }
    d->used += n;
    return true;
}

static enum process_status stats_listing(struct session *s, const struct request *r)
{
    struct emitter e;
    struct thread_stats *agg;
    struct dump_ctx dump = {&e, 0};

    emitter_init(&e, s);
    switch (r->sub) {
    case PROTO_SUB_STATS_SETTINGS:
        emit_settings(&e);
        break;
    case PROTO_SUB_STATS_CACHEDUMP:
        storage_cachedump((unsigned)r->num, r->limit, dump_line, &dump);
        break;
    case PROTO_SUB_STATS_CONNS:
        if (hooks.emit_conns != NULL) {
            hooks.emit_conns(emit_line, &e);
        }
        break;
    case PROTO_SUB_STATS_ITEMS:
        storage_emit_items(emit_line, &e);
        break;
    case PROTO_SUB_STATS_SIZES:
        storage_emit_sizes(emit_line, &e);
        break;
    case PROTO_SUB_STATS_SLABS:
        agg = calloc(1, sizeof(*agg));
        if (agg == NULL) {
            e.failed = true;
            break;
        }
        stats_aggregate(agg);
        storage_emit_slabs(agg->slab, emit_line, &e);
        free(agg);
        break;
    default:
        /* extstore: we have none, so like the reference without ext_path: just END. */
        break;
    }
    return emitter_finish(&e, true);
}

/* `stats sizes_enable|disable`: memcached prints its status lines and no END. */
static enum process_status stats_sizes_toggle(struct session *s, bool enable)
{
    struct emitter e;

    emitter_init(&e, s);
    storage_sizes_toggle(enable, emit_line, &e);
    return emitter_finish(&e, false);
}

static enum process_status stats_detail(struct session *s, enum proto_sub sub)
{
    if (sub == PROTO_SUB_STATS_DETAIL_DUMP) {
        return detail_dump(s);
    }
    __atomic_store_n(&detail_enabled, sub == PROTO_SUB_STATS_DETAIL_ON, __ATOMIC_RELAXED);
    return process_reply(s, PROTO_REPLY_OK, false);
}

enum process_status process_stats(struct session *s, const struct request *r)
{
    if (r->sub == PROTO_SUB_STATS_CACHEDUMP && !settings->dump_enabled) {
        return process_reply(s, PROTO_REPLY_CACHEDUMP_DENIED, false);
    }
    if (r->reply != PROTO_REPLY_NONE) {
        return process_reply(s, r->reply, false);
    }
    switch (r->sub) {
    case PROTO_SUB_STATS_GENERAL:
        return stats_general(s);
    case PROTO_SUB_STATS_RESET:
        stats_reset();
        storage_stats_reset();
        detail_clear();
        return process_reply(s, PROTO_REPLY_RESET, false);
    case PROTO_SUB_STATS_DETAIL_ON:
    case PROTO_SUB_STATS_DETAIL_OFF:
    case PROTO_SUB_STATS_DETAIL_DUMP:
        return stats_detail(s, r->sub);
    case PROTO_SUB_STATS_SIZES_ENABLE:
    case PROTO_SUB_STATS_SIZES_DISABLE:
        return stats_sizes_toggle(s, r->sub == PROTO_SUB_STATS_SIZES_ENABLE);
    default:
        return stats_listing(s, r);
    }
}
