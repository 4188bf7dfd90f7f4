/* One benchmark connection: connect, TLS handshake, pipelined requests.
 *
 * Owns: the per-connection state machine (connecting, handshake, ready),
 * the pipeline ring, the output staging buffer and the input buffer, and
 * matching each reply to the request it answers. Decisions that involve
 * more than one connection (what to send next, when to stop, reconnects,
 * counters) belong to the worker, reached through the mcb_worker_on_* hooks.
 * Must not call OpenSSL directly (mcb_io does) or format wire text itself
 * (mcb_proto does).
 *
 * Requests are copied into a 64 KiB staging buffer before each write, so a
 * pipeline of small requests leaves in one write(2) or one SSL_write call,
 * and the server sees the same few large TLS records a real pipelining
 * client produces. Rejected: one write per request (turns a pipeline depth
 * of 16 into 16 tiny TLS records), and writev of the value straight from
 * the pattern (saves a copy only for plain sockets, and large sets are rare
 * in the scenarios). */
#include "mcb_conn.h"

#include "mcb_opts.h"
#include "mcb_worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define WBUF_SIZE     (64 * 1024)
#define RBUF_SIZE     (64 * 1024)
#define PREFILL_DEPTH 16u

static void on_io(evutil_socket_t fd, short what, void *arg);

int mcb_conn_init(struct mcb_conn *c, struct mcb_worker *w, unsigned id, bool is_idle)
{
    unsigned pipeline = w->sh->o->pipeline;

    memset(c, 0, sizeof(*c));
    c->w = w;
    c->id = id;
    c->is_idle = is_idle;
    c->io.fd = -1;
    c->state = MCB_CONN_CLOSED;
    if (is_idle) {
        return 0;
    }
    c->cap = pipeline > PREFILL_DEPTH ? pipeline : PREFILL_DEPTH;
    c->ring = calloc(c->cap, sizeof(*c->ring));
    c->wbuf = malloc(WBUF_SIZE);
    c->rbuf = malloc(RBUF_SIZE);
    return c->ring != NULL && c->wbuf != NULL && c->rbuf != NULL ? 0 : -1;
}

void mcb_conn_deinit(struct mcb_conn *c)
{
    mcb_conn_close(c, false);
    mcb_io_session_free(&c->session);
    free(c->ring);
    free(c->wbuf);
    free(c->rbuf);
    c->ring = NULL;
    c->wbuf = NULL;
    c->rbuf = NULL;
}

void mcb_conn_close(struct mcb_conn *c, bool is_graceful)
{
    if (c->ev_read != NULL) {
        event_free(c->ev_read);
        c->ev_read = NULL;
    }
    if (c->ev_write != NULL) {
        event_free(c->ev_write);
        c->ev_write = NULL;
    }
    mcb_io_close(&c->io, is_graceful && c->state == MCB_CONN_READY);
    if (c->state != MCB_CONN_DEAD) {
        c->state = MCB_CONN_CLOSED;
    }
    c->count = 0;
    c->unsent = 0;
}

static void fail(struct mcb_conn *c, const char *why, bool is_protocol)
{
    unsigned lost = c->count;

    mcb_conn_close(c, false);
    c->state = MCB_CONN_DEAD;
    mcb_worker_on_failed(c->w, c, why, is_protocol, lost);
}

static void set_expect(struct mcb_conn *c)
{
    const struct mcb_req *r = &c->ring[c->head];
    const struct mcb_shared *sh = c->w->sh;

    c->expect.is_set = r->is_set;
    c->expect.key = c->expect_key;
    c->expect.key_len = mcb_proto_key(&sh->kf, r->key, c->expect_key);
    c->expect.pattern = sh->pattern;
    c->expect.pattern_len = sh->pattern_len;
    mcb_parser_reset(&c->parser);
}

static void fill_ring(struct mcb_conn *c)
{
    unsigned depth = mcb_worker_depth(c->w);
    uint64_t limit = mcb_worker_gen_limit(c->w);

    if (depth > c->cap) {
        depth = c->cap;
    }
    while (c->count < depth && (limit == 0 || c->gen_issued < limit)) {
        struct mcb_req *r = &c->ring[(c->head + c->count) % c->cap];

        if (!mcb_worker_next_req(c->w, r)) {
            break;
        }
        c->count++;
        c->unsent++;
        c->gen_issued++;
        if (c->count == 1) {
            set_expect(c);
        }
    }
}

