/* memcached text protocol, client side, for mcbench.
 *
 * Owns: the wire form of the two commands the benchmark sends (get, set)
 * and a strict reply parser that checks every reply against the request it
 * answers: same key, declared length, value bytes equal to what a set of
 * that length would have stored, and the exact terminators.
 * Must not depend on sockets, TLS or libevent: it only sees byte ranges, so
 * it can be exercised without a server.
 *
 * Rejected: buffering a whole reply before parsing it (500 KB values would
 * need 500 KB per connection and a copy); sscanf-based parsing (slow, and it
 * silently accepts malformed numbers). */
#include "mcb_proto.h"

#include <string.h>

#define MAX_LINE 2048 /* longer reply lines are treated as garbage */

enum parse_state {
    ST_LINE = 0, /* first line of the reply */
    ST_DATA,     /* value bytes */
    ST_DATA_END, /* "\r\n" after the value */
    ST_END_LINE, /* "END" after a VALUE */
};

static size_t put_u64(char *dst, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

size_t mcb_proto_key(const struct mcb_keyfmt *kf, uint64_t idx, char *dst)
{
    memcpy(dst, kf->prefix, kf->prefix_len);
    return kf->prefix_len + put_u64(dst + kf->prefix_len, idx);
}

static size_t header(const struct mcb_req *r, const struct mcb_keyfmt *kf, char *dst)
{
    size_t n;

    memcpy(dst, r->is_set ? "set " : "get ", 4);
    n = 4 + mcb_proto_key(kf, r->key, dst + 4);
    if (r->is_set) {
        memcpy(dst + n, " 0 0 ", 5);
        n += 5;
        n += put_u64(dst + n, r->vlen);
    }
    memcpy(dst + n, "\r\n", 2);
    return n + 2;
}

/* Copies the part of segment [seg, seg+seg_len) that falls in the window. */
static size_t copy_part(const char *seg, size_t seg_len, size_t *off, char *dst, size_t cap)
{
    size_t n;

    if (*off >= seg_len) {
        *off -= seg_len;
        return 0;
    }
    n = seg_len - *off;
    if (n > cap) {
        n = cap;
    }
    memcpy(dst, seg + *off, n);
    *off = 0;
    return n;
}

size_t mcb_proto_emit(const struct mcb_req *r, const struct mcb_keyfmt *kf, const char *pattern,
                      size_t off, char *dst, size_t cap, bool *is_done)
{
    char hdr[MCB_KEY_MAX + 64];
    size_t hlen = header(r, kf, hdr);
    size_t total = hlen + (r->is_set ? (size_t)r->vlen + 2 : 0);
    size_t start = off;
    size_t n;

    n = copy_part(hdr, hlen, &off, dst, cap);
    if (r->is_set) {
        n += copy_part(pattern, r->vlen, &off, dst + n, cap - n);
        n += copy_part("\r\n", 2, &off, dst + n, cap - n);
    }
    *is_done = start + n == total;
    return n;
}

void mcb_parser_reset(struct mcb_parser *p)
{
    memset(p, 0, sizeof(*p));
}

/* Finds one "\r\n"-terminated line. 1: found, 0: need more, -1: garbage. */
static int find_line(const char *buf, size_t len, size_t *line_len)
{
    const char *nl = memchr(buf, '\n', len < MAX_LINE ? len : MAX_LINE);

    if (nl == NULL) {
        return len >= MAX_LINE ? -1 : 0;
    }
    if (nl == buf || nl[-1] != '\r') {
        return -1;
    }
    *line_len = (size_t)(nl - buf) - 1;
    return 1;
}

static bool line_is(const char *line, size_t len, const char *word)
{
    size_t wl = strlen(word);

    return len == wl && memcmp(line, word, wl) == 0;
}

static bool line_starts(const char *line, size_t len, const char *word)
{
    size_t wl = strlen(word);

    return len >= wl && memcmp(line, word, wl) == 0;
}

static bool is_error_line(const char *line, size_t len)
{
    return line_is(line, len, "ERROR") || line_starts(line, len, "SERVER_ERROR ") ||
           line_starts(line, len, "CLIENT_ERROR ") || line_is(line, len, "NOT_STORED") ||
           line_is(line, len, "EXISTS") || line_is(line, len, "NOT_FOUND");
}

/* Parses a decimal token of at most 20 digits; advances *pos past it. */
static bool take_number(const char *s, size_t len, size_t *pos, uint64_t *out)
{
    size_t start = *pos;
    uint64_t v = 0;

    while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9' && *pos - start < 20) {
        v = v * 10 + (uint64_t)(s[*pos] - '0');
        (*pos)++;
    }
    *out = v;
    return *pos > start && (*pos == len || s[*pos] == ' ');
}

