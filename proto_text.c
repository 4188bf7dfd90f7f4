/*
 * proto_text.c - parser and composer for memcached's classic text protocol.
 *
 * Owns: line framing (the 2048-byte rule), the word splitter, memcached's
 * number rules, the command table and every canned reply string. Must not
 * depend on storage, connections, settings or any global state: the same
 * input always gives the same output, which is what makes it fuzzable and
 * unit-testable without sockets.
 *
 * The reference is memcached 1.6.18's proto_text.c behaviour as observed on
 * the wire. Where it is odd we copy it and say so ("quirk:").
 *
 * Rejected alternatives: NUL-terminating words in place (memcached does; we
 * keep the read buffer const and use offsets so the caller may move it);
 * libc strtol/strtoull (they need NUL-terminated input and errno; the small
 * scanner below reproduces their C-locale results exactly); a generated
 * perfect hash for command names (the table is 24 entries, a linear scan of
 * short strings is cheaper than hashing them).
 */
#include "proto_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *text;
    size_t len;
} reply_table[PROTO_REPLY_COUNT_] = {
#define R(code, str) [code] = {str, sizeof(str) - 1}
    R(PROTO_REPLY_NONE, ""),
    R(PROTO_REPLY_ERROR, "ERROR"),
    R(PROTO_REPLY_OK, "OK"),
    R(PROTO_REPLY_STORED, "STORED"),
    R(PROTO_REPLY_NOT_STORED, "NOT_STORED"),
    R(PROTO_REPLY_EXISTS, "EXISTS"),
    R(PROTO_REPLY_NOT_FOUND, "NOT_FOUND"),
    R(PROTO_REPLY_DELETED, "DELETED"),
    R(PROTO_REPLY_TOUCHED, "TOUCHED"),
    R(PROTO_REPLY_END, "END"),
    R(PROTO_REPLY_RESET, "RESET"),
    R(PROTO_REPLY_BAD_FORMAT, "CLIENT_ERROR bad command line format"),
    R(PROTO_REPLY_BAD_LINE, "CLIENT_ERROR bad command line"),
    R(PROTO_REPLY_BAD_EXPTIME, "CLIENT_ERROR invalid exptime argument"),
    R(PROTO_REPLY_BAD_DELTA, "CLIENT_ERROR invalid numeric delta argument"),
    R(PROTO_REPLY_BAD_CHUNK, "CLIENT_ERROR bad data chunk"),
    R(PROTO_REPLY_NON_NUMERIC, "CLIENT_ERROR cannot increment or decrement non-numeric value"),
    R(PROTO_REPLY_DELETE_USAGE,
      "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"),
    R(PROTO_REPLY_DETAIL_USAGE, "CLIENT_ERROR usage: stats detail on|off|dump"),
    R(PROTO_REPLY_ILLEGAL_SLAB, "CLIENT_ERROR Illegal slab id"),
    R(PROTO_REPLY_CACHEDUMP_DENIED, "CLIENT_ERROR stats cachedump not allowed"),
    R(PROTO_REPLY_FLUSH_DENIED, "CLIENT_ERROR flush_all not allowed"),
    R(PROTO_REPLY_SHUTDOWN_DENIED, "ERROR: shutdown not enabled"),
    R(PROTO_REPLY_SHUTDOWN_MODE, "CLIENT_ERROR invalid shutdown mode"),
    R(PROTO_REPLY_MEMLIMIT_SMALL, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"),
    R(PROTO_REPLY_MEMLIMIT_UNITS, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"),
    R(PROTO_REPLY_MEMLIMIT_FAILED, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust"),
    R(PROTO_REPLY_LRU_PCT, "ERROR hot and warm pcts must not exceed 80"),
    R(PROTO_REPLY_LRU_FACTOR, "ERROR hot/warm age factors must be greater than 0"),
    R(PROTO_REPLY_CRAWLER_DISABLED, "CLIENT_ERROR lru crawler disabled"),
    R(PROTO_REPLY_CRAWLER_SLEEP, "CLIENT_ERROR sleep must be one second or less"),
    R(PROTO_REPLY_REASSIGN_DISABLED, "CLIENT_ERROR slab reassignment disabled"),
    R(PROTO_REPLY_REASSIGN_SAME, "SAME src and dst class are identical"),
    R(PROTO_REPLY_REASSIGN_BADCLASS, "BADCLASS invalid src or dst class id"),
    R(PROTO_REPLY_REASSIGN_NOSPARE, "NOSPARE source class has no spare pages"),
    R(PROTO_REPLY_REASSIGN_BUSY, "BUSY currently processing reassign request"),
    R(PROTO_REPLY_WATCH_DISABLED, "CLIENT_ERROR watch commands not allowed"),
    R(PROTO_REPLY_TOO_LARGE, "SERVER_ERROR object too large for cache"),
    R(PROTO_REPLY_NO_MEMORY_STORE, "SERVER_ERROR out of memory storing object"),
    R(PROTO_REPLY_NO_MEMORY, "SERVER_ERROR out of memory"),
    R(PROTO_REPLY_NO_MEMORY_GET, "SERVER_ERROR out of memory writing get response"),
    R(PROTO_REPLY_NO_MEMORY_STATS, "SERVER_ERROR out of memory writing stats"),
    R(PROTO_REPLY_TLS_DISABLED, "Error TLS not enabled"),
#undef R
};

const char *proto_reply_text(enum proto_reply code, size_t *len)
{
    if ((unsigned)code >= PROTO_REPLY_COUNT_) {
        code = PROTO_REPLY_ERROR;
    }
    *len = reply_table[code].len;
    return reply_table[code].text;
}

/* ---- framing ---------------------------------------------------------- */

static bool has_prefix(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

/*
 * Quirk (memcached try_read_command_ascii): more than line_rule bytes
 * without a "\n" can only be the start of a huge multi-get. Anything else,
 * or a get preceded by too many spaces, closes the connection. Only "get "
 * and "gets " qualify - a long "gat" line is closed too.
 */
static enum proto_status long_line_rule(const char *buf, size_t len, const struct proto_limits *lim)
{
    size_t sp = 0;

    if (len <= lim->line_rule) {
        return PROTO_INCOMPLETE;
    }
    while (sp < len && buf[sp] == ' ') {
        sp++;
    }
    if (sp > lim->lead_space_max) {
        return PROTO_CLOSE;
    }
    if (!has_prefix(buf + sp, len - sp, "get ") && !has_prefix(buf + sp, len - sp, "gets ")) {
        return PROTO_CLOSE;
    }
    return len > lim->multiget_max ? PROTO_CLOSE : PROTO_INCOMPLETE;
}

enum proto_status proto_find_line(const char *buf, size_t len, const struct proto_limits *lim,
                                  struct proto_line *line)
{
    const char *nl = memchr(buf, '\n', len);
    const char *nul;
    size_t n, end;

    if (nl == NULL) {
        return long_line_rule(buf, len, lim);
    }
    n = (size_t)(nl - buf);
    end = n;
    /* Quirk: "\r" is stripped only from lines of two or more bytes. */
    if (n > 1 && buf[n - 1] == '\r') {
        end = n - 1;
    }
    /* Quirk: memcached NUL-terminates the line and then uses strlen(). */
    nul = memchr(buf, '\0', end);
    line->len = nul != NULL ? (size_t)(nul - buf) : end;
    line->consumed = n + 1;
    return PROTO_OK;
}

/* ---- words ------------------------------------------------------------ */

size_t proto_tokenize(const char *buf, size_t start, size_t end, struct proto_token *tok,
                      size_t max, size_t *rest)
{
    size_t n = 0;
    size_t s = start;
    size_t i;

    for (i = start; i < end; i++) {
        if (buf[i] != ' ') {
            continue;
        }
        if (s != i) {
            tok[n].off = s;
            tok[n].len = i - s;
            n++;
            if (n == max - 1) {
                *rest = i + 1;
                return n;
            }
        }
        s = i + 1;
    }
    if (s != i) {
        tok[n].off = s;
        tok[n].len = i - s;
        n++;
    }
    *rest = end;
    return n;
}

bool proto_next_word(const char *buf, size_t end, size_t *pos, struct proto_token *tok)
{
    size_t i = *pos;
    size_t s;

    while (i < end && buf[i] == ' ') {
        i++;
    }
    if (i >= end) {
        *pos = end;
        return false;
    }
    s = i;
    while (i < end && buf[i] != ' ') {
        i++;
    }
    tok->off = s;
    tok->len = i - s;
    *pos = i;
    return true;
}

bool proto_word_is(const char *buf, struct proto_token t, const char *lit)
{
    size_t l = strlen(lit);
    return t.len == l && memcmp(buf + t.off, lit, l) == 0;
}

/* ---- numbers ---------------------------------------------------------- */

static bool c_isspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

struct num_scan {
    bool neg;
    bool overflow; /* the magnitude does not fit in 64 bits (ERANGE) */
    uint64_t mag;
};

/*
 * The part every strto* shares: white space, sign, digits, then memcached's
 * end check `isspace(*endptr) || (*endptr == '\0' && endptr != str)`.
 */
static bool scan_number(const char *w, size_t n, struct num_scan *s)
{
    size_t i = 0;
    size_t digits;

    s->neg = false;
    s->overflow = false;
    s->mag = 0;
    while (i < n && c_isspace(w[i])) {
        i++;
    }
    if (i < n && (w[i] == '+' || w[i] == '-')) {
        s->neg = w[i] == '-';
        i++;
    }
    digits = i;
    while (i < n && w[i] >= '0' && w[i] <= '9') {
        unsigned d = (unsigned)(w[i] - '0');
        if (s->mag > (UINT64_MAX - d) / 10) {
            s->overflow = true;
        } else {
            s->mag = s->mag * 10 + d;
        }
        i++;
    }
    if (i == digits) {
        return false;
    }
    return i == n || c_isspace(w[i]);
}

bool proto_parse_u64(const char *buf, struct proto_token t, uint64_t *out)
{
    struct num_scan s;
    uint64_t v;

    *out = 0;
    if (!scan_number(buf + t.off, t.len, &s) || s.overflow) {
        return false;
    }
    v = s.neg ? (uint64_t)0 - s.mag : s.mag;
    /* A "-N" that wrapped to a huge value is refused; "-0" is fine. */
    if (s.neg && (int64_t)v < 0) {
        return false;
    }
    *out = v;
    return true;
}

bool proto_parse_u32(const char *buf, struct proto_token t, uint32_t *out)
{
    uint64_t v;

    *out = 0;
    if (!proto_parse_u64(buf, t, &v)) {
        return false;
    }
    /* Quirk: strtoul's 64-bit result is truncated to 32 bits, no range check. */
    *out = (uint32_t)v;
    return true;
}

bool proto_parse_i32(const char *buf, struct proto_token t, int32_t *out)
{
    struct num_scan s;
    int64_t v;

    *out = 0;
    if (!scan_number(buf + t.off, t.len, &s) || s.overflow) {
        return false;
    }
    if (s.neg) {
        if (s.mag > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        v = (int64_t)((uint64_t)0 - s.mag);
    } else {
        if (s.mag > (uint64_t)INT64_MAX) {
            return false;
        }
        v = (int64_t)s.mag;
    }
    /* Quirk: memcached's safe_strtol stores strtol's long into an int32_t
     * with no range check, so only the 64-bit overflow above is refused and
     * everything else is truncated to 32 bits (T4294967396 is 100 s). */
    *out = (int32_t)(uint32_t)(uint64_t)v;
    return true;
}

bool proto_parse_double(const char *buf, struct proto_token t, double *out)
{
    char tmp[64];
    char *endp;
    double d;

    *out = 0;
    if (t.len == 0 || t.len >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, buf + t.off, t.len);
    tmp[t.len] = '\0';
    errno = 0;
    d = strtod(tmp, &endp);
    if (errno == ERANGE || endp == tmp) {
        return false;
    }
    if (*endp != '\0' && !c_isspace(*endp)) {
        return false;
    }
    *out = d;
    return true;
}

/* ---- commands --------------------------------------------------------- */

typedef void parse_fn(struct request *r, const char *buf, const struct proto_limits *lim);

/* Word i of the request. */
static struct proto_token W(const struct request *r, size_t i) {
    return r->tokens[i];
}

/* memcached's set_noreply_maybe(): the last word scanned is exactly "noreply". */
static bool
last_is_noreply(const struct request *r, const char *buf)
{
    return r->ntokens > 0 && proto_word_is(buf, W(r, r->ntokens - 1), "noreply");
}

static void parse_get(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)buf;
    (void)lim;
    r->first_key = 1;
}

static void parse_gat(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    r->first_key = 2;
    if (!proto_parse_i32(buf, W(r, 1), &r->exptime)) {
        r->reply = PROTO_REPLY_BAD_EXPTIME;
    }
}

/* set/add/replace/append/prepend/cas: the value is NOT swallowed on errors (quirk). */
static void parse_store(struct request *r, const char *buf, const struct proto_limits *lim)
{
    r->noreply = last_is_noreply(r, buf);
    r->key = W(r, 1);
    if (r->key.len > lim->key_max || !proto_parse_u32(buf, W(r, 2), &r->flags) ||
        !proto_parse_i32(buf, W(r, 3), &r->exptime) || !proto_parse_i32(buf, W(r, 4), &r->vlen)) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
        return;
    }
    if (r->cmd == PROTO_CMD_CAS && !proto_parse_u64(buf, W(r, 5), &r->cas)) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
        return;
    }
    if (r->vlen < 0 || r->vlen > INT32_MAX - 2) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    }
}

static void parse_arith(struct request *r, const char *buf, const struct proto_limits *lim)
{
    r->noreply = last_is_noreply(r, buf);
    r->key = W(r, 1);
    if (r->key.len > lim->key_max) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    } else if (!proto_parse_u64(buf, W(r, 2), &r->num)) {
        r->reply = PROTO_REPLY_BAD_DELTA;
    }
}

