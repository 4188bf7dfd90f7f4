/*
 * AES-GCM for short records (see aes_gcm.h for why it exists).
 *
 * AES runs on AES-NI, eight counter blocks at a time so the rounds of
 * different blocks overlap. GHASH runs on PCLMULQDQ in the byte-reversed
 * domain: after reversing its 16 bytes, a GCM block is a 128-bit integer whose
 * bit 127 - i is the coefficient of x^i. A carry-less product of two such
 * integers is the reversed product shifted by one place, which is repaid by
 * keeping each power of H divided by x. Up to eight blocks are multiplied by
 * H^8..H^1, their 256-bit products summed and reduced once.
 *
 * Nothing branches on or indexes by key or data bits: AES-NI and PCLMULQDQ
 * take constant time, and the tag is compared with a mask.
 */
#include "aes_gcm.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define INLINE __attribute__((always_inline)) inline
#define BATCH  8 /* blocks per AES pass and per GHASH reduction */

struct aes_gcm {
    __m128i rk[15];      /* round keys, rounds + 1 of them used */
    __m128i hdiv[BATCH]; /* hdiv[i] = H^(i+1) / x, byte-reversed */
    int rounds;          /* 10 for AES-128, 14 for AES-256 */
};

/* The product of the low and high 64-bit halves, not yet reduced. */
struct wide {
    __m128i lo;  /* a0 * b0 */
    __m128i mid; /* a0 * b1 + a1 * b0 */
    __m128i hi;  /* a1 * b1 */
};

bool aes_gcm_supported(void)
{
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1");
}

/* ------------------------------------------------------------------ AES */

/* w0, w0^w1, w0^w1^w2, w0^w1^w2^w3: the running XOR of a round key's words. */
TARGET static INLINE __m128i words_prefix_xor(__m128i k)
{
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 8));
    return k;
}

/* AESKEYGENASSIST takes its round constant as an immediate, hence macros. */
#define NEXT_128(rk, i, rcon)                                                                      \
    (rk)[i] = _mm_xor_si128(words_prefix_xor((rk)[(i)-1]),                                         \
                            _mm_shuffle_epi32(_mm_aeskeygenassist_si128((rk)[(i)-1], rcon), 0xff))
#define NEXT_256_EVEN(rk, i, rcon)                                                                 \
    (rk)[i] = _mm_xor_si128(words_prefix_xor((rk)[(i)-2]),                                         \
                            _mm_shuffle_epi32(_mm_aeskeygenassist_si128((rk)[(i)-1], rcon), 0xff))
#define NEXT_256_ODD(rk, i)                                                                        \
    (rk)[i] = _mm_xor_si128(words_prefix_xor((rk)[(i)-2]),                                         \
                            _mm_shuffle_epi32(_mm_aeskeygenassist_si128((rk)[(i)-1], 0), 0xaa))

TARGET static void expand_128(__m128i *rk, const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    NEXT_128(rk, 1, 0x01);
    NEXT_128(rk, 2, 0x02);
    NEXT_128(rk, 3, 0x04);
    NEXT_128(rk, 4, 0x08);
    NEXT_128(rk, 5, 0x10);
    NEXT_128(rk, 6, 0x20);
    NEXT_128(rk, 7, 0x40);
    NEXT_128(rk, 8, 0x80);
    NEXT_128(rk, 9, 0x1b);
    NEXT_128(rk, 10, 0x36);
}

TARGET static void expand_256(__m128i *rk, const uint8_t *key)
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
    NEXT_256_EVEN(rk, 2, 0x01);
    NEXT_256_ODD(rk, 3);
    NEXT_256_EVEN(rk, 4, 0x02);
    NEXT_256_ODD(rk, 5);
    NEXT_256_EVEN(rk, 6, 0x04);
    NEXT_256_ODD(rk, 7);
    NEXT_256_EVEN(rk, 8, 0x08);
    NEXT_256_ODD(rk, 9);
    NEXT_256_EVEN(rk, 10, 0x10);
    NEXT_256_ODD(rk, 11);
    NEXT_256_EVEN(rk, 12, 0x20);
    NEXT_256_ODD(rk, 13);
    NEXT_256_EVEN(rk, 14, 0x40);
}

