/*
 * tls.h - TLS for the server: the process-wide context, per-connection
 * sessions, certificate reload and TLS counters.
 *
 * OpenSSL types never leave tls.c. When the server is built without TLS
 * (--disable-tls) the same functions exist as stubs that report "TLS not
 * compiled in", so no other file needs #ifdef.
 *
 * Threads: tls_setup() runs in main before threads start. tls_session_create()
 * runs on the listener thread; tls_transport_init() and all I/O run on the
 * worker owning the connection. tls_refresh_certs() may run on any thread: it
 * builds a complete new SSL_CTX, validates it, then swaps the pointer under a
 * lock; sessions hold their own reference to the context they started with.
 */
#ifndef TLS_H
#define TLS_H

#include "settings.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transport;

/* True when this binary has TLS compiled in. */
bool tls_available(void);

/*
 * Build the SSL_CTX from settings (certificate, key, CA, verify mode,
 * ciphers, versions, session cache). Returns false and fills err (naming the
 * file and the OpenSSL reason) when anything is wrong. Call only when
 * settings->ssl_enabled.
 */
bool tls_setup(char *err, size_t errlen);

/* Free the context (at exit). */
void tls_teardown(void);

/*
 * Listener side: create the per-connection TLS state for an accepted fd from
 * the current context, with the verify mode the listener kind asks for.
 * Cheap: no handshake I/O. Returns NULL on allocation failure.
 */
void *tls_session_create(int fd, enum listen_tls kind);

/* Free a session that was never handed to a transport. */
void tls_session_destroy(void *session);

/*
 * Worker side: make t a TLS transport over fd that owns session. The
 * handshake then runs through transport_handshake(t), non-blocking.
 */
void tls_transport_init(struct transport *t, int fd, void *session);

/*
 * True once the connection's TLS 1.3 records are sealed and opened by
 * tls_record.c and OpenSSL's per-connection state is freed (for tests and
 * logs; nothing else needs to know).
 */
bool tls_transport_is_offloaded(const struct transport *t);

/*
 * Reload chain, key and CA from the configured paths into a new context and
 * swap it in atomically. On failure keep the old context, return false and
 * put a one-line reason naming the file in err.
 */
bool tls_refresh_certs(char *err, size_t errlen);

/* Counters for `stats`, in memcached's names. */
struct tls_stats {
    uint64_t ssl_handshake_errors;
    uint64_t ssl_proto_errors;
    uint64_t ssl_new_sessions;
    uint64_t time_since_server_cert_refresh; /* seconds since last successful load */
};
void tls_stats_snapshot(struct tls_stats *out);

/* Per-thread scratch setup for the write staging buffer (ssl_wbuf_size); call once per worker. */
bool tls_worker_setup(void);
void tls_worker_teardown(void);

#endif /* TLS_H */
