/*
 * conn.c - the per-connection state machine.
 *
 * Owns each connection's read buffer, its struct session (with the reply
 * queue) and its libevent event. Depends on transport.h (bytes in and out),
 * process.h (what the bytes mean) and stats/settings; it never sees OpenSSL
 * or storage. Plain and TLS connections run the same states; the only TLS
 * specific fact leaking here is generic: a transport may hold bytes it has
 * already received (transport_pending), so "the socket is not readable" does
 * not mean "there is nothing to read".
 *
 * States: HANDSHAKE -> READ <-> {VALUE, SWALLOW, WRITE} -> closed. Replies of
 * every complete request in the read buffer are queued, then written in one
 * go (few writev/SSL_write calls for a pipeline); no new input is read while
 * replies are waiting to be written, which bounds the output queue.
 *
 * Rejected: a bufferevent per connection (more memory per connection and no
 * control over when bytes are copied), and reading speculatively after every
 * write (one wasted syscall per request: the level-triggered read event says
 * when there is more).
 */
#include "conn.h"

#include "clock.h"
#include "logger.h"
#include "process.h"
#include "resp.h"
#include "stats.h"
#include "tls.h"
#include "transport.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#define RBUF_SIZE            16384
#define RBUF_MAX             (2 * 1024 * 1024) /* longest request line (multi-get) we buffer */
#define RBUF_CACHE_MAX       16
#define FLUSH_AT             (1024 * 1024) /* write queued replies before parsing more */
#define STALL_SECONDS        2 /* no write progress this long + over the limit = close */
#define CONN_OUTPUT_LIMIT_MB 16

enum conn_state {
    CONN_HANDSHAKE,
    CONN_READ,
    CONN_VALUE,
    CONN_SWALLOW,
    CONN_WRITE,
};

/* What a state step wants next. */
enum step {
    STEP_CONTINUE, /* run the machine again */
    STEP_WAIT,     /* an event is armed; return to the loop */
    STEP_CLOSE,    /* close the connection now */
};

struct conn {
    struct transport t;
    struct session s;
    struct event ev;
    struct conn_owner *owner;
    struct conn *next;
    struct conn *prev;
    char *rbuf; /* input; unprocessed bytes are rbuf[rstart..rend) */
    size_t rsize;
    size_t rstart;
    size_t rend;
    size_t value_done; /* bytes of the current value already read */
    int state;         /* enum conn_state; atomic for `stats conns` */
    short armed;       /* EV_READ, EV_WRITE or 0 */
    bool close_after_write;
    bool shutdown_after_write;
    bool is_unix;
    uint32_t last_cmd; /* relative time of the last request; atomic */
    uint32_t created;
    uint32_t write_progress; /* relative time of the last write progress */
    int id;
    const struct sockaddr_storage *listen; /* the listener's address (not copied) */
    socklen_t listen_len;
};

static void (*shutdown_handler)(void);
static void (*close_handler)(void);

static __thread char *rbuf_cache[RBUF_CACHE_MAX];
static __thread int rbuf_cache_len;

void conn_set_shutdown_handler(void (*fn)(void))
{
    shutdown_handler = fn;
}

void conn_set_close_handler(void (*fn)(void))
{
    close_handler = fn;
}

void conn_owner_init(struct conn_owner *o, struct event_base *base, struct thread_stats *stats)
{
    memset(o, 0, sizeof(*o));
    o->base = base;
    o->stats = stats;
    pthread_mutex_init(&o->list_lock, NULL);
}

static void set_state(struct conn *c, enum conn_state st)
{
    __atomic_store_n(&c->state, (int)st, __ATOMIC_RELAXED);
}

/* Read buffers are recycled per thread so idle connections hold none. */
static char *rbuf_borrow(void)
{
    if (rbuf_cache_len > 0) {
        return rbuf_cache[--rbuf_cache_len];
    }
    return malloc(RBUF_SIZE);
}

