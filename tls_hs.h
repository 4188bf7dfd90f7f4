/*
 * tls_hs.h - the common case of a TLS 1.3 server handshake (RFC 8446),
 * done without OpenSSL's state machine.
 *
 * Pure: no sockets, no global state but what setup computes once (digests,
 * the ticket cipher, the no-PSK early secrets) and per-thread state (a pool
 * of X25519 key pairs, each used once; a signing template). tls.c gives it the client's records
 * and sends what it returns. It accepts a strict subset of ClientHellos (a
 * TLS 1.3 offer with an X25519 key share first, a suite tls_record.c has, a
 * signature scheme our key signs with, nothing that needs a
 * HelloRetryRequest, early data, a cookie or max_fragment_length) and
 * answers TLS_HS_FALLBACK for anything else before it has produced a byte,
 * so OpenSSL decides every other case exactly as it did before, alerts
 * included. Session resumption uses tickets only this code reads
 * (AES-256-GCM under a key made per identity); OpenSSL's tickets fall back.
 */
#ifndef TLS_HS_H
#define TLS_HS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct evp_pkey_st;
struct tls_record;

/* The certificate, key and settings handshakes run with; shared, refcounted. */
struct tls_hs_identity;
/* One connection's handshake in progress. */
struct tls_hs;

enum tls_hs_status {
    TLS_HS_DONE = 0,      /* the handshake is complete */
    TLS_HS_FALLBACK = -1, /* not handled here: OpenSSL gets every byte, nothing was sent */
    TLS_HS_MORE = -2,     /* more bytes from the peer are needed */
    TLS_HS_FAIL = -3,     /* fatal: out holds the alert to send (maybe none), reason says why */
};

/* Records tls_hs_continue writes (a NewSessionTicket or an alert) fit in this. */
#define TLS_HS_OUT_MAX 512

/* Fetch the digests and ciphers once (main thread, before workers). */
bool tls_hs_setup(void);
void tls_hs_teardown(void);
/* Free the calling thread's key-generation context (each worker, at exit). */
void tls_hs_thread_teardown(void);

/*
 * cert_msg is the complete Certificate handshake message OpenSSL sends for
 * this key (header included); suites the TLS 1.3 suites enabled, in the
 * server's order; lifetime the ticket lifetime in seconds. The identity
 * takes its own reference on key. NULL when the key is of a kind not
 * handled here.
 */
struct tls_hs_identity *tls_hs_identity_new(struct evp_pkey_st *key, const uint8_t *cert_msg,
                                            size_t cert_len, const uint16_t *suites, size_t nsuites,
                                            uint32_t lifetime);
void tls_hs_identity_hold(struct tls_hs_identity *id);
/* Drop a reference; sets *id to NULL. NULL-safe. */
void tls_hs_identity_release(struct tls_hs_identity **id);
/* Room the server's first flight needs. */
size_t tls_hs_flight_max(const struct tls_hs_identity *id);

/*
 * Wire length of the client's first record when buf holds all of it,
 * TLS_HS_MORE when it needs more bytes, TLS_HS_FALLBACK when it is not a
 * handshake record handled here (OpenSSL then reads it).
 */
ssize_t tls_hs_first_record(const uint8_t *buf, size_t len);

/*
 * Answer the client's first record (rec, wire form, from
 * tls_hs_first_record). context binds tickets to a kind of listener. On
 * TLS_HS_DONE, *hs is set and out (tls_hs_flight_max bytes) holds the
 * server's flight, *out_len bytes; TLS_HS_FAIL puts a plaintext alert in
 * out (a resumption binder that does not verify).
 */
int tls_hs_start(struct tls_hs_identity *id, uint8_t context, const uint8_t *rec, size_t len,
                 struct tls_hs **hs, uint8_t *out, size_t *out_len, const char **reason);

/*
 * The client's records after our flight, from buf: whole records are
 * consumed (*used bytes, decrypted in place) up to and including its
 * Finished. TLS_HS_DONE: the handshake is over and out holds our
 * NewSessionTicket; bytes after *used belong to the application. out has
 * room for TLS_HS_OUT_MAX bytes.
 */
int tls_hs_continue(struct tls_hs *hs, uint8_t *buf, size_t len, size_t *used, uint8_t *out,
                    size_t *out_len, const char **reason);

/* After TLS_HS_DONE: the record layer for application data; the caller owns it. */
struct tls_record *tls_hs_take_record(struct tls_hs *hs);
/* The negotiated suite (IANA id) and whether a ticket was resumed. */
unsigned tls_hs_suite(const struct tls_hs *hs);
bool tls_hs_is_resumed(const struct tls_hs *hs);
/* Wipe and free; sets *hs to NULL. NULL-safe. */
void tls_hs_free(struct tls_hs **hs);

#endif /* TLS_HS_H */
