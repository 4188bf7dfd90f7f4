/*
 * proto_meta.c - parser for the meta commands (mg ms md ma mn me) and the
 * base64 codec their b flag uses.
 *
 * Owns: turning one meta request line into a struct proto_meta_request,
 * with every syntax error memcached 1.6.18 would report before it touches an
 * item, in the reference's order and wording. It reuses proto_text's line
 * finder, tokenizer and number parsers, so classic and meta commands agree
 * on what a word and a number are.
 *
 * Must not depend on: storage, connections, stats, allocation. The decoded
 * base64 key lives in the request struct the caller provides.
 *
 * Rejected: decoding the key in place like memcached (it rewrites the read
 * buffer, which a pure parser must not do, and the fuzzer replays the same
 * bytes), and one flag table driving both parsing and reply composition
 * (the reference's reply order and per-command error wording differ enough
 * that the executor walks the words itself; this file only validates).
 */
#include "proto_meta.h"

#include <string.h>

/* ---- errors ----------------------------------------------------------- */

struct err_text {
    const char *text;
    size_t len;
};

#define E(code, s) [code] = {s, sizeof(s) - 1}
static const struct err_text err_table[PROTO_META_ERR_COUNT_] = {
    E(PROTO_META_ERR_NONE, ""),
    E(PROTO_META_ERR_ERROR, "ERROR"),
    E(PROTO_META_ERR_BAD_FORMAT, "CLIENT_ERROR bad command line format"),
    E(PROTO_META_ERR_TOO_MANY_MG, "CLIENT_ERROR options flags are too long"),
    E(PROTO_META_ERR_TOO_MANY, "CLIENT_ERROR options flags too long"),
    E(PROTO_META_ERR_DUPLICATE, "CLIENT_ERROR duplicate flag"),
    E(PROTO_META_ERR_INVALID, "CLIENT_ERROR invalid flag"),
    E(PROTO_META_ERR_KEY_DECODE, "CLIENT_ERROR error decoding key"),
    E(PROTO_META_ERR_BAD_TOKEN, "CLIENT_ERROR bad token in command line format"),
    E(PROTO_META_ERR_M_LENGTH, "CLIENT_ERROR incorrect length for M token"),
    E(PROTO_META_ERR_BAD_INITIAL, "CLIENT_ERROR invalid numeric initial value"),
    E(PROTO_META_ERR_BAD_DELTA, "CLIENT_ERROR invalid numeric delta value"),
    E(PROTO_META_ERR_INVALID_OR_DUP, "CLIENT_ERROR invalid or duplicate flag"),
    E(PROTO_META_ERR_LONG_OPAQUE, "CLIENT_ERROR opaque token too long"),
    E(PROTO_META_ERR_MS_MODE, "CLIENT_ERROR invalid mode for ms M token"),
    E(PROTO_META_ERR_MA_MODE, "CLIENT_ERROR invalid mode for ma M token"),
};
#undef E

const char *proto_meta_err_text(enum proto_meta_err err, size_t *len)
{
    if ((unsigned)err >= PROTO_META_ERR_COUNT_) {
        err = PROTO_META_ERR_ERROR;
    }
    *len = err_table[err].len;
    return err_table[err].text;
}

/* ---- base64 ----------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Sextet value of c, 0 for '=', -1 outside the alphabet (skipped when decoding). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return c == '=' ? 0 : -1;
}

size_t proto_b64_decode(const char *src, size_t len, char *dst, size_t cap)
{
    unsigned quad[4];
    size_t count = 0;
    size_t out = 0;
    size_t i;
    int pad = 0;

    for (i = 0; i < len; i++) {
        count += b64_value((unsigned char)src[i]) >= 0;
    }
    if (count == 0 || count % 4 != 0 || count / 4 * 3 > cap) {
        return 0;
    }
    count = 0;
    for (i = 0; i < len; i++) {
        int v = b64_value((unsigned char)src[i]);
        if (v < 0) {
            continue;
        }
        pad += src[i] == '=';
        quad[count++] = (unsigned)v;
        if (count < 4) {
            continue;
        }
        dst[out++] = (char)((quad[0] << 2) | (quad[1] >> 4));
        dst[out++] = (char)((quad[1] << 4) | (quad[2] >> 2));
        dst[out++] = (char)((quad[2] << 6) | quad[3]);
        count = 0;
        /* The reference stops at the first quad with padding, wherever it is. */
        if (pad > 2) {
            return 0;
        }
        if (pad > 0) {
            return out - (size_t)pad;
        }
    }
    return out;
}

