/*
 * fuzz_x25519.c - differential libFuzzer target for x25519.c against
 * OpenSSL's X25519.
 *
 * The input is a private key and a peer's u-coordinate, 32 bytes each (a
 * shorter input is zero-padded, a longer one's first byte also sets a batch
 * size). Checked besides the sanitizers:
 *   - x25519_shared gives OpenSSL's shared secret, and refuses exactly
 *     when OpenSSL does (an all-zero result);
 *   - x25519_public gives OpenSSL's public key;
 *   - x25519_public_batch over 1..16 keys derived from the input gives the
 *     key x25519_public gives for each.
 *
 * Build and run (from the top of a tree configured with TLS):
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I. fuzz/fuzz_x25519.c x25519.c -lcrypto -o fuzz/fuzz_x25519
 *   ./fuzz/fuzz_x25519 -max_total_time=300 fuzz/work_x25519 fuzz/corpus_x25519
 */
#include "t/unit/x25519_ossl.h"
#include "x25519.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_x25519: %s\n", what);
    abort();
}

static void check_batch(const uint8_t priv[32], size_t n)
{
    uint8_t keys[X25519_BATCH_MAX][32], pub[X25519_BATCH_MAX][32], one[32];
    uint8_t *pubs[X25519_BATCH_MAX];
    const uint8_t *privs[X25519_BATCH_MAX];

    for (size_t i = 0; i < n; i++) {
        memcpy(keys[i], priv, 32);
        keys[i][i % 32] ^= (uint8_t)(i * 37 + 1); /* distinct keys, close to the input */
        pubs[i] = pub[i];
        privs[i] = keys[i];
    }
    x25519_public_batch(pubs, privs, n);
    for (size_t i = 0; i < n; i++) {
        x25519_public(one, keys[i]);
        if (memcmp(one, pub[i], 32) != 0) {
            fail("a batch key differs from the same key made alone");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t priv[32] = {0}, peer[32] = {0};
    uint8_t mine[32], theirs[32];
    int r1, r2;

    memcpy(priv, data, size < 32 ? size : 32);
    if (size > 32) {
        memcpy(peer, data + 32, size - 32 < 32 ? size - 32 : 32);
    }
    r1 = x25519_shared(mine, priv, peer);
    r2 = ossl_shared(theirs, priv, peer);
    if (r1 != r2 || (r1 && memcmp(mine, theirs, 32) != 0)) {
        fail("shared secret differs from OpenSSL's");
    }
    x25519_public(mine, priv);
    if (!ossl_public(theirs, priv) || memcmp(mine, theirs, 32) != 0) {
        fail("public key differs from OpenSSL's");
    }
    if (size > 64) {
        check_batch(priv, 1 + data[64] % X25519_BATCH_MAX);
    }
    return 0;
}
