/*
 * process.c - executes classic text requests: parse a line with the pure
 * parser (proto_text), run it against storage (items), count it (stats) and
 * queue the reply text and values (resp).
 *
 * Owns the protocol half of a connection (struct session): which value is
 * being read, and which replies memcached would not have sent yet. It does
 * no I/O; the connection feeds it bytes and writes what it queues. Meta
 * commands go to process_meta.c, `stats` to process_stats.c.
 *
 * Wire behaviour follows memcached 1.6.18 as observed, including its odd
 * corners: noreply silences errors too, a failed `set` deletes the old value,
 * and when memcached hangs up or rejects a multi-get it drops every reply it
 * had not written yet.
 *
 * Rejected: executing straight from the tokenizer like memcached (parse
 * errors and execution interleave there; here the parser decides everything
 * syntactic first, so it can be tested and fuzzed alone), and copying values
 * into the reply queue (values are queued by reference with the item held).
 */
#include "process.h"

#include "clock.h"
#include "config.h"
#include "items.h"
#include "logger.h"
#include "process_meta.h"
#include "process_stats.h"
#include "proto_text.h"
#include "resp.h"
#include "settings.h"
#include "stats.h"
#include "tls.h"

#include <string.h>

#define OPT_NOREPLY   0x1u
#define MAX_VERBOSITY 2 /* memcached's MAX_VERBOSITY_LEVEL */

static const struct proto_limits limits = PROTO_LIMITS_DEFAULT;
static uint32_t flush_oldest; /* atomic */

uint32_t process_flush_oldest(void)
{
    return __atomic_load_n(&flush_oldest, __ATOMIC_RELAXED);
}

void process_setup(const struct process_hooks *hooks)
{
    process_stats_setup(hooks);
}

void session_init(struct session *s, struct thread_stats *stats, int conn_id, bool is_unix)
{
    memset(s, 0, sizeof(*s));
    resp_init(&s->out);
    s->stats = stats;
    s->conn_id = conn_id;
    s->is_unix = is_unix;
    /* Sessions start on their worker: storage counts expired/flushed finds there. */
    storage_thread_stats(stats);
}

void session_deinit(struct session *s)
{
    item_release(s->value_item);
    s->value_item = NULL;
    resp_deinit(&s->out);
}

/* ---- replies ---------------------------------------------------------- */

static enum process_status out_of_memory(struct session *s)
{
    size_t len;
    char *p;

    STATS_INCR(s->stats, response_obj_oom);
    proto_reply_text(PROTO_REPLY_NO_MEMORY, &len);
    p = resp_reserve(&s->out, len + 2);
    if (p == NULL) {
        LOG_INFO("<%d out of memory queueing a reply, closing", s->conn_id);
        return PROCESS_CLOSE;
    }
    resp_commit(&s->out, proto_compose_reply(p, PROTO_REPLY_NO_MEMORY));
    return PROCESS_OK;
}

enum process_status process_reply(struct session *s, enum proto_reply code, bool noreply)
{
    size_t len;
    char *p;

    if (logger_verbosity() > 1) {
        LOG_INFO(">%d %s%s", s->conn_id, noreply ? "NOREPLY " : "", proto_reply_text(code, &len));
    }
    if (noreply) {
        return PROCESS_OK;
    }
    proto_reply_text(code, &len);
    p = resp_reserve(&s->out, len + 2);
    if (p == NULL) {
        return out_of_memory(s);
    }
    resp_commit(&s->out, proto_compose_reply(p, code));
    return PROCESS_OK;
}

enum process_status process_reply_raw(struct session *s, const char *text, size_t len)
{
    if (!resp_add(&s->out, text, len)) {
        return out_of_memory(s);
    }
    return PROCESS_OK;
}

/*
 * Replies memcached would not have written yet: it writes after every
 * retrieval command and mn, and whenever its input runs dry. s->unsent marks
 * the last such point. Our connection also writes only when input runs dry
 * (or on a non-OK status), so a non-empty queue at process_input() has not
 * been written at all and the mark is still inside it.
 */
