/*
 * test_proto_meta.c - unit tests for the meta command parser and the
 * base64 codec (proto_meta.c): every syntax error with memcached 1.6.18's
 * wording and precedence, flag values, base64 keys, split input at every
 * byte, and encode -> decode round trips. No sockets. Prints TAP.
 */
#include "proto_meta.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_num;
static int failures;
static const struct proto_limits lim = PROTO_LIMITS_DEFAULT;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

static enum proto_meta_err parse_err(const char *line)
{
    struct proto_meta_request m;
    size_t consumed;

    if (proto_meta_parse(&m, line, strlen(line), &lim, &consumed) != PROTO_OK) {
        return PROTO_META_ERR_COUNT_;
    }
    return m.err;
}

/* Expect the given error text ("" = no error) for a request line. */
static void expect(const char *line, const char *want)
{
    enum proto_meta_err err = parse_err(line);
    size_t n;
    const char *text = proto_meta_err_text(err, &n);

    ok(err != PROTO_META_ERR_COUNT_ && strlen(want) == n && memcmp(text, want, n) == 0,
       "'%.*s' -> '%s' (got '%.*s')", (int)strcspn(line, "\r\n"), line, want, (int)n, text);
}

static void test_errors(void)
{
    expect("mg\r\n", "ERROR");
    expect("ms\r\n", "ERROR");
    expect("me\r\n", "CLIENT_ERROR bad command line format");
    expect("mx foo\r\n", "ERROR");
    expect("mn foo bar\r\n", "");
    expect("mg foo v\r\n", "");
    expect("mg foo x\r\n", "CLIENT_ERROR invalid flag");
    expect("mg foo s s\r\n", "CLIENT_ERROR duplicate flag");
    expect("mg foo \xff\r\n", "CLIENT_ERROR duplicate flag");
    expect("mg foo Nx\r\n", "CLIENT_ERROR bad token in command line format");
    expect("mg foo Fx\r\n", "CLIENT_ERROR bad command line format");
    expect("mg foo Dx Fx\r\n", "CLIENT_ERROR invalid numeric delta value");
    expect("mg foo Dx Jx\r\n", "CLIENT_ERROR invalid numeric initial value");
    expect("mg foo Dx x\r\n", "CLIENT_ERROR invalid flag");
    expect("mg foo M\r\n", "CLIENT_ERROR incorrect length for M token");
    expect("mg foo b\r\n", "CLIENT_ERROR error decoding key");
    expect("mg foo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n",
           "CLIENT_ERROR options flags are too long");
    expect("md foo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n",
           "CLIENT_ERROR options flags too long");
    expect("md foo Tx\r\n", "CLIENT_ERROR invalid or duplicate flag");
    expect("ma foo MX\r\n", "CLIENT_ERROR invalid mode for ma M token");
    expect("ma foo MII\r\n", "CLIENT_ERROR invalid or duplicate flag");
    expect("ms foo\r\n", "CLIENT_ERROR bad command line format");
    expect("ms foo -1\r\n", "CLIENT_ERROR bad command line format");
    expect("ms foo 2 Ms\r\n", "CLIENT_ERROR invalid mode for ms M token");
    expect("ms foo 2 O123456789012345678901234567890123\r\n", "CLIENT_ERROR opaque token too long");
    expect("ms foo 2 MZ O123456789012345678901234567890123\r\n",
           "CLIENT_ERROR invalid mode for ms M token");
    expect("md foo O123456789012345678901234567890123\r\n", "CLIENT_ERROR opaque token too long");
    /* mg/ma report an over-long opaque only when replying. */
    expect("mg foo O123456789012345678901234567890123\r\n", "");
    expect("me Zm9v b\r\n", "");
    expect("me foo b\r\n", "CLIENT_ERROR bad command line format");
}