/* Quirk: a legacy hold time is accepted only as the exact word "0". */
static void parse_delete(struct request *r, const char *buf, const struct proto_limits *lim)
{
    r->key = W(r, 1);
    if (r->ntokens > 2) {
        bool hold_zero = proto_word_is(buf, W(r, 2), "0");
        bool valid;

        r->noreply = last_is_noreply(r, buf);
        valid = (r->ntokens == 3 && (hold_zero || r->noreply)) ||
                (r->ntokens == 4 && hold_zero && r->noreply);
        if (!valid) {
            r->reply = PROTO_REPLY_DELETE_USAGE;
            return;
        }
    }
    if (r->key.len > lim->key_max) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    }
}

static void parse_touch(struct request *r, const char *buf, const struct proto_limits *lim)
{
    r->noreply = last_is_noreply(r, buf);
    r->key = W(r, 1);
    if (r->key.len > lim->key_max) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    } else if (!proto_parse_i32(buf, W(r, 2), &r->exptime)) {
        r->reply = PROTO_REPLY_BAD_EXPTIME;
    }
}

/* The executor checks -F (flush disabled) before looking at r->reply. */
static void parse_flush(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    r->exptime = 0;
    if (r->ntokens != (r->noreply ? 2u : 1u) && !proto_parse_i32(buf, W(r, 1), &r->exptime)) {
        r->reply = PROTO_REPLY_BAD_EXPTIME;
    }
}

