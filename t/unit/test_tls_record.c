/*
 * test_tls_record.c - unit tests for tls_record.c without sockets: records
 * sealed by one side open on the other for every suite, whatever the split
 * of the plaintext into iovecs (the small-piece staging has edges at its
 * size); every flipped bit is caught; key updates stay in step; framing
 * rejects what a peer may not send. Interoperability with real TLS stacks is
 * tested in test_tls.c (OpenSSL) and t/tls_clients.t (GnuTLS). Prints TAP.
 */
#include "config.h"
#include "tap.h"
#include "tls_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TLS

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

static const unsigned suites[] = {0x1301, 0x1302, 0x1303};
static const size_t secret_lens[] = {32, 48, 32};

/* A sender and a receiver: the receiver's rx secret is the sender's tx secret. */
static void make_pair(int s, struct tls_record **tx, struct tls_record **rx)
{
    uint8_t a[TLS_RECORD_SECRET_MAX];
    uint8_t b[TLS_RECORD_SECRET_MAX];

    for (size_t i = 0; i < sizeof(a); i++) {
        a[i] = (uint8_t)(i * 7 + 1);
        b[i] = (uint8_t)(i * 13 + 5);
    }
    *tx = tls_record_create(suites[s], b, a, secret_lens[s], 0, 0);
    *rx = tls_record_create(suites[s], a, b, secret_lens[s], 0, 0);
}

/* Cut len bytes of src into iovecs of pseudo-random sizes, some empty. */
static int split(const uint8_t *src, size_t len, struct iovec *iov, int max, unsigned *seed)
{
    static const size_t sizes[] = {0, 1, 2, 100, 255, 510, 511, 512, 513, 1000, 4096, 16384};
    size_t off = 0;
    int n = 0;

    while (off < len && n < max - 1) {
        size_t k = sizes[rand_r(seed) % (sizeof(sizes) / sizeof(sizes[0]))];
        k = k < len - off ? k : len - off;
        iov[n].iov_base = (void *)(src + off);
        iov[n].iov_len = k;
        off += k;
        n++;
    }
    iov[n].iov_base = (void *)(src + off);
    iov[n].iov_len = len - off;
    return n + 1;
}

static void test_round_trips(void)
{
    static uint8_t src[TLS_RECORD_MAX_PLAIN + 64];
    static uint8_t rec[TLS_RECORD_MAX_PLAIN + TLS_RECORD_OVERHEAD];
    static uint8_t out[TLS_RECORD_MAX_PLAIN + 64];
    /* 1023 and 1024: the last record aes_gcm.c seals (with its type byte) and the first EVP does */
    static const size_t lens[] = {
        0, 1, 17, 510, 511, 512, 513, 1022, 1023, 1024, 1500, 9000, TLS_RECORD_MAX_PLAIN};
    unsigned seed = 1;
    char what[160];

    for (size_t i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 31 + (i >> 8));
    }
    for (int s = 0; s < 3; s++) {
        struct tls_record *tx;
        struct tls_record *rx;
        int good = 0;
        int total = 0;

        make_pair(s, &tx, &rx);
        ok(tx != NULL && rx != NULL, "create both sides");
        if (tx == NULL || rx == NULL) {
            continue;
        }
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            for (int rep = 0; rep < 20; rep++) {
                struct iovec iov[64];
                size_t skip = (size_t)(rand_r(&seed) % 40);
                int cnt = split(src, lens[l] + skip, iov, 64, &seed);
                uint8_t type = 0;
                size_t n =
                    tls_record_seal(tx, TLS_CT_APPLICATION_DATA, iov, cnt, skip, lens[l], rec);
                ssize_t framed = tls_record_frame(rec, n);
                /* every other record opens in place, the rest into another buffer */
                uint8_t *dst = rep % 2 ? rec + TLS_RECORD_HEADER : out;
                ssize_t got =
                    framed > 0 ? tls_record_open(rx, rec, (size_t)framed, dst, &type) : -1;

                total++;
                good += n == lens[l] + TLS_RECORD_OVERHEAD && framed == (ssize_t)n &&
                        got == (ssize_t)lens[l] && type == TLS_CT_APPLICATION_DATA &&
                        memcmp(dst, src + skip, lens[l]) == 0;
            }
        }
        snprintf(what, sizeof(what), "suite %04x: %d of %d records open intact", suites[s], good,
                 total);
        ok(good == total, what);
        tls_record_destroy(&tx);
        tls_record_destroy(&rx);
        ok(tx == NULL && rx == NULL, "destroy clears the pointer");
    }
}