static void mark_flushed(struct session *s)
{
    resp_mark(&s->out, &s->unsent);
}

/* Defensive: the mark must still describe a prefix of an unwritten queue. */
static bool unsent_mark_usable(const struct session *s)
{
    const struct resp_queue *q = &s->out;
    const struct resp_mark *m = &s->unsent;

    return q->head == 0 && m->niov <= q->niov && m->nitems <= q->nitems && m->bytes <= q->bytes;
}

/*
 * memcached drops its unsent replies when it hangs up and when a multi-get
 * fails half way. `since` (the start of this request) is the fallback.
 */
static void drop_unsent(struct session *s, const struct resp_mark *since)
{
    resp_rewind(&s->out, unsent_mark_usable(s) ? &s->unsent : since);
}

/* ---- retrieval -------------------------------------------------------- */

static unsigned clsid_of(const struct item *it)
{
    return it->slabs_clsid < STATS_MAX_CLASSES ? it->slabs_clsid : 0;
}

/* gat/gats keys count as touches only, not in cmd_get (as the reference). */
static void count_get(struct session *s, const struct item *it, bool touch)
{
    if (touch) {
        STATS_INCR(s->stats, touch_cmds);
        if (it != NULL) {
            SLAB_STATS_INCR(s->stats, clsid_of(it), touch_hits);
        } else {
            STATS_INCR(s->stats, touch_misses);
        }
        return;
    }
    STATS_INCR(s->stats, get_cmds);
    if (it != NULL) {
        SLAB_STATS_INCR(s->stats, clsid_of(it), get_hits);
    } else {
        STATS_INCR(s->stats, get_misses);
    }
}

/* Queue "VALUE ..." and the value bytes by reference; takes over the item reference. */
static bool queue_value(struct session *s, struct item *it, bool with_cas)
{
    char *p = resp_reserve(&s->out, PROTO_VALUE_HEADER_MAX);
    size_t off = 0;

    if (p == NULL) {
        item_release(it);
        return false;
    }
    resp_commit(&s->out, proto_compose_value(p, item_key(it), it->nkey, it->client_flags,
                                             it->nbytes - 2, with_cas, it->cas));
    if (!resp_hold_item(&s->out, it)) {
        item_release(it);
        return false;
    }
    while (off < it->nbytes) {
        char *seg;
        size_t n = item_value_segment(it, off, &seg);
        if (n == 0 || !resp_add_ref(&s->out, seg, n)) {
            return false;
        }
        off += n;
    }
    return true;
}

static bool get_one(struct session *s, const char *key, size_t nkey, const struct request *r,
                    uint32_t exptime)
{
    bool touch = r->cmd == PROTO_CMD_GAT || r->cmd == PROTO_CMD_GATS;
    bool with_cas = r->cmd == PROTO_CMD_GETS || r->cmd == PROTO_CMD_GATS;
    enum get_result why = GET_MISS;
    struct item *it;

    it = touch ? item_touch(key, nkey, exptime, &why) : item_get(key, nkey, &why);
    process_detail_get(key, nkey, it != NULL);
    count_get(s, it, touch);
    if (it == NULL) {
        return true;
    }
    LOG_INFO(">%d sending key %.*s", s->conn_id, (int)nkey, key);
    return queue_value(s, it, with_cas);
}

/* A multi-get that cannot finish: memcached drops its unsent replies first. */
static enum process_status get_fail(struct session *s, const struct resp_mark *since,
                                    enum proto_reply code)
{
    if (code == PROTO_REPLY_NO_MEMORY_GET) {
        STATS_INCR(s->stats, response_obj_oom);
    }
    drop_unsent(s, since);
    return process_reply(s, code, false);
}

