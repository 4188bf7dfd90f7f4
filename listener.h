/*
 * listener.h - listening sockets and accept.
 *
 * Runs on the main thread's event loop: accepts, enforces the connection
 * limit, creates the TLS session object for TLS listeners (no handshake
 * I/O), and hands the socket to a worker.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

/* Open every listener the settings ask for. false + err (naming the address) on failure. */
bool listener_setup(struct event_base *base, char *err, size_t errlen);

/* Close all listening sockets (and remove the UNIX socket file). */
void listener_teardown(void);
/* Lets workers run before the accepting thread when they share a core. */
void listener_defer_to_workers(void);

/* Number of open listening sockets. */
int listener_count(void);

/* `stats conns` lines for the listening sockets. */
void listener_emit_stats(void (*emit)(void *ctx, const char *name, const char *val), void *ctx);

#endif /* LISTENER_H */