static void fill_wbuf(struct mcb_conn *c)
{
    const struct mcb_shared *sh = c->w->sh;

    while (c->unsent > 0 && c->wlen < WBUF_SIZE) {
        unsigned idx = (c->head + c->count - c->unsent) % c->cap;
        bool is_done;
        size_t n = mcb_proto_emit(&c->ring[idx], &sh->kf, sh->pattern, c->emit_off,
                                  c->wbuf + c->wlen, WBUF_SIZE - c->wlen, &is_done);

        c->wlen += n;
        if (!is_done) {
            c->emit_off += n;
            break;
        }
        c->emit_off = 0;
        c->unsent--;
    }
}

/* Writes until everything queued is out or the socket pushes back. Only an
 * empty staging buffer is refilled, so after a WANT the retry repeats the
 * same bytes, as SSL_write requires. */
static void flush(struct mcb_conn *c)
{
    for (;;) {
        ssize_t n;

        if (c->woff == c->wlen) {
            c->woff = 0;
            c->wlen = 0;
            fill_wbuf(c);
            if (c->wlen == 0) {
                return;
            }
        }
        n = mcb_io_write(&c->io, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            c->w->st.bytes_out += (uint64_t)n;
            continue;
        }
        if (n == MCB_IO_WANT_WRITE) {
            event_add(c->ev_write, NULL);
            return;
        }
        if (n == MCB_IO_WANT_READ) {
            return; /* ev_read is persistent and will call us again */
        }
        fail(c, mcb_io_last_error(), false);
        return;
    }
}

static void reset_pipeline(struct mcb_conn *c)
{
    c->head = 0;
    c->count = 0;
    c->unsent = 0;
    c->emit_off = 0;
    c->wlen = 0;
    c->woff = 0;
    c->rlen = 0;
    c->gen_issued = 0;
    c->gen_done = 0;
    mcb_parser_reset(&c->parser);
}

static int open_socket(struct mcb_conn *c)
{
    const struct mcb_shared *sh = c->w->sh;
    int one = 1;
    int fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    c->io.fd = fd;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&sh->addr, sh->addr_len) != 0 &&
        errno != EINPROGRESS) {
        return -1;
    }
    c->ev_read = event_new(c->w->base, fd, EV_READ | EV_PERSIST, on_io, c);
    c->ev_write = event_new(c->w->base, fd, EV_WRITE, on_io, c);
    if (c->ev_read == NULL || c->ev_write == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void mcb_conn_start(struct mcb_conn *c)
{
    reset_pipeline(c);
    c->gen++;
    c->state = MCB_CONN_CONNECTING;
    if (open_socket(c) != 0) {
        fail(c, strerror(errno), false);
        return;
    }
    /* Completion of a non-blocking connect shows up as writability. */
    event_add(c->ev_write, NULL);
    if (!c->is_idle) {
        fill_ring(c);
    }
}

void mcb_conn_kick(struct mcb_conn *c)
{
    if (c->state != MCB_CONN_READY || c->is_idle) {
        return;
    }
    fill_ring(c);
    if (c->count == 0) {
        mcb_worker_on_drained(c->w, c);
        return;
    }
    flush(c);
}

static void become_ready(struct mcb_conn *c)
{
    c->state = MCB_CONN_READY;
    event_add(c->ev_read, NULL);
    mcb_worker_on_ready(c->w, c, mcb_io_is_resumed(&c->io));
    if (c->state == MCB_CONN_READY && !c->is_idle) {
        flush(c);
    }
}

static void drive_handshake(struct mcb_conn *c)
{
    int r = mcb_io_handshake(&c->io);

    if (r == 0) {
        become_ready(c);
    } else if (r == MCB_IO_WANT_WRITE) {
        event_add(c->ev_write, NULL);
    } else if (r != MCB_IO_WANT_READ) {
        fail(c, mcb_io_last_error(), false);
    }
}

static void finish_connect(struct mcb_conn *c)
{
    struct mcb_shared *sh = c->w->sh;
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        fail(c, strerror(err), false);
        return;
    }
    if (sh->tls == NULL) {
        become_ready(c);
        return;
    }
    if (mcb_io_tls_start(&c->io, sh->tls, sh->o->is_tls_resume ? &c->session : NULL) != 0) {
        fail(c, mcb_io_last_error(), false);
        return;
    }
    c->state = MCB_CONN_HANDSHAKE;
    event_add(c->ev_read, NULL);
    drive_handshake(c);
}