static void test_tampering(void)
{
    struct tls_record *tx;
    struct tls_record *rx;
    uint8_t rec[64];
    uint8_t copy[64];
    uint8_t out[64];
    uint8_t type;
    struct iovec iov = {"get k\r\n", 7};
    size_t n;
    int caught = 0;

    make_pair(0, &tx, &rx);
    n = tls_record_seal(tx, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 7, rec);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, rec, n);
            copy[i] ^= (uint8_t)(1 << bit);
            caught += tls_record_open(rx, copy, n, out, &type) < 0;
        }
    }
    ok(caught == (int)n * 8, "every flipped bit, header included, fails to open");
    ok(tls_record_open(rx, rec, n, out, &type) == 7, "the sequence did not move on failures");
    ok(tls_record_open(rx, rec, n, out, &type) == TLS_RECORD_BAD_MAC, "a replayed record fails");
    tls_record_destroy(&tx);
    tls_record_destroy(&rx);
}

static void test_key_update(void)
{
    struct tls_record *tx;
    struct tls_record *rx;
    uint8_t rec[64];
    uint8_t out[64];
    uint8_t type;
    struct iovec iov = {"version\r\n", 9};
    size_t n;

    make_pair(1, &tx, &rx);
    n = tls_record_seal(tx, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 9, rec);
    ok(tls_record_open(rx, rec, n, out, &type) == 9, "before the update");
    ok(tls_record_update_tx(tx), "sender moves to its next key");
    n = tls_record_seal(tx, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 9, rec);
    ok(tls_record_open(rx, rec, n, out, &type) == TLS_RECORD_BAD_MAC,
       "the receiver on the old key cannot open it");
    ok(tls_record_update_rx(rx), "receiver moves too");
    ok(tls_record_open(rx, rec, n, out, &type) == 9 && memcmp(out, "version\r\n", 9) == 0,
       "then it opens: new key, sequence restarted on both sides");
    n = tls_record_seal(tx, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 9, rec);
    ok(tls_record_open(rx, rec, n, out, &type) == 9, "and the next one too");
    tls_record_destroy(&tx);
    tls_record_destroy(&rx);
}

static void test_framing(void)
{
    uint8_t hdr[5] = {TLS_CT_APPLICATION_DATA, 3, 3, 0, 0x20};

    ok(tls_record_frame(hdr, 4) == TLS_RECORD_INCOMPLETE, "4 bytes: incomplete");
    ok(tls_record_frame(hdr, 5) == TLS_RECORD_INCOMPLETE, "header without body: incomplete");
    hdr[3] = 0x41;
    hdr[4] = 0x00;
    ok(tls_record_frame(hdr, 5) == TLS_RECORD_INCOMPLETE, "2^14 + 256 bytes is allowed");
    hdr[4] = 0x01;
    ok(tls_record_frame(hdr, 5) == TLS_RECORD_OVERFLOW, "one byte more overflows, at once");
    hdr[0] = TLS_CT_HANDSHAKE;
    ok(tls_record_frame(hdr, 5) == TLS_RECORD_BAD_TYPE, "outer type other than 23 is refused");
    ok(!tls_record_suite_supported(0x1304) && !tls_record_suite_supported(0x1305),
       "CCM suites stay with OpenSSL");
    ok(tls_record_create(0x1301, hdr, hdr, 48, 0, 0) == NULL,
       "a secret of the wrong length for the suite is refused");
}

/* HMAC by OpenSSL's EVP_MAC, the reference for ours. */
static int ref_hmac(const char *digest, const uint8_t *key, size_t key_len, const uint8_t *data,
                    size_t len, uint8_t *out)
{
    size_t got = 0;

    return EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, key_len, data, len, out, 64, &got) !=
           NULL;
}