/* "VALUE <key> <flags> <bytes>[ <cas>]" for exactly the expected key. */
static bool parse_value_line(const char *s, size_t len, const struct mcb_expect *x, uint64_t *bytes)
{
    size_t pos = 6;
    uint64_t flags;
    uint64_t cas;

    if (!line_starts(s, len, "VALUE ") || len < pos + x->key_len + 1) {
        return false;
    }
    if (memcmp(s + pos, x->key, x->key_len) != 0 || s[pos + x->key_len] != ' ') {
        return false;
    }
    pos += x->key_len + 1;
    if (!take_number(s, len, &pos, &flags) || pos == len || flags > UINT32_MAX) {
        return false;
    }
    pos++;
    if (!take_number(s, len, &pos, bytes)) {
        return false;
    }
    if (pos < len) {
        pos++;
        return take_number(s, len, &pos, &cas) && pos == len;
    }
    return true;
}

static enum mcb_parse_status first_line(struct mcb_parser *p, const struct mcb_expect *x,
                                        const char *line, size_t len)
{
    uint64_t bytes;

    if (x->is_set && line_is(line, len, "STORED")) {
        p->reply = MCB_REPLY_STORED;
        return MCB_PARSE_DONE;
    }
    if (!x->is_set && line_is(line, len, "END")) {
        p->reply = MCB_REPLY_MISS;
        return MCB_PARSE_DONE;
    }
    if (is_error_line(line, len)) {
        p->reply = MCB_REPLY_ERROR;
        return MCB_PARSE_DONE;
    }
    if (x->is_set || !parse_value_line(line, len, x, &bytes)) {
        return MCB_PARSE_BAD;
    }
    /* A value longer than any the tool sets cannot be one it stored. */
    p->is_corrupt = bytes > x->pattern_len;
    p->data_left = (size_t)bytes;
    p->data_off = 0;
    p->state = bytes == 0 ? ST_DATA_END : ST_DATA;
    return MCB_PARSE_AGAIN;
}

static size_t take_data(struct mcb_parser *p, const struct mcb_expect *x, const char *buf,
                        size_t len)
{
    size_t n = len < p->data_left ? len : p->data_left;

    if (!p->is_corrupt && memcmp(buf, x->pattern + p->data_off, n) != 0) {
        p->is_corrupt = true;
    }
    p->data_off += n;
    p->data_left -= n;
    if (p->data_left == 0) {
        p->state = ST_DATA_END;
    }
    return n;
}

/* One step of the state machine; *used is what it consumed. */
static enum mcb_parse_status step(struct mcb_parser *p, const struct mcb_expect *x, const char *buf,
                                  size_t len, size_t *used)
{
    size_t ll = 0;
    int found;

    *used = 0;
    if (p->state == ST_DATA) {
        *used = take_data(p, x, buf, len);
        return MCB_PARSE_AGAIN;
    }
    if (p->state == ST_DATA_END) {
        if (len < 2) {
            return MCB_PARSE_AGAIN;
        }
        *used = 2;
        p->state = ST_END_LINE;
        return buf[0] == '\r' && buf[1] == '\n' ? MCB_PARSE_AGAIN : MCB_PARSE_BAD;
    }
    found = find_line(buf, len, &ll);
    if (found <= 0) {
        return found == 0 ? MCB_PARSE_AGAIN : MCB_PARSE_BAD;
    }
    *used = ll + 2;
    if (p->state == ST_LINE) {
        return first_line(p, x, buf, ll);
    }
    if (!line_is(buf, ll, "END")) {
        return MCB_PARSE_BAD;
    }
    p->reply = p->is_corrupt ? MCB_REPLY_ERROR : MCB_REPLY_HIT;
    return MCB_PARSE_DONE;
}

enum mcb_parse_status mcb_parse_reply(struct mcb_parser *p, const struct mcb_expect *x,
                                      const char *buf, size_t len, size_t *consumed)
{
    enum mcb_parse_status st = MCB_PARSE_AGAIN;
    size_t pos = 0;
    size_t used;

    while (pos < len) {
        st = step(p, x, buf + pos, len - pos, &used);
        pos += used;
        if (st != MCB_PARSE_AGAIN || used == 0) {
            break;
        }
    }
    *consumed = pos;
    return st;
}
