/*
 * test_proto_text.c - unit tests for the text protocol parser and composer
 * (proto_text.c): line framing and the 2048-byte rule, the tokenizer,
 * memcached's number rules, every classic command's syntax errors, split
 * input at every byte, and compose -> parse round trips. No sockets.
 * Prints TAP; run through prove.
 */
#include "proto_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_num;
static int failures;
static const struct proto_limits lim = PROTO_LIMITS_DEFAULT;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>

static void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    test_num++;
    if (!cond) {
        failures++;
    }
    printf("%sok %d - ", cond ? "" : "not ", test_num);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* Printable form of a test input for messages. */
static const char *show(const char *s, size_t n)
{
    static char out[160];
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < sizeof(out); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\r");
        } else if (c == '\n') {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\n");
        } else if (c < 32 || c > 126) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

static enum proto_status parse_str(struct request *r, const char *s, size_t *consumed)
{
    return proto_parse(r, s, strlen(s), &lim, consumed);
}

static enum proto_reply reply_of(const char *s)
{
    struct request r;
    size_t c;

    if (parse_str(&r, s, &c) != PROTO_OK) {
        return (enum proto_reply) - 1;
    }
    return r.reply;
}

/* ---- framing ---------------------------------------------------------- */

static void test_lines(void)
{
    struct proto_line l;
    char big[4096];

    ok(proto_find_line("get a\r\n", 7, &lim, &l) == PROTO_OK && l.len == 5 && l.consumed == 7,
       "\\r\\n line");
    ok(proto_find_line("get a\n", 6, &lim, &l) == PROTO_OK && l.len == 5 && l.consumed == 6,
       "bare \\n line");
    ok(proto_find_line("\r\n", 2, &lim, &l) == PROTO_OK && l.len == 1 && l.consumed == 2,
       "quirk: lone \\r\\n keeps the \\r (a one-byte command)");
    ok(proto_find_line("\n", 1, &lim, &l) == PROTO_OK && l.len == 0 && l.consumed == 1,
       "empty line");
    ok(proto_find_line("get a\r\r\n", 8, &lim, &l) == PROTO_OK && l.len == 6,
       "only one \\r is stripped");
    ok(proto_find_line("get a\0b\r\n", 9, &lim, &l) == PROTO_OK && l.len == 5 && l.consumed == 9,
       "quirk: line cut at the first NUL, all of it consumed");
    ok(proto_find_line("get a", 5, &lim, &l) == PROTO_INCOMPLETE, "no newline: incomplete");
    ok(proto_find_line("get a\r", 6, &lim, &l) == PROTO_INCOMPLETE, "\\r alone is not an end");

    memset(big, 'x', sizeof(big));
    ok(proto_find_line(big, 2048, &lim, &l) == PROTO_INCOMPLETE, "2048 bytes without \\n: wait");
    ok(proto_find_line(big, 2049, &lim, &l) == PROTO_CLOSE, "2049 bytes without \\n: close");
    memcpy(big, "get ", 4);
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_INCOMPLETE, "long \"get \" line: wait");
    memcpy(big, "gets ", 5);
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_INCOMPLETE, "long \"gets \" line: wait");
    memcpy(big, "gat 1", 5);
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_CLOSE, "quirk: long gat line: close");
    memset(big, ' ', 100);
    memcpy(big + 100, "get ", 4);
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_INCOMPLETE, "100 leading spaces + get: wait");
    memset(big, ' ', 101);
    memcpy(big + 101, "get ", 4);
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_CLOSE, "101 leading spaces + get: close");
    big[4095] = '\n';
    ok(proto_find_line(big, 4096, &lim, &l) == PROTO_OK, "a long line with its \\n is a line");
    {
        struct proto_limits small = lim;
        memcpy(big, "get ", 4);
        big[4095] = 'x';
        small.multiget_max = 3000;
        ok(proto_find_line(big, 4096, &small, &l) == PROTO_CLOSE, "multi-get bound: close");
    }
}

/* ---- tokenizer -------------------------------------------------------- */

