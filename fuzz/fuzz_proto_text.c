/*
 * fuzz_proto_text.c - libFuzzer target for the text protocol parser.
 *
 * Feeds the input to proto_parse() as a pipeline, the way the connection
 * does: parse, consume, skip a storage command's value block, repeat. It
 * checks the parser's contract on every step (consumed <= len, all or
 * nothing, words and keys inside the line, the same answer for a prefix that
 * already holds the whole line) and runs the composers and number parsers
 * on what it finds. The first input byte picks tiny limits half of the time
 * so the 2048-byte and key-length rules are reachable with short inputs.
 */
#include "proto_text.h"

#include <assert.h>
#include <stdint.h>
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
        off += consumed;
        /* A stored value follows its command line. */
        if (r.reply == PROTO_REPLY_NONE && r.cmd >= PROTO_CMD_SET && r.cmd <= PROTO_CMD_CAS) {
            size_t skip = (size_t)r.vlen + 2;
            off = skip > size - off ? size : off + skip;
        }
    }
    return 0;
}
