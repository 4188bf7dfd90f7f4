/*
 * proto_text.h - the memcached text protocol as pure functions: find a
 * request line, split it into words, parse a classic command into a struct
 * request, and compose reply text into caller memory.
 *
 * Nothing here does I/O, allocates, touches storage or reads globals; every
 * limit arrives in struct proto_limits. Words are (offset, length) pairs into
 * the caller's buffer, never pointers, so the caller may move its buffer
 * between calls. The meta commands (proto_meta.c) reuse the line finder, the
 * tokenizer, the key check and the number parsers declared here.
 *
 * Exactness: the reference is memcached 1.6.18. Its quirks are reproduced on
 * purpose and named where they happen (see proto_text.c and
 * t/unit/test_proto_text.c).
 */
#ifndef PROTO_TEXT_H
#define PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_KEY_MAX        250 /* memcached KEY_MAX_LENGTH */
#define PROTO_MAX_TOKENS     24  /* memcached MAX_TOKENS: at most 23 words per scan */
#define PROTO_MAX_WORDS      (PROTO_MAX_TOKENS - 1)
#define PROTO_LINE_RULE      2048 /* a line without "\n" longer than this must be a get */
#define PROTO_LEAD_SPACE_MAX 100  /* leading spaces allowed before such a get */
#define PROTO_MULTIGET_MAX   (2 * 1024 * 1024) /* our bound on a get line we keep waiting for */

/* "VALUE " key " " flags " " bytes " " cas "\r\n" with every field at its widest. */
#define PROTO_VALUE_HEADER_MAX (6 + PROTO_KEY_MAX + 1 + 10 + 1 + 10 + 1 + 20 + 2)
/* "STAT " name " " value "\r\n" for the caller's name/value lengths. */
#define PROTO_STAT_LINE_LEN(nlen, vlen) (5 + (nlen) + 1 + (vlen) + 2)

struct proto_limits {
    size_t key_max;        /* longest key accepted (250) */
    size_t line_rule;      /* PROTO_LINE_RULE */
    size_t lead_space_max; /* PROTO_LEAD_SPACE_MAX */
    size_t multiget_max;   /* longest get line without "\n" we keep buffering */
};

#define PROTO_LIMITS_DEFAULT                                                                       \
    {                                                                                              \
        PROTO_KEY_MAX, PROTO_LINE_RULE, PROTO_LEAD_SPACE_MAX, PROTO_MULTIGET_MAX                   \
    }

enum proto_status {
    PROTO_OK,         /* a complete line was found (and parsed); see *consumed */
    PROTO_INCOMPLETE, /* no complete line yet: read more; nothing consumed */
    PROTO_CLOSE,      /* memcached closes the connection here without a reply */
};

/* A word: buf[off .. off+len). */
struct proto_token {
    size_t off;
    size_t len;
};

/* A request line at the start of buf. */
struct proto_line {
    size_t len;      /* command text: up to "\r\n" / "\n", cut at the first NUL byte */
    size_t consumed; /* bytes up to and including the "\n" */
};

/*
 * Find the request line at the start of buf[0..len).
 * PROTO_OK: *line is filled. PROTO_INCOMPLETE: no "\n" yet, keep the bytes.
 * PROTO_CLOSE: the 2048-byte rule - no "\n" within more than lim->line_rule
 * bytes and the text is not "get "/"gets " after at most lim->lead_space_max
 * spaces (or a get line grew past lim->multiget_max).
 * Line endings: "\r\n" and "\n" both end a line, but a lone "\r\n" is the
 * one-byte command "\r" (memcached only strips "\r" from longer lines).
 */
enum proto_status proto_find_line(const char *buf, size_t len, const struct proto_limits *lim,
                                  struct proto_line *line);

/*
 * memcached's tokenizer over buf[start..end): words are separated by ' '
 * only (tabs and control bytes belong to words). Stores at most max - 1
 * words into tok (max >= 2, normally PROTO_MAX_TOKENS) and returns how many.
 * *rest is where scanning stopped: end when every word was stored, else the
 * first byte after the separator that follows the last stored word.
 */
size_t proto_tokenize(const char *buf, size_t start, size_t end, struct proto_token *tok,
                      size_t max, size_t *rest);

/* The next word at or after *pos in buf[..end); false at the end. Advances *pos past it. */
bool proto_next_word(const char *buf, size_t end, size_t *pos, struct proto_token *tok);

/* Whether a word equals a NUL-terminated literal. */
bool proto_word_is(const char *buf, struct proto_token t, const char *lit);

/* Key check shared by classic and meta commands: 1..key_max bytes, any byte but ' '. */
static inline bool proto_key_ok(size_t nkey, const struct proto_limits *lim)
{
    return nkey > 0 && nkey <= lim->key_max;
}

