/*
 * process_meta.c - executes the meta commands: mg ms md ma mn me.
 *
 * Owns the meta semantics on top of storage: return flags in request
 * order, quiet mode (q hides the "nothing to see" replies), vivify on miss
 * (N), early recache (R), invalidation (md I, ms I) and the win/stale
 * markers W X Z, base64 keys. Parsing is proto_meta.c's job; storage only
 * offers primitives, the multi-step sequences (look up, vivify, mark) run
 * here under storage_lock() so that exactly one client wins a token.
 *
 * Must not depend on: the connection or the transport. Replies go to
 * session->out; an ms value is read by the connection like a classic one.
 *
 * Reply lines are composed into a stack buffer while the storage lock is
 * held (the flags read and change item state in request order, like the
 * reference), and queued after unlocking, so no allocation happens under
 * the lock. Rejected: a per-flag callback table (the reference's output
 * differs per command, e.g. what a miss echoes, so small switches read
 * clearer), and composing straight into the reply queue under the lock.
 *
 * Every behaviour follows memcached 1.6.18 as observed, odd corners
 * included (each marked "Quirk:" here and pinned by t/meta_*.t).
 */
#include "process_meta.h"

#include "clock.h"
#include "items.h"
#include "proto_meta.h"
#include "proto_text.h"
#include "resp.h"
#include "stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#ifndef ITEM_KEY_BINARY
#define ITEM_KEY_BINARY 0x200 /* key was given base64: print it base64 (requests-meta.md) */
#endif

/* Longest reply line: "VA n", a base64 250-byte key, a 32-byte opaque, numbers. */
#define LINE_MAX 1024

/* session.value_opts bits for a pending ms */
#define MS_QUIET    0x1u
#define MS_STALE    0x2u /* I with a CAS compare: an older CAS stores a stale item */
#define MS_OP_SHIFT 8
#define MS_OP_MASK  0xffu

static const struct proto_limits limits = PROTO_LIMITS_DEFAULT;

/* ---- a bounded reply line --------------------------------------------- */

struct line {
    size_t len;
    char buf[LINE_MAX];
};