static void parse_verbosity(struct request *r, const char *buf, const struct proto_limits *lim)
{
    uint32_t level;

    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    if (!proto_parse_u32(buf, W(r, 1), &level)) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    }
    r->num = level;
}

static void parse_memlimit(struct request *r, const char *buf, const struct proto_limits *lim)
{
    uint32_t mb;

    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    if (!proto_parse_u32(buf, W(r, 1), &mb)) {
        r->reply = PROTO_REPLY_ERROR;
    } else if (mb < 8) {
        r->reply = PROTO_REPLY_MEMLIMIT_SMALL;
    } else if (mb > 1000000000) {
        r->reply = PROTO_REPLY_MEMLIMIT_UNITS;
    }
    r->num = mb;
}

static void parse_noreply_only(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    r->noreply = last_is_noreply(r, buf);
}

/* Executor checks -A (shutdown enabled) before r->reply. */
static void parse_shutdown(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    if (r->ntokens == 1) {
        r->sub = PROTO_SUB_SHUTDOWN_NOW;
    } else if (r->ntokens == 2 && proto_word_is(buf, W(r, 1), "graceful")) {
        r->sub = PROTO_SUB_SHUTDOWN_GRACEFUL;
    } else {
        r->reply = PROTO_REPLY_SHUTDOWN_MODE;
    }
}

