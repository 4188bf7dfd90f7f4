/*
 * fuzz_proto_text.c - libFuzzer target for the text protocol parsers.
 *
 * Feeds the input to proto_parse() as a pipeline, the way the connection
 * does: parse, consume, skip a storage command's value block, repeat. A line
 * proto_parse() names PROTO_CMD_META goes on to proto_meta_parse() with the
 * same bytes, as process.c hands it to process_meta.c, and an ms line's
 * value block is skipped whenever the server would read or swallow it.
 *
 * It checks both parsers' contracts on every step (consumed <= len, all or
 * nothing, words and keys inside the line, the same answer for a prefix that
 * already holds the whole line, meta flags that agree with the words they
 * came from and with a copy of the line cut after fewer flags) and runs the
 * composers, the number parsers and the base64 codec on what it finds. The
 * first input byte picks tiny limits half of the time so the 2048-byte and
 * key-length rules are reachable with short inputs.
 *
 * Rejected: a separate meta-only target. Meta lines reach the server only
 * through proto_parse(), so fuzzing them in the same pipeline also checks
 * that both parsers agree on where a line ends and what follows it.
 */
#include "proto_meta.h"
#include "proto_text.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const struct request *r, const char *buf)
{
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    double d;

    assert(r->line.len < r->line.consumed);
    assert(r->ntokens <= PROTO_MAX_WORDS);
    assert(r->rest <= r->line.len);
    for (size_t i = 0; i < r->ntokens; i++) {
        assert(r->tokens[i].len > 0);
        assert(r->tokens[i].off + r->tokens[i].len <= r->line.len);
        assert(memchr(buf + r->tokens[i].off, ' ', r->tokens[i].len) == NULL);
        (void)proto_parse_u32(buf, r->tokens[i], &u32);
        (void)proto_parse_i32(buf, r->tokens[i], &i32);
        (void)proto_parse_u64(buf, r->tokens[i], &u64);
        (void)proto_parse_double(buf, r->tokens[i], &d);
    }
    assert(r->key.off + r->key.len <= r->line.len);
    if (r->reply == PROTO_REPLY_NONE && r->cmd >= PROTO_CMD_SET && r->cmd <= PROTO_CMD_CAS) {
        assert(r->vlen >= 0 && r->vlen <= INT32_MAX - 2);
        assert(r->key.len > 0 && r->key.len <= PROTO_KEY_MAX);
    }
}

/* Walk the keys of a retrieval command as the executor does and compose VALUE lines. */
static void walk_keys(const struct request *r, const char *buf, const struct proto_limits *lim)
{
    char out[PROTO_VALUE_HEADER_MAX];
    size_t pos = r->first_key < r->ntokens ? r->tokens[r->first_key].off : r->line.len;
    struct proto_token k;

    while (proto_next_word(buf, r->line.len, &pos, &k)) {
        assert(k.off + k.len <= r->line.len && pos <= r->line.len);
        if (!proto_key_ok(k.len, lim) || k.len > PROTO_KEY_MAX) {
            break;
        }
        assert(proto_compose_value(out, buf + k.off, k.len, UINT32_MAX, k.len, true, UINT64_MAX) <=
               sizeof(out));
    }
}

static void check_prefix(const char *buf, size_t len, const struct proto_limits *lim,
                         const struct request *full, size_t cut)
{
    struct request r;
    size_t consumed = 1;
    enum proto_status st;

    if (cut >= len) {
        return;
    }
    st = proto_parse(&r, buf, cut, lim, &consumed);
    if (cut < full->line.consumed) {
        /* Without its newline the line may only wait or be refused by the long-line rule. */
        assert(st != PROTO_OK && consumed == 0);
    } else {
        assert(st == PROTO_OK && consumed == full->line.consumed && r.cmd == full->cmd &&
               r.reply == full->reply);
    }
}

/* ---- meta commands ---------------------------------------------------- */