static void put(struct line *l, const char *s, size_t n)
{
    if (n > LINE_MAX - l->len) {
        n = LINE_MAX - l->len; /* cannot happen: LINE_MAX covers the longest line */
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* " c" style: a space and a flag letter. */
static void put_flag(struct line *l, char c)
{
    char t[2] = {' ', c};
    put(l, t, 2);
}

static void put_u64(struct line *l, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRIu64, v);
    put(l, t, (size_t)n);
}

/* " k<key>", base64 plus " b" for binary keys (memcached's META_KEY). */
static void put_key(struct line *l, const char *key, size_t nkey, bool binary)
{
    char enc[PROTO_B64_LEN(KEY_MAX_LENGTH)];

    put_flag(l, 'k');
    if (!binary) {
        put(l, key, nkey);
        return;
    }
    put(l, enc, proto_b64_encode(key, nkey, enc));
    put(l, " b", 2);
}

static void put_word(struct line *l, const char *buf, struct proto_token w)
{
    put(l, " ", 1);
    put(l, buf + w.off, w.len);
}

static void put_ttl(struct line *l, uint32_t exptime, uint32_t now)
{
    put_flag(l, 't');
    if (exptime == 0) {
        put(l, "-1", 2);
    } else {
        /* Quirk: unsigned, so an already-passed time prints as a huge number. */
        put_u64(l, (uint32_t)(exptime - now));
    }
}

/* ---- queueing --------------------------------------------------------- */

/* memcached's out_of_memory(): a short error if possible, else hang up. */
static enum process_status queue_oom(struct session *s, const struct resp_mark *since)
{
    static const char text[] = "SERVER_ERROR out of memory\r\n";

    STATS_INCR(s->stats, response_obj_oom);
    resp_rewind(&s->out, since);
    return resp_add(&s->out, text, sizeof(text) - 1) ? PROCESS_OK : PROCESS_CLOSE;
}

static enum process_status queue_text(struct session *s, const char *text, size_t len)
{
    struct resp_mark m;

    resp_mark(&s->out, &m);
    return resp_add(&s->out, text, len) ? PROCESS_OK : queue_oom(s, &m);
}

static enum process_status queue_line(struct session *s, struct line *l)
{
    put(l, "\r\n", 2);
    return queue_text(s, l->buf, l->len);
}

/* An error line; errors are sent even in quiet mode. */
static enum process_status queue_err(struct session *s, enum proto_meta_err err)
{
    struct line l = {0};
    size_t n;
    const char *t = proto_meta_err_text(err, &n);

    put(&l, t, n);
    return queue_line(s, &l);
}

static enum process_status queue_reply(struct session *s, enum proto_reply code)
{
    struct line l = {0};
    size_t n;
    const char *t = proto_reply_text(code, &n);

    put(&l, t, n);
    return queue_line(s, &l);
}

/* The reply line, then the value by reference; takes over the item reference. */
static enum process_status queue_value(struct session *s, struct line *l, struct item *it)
{
    struct resp_mark m;
    size_t off = 0;

    resp_mark(&s->out, &m);
    put(l, "\r\n", 2);
    if (!resp_add(&s->out, l->buf, l->len) || !resp_hold_item(&s->out, it)) {
        item_release(it);
        return queue_oom(s, &m);
    }
    while (off < it->nbytes) {
        char *seg;
        size_t n = item_value_segment(it, off, &seg);
        if (n == 0 || !resp_add_ref(&s->out, seg, n)) {
            return queue_oom(s, &m);
        }
        off += n;
    }
    return PROCESS_OK;
}

/* ---- shared helpers --------------------------------------------------- */

static unsigned clsid_of(const struct item *it)
{
    return it->slabs_clsid < STATS_MAX_CLASSES ? it->slabs_clsid : 0;
}

/* it_flags changes on linked items, under the lock, like items.c's own updates. */
static void flags_update_locked(struct item *it, uint16_t set, uint16_t clear)
{
    uint16_t f = (uint16_t)((item_flags(it) | set) & ~clear);

    __atomic_store_n(&it->it_flags, f, __ATOMIC_RELAXED);
}

/* Echo O and k in request order (the replies that carry no item). */
static bool put_opaque_and_key(struct line *l, const struct proto_meta_request *m, const char *buf)
{
    for (size_t i = m->first_flag; i < m->nwords; i++) {
        struct proto_token w = m->words[i];

        if (buf[w.off] == 'O') {
            if (w.len > PROTO_META_OPAQUE_MAX) {
                return false;
            }
            put_word(l, buf, w);
        } else if (buf[w.off] == 'k') {
            put_key(l, proto_meta_key(m, buf), m->nkey, m->is_binary);
        }
    }
    return true;
}

/* "<code><O/k echo>\r\n", unless quiet hides it. */
static enum process_status reply_code(struct session *s, const struct proto_meta_request *m,
                                      const char *buf, const char *code, bool hide)
{
    struct line l = {0};

    put_str(&l, code);
    if (!put_opaque_and_key(&l, m, buf)) {
        return queue_err(s, PROTO_META_ERR_LONG_OPAQUE);
    }
    if (hide) {
        return PROCESS_OK;
    }
    return queue_line(s, &l);
}

/* ---- mg --------------------------------------------------------------- */

struct mg_state {
    bool created; /* vivified by N on this request */
    bool ttl_set; /* T given: counted as a touch */
    bool bad_opaque;
};

/* N on a miss: an empty item, linked now, TTL set while walking the flags. */
static struct item *vivify_locked(const char *key, size_t nkey)
{
    enum item_alloc_status st;
    struct item *it = item_alloc_locked(key, nkey, 0, 0, 2, &st);
    char *v;

    if (it == NULL) {
        return NULL;
    }
    if (item_value_segment(it, 0, &v) >= 2) {
        memcpy(v, "\r\n", 2);
    }
    if (item_store_locked(it, STORE_ADD, 0, NULL) != STORE_STORED) {
        item_release_locked(it);
        return NULL;
    }
    return it;
}

/* One flag of a hit, in request order; false for an over-long opaque. */
static bool mg_flag_locked(struct line *l, const struct proto_meta_request *m, const char *buf,
                           struct proto_token w, struct item *it, struct mg_state *st, bool *won)
{
    uint16_t f = item_flags(it);
    uint32_t now = clock_now();

    switch (buf[w.off]) {
    case 'T':
        item_set_exptime_locked(it, clock_exptime(m->ttl));
        st->ttl_set = true;
        break;
    case 'N':
        if (st->created) {
            item_set_exptime_locked(it, clock_exptime(m->vivify_ttl));
            *won = true;
        }
        break;
    case 'R':
        if ((f & ITEM_TOKEN) == 0 && !st->created && item_exptime(it) != 0 &&
            item_exptime(it) < clock_exptime(m->recache_ttl)) {
            *won = true;
        }
        break;
    case 's':
        put_flag(l, 's');
        put_u64(l, it->nbytes - 2);
        break;
    case 't':
        put_ttl(l, item_exptime(it), now);
        break;
    case 'c':
        put_flag(l, 'c');
        put_u64(l, item_cas(it));
        break;
    case 'f':
        put_flag(l, 'f');
        put_u64(l, it->client_flags);
        break;
    case 'O':
        if (w.len > PROTO_META_OPAQUE_MAX) {
            return false;
        }
        put_word(l, buf, w);
        break;
    case 'k':
        put_key(l, item_key(it), it->nkey, (f & ITEM_KEY_BINARY) != 0);
        break;
    default:
        break;
    }
    return true;
}

/* Z (someone else won), X (stale; a stale item nobody won is won now), W. */
static void mg_markers_locked(struct line *l, struct item *it, bool won)
{
    uint16_t f = item_flags(it);

    if (f & ITEM_TOKEN) {
        put_flag(l, 'Z');
    }
    if (f & ITEM_STALE) {
        put_flag(l, 'X');
        won = won || (f & ITEM_TOKEN) == 0;
    }
    if (won) {
        put_flag(l, 'W');
        flags_update_locked(it, ITEM_TOKEN, 0);
    }
}

/*
 * The reply line of a hit. h and l report the state before this fetch, so
 * the fetch bookkeeping (bump) comes last; the reference skips it on an
 * error when it had taken the item for h/l/T/N/R.
 */
static void mg_hit_locked(struct line *l, const struct proto_meta_request *m, const char *buf,
                          struct item *it, struct mg_state *st)
{
    uint16_t f = item_flags(it);
    uint32_t la = clock_now() - it->time;
    bool won = false;

    if (proto_meta_has(m, 'v')) {
        put(l, "VA ", 3);
        put_u64(l, it->nbytes - 2);
    } else {
        put(l, "HD", 2);
    }
    for (size_t i = m->first_flag; i < m->nwords && !st->bad_opaque; i++) {
        struct proto_token w = m->words[i];
        if (buf[w.off] == 'h') {
            put(l, (f & ITEM_FETCHED) ? " h1" : " h0", 3);
        } else if (buf[w.off] == 'l') {
            put_flag(l, 'l');
            put_u64(l, la);
        } else {
            st->bad_opaque = !mg_flag_locked(l, m, buf, w, it, st, &won);
        }
    }
    if (!st->bad_opaque) {
        mg_markers_locked(l, it, won);
    }
    if (!proto_meta_has(m, 'u') &&
        !(st->bad_opaque &&
          (m->flags & (PROTO_META_FLAG('h') | PROTO_META_FLAG('l') | PROTO_META_FLAG('T') |
                       PROTO_META_FLAG('N') | PROTO_META_FLAG('R'))))) {
        item_bump_locked(it);
    }
}

static enum process_status mg_miss(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    STATS_INCR(s->stats, get_cmds);
    STATS_INCR(s->stats, get_misses);
    return reply_code(s, m, buf, "EN", proto_meta_has(m, 'q'));
}

static enum process_status exec_mg(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    const char *key = proto_meta_key(m, buf);
    struct mg_state st = {false, false, false};
    enum get_result why;
    struct line l;
    struct item *it;

    l.len = 0;
    storage_lock();
    it = item_peek_locked(key, m->nkey, &why);
    if (it == NULL && proto_meta_has(m, 'N')) {
        it = vivify_locked(key, m->nkey);
        st.created = it != NULL;
    }
    if (it != NULL) {
        mg_hit_locked(&l, m, buf, it, &st);
    }
    storage_unlock();
    if (it == NULL) {
        return mg_miss(s, m, buf);
    }
    if (st.bad_opaque) {
        item_release(it);
        return queue_err(s, PROTO_META_ERR_LONG_OPAQUE);
    }
    if (st.ttl_set) {
        STATS_INCR(s->stats, touch_cmds);
        SLAB_STATS_INCR(s->stats, clsid_of(it), touch_hits);
    } else {
        STATS_INCR(s->stats, get_cmds);
        SLAB_STATS_INCR(s->stats, clsid_of(it), get_hits);
    }
    if (!proto_meta_has(m, 'v')) {
        item_release(it);
        return queue_line(s, &l);
    }
    return queue_value(s, &l, it);
}

/* ---- ms --------------------------------------------------------------- */

static enum store_op ms_op(const struct proto_meta_request *m)
{
    switch (m->mode) {
    case 'E':
        return STORE_ADD;
    case 'A':
        return STORE_APPEND;
    case 'P':
        return STORE_PREPEND;
    case 'R':
        return proto_meta_has(m, 'C') ? STORE_CAS : STORE_REPLACE;
    default:
        return proto_meta_has(m, 'C') ? STORE_CAS : STORE_SET;
    }
}

/*
 * The return flags of ms are only known after the store (the CAS), so the
 * request's O, k and c are kept in order in s->value_meta: 'O' <len>
 * <bytes>, 'k', 'c'.
 */
static void ms_keep_flags(struct session *s, const struct proto_meta_request *m, const char *buf)
{
    size_t n = 0;

    for (size_t i = m->first_flag; i < m->nwords; i++) {
        struct proto_token w = m->words[i];
        char c = buf[w.off];

        if (c == 'O' && n + 2 + w.len <= sizeof(s->value_meta)) {
            s->value_meta[n++] = 'O';
            s->value_meta[n++] = (char)w.len;
            memcpy(s->value_meta + n, buf + w.off, w.len);
            n += w.len;
        } else if ((c == 'k' || c == 'c') && n < sizeof(s->value_meta)) {
            s->value_meta[n++] = c;
        }
    }
    s->value_meta_len = n;
}

/* The item could not be allocated: reply, drop the old value, discard the block. */
static enum process_status ms_refused(struct session *s, const struct proto_meta_request *m,
                                      const char *buf, enum item_alloc_status why)
{
    enum proto_reply code = PROTO_REPLY_NO_MEMORY_STORE;
    enum process_status st;

    if (why == ITEM_ALLOC_TOO_LARGE) {
        STATS_INCR(s->stats, store_too_large);
        code = PROTO_REPLY_TOO_LARGE;
    } else {
        STATS_INCR(s->stats, store_no_memory);
    }
    /* Quirk: whatever the mode, a refused ms removes the key's current value. */
    (void)item_delete(proto_meta_key(m, buf), m->nkey, 0);
    st = queue_reply(s, code);
    if (st != PROCESS_OK) {
        return st;
    }
    s->swallow = (size_t)m->vlen + 2;
    return PROCESS_SWALLOW;
}

static enum process_status exec_ms(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    size_t nbytes = (size_t)m->vlen + 2;
    enum item_alloc_status why = ITEM_ALLOC_OK;
    enum store_op op = ms_op(m);
    uint32_t exptime = proto_meta_has(m, 'T') ? clock_exptime(m->ttl) : 0;
    struct item *it;

    it = item_alloc(proto_meta_key(m, buf), m->nkey, m->client_flags, exptime, nbytes, &why);
    if (it == NULL) {
        return ms_refused(s, m, buf, why);
    }
    if (m->is_binary) {
        it->it_flags |= ITEM_KEY_BINARY; /* not linked yet: ours alone */
    }
    item_release(s->value_item);
    s->value_item = it;
    s->value_len = nbytes;
    s->value_cmd = PROCESS_META_VALUE_CMD;
    s->value_cas = m->cas;
    s->value_opts = ((unsigned)op << MS_OP_SHIFT) | (proto_meta_has(m, 'q') ? MS_QUIET : 0) |
                    (proto_meta_has(m, 'I') && op == STORE_CAS ? MS_STALE : 0);
    ms_keep_flags(s, m, buf);
    return PROCESS_READ_VALUE;
}

/*
 * ms I with C: a CAS older than the item's stores the new value as stale,
 * keeping the old TTL and win-token state (memcached do_store_item).
 */
static enum store_result ms_store_stale(struct item *it, uint64_t cas_in, uint64_t *cas_out)
{
    enum store_result res;
    enum get_result why;
    enum store_op op = STORE_CAS;
    struct item *old;

    storage_lock();
    old = item_peek_locked(item_key(it), it->nkey, &why);
    if (old != NULL && cas_in != 0 && cas_in < item_cas(old)) {
        it->exptime = item_exptime(old);
        it->it_flags |= (uint16_t)(ITEM_STALE | (item_flags(old) & ITEM_TOKEN));
        op = STORE_SET;
    }
    if (old != NULL) {
        item_release_locked(old);
    }
    res = item_store_locked(it, op, cas_in, cas_out);
    storage_unlock();
    return res;
}

static const char *ms_code(struct session *s, struct item *it, enum store_op op,
                           enum store_result res)
{
    bool is_cas = op == STORE_CAS;

    switch (res) {
    case STORE_STORED:
        if (is_cas) {
            SLAB_STATS_INCR(s->stats, clsid_of(it), cas_hits);
        }
        return "HD";
    case STORE_EXISTS:
        if (is_cas) {
            SLAB_STATS_INCR(s->stats, clsid_of(it), cas_badval);
        }
        return "EX";
    case STORE_NOT_FOUND:
        if (is_cas) {
            STATS_INCR(s->stats, cas_misses);
        }
        return "NF";
    default:
        return "NS";
    }
}

/* The kept O/k/c flags, with the stored CAS (0 when not stored). */
static void ms_put_flags(struct line *l, const struct session *s, const struct item *it,
                         uint64_t cas)
{
    size_t i = 0;

    while (i < s->value_meta_len) {
        char c = s->value_meta[i++];
        if (c == 'O') {
            size_t n = (unsigned char)s->value_meta[i++];
            put(l, " ", 1);
            put(l, s->value_meta + i, n);
            i += n;
        } else if (c == 'k') {
            put_key(l, item_key(it), it->nkey, (item_flags(it) & ITEM_KEY_BINARY) != 0);
        } else {
            put_flag(l, 'c');
            put_u64(l, cas);
        }
    }
}

static char value_byte(const struct item *it, size_t off)
{
    char *p;

    return item_value_segment(it, off, &p) > 0 ? *p : '\0';
}

enum process_status process_meta_value_done(struct session *s)
{
    struct item *it = s->value_item;
    enum store_op op = (enum store_op)((s->value_opts >> MS_OP_SHIFT) & MS_OP_MASK);
    enum store_result res;
    uint64_t cas = 0;
    struct line l = {0};

    s->value_item = NULL;
    s->value_cmd = 0;
    if (it == NULL) {
        return PROCESS_OK;
    }
    SLAB_STATS_INCR(s->stats, clsid_of(it), set_cmds);
    /* Exactly datalen + 2 bytes were read; without "\r\n" the rest is parsed as commands. */
    if (value_byte(it, it->nbytes - 2) != '\r' || value_byte(it, it->nbytes - 1) != '\n') {
        item_release(it);
        return queue_reply(s, PROTO_REPLY_BAD_CHUNK);
    }
    if (s->value_opts & MS_STALE) {
        res = ms_store_stale(it, s->value_cas, &cas);
    } else {
        res = item_store(it, op, s->value_cas, &cas);
    }
    put_str(&l, ms_code(s, it, op, res));
    ms_put_flags(&l, s, it, res == STORE_STORED ? cas : 0);
    item_release(it);
    if (res == STORE_STORED && (s->value_opts & MS_QUIET)) {
        return PROCESS_OK;
    }
    return queue_line(s, &l);
}

/* ---- md --------------------------------------------------------------- */

/* Look up, compare, then delete or invalidate; returns the reply code. */
static const char *md_locked(struct session *s, const struct proto_meta_request *m, const char *buf)
{
    enum get_result why;
    struct item *it = item_peek_locked(proto_meta_key(m, buf), m->nkey, &why);
    const char *code = "HD";

    if (it == NULL) {
        STATS_INCR(s->stats, delete_misses);
        return "NF";
    }
    /* Unlike the classic commands, C0 is compared too (and never matches). */
    if (proto_meta_has(m, 'C') && item_cas(it) != m->cas) {
        STATS_INCR(s->stats, delete_misses);
        code = "EX";
    } else if (proto_meta_has(m, 'I')) {
        if (proto_meta_has(m, 'T')) {
            item_set_exptime_locked(it, clock_exptime(m->ttl));
        }
        /* Stale, and the win token is free again so the next reader recaches. */
        flags_update_locked(it, ITEM_STALE, ITEM_TOKEN);
        (void)item_new_cas_locked(it);
    } else {
        SLAB_STATS_INCR(s->stats, clsid_of(it), delete_hits);
        item_unlink_locked(it);
    }
    item_release_locked(it);
    return code;
}

static enum process_status exec_md(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    const char *code;

    storage_lock();
    code = md_locked(s, m, buf);
    storage_unlock();
    return reply_code(s, m, buf, code, code[0] == 'H' && proto_meta_has(m, 'q'));
}

/* ---- ma --------------------------------------------------------------- */

struct ma_state {
    struct item *it; /* the updated or created item, referenced */
    bool created;
    const char *code; /* reply code when there is no item */
    uint64_t value;
    enum proto_reply err; /* NONE, or an error to send instead */
    bool create_failed;   /* N could not allocate the new item */
    bool moved;           /* the new number did not fit: storage made a new item */
    uint32_t exptime;     /* what t reports */
};

/* N on a miss: store J as the value (no delta applied). */
static void ma_create_locked(const struct proto_meta_request *m, const char *buf,
                             struct ma_state *st)
{
    enum item_alloc_status why;
    const char *key = proto_meta_key(m, buf);
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64 "\r\n", m->initial);
    struct item *it = item_alloc_locked(key, m->nkey, 0, 0, (size_t)n, &why);
    char *v;

    if (it == NULL) {
        st->create_failed = true;
        return;
    }
    if (item_value_segment(it, 0, &v) >= (size_t)n) {
        memcpy(v, num, (size_t)n);
    }
    if (item_store_locked(it, STORE_ADD, 0, NULL) != STORE_STORED) {
        item_release_locked(it);
        st->code = "NS";
        return;
    }
    st->it = it;
    st->created = true;
    st->value = m->initial;
}

