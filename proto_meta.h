/*
 * proto_meta.h - the meta commands (mg ms md ma mn me) of the memcached text
 * protocol as pure functions: parse one request line into a struct
 * proto_meta_request, and the base64 codec meta keys use.
 *
 * Like proto_text.h: no I/O, no allocation, no storage, no globals. Words
 * are (offset, length) pairs into the caller's buffer; a base64 key (flag b)
 * is decoded into the request struct itself. The parser decides every
 * syntax error memcached 1.6.18 reports before touching an item, with the
 * reference's exact wording and precedence; the few errors the reference
 * only notices while composing its reply (an over-long opaque on mg and ma)
 * are flagged for the executor instead (has_long_opaque).
 */
#ifndef PROTO_META_H
#define PROTO_META_H

#include "proto_text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_META_MAX_WORDS  19 /* memcached: more than 20 tokens incl. the terminal one fail */
#define PROTO_META_OPAQUE_MAX 32 /* the whole O token, 'O' included */

/* Base64 text of n bytes (no NUL written). */
#define PROTO_B64_LEN(n) (((n) + 2) / 3 * 4)

enum proto_meta_cmd {
    PROTO_META_GET,    /* mg */
    PROTO_META_SET,    /* ms */
    PROTO_META_DELETE, /* md */
    PROTO_META_ARITH,  /* ma */
    PROTO_META_NOOP,   /* mn */
    PROTO_META_DEBUG,  /* me */
};

/* The error line to send instead of executing (proto_meta_err_text). */
enum proto_meta_err {
    PROTO_META_ERR_NONE,
    PROTO_META_ERR_ERROR,          /* ERROR */
    PROTO_META_ERR_BAD_FORMAT,     /* CLIENT_ERROR bad command line format */
    PROTO_META_ERR_TOO_MANY_MG,    /* CLIENT_ERROR options flags are too long */
    PROTO_META_ERR_TOO_MANY,       /* CLIENT_ERROR options flags too long */
    PROTO_META_ERR_DUPLICATE,      /* CLIENT_ERROR duplicate flag */
    PROTO_META_ERR_INVALID,        /* CLIENT_ERROR invalid flag */
    PROTO_META_ERR_KEY_DECODE,     /* CLIENT_ERROR error decoding key */
    PROTO_META_ERR_BAD_TOKEN,      /* CLIENT_ERROR bad token in command line format */
    PROTO_META_ERR_M_LENGTH,       /* CLIENT_ERROR incorrect length for M token */
    PROTO_META_ERR_BAD_INITIAL,    /* CLIENT_ERROR invalid numeric initial value */
    PROTO_META_ERR_BAD_DELTA,      /* CLIENT_ERROR invalid numeric delta value */
    PROTO_META_ERR_INVALID_OR_DUP, /* CLIENT_ERROR invalid or duplicate flag (md, ma) */
    PROTO_META_ERR_LONG_OPAQUE,    /* CLIENT_ERROR opaque token too long */
    PROTO_META_ERR_MS_MODE,        /* CLIENT_ERROR invalid mode for ms M token */
    PROTO_META_ERR_MA_MODE,        /* CLIENT_ERROR invalid mode for ma M token */
    PROTO_META_ERR_COUNT_
};

/* Bit for flag letter c ('A'..'z') in proto_meta_request.flags. */
#define PROTO_META_FLAG(c) ((uint64_t)1 << ((unsigned)(c) - 'A'))

struct proto_meta_request {
    enum proto_meta_cmd cmd;
    enum proto_meta_err err; /* NONE: execute */
    bool swallow;            /* ms error after a valid datalen: vlen + 2 bytes follow */
    struct proto_line line;
    size_t nwords;
    struct proto_token words[PROTO_MAX_WORDS];
    size_t first_flag; /* index in words[] of the first flag (nwords if none) */

    /* The key: buf[key.off..] as sent, or key_bin[] when is_binary (flag b). */
    struct proto_token key;
    bool is_binary;
    size_t nkey;

    uint64_t flags;        /* PROTO_META_FLAG() of every flag letter given */
    bool has_long_opaque;  /* mg/ma: an O token over 32 bytes, an error at reply time */
    char mode;             /* M token's character, 0 if none (ms: validated; ma: validated) */
    int32_t vlen;          /* ms: value length without "\r\n" */
    int32_t ttl;           /* T */
    int32_t vivify_ttl;    /* N */
    int32_t recache_ttl;   /* R */
    uint32_t client_flags; /* F (truncated to 32 bits, as memcached) */
    uint64_t cas;          /* C */
    uint64_t delta;        /* D, default 1 */
    uint64_t initial;      /* J, default 0 */

    char key_bin[PROTO_KEY_MAX]; /* last: the parser clears everything before it */
};

static inline bool proto_meta_has(const struct proto_meta_request *m, char c)
{
    return (m->flags & PROTO_META_FLAG(c)) != 0;
}

/* The key bytes (decoded when is_binary). */
static inline const char *proto_meta_key(const struct proto_meta_request *m, const char *buf)
{
    return m->is_binary ? m->key_bin : buf + m->key.off;
}

/*
 * Parse the meta request line at the start of buf[0..len). The caller has
 * already seen (proto_parse) that the line is complete and names a meta
 * command. PROTO_OK: *m describes it, *consumed is the line including "\n"
 * (an ms value block follows and is not consumed). PROTO_INCOMPLETE /
 * PROTO_CLOSE: as proto_find_line, *consumed is 0.
 */
enum proto_status proto_meta_parse(struct proto_meta_request *m, const char *buf, size_t len,
                                   const struct proto_limits *lim, size_t *consumed);

/* Error text without "\r\n". */
const char *proto_meta_err_text(enum proto_meta_err err, size_t *len);

/*
 * memcached's base64 decoder (RFC 1341 alphabet): bytes outside the
 * alphabet are skipped, the remaining count must be a non-zero multiple of
 * 4, decoding stops after the first quad holding '=' (one or two of them).
 * Returns the decoded length (> 0), or 0 when invalid or longer than cap.
 */
size_t proto_b64_decode(const char *src, size_t len, char *dst, size_t cap);

/* Padded base64 of src into dst (PROTO_B64_LEN(len) bytes); returns that length. */
size_t proto_b64_encode(const char *src, size_t len, char *dst);

#endif /* PROTO_META_H */
