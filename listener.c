/*
 * listener.c - listening sockets, accept and the connection limit.
 *
 * Owns the listen fds and their events on the main thread's loop. Depends on
 * settings, stats, tls (to create a session object) and thread (hand-off).
 * The TLS handshake deliberately does not start here: a slow or hostile
 * client would otherwise stall every other accept (memcached#1139). When
 * accept fails for lack of descriptors the listeners pause with a growing
 * backoff instead of spinning on a readable socket they cannot accept.
 */
#include "listener.h"

#include "clock.h"
#include "conn.h"
#include "logger.h"
#include "settings.h"
#include "stats.h"
#include "thread.h"
#include "tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#define MAX_LISTENERS     128
#define ACCEPTS_PER_EVENT 64
#define BACKOFF_MIN_MS    10
#define BACKOFF_MAX_MS    1000
#define TOO_MANY_CONNS    "ERROR Too many open connections\r\n"

struct listener {
    int fd;
    bool is_unix;
    enum listen_tls tls;
    struct event *ev;
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

static struct listener listeners[MAX_LISTENERS];
static int nlisteners;
static struct event *backoff_ev;
static int backoff_ms;
static bool paused;

int listener_count(void)
{
    return nlisteners;
}

static void set_accepting(bool on)
{
    for (int i = 0; i < nlisteners; i++) {
        if (on) {
            event_add(listeners[i].ev, NULL);
        } else {
            event_del(listeners[i].ev);
        }
    }
    paused = !on;
    stats_set_accepting(on);
}

/* Stop accepting for a while; the timer turns accepting back on. */
static void pause_accepting(void)
{
    struct timeval tv;

    if (!paused) {
        stats_listen_disabled();
        set_accepting(false);
    }
    backoff_ms = backoff_ms == 0 ? BACKOFF_MIN_MS : backoff_ms * 2;
    if (backoff_ms > BACKOFF_MAX_MS) {
        backoff_ms = BACKOFF_MAX_MS;
    }
    tv.tv_sec = backoff_ms / 1000;
    tv.tv_usec = (backoff_ms % 1000) * 1000;
    event_add(backoff_ev, &tv);
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    set_accepting(true);
}

/*
 * The descriptor limit is -c itself (daemon.c). memcached 1.6.18, measured
 * with 1 to 16 threads and -c 30 to 1024, refuses exactly the client that
 * gets the last descriptor (-c minus 1) with its error line; its count of
 * connections plus 5 reserved descriptors per thread never refuses first.
 * Refusing there with a message beats failing the next accept with EMFILE
 * and no message.
 */
static bool over_limit(int fd)
{
    return fd >= settings->maxconns - 1;
}

static void reject(int fd)
{
    ssize_t n = write(fd, TOO_MANY_CONNS, strlen(TOO_MANY_CONNS));
    (void)n;
    close(fd);
    stats_conn_rejected();
}

static void hand_off(struct listener *l, int fd)
{
    struct conn_new_info info;

    memset(&info, 0, sizeof(info));
    info.fd = fd;
    info.is_unix = l->is_unix;
    info.listen_addr = &l->addr;
    info.listen_addr_len = l->addr_len;
    if (settings->ssl_enabled && !l->is_unix && l->tls != LISTEN_TLS_OFF) {
        info.tls_session = tls_session_create(fd, l->tls);
        if (info.tls_session == NULL) {
            LOG_WARN("failed to create a TLS session for a new connection");
            close(fd);
            return;
        }
    }
    thread_dispatch(&info);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct listener *l = arg;

    (void)what;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                LOG_WARN("Too many open connections (accept: %s)", strerror(errno));
                pause_accepting();
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                LOG_WARN("accept(): %s", strerror(errno));
            }
            return;
        }
        backoff_ms = 0;
        if (over_limit(fd)) {
            if (settings->maxconns_fast) {
                reject(fd);
                continue;
            }
            close(fd);
            stats_conn_rejected();
            pause_accepting();
            return;
        }
        hand_off(l, fd);
    }
}