static const struct {
    const char *name;
    enum proto_sub sub;
} stats_subs[] = {
    {"reset", PROTO_SUB_STATS_RESET},
    {"settings", PROTO_SUB_STATS_SETTINGS},
    {"conns", PROTO_SUB_STATS_CONNS},
    {"extstore", PROTO_SUB_STATS_EXTSTORE},
    {"items", PROTO_SUB_STATS_ITEMS},
    {"slabs", PROTO_SUB_STATS_SLABS},
    {"sizes", PROTO_SUB_STATS_SIZES},
    {"sizes_enable", PROTO_SUB_STATS_SIZES_ENABLE},
    {"sizes_disable", PROTO_SUB_STATS_SIZES_DISABLE},
};

static void parse_stats_detail(struct request *r, const char *buf)
{
    r->reply = PROTO_REPLY_DETAIL_USAGE;
    if (r->ntokens < 3) {
        return;
    }
    if (proto_word_is(buf, W(r, 2), "on")) {
        r->sub = PROTO_SUB_STATS_DETAIL_ON;
    } else if (proto_word_is(buf, W(r, 2), "off")) {
        r->sub = PROTO_SUB_STATS_DETAIL_OFF;
    } else if (proto_word_is(buf, W(r, 2), "dump")) {
        r->sub = PROTO_SUB_STATS_DETAIL_DUMP;
    } else {
        return;
    }
    r->reply = PROTO_REPLY_NONE;
}