/* The linked item now, without keeping a reference (the lock keeps it alive). */
static const struct item *current_locked(const char *key, size_t nkey)
{
    enum get_result why;
    struct item *it = item_peek_locked(key, nkey, &why);

    if (it != NULL) {
        item_release_locked(it); /* still linked, so not freed */
    }
    return it;
}

static void ma_apply_locked(struct session *s, const struct proto_meta_request *m, const char *buf,
                            bool incr, struct ma_state *st)
{
    const struct item *before = current_locked(proto_meta_key(m, buf), m->nkey);
    uint64_t cas;

    switch (item_delta_locked(proto_meta_key(m, buf), m->nkey, incr, m->delta, m->cas, &st->value,
                              &cas, &st->it)) {
    case DELTA_OK:
        st->moved = st->it != before;
        if (incr) {
            SLAB_STATS_INCR(s->stats, clsid_of(st->it), incr_hits);
        } else {
            SLAB_STATS_INCR(s->stats, clsid_of(st->it), decr_hits);
        }
        break;
    case DELTA_NON_NUMERIC:
        st->err = PROTO_REPLY_NON_NUMERIC;
        break;
    case DELTA_NO_MEMORY:
        st->err = PROTO_REPLY_NO_MEMORY;
        break;
    case DELTA_EXISTS:
        st->code = "EX";
        break;
    case DELTA_NOT_FOUND:
        if (proto_meta_has(m, 'N')) {
            ma_create_locked(m, buf, st);
        } else {
            if (incr) {
                STATS_INCR(s->stats, incr_misses);
            } else {
                STATS_INCR(s->stats, decr_misses);
            }
            st->code = "NF";
        }
        break;
    }
}