/*
 * memcached's number parsers (util.c safe_strto*) on one word, base 10, C
 * locale: leading white space and a sign are accepted, the digits may be
 * followed by white space inside the word, anything else fails.
 *   u32: strtoul then truncation to 32 bits; "-N" fails unless it wraps to
 *        a positive long (so "4294967296" -> 0, "-1" fails).
 *   i32: strtol (64-bit overflow fails), then truncated to 32 bits without a range check
 *        (so "-4294967295" -> 1).
 *   u64: strtoull, fails on overflow and on "-N" that wraps negative.
 *   dbl: strtod (words longer than 63 bytes fail).
 */
bool proto_parse_u32(const char *buf, struct proto_token t, uint32_t *out);
bool proto_parse_i32(const char *buf, struct proto_token t, int32_t *out);
bool proto_parse_u64(const char *buf, struct proto_token t, uint64_t *out);
bool proto_parse_double(const char *buf, struct proto_token t, double *out);

/* Classic commands (meta ones are parsed by proto_meta.c). */
enum proto_cmd {
    PROTO_CMD_NONE, /* unknown or malformed: only r->reply is meaningful */
    PROTO_CMD_GET,
    PROTO_CMD_GETS,
    PROTO_CMD_GAT,
    PROTO_CMD_GATS,
    PROTO_CMD_SET,
    PROTO_CMD_ADD,
    PROTO_CMD_REPLACE,
    PROTO_CMD_APPEND,
    PROTO_CMD_PREPEND,
    PROTO_CMD_CAS,
    PROTO_CMD_INCR,
    PROTO_CMD_DECR,
    PROTO_CMD_DELETE,
    PROTO_CMD_TOUCH,
    PROTO_CMD_FLUSH_ALL,
    PROTO_CMD_VERSION,
    PROTO_CMD_VERBOSITY,
    PROTO_CMD_QUIT,
    PROTO_CMD_STATS,
    PROTO_CMD_SHUTDOWN,
    PROTO_CMD_CACHE_MEMLIMIT,
    PROTO_CMD_REFRESH_CERTS,
    PROTO_CMD_ADMIN, /* slabs, lru, lru_crawler, watch, extstore: r->reply says it all */
    PROTO_CMD_META,  /* mg ms md ma mn me: hand the line to the meta parser */
};

/* Every canned reply line, without "\r\n" (proto_reply_text). */
enum proto_reply {
    PROTO_REPLY_NONE, /* no canned reply: execute the command */
    PROTO_REPLY_ERROR,
    PROTO_REPLY_OK,
    PROTO_REPLY_STORED,
    PROTO_REPLY_NOT_STORED,
    PROTO_REPLY_EXISTS,
    PROTO_REPLY_NOT_FOUND,
    PROTO_REPLY_DELETED,
    PROTO_REPLY_TOUCHED,
    PROTO_REPLY_END,
    PROTO_REPLY_RESET,
    PROTO_REPLY_BAD_FORMAT,
    PROTO_REPLY_BAD_LINE,
    PROTO_REPLY_BAD_EXPTIME,
    PROTO_REPLY_BAD_DELTA,
    PROTO_REPLY_BAD_CHUNK,
    PROTO_REPLY_NON_NUMERIC,
    PROTO_REPLY_DELETE_USAGE,
    PROTO_REPLY_DETAIL_USAGE,
    PROTO_REPLY_ILLEGAL_SLAB,
    PROTO_REPLY_CACHEDUMP_DENIED,
    PROTO_REPLY_FLUSH_DENIED,
    PROTO_REPLY_SHUTDOWN_DENIED,
    PROTO_REPLY_SHUTDOWN_MODE,
    PROTO_REPLY_MEMLIMIT_SMALL,
    PROTO_REPLY_MEMLIMIT_UNITS,
    PROTO_REPLY_MEMLIMIT_FAILED,
    PROTO_REPLY_LRU_PCT,
    PROTO_REPLY_LRU_FACTOR,
    PROTO_REPLY_CRAWLER_DISABLED,
    PROTO_REPLY_CRAWLER_SLEEP,
    PROTO_REPLY_REASSIGN_DISABLED,
    PROTO_REPLY_REASSIGN_SAME,
    PROTO_REPLY_REASSIGN_BADCLASS,
    PROTO_REPLY_REASSIGN_NOSPARE,
    PROTO_REPLY_REASSIGN_BUSY,
    PROTO_REPLY_WATCH_DISABLED,
    PROTO_REPLY_TOO_LARGE,
    PROTO_REPLY_NO_MEMORY_STORE,
    PROTO_REPLY_NO_MEMORY,
    PROTO_REPLY_NO_MEMORY_GET,
    PROTO_REPLY_NO_MEMORY_STATS,
    PROTO_REPLY_TLS_DISABLED,
    PROTO_REPLY_COUNT_
};