/* Executor checks -X (dump disabled) before r->reply. */
static void parse_stats_cachedump(struct request *r, const char *buf)
{
    uint32_t id, limit;

    r->sub = PROTO_SUB_STATS_CACHEDUMP;
    if (r->ntokens < 4) {
        r->reply = PROTO_REPLY_BAD_LINE;
    } else if (!proto_parse_u32(buf, W(r, 2), &id) || !proto_parse_u32(buf, W(r, 3), &limit)) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    } else if (id >= 64) {
        r->reply = PROTO_REPLY_ILLEGAL_SLAB;
    } else {
        r->num = id;
        r->limit = limit;
    }
}

static void parse_stats(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    if (r->ntokens == 1) {
        r->sub = PROTO_SUB_STATS_GENERAL;
        return;
    }
    if (proto_word_is(buf, W(r, 1), "detail")) {
        parse_stats_detail(r, buf);
        return;
    }
    if (proto_word_is(buf, W(r, 1), "cachedump")) {
        parse_stats_cachedump(r, buf);
        return;
    }
    for (size_t i = 0; i < sizeof(stats_subs) / sizeof(stats_subs[0]); i++) {
        if (proto_word_is(buf, W(r, 1), stats_subs[i].name)) {
            r->sub = stats_subs[i].sub;
            return;
        }
    }
    r->reply = PROTO_REPLY_ERROR;
}

/* slabs reassign: syntax here; the executor checks -o no_slab_reassign before r->reply. */
static void parse_slabs_reassign(struct request *r, const char *buf)
{
    r->sub = PROTO_SUB_SLABS_REASSIGN;
    r->reply = PROTO_REPLY_NONE;
    if (!proto_parse_i32(buf, W(r, 2), &r->src) || !proto_parse_i32(buf, W(r, 3), &r->dst)) {
        r->reply = PROTO_REPLY_BAD_FORMAT;
    } else if (r->src == r->dst) {
        r->reply = PROTO_REPLY_REASSIGN_SAME;
    }
}

static void parse_slabs(struct request *r, const char *buf, const struct proto_limits *lim)
{
    uint32_t level;
    double ratio;

    (void)lim;
    r->reply = PROTO_REPLY_ERROR;
    if (r->ntokens == 4 && proto_word_is(buf, W(r, 1), "reassign")) {
        parse_slabs_reassign(r, buf);
    } else if (r->ntokens >= 3 && proto_word_is(buf, W(r, 1), "automove")) {
        r->noreply = last_is_noreply(r, buf);
        if (proto_word_is(buf, W(r, 2), "ratio")) {
            if (r->ntokens >= 4 && proto_parse_double(buf, W(r, 3), &ratio)) {
                r->reply = PROTO_REPLY_OK;
            }
        } else if (!proto_parse_u32(buf, W(r, 2), &level)) {
            r->reply = PROTO_REPLY_BAD_FORMAT;
        } else if (level <= 2) {
            r->reply = PROTO_REPLY_OK;
        }
    }
}

