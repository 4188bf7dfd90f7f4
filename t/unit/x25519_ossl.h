/*
 * x25519_ossl.h - OpenSSL's X25519, the reference x25519.c is checked
 * against, shared by t/unit/test_x25519.c and fuzz/fuzz_x25519.c.
 */
#ifndef X25519_OSSL_H
#define X25519_OSSL_H

#include <stdint.h>

#include <openssl/evp.h>

/* OpenSSL's public key for priv: 1, or 0 on failure. */
static inline int ossl_public(uint8_t pub[32], const uint8_t priv[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    size_t len = 32;
    int is_ok = k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32;

    EVP_PKEY_free(k);
    return is_ok;
}

/* OpenSSL's shared secret: 1, or 0 when it refuses (an all-zero result). */
static inline int ossl_shared(uint8_t out[32], const uint8_t priv[32], const uint8_t peer[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
    EVP_PKEY_CTX *c = k != NULL ? EVP_PKEY_CTX_new(k, NULL) : NULL;
    size_t len = 32;
    int is_ok = c != NULL && p != NULL && EVP_PKEY_derive_init(c) == 1 &&
                EVP_PKEY_derive_set_peer(c, p) == 1 && EVP_PKEY_derive(c, out, &len) == 1 &&
                len == 32;

    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(p);
    EVP_PKEY_free(k);
    return is_ok;
}

#endif