/* Reply text (no "\r\n") and its length. */
const char *proto_reply_text(enum proto_reply code, size_t *len);

/* Sub-commands the executor needs to tell apart (r->sub). */
enum proto_sub {
    PROTO_SUB_NONE,
    /* stats */
    PROTO_SUB_STATS_GENERAL,
    PROTO_SUB_STATS_RESET,
    PROTO_SUB_STATS_DETAIL_ON,
    PROTO_SUB_STATS_DETAIL_OFF,
    PROTO_SUB_STATS_DETAIL_DUMP,
    PROTO_SUB_STATS_SETTINGS,
    PROTO_SUB_STATS_CACHEDUMP,
    PROTO_SUB_STATS_CONNS,
    PROTO_SUB_STATS_EXTSTORE,
    PROTO_SUB_STATS_ITEMS,
    PROTO_SUB_STATS_SLABS,
    PROTO_SUB_STATS_SIZES,
    PROTO_SUB_STATS_SIZES_ENABLE,
    PROTO_SUB_STATS_SIZES_DISABLE,
    /* shutdown */
    PROTO_SUB_SHUTDOWN_NOW,
    PROTO_SUB_SHUTDOWN_GRACEFUL,
    /* lru: only valid when the LRU maintainer is on */
    PROTO_SUB_LRU_NEEDS_MAINTAINER,
    /* slabs reassign <src> <dst>: r->src, r->dst; the executor checks -o slab_reassign first */
    PROTO_SUB_SLABS_REASSIGN,
};

/* A parsed classic request. Offsets are relative to the buf given to proto_parse. */
struct request {
    enum proto_cmd cmd;
    enum proto_reply reply; /* canned reply (usually an error) to send instead of executing */
    enum proto_sub sub;
    bool noreply; /* memcached's set_noreply_maybe() applied before the reply */
    struct proto_line line;
    size_t ntokens; /* words in tokens[] */
    size_t rest;    /* first byte not split into tokens[] (line.len when all were) */
    struct proto_token tokens[PROTO_MAX_WORDS];
    size_t first_key;       /* retrieval: index of the first key word */
    struct proto_token key; /* single-key commands */
    uint32_t flags;         /* storage: client flags */
    int32_t exptime;        /* storage, touch, gat: raw exptime; flush_all: delay */
    int32_t vlen;           /* storage: value length without "\r\n" (0..INT32_MAX-2) */
    uint64_t cas;           /* cas: unique */
    uint64_t num;           /* incr/decr delta, verbosity level, cache_memlimit MB, cachedump id */
    uint32_t limit;         /* stats cachedump: item limit */
    int32_t src, dst;       /* slabs reassign: classes */
};

/*
 * Parse one request at the start of buf[0..len). PROTO_OK: *r describes it
 * and *consumed is the line length including "\n"; any value block follows
 * the line and is not consumed. PROTO_INCOMPLETE / PROTO_CLOSE: *consumed is
 * 0. Malformed requests are PROTO_OK with r->reply set (memcached answers
 * them and goes on), except the cases where memcached hangs up (PROTO_CLOSE).
 */
enum proto_status proto_parse(struct request *r, const char *buf, size_t len,
                              const struct proto_limits *lim, size_t *consumed);

/*
 * Composers: write text into dst (which has room for the stated maximum) and
 * return its length. Nothing is NUL-terminated.
 */
/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n"; dst holds PROTO_VALUE_HEADER_MAX bytes. */
size_t proto_compose_value(char *dst, const char *key, size_t nkey, uint32_t flags, size_t bytes,
                           bool with_cas, uint64_t cas);
/* "<n>\r\n" (incr/decr); dst holds 22 bytes. */
size_t proto_compose_u64_line(char *dst, uint64_t n);
/* "STAT <name> <val>\r\n"; dst holds PROTO_STAT_LINE_LEN(strlen(name), strlen(val)). */
size_t proto_compose_stat(char *dst, const char *name, const char *val);
/* "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n" (stats detail dump). */
#define PROTO_DETAIL_LINE_MAX(plen) (7 + (plen) + 4 * (5 + 20) + 2)
size_t proto_compose_detail(char *dst, const char *prefix, size_t plen, const uint64_t counts[4]);
/* "ITEM <key> [<bytes> b; <exptime> s]\r\n" (stats cachedump). */
#define PROTO_CACHEDUMP_LINE_MAX (5 + PROTO_KEY_MAX + 2 + 10 + 4 + 20 + 4)
size_t proto_compose_cachedump(char *dst, const char *key, size_t nkey, uint32_t bytes,
                               uint64_t exptime);
/* A canned reply plus "\r\n"; dst holds its length + 2. */
size_t proto_compose_reply(char *dst, enum proto_reply code);

#endif /* PROTO_TEXT_H */