static void parse_lru_tune(struct request *r, const char *buf)
{
    uint32_t hot, warm;
    double hot_factor, factor;

    if (!proto_parse_u32(buf, W(r, 2), &hot) || !proto_parse_u32(buf, W(r, 3), &warm) ||
        !proto_parse_double(buf, W(r, 4), &hot_factor) ||
        !proto_parse_double(buf, W(r, 5), &factor)) {
        r->reply = PROTO_REPLY_ERROR;
    } else if ((uint32_t)(hot + warm) > 80) { /* quirk: 32-bit sum may wrap */
        r->reply = PROTO_REPLY_LRU_PCT;
    } else if (factor <= 0 || hot_factor <= 0) {
        r->reply = PROTO_REPLY_LRU_FACTOR;
    } else {
        r->reply = PROTO_REPLY_OK;
    }
}

/* lru: accepted and validated like the reference; we have one LRU, so no effect. */
static void parse_lru(struct request *r, const char *buf, const struct proto_limits *lim)
{
    int32_t ttl;

    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    r->reply = PROTO_REPLY_ERROR;
    if (proto_word_is(buf, W(r, 1), "tune") && r->ntokens >= 6) {
        parse_lru_tune(r, buf);
    } else if (proto_word_is(buf, W(r, 1), "mode") && r->ntokens >= 3) {
        r->sub = PROTO_SUB_LRU_NEEDS_MAINTAINER;
        if (proto_word_is(buf, W(r, 2), "flat") || proto_word_is(buf, W(r, 2), "segmented")) {
            r->reply = PROTO_REPLY_OK;
        }
    } else if (proto_word_is(buf, W(r, 1), "temp_ttl") && r->ntokens >= 3) {
        r->sub = PROTO_SUB_LRU_NEEDS_MAINTAINER;
        if (proto_parse_i32(buf, W(r, 2), &ttl)) {
            r->reply = PROTO_REPLY_OK;
        }
    }
}

/* lru_crawler: we have no crawler; crawl/metadump answer like `-o no_lru_crawler`. */
static void parse_lru_crawler(struct request *r, const char *buf, const struct proto_limits *lim)
{
    uint32_t v;

    (void)lim;
    r->reply = PROTO_REPLY_ERROR;
    if (r->ntokens == 3) {
        struct proto_token sub = W(r, 1);
        if (proto_word_is(buf, sub, "crawl") || proto_word_is(buf, sub, "metadump")) {
            r->reply = PROTO_REPLY_CRAWLER_DISABLED;
        } else if (proto_word_is(buf, sub, "tocrawl")) {
            r->reply = proto_parse_u32(buf, W(r, 2), &v) ? PROTO_REPLY_OK : PROTO_REPLY_BAD_FORMAT;
        } else if (proto_word_is(buf, sub, "sleep")) {
            if (!proto_parse_u32(buf, W(r, 2), &v)) {
                r->reply = PROTO_REPLY_BAD_FORMAT;
            } else {
                r->reply = v > 1000000 ? PROTO_REPLY_CRAWLER_SLEEP : PROTO_REPLY_OK;
            }
        }
    } else if (r->ntokens == 2) {
        if (proto_word_is(buf, W(r, 1), "enable") || proto_word_is(buf, W(r, 1), "disable")) {
            r->reply = PROTO_REPLY_OK;
        }
    }
}

/* watch: we have no log watchers; answer like `-W`. */
static void parse_watch(struct request *r, const char *buf, const struct proto_limits *lim)
{
    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    r->reply = PROTO_REPLY_WATCH_DISABLED;
}

static const char *const extstore_u32_subs[] = {
    "item_size",     "item_age",   "low_ttl",   "recache_rate",
    "compact_under", "drop_under", "max_sleep", "drop_unread",
};

/*
 * extstore: the reference (built with extstore, run without a path) accepts
 * and validates the tunables. We validate the same way; they have no effect.
 */
static void parse_extstore(struct request *r, const char *buf, const struct proto_limits *lim)
{
    uint32_t a, b;
    double d;
    bool ok = false;

    (void)lim;
    r->noreply = last_is_noreply(r, buf);
    if (r->ntokens >= 3) {
        struct proto_token sub = W(r, 1);
        if (proto_word_is(buf, sub, "free_memchunks") && r->ntokens > 3) {
            ok = proto_parse_u32(buf, W(r, 2), &a) && proto_parse_u32(buf, W(r, 3), &b) && a < 64;
        } else if (proto_word_is(buf, sub, "max_frag")) {
            ok = proto_parse_double(buf, W(r, 2), &d);
        } else {
            for (size_t i = 0; i < sizeof(extstore_u32_subs) / sizeof(*extstore_u32_subs); i++) {
                if (proto_word_is(buf, sub, extstore_u32_subs[i])) {
                    ok = proto_parse_u32(buf, W(r, 2), &a);
                    break;
                }
            }
        }
    }
    r->reply = ok ? PROTO_REPLY_OK : PROTO_REPLY_ERROR;
}