static void test_tokenizer(void)
{
    struct proto_token t[PROTO_MAX_TOKENS];
    const char *s = "  set  a\tb 0  ";
    size_t rest;
    size_t n = proto_tokenize(s, 0, strlen(s), t, PROTO_MAX_TOKENS, &rest);
    char line[512];
    size_t len = 0;

    ok(n == 3 && rest == strlen(s), "runs of spaces split, ends scanned");
    ok(t[1].off == 7 && t[1].len == 3, "a tab belongs to the word");
    for (int i = 0; i < 30; i++) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, "w%d ", i);
    }
    n = proto_tokenize(line, 0, len, t, PROTO_MAX_TOKENS, &rest);
    ok(n == 23, "at most 23 words per scan (got %zu)", n);
    ok(rest < len && memcmp(line + rest, "w23 ", 4) == 0, "rest starts after the 23rd word");
    n = proto_tokenize(line, rest, len, t, PROTO_MAX_TOKENS, &rest);
    ok(n == 7 && rest == len, "rescanning the rest finds the others");
    {
        size_t pos = 0, cnt = 0;
        struct proto_token w;
        while (proto_next_word(line, len, &pos, &w)) {
            cnt++;
        }
        ok(cnt == 30, "proto_next_word walks every word");
    }
    ok(proto_tokenize("", 0, 0, t, PROTO_MAX_TOKENS, &rest) == 0 && rest == 0, "empty line");
}

/* ---- numbers ---------------------------------------------------------- */

static struct proto_token word(const char *s)
{
    struct proto_token t = {0, strlen(s)};
    return t;
}

static void test_numbers(void)
{
    static const struct {
        const char *in;
        int ok;
        uint32_t v;
    } u32[] = {
        {"0", 1, 0},
        {"42", 1, 42},
        {"+5", 1, 5},
        {"007", 1, 7},
        {"-0", 1, 0},
        {"-1", 0, 0},
        {"4294967295", 1, UINT32_MAX},
        {"4294967296", 1, 0},
        {"4294967297", 1, 1},
        {"18446744073709551615", 1, UINT32_MAX},
        {"18446744073709551616", 0, 0},
        {"", 0, 0},
        {"x", 0, 0},
        {"5x", 0, 0},
        {"\t5", 1, 5},
        {"5\t", 1, 5},
        {"5\tjunk", 1, 5},
        {"0x10", 0, 0},
        {"-9223372036854775809", 1, UINT32_MAX},
        {"+", 0, 0},
        {" ", 0, 0},
    };
    static const struct {
        const char *in;
        int ok;
        int32_t v;
    } i32[] = {
        {"0", 1, 0},
        {"-1", 1, -1},
        {"2147483647", 1, INT32_MAX},
        {"2147483648", 1, INT32_MIN},
        {"4294967396", 1, 100},
        {"-2147483648", 1, INT32_MIN},
        {"-4294967295", 1, 1},
        {"-4294967296", 1, 0},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775808", 1, 0},
        {"-9223372036854775809", 0, 0},
        {"1e3", 0, 0},
    };
    static const struct {
        const char *in;
        int ok;
        uint64_t v;
    } u64[] = {
        {"18446744073709551615", 1, UINT64_MAX}, {"18446744073709551616", 0, 0},       {"-1", 0, 0},
        {"-18446744073709551615", 1, 1},         {"00000000000000000000000001", 1, 1},
    };

    for (size_t i = 0; i < sizeof(u32) / sizeof(*u32); i++) {
        uint32_t v = 99;
        int r = proto_parse_u32(u32[i].in, word(u32[i].in), &v);
        ok(r == u32[i].ok && (!r || v == u32[i].v), "u32 \"%s\" -> %d %u",
           show(u32[i].in, strlen(u32[i].in)), r, v);
    }
    for (size_t i = 0; i < sizeof(i32) / sizeof(*i32); i++) {
        int32_t v = 99;
        int r = proto_parse_i32(i32[i].in, word(i32[i].in), &v);
        ok(r == i32[i].ok && (!r || v == i32[i].v), "i32 \"%s\" -> %d %d", i32[i].in, r, v);
    }
    for (size_t i = 0; i < sizeof(u64) / sizeof(*u64); i++) {
        uint64_t v = 99;
        int r = proto_parse_u64(u64[i].in, word(u64[i].in), &v);
        ok(r == u64[i].ok && (!r || v == u64[i].v), "u64 \"%s\" -> %d", u64[i].in, r);
    }
    {
        double d;
        ok(proto_parse_double("0.5", word("0.5"), &d) && d == 0.5, "double 0.5");
        ok(!proto_parse_double("x", word("x"), &d), "double x fails");
        ok(!proto_parse_double("1.5x", word("1.5x"), &d), "double 1.5x fails");
        ok(proto_parse_double("1e3", word("1e3"), &d) && d == 1000, "double 1e3");
    }
    {
        /* a word is only its bytes: "12" inside "12 34" */
        struct proto_token t = {0, 2};
        uint32_t v;
        ok(proto_parse_u32("12 34", t, &v) && v == 12, "number stops at the word end");
    }
}

