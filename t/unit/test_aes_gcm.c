/*
 * test_aes_gcm.c - unit tests for aes_gcm.c: the AES-GCM test cases of
 * McGrew and Viega's GCM specification (AES-128 and AES-256, with and
 * without additional data, a whole and a partial last block), agreement with
 * OpenSSL's EVP AES-GCM over every length the record layer sends to it and
 * well beyond, in place and between buffers, and refusal of every altered
 * bit of ciphertext, tag, additional data and nonce, with the output left
 * untouched. Prints TAP.
 */
#include "aes_gcm.h"
#include "config.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#ifdef TLS

#include <openssl/evp.h>
#include <openssl/rand.h>

#define BIG (AES_GCM_MAX_LEN + 64)

static size_t from_hex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* OpenSSL's answer for the same inputs: the reference. */
static int evp_seal(const uint8_t *key, size_t key_len, const uint8_t *nonce, const uint8_t *aad,
                    size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *cipher = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    int n = 0;
    int is_ok = ctx != NULL && EVP_EncryptInit_ex(ctx, cipher, NULL, key, nonce) == 1 &&
                (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
                (len == 0 || EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
                EVP_EncryptFinal_ex(ctx, out + n, &n) == 1 &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;

    EVP_CIPHER_CTX_free(ctx);
    return is_ok;
}

struct vector {
    const char *name;
    const char *key;
    const char *nonce;
    const char *aad;
    const char *plain;
    const char *cipher;
    const char *tag;
};

#define KEY_FE   "feffe9928665731c6d6a8f9467308308"
#define NONCE_CA "cafebabefacedbaddecaf888"
#define AAD_FEED "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define PLAIN_D9                                                                                   \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define C3_60                                                                                      \
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"                             \
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
#define C15_60                                                                                     \
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"                             \
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"

static const struct vector vectors[] = {
    {"test case 2 (AES-128, one zero block)", "00000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
    {"test case 3 (AES-128, four blocks)", KEY_FE, NONCE_CA, "", PLAIN_D9 "1aafd255",
     C3_60 "473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"test case 4 (AES-128, additional data, partial block)", KEY_FE, NONCE_CA, AAD_FEED, PLAIN_D9,
     C3_60, "5bc94fbc3221a5db94fae95ae7121a47"},
    {"test case 14 (AES-256, one zero block)",
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 15 (AES-256, four blocks)", KEY_FE KEY_FE, NONCE_CA, "", PLAIN_D9 "1aafd255",
     C15_60 "898015ad", "b094dac5d93471bdec1a502270e3cc6c"},
    {"test case 16 (AES-256, additional data, partial block)", KEY_FE KEY_FE, NONCE_CA, AAD_FEED,
     PLAIN_D9, C15_60, "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static void test_vectors(void)
{
    for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
        const struct vector *t = &vectors[v];
        uint8_t key[32], nonce[12], aad[64], plain[64], want[64], want_tag[16];
        uint8_t out[64], tag[16], back[64];
        size_t key_len = from_hex(key, t->key);
        size_t aad_len = from_hex(aad, t->aad);
        size_t len = from_hex(plain, t->plain);
        struct aes_gcm *g = aes_gcm_new(key, key_len);
        char what[160];

        from_hex(nonce, t->nonce);
        from_hex(want, t->cipher);
        from_hex(want_tag, t->tag);
        snprintf(what, sizeof(what), "%s: ciphertext and tag", t->name);
        ok(g != NULL && aes_gcm_seal(g, nonce, aad, aad_len, plain, len, out, tag) &&
               memcmp(out, want, len) == 0 && memcmp(tag, want_tag, 16) == 0,
           what);
        snprintf(what, sizeof(what), "%s: opens to the plaintext", t->name);
        ok(g != NULL && aes_gcm_open(g, nonce, aad, aad_len, want, len, back, want_tag) &&
               memcmp(back, plain, len) == 0,
           what);
        aes_gcm_free(&g);
    }
}

/* Random keys, nonces and data; lengths around every block and batch edge. */
static void test_against_openssl(void)
{
    static uint8_t in[BIG], mine[BIG], theirs[BIG], back[BIG];
    static const size_t aad_lens[] = {0, 5, 13, 16, 17, 40, 129};
    int seal_bad = 0;
    int open_bad = 0;
    int in_place_bad = 0;
    int cases = 0;

    for (size_t key_len = 16; key_len <= 32; key_len += 16) {
        for (size_t len = 0; len <= 4200; len += len < 300 ? 1 : len < 1100 ? 7 : 61) {
            uint8_t key[32], nonce[12], aad[129], tag[16], ref_tag[16];
            size_t aad_len = aad_lens[len % (sizeof(aad_lens) / sizeof(aad_lens[0]))];
            struct aes_gcm *g;

            RAND_bytes(key, sizeof(key));
            RAND_bytes(nonce, sizeof(nonce));
            RAND_bytes(aad, sizeof(aad));
            RAND_bytes(in, (int)len + 1);
            g = aes_gcm_new(key, key_len);
            cases++;
            if (g == NULL || !aes_gcm_seal(g, nonce, aad, aad_len, in, len, mine, tag) ||
                !evp_seal(key, key_len, nonce, aad, aad_len, in, len, theirs, ref_tag) ||
                memcmp(mine, theirs, len) != 0 || memcmp(tag, ref_tag, 16) != 0) {
                seal_bad++;
            }
            if (g == NULL || !aes_gcm_open(g, nonce, aad, aad_len, theirs, len, back, ref_tag) ||
                memcmp(back, in, len) != 0) {
                open_bad++;
            }
            /* in place both ways: seal over the plaintext, open over the ciphertext */
            memcpy(back, in, len);
            if (g == NULL || !aes_gcm_seal(g, nonce, aad, aad_len, back, len, back, tag) ||
                memcmp(back, theirs, len) != 0 ||
                !aes_gcm_open(g, nonce, aad, aad_len, back, len, back, tag) ||
                memcmp(back, in, len) != 0) {
                in_place_bad++;
            }
            aes_gcm_free(&g);
        }
    }
    printf("# %d random cases per check\n", cases);
    ok(seal_bad == 0, "seal: OpenSSL's ciphertext and tag, lengths 0..4200, both key sizes");
    ok(open_bad == 0, "open: OpenSSL's ciphertext opens to the plaintext");
    ok(in_place_bad == 0, "seal and open in place give the same bytes");
}

static void test_limits(void)
{
    static uint8_t in[BIG], out[BIG], theirs[BIG];
    uint8_t key[32] = {1}, nonce[12] = {2}, tag[16], ref_tag[16];
    struct aes_gcm *g = aes_gcm_new(key, 32);

    ok(aes_gcm_new(key, 24) == NULL && aes_gcm_new(key, 0) == NULL,
       "only 128- and 256-bit keys are taken");
    ok(g != NULL && aes_gcm_seal(g, nonce, NULL, 0, in, AES_GCM_MAX_LEN, out, tag) &&
           evp_seal(key, 32, nonce, NULL, 0, in, AES_GCM_MAX_LEN, theirs, ref_tag) &&
           memcmp(out, theirs, AES_GCM_MAX_LEN) == 0 && memcmp(tag, ref_tag, 16) == 0,
       "the longest message allowed matches OpenSSL");
    ok(g != NULL && !aes_gcm_seal(g, nonce, NULL, 0, in, AES_GCM_MAX_LEN + 1, out, tag) &&
           !aes_gcm_open(g, nonce, NULL, 0, in, AES_GCM_MAX_LEN + 1, out, tag),
       "one byte longer is refused both ways");
    aes_gcm_free(&g);
    ok(g == NULL, "free clears the pointer");
    aes_gcm_free(&g); /* NULL-safe */
}

/* Flip one bit of *p, try to open, flip it back: 1 when refused with out untouched. */
static int refused(const struct aes_gcm *g, uint8_t *p, int bit, const uint8_t *nonce,
                   const uint8_t *aad, const uint8_t *ct, size_t len, const uint8_t *tag)
{
    uint8_t out[128];
    uint8_t untouched[128];
    int is_refused;

    memset(out, 0xa5, sizeof(out));
    memcpy(untouched, out, sizeof(out));
    *p ^= (uint8_t)(1u << bit);
    is_refused = !aes_gcm_open(g, nonce, aad, 5, ct, len, out, tag) &&
                 memcmp(out, untouched, sizeof(out)) == 0;
    *p ^= (uint8_t)(1u << bit);
    return is_refused;
}

static void test_tampering(void)
{
    uint8_t key[16] = {7}, nonce[12] = {9}, aad[5] = {23, 3, 3, 0, 117};
    uint8_t plain[100], ct[100], tag[16], out[100];
    struct aes_gcm *g = aes_gcm_new(key, 16);
    int ct_caught = 0;
    int tag_caught = 0;
    int aad_caught = 0;
    int nonce_caught = 0;

    if (g == NULL) {
        ok(0, "key set up");
        return;
    }
    memset(plain, 'v', sizeof(plain));
    aes_gcm_seal(g, nonce, aad, 5, plain, sizeof(plain), ct, tag);
    for (int bit = 0; bit < 8; bit++) {
        for (size_t i = 0; i < sizeof(ct); i++) {
            ct_caught += refused(g, &ct[i], bit, nonce, aad, ct, sizeof(ct), tag);
        }
        for (size_t i = 0; i < sizeof(tag); i++) {
            tag_caught += refused(g, &tag[i], bit, nonce, aad, ct, sizeof(ct), tag);
        }
        for (size_t i = 0; i < sizeof(aad); i++) {
            aad_caught += refused(g, &aad[i], bit, nonce, aad, ct, sizeof(ct), tag);
        }
        for (size_t i = 0; i < sizeof(nonce); i++) {
            nonce_caught += refused(g, &nonce[i], bit, nonce, aad, ct, sizeof(ct), tag);
        }
    }
    ok(ct_caught == 800, "every flipped ciphertext bit is refused, nothing written");
    ok(tag_caught == 128, "every flipped tag bit is refused");
    ok(aad_caught == 40, "every flipped bit of the additional data is refused");
    ok(nonce_caught == 96, "every flipped nonce bit is refused");
    ok(aes_gcm_open(g, nonce, aad, 5, ct, sizeof(ct), out, tag) &&
           memcmp(out, plain, sizeof(plain)) == 0,
       "the unaltered record still opens");
    ok(!aes_gcm_open(g, nonce, aad, 5, ct, sizeof(ct) - 1, out, tag),
       "a truncated ciphertext is refused");
    aes_gcm_free(&g);
}

int main(void)
{
    if (!aes_gcm_supported()) {
        return tap_skip_all("this CPU lacks AES-NI or PCLMULQDQ (records stay on EVP)");
    }
    test_vectors();
    test_against_openssl();
    test_limits();
    test_tampering();
    return tap_done();
}

#else /* !TLS */

int main(void)
{
    return tap_skip_all("TLS not compiled in (OpenSSL is the reference)");
}

#endif