TARGET static INLINE __m128i encrypt_block(const struct aes_gcm *g, __m128i x)
{
    x = _mm_xor_si128(x, g->rk[0]);
    for (int r = 1; r < g->rounds; r++) {
        x = _mm_aesenc_si128(x, g->rk[r]);
    }
    return _mm_aesenclast_si128(x, g->rk[g->rounds]);
}

/*
 * Keystream for counters c .. c + width - 1 under the nonce in j0; width is
 * a constant at every call, so the blocks stay in registers and their rounds
 * interleave.
 */
TARGET static INLINE void keystream(const struct aes_gcm *g, __m128i j0, uint32_t c, int width,
                                    __m128i *ks)
{
#pragma GCC unroll 8
    for (int j = 0; j < width; j++) {
        __m128i ctr = _mm_insert_epi32(j0, (int)__builtin_bswap32(c + (uint32_t)j), 3);
        ks[j] = _mm_xor_si128(ctr, g->rk[0]);
    }
    for (int r = 1; r < g->rounds; r++) {
#pragma GCC unroll 8
        for (int j = 0; j < width; j++) {
            ks[j] = _mm_aesenc_si128(ks[j], g->rk[r]);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < width; j++) {
        ks[j] = _mm_aesenclast_si128(ks[j], g->rk[g->rounds]);
    }
}

/* XOR up to BATCH blocks (the last may be partial) of in with ks into out. */
TARGET static INLINE void xor_blocks(const __m128i *ks, const uint8_t *in, uint8_t *out, size_t len)
{
    size_t j = 0;

#pragma GCC unroll 8
    for (; len >= 16; j++, len -= 16, in += 16, out += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)in);
        _mm_storeu_si128((__m128i *)out, _mm_xor_si128(x, ks[j]));
    }
    if (len > 0) {
        uint8_t buf[16];

        memcpy(buf, in, len);
        _mm_storeu_si128((__m128i *)buf,
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)buf), ks[j]));
        memcpy(out, buf, len);
    }
}

/* Counter mode from counter 2 (counter 1 masks the tag). */
TARGET static void ctr_xor(const struct aes_gcm *g, __m128i j0, const uint8_t *in, uint8_t *out,
                           size_t len)
{
    __m128i ks[BATCH];
    uint32_t c = 2;

    for (; len > 16 * BATCH; c += BATCH, len -= 16 * BATCH, in += 16 * BATCH, out += 16 * BATCH) {
        keystream(g, j0, c, BATCH, ks);
        xor_blocks(ks, in, out, 16 * BATCH);
    }
    if (len > 64) {
        keystream(g, j0, c, BATCH, ks);
    } else if (len > 0) {
        keystream(g, j0, c, 4, ks); /* a short record does not pay for eight */
    }
    xor_blocks(ks, in, out, len);
}

/* ------------------------------------------------------------------ GHASH */

TARGET static INLINE __m128i reverse_bytes(__m128i x)
{
    const __m128i order = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    return _mm_shuffle_epi8(x, order);
}

TARGET static INLINE void mul_add(struct wide *w, __m128i a, __m128i b)
{
    w->lo = _mm_xor_si128(w->lo, _mm_clmulepi64_si128(a, b, 0x00));
    w->hi = _mm_xor_si128(w->hi, _mm_clmulepi64_si128(a, b, 0x11));
    w->mid = _mm_xor_si128(
        w->mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01), _mm_clmulepi64_si128(a, b, 0x10)));
}