/* mg ms md ma: the commands whose words after the key are flags. */
static bool meta_has_flags(enum proto_meta_cmd cmd)
{
    return cmd == PROTO_META_GET || cmd == PROTO_META_SET || cmd == PROTO_META_DELETE ||
           cmd == PROTO_META_ARITH;
}

/* The argument of a flag word: the bytes after its letter. */
static struct proto_token meta_arg(struct proto_token w)
{
    struct proto_token a = {w.off + 1, w.len - 1};
    return a;
}

/* Whatever decodes must come back unchanged from an encode and a decode. */
static void check_b64_round_trip(const char *src, size_t n)
{
    char enc[PROTO_B64_LEN(PROTO_KEY_MAX + 3)];
    char dec[PROTO_KEY_MAX + 3]; /* the decoder wants room for whole quads */
    size_t e;

    assert(n > 0 && n <= PROTO_KEY_MAX);
    e = proto_b64_encode(src, n, enc);
    assert(e == PROTO_B64_LEN(n));
    assert(proto_b64_decode(enc, e, dec, sizeof(dec)) == n && memcmp(dec, src, n) == 0);
}

/*
 * Decode a word into exactly cap bytes of heap (so ASan sees any write past
 * cap); a decode that fits a smaller cap gives the same bytes with a larger one.
 */
static size_t b64_decode_exact(const char *buf, struct proto_token w, size_t cap, char *copy)
{
    char *dst = malloc(cap > 0 ? cap : 1);
    size_t n;

    assert(dst != NULL);
    n = proto_b64_decode(buf + w.off, w.len, dst, cap);
    assert(n <= cap);
    if (n > 0) {
        memcpy(copy, dst, n);
    }
    free(dst);
    return n;
}

static void check_b64_word(const char *buf, struct proto_token w)
{
    char small[PROTO_KEY_MAX + 3];
    char big[PROTO_KEY_MAX + 3];
    size_t cap = w.len / 4 * 3;
    size_t n_small, n_big;

    if (cap == 0 || cap > PROTO_KEY_MAX) {
        return;
    }
    n_small = b64_decode_exact(buf, w, cap - 1, small);
    n_big = b64_decode_exact(buf, w, cap, big);
    if (n_small > 0) {
        assert(n_big == n_small && memcmp(small, big, n_small) == 0);
    }
    if (n_big > 0) {
        check_b64_round_trip(big, n_big);
    }
}

/* Words, line and error text: what holds for every parsed meta line. */
static void check_meta_line(const struct proto_meta_request *m, const char *buf)
{
    size_t n;
    const char *text = proto_meta_err_text(m->err, &n);

    assert(text != NULL && strlen(text) == n && (n == 0) == (m->err == PROTO_META_ERR_NONE));
    assert(m->line.len < m->line.consumed);
    assert(m->nwords <= PROTO_MAX_WORDS && m->first_flag <= m->nwords);
    for (size_t i = 0; i < m->nwords; i++) {
        assert(m->words[i].len > 0 && m->words[i].off + m->words[i].len <= m->line.len);
        assert(memchr(buf + m->words[i].off, ' ', m->words[i].len) == NULL);
    }
    /* Only ms swallows, and only after it has read a usable datalen. */
    if (m->swallow) {
        assert(m->cmd == PROTO_META_SET && m->vlen >= 0 && m->vlen <= INT32_MAX - 2);
    }
    if (m->is_binary) {
        assert(m->nkey <= sizeof(m->key_bin));
        assert(m->cmd == PROTO_META_DEBUG || proto_meta_has(m, 'b'));
    }
}

/* The key of a request without error: the second word, decoded when binary. */
static void check_meta_key(const struct proto_meta_request *m, const char *buf,
                           const struct proto_limits *lim)
{
    bool want_binary = m->cmd == PROTO_META_DEBUG
                           ? m->nwords >= 3 && proto_word_is(buf, m->words[2], "b")
                           : proto_meta_has(m, 'b');

    assert(m->nwords >= 2 && m->key.off == m->words[1].off && m->key.len == m->words[1].len);
    assert(proto_key_ok(m->key.len, lim));
    assert(m->is_binary == want_binary);
    if (!m->is_binary) {
        assert(m->nkey == m->key.len && proto_meta_key(m, buf) == buf + m->key.off);
        return;
    }
    assert(m->nkey > 0 && m->nkey <= m->key.len / 4 * 3 && proto_meta_key(m, buf) == m->key_bin);
    check_b64_round_trip(m->key_bin, m->nkey);
}