static void rbuf_return(struct conn *c)
{
    if (c->rbuf == NULL) {
        return;
    }
    if (c->rsize == RBUF_SIZE && rbuf_cache_len < RBUF_CACHE_MAX) {
        rbuf_cache[rbuf_cache_len++] = c->rbuf;
    } else {
        free(c->rbuf);
    }
    c->rbuf = NULL;
    c->rsize = 0;
    c->rstart = 0;
    c->rend = 0;
}

static void event_cb(evutil_socket_t fd, short what, void *arg);

void conn_thread_teardown(void)
{
    while (rbuf_cache_len > 0) {
        free(rbuf_cache[--rbuf_cache_len]);
    }
    resp_thread_teardown();
}

/* Arm exactly the event the last I/O call asked for. */
static enum step wait_for(struct conn *c, short what)
{
    if (c->armed != what) {
        if (c->armed != 0) {
            event_del(&c->ev);
        }
        event_assign(&c->ev, c->owner->base, c->t.fd, what | EV_PERSIST, event_cb, c);
        if (event_add(&c->ev, NULL) != 0) {
            c->armed = 0;
            return STEP_CLOSE;
        }
        c->armed = what;
    }
    return STEP_WAIT;
}

static void list_remove(struct conn *c)
{
    struct conn_owner *o = c->owner;

    pthread_mutex_lock(&o->list_lock);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        o->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    o->nconns--;
    pthread_mutex_unlock(&o->list_lock);
}

static void conn_close(struct conn *c)
{
    if (c->armed != 0) {
        event_del(&c->ev);
    }
    LOG_VERBOSE("<%d connection closed.", c->id);
    list_remove(c); /* first: `stats conns` on another thread reads the fd */
    transport_close(&c->t);
    session_deinit(&c->s);
    rbuf_return(c);
    free(c);
    stats_conn_closed();
    if (close_handler != NULL) {
        close_handler();
    }
}

static enum step on_io_result(struct conn *c, ssize_t n)
{
    if (n == IO_WANT_READ) {
        return wait_for(c, EV_READ);
    }
    if (n == IO_WANT_WRITE) {
        return wait_for(c, EV_WRITE);
    }
    /* tls.c logs failed handshakes itself, with the peer address */
    if (n == IO_ERROR && c->state != CONN_HANDSHAKE) {
        LOG_INFO("<%d I/O error: %s", c->id, transport_last_error());
    }
    return STEP_CLOSE;
}

static enum step step_handshake(struct conn *c)
{
    ssize_t r = transport_handshake(&c->t);

    if (r == 0) {
        set_state(c, CONN_READ);
        return STEP_CONTINUE;
    }
    return on_io_result(c, r);
}

/* Make room at rbuf[rend]: compact, borrow or grow. false when the line is too long. */
static bool rbuf_make_room(struct conn *c)
{
    if (c->rbuf == NULL) {
        c->rbuf = rbuf_borrow();
        if (c->rbuf == NULL) {
            STATS_INCR(c->owner->stats, read_buf_oom);
            return false;
        }
        c->rsize = RBUF_SIZE;
        return true;
    }
    if (c->rstart > 0) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
    }
    if (c->rend < c->rsize) {
        return true;
    }
    if (c->rsize >= RBUF_MAX) {
        return false;
    }
    char *bigger = realloc(c->rbuf, c->rsize * 2);
    if (bigger == NULL) {
        STATS_INCR(c->owner->stats, read_buf_oom);
        return false;
    }
    c->rbuf = bigger;
    c->rsize *= 2;
    return true;
}

/* After the reply queue drained or input ran dry: sleep until readable. */
static enum step go_idle(struct conn *c)
{
    if (c->rstart == c->rend) {
        rbuf_return(c);
        resp_release_idle(&c->s.out);
    }
    return wait_for(c, EV_READ);
}

static enum step read_more(struct conn *c)
{
    ssize_t n;