static bool add_listener(struct event_base *base, int fd, bool is_unix, enum listen_tls tls,
                         char *err, size_t errlen)
{
    struct listener *l;

    if (nlisteners == MAX_LISTENERS) {
        snprintf(err, errlen, "too many listening sockets");
        close(fd);
        return false;
    }
    l = &listeners[nlisteners];
    l->fd = fd;
    l->is_unix = is_unix;
    l->tls = tls;
    l->addr_len = sizeof(l->addr);
    getsockname(fd, (struct sockaddr *)&l->addr, &l->addr_len);
    l->ev = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, l);
    if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
        snprintf(err, errlen, "failed to register a listening socket");
        close(fd);
        return false;
    }
    nlisteners++;
    stats_conn_opened(); /* memcached counts listeners as connections too */
    return true;
}

static int open_tcp(const struct addrinfo *ai, char *err, size_t errlen, const char *what)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);

    if (fd < 0) {
        snprintf(err, errlen, "socket(%s): %s", what, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Accepted sockets inherit it on Linux: one system call per listener, not per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, settings->backlog) != 0) {
        int saved = errno;
        snprintf(err, errlen, "failed to listen on TCP port %s: %s", what, strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static bool listen_tcp(struct event_base *base, const char *host, int port, enum listen_tls tls,
                       char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    char what[320];
    int rc;
    int opened = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* -p -1: a port the kernel picks (see write_port_file). */
    snprintf(portstr, sizeof(portstr), "%d", port < 0 ? 0 : port);
    snprintf(what, sizeof(what), "%s:%d", host ? host : "*", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "getaddrinfo(%s): %s", what, gai_strerror(rc));
        return false;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = open_tcp(ai, err, errlen, what);
        if (fd < 0) {
            /* An unavailable IPv6 stack must not stop the IPv4 listener. */
            if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) {
                continue;
            }
            freeaddrinfo(res);
            return false;
        }
        if (!add_listener(base, fd, false, tls, err, errlen)) {
            freeaddrinfo(res);
            return false;
        }
        opened++;
    }
    freeaddrinfo(res);
    if (opened == 0) {
        snprintf(err, errlen, "failed to listen on TCP port %s", what);
        return false;
    }
    return true;
}