/* A value flag's field holds what its word says (the parser accepted it). */
static void check_meta_value(const struct proto_meta_request *m, const char *buf,
                             struct proto_token w)
{
    struct proto_token a = meta_arg(w);
    int32_t i32;
    uint32_t u32;
    uint64_t u64;

    switch (buf[w.off]) {
    case 'N':
        assert(proto_parse_i32(buf, a, &i32) && i32 == m->vivify_ttl);
        break;
    case 'T':
        assert(proto_parse_i32(buf, a, &i32) && i32 == m->ttl);
        break;
    case 'R':
        assert(proto_parse_i32(buf, a, &i32) && i32 == m->recache_ttl);
        break;
    case 'F':
        assert(proto_parse_u32(buf, a, &u32) && u32 == m->client_flags);
        break;
    case 'C':
        assert(proto_parse_u64(buf, a, &u64) && u64 == m->cas);
        break;
    case 'J':
        assert(proto_parse_u64(buf, a, &u64) && u64 == m->initial);
        break;
    case 'D':
        assert(proto_parse_u64(buf, a, &u64) && u64 == m->delta);
        break;
    case 'M':
        assert(w.len == 2 && m->mode == buf[w.off + 1]);
        break;
    default:
        break;
    }
}

/*
 * The flags of an mg/ms/md/ma without error: known letters, each once,
 * flags == the letters of the flag words, and the values they carry.
 */
static void check_meta_flags(const struct proto_meta_request *m, const char *buf)
{
    static const char known[] = "NTRCFJDMlOPLkstcfvhuqIb";
    uint64_t seen = 0;
    bool long_opaque = false;

    assert(m->nwords <= PROTO_META_MAX_WORDS);
    assert(m->first_flag == (m->cmd == PROTO_META_SET ? 3u : 2u));
    for (size_t i = m->first_flag; i < m->nwords; i++) {
        struct proto_token w = m->words[i];
        char c = buf[w.off];

        assert(c != '\0' && strchr(known, c) != NULL);
        assert((seen & PROTO_META_FLAG(c)) == 0);
        seen |= PROTO_META_FLAG(c);
        check_meta_value(m, buf, w);
        long_opaque |= c == 'O' && w.len > PROTO_META_OPAQUE_MAX;
    }
    assert(seen == m->flags && long_opaque == m->has_long_opaque);
    assert(proto_meta_has(m, 'D') || m->delta == 1);
    assert(proto_meta_has(m, 'J') || m->initial == 0);
    assert(proto_meta_has(m, 'M') || m->mode == 0);
    if (m->cmd == PROTO_META_SET) {
        assert(m->vlen >= 0 && m->vlen <= INT32_MAX - 2 && m->swallow);
        assert(m->mode == 0 || memchr("EAPRS", m->mode, 5) != NULL);
    }
    if (m->cmd == PROTO_META_ARITH) {
        assert(m->mode == 0 || memchr("I+D-", m->mode, 4) != NULL);
    }
    /* ms and md refuse a long opaque up front; mg and ma only when replying. */
    if (m->cmd == PROTO_META_SET || m->cmd == PROTO_META_DELETE) {
        assert(!m->has_long_opaque);
    }
}