/*
 * Reduce a 256-bit product modulo x^128 + x^7 + x^2 + x + 1. Its high 128
 * bits hold x^0..x^127 and its low 128 bits D the terms x^128 D(x), which
 * equal D (1 + x + x^2 + x^7). Multiplying by x^k is a right shift by k; the
 * bits it pushes out (terms of x^128 and above again) are D << (128 - k),
 * which only reach the top seven bits, so one more fold of that overflow F
 * ends it: the result is high ^ G ^ G>>1 ^ G>>2 ^ G>>7 with G = D ^ F.
 */
TARGET static INLINE __m128i reduce(const struct wide *w)
{
    __m128i high = _mm_xor_si128(w->hi, _mm_srli_si128(w->mid, 8));
    __m128i d = _mm_xor_si128(w->lo, _mm_slli_si128(w->mid, 8));
    __m128i f = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(d, 63), _mm_slli_epi64(d, 62)),
                              _mm_slli_epi64(d, 57));
    __m128i gg = _mm_xor_si128(d, _mm_slli_si128(f, 8));
    /* G>>1 ^ G>>2 ^ G>>7 as 128-bit shifts: in-lane parts, then what crosses */
    __m128i in_lane = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(gg, 1), _mm_srli_epi64(gg, 2)),
                                    _mm_srli_epi64(gg, 7));
    __m128i across = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(gg, 63), _mm_slli_epi64(gg, 62)),
                                   _mm_slli_epi64(gg, 57));

    return _mm_xor_si128(_mm_xor_si128(high, gg),
                         _mm_xor_si128(in_lane, _mm_srli_si128(across, 8)));
}

/* h / x modulo the GCM polynomial, in the reversed domain (bit 127 is x^0). */
TARGET static __m128i divide_by_x(__m128i h)
{
    const __m128i poly_div_x = _mm_set_epi64x((long long)0xc200000000000000ULL, 1);
    __m128i has_x0 = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xff), 31);
    __m128i shifted = _mm_or_si128(_mm_slli_epi64(h, 1), _mm_slli_si128(_mm_srli_epi64(h, 63), 8));

    return _mm_xor_si128(shifted, _mm_and_si128(has_x0, poly_div_x));
}

/* X = (X ^ b[0]) H^n ^ b[1] H^(n-1) ^ ... ^ b[n-1] H, for 1 <= n <= BATCH. */
TARGET static INLINE __m128i ghash_blocks(const struct aes_gcm *g, __m128i x, const __m128i *b,
                                          int n)
{
    struct wide w = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};

    mul_add(&w, _mm_xor_si128(x, b[0]), g->hdiv[n - 1]);
#pragma GCC unroll 8
    for (int i = 1; i < n && i < BATCH; i++) { /* i < BATCH: a bound the compiler sees */
        mul_add(&w, b[i], g->hdiv[n - 1 - i]);
    }
    return reduce(&w);
}

/* Absorb len bytes, the last block zero-padded. */
TARGET static __m128i ghash_bytes(const struct aes_gcm *g, __m128i x, const uint8_t *p, size_t len)
{
    __m128i b[BATCH];

    while (len > 0) {
        int n = 0;

#pragma GCC unroll 8
        for (; n < BATCH && len >= 16; n++, p += 16, len -= 16) {
            b[n] = reverse_bytes(_mm_loadu_si128((const __m128i *)p));
        }
        if (n < BATCH && len > 0) {
            uint8_t buf[16] = {0};

            memcpy(buf, p, len);
            b[n++] = reverse_bytes(_mm_loadu_si128((const __m128i *)buf));
            len = 0;
        }
        x = ghash_blocks(g, x, b, n);
    }
    return x;
}

/* E(K, J0) XOR GHASH(A, C), the tag before it is stored or compared. */
TARGET static __m128i tag_of(const struct aes_gcm *g, __m128i j0, const uint8_t *aad,
                             size_t aad_len, const uint8_t *ct, size_t len)
{
    __m128i x = _mm_setzero_si128();
    __m128i lengths = _mm_set_epi64x((long long)(aad_len * 8), (long long)(len * 8));

    x = ghash_bytes(g, x, aad, aad_len);
    x = ghash_bytes(g, x, ct, len);
    x = ghash_blocks(g, x, &lengths, 1);
    return _mm_xor_si128(encrypt_block(g, j0), reverse_bytes(x));
}