/* The reply line for an updated/created item; T and N apply in flag order. */
static bool ma_line_locked(struct line *l, const struct proto_meta_request *m, const char *buf,
                           struct ma_state *st, const char *num, size_t nlen)
{
    struct item *it = st->it;

    st->exptime = item_exptime(it);
    if (proto_meta_has(m, 'v')) {
        put(l, "VA ", 3);
        put_u64(l, nlen);
    } else {
        put(l, "HD", 2);
    }
    for (size_t i = m->first_flag; i < m->nwords; i++) {
        struct proto_token w = m->words[i];
        switch (buf[w.off]) {
        case 'c':
            put_flag(l, 'c');
            put_u64(l, item_cas(it));
            break;
        case 't':
            put_ttl(l, st->exptime, clock_now());
            break;
        case 'T':
            /* Quirk: when the number grew into a new item, the reference sets
             * the TTL on the replaced one: the reply shows it, the cache not. */
            st->exptime = clock_exptime(m->ttl);
            if (!st->moved) {
                item_set_exptime_locked(it, st->exptime);
            }
            break;
        case 'N':
            if (st->created) {
                st->exptime = clock_exptime(m->vivify_ttl);
                item_set_exptime_locked(it, st->exptime);
            }
            break;
        case 'O':
            if (w.len > PROTO_META_OPAQUE_MAX) {
                return false;
            }
            put_word(l, buf, w);
            break;
        case 'k':
            put_key(l, proto_meta_key(m, buf), m->nkey, m->is_binary);
            break;
        default:
            break;
        }
    }
    if (proto_meta_has(m, 'v')) {
        put(l, "\r\n", 2);
        put(l, num, nlen);
    }
    return true;
}