/* Two parses of the same line agree on everything the executor reads. */
static bool same_meta(const struct proto_meta_request *a, const struct proto_meta_request *b)
{
    if (a->cmd != b->cmd || a->err != b->err || a->swallow != b->swallow ||
        a->line.len != b->line.len || a->line.consumed != b->line.consumed ||
        a->nwords != b->nwords || a->first_flag != b->first_flag || a->key.off != b->key.off ||
        a->key.len != b->key.len || a->is_binary != b->is_binary || a->nkey != b->nkey ||
        a->flags != b->flags || a->has_long_opaque != b->has_long_opaque || a->mode != b->mode ||
        a->vlen != b->vlen || a->ttl != b->ttl || a->vivify_ttl != b->vivify_ttl ||
        a->recache_ttl != b->recache_ttl || a->client_flags != b->client_flags ||
        a->cas != b->cas || a->delta != b->delta || a->initial != b->initial) {
        return false;
    }
    if (memcmp(a->words, b->words, a->nwords * sizeof(a->words[0])) != 0) {
        return false;
    }
    return !a->is_binary || memcmp(a->key_bin, b->key_bin, a->nkey) == 0;
}

/* Prefixes short of the "\n" wait (or close); the exact line parses the same. */
static void check_meta_prefix(const char *buf, const struct proto_limits *lim,
                              const struct proto_meta_request *full)
{
    size_t cuts[3] = {full->line.consumed / 2, full->line.consumed - 1, full->line.consumed};
    struct proto_meta_request p;

    for (size_t i = 0; i < 3; i++) {
        size_t consumed = 1;
        enum proto_status st = proto_meta_parse(&p, buf, cuts[i], lim, &consumed);

        if (cuts[i] < full->line.consumed) {
            assert(st != PROTO_OK && consumed == 0);
        } else {
            assert(st == PROTO_OK && consumed == full->line.consumed && same_meta(&p, full));
        }
    }
}

/* Each flag the shorter line kept has the value the whole line gave it. */
static void check_same_values(const struct proto_meta_request *p,
                              const struct proto_meta_request *full)
{
    assert((p->flags & ~full->flags) == 0);
    assert(!proto_meta_has(p, 'N') || p->vivify_ttl == full->vivify_ttl);
    assert(!proto_meta_has(p, 'T') || p->ttl == full->ttl);
    assert(!proto_meta_has(p, 'R') || p->recache_ttl == full->recache_ttl);
    assert(!proto_meta_has(p, 'F') || p->client_flags == full->client_flags);
    assert(!proto_meta_has(p, 'C') || p->cas == full->cas);
    assert(!proto_meta_has(p, 'J') || p->initial == full->initial);
    assert(!proto_meta_has(p, 'D') || p->delta == full->delta);
    assert(!proto_meta_has(p, 'M') || p->mode == full->mode);
}

/*
 * A valid mg/ms/md/ma stays valid with its last flags dropped: every flag is
 * checked on its own, so the line cut after word k (k >= first_flag) must
 * parse without error, to the same key word and a subset of the same flags.
 */
static void check_meta_fewer_flags(const char *buf, const struct proto_limits *lim,
                                   const struct proto_meta_request *full)
{
    static char tmp[4096];
    struct proto_meta_request p;
    size_t nflags = full->nwords - full->first_flag;
    size_t k, end, consumed;

    if (nflags == 0) {
        return;
    }
    k = full->first_flag + full->line.len % nflags;
    end = full->words[k - 1].off + full->words[k - 1].len;
    if (end + 2 > sizeof(tmp)) {
        return;
    }
    memcpy(tmp, buf, end);
    memcpy(tmp + end, "\r\n", 2);
    assert(proto_meta_parse(&p, tmp, end + 2, lim, &consumed) == PROTO_OK);
    assert(consumed == end + 2 && p.err == PROTO_META_ERR_NONE && p.cmd == full->cmd);
    assert(p.nwords == k && p.key.off == full->key.off && p.key.len == full->key.len);
    /* Dropping b leaves the key as sent; keeping it must decode the same bytes. */
    if (p.is_binary) {
        assert(p.nkey == full->nkey && memcmp(p.key_bin, full->key_bin, p.nkey) == 0);
    }
    assert(p.vlen == full->vlen);
    check_meta_flags(&p, tmp);
    check_same_values(&p, full);
}