static enum process_status exec_get(struct session *s, const struct request *r, const char *buf,
                                    const struct resp_mark *since)
{
    bool touch = r->cmd == PROTO_CMD_GAT || r->cmd == PROTO_CMD_GATS;
    uint32_t exptime = touch ? clock_exptime(r->exptime) : 0;
    size_t pos = r->first_key < r->ntokens ? r->tokens[r->first_key].off : r->line.len;
    struct proto_token key;

    /* Keys are taken one by one, so those before a bad key were looked up (as memcached). */
    while (proto_next_word(buf, r->line.len, &pos, &key)) {
        if (!proto_key_ok(key.len, &limits)) {
            return get_fail(s, since, PROTO_REPLY_BAD_FORMAT);
        }
        if (!get_one(s, buf + key.off, key.len, r, exptime)) {
            return get_fail(s, since, PROTO_REPLY_NO_MEMORY_GET);
        }
    }
    if (!resp_add(&s->out, "END\r\n", 5)) {
        return get_fail(s, since, PROTO_REPLY_NO_MEMORY_GET);
    }
    LOG_INFO(">%d END", s->conn_id);
    mark_flushed(s);
    return PROCESS_OK;
}

/* ---- storage ---------------------------------------------------------- */

static enum store_op store_op_of(int cmd)
{
    switch (cmd) {
    case PROTO_CMD_ADD:
        return STORE_ADD;
    case PROTO_CMD_REPLACE:
        return STORE_REPLACE;
    case PROTO_CMD_APPEND:
        return STORE_APPEND;
    case PROTO_CMD_PREPEND:
        return STORE_PREPEND;
    case PROTO_CMD_CAS:
        return STORE_CAS;
    default:
        return STORE_SET;
    }
}

/* The value could not be allocated: reply, then discard the value bytes. */
static enum process_status store_refused(struct session *s, const struct request *r,
                                         const char *key, enum item_alloc_status why)
{
    enum proto_reply code = PROTO_REPLY_NO_MEMORY_STORE;
    enum process_status st;

    if (why == ITEM_ALLOC_TOO_LARGE) {
        STATS_INCR(s->stats, store_too_large);
        code = PROTO_REPLY_TOO_LARGE;
    } else {
        STATS_INCR(s->stats, store_no_memory);
    }
    /* Quirk: a set that cannot be stored must not leave the old value readable. */
    if (r->cmd == PROTO_CMD_SET) {
        (void)item_delete(key, r->key.len, 0);
    }
    st = process_reply(s, code, r->noreply);
    if (st != PROCESS_OK) {
        return st;
    }
    s->swallow = (size_t)r->vlen + 2;
    return PROCESS_SWALLOW;
}

static enum process_status exec_store(struct session *s, const struct request *r, const char *buf)
{
    const char *key = buf + r->key.off;
    size_t nbytes = (size_t)r->vlen + 2;
    enum item_alloc_status why = ITEM_ALLOC_OK;
    struct item *it;

    process_detail_set(key, r->key.len);
    it = item_alloc(key, r->key.len, r->flags, clock_exptime(r->exptime), nbytes, &why);
    if (it == NULL) {
        return store_refused(s, r, key, why);
    }
    item_release(s->value_item);
    s->value_item = it;
    s->value_len = nbytes;
    s->value_cmd = (int)r->cmd;
    s->value_cas = r->cas;
    s->value_opts = r->noreply ? OPT_NOREPLY : 0;
    return PROCESS_READ_VALUE;
}

size_t process_value_dest(struct session *s, size_t offset, char **ptr)
{
    return item_value_segment(s->value_item, offset, ptr);
}

static char value_byte(const struct item *it, size_t off)
{
    char *p;

    return item_value_segment(it, off, &p) > 0 ? *p : '\0';
}

static enum proto_reply store_reply(struct session *s, struct item *it)
{
    bool is_cas = s->value_cmd == PROTO_CMD_CAS;

