#ifndef MCB_PROTO_H
#define MCB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key we ever build: prefix (checked <= 230 bytes) + 20 digits. */
#define MCB_KEY_MAX 256

/* One request as the load generator remembers it while it is in flight. */
struct mcb_req {
    uint64_t key;
    uint64_t t_start_ns;
    uint32_t vlen;
    bool is_set;
};

struct mcb_keyfmt {
    const char *prefix;
    size_t prefix_len;
};

/* Writes prefix+decimal(idx) to dst (MCB_KEY_MAX bytes), returns its length. */
size_t mcb_proto_key(const struct mcb_keyfmt *kf, uint64_t idx, char *dst);

/* Copies bytes [off, off+cap) of the wire form of r into dst and returns how
 * many were copied; *is_done says the request's last byte was copied. The
 * wire form is "get K\r\n" or "set K 0 0 N\r\n" + pattern[0..N) + "\r\n", so
 * a request larger than the output buffer can be emitted in pieces. */
size_t mcb_proto_emit(const struct mcb_req *r, const struct mcb_keyfmt *kf, const char *pattern,
                      size_t off, char *dst, size_t cap, bool *is_done);

enum mcb_reply {
    MCB_REPLY_STORED,
    MCB_REPLY_HIT,
    MCB_REPLY_MISS,
    MCB_REPLY_ERROR, /* well-formed error line, or a value that failed the check */
};

enum mcb_parse_status {
    MCB_PARSE_AGAIN, /* every byte given was used or kept; call again with more */
    MCB_PARSE_DONE,  /* one reply complete, see mcb_parser.reply */
    MCB_PARSE_BAD,   /* the stream cannot be understood any more */
};

/* What the reply at the head of the pipeline must look like. */
struct mcb_expect {
    bool is_set;
    const char *key;
    size_t key_len;
    const char *pattern; /* every value the tool sets is a prefix of this */
    size_t pattern_len;
};

/* Parse state of one reply; zero it (mcb_parser_reset) before each reply. */
struct mcb_parser {
    int state;
    size_t data_left;
    size_t data_off;
    bool is_corrupt;
    enum mcb_reply reply;
};

void mcb_parser_reset(struct mcb_parser *p);

/* Consumes bytes of one reply from buf. Unlike a server-side parser this one
 * streams value bytes as they arrive (so a 500 KB value never has to sit in
 * one buffer): *consumed may be > 0 with MCB_PARSE_AGAIN, and the caller
 * drops those bytes. An incomplete line is never consumed. */
enum mcb_parse_status mcb_parse_reply(struct mcb_parser *p, const struct mcb_expect *x,
                                      const char *buf, size_t len, size_t *consumed);

#endif
