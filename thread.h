/*
 * thread.h - worker threads and the hand-off of new connections to them.
 *
 * The listener (main thread) calls thread_dispatch(); the chosen worker
 * takes ownership of the fd and TLS session from its queue and from then on
 * is the only thread that touches the connection.
 */
#ifndef THREAD_H
#define THREAD_H

#include <stdbool.h>
#include <stddef.h>

struct conn_new_info;

/* Start n workers, each with its own event loop. false + err on failure. */
bool thread_setup(int n, char *err, size_t errlen);

/* Hand a new connection to the next worker (round robin). */
void thread_dispatch(const struct conn_new_info *info);

/* Ask every worker to close its connections and exit, then join them. */
void thread_stop_all(void);

/* `stats conns` lines for every worker's connections. */
void thread_emit_conns(void (*emit)(void *ctx, const char *name, const char *val), void *ctx);

#endif /* THREAD_H */