TARGET static INLINE __m128i first_counter(const uint8_t nonce[AES_GCM_NONCE_LEN])
{
    uint8_t j0[16];

    memcpy(j0, nonce, AES_GCM_NONCE_LEN);
    j0[12] = 0;
    j0[13] = 0;
    j0[14] = 0;
    j0[15] = 1;
    return _mm_loadu_si128((const __m128i *)j0);
}

/* ------------------------------------------------------------------ API */

/* The round keys, and H^1..H^BATCH divided by x. */
TARGET static void key_setup(struct aes_gcm *g, const uint8_t *key, size_t key_len)
{
    __m128i h;
    __m128i power;

    if (key_len == 16) {
        expand_128(g->rk, key);
        g->rounds = 10;
    } else {
        expand_256(g->rk, key);
        g->rounds = 14;
    }
    h = reverse_bytes(encrypt_block(g, _mm_setzero_si128()));
    g->hdiv[0] = divide_by_x(h);
    power = h;
    for (int i = 1; i < BATCH; i++) {
        struct wide w = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};

        mul_add(&w, power, g->hdiv[0]); /* power * H */
        power = reduce(&w);
        g->hdiv[i] = divide_by_x(power);
    }
}

/* Not itself built for AES-NI: it is what checks the CPU before any is used. */
struct aes_gcm *aes_gcm_new(const uint8_t *key, size_t key_len)
{
    struct aes_gcm *g;

    if ((key_len != 16 && key_len != 32) || !aes_gcm_supported()) {
        return NULL;
    }
    g = aligned_alloc(16, sizeof(*g));
    if (g != NULL) {
        key_setup(g, key, key_len);
    }
    return g;
}

void aes_gcm_free(struct aes_gcm **g)
{
    if (*g != NULL) {
        explicit_bzero(*g, sizeof(**g));
        free(*g);
        *g = NULL;
    }
}

TARGET bool aes_gcm_seal(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                         const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                         uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN])
{
    __m128i j0 = first_counter(nonce);

    if (len > AES_GCM_MAX_LEN || aad_len > AES_GCM_MAX_LEN) {
        return false;
    }
    ctr_xor(g, j0, in, out, len);
    _mm_storeu_si128((__m128i *)tag, tag_of(g, j0, aad, aad_len, out, len));
    return true;
}

TARGET bool aes_gcm_open(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                         const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                         uint8_t *out, const uint8_t tag[AES_GCM_TAG_LEN])
{
    __m128i j0 = first_counter(nonce);
    __m128i want;
    __m128i same;

    if (len > AES_GCM_MAX_LEN || aad_len > AES_GCM_MAX_LEN) {
        return false;
    }
    want = tag_of(g, j0, aad, aad_len, in, len);
    same = _mm_cmpeq_epi8(want, _mm_loadu_si128((const __m128i *)tag));
    if (_mm_movemask_epi8(same) != 0xffff) {
        return false;
    }
    ctr_xor(g, j0, in, out, len);
    return true;
}

#else /* no x86-64 AES-NI: tls_record.c keeps every record on EVP */

bool aes_gcm_supported(void)
{
    return false;
}

struct aes_gcm *aes_gcm_new(const uint8_t *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    return NULL;
}

void aes_gcm_free(struct aes_gcm **g)
{
    *g = NULL;
}

bool aes_gcm_seal(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                  uint8_t tag[AES_GCM_TAG_LEN])
{
    (void)g, (void)nonce, (void)aad, (void)aad_len, (void)in, (void)len, (void)out, (void)tag;
    return false;
}

bool aes_gcm_open(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                  const uint8_t tag[AES_GCM_TAG_LEN])
{
    (void)g, (void)nonce, (void)aad, (void)aad_len, (void)in, (void)len, (void)out, (void)tag;
    return false;
}

#endif
