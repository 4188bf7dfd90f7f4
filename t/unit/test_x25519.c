/*
 * test_x25519.c - unit tests for x25519.c: the test vectors of RFC 7748
 * (sections 5.2 and 6.1), then agreement with OpenSSL's X25519 on random
 * scalars and points, on u-coordinates that are not reduced or have the top
 * bit set, and on the low-order points whose shared secret is all zeros
 * (which both must refuse). Prints TAP.
 */
#include "config.h"
#include "tap.h"
#include "x25519.h"

#include <stdio.h>
#include <string.h>

#ifdef TLS

#include "x25519_ossl.h"

#include <openssl/rand.h>

static void from_hex(uint8_t out[32], const char *hex)
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int equals_hex(const uint8_t got[32], const char *hex)
{
    uint8_t want[32];

    from_hex(want, hex);
    return memcmp(got, want, 32) == 0;
}

static void test_rfc7748(void)
{
    uint8_t k[32], u[32], out[32], next[32];
    uint8_t a_pub[32], b_priv[32], b_pub[32], s1[32], s2[32];

    /* Section 5.2, the first single-step vector. */
    from_hex(k, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    from_hex(u, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    ok(x25519_shared(out, k, u) &&
           equals_hex(out, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
       "RFC 7748 5.2: the single-step vector");

    /* Section 5.2, iterated: k, u = X25519(k, u), k from k = u = 9. */
    memset(k, 0, sizeof(k));
    memset(u, 0, sizeof(u));
    k[0] = u[0] = 9;
    for (int i = 1; i <= 1000; i++) {
        x25519_shared(next, k, u);
        memcpy(u, k, 32);
        memcpy(k, next, 32);
        if (i == 1) {
            ok(equals_hex(k, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
               "RFC 7748 5.2: after one iteration");
        }
    }
    ok(equals_hex(k, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
       "RFC 7748 5.2: after 1,000 iterations");

    /* Section 6.1: Alice and Bob. */
    from_hex(k, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    from_hex(b_priv, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    x25519_public(a_pub, k);
    x25519_public(b_pub, b_priv);
    ok(equals_hex(a_pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
       "RFC 7748 6.1: Alice's public key (fixed-base path)");
    ok(equals_hex(b_pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
       "RFC 7748 6.1: Bob's public key (fixed-base path)");
    ok(x25519_shared(s1, k, b_pub) && x25519_shared(s2, b_priv, a_pub) && memcmp(s1, s2, 32) == 0 &&
           equals_hex(s1, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
       "RFC 7748 6.1: both sides reach the shared secret");
}

static void test_against_openssl(void)
{
    enum { ROUNDS = 2000 };
    uint8_t priv[32], peer[32], mine[32], theirs[32];
    int pub_bad = 0, shared_bad = 0, agree_bad = 0;

    for (int i = 0; i < ROUNDS; i++) {
        RAND_bytes(priv, sizeof(priv));
        RAND_bytes(peer, sizeof(peer));
        x25519_public(mine, priv);
        pub_bad += !ossl_public(theirs, priv) || memcmp(mine, theirs, 32) != 0;
        /* Half the points as sent (top bit random, maybe >= p), half real keys. */
        if (i % 2 == 1) {
            ossl_public(peer, peer);
        }
        {
            int r1 = x25519_shared(mine, priv, peer);
            int r2 = ossl_shared(theirs, priv, peer);

            shared_bad += r1 != r2 || (r1 && memcmp(mine, theirs, 32) != 0);
        }
        /* Both ends of one exchange, both ours. */
        {
            uint8_t other[32], other_pub[32], my_pub[32], s1[32], s2[32];

            RAND_bytes(other, sizeof(other));
            x25519_public(other_pub, other);
            x25519_public(my_pub, priv);
            agree_bad += !x25519_shared(s1, priv, other_pub) || !x25519_shared(s2, other, my_pub) ||
                         memcmp(s1, s2, 32) != 0;
        }
    }
    ok(pub_bad == 0, "2,000 random private keys: the same public key as OpenSSL's");
    ok(shared_bad == 0, "2,000 random exchanges: the same shared secret as OpenSSL's");
    ok(agree_bad == 0, "2,000 exchanges between two of our keys agree");
}

/* Batches of every size give the keys one at a time gives. */
static void test_batch(void)
{
    uint8_t priv[X25519_BATCH_MAX][32], one[32];
    uint8_t pub[X25519_BATCH_MAX][32];
    uint8_t *pubs[X25519_BATCH_MAX];
    const uint8_t *privs[X25519_BATCH_MAX];
    int bad = 0;

    for (size_t n = 1; n <= X25519_BATCH_MAX; n++) {
        RAND_bytes(&priv[0][0], sizeof(priv));
        for (size_t i = 0; i < n; i++) {
            pubs[i] = pub[i];
            privs[i] = priv[i];
        }
        x25519_public_batch(pubs, privs, n);
        for (size_t i = 0; i < n; i++) {
            bad += !ossl_public(one, priv[i]) || memcmp(one, pub[i], 32) != 0;
        }
    }
    ok(bad == 0, "batches of 1 to X25519_BATCH_MAX keys: each as OpenSSL makes it");
}

/* u-coordinates at the edges: not reduced, top bit set, low order. */
static void test_edges(void)
{
    static const char *const us[] = {
        "0000000000000000000000000000000000000000000000000000000000000000", /* 0 */
        "0100000000000000000000000000000000000000000000000000000000000000", /* 1 */
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1 */
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p */
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 */
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", /* 2^256 - 1 */
        "0900000000000000000000000000000000000000000000000000000000000080", /* 9, top bit */
        "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", /* p + 2^255 - 19 */
    };
    uint8_t priv[32], u[32], mine[32], theirs[32];
    int bad = 0, refused = 0;

    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
        for (int j = 0; j < 8; j++) {
            int r1, r2;

            RAND_bytes(priv, sizeof(priv));
            from_hex(u, us[i]);
            r1 = x25519_shared(mine, priv, u);
            r2 = ossl_shared(theirs, priv, u);
            bad += r1 != r2 || (r1 && memcmp(mine, theirs, 32) != 0);
            refused += !r1;
        }
    }
    ok(bad == 0, "edge u-coordinates: the same answer as OpenSSL's, refusals included");
    /* 0, 1, p - 1, p, p + 1 and the two order-8 points always give zero. */
    ok(refused == 7 * 8, "the low-order points are refused, the others are not");
}

int main(void)
{
    test_rfc7748();
    test_against_openssl();
    test_batch();
    test_edges();
    return tap_done();
}

#else /* !TLS */

int main(void)
{
    return tap_skip_all("TLS not compiled in (OpenSSL is the reference)");
}

#endif