static enum process_status exec_ma(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    bool incr = m->mode != 'D' && m->mode != '-';
    struct ma_state st = {NULL, false, NULL, 0, PROTO_REPLY_NONE, false, false, 0};
    struct line l = {0};
    char num[24];
    size_t nlen;
    bool ok = true;

    storage_lock();
    ma_apply_locked(s, m, buf, incr, &st);
    if (st.it != NULL) {
        nlen = (size_t)snprintf(num, sizeof(num), "%" PRIu64, st.value);
        ok = ma_line_locked(&l, m, buf, &st, num, nlen);
        item_release_locked(st.it);
    }
    storage_unlock();
    if (st.err != PROTO_REPLY_NONE) {
        return queue_reply(s, st.err);
    }
    if (st.create_failed) {
        static const char text[] = "SERVER_ERROR Out of memory allocating new item\r\n";
        return queue_text(s, text, sizeof(text) - 1);
    }
    if (st.it == NULL) {
        return reply_code(s, m, buf, st.code, false);
    }
    if (!ok) {
        return queue_err(s, PROTO_META_ERR_LONG_OPAQUE);
    }
    /* q hides a successful update, but not the reply to an auto-create. */
    if (proto_meta_has(m, 'q') && !st.created) {
        return PROCESS_OK;
    }
    return queue_line(s, &l);
}