/* Retires the head request; the worker may close or restart c from here. */
static void complete_head(struct mcb_conn *c)
{
    struct mcb_req r = c->ring[c->head];

    c->head = (c->head + 1) % c->cap;
    c->count--;
    c->gen_done++;
    mcb_worker_on_reply(c->w, &r, (int)c->parser.reply);
    if (c->count > 0) {
        set_expect(c);
    }
    fill_ring(c);
    if (c->count == 0) {
        mcb_worker_on_drained(c->w, c);
    }
}

/* Parses everything buffered. -1 when c was failed, closed or restarted. */
static int consume(struct mcb_conn *c)
{
    size_t pos = 0;

    while (pos < c->rlen) {
        unsigned gen = c->gen;
        size_t used;
        enum mcb_parse_status st;

        if (c->count == 0) {
            fail(c, "reply without a request", true);
            return -1;
        }
        st = mcb_parse_reply(&c->parser, &c->expect, c->rbuf + pos, c->rlen - pos, &used);
        pos += used;
        if (st == MCB_PARSE_AGAIN) {
            break;
        }
        if (st == MCB_PARSE_BAD) {
            fail(c, "malformed or mismatched reply", true);
            return -1;
        }
        complete_head(c);
        if (c->gen != gen || c->state != MCB_CONN_READY) {
            return -1;
        }
    }
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
    return 0;
}

/* Reads until the socket (and OpenSSL) is empty. -1 when c went away. */
static int read_input(struct mcb_conn *c)
{
    for (;;) {
        size_t room = RBUF_SIZE - c->rlen;
        ssize_t n = mcb_io_read(&c->io, c->rbuf + c->rlen, room);

        if (n > 0) {
            c->rlen += (size_t)n;
            c->w->st.bytes_in += (uint64_t)n;
            if (consume(c) != 0) {
                return -1;
            }
            /* A short plain read drained the socket; TLS returns one record
             * per call, so it keeps going until OpenSSL asks for more. */
            if (c->io.ssl == NULL && (size_t)n < room) {
                return 0;
            }
            continue;
        }
        if (n == MCB_IO_WANT_READ) {
            return 0;
        }
        if (n == MCB_IO_WANT_WRITE) {
            event_add(c->ev_write, NULL);
            return 0;
        }
        fail(c, n == 0 ? "server closed the connection" : mcb_io_last_error(), false);
        return -1;
    }
}

/* Idle connections only ever expect TLS housekeeping (session tickets). */
static void idle_input(struct mcb_conn *c)
{
    char buf[512];
    ssize_t n = mcb_io_read(&c->io, buf, sizeof(buf));

    if (n == MCB_IO_WANT_READ) {
        return;
    }
    if (n == MCB_IO_WANT_WRITE) {
        event_add(c->ev_write, NULL);
        return;
    }
    if (n > 0) {
        fail(c, "unexpected data on an idle connection", true);
        return;
    }
    fail(c, n == 0 ? "server closed an idle connection" : mcb_io_last_error(), false);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct mcb_conn *c = arg;

    (void)fd;
    (void)what;
    c->w->now_ns = mcb_now_ns();
    switch (c->state) {
    case MCB_CONN_CONNECTING:
        finish_connect(c);
        break;
    case MCB_CONN_HANDSHAKE:
        drive_handshake(c);
        break;
    case MCB_CONN_READY:
        if (c->is_idle) {
            idle_input(c);
        } else if (read_input(c) == 0 && c->state == MCB_CONN_READY) {
            flush(c);
        }
        break;
    default:
        break;
    }
}