    /* Replies first: a client waiting for them may not send more. */
    if (!resp_is_empty(&c->s.out) && transport_pending(&c->t) == 0) {
        set_state(c, CONN_WRITE);
        return STEP_CONTINUE;
    }
    if (!rbuf_make_room(c)) {
        LOG_INFO("<%d request line too long or out of memory, closing", c->id);
        return STEP_CLOSE;
    }
    n = transport_read(&c->t, c->rbuf + c->rend, c->rsize - c->rend);
    if (n > 0) {
        STATS_ADD(c->owner->stats, bytes_read, (uint64_t)n);
        c->rend += (size_t)n;
        return STEP_CONTINUE;
    }
    if (n == IO_WANT_READ) {
        /* pending() may have promised bytes that were only part of a record */
        if (!resp_is_empty(&c->s.out)) {
            set_state(c, CONN_WRITE);
            return STEP_CONTINUE;
        }
        return go_idle(c);
    }
    return on_io_result(c, n);
}

/* Map what process asked for to the next state. */
static enum step after_request(struct conn *c, enum process_status st)
{
    switch (st) {
    case PROCESS_OK:
    case PROCESS_NEED_MORE:
        return STEP_CONTINUE;
    case PROCESS_READ_VALUE:
        c->value_done = 0;
        set_state(c, CONN_VALUE);
        return STEP_CONTINUE;
    case PROCESS_SWALLOW:
        set_state(c, CONN_SWALLOW);
        return STEP_CONTINUE;
    case PROCESS_SHUTDOWN:
        c->shutdown_after_write = true;
        /* fall through */
    case PROCESS_CLOSE:
        c->close_after_write = true;
        set_state(c, CONN_WRITE);
        return STEP_CONTINUE;
    }
    return STEP_CLOSE;
}

/* The -R fairness limit: let other connections run, then come back. */
static enum step yield(struct conn *c)
{
    STATS_INCR(c->owner->stats, conn_yields);
    if (!resp_is_empty(&c->s.out)) {
        set_state(c, CONN_WRITE);
        return STEP_CONTINUE;
    }
    wait_for(c, EV_READ);
    event_active(&c->ev, EV_READ, 0);
    return STEP_WAIT;
}

static enum step step_read(struct conn *c, int *budget)
{
    while (c->rend > c->rstart) {
        size_t consumed = 0;
        enum process_status st;

        if (*budget <= 0) {
            return yield(c);
        }
        st = process_input(&c->s, c->rbuf + c->rstart, c->rend - c->rstart, &consumed);
        c->rstart += consumed;
        if (st == PROCESS_NEED_MORE) {
            break;
        }
        (*budget)--;
        __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        if (st != PROCESS_OK) {
            return after_request(c, st);
        }
        /* Bound the queue: a long pipeline of large gets is written as it goes. */
        if (resp_bytes(&c->s.out) >= FLUSH_AT) {
            set_state(c, CONN_WRITE);
            return STEP_CONTINUE;
        }
    }
    return read_more(c);
}

static enum step step_value(struct conn *c)
{
    while (c->value_done < c->s.value_len) {
        char *dst;
        size_t room = process_value_dest(&c->s, c->value_done, &dst);
        size_t want = c->s.value_len - c->value_done;
        ssize_t n;

        if (room < want) {
            want = room;
        }
        if (c->rend > c->rstart) {
            size_t have = c->rend - c->rstart;
            n = (ssize_t)(have < want ? have : want);
            memcpy(dst, c->rbuf + c->rstart, (size_t)n);
            c->rstart += (size_t)n;
        } else {
            n = transport_read(&c->t, dst, want);
            if (n <= 0) {
                return on_io_result(c, n);
            }
            STATS_ADD(c->owner->stats, bytes_read, (uint64_t)n);
        }
        c->value_done += (size_t)n;
    }
    set_state(c, CONN_READ);
    return after_request(c, process_value_done(&c->s));
}

static enum step step_swallow(struct conn *c)
{
    while (c->s.swallow > 0) {
        size_t have = c->rend - c->rstart;
        ssize_t n;

        if (have > 0) {
            size_t take = have < c->s.swallow ? have : c->s.swallow;
            c->rstart += take;
            c->s.swallow -= take;
            continue;
        }
        if (!rbuf_make_room(c)) {
            return STEP_CLOSE;
        }
        n = transport_read(&c->t, c->rbuf + c->rend, c->rsize - c->rend);
        if (n <= 0) {
            return on_io_result(c, n);
        }
        STATS_ADD(c->owner->stats, bytes_read, (uint64_t)n);
        c->rend += (size_t)n;
    }
    set_state(c, CONN_READ);
    return STEP_CONTINUE;
}

