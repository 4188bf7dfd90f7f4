/*
 * transport.h - the byte-stream contract between a connection and its socket.
 *
 * A connection never knows whether it speaks plain TCP or TLS: it holds a
 * struct transport and calls the inline wrappers below. Two implementations
 * exist: transport_tcp.c (plain sockets, also UNIX sockets) and tls.c
 * (OpenSSL). Transports never call libevent and never touch connection state;
 * they only move bytes between caller memory and the socket.
 *
 * Return values: a call returns bytes (>= 0; a read returning 0 is orderly
 * EOF) or one of the IO_* codes. errno is not part of the contract; the reason
 * for the last IO_ERROR on this thread is transport_last_error(). The want
 * state is returned by each call and never remembered: the caller arms exactly
 * the event the last call asked for.
 */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { IO_ERROR = -1, IO_WANT_READ = -2, IO_WANT_WRITE = -3 };

struct transport;

struct transport_ops {
    /* Drive the handshake: 0 when done, IO_WANT_* to wait, IO_ERROR when failed. */
    ssize_t (*handshake)(struct transport *t);
    /* Read up to len bytes into buf. */
    ssize_t (*read)(struct transport *t, void *buf, size_t len);
    /* Write like writev(2): may write fewer bytes than offered. After an
     * IO_WANT_*, the caller retries with the same leading bytes. */
    ssize_t (*writev)(struct transport *t, const struct iovec *iov, int iovcnt);
    /* Non-zero when the transport holds received bytes the socket will not
     * signal again (TLS: decrypted bytes, or records read ahead and not yet
     * decrypted, reported as 1 since OpenSSL does not say how many). The
     * caller must keep reading while it is non-zero; a read may still
     * return IO_WANT_READ when what is held is only part of a record. */
    size_t (*pending)(const struct transport *t);
    /* Release everything the transport owns and close the fd. Idempotent. */
    void (*close)(struct transport *t);
    /* Short name for logs and `stats conns`: "tcp", "unix" or "tls". */
    const char *name;
};

/* Embedded in the connection; the connection owns it, the transport owns impl. */
struct transport {
    const struct transport_ops *ops;
    int fd;
    void *impl; /* TLS: opaque per-connection state owned by tls.c; NULL for plain */
};

/* Plain TCP or UNIX stream socket. fd must already be non-blocking. */
void transport_tcp_init(struct transport *t, int fd);

/* Human-readable reason for the last IO_ERROR returned on this thread. */
const char *transport_last_error(void);

/* Used by implementations to record the reason for an IO_ERROR (thread-local copy). */
void transport_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline ssize_t transport_handshake(struct transport *t)
{
    return t->ops->handshake(t);
}

static inline ssize_t transport_read(struct transport *t, void *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}

static inline ssize_t transport_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    return t->ops->writev(t, iov, iovcnt);
}

static inline size_t transport_pending(const struct transport *t)
{
    return t->ops->pending(t);
}

static inline void transport_close(struct transport *t)
{
    if (t->ops != NULL) {
        t->ops->close(t);
    }
}

#endif /* TRANSPORT_H */