    switch (item_store(it, store_op_of(s->value_cmd), s->value_cas, NULL)) {
    case STORE_STORED:
        if (is_cas) {
            SLAB_STATS_INCR(s->stats, clsid_of(it), cas_hits);
        }
        return PROTO_REPLY_STORED;
    case STORE_EXISTS:
        if (is_cas) {
            SLAB_STATS_INCR(s->stats, clsid_of(it), cas_badval);
        }
        return PROTO_REPLY_EXISTS;
    case STORE_NOT_FOUND:
        if (is_cas) {
            STATS_INCR(s->stats, cas_misses);
        }
        return PROTO_REPLY_NOT_FOUND;
    default:
        /* memcached answers NOT_STORED when append/prepend cannot allocate. */
        return PROTO_REPLY_NOT_STORED;
    }
}

enum process_status process_value_done(struct session *s)
{
    struct item *it = s->value_item;
    bool noreply = (s->value_opts & OPT_NOREPLY) != 0;
    enum proto_reply code = PROTO_REPLY_BAD_CHUNK;

    if (s->value_cmd == PROCESS_META_VALUE_CMD) {
        return process_meta_value_done(s);
    }
    s->value_item = NULL;
    if (it == NULL) {
        return PROCESS_OK;
    }
    SLAB_STATS_INCR(s->stats, clsid_of(it), set_cmds);
    /* Quirk: exactly len+2 bytes were read; if they do not end in "\r\n" the
     * value is refused and whatever follows is parsed as the next command. */
    if (value_byte(it, it->nbytes - 2) == '\r' && value_byte(it, it->nbytes - 1) == '\n') {
        code = store_reply(s, it);
    }
    item_release(it);
    return process_reply(s, code, noreply);
}

/* ---- single-key commands ---------------------------------------------- */

static void count_delta_hit(struct session *s, struct item *it, bool incr)
{
    unsigned cls = it != NULL ? clsid_of(it) : 0;

    if (incr) {
        SLAB_STATS_INCR(s->stats, cls, incr_hits);
    } else {
        SLAB_STATS_INCR(s->stats, cls, decr_hits);
    }
    item_release(it);
}

static enum process_status exec_arith(struct session *s, const struct request *r, const char *buf)
{
    bool incr = r->cmd == PROTO_CMD_INCR;
    uint64_t value = 0;
    struct item *it = NULL;
    char *p;

    switch (item_delta_ex(buf + r->key.off, r->key.len, incr, r->num, 0, &value, NULL, &it)) {
    case DELTA_OK:
        count_delta_hit(s, it, incr);
        if (r->noreply) {
            return PROCESS_OK;
        }
        p = resp_reserve(&s->out, 22);
        if (p == NULL) {
            return out_of_memory(s);
        }
        resp_commit(&s->out, proto_compose_u64_line(p, value));
        return PROCESS_OK;
    case DELTA_NON_NUMERIC:
        return process_reply(s, PROTO_REPLY_NON_NUMERIC, r->noreply);
    case DELTA_NO_MEMORY:
        return process_reply(s, PROTO_REPLY_NO_MEMORY, r->noreply);
    case DELTA_NOT_FOUND:
        if (incr) {
            STATS_INCR(s->stats, incr_misses);
        } else {
            STATS_INCR(s->stats, decr_misses);
        }
        return process_reply(s, PROTO_REPLY_NOT_FOUND, r->noreply);
    default:
        item_release(it);
        return PROCESS_OK; /* cas mismatch cannot happen without a cas; memcached says nothing */
    }
}

static enum process_status exec_delete(struct session *s, const struct request *r, const char *buf)
{
    const char *key = buf + r->key.off;
    unsigned cls = 0;

    process_detail_delete(key, r->key.len);
    if (item_delete_ex(key, r->key.len, 0, &cls) == DELETE_DELETED) {
        SLAB_STATS_INCR(s->stats, cls < STATS_MAX_CLASSES ? cls : 0, delete_hits);
        return process_reply(s, PROTO_REPLY_DELETED, r->noreply);
    }
    STATS_INCR(s->stats, delete_misses);
    return process_reply(s, PROTO_REPLY_NOT_FOUND, r->noreply);
}

static enum process_status exec_touch(struct session *s, const struct request *r, const char *buf)
{
    enum get_result why = GET_MISS;
    struct item *it;