static enum step write_done(struct conn *c)
{
    if (c->close_after_write) {
        if (c->shutdown_after_write && shutdown_handler != NULL) {
            shutdown_handler();
        }
        return STEP_CLOSE;
    }
    set_state(c, CONN_READ);
    if (c->rend > c->rstart || transport_pending(&c->t) > 0) {
        return STEP_CONTINUE;
    }
    return go_idle(c);
}

static enum step step_write(struct conn *c)
{
    if (c->write_progress == 0) {
        c->write_progress = clock_now();
    }
    while (!resp_is_empty(&c->s.out)) {
        int cnt;
        const struct iovec *iov = resp_iov(&c->s.out, &cnt);
        ssize_t n = transport_writev(&c->t, iov, cnt);

        if (n < 0) {
            return on_io_result(c, n);
        }
        STATS_ADD(c->owner->stats, bytes_written, (uint64_t)n);
        resp_consume(&c->s.out, (size_t)n);
        c->write_progress = clock_now();
    }
    c->write_progress = 0;
    return write_done(c);
}

static void drive(struct conn *c)
{
    int budget = settings->reqs_per_event > 0 ? settings->reqs_per_event : 20;

    for (;;) {
        enum step r = STEP_CLOSE;

        switch ((enum conn_state)c->state) {
        case CONN_HANDSHAKE:
            r = step_handshake(c);
            break;
        case CONN_READ:
            r = step_read(c, &budget);
            break;
        case CONN_VALUE:
            r = step_value(c);
            break;
        case CONN_SWALLOW:
            r = step_swallow(c);
            break;
        case CONN_WRITE:
            r = step_write(c);
            break;
        }
        if (r == STEP_WAIT) {
            return;
        }
        if (r == STEP_CLOSE) {
            conn_close(c);
            return;
        }
    }
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    c->owner->events++;
    drive(c);
}

static void list_add(struct conn_owner *o, struct conn *c)
{
    pthread_mutex_lock(&o->list_lock);
    c->next = o->head;
    if (o->head != NULL) {
        o->head->prev = c;
    }
    o->head = c;
    o->nconns++;
    pthread_mutex_unlock(&o->list_lock);
}

bool conn_create(struct conn_owner *o, const struct conn_new_info *info)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        if (info->tls_session != NULL) {
            tls_session_destroy(info->tls_session);
        }
        close(info->fd);
        return false;
    }
    c->owner = o;
    c->id = info->fd;
    c->is_unix = info->is_unix;
    c->created = clock_now();
    c->last_cmd = c->created;
    c->listen = info->listen_addr;
    c->listen_len = info->listen_addr_len;
    if (info->tls_session != NULL) {
        tls_transport_init(&c->t, info->fd, info->tls_session);
        c->state = CONN_HANDSHAKE;
    } else {
        transport_tcp_init(&c->t, info->fd);
        c->state = CONN_READ;
    }
    session_init(&c->s, o->stats, c->id, c->is_unix);
    list_add(o, c);
    stats_conn_opened();
    LOG_VERBOSE("<%d new client connection", c->id);
    drive(c);
    return true;
}

/* A client that stopped reading while holding a large backlog of replies. */
static bool is_output_stalled(const struct conn *c, uint32_t now)
{
    size_t limit = (size_t)CONN_OUTPUT_LIMIT_MB * 1024 * 1024;

    return limit > 0 && c->state == CONN_WRITE && resp_bytes(&c->s.out) > limit &&
           c->write_progress != 0 && now - c->write_progress >= STALL_SECONDS;
}

