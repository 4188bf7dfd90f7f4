/*
 * transport_tcp.c - the plain socket transport (TCP and UNIX streams).
 *
 * Owns nothing but the fd it closes. Depends only on transport.h and libc.
 * It exists so that conn.c never calls read(2)/writev(2) directly: plain and
 * TLS connections run the same state machine through the same contract.
 */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static __thread char last_error[256];

const char *transport_last_error(void)
{
    return last_error;
}

void transport_set_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

static ssize_t map_errno(const char *what)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return what[0] == 'r' ? IO_WANT_READ : IO_WANT_WRITE;
    }
    transport_set_error("%s: %s", what, strerror(errno));
    return IO_ERROR;
}

static ssize_t tcp_handshake(struct transport *t)
{
    (void)t;
    return 0;
}

static ssize_t tcp_read(struct transport *t, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(t->fd, buf, len);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return map_errno("read");
        }
    }
}

static ssize_t tcp_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    if (iovcnt > IOV_MAX) {
        iovcnt = IOV_MAX;
    }
    for (;;) {
        ssize_t n = writev(t->fd, iov, iovcnt);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return map_errno("writev");
        }
    }
}

static size_t tcp_pending(const struct transport *t)
{
    (void)t;
    return 0;
}

static void tcp_close(struct transport *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

static const struct transport_ops tcp_ops = {
    .handshake = tcp_handshake,
    .read = tcp_read,
    .writev = tcp_writev,
    .pending = tcp_pending,
    .close = tcp_close,
    .name = "tcp",
};

void transport_tcp_init(struct transport *t, int fd)
{
    t->ops = &tcp_ops;
    t->fd = fd;
    t->impl = NULL;
}
