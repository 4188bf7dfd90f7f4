/*
 * tls_record.h - TLS 1.3 record protection (RFC 8446 section 5) for
 * connections whose handshake OpenSSL has completed.
 *
 * Pure: no sockets, no global state, no allocation after create. tls.c owns
 * one per connection, feeds it bytes read from the socket and writes what it
 * seals. Only AEAD suites with a 12-byte nonce and a 16-byte tag exist in
 * TLS 1.3 as deployed (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305); CCM
 * suites are not supported and keep the connection on OpenSSL.
 */
#ifndef TLS_RECORD_H
#define TLS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define TLS_RECORD_HEADER    5
#define TLS_RECORD_TAG       16
#define TLS_RECORD_MAX_PLAIN 16384
/* Largest record a peer may send: header, 2^14 + 256 bytes of ciphertext. */
#define TLS_RECORD_MAX_WIRE (TLS_RECORD_HEADER + TLS_RECORD_MAX_PLAIN + 256)
/* Bytes a sealed record adds to its content: header, inner type, tag. */
#define TLS_RECORD_OVERHEAD   (TLS_RECORD_HEADER + 1 + TLS_RECORD_TAG)
#define TLS_RECORD_SECRET_MAX 48

/* Content types (RFC 8446 section 5.1). */
enum {
    TLS_CT_CHANGE_CIPHER_SPEC = 20,
    TLS_CT_ALERT = 21,
    TLS_CT_HANDSHAKE = 22,
    TLS_CT_APPLICATION_DATA = 23,
};

enum tls_record_status {
    TLS_RECORD_OK = 0,
    TLS_RECORD_INCOMPLETE = -1, /* frame: more bytes needed */
    TLS_RECORD_BAD_TYPE = -2,   /* outer type is not application_data */
    TLS_RECORD_OVERFLOW = -3,   /* longer than the protocol allows */
    TLS_RECORD_BAD_MAC = -4,    /* authentication failed */
    TLS_RECORD_NO_TYPE = -5,    /* inner plaintext is all padding */
    TLS_RECORD_FAILED = -6,     /* the cipher itself failed (allocation) */
};

struct tls_record;

/* Fetch the ciphers and digests once (main thread, before workers). */
bool tls_record_setup(void);
void tls_record_teardown(void);

/* True when suite (IANA id, e.g. 0x1301) can be handled here. */
bool tls_record_suite_supported(unsigned suite);

/*
 * Keys for both directions from the traffic secrets (secret_len is the
 * suite's hash length) and the sequence numbers already used. rx is what the
 * peer sends, tx what we send. NULL on failure.
 */
struct tls_record *tls_record_create(unsigned suite, const uint8_t *rx_secret,
                                     const uint8_t *tx_secret, size_t secret_len, uint64_t rx_seq,
                                     uint64_t tx_seq);

/* Wipe the keys and free; sets *rl to NULL. NULL-safe. */
void tls_record_destroy(struct tls_record **rl);

/*
 * Wire length of the record at the start of buf: > 0 when complete,
 * TLS_RECORD_INCOMPLETE when more bytes are needed, TLS_RECORD_BAD_TYPE or
 * TLS_RECORD_OVERFLOW when the header is not one a peer may send.
 */
ssize_t tls_record_frame(const uint8_t *buf, size_t len);

/*
 * Decrypt the complete record rec (wire length n, from tls_record_frame).
 * out receives up to n - TLS_RECORD_OVERHEAD + 1 bytes; it may be
 * rec + TLS_RECORD_HEADER (in place) or not overlap rec at all. Returns the
 * content length (>= 0) with *type set, or a TLS_RECORD_* error. Consumes a
 * sequence number only on success.
 */
ssize_t tls_record_open(struct tls_record *rl, uint8_t *rec, size_t n, uint8_t *out, uint8_t *type);

/*
 * Seal len bytes of iov, starting skip bytes in, as one record of content
 * type `type` into out, which has room for len + TLS_RECORD_OVERHEAD bytes
 * (len <= TLS_RECORD_MAX_PLAIN). Returns the wire length, or 0 on failure.
 */
size_t tls_record_seal(struct tls_record *rl, uint8_t type, const struct iovec *iov, int iovcnt,
                       size_t skip, size_t len, uint8_t *out);

/*
 * Switch one direction to another secret of the suite's hash length (the
 * handshake moving from handshake to application keys); its sequence
 * number restarts at 0.
 */
bool tls_record_set_rx(struct tls_record *rl, const uint8_t *secret);
bool tls_record_set_tx(struct tls_record *rl, const uint8_t *secret);

/* Move one direction to its next traffic secret (KeyUpdate, RFC 8446 section 4.6.3). */
bool tls_record_update_rx(struct tls_record *rl);
bool tls_record_update_tx(struct tls_record *rl);

/*
 * The suite's key schedule pieces, for the handshake in tls_hs.c: its hash
 * length (0 when unsupported), HKDF-Expand-Label with a
 * context (out_len <= hash length), and HMAC (HKDF-Extract is
 * HMAC(salt, ikm); out gets hash-length bytes). The suite's name is for logs.
 */
size_t tls_record_hash_len(unsigned suite);
const char *tls_record_suite_name(unsigned suite);
bool tls_record_expand_label(unsigned suite, const uint8_t *secret, const char *label,
                             const uint8_t *context, size_t context_len, uint8_t *out,
                             size_t out_len);
bool tls_record_hmac(unsigned suite, const uint8_t *key, size_t key_len, const uint8_t *data,
                     size_t len, uint8_t *out);

/*
 * A secret made ready for several HMACs with the suite's hash: keying costs
 * two hash blocks, each HMAC or expansion from it two more, where keying
 * afresh each time costs four. The storage is opaque (tls_record.c's);
 * wipe it when done. The functions mirror the two above.
 */
struct tls_record_key {
    uint64_t opaque[56];
};

bool tls_record_key_init(struct tls_record_key *k, unsigned suite, const uint8_t *key,
                         size_t key_len);
bool tls_record_key_hmac(const struct tls_record_key *k, const uint8_t *data, size_t len,
                         uint8_t *out);
bool tls_record_key_expand(const struct tls_record_key *k, const char *label,
                           const uint8_t *context, size_t context_len, uint8_t *out,
                           size_t out_len);
void tls_record_key_wipe(struct tls_record_key *k);

#endif /* TLS_RECORD_H */