    it = item_touch(buf + r->key.off, r->key.len, clock_exptime(r->exptime), &why);
    STATS_INCR(s->stats, touch_cmds);
    if (it == NULL) {
        STATS_INCR(s->stats, touch_misses);
        return process_reply(s, PROTO_REPLY_NOT_FOUND, r->noreply);
    }
    SLAB_STATS_INCR(s->stats, clsid_of(it), touch_hits);
    item_release(it);
    return process_reply(s, PROTO_REPLY_TOUCHED, r->noreply);
}

/* ---- administrative commands ------------------------------------------ */

static enum process_status exec_flush(struct session *s, const struct request *r)
{
    uint32_t when;

    STATS_INCR(s->stats, flush_cmds);
    if (!settings->flush_enabled) {
        return process_reply(s, PROTO_REPLY_FLUSH_DENIED, r->noreply);
    }
    if (r->reply != PROTO_REPLY_NONE) {
        return process_reply(s, r->reply, r->noreply);
    }
    /* A delay <= 0 means now (memcached treats negative delays as 0). */
    when = r->exptime > 0 ? clock_exptime(r->exptime) : 0;
    item_flush(when);
    /* memcached's oldest_live, shown as `stats settings` oldest. */
    when = when != 0 ? when : clock_now();
    __atomic_store_n(&flush_oldest, settings->use_cas ? when - 1 : when, __ATOMIC_RELAXED);
    return process_reply(s, PROTO_REPLY_OK, r->noreply);
}

static enum process_status exec_shutdown(struct session *s, const struct request *r,
                                         const struct resp_mark *since)
{
    if (!settings->shutdown_command) {
        return process_reply(s, PROTO_REPLY_SHUTDOWN_DENIED, false);
    }
    if (r->reply != PROTO_REPLY_NONE) {
        return process_reply(s, r->reply, false);
    }
    /* memcached closes at once: nothing queued before is written. */
    drop_unsent(s, since);
    LOG_WARN("<%d shutdown requested by client%s", s->conn_id,
             r->sub == PROTO_SUB_SHUTDOWN_GRACEFUL ? " (graceful)" : "");
    return PROCESS_SHUTDOWN;
}

static enum process_status exec_refresh_certs(struct session *s, const struct request *r)
{
    char err[1024];
    size_t n;

    if (!settings->ssl_enabled) {
        /* Sent even with noreply, as memcached's write_and_free() is. */
        return process_reply(s, PROTO_REPLY_TLS_DISABLED, false);
    }
    if (tls_refresh_certs(err, sizeof(err) - 2)) {
        return process_reply(s, PROTO_REPLY_OK, r->noreply);
    }
    n = strnlen(err, sizeof(err) - 2);
    memcpy(err + n, "\r\n", 2);
    return process_reply_raw(s, err, n + 2);
}

static enum process_status exec_version(struct session *s)
{
    static const char text[] = "VERSION " PACKAGE_VERSION "\r\n";

    return process_reply_raw(s, text, sizeof(text) - 1);
}

/*
 * slabs reassign. Storage moves pages on its own but has no call to move
 * one on request, so a valid request answers as a fresh reference does:
 * NOSPARE (no class has a spare page); src -1 ("any") finds none: BADCLASS.
 */
static enum proto_reply slabs_reassign_reply(const struct request *r)
{
    if (!settings->slab_reassign) {
        return PROTO_REPLY_REASSIGN_DISABLED;
    }
    if (r->reply != PROTO_REPLY_NONE) {
        return r->reply;
    }
    if (r->src < 0 || r->dst < 0 || r->src >= STATS_MAX_CLASSES || r->dst >= STATS_MAX_CLASSES) {
        return PROTO_REPLY_REASSIGN_BADCLASS;
    }
    return PROTO_REPLY_REASSIGN_NOSPARE;
}

static enum process_status exec_admin(struct session *s, const struct request *r)
{
    enum proto_reply code = r->reply;