static bool is_stale(const struct conn *c, uint32_t now)
{
    int st = __atomic_load_n(&c->state, __ATOMIC_RELAXED);

    if (is_output_stalled(c, now)) {
        STATS_INCR(c->owner->stats, conns_output_overflow);
        LOG_INFO("<%d not reading its replies (%zu bytes queued), closing", c->id,
                 resp_bytes(&c->s.out));
        return true;
    }
    /* Whole-second clock: "more than" T ticks is never less than T real seconds. */
    if (st == CONN_HANDSHAKE && settings->ssl_handshake_timeout > 0 &&
        now - c->created > (uint32_t)settings->ssl_handshake_timeout) {
        stats_handshake_timeout();
        LOG_INFO("<%d TLS handshake timed out", c->id);
        return true;
    }
    if (settings->idle_timeout > 0 && st == CONN_READ && c->rstart == c->rend &&
        resp_is_empty(&c->s.out) && now - c->last_cmd > (uint32_t)settings->idle_timeout) {
        STATS_INCR(c->owner->stats, idle_kicks);
        LOG_INFO("<%d closing idle connection", c->id);
        return true;
    }
    return false;
}

void conn_sweep(struct conn_owner *o)
{
    uint32_t now = clock_now();
    struct conn *c = o->head;

    /* Only the owner thread unlinks, so walking without the lock is safe here. */
    while (c != NULL) {
        struct conn *next = c->next;
        if (is_stale(c, now)) {
            conn_close(c);
        }
        c = next;
    }
}

void conn_close_all(struct conn_owner *o)
{
    while (o->head != NULL) {
        conn_close(o->head);
    }
}

/* memcached's names for the states `stats conns` reports. */
static const char *state_name(const struct conn *c, int st)
{
    switch (st) {
    case CONN_HANDSHAKE:
        return "conn_new_cmd";
    case CONN_VALUE:
        return "conn_nread";
    case CONN_SWALLOW:
        return "conn_swallow";
    case CONN_WRITE:
        return "conn_mwrite";
    default:
        return "conn_parse_cmd";
    }
}

/* "tcp:1.2.3.4:5", "tcp6:[::1]:5" or "unix:/path", as memcached prints them. */
static void format_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "";

    if (len == 0) {
        snprintf(out, cap, "unknown");
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, cap, "tcp:%s:%u", host, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "tcp6:[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_UNIX && len > sizeof(sa_family_t)) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        snprintf(out, cap, "unix:%s", un->sun_path);
    } else if (ss->ss_family == AF_UNIX) {
        /* an unnamed UNIX peer: memcached prints its unknown-family form */
        snprintf(out, cap, "?:<AF 0>");
    } else {
        snprintf(out, cap, "unknown");
    }
}

static void emit_one(const struct conn *c, void (*emit)(void *, const char *, const char *),
                     void *ctx)
{
    char name[64];
    char val[160];
    int st = __atomic_load_n(&c->state, __ATOMIC_RELAXED);
    uint32_t last = __atomic_load_n(&c->last_cmd, __ATOMIC_RELAXED);

    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);

    /* Asked for here rather than kept per connection: idle connections stay small. */
    if (getpeername(c->t.fd, (struct sockaddr *)&peer, &peer_len) != 0) {
        peer_len = 0;
    }
    snprintf(name, sizeof(name), "%d:addr", c->id);
    format_addr(&peer, peer_len, val, sizeof(val));
    emit(ctx, name, val);
    snprintf(name, sizeof(name), "%d:listen_addr", c->id);
    format_addr(c->listen, c->listen_len, val, sizeof(val));
    emit(ctx, name, val);
    snprintf(name, sizeof(name), "%d:state", c->id);
    emit(ctx, name, state_name(c, st));
    snprintf(name, sizeof(name), "%d:secs_since_last_cmd", c->id);
    snprintf(val, sizeof(val), "%u", clock_now() - last);
    emit(ctx, name, val);
}

void conn_emit_stats(struct conn_owner *o,
                     void (*emit)(void *ctx, const char *name, const char *val), void *ctx)
{
    pthread_mutex_lock(&o->list_lock);
    for (struct conn *c = o->head; c != NULL; c = c->next) {
        emit_one(c, emit, ctx);
    }
    pthread_mutex_unlock(&o->list_lock);
}