size_t proto_b64_encode(const char *src, size_t len, char *dst)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    size_t i;

    for (i = 0; i + 3 <= len; i += 3) {
        dst[o++] = b64_alphabet[s[i] >> 2];
        dst[o++] = b64_alphabet[((s[i] & 0x03) << 4) | (s[i + 1] >> 4)];
        dst[o++] = b64_alphabet[((s[i + 1] & 0x0f) << 2) | (s[i + 2] >> 6)];
        dst[o++] = b64_alphabet[s[i + 2] & 0x3f];
    }
    if (i < len) {
        bool two = len - i == 2;
        dst[o++] = b64_alphabet[s[i] >> 2];
        dst[o++] = b64_alphabet[((s[i] & 0x03) << 4) | (two ? s[i + 1] >> 4 : 0)];
        dst[o++] = two ? b64_alphabet[(s[i + 1] & 0x0f) << 2] : '=';
        dst[o++] = '=';
    }
    return o;
}

/* ---- flags ------------------------------------------------------------ */

/* The word without its flag letter (numbers follow the letter directly). */
static struct proto_token arg_of(struct proto_token w)
{
    struct proto_token a = {w.off + 1, w.len - 1};
    return a;
}

static bool is_flag_letter(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * One flag word with a value. memcached keeps scanning after a bad value:
 * the last message set wins (F keeps the previous one), so *err is only
 * overwritten here and *bad records that something failed.
 */
static void parse_value_flag(struct proto_meta_request *m, const char *buf, struct proto_token w,
                             enum proto_meta_err *err, bool *bad)
{
    struct proto_token a = arg_of(w);
    bool ok = true;
    enum proto_meta_err why = PROTO_META_ERR_BAD_TOKEN;

    switch (buf[w.off]) {
    case 'N':
        ok = proto_parse_i32(buf, a, &m->vivify_ttl);
        break;
    case 'T':
        ok = proto_parse_i32(buf, a, &m->ttl);
        break;
    case 'R':
        ok = proto_parse_i32(buf, a, &m->recache_ttl);
        break;
    case 'C':
        ok = proto_parse_u64(buf, a, &m->cas);
        break;
    case 'F':
        /* Quirk: a bad F leaves the message as it was ("bad command line format"). */
        ok = proto_parse_u32(buf, a, &m->client_flags);
        why = *err;
        break;
    case 'J':
        ok = proto_parse_u64(buf, a, &m->initial);
        why = PROTO_META_ERR_BAD_INITIAL;
        break;
    case 'D':
        ok = proto_parse_u64(buf, a, &m->delta);
        why = PROTO_META_ERR_BAD_DELTA;
        break;
    case 'M':
        ok = w.len == 2;
        m->mode = ok ? buf[w.off + 1] : 0;
        why = PROTO_META_ERR_M_LENGTH;
        break;
    default:
        break;
    }
    if (!ok) {
        *err = why;
        *bad = true;
    }
}

/* b: decode the key into the request; a failure is reported like a bad value. */
static void decode_key(struct proto_meta_request *m, const char *buf, enum proto_meta_err *err,
                       bool *bad)
{
    m->nkey = proto_b64_decode(buf + m->key.off, m->key.len, m->key_bin, sizeof(m->key_bin));
    m->is_binary = true;
    if (m->nkey == 0) {
        *err = PROTO_META_ERR_KEY_DECODE;
        *bad = true;
    }
}

/*
 * memcached's _meta_flag_preparse(): every flag letter at most once (a byte
 * >= 127 counts as a duplicate), unknown letters stop the scan at once,
 * bad values are remembered and the scan goes on.
 */
static enum proto_meta_err preparse(struct proto_meta_request *m, const char *buf)
{
    static const char with_value[] = "NTRCFJDM";
    static const char plain[] = "lOPLkstcfvhuqI";
    enum proto_meta_err err = PROTO_META_ERR_BAD_FORMAT;
    bool bad = false;
    size_t i;

    for (i = m->first_flag; i < m->nwords; i++) {
        struct proto_token w = m->words[i];
        unsigned char c = (unsigned char)buf[w.off];

        /* Quirk: memcached's seen[] table has 127 entries, so bytes >= 127 are "duplicates". */
        if (c >= 127 || (is_flag_letter(c) && proto_meta_has(m, (char)c))) {
            return PROTO_META_ERR_DUPLICATE;
        }
        if (!is_flag_letter(c)) {
            return PROTO_META_ERR_INVALID;
        }
        m->flags |= PROTO_META_FLAG(c);
        if (c == 'b') {
            decode_key(m, buf, &err, &bad);
        } else if (strchr(with_value, c) != NULL) {
            parse_value_flag(m, buf, w, &err, &bad);
        } else if (strchr(plain, c) == NULL) {
            return PROTO_META_ERR_INVALID;
        } else if (c == 'O' && w.len > PROTO_META_OPAQUE_MAX) {
            m->has_long_opaque = true;
        }
    }
    return bad ? err : PROTO_META_ERR_NONE;
}

/* ---- per command ------------------------------------------------------ */

/* The checks every keyed meta command starts with, in memcached's order. */
static bool check_key_and_count(struct proto_meta_request *m, const struct proto_limits *lim,
                                enum proto_meta_err too_many)
{
    if (m->nwords < 2) {
        m->err = PROTO_META_ERR_ERROR;
        return false;
    }
    if (m->key.len > lim->key_max) {
        m->err = PROTO_META_ERR_BAD_FORMAT;
        return false;
    }
    if (m->cmd == PROTO_META_SET && m->nwords == 2) {
        m->err = PROTO_META_ERR_BAD_FORMAT;
        return false;
    }
    if (m->nwords > PROTO_META_MAX_WORDS) {
        m->err = too_many;
        return false;
    }
    return true;
}

static void parse_mg(struct proto_meta_request *m, const char *buf, const struct proto_limits *lim)
{
    m->first_flag = 2;
    if (check_key_and_count(m, lim, PROTO_META_ERR_TOO_MANY_MG)) {
        m->err = preparse(m, buf);
    }
}

static void parse_ms(struct proto_meta_request *m, const char *buf, const struct proto_limits *lim)
{
    m->first_flag = 3;
    if (!check_key_and_count(m, lim, PROTO_META_ERR_TOO_MANY)) {
        return;
    }
    if (!proto_parse_i32(buf, m->words[2], &m->vlen) || m->vlen < 0 || m->vlen > INT32_MAX - 2) {
        m->err = PROTO_META_ERR_BAD_FORMAT;
        return;
    }
    /* From here on memcached swallows the value block after an error. */
    m->swallow = true;
    m->err = preparse(m, buf);
    if (m->err != PROTO_META_ERR_NONE) {
        return;
    }
    if (m->mode != 0 && strchr("EAPRS", m->mode) == NULL) {
        m->err = PROTO_META_ERR_MS_MODE;
    } else if (m->has_long_opaque) {
        m->err = PROTO_META_ERR_LONG_OPAQUE;
    }
}

static void parse_md(struct proto_meta_request *m, const char *buf, const struct proto_limits *lim)
{
    m->first_flag = 2;
    if (!check_key_and_count(m, lim, PROTO_META_ERR_TOO_MANY)) {
        return;
    }
    if (preparse(m, buf) != PROTO_META_ERR_NONE) {
        m->err = PROTO_META_ERR_INVALID_OR_DUP;
    } else if (m->has_long_opaque) {
        m->err = PROTO_META_ERR_LONG_OPAQUE;
    }
}

static void parse_ma(struct proto_meta_request *m, const char *buf, const struct proto_limits *lim)
{
    m->first_flag = 2;
    if (!check_key_and_count(m, lim, PROTO_META_ERR_TOO_MANY)) {
        return;
    }
    if (preparse(m, buf) != PROTO_META_ERR_NONE) {
        m->err = PROTO_META_ERR_INVALID_OR_DUP;
    } else if (m->mode != 0 && strchr("I+D-", m->mode) == NULL) {
        m->err = PROTO_META_ERR_MA_MODE;
    }
}

/* me: only a lone second word "b" means base64, and no flag checks at all. */
static void parse_me(struct proto_meta_request *m, const char *buf, const struct proto_limits *lim)
{
    m->first_flag = m->nwords;
    if (m->nwords < 2 || m->key.len > lim->key_max) {
        m->err = PROTO_META_ERR_BAD_FORMAT;
        return;
    }
    if (m->nwords >= 3 && proto_word_is(buf, m->words[2], "b")) {
        m->nkey = proto_b64_decode(buf + m->key.off, m->key.len, m->key_bin, sizeof(m->key_bin));
        m->is_binary = true;
        if (m->nkey == 0) {
            m->err = PROTO_META_ERR_BAD_FORMAT;
        }
    }
}

static bool cmd_of(const char *buf, const struct proto_meta_request *m, enum proto_meta_cmd *cmd)
{
    static const char letters[] = "gsdane";
    const char *p;

    if (m->nwords == 0 || m->words[0].len != 2 || buf[m->words[0].off] != 'm') {
        return false;
    }
    p = memchr(letters, buf[m->words[0].off + 1], sizeof(letters) - 1);
    if (p == NULL) {
        return false;
    }
    *cmd = (enum proto_meta_cmd)(p - letters);
    return true;
}

enum proto_status proto_meta_parse(struct proto_meta_request *m, const char *buf, size_t len,
                                   const struct proto_limits *lim, size_t *consumed)
{
    enum proto_status st;
    size_t rest;

    *consumed = 0;
    memset(m, 0, offsetof(struct proto_meta_request, key_bin));
    m->delta = 1;
    m->initial = 0;
    st = proto_find_line(buf, len, lim, &m->line);
    if (st != PROTO_OK) {
        return st;
    }
    *consumed = m->line.consumed;
    m->nwords = proto_tokenize(buf, 0, m->line.len, m->words, PROTO_MAX_TOKENS, &rest);
    if (!cmd_of(buf, m, &m->cmd)) {
        m->cmd = PROTO_META_NOOP;
        m->err = PROTO_META_ERR_ERROR;
        return PROTO_OK;
    }
    if (m->nwords >= 2 && m->cmd != PROTO_META_NOOP) {
        m->key = m->words[1];
        m->nkey = m->key.len;
    }
    switch (m->cmd) {
    case PROTO_META_GET:
        parse_mg(m, buf, lim);
        break;
    case PROTO_META_SET:
        parse_ms(m, buf, lim);
        break;
    case PROTO_META_DELETE:
        parse_md(m, buf, lim);
        break;
    case PROTO_META_ARITH:
        parse_ma(m, buf, lim);
        break;
    case PROTO_META_DEBUG:
        parse_me(m, buf, lim);
        break;
    case PROTO_META_NOOP:
        m->first_flag = m->nwords;
        break;
    }
    /* A line too short to reach its flags has none ("mg", "ms foo"). */
    if (m->first_flag > m->nwords) {
        m->first_flag = m->nwords;
    }
    return PROTO_OK;
}