/* Both parsers split the line alike; only proto_parse's META lines are meta. */
static void check_meta_vs_classic(const struct proto_meta_request *m, const struct request *r,
                                  const char *buf)
{
    static const char letters[] = "gsdane"; /* enum proto_meta_cmd order */

    assert(m->line.len == r->line.len && m->line.consumed == r->line.consumed);
    assert(m->nwords == r->ntokens);
    assert(memcmp(m->words, r->tokens, m->nwords * sizeof(m->words[0])) == 0);
    if (r->cmd != PROTO_CMD_META) {
        assert(m->cmd == PROTO_META_NOOP && m->err == PROTO_META_ERR_ERROR);
        return;
    }
    assert(letters[m->cmd] == buf[r->tokens[0].off + 1]);
    /* ERROR only for a keyed command without a key; mn never fails. */
    assert((m->err == PROTO_META_ERR_ERROR) == (meta_has_flags(m->cmd) && m->nwords < 2));
    assert(m->cmd != PROTO_META_NOOP || m->err == PROTO_META_ERR_NONE);
}

/*
 * Run the meta parser on the line proto_parse() just parsed, as the server
 * does, check it, and return how many bytes of value block follow it.
 */
static size_t fuzz_meta(const char *buf, size_t len, const struct proto_limits *lim,
                        const struct request *r)
{
    struct proto_meta_request m;
    size_t consumed = 12345;

    assert(proto_meta_parse(&m, buf, len, lim, &consumed) == PROTO_OK);
    assert(consumed == r->line.consumed && consumed == m.line.consumed);
    check_meta_line(&m, buf);
    check_meta_vs_classic(&m, r, buf);
    if (r->cmd != PROTO_CMD_META) {
        return 0;
    }
    check_meta_prefix(buf, lim, &m);
    if (m.nwords >= 2 && m.cmd != PROTO_META_NOOP) {
        check_b64_word(buf, m.words[1]);
    }
    if (m.err == PROTO_META_ERR_NONE && m.cmd != PROTO_META_NOOP) {
        check_meta_key(&m, buf, lim);
        if (meta_has_flags(m.cmd)) {
            check_meta_flags(&m, buf);
            check_meta_fewer_flags(buf, lim, &m);
        }
    }
    /* ms: the server reads the value, or swallows it after a flag error. */
    if (m.cmd == PROTO_META_SET && (m.err == PROTO_META_ERR_NONE || m.swallow)) {
        return (size_t)m.vlen + 2;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct proto_limits normal = PROTO_LIMITS_DEFAULT;
    static const struct proto_limits tiny = {8, 16, 4, 64};
    const struct proto_limits *lim = (size > 0 && (data[0] & 1)) ? &tiny : &normal;
    const char *buf = (const char *)data;
    size_t off = 0;
    int steps = 0;

    while (off < size && steps++ < 10000) {
        struct request r;
        size_t consumed = 12345;
        size_t skip;
        enum proto_status st = proto_parse(&r, buf + off, size - off, lim, &consumed);

        assert(consumed <= size - off);
        if (st != PROTO_OK) {
            assert(consumed == 0);
            break;
        }
        assert(consumed > 0 && consumed == r.line.consumed);
        check_request(&r, buf + off);
        if (steps == 1) {
            check_prefix(buf, size, lim, &r, size / 2);
        }
        if (r.cmd >= PROTO_CMD_GET && r.cmd <= PROTO_CMD_GATS && r.reply == PROTO_REPLY_NONE) {
            walk_keys(&r, buf + off, lim);
        }
        skip = fuzz_meta(buf + off, size - off, lim, &r);
        off += consumed;
        /* A stored value follows its command line. */
        if (r.reply == PROTO_REPLY_NONE && r.cmd >= PROTO_CMD_SET && r.cmd <= PROTO_CMD_CAS) {
            skip = (size_t)r.vlen + 2;
        }
        off = skip > size - off ? size : off + skip;
    }
    return 0;
}