struct cmd_entry {
    const char *name;
    size_t len;
    enum proto_cmd cmd;
    uint8_t min_words; /* memcached's WANT_TOKENS bounds, minus its terminal token */
    uint8_t max_words;
    parse_fn *parse;
};

#define ANY PROTO_MAX_WORDS

/* clang-format off */
#define C(name, cmd, lo, hi, fn) {name, sizeof(name) - 1, cmd, lo, hi, fn}

static const struct cmd_entry cmd_table[] = {
    C("get", PROTO_CMD_GET, 2, ANY, parse_get),
    C("gets", PROTO_CMD_GETS, 2, ANY, parse_get),
    C("gat", PROTO_CMD_GAT, 2, ANY, parse_gat),
    C("gats", PROTO_CMD_GATS, 2, ANY, parse_gat),
    C("bget", PROTO_CMD_GET, 2, ANY, parse_get), /* ancient alias, still answered */
    C("set", PROTO_CMD_SET, 5, 6, parse_store),
    C("add", PROTO_CMD_ADD, 5, 6, parse_store),
    C("replace", PROTO_CMD_REPLACE, 5, 6, parse_store),
    C("append", PROTO_CMD_APPEND, 5, 6, parse_store),
    C("prepend", PROTO_CMD_PREPEND, 5, 6, parse_store),
    C("cas", PROTO_CMD_CAS, 6, 7, parse_store),
    C("incr", PROTO_CMD_INCR, 3, 4, parse_arith),
    C("decr", PROTO_CMD_DECR, 3, 4, parse_arith),
    C("delete", PROTO_CMD_DELETE, 2, 4, parse_delete),
    C("touch", PROTO_CMD_TOUCH, 3, 4, parse_touch),
    C("flush_all", PROTO_CMD_FLUSH_ALL, 1, 3, parse_flush),
    C("version", PROTO_CMD_VERSION, 1, ANY, NULL),
    C("verbosity", PROTO_CMD_VERBOSITY, 2, 3, parse_verbosity),
    C("quit", PROTO_CMD_QUIT, 1, ANY, NULL),
    C("stats", PROTO_CMD_STATS, 1, ANY, parse_stats),
    C("shutdown", PROTO_CMD_SHUTDOWN, 1, ANY, parse_shutdown),
    C("cache_memlimit", PROTO_CMD_CACHE_MEMLIMIT, 2, 3, parse_memlimit),
    C("refresh_certs", PROTO_CMD_REFRESH_CERTS, 1, ANY, parse_noreply_only),
    C("slabs", PROTO_CMD_ADMIN, 1, ANY, parse_slabs),
    C("lru", PROTO_CMD_ADMIN, 2, ANY, parse_lru),
    C("lru_crawler", PROTO_CMD_ADMIN, 1, ANY, parse_lru_crawler),
    C("watch", PROTO_CMD_ADMIN, 1, ANY, parse_watch),
    C("extstore", PROTO_CMD_ADMIN, 2, ANY, parse_extstore),
};
/* clang-format on */

#undef C

static const struct cmd_entry *find_cmd(const char *buf, struct proto_token t)
{
    for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
        const struct cmd_entry *e = &cmd_table[i];
        if (t.len == e->len && memcmp(buf + t.off, e->name, e->len) == 0) {
            return e;
        }
    }
    return NULL;
}

/*
 * An unknown command. memcached dispatches on the first letter; unknown
 * words under a known letter get "ERROR", the rest go to a last branch that
 * hangs up on anything whose last word starts with "HTTP/" (quirk: a web
 * request is dropped rather than answered).
 */
static enum proto_status unknown_cmd(struct request *r, const char *buf)
{
    struct proto_token last = W(r, r->ntokens - 1);

    r->reply = PROTO_REPLY_ERROR;
    if (memchr("gsacidt", buf[W(r, 0).off], 7) != NULL) {
        return PROTO_OK;
    }
    if (last.len >= 5 && memcmp(buf + last.off, "HTTP/", 5) == 0) {
        return PROTO_CLOSE;
    }
    return PROTO_OK;
}