/* ---- me, mn ----------------------------------------------------------- */

/* The ME line of an item, composed under the lock (time and flags change under it). */
static void me_line_locked(struct line *l, const struct item *it)
{
    uint32_t now = clock_now();
    char tail[160];
    int n;

    put(l, "ME ", 3);
    if (item_flags(it) & ITEM_KEY_BINARY) {
        char enc[PROTO_B64_LEN(KEY_MAX_LENGTH)];
        put(l, enc, proto_b64_encode(item_key(it), it->nkey, enc));
    } else {
        put(l, item_key(it), it->nkey);
    }
    /* Quirk: exp is now - exptime, i.e. minus the remaining seconds. */
    n = snprintf(tail, sizeof(tail), " exp=%d la=%u cas=%" PRIu64 " fetch=%s cls=%u size=%zu",
                 item_exptime(it) == 0 ? -1 : (int)(int32_t)(now - item_exptime(it)),
                 (unsigned)(now - it->time), item_cas(it),
                 (item_flags(it) & ITEM_FETCHED) ? "yes" : "no", (unsigned)it->slabs_clsid,
                 item_ntotal(it));
    put(l, tail, (size_t)n);
}

static enum process_status exec_me(struct session *s, const struct proto_meta_request *m,
                                   const char *buf)
{
    enum get_result why;
    struct item *it;
    struct line l = {0};

    STATS_INCR(s->stats, meta_cmds);
    storage_lock();
    it = item_peek_locked(proto_meta_key(m, buf), m->nkey, &why);
    if (it != NULL) {
        me_line_locked(&l, it);
        item_release_locked(it);
    }
    storage_unlock();
    if (it == NULL) {
        return queue_text(s, "EN\r\n", 4);
    }
    return queue_line(s, &l);
}