static bool listen_unix(struct event_base *base, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    mode_t old_umask;
    int fd;
    int rc;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "UNIX socket path too long: %s", path);
        return false;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(unix): %s", strerror(errno));
        return false;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);
    unlink(path);
    old_umask = umask(~(mode_t)settings->access & 0777);
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (rc != 0 || listen(fd, settings->backlog) != 0) {
        snprintf(err, errlen, "failed to listen on UNIX socket %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    return add_listener(base, fd, true, LISTEN_TLS_OFF, err, errlen);
}

/*
 * memcached's MEMCACHED_PORT_FILENAME: one "TCP INET: <port>" (or INET6)
 * line per TCP listener, written under a temporary name and renamed, so a
 * test harness that started us with -p -1 can learn the port the kernel
 * picked. A failure only warns, as in memcached.
 */
static void write_port_file(void)
{
    const char *name = getenv("MEMCACHED_PORT_FILENAME");
    char tmp[4096];
    FILE *fp;

    if (name == NULL || name[0] == '\0') {
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.lck", name);
    fp = fopen(tmp, "a");
    if (fp == NULL) {
        fprintf(stderr, "Failed to open \"%s\": %s\n", tmp, strerror(errno));
        return;
    }
    for (int i = 0; i < nlisteners; i++) {
        const struct listener *l = &listeners[i];
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&l->addr;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;

        if (l->is_unix) {
            continue;
        }
        if (l->addr.ss_family == AF_INET6) {
            fprintf(fp, "TCP INET6: %u\n", (unsigned)ntohs(in6->sin6_port));
        } else {
            fprintf(fp, "TCP INET: %u\n", (unsigned)ntohs(in4->sin_port));
        }
    }
    if (fclose(fp) != 0 || rename(tmp, name) != 0) {
        fprintf(stderr, "Failed to write \"%s\": %s\n", name, strerror(errno));
    }
}

static bool listen_all(struct event_base *base, char *err, size_t errlen)
{
    backoff_ev = evtimer_new(base, backoff_cb, NULL);
    if (backoff_ev == NULL) {
        snprintf(err, errlen, "failed to create the accept backoff timer");
        return false;
    }
    stats_set_accepting(true);
    if (settings->socketpath != NULL) {
        return listen_unix(base, settings->socketpath, err, errlen);
    }
    if (settings->nlisten == 0) {
        return settings->port == 0 ||
               listen_tcp(base, NULL, settings->port, LISTEN_TLS_DEFAULT, err, errlen);
    }
    for (int i = 0; i < settings->nlisten; i++) {
        const struct listen_spec *ls = &settings->listen[i];
        if (!listen_tcp(base, ls->host, ls->port, ls->tls, err, errlen)) {
            return false;
        }
    }
    return true;
}

bool listener_setup(struct event_base *base, char *err, size_t errlen)
{
    if (!listen_all(base, err, errlen)) {
        return false;
    }
    write_port_file();
    return true;
}

/*
 * SCHED_BATCH: the kernel never lets a batch thread preempt a running one
 * when it wakes. Where the listener shares a core with a worker (the pinned
 * one-core setup of bench/), each new connection interrupted the worker
 * mid-request, at 0.3-0.5 involuntary switches per connection measured on
 * the worker; now the accept waits until the worker sleeps (it does on every
 * network round trip) or for a scheduler tick at most. With a free core
 * nothing changes. Called after the workers exist: threads inherit it.
 */
void listener_defer_to_workers(void)
{
    struct sched_param sp;
    int rc;

    memset(&sp, 0, sizeof(sp));
    rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (rc != 0) {
        LOG_WARN("listener: SCHED_BATCH not set: %s", strerror(rc));
    }
}

void listener_teardown(void)
{
    for (int i = 0; i < nlisteners; i++) {
        event_free(listeners[i].ev);
        close(listeners[i].fd);
    }
    nlisteners = 0;
    if (settings->socketpath != NULL) {
        unlink(settings->socketpath);
    }
    if (backoff_ev != NULL) {
        event_free(backoff_ev);
        backoff_ev = NULL;
    }
}

static void format_listen_addr(const struct listener *l, char *out, size_t cap)
{
    char host[NI_MAXHOST] = "";
    char serv[NI_MAXSERV] = "";

    if (l->is_unix) {
        snprintf(out, cap, "unix:%s", settings->socketpath);
        return;
    }
    getnameinfo((const struct sockaddr *)&l->addr, l->addr_len, host, sizeof(host), serv,
                sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
    if (l->addr.ss_family == AF_INET6) {
        snprintf(out, cap, "tcp6:[%s]:%s", host, serv);
    } else {
        snprintf(out, cap, "tcp:%s:%s", host, serv);
    }
}

void listener_emit_stats(void (*emit)(void *ctx, const char *name, const char *val), void *ctx)
{
    char name[64];
    char val[NI_MAXHOST + 64];

    for (int i = 0; i < nlisteners; i++) {
        const struct listener *l = &listeners[i];
        snprintf(name, sizeof(name), "%d:addr", l->fd);
        format_listen_addr(l, val, sizeof(val));
        emit(ctx, name, val);
        snprintf(name, sizeof(name), "%d:state", l->fd);
        emit(ctx, name, "conn_listening");
        snprintf(name, sizeof(name), "%d:secs_since_last_cmd", l->fd);
        snprintf(val, sizeof(val), "%u", clock_now());
        emit(ctx, name, val);
    }
}
