/*
 * fuzz_aes_gcm.c - differential libFuzzer target for aes_gcm.c against
 * OpenSSL's EVP AES-GCM.
 *
 * Input layout: byte 0 picks the key size (bit 0) and how much of the rest is
 * additional data (the other bits); then 32 key bytes and 12 nonce bytes
 * (zero-padded when the input is short); the remainder is split into
 * additional data and message. Checked besides the sanitizers:
 *   - aes_gcm_seal gives EVP's ciphertext and tag, and opens back, in place
 *     and between buffers;
 *   - the message taken as a ciphertext, with the first 16 bytes of the key
 *     area as its tag, is accepted by aes_gcm_open exactly when EVP accepts
 *     it, and then to the same plaintext.
 *
 * Build and run (from the top of a tree configured with TLS):
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I. fuzz/fuzz_aes_gcm.c aes_gcm.c -lcrypto -o fuzz/fuzz_aes_gcm
 *   ./fuzz/fuzz_aes_gcm -max_total_time=300 fuzz/work_aes_gcm fuzz/corpus_aes_gcm
 */
#include "aes_gcm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define MAX_MSG 4096

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_aes_gcm: %s\n", what);
    abort();
}

/* EVP one-shot: enc 1 seals (writes tag), enc 0 opens (checks tag); 1 on success. */
static int evp_run(int enc, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                   uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    const EVP_CIPHER *cipher = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
    int n = 0;
    int is_ok = ctx != NULL && EVP_CipherInit_ex(ctx, cipher, NULL, key, nonce, enc) == 1 &&
                (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1) &&
                (aad_len == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
                (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1) &&
                EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
                (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1);

    EVP_CIPHER_CTX_free(ctx);
    return is_ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t mine[MAX_MSG], theirs[MAX_MSG], back[MAX_MSG];
    uint8_t head[1 + 32 + 12] = {0};
    uint8_t tag[16], ref_tag[16], given_tag[16];
    const uint8_t *rest = data + sizeof(head);
    size_t rest_len = size > sizeof(head) ? size - sizeof(head) : 0;
    size_t key_len;
    size_t aad_len;
    size_t len;
    struct aes_gcm *g;
    int ref_ok;

    if (!aes_gcm_supported()) {
        return 0;
    }
    memcpy(head, data, size < sizeof(head) ? size : sizeof(head));
    key_len = head[0] & 1 ? 32 : 16;
    aad_len = rest_len * (head[0] >> 1) / 127; /* 0 .. all of the rest */
    if (rest_len - aad_len > MAX_MSG) {
        return 0;
    }
    len = rest_len - aad_len;
    g = aes_gcm_new(head + 1, key_len);
    if (g == NULL) {
        fail("no key schedule");
    }
    if (!aes_gcm_seal(g, head + 33, rest, aad_len, rest + aad_len, len, mine, tag) ||
        !evp_run(1, head + 1, key_len, head + 33, rest, aad_len, rest + aad_len, len, theirs,
                 ref_tag)) {
        fail("seal failed");
    }
    if (memcmp(mine, theirs, len) != 0 || memcmp(tag, ref_tag, 16) != 0) {
        fail("sealed bytes differ from OpenSSL's");
    }
    if (!aes_gcm_open(g, head + 33, rest, aad_len, mine, len, mine, tag) ||
        memcmp(mine, rest + aad_len, len) != 0) {
        fail("a sealed message does not open in place to itself");
    }
    /* The message as a forgery attempt: both must agree on it. */
    memcpy(given_tag, head + 1, 16);
    ref_ok = evp_run(0, head + 1, key_len, head + 33, rest, aad_len, rest + aad_len, len, theirs,
                     given_tag);
    if (aes_gcm_open(g, head + 33, rest, aad_len, rest + aad_len, len, back, given_tag) != ref_ok ||
        (ref_ok && memcmp(back, theirs, len) != 0)) {
        fail("open disagrees with OpenSSL on an arbitrary ciphertext and tag");
    }
    aes_gcm_free(&g);
    return 0;
}