/* ---- dispatch --------------------------------------------------------- */

static enum process_status meta_error(struct session *s, const struct proto_meta_request *m)
{
    enum process_status st = queue_err(s, m->err);

    if (st != PROCESS_OK || !m->swallow) {
        return st;
    }
    /* ms: the value block after a bad flag line is discarded unread. */
    s->swallow = (size_t)m->vlen + 2;
    return PROCESS_SWALLOW;
}

enum process_status process_meta(struct session *s, char *buf, size_t len, size_t *consumed)
{
    struct proto_meta_request m;

    switch (proto_meta_parse(&m, buf, len, &limits, consumed)) {
    case PROTO_INCOMPLETE:
        return PROCESS_NEED_MORE;
    case PROTO_CLOSE:
        return PROCESS_CLOSE;
    case PROTO_OK:
        break;
    }
    if (m.err != PROTO_META_ERR_NONE) {
        return meta_error(s, &m);
    }
    switch (m.cmd) {
    case PROTO_META_GET:
        return exec_mg(s, &m, buf);
    case PROTO_META_SET:
        return exec_ms(s, &m, buf);
    case PROTO_META_DELETE:
        return exec_md(s, &m, buf);
    case PROTO_META_ARITH:
        return exec_ma(s, &m, buf);
    case PROTO_META_DEBUG:
        return exec_me(s, &m, buf);
    case PROTO_META_NOOP:
        break;
    }
    return queue_text(s, "MN\r\n", 4);
}