    if (r->sub == PROTO_SUB_LRU_NEEDS_MAINTAINER && !settings->lru_maintainer_thread) {
        code = PROTO_REPLY_ERROR;
    } else if (r->sub == PROTO_SUB_SLABS_REASSIGN) {
        code = slabs_reassign_reply(r);
    }
    return process_reply(s, code, r->noreply);
}

static enum process_status exec_other(struct session *s, const struct request *r)
{
    switch (r->cmd) {
    case PROTO_CMD_VERSION:
        return exec_version(s);
    case PROTO_CMD_VERBOSITY:
        logger_set_verbosity(r->num > MAX_VERBOSITY ? MAX_VERBOSITY : (int)r->num);
        return process_reply(s, PROTO_REPLY_OK, r->noreply);
    case PROTO_CMD_QUIT:
        return PROCESS_CLOSE;
    case PROTO_CMD_CACHE_MEMLIMIT:
        if (!storage_set_memlimit((size_t)r->num * 1024 * 1024)) {
            return process_reply(s, PROTO_REPLY_MEMLIMIT_FAILED, r->noreply);
        }
        return process_reply(s, PROTO_REPLY_OK, r->noreply);
    case PROTO_CMD_REFRESH_CERTS:
        return exec_refresh_certs(s, r);
    default:
        return process_reply(s, PROTO_REPLY_ERROR, false);
    }
}

/* ---- dispatch --------------------------------------------------------- */

static enum process_status execute(struct session *s, const struct request *r, const char *buf,
                                   const struct resp_mark *since)
{
    /* Commands that check a setting before their syntax errors. */
    switch (r->cmd) {
    case PROTO_CMD_FLUSH_ALL:
        return exec_flush(s, r);
    case PROTO_CMD_SHUTDOWN:
        return exec_shutdown(s, r, since);
    case PROTO_CMD_STATS:
        return process_stats(s, r);
    case PROTO_CMD_ADMIN:
        return exec_admin(s, r);
    default:
        break;
    }
    if (r->reply != PROTO_REPLY_NONE) {
        return process_reply(s, r->reply, r->noreply);
    }
    switch (r->cmd) {
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS:
        return exec_get(s, r, buf, since);
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
    case PROTO_CMD_CAS:
        return exec_store(s, r, buf);
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR:
        return exec_arith(s, r, buf);
    case PROTO_CMD_DELETE:
        return exec_delete(s, r, buf);
    case PROTO_CMD_TOUCH:
        return exec_touch(s, r, buf);
    default:
        return exec_other(s, r);
    }
}

static enum process_status run_meta(struct session *s, const struct request *r, char *buf,
                                    size_t len, size_t *consumed)
{
    enum process_status st = process_meta(s, buf, len, consumed);

    /* memcached writes out everything queued when it answers mn. */
    if (st == PROCESS_OK && r->tokens[0].len == 2 && buf[r->tokens[0].off + 1] == 'n') {
        mark_flushed(s);
    }
    return st;
}

enum process_status process_input(struct session *s, char *buf, size_t len, size_t *consumed)
{
    struct request r;
    struct resp_mark since;

    *consumed = 0;
    if (resp_is_empty(&s->out)) {
        mark_flushed(s);
    }
    resp_mark(&s->out, &since);
    switch (proto_parse(&r, buf, len, &limits, consumed)) {
    case PROTO_INCOMPLETE:
        return PROCESS_NEED_MORE;
    case PROTO_CLOSE:
        /* memcached hangs up without writing what it had queued. */
        drop_unsent(s, &since);
        LOG_INFO("<%d closing: oversized line without newline or HTTP request", s->conn_id);
        return PROCESS_CLOSE;
    case PROTO_OK:
        break;
    }
    LOG_INFO("<%d %.*s", s->conn_id, (int)r.line.len, buf);
    if (r.cmd == PROTO_CMD_META) {
        *consumed = 0;
        return run_meta(s, &r, buf, len, consumed);
    }
    return execute(s, &r, buf, &since);
}