/* ---- commands --------------------------------------------------------- */

static void test_storage_parse(void)
{
    struct request r;
    size_t c;

    ok(parse_str(&r, "set foo 5 10 3\r\nabc\r\n", &c) == PROTO_OK && c == 16 &&
           r.cmd == PROTO_CMD_SET && r.reply == PROTO_REPLY_NONE && r.flags == 5 &&
           r.exptime == 10 && r.vlen == 3 && !r.noreply && r.key.off == 4 && r.key.len == 3,
       "set parses, value not consumed");
    ok(parse_str(&r, "cas foo 0 0 1 99 noreply\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_CAS &&
           r.cas == 99 && r.noreply,
       "cas with noreply");
    ok(reply_of("set a 0 0\r\n") == PROTO_REPLY_ERROR, "set with 4 words: ERROR");
    ok(reply_of("set a 0 0 1 noreply extra\r\n") == PROTO_REPLY_ERROR, "set with 7 words: ERROR");
    ok(reply_of("set a 0 0 1 foo\r\n") == PROTO_REPLY_NONE, "6th word not noreply: ignored");
    ok(parse_str(&r, "set a 0 0 1 noreplyx\r\n", &c) == PROTO_OK && !r.noreply,
       "noreplyx is not noreply");
    ok(reply_of("cas b 0 0 1\r\n") == PROTO_REPLY_ERROR, "cas without unique: ERROR");
    ok(reply_of("set a -1 0 1\r\n") == PROTO_REPLY_BAD_FORMAT, "negative flags");
    ok(reply_of("set a 0 0 -1\r\n") == PROTO_REPLY_BAD_FORMAT, "negative length");
    ok(reply_of("set a 0 0 2147483645\r\n") == PROTO_REPLY_NONE, "length INT_MAX-2 accepted");
    ok(reply_of("set a 0 0 2147483646\r\n") == PROTO_REPLY_BAD_FORMAT, "length INT_MAX-1 refused");
    ok(parse_str(&r, "set a 0 0 -4294967295\r\n", &c) == PROTO_OK && r.vlen == 1,
       "quirk: length -4294967295 wraps to 1");
    ok(parse_str(&r, "set a 4294967297 0 1\r\n", &c) == PROTO_OK && r.flags == 1,
       "quirk: flags truncated to 32 bits");
    ok(reply_of("set a 0x5 0 1\r\n") == PROTO_REPLY_BAD_FORMAT, "hex flags refused");
    ok(reply_of("cas a 0 0 1 -1\r\n") == PROTO_REPLY_BAD_FORMAT, "negative cas unique");
    ok(reply_of("cas a 0 0 1 abc\r\n") == PROTO_REPLY_BAD_FORMAT, "non-numeric cas unique");
    ok(reply_of("SET a 0 0 1\r\n") == PROTO_REPLY_ERROR, "commands are case-sensitive");
    ok(proto_parse(&r, "set a\0x 0 0 1\r\n", 15, &lim, &c) == PROTO_OK && c == 15 &&
           r.reply == PROTO_REPLY_ERROR,
       "quirk: NUL cuts the line (set a -> too few words)");
    {
        char line[400];
        snprintf(line, sizeof(line), "set %0250d 0 0 1\r\n", 0);
        ok(reply_of(line) == PROTO_REPLY_NONE, "250-byte key accepted");
        snprintf(line, sizeof(line), "set %0251d 0 0 1 noreply\r\n", 0);
        ok(parse_str(&r, line, &c) == PROTO_OK && r.reply == PROTO_REPLY_BAD_FORMAT && r.noreply,
           "251-byte key refused, noreply still applies");
    }
    ok(parse_str(&r, "set a 0 0 1 noreply\r\n", &c) == PROTO_OK && r.noreply, "set noreply");
    ok(parse_str(&r, "set a 0 0 x noreply\r\n", &c) == PROTO_OK &&
           r.reply == PROTO_REPLY_BAD_FORMAT && r.noreply,
       "errors keep noreply (memcached silences them)");
}

static void test_retrieval_parse(void)
{
    struct request r;
    size_t c;

    ok(parse_str(&r, "get a b c\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GET &&
           r.first_key == 1 && r.ntokens == 4,
       "get with three keys");
    ok(reply_of("get\r\n") == PROTO_REPLY_ERROR, "get without key: ERROR");
    ok(parse_str(&r, "gets a\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GETS, "gets");
    ok(parse_str(&r, "bget a\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GET, "bget is get");
    ok(parse_str(&r, "gat 10 a\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GAT && r.exptime == 10 &&
           r.first_key == 2,
       "gat");
    ok(parse_str(&r, "gats 10\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GATS &&
           r.reply == PROTO_REPLY_NONE && r.first_key == 2,
       "gats without keys is valid (answers END)");
    ok(reply_of("gat x a\r\n") == PROTO_REPLY_BAD_EXPTIME, "gat bad exptime");
    ok(reply_of("gat\r\n") == PROTO_REPLY_ERROR, "gat alone: ERROR");
    ok(reply_of("get a noreply\r\n") == PROTO_REPLY_NONE, "noreply is a key for get");
}

static void test_other_parse(void)
{
    struct request r;
    size_t c;

    ok(parse_str(&r, "incr a 5\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_INCR && r.num == 5,
       "incr");
    ok(reply_of("incr a -1\r\n") == PROTO_REPLY_BAD_DELTA, "incr negative delta");
    ok(reply_of("incr a 18446744073709551616\r\n") == PROTO_REPLY_BAD_DELTA, "incr delta overflow");
    ok(reply_of("incr a 1 2 3\r\n") == PROTO_REPLY_ERROR, "incr 5 words: ERROR");
    ok(reply_of("incr a\r\n") == PROTO_REPLY_ERROR, "incr 2 words: ERROR");
    ok(parse_str(&r, "decr a 1 noreply\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_DECR &&
           r.noreply,
       "decr noreply");
    ok(reply_of("delete a\r\n") == PROTO_REPLY_NONE, "delete");
    ok(reply_of("delete a 0\r\n") == PROTO_REPLY_NONE, "delete with hold 0");
    ok(reply_of("delete a 0 noreply\r\n") == PROTO_REPLY_NONE, "delete a 0 noreply");
    ok(parse_str(&r, "delete a noreply\r\n", &c) == PROTO_OK && r.noreply, "delete noreply");
    ok(reply_of("delete a 5\r\n") == PROTO_REPLY_DELETE_USAGE, "delete a 5: usage");
    ok(reply_of("delete a 00\r\n") == PROTO_REPLY_DELETE_USAGE, "delete a 00: usage");
    ok(reply_of("delete a 0 0\r\n") == PROTO_REPLY_DELETE_USAGE, "delete a 0 0: usage");
    ok(reply_of("delete a noreply x\r\n") == PROTO_REPLY_DELETE_USAGE, "delete a noreply x");
    ok(reply_of("delete a b c d\r\n") == PROTO_REPLY_ERROR, "delete 5 words: ERROR");
    ok(reply_of("touch a x\r\n") == PROTO_REPLY_BAD_EXPTIME, "touch bad exptime");
    ok(reply_of("touch a 10 x\r\n") == PROTO_REPLY_NONE, "touch with ignored 4th word");
    ok(reply_of("flush_all x\r\n") == PROTO_REPLY_BAD_EXPTIME, "flush_all x");
    ok(parse_str(&r, "flush_all noreply\r\n", &c) == PROTO_OK && r.noreply &&
           r.reply == PROTO_REPLY_NONE && r.exptime == 0,
       "flush_all noreply");
    ok(parse_str(&r, "flush_all 10 x\r\n", &c) == PROTO_OK && r.exptime == 10, "flush_all 10 x");
    ok(reply_of("flush_all 0 0 0\r\n") == PROTO_REPLY_ERROR, "flush_all 4 words: ERROR");
    ok(reply_of("verbosity\r\n") == PROTO_REPLY_ERROR, "verbosity alone: ERROR");
    ok(reply_of("verbosity x\r\n") == PROTO_REPLY_BAD_FORMAT, "verbosity x");
    ok(reply_of("verbosity 1 2\r\n") == PROTO_REPLY_NONE, "verbosity 1 2");
    ok(parse_str(&r, "verbosity noreply\r\n", &c) == PROTO_OK && r.noreply &&
           r.reply == PROTO_REPLY_BAD_FORMAT,
       "verbosity noreply: silent error");
    ok(reply_of("cache_memlimit x\r\n") == PROTO_REPLY_ERROR, "cache_memlimit x");
    ok(reply_of("cache_memlimit 4\r\n") == PROTO_REPLY_MEMLIMIT_SMALL, "cache_memlimit 4");
    ok(reply_of("cache_memlimit 1000000001\r\n") == PROTO_REPLY_MEMLIMIT_UNITS, "memlimit units");
    ok(parse_str(&r, "cache_memlimit 100\r\n", &c) == PROTO_OK && r.num == 100, "memlimit 100");
    ok(parse_str(&r, "version foo\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_VERSION,
       "version ignores words");
    ok(parse_str(&r, "quit now\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_QUIT, "quit");
    ok(parse_str(&r, "shutdown\r\n", &c) == PROTO_OK && r.sub == PROTO_SUB_SHUTDOWN_NOW,
       "shutdown");
    ok(parse_str(&r, "shutdown graceful\r\n", &c) == PROTO_OK &&
           r.sub == PROTO_SUB_SHUTDOWN_GRACEFUL,
       "shutdown graceful");
    ok(reply_of("shutdown foo\r\n") == PROTO_REPLY_SHUTDOWN_MODE, "shutdown foo");
    ok(parse_str(&r, "refresh_certs noreply\r\n", &c) == PROTO_OK && r.noreply &&
           r.cmd == PROTO_CMD_REFRESH_CERTS,
       "refresh_certs noreply");
}

static void test_stats_parse(void)
{
    static const struct {
        const char *line;
        enum proto_sub sub;
        enum proto_reply reply;
    } cases[] = {
        {"stats\r\n", PROTO_SUB_STATS_GENERAL, PROTO_REPLY_NONE},
        {"stats  \r\n", PROTO_SUB_STATS_GENERAL, PROTO_REPLY_NONE},
        {"stats reset foo\r\n", PROTO_SUB_STATS_RESET, PROTO_REPLY_NONE},
        {"stats items x\r\n", PROTO_SUB_STATS_ITEMS, PROTO_REPLY_NONE},
        {"stats slabs\r\n", PROTO_SUB_STATS_SLABS, PROTO_REPLY_NONE},
        {"stats sizes\r\n", PROTO_SUB_STATS_SIZES, PROTO_REPLY_NONE},
        {"stats sizes_enable\r\n", PROTO_SUB_STATS_SIZES_ENABLE, PROTO_REPLY_NONE},
        {"stats settings\r\n", PROTO_SUB_STATS_SETTINGS, PROTO_REPLY_NONE},
        {"stats conns\r\n", PROTO_SUB_STATS_CONNS, PROTO_REPLY_NONE},
        {"stats extstore\r\n", PROTO_SUB_STATS_EXTSTORE, PROTO_REPLY_NONE},
        {"stats detail on\r\n", PROTO_SUB_STATS_DETAIL_ON, PROTO_REPLY_NONE},
        {"stats detail dump\r\n", PROTO_SUB_STATS_DETAIL_DUMP, PROTO_REPLY_NONE},
        {"stats detail\r\n", PROTO_SUB_NONE, PROTO_REPLY_DETAIL_USAGE},
        {"stats detail foo\r\n", PROTO_SUB_NONE, PROTO_REPLY_DETAIL_USAGE},
        {"stats cachedump 1 2\r\n", PROTO_SUB_STATS_CACHEDUMP, PROTO_REPLY_NONE},
        {"stats cachedump 1\r\n", PROTO_SUB_STATS_CACHEDUMP, PROTO_REPLY_BAD_LINE},
        {"stats cachedump x 1\r\n", PROTO_SUB_STATS_CACHEDUMP, PROTO_REPLY_BAD_FORMAT},
        {"stats cachedump 64 1\r\n", PROTO_SUB_STATS_CACHEDUMP, PROTO_REPLY_ILLEGAL_SLAB},
        {"stats proxy\r\n", PROTO_SUB_NONE, PROTO_REPLY_ERROR},
        {"stats foo\r\n", PROTO_SUB_NONE, PROTO_REPLY_ERROR},
        {"stats Items\r\n", PROTO_SUB_NONE, PROTO_REPLY_ERROR},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct request r;
        size_t c;
        enum proto_status st = parse_str(&r, cases[i].line, &c);
        ok(st == PROTO_OK && r.cmd == PROTO_CMD_STATS && r.sub == cases[i].sub &&
               r.reply == cases[i].reply,
           "%s", show(cases[i].line, strlen(cases[i].line)));
    }
}

static void test_admin_parse(void)
{
    static const struct {
        const char *line;
        enum proto_reply reply;
    } cases[] = {
        {"lru\r\n", PROTO_REPLY_ERROR},
        {"lru tune 10 25 0.1 2.0\r\n", PROTO_REPLY_OK},
        {"lru tune 50 50 0.1 2.0\r\n", PROTO_REPLY_LRU_PCT},
        {"lru tune 10 25 0 2.0\r\n", PROTO_REPLY_LRU_FACTOR},
        {"lru tune 10 25 x 2.0\r\n", PROTO_REPLY_ERROR},
        {"lru mode flat\r\n", PROTO_REPLY_OK},
        {"lru mode x\r\n", PROTO_REPLY_ERROR},
        {"lru temp_ttl -1\r\n", PROTO_REPLY_OK},
        {"lru temp_ttl x\r\n", PROTO_REPLY_ERROR},
        {"lru_crawler\r\n", PROTO_REPLY_ERROR},
        {"lru_crawler enable\r\n", PROTO_REPLY_OK},
        {"lru_crawler crawl all\r\n", PROTO_REPLY_CRAWLER_DISABLED},
        {"lru_crawler metadump all\r\n", PROTO_REPLY_CRAWLER_DISABLED},
        {"lru_crawler tocrawl x\r\n", PROTO_REPLY_BAD_FORMAT},
        {"lru_crawler sleep 2000000\r\n", PROTO_REPLY_CRAWLER_SLEEP},
        {"lru_crawler sleep 5\r\n", PROTO_REPLY_OK},
        {"lru_crawler mgdump all\r\n", PROTO_REPLY_ERROR},
        {"slabs\r\n", PROTO_REPLY_ERROR},
        {"slabs reassign 1 2\r\n", PROTO_REPLY_NONE},
        {"slabs reassign 1 1\r\n", PROTO_REPLY_REASSIGN_SAME},
        {"slabs reassign x 1\r\n", PROTO_REPLY_BAD_FORMAT},
        {"slabs reassign 1 2 3\r\n", PROTO_REPLY_ERROR},
        {"slabs automove 1\r\n", PROTO_REPLY_OK},
        {"slabs automove 3\r\n", PROTO_REPLY_ERROR},
        {"slabs automove x\r\n", PROTO_REPLY_BAD_FORMAT},
        {"slabs automove ratio 0.5\r\n", PROTO_REPLY_OK},
        {"slabs automove ratio\r\n", PROTO_REPLY_ERROR},
        {"watch\r\n", PROTO_REPLY_WATCH_DISABLED},
        {"extstore\r\n", PROTO_REPLY_ERROR},
        {"extstore item_size 512\r\n", PROTO_REPLY_OK},
        {"extstore item_size x\r\n", PROTO_REPLY_ERROR},
        {"extstore free_memchunks 63 1\r\n", PROTO_REPLY_OK},
        {"extstore free_memchunks 64 1\r\n", PROTO_REPLY_ERROR},
        {"extstore free_memchunks 1\r\n", PROTO_REPLY_ERROR},
        {"extstore max_frag 0.5\r\n", PROTO_REPLY_OK},
        {"extstore bogus 5\r\n", PROTO_REPLY_ERROR},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        ok(reply_of(cases[i].line) == cases[i].reply, "%s",
           show(cases[i].line, strlen(cases[i].line)));
    }
}

static void test_dispatch(void)
{
    struct request r;
    size_t c;

    ok(reply_of("\r\n") == PROTO_REPLY_ERROR, "empty line: ERROR");
    ok(reply_of("x\r\n") == PROTO_REPLY_ERROR, "one-byte command: ERROR");
    ok(reply_of("foo\r\n") == PROTO_REPLY_ERROR, "unknown command: ERROR");
    ok(parse_str(&r, "foo HTTP/1.1\r\n", &c) == PROTO_CLOSE && c == 0, "HTTP request: close");
    ok(parse_str(&r, "GET / HTTP/1.0\r\n", &c) == PROTO_CLOSE, "GET / HTTP/1.0: close");
    ok(parse_str(&r, "HTTP/1.1\r\n", &c) == PROTO_CLOSE, "lone HTTP/ word: close");
    ok(reply_of("sfoo HTTP/1.1\r\n") == PROTO_REPLY_ERROR, "unknown s-command: ERROR, not close");
    ok(reply_of("x HTTP/1.1\r\n") == PROTO_REPLY_ERROR, "one-byte command before HTTP check");
    ok(reply_of("mx HTTP/1.1\r\n") == PROTO_REPLY_ERROR, "unknown m? command: ERROR");
    ok(reply_of("foo http/1.1\r\n") == PROTO_REPLY_ERROR, "http/ is case-sensitive");
    ok(parse_str(&r, "misbehave HTTP/1.1\r\n", &c) == PROTO_CLOSE, "misbehave is unknown here");
    ok(reply_of("misbehave\r\n") == PROTO_REPLY_ERROR, "misbehave: ERROR");
    ok(reply_of("debugtime 1\r\n") == PROTO_REPLY_ERROR, "debugtime: ERROR");
    ok(parse_str(&r, "mg foo v\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_META && c == 10,
       "mg goes to meta");
    ok(parse_str(&r, "mn\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_META, "mn goes to meta");
    ok(parse_str(&r, "me\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_META, "me goes to meta");
    ok(reply_of("mgg foo\r\n") == PROTO_REPLY_ERROR, "mgg: ERROR");
    ok(reply_of("MG foo\r\n") == PROTO_REPLY_ERROR, "MG: ERROR");
    ok(parse_str(&r, "   get a\r\n", &c) == PROTO_OK && r.cmd == PROTO_CMD_GET,
       "leading spaces are fine");
}

/* Every prefix of a pipeline parses as incomplete or as the same first request. */
static void test_split_points(void)
{
    static const char *const pipes[] = {
        "set foo 1 2 3\r\nabc\r\n",
        "get a b c\r\nversion\r\n",
        "delete a noreply\nincr b 5\r\n",
        "stats detail dump\r\n",
        "\r\n",
        "foo HTTP/1.1\r\n",
        "mg foo v k\r\n",
    };
    int bad = 0;

    for (size_t p = 0; p < sizeof(pipes) / sizeof(*pipes); p++) {
        const char *s = pipes[p];
        size_t n = strlen(s);
        struct request full, part;
        size_t cfull, cpart;
        enum proto_status sfull = proto_parse(&full, s, n, &lim, &cfull);

        for (size_t i = 0; i < n; i++) {
            enum proto_status st = proto_parse(&part, s, i, &lim, &cpart);
            if (i < full.line.consumed) {
                bad += st != PROTO_INCOMPLETE || cpart != 0;
            } else {
                bad += st != sfull || cpart != cfull || part.cmd != full.cmd ||
                       part.reply != full.reply;
            }
        }
    }
    ok(bad == 0, "split at every byte: incomplete until the newline, same result after");
}

/* ---- composing -------------------------------------------------------- */

static void test_compose(void)
{
    char buf[PROTO_VALUE_HEADER_MAX];
    char key[PROTO_KEY_MAX];
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t rest, n;
    uint32_t flags;
    uint64_t v;

    n = proto_compose_value(buf, "foo", 3, 5, 10, false, 0);
    ok(n == 16 && memcmp(buf, "VALUE foo 5 10\r\n", 16) == 0, "VALUE without cas");
    n = proto_compose_value(buf, "foo", 3, 0, 0, true, 123);
    ok(n == 19 && memcmp(buf, "VALUE foo 0 0 123\r\n", 19) == 0, "VALUE with cas");
    memset(key, 'k', sizeof(key));
    n = proto_compose_value(buf, key, sizeof(key), UINT32_MAX, UINT32_MAX, true, UINT64_MAX);
    ok(n == PROTO_VALUE_HEADER_MAX, "widest VALUE line fits PROTO_VALUE_HEADER_MAX exactly");
    /* round trip: the header splits back into the same fields */
    n = proto_tokenize(buf, 0, PROTO_VALUE_HEADER_MAX - 2, t, PROTO_MAX_TOKENS, &rest);
    ok(n == 5 && t[1].len == PROTO_KEY_MAX && proto_parse_u32(buf, t[2], &flags) &&
           flags == UINT32_MAX && proto_parse_u64(buf, t[4], &v) && v == UINT64_MAX,
       "VALUE header round trip");
    n = proto_compose_u64_line(buf, UINT64_MAX);
    ok(n == 22 && memcmp(buf, "18446744073709551615\r\n", 22) == 0, "incr reply");
    n = proto_compose_stat(buf, "pid", "42");
    ok(n == 13 && memcmp(buf, "STAT pid 42\r\n", 13) == 0, "STAT line");
    n = proto_compose_reply(buf, PROTO_REPLY_DELETE_USAGE);
    ok(n == 70 && memcmp(buf + 37, "  Usage: delete <key> [noreply]\r\n", 33) == 0,
       "delete usage text (two spaces)");
    {
        uint64_t counts[4] = {3, 2, 1, 0};
        n = proto_compose_detail(buf, "a", 1, counts);
        ok(n == 34 && memcmp(buf, "PREFIX a get 3 hit 2 set 1 del 0\r\n", 34) == 0, "detail line");
    }
    n = proto_compose_cachedump(buf, "k", 1, 1, 0);
    ok(n == 19 && memcmp(buf, "ITEM k [1 b; 0 s]\r\n", 19) == 0, "cachedump line");
}

/* Random storage lines composed with printf parse back to the same fields. */
static void test_round_trip_random(void)
{
    static const char *const cmds[] = {"set", "add", "replace", "append", "prepend", "cas"};
    unsigned seed = 12345;
    int bad = 0;

    for (int i = 0; i < 2000; i++) {
        char line[600], key[PROTO_KEY_MAX + 1];
        size_t klen = (size_t)(rand_r(&seed) % PROTO_KEY_MAX) + 1;
        unsigned ci = (unsigned)rand_r(&seed) % 6;
        uint32_t flags = (uint32_t)rand_r(&seed) * 2654435761u;
        int32_t exptime = rand_r(&seed) - RAND_MAX / 2;
        int32_t vlen = rand_r(&seed) % 1000000;
        uint64_t cas = ((uint64_t)rand_r(&seed) << 33) ^ (uint64_t)rand_r(&seed);
        bool noreply = rand_r(&seed) & 1;
        struct request r;
        size_t c;
        int n;

        for (size_t k = 0; k < klen; k++) {
            key[k] = (char)(33 + rand_r(&seed) % 94);
        }
        key[klen] = '\0';
        n = snprintf(line, sizeof(line), "%s %s %u %d %d", cmds[ci], key, flags, exptime, vlen);
        if (ci == 5) {
            n += snprintf(line + n, sizeof(line) - (size_t)n, " %llu", (unsigned long long)cas);
        }
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s\r\n", noreply ? " noreply" : "");
        if (proto_parse(&r, line, (size_t)n, &lim, &c) != PROTO_OK || c != (size_t)n ||
            r.reply != PROTO_REPLY_NONE || r.key.len != klen ||
            memcmp(line + r.key.off, key, klen) != 0 || r.flags != flags || r.exptime != exptime ||
            r.vlen != vlen || r.noreply != noreply || (ci == 5 && r.cas != cas)) {
            bad++;
        }
    }
    ok(bad == 0, "2000 random storage lines round-trip (%d bad)", bad);
}

int main(void)
{
    test_lines();
    test_tokenizer();
    test_numbers();
    test_storage_parse();
    test_retrieval_parse();
    test_other_parse();
    test_stats_parse();
    test_admin_parse();
    test_dispatch();
    test_split_points();
    test_compose();
    test_round_trip_random();
    printf("1..%d\n", test_num);
    return failures == 0 ? 0 : 1;
}