static enum proto_status dispatch(struct request *r, const char *buf,
                                  const struct proto_limits *lim)
{
    struct proto_token name = W(r, 0);
    const struct cmd_entry *e;

    /* memcached: fewer than two tokens or a one-byte command is "ERROR". */
    if (r->ntokens == 0 || name.len < 2) {
        r->reply = PROTO_REPLY_ERROR;
        return PROTO_OK;
    }
    if (name.len == 2 && buf[name.off] == 'm') {
        if (memchr("gsndae", buf[name.off + 1], 6) != NULL) {
            r->cmd = PROTO_CMD_META;
        } else {
            r->reply = PROTO_REPLY_ERROR;
        }
        return PROTO_OK;
    }
    e = find_cmd(buf, name);
    if (e == NULL) {
        return unknown_cmd(r, buf);
    }
    if (r->ntokens < e->min_words || r->ntokens > e->max_words) {
        r->reply = PROTO_REPLY_ERROR;
        return PROTO_OK;
    }
    r->cmd = e->cmd;
    if (e->parse != NULL) {
        e->parse(r, buf, lim);
    }
    return PROTO_OK;
}

enum proto_status proto_parse(struct request *r, const char *buf, size_t len,
                              const struct proto_limits *lim, size_t *consumed)
{
    enum proto_status st;

    *consumed = 0;
    memset(r, 0, sizeof(*r));
    st = proto_find_line(buf, len, lim, &r->line);
    if (st != PROTO_OK) {
        return st;
    }
    r->ntokens = proto_tokenize(buf, 0, r->line.len, r->tokens, PROTO_MAX_TOKENS, &r->rest);
    st = dispatch(r, buf, lim);
    if (st == PROTO_OK) {
        *consumed = r->line.consumed;
    }
    return st;
}

/* ---- composing -------------------------------------------------------- */

/* Decimal digits of v at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *put_bytes(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

size_t proto_compose_value(char *dst, const char *key, size_t nkey, uint32_t flags, size_t bytes,
                           bool with_cas, uint64_t cas)
{
    char *p = put_bytes(dst, "VALUE ", 6);

    p = put_bytes(p, key, nkey);
    *p++ = ' ';
    p = put_u64(p, flags);
    *p++ = ' ';
    p = put_u64(p, bytes);
    if (with_cas) {
        *p++ = ' ';
        p = put_u64(p, cas);
    }
    p = put_bytes(p, "\r\n", 2);
    return (size_t)(p - dst);
}

size_t proto_compose_u64_line(char *dst, uint64_t n)
{
    char *p = put_u64(dst, n);

    p = put_bytes(p, "\r\n", 2);
    return (size_t)(p - dst);
}

size_t proto_compose_stat(char *dst, const char *name, const char *val)
{
    char *p = put_bytes(dst, "STAT ", 5);

    p = put_bytes(p, name, strlen(name));
    *p++ = ' ';
    p = put_bytes(p, val, strlen(val));
    p = put_bytes(p, "\r\n", 2);
    return (size_t)(p - dst);
}

size_t proto_compose_detail(char *dst, const char *prefix, size_t plen, const uint64_t counts[4])
{
    static const char *const labels[4] = {" get ", " hit ", " set ", " del "};
    char *p = put_bytes(dst, "PREFIX ", 7);

    p = put_bytes(p, prefix, plen);
    for (int i = 0; i < 4; i++) {
        p = put_bytes(p, labels[i], 5);
        p = put_u64(p, counts[i]);
    }
    p = put_bytes(p, "\r\n", 2);
    return (size_t)(p - dst);
}

size_t proto_compose_cachedump(char *dst, const char *key, size_t nkey, uint32_t bytes,
                               uint64_t exptime)
{
    char *p = put_bytes(dst, "ITEM ", 5);

    p = put_bytes(p, key, nkey);
    p = put_bytes(p, " [", 2);
    p = put_u64(p, bytes);
    p = put_bytes(p, " b; ", 4);
    p = put_u64(p, exptime);
    p = put_bytes(p, " s]\r\n", 5);
    return (size_t)(p - dst);
}

size_t proto_compose_reply(char *dst, enum proto_reply code)
{
    size_t len;
    const char *text = proto_reply_text(code, &len);
    char *p = put_bytes(dst, text, len);

    p = put_bytes(p, "\r\n", 2);
    return (size_t)(p - dst);
}