/* HKDF-Expand-Label by OpenSSL's TLS13-KDF, the reference for ours. */
static int ref_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                            const char *label, const uint8_t *context, size_t context_len,
                            uint8_t *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[7];
    int is_ok;

    params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, "tls13 ", 6);
    params[4] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label));
    params[5] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)context, context_len);
    params[6] = OSSL_PARAM_construct_end();
    is_ok = kctx != NULL && EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return is_ok;
}

/* Our HMAC and HKDF-Expand-Label (one-shot and from a prepared key) against OpenSSL's. */
static void test_key_schedule(void)
{
    static const size_t key_lens[] = {0, 1, 32, 48, 63, 64, 65, 127, 128, 129, 300};
    static const size_t data_lens[] = {0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 400};
    static const char *const digests[] = {"SHA256", "SHA384", "SHA256"};
    uint8_t key[300], data[400], mine[64], ref[64], again[64];

    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 13 + 5);
    }
    for (int s = 0; s < 3; s++) {
        int bad = 0, reuse_bad = 0, expand_bad = 0;

        for (size_t k = 0; k < sizeof(key_lens) / sizeof(key_lens[0]); k++) {
            struct tls_record_key prepared;

            tls_record_key_init(&prepared, suites[s], key, key_lens[k]);
            for (size_t d = 0; d < sizeof(data_lens) / sizeof(data_lens[0]); d++) {
                memset(mine, 0, sizeof(mine));
                bad += !tls_record_hmac(suites[s], key, key_lens[k], data, data_lens[d], mine) ||
                       !ref_hmac(digests[s], key, key_lens[k], data, data_lens[d], ref) ||
                       memcmp(mine, ref, secret_lens[s]) != 0;
                /* The prepared key, used again and again, gives the same. */
                reuse_bad += !tls_record_key_hmac(&prepared, data, data_lens[d], again) ||
                             memcmp(again, ref, secret_lens[s]) != 0;
            }
            tls_record_key_wipe(&prepared);
        }
        for (size_t ctx_len = 0; ctx_len <= secret_lens[s]; ctx_len += 16) {
            struct tls_record_key prepared;
            size_t out_lens[] = {12, 16, 32, secret_lens[s]};

            tls_record_key_init(&prepared, suites[s], key, secret_lens[s]);
            for (size_t o = 0; o < sizeof(out_lens) / sizeof(out_lens[0]); o++) {
                expand_bad += !tls_record_expand_label(suites[s], key, "c hs traffic", data,
                                                       ctx_len, mine, out_lens[o]) ||
                              !ref_expand_label(digests[s], key, secret_lens[s], "c hs traffic",
                                                data, ctx_len, ref, out_lens[o]) ||
                              memcmp(mine, ref, out_lens[o]) != 0 ||
                              !tls_record_key_expand(&prepared, "c hs traffic", data, ctx_len,
                                                     again, out_lens[o]) ||
                              memcmp(again, ref, out_lens[o]) != 0;
            }
            tls_record_key_wipe(&prepared);
        }
        printf("# suite 0x%04x: %d HMAC, %d reused-key, %d expansion mismatches\n", suites[s], bad,
               reuse_bad, expand_bad);
        ok(bad == 0, "HMAC equals OpenSSL's for keys and data on both sides of the block size");
        ok(reuse_bad == 0, "a prepared key gives the same HMACs, however often it is used");
        ok(expand_bad == 0, "HKDF-Expand-Label equals OpenSSL's TLS13-KDF, one-shot and prepared");
    }
    {
        struct tls_record_key unset;

        memset(&unset, 0, sizeof(unset));
        ok(!tls_record_key_init(&unset, 0x1304, key, 32) &&
               !tls_record_key_hmac(&unset, data, 1, mine),
           "an unsupported suite prepares no key, and an unprepared key does nothing");
    }
}

int main(void)
{
    ok(tls_record_setup(), "ciphers fetched");
    test_key_schedule();
    test_round_trips();
    test_tampering();
    test_key_update();
    test_framing();
    tls_record_teardown();
    return tap_done();
}

#else /* !TLS */

int main(void)
{
    return tap_skip_all("TLS not compiled in");
}

#endif
