/*
 * conn.h - client connections: the non-blocking state machine that moves
 * bytes between a transport and the protocol session.
 *
 * A worker thread owns a struct conn_owner (its event base, counters and
 * list of connections); every connection belongs to exactly one owner and is
 * only touched by that owner's thread, except for the read-only snapshot
 * `stats conns` takes under the owner's list lock.
 */
#ifndef CONN_H
#define CONN_H

#include "settings.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

struct event_base;
struct conn;
struct thread_stats;

struct conn_owner {
    struct event_base *base;
    struct thread_stats *stats;
    pthread_mutex_t list_lock; /* guards the list links only */
    struct conn *head;
    int nconns;
    uint64_t events; /* socket events handled: thread.c's wakeup batching reads it */
};

/* What the listener knows about a new connection. */
struct conn_new_info {
    int fd;
    void *tls_session; /* from tls_session_create(), NULL for plain */
    bool is_unix;
    const struct sockaddr_storage *listen_addr; /* owned by the listener, lives until exit */
    socklen_t listen_addr_len;
};

void conn_owner_init(struct conn_owner *o, struct event_base *base, struct thread_stats *stats);

/* Take ownership of a new socket and start serving it (handshake first for TLS). */
bool conn_create(struct conn_owner *o, const struct conn_new_info *info);

/* Close connections idle longer than idle_timeout or stuck in a TLS handshake. */
void conn_sweep(struct conn_owner *o);

/* Free the calling worker's buffer caches (at worker exit). */
void conn_thread_teardown(void);

/* Close every connection (shutdown). */
void conn_close_all(struct conn_owner *o);

/* `stats conns` lines for this owner's connections. */
void conn_emit_stats(struct conn_owner *o,
                     void (*emit)(void *ctx, const char *name, const char *val), void *ctx);

/* Called when a client sends `shutdown`: set once by main. */
void conn_set_shutdown_handler(void (*fn)(void));

/* Called after a connection closes (the listener may resume accepting). */
void conn_set_close_handler(void (*fn)(void));

#endif /* CONN_H */