static void test_values(void)
{
    const char *line =
        "ms YmluYXJ5 5 b T-1 F4294967297 C18446744073709551615 MA q k O12\r\nhello\r\n";
    struct proto_meta_request m;
    size_t consumed;

    ok(proto_meta_parse(&m, line, strlen(line), &lim, &consumed) == PROTO_OK, "parse ms");
    ok(consumed == strlen(line) - 7, "consumed is the line only (%zu)", consumed);
    ok(m.err == PROTO_META_ERR_NONE && m.cmd == PROTO_META_SET, "ms without error");
    ok(m.vlen == 5 && m.ttl == -1 && m.client_flags == 1, "vlen, T, F truncated to 32 bits");
    ok(m.cas == UINT64_MAX && m.mode == 'A', "C and M");
    ok(m.is_binary && m.nkey == 6 && memcmp(proto_meta_key(&m, line), "binary", 6) == 0,
       "base64 key decoded");
    ok(proto_meta_has(&m, 'q') && proto_meta_has(&m, 'k') && !proto_meta_has(&m, 'v'), "flag bits");
    ok(m.first_flag == 3 && m.nwords == 11, "flag words");
    line = "ma n\r\n";
    ok(proto_meta_parse(&m, line, strlen(line), &lim, &consumed) == PROTO_OK && m.delta == 1 &&
           m.initial == 0,
       "ma defaults");
}

/* first_flag never points past the words, even when the flags are missing. */
static void test_first_flag_bound(void)
{
    static const char *const lines[] = {"mg\r\n", "ms foo\r\n", "ms\r\n", "md\r\n", "ma\r\n"};
    struct proto_meta_request m;
    size_t consumed;

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *line = lines[i];
        enum proto_status st = proto_meta_parse(&m, line, strlen(line), &lim, &consumed);

        ok(st == PROTO_OK && m.err != PROTO_META_ERR_NONE && m.first_flag == m.nwords,
           "'%.*s': first_flag %zu == nwords %zu", (int)strcspn(line, "\r\n"), line, m.first_flag,
           m.nwords);
    }
}

static void test_split(void)
{
    const char *line = "mg foo v k O1\r\n";
    size_t len = strlen(line);
    struct proto_meta_request m;
    size_t consumed;

    for (size_t i = 0; i < len; i++) {
        ok(proto_meta_parse(&m, line, i, &lim, &consumed) == PROTO_INCOMPLETE && consumed == 0,
           "prefix of %zu bytes is incomplete", i);
    }
}

static void b64(const char *in, const char *want_hex)
{
    char out[64];
    char hex[130] = "";
    size_t n = proto_b64_decode(in, strlen(in), out, sizeof(out));

    for (size_t i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)out[i]);
    }
    ok(strcmp(hex, want_hex) == 0, "decode '%s' -> '%s' (got '%s')", in, want_hex, hex);
}

static void test_base64(void)
{
    char buf[300];
    char enc[PROTO_B64_LEN(256)];
    char dec[258]; /* the decoder wants room for whole quads */

    b64("YmluYXJ5", "62696e617279");
    b64("YQ==", "61");
    b64("YWI=", "6162");
    b64("YQ", "");       /* not a multiple of 4 */
    b64("====", "");     /* too much padding */
    b64("!!!!", "");     /* nothing in the alphabet */
    b64("Y!Q==", "61");  /* bytes outside the alphabet are skipped */
    b64("YW=j", "6160"); /* '=' counts as zero and ends decoding after its quad */
    for (int i = 0; i < 256; i++) {
        buf[i] = (char)(i * 7 + 3);
    }
    for (size_t n = 1; n <= 256; n += 17) {
        size_t e = proto_b64_encode(buf, n, enc);
        size_t d = proto_b64_decode(enc, e, dec, sizeof(dec));
        ok(e == PROTO_B64_LEN(n) && d == n && memcmp(dec, buf, n) == 0, "round trip %zu bytes", n);
    }
}

int main(void)
{
    test_errors();
    test_values();
    test_first_flag_bound();
    test_split();
    test_base64();
    printf("1..%d\n", test_num);
    return failures == 0 ? 0 : 1;
}
