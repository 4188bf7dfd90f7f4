/*
 * x25519.h — X25519 key agreement (RFC 7748) for the TLS 1.3 handshake.
 *
 * A leaf: no OpenSSL, no globals beyond a read-only table built once.
 * Every function runs in time independent of the secret scalar.
 */
#ifndef X25519_H
#define X25519_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X25519_KEY_LEN 32

/* pub = X25519(priv, 9): the public key of a private key (clamped here). */
void x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN]);

/*
 * The public keys of n private keys (n <= X25519_BATCH_MAX) for little more
 * than the cost of n - 1: they share the one field inversion.
 */
#define X25519_BATCH_MAX 16
void x25519_public_batch(uint8_t *const *pub, const uint8_t *const *priv, size_t n);

/*
 * shared = X25519(priv, peer). False when the result is all zeros (the
 * peer sent a low-order point), which RFC 8446 section 7.4.2 says to refuse.
 */
bool x25519_shared(uint8_t shared[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
                   const uint8_t peer[X25519_KEY_LEN]);

#endif
