/*
 * x25519.c — X25519 (RFC 7748) with field elements in five 51-bit limbs.
 *
 * Why not OpenSSL's: OpenSSL 3.0 makes an X25519 public key with 32-bit
 * limb arithmetic (about 590k instructions here) and wraps each operation in
 * provider lookups; a full handshake spends most of its user CPU there.
 * 64-bit limbs with 128-bit products, and a fixed-base comb over a table of
 * multiples of the base point, make both operations several times cheaper.
 *
 * - The shared secret is the Montgomery ladder of RFC 7748 section 5.
 * - The public key is k*B on the twisted Edwards curve birationally equal to
 *   curve25519 (RFC 7748 section 4.1), mapped to u = (1 + y) / (1 - y). The
 *   scalar is split into 64 signed radix-16 digits; 32 tables hold 1..8 times
 *   256^j * B in affine form, and a digit's entry is chosen by scanning all
 *   eight, so the memory access pattern does not depend on the scalar.
 * - Secret-dependent choices are masks, never branches or indices.
 *
 * Limb bounds: products take inputs below 2^54 (sums are at most a few
 * carried values), so every 128-bit accumulator stays below 2^117.
 */
#include "x25519.h"

#include <pthread.h>
#include <string.h>

typedef unsigned __int128 u128;

#define MASK51 ((UINT64_C(1) << 51) - 1)

/* The small field helpers are worth inlining: at -O2 gcc would otherwise
 * pass five 128-bit sums through the stack on every product. */
#define INLINE static inline __attribute__((always_inline))

/* A field element mod p = 2^255 - 19: sum of v[i] * 2^(51 i). */
typedef struct {
    uint64_t v[5];
} fe;

/* Extended twisted Edwards coordinates: x = X/Z, y = Y/Z, x*y = T/Z. */
struct ge {
    fe X, Y, Z, T;
};

/* An affine point ready for mixed addition: y + x, y - x, 2*d*x*y. */
struct niels {
    fe ypx, ymx, xy2d;
};

/* ------------------------------------------------------------------ field */

static void fe_zero(fe *h)
{
    memset(h, 0, sizeof(*h));
}

static void fe_one(fe *h)
{
    fe_zero(h);
    h->v[0] = 1;
}

/* Brings every limb under 2^51 (limb 0 may end a little above). */
INLINE void fe_carry(fe *h)
{
    uint64_t c;

    c = h->v[0] >> 51, h->v[0] &= MASK51, h->v[1] += c;
    c = h->v[1] >> 51, h->v[1] &= MASK51, h->v[2] += c;
    c = h->v[2] >> 51, h->v[2] &= MASK51, h->v[3] += c;
    c = h->v[3] >> 51, h->v[3] &= MASK51, h->v[4] += c;
    c = h->v[4] >> 51, h->v[4] &= MASK51, h->v[0] += 19 * c;
}

INLINE void fe_add(fe *h, const fe *f, const fe *g)
{
    h->v[0] = f->v[0] + g->v[0];
    h->v[1] = f->v[1] + g->v[1];
    h->v[2] = f->v[2] + g->v[2];
    h->v[3] = f->v[3] + g->v[3];
    h->v[4] = f->v[4] + g->v[4];
}

/*
 * f - g computed as f + 4p - g, so no limb goes negative, not carried: for
 * inputs with limbs below 2^53 the limbs stay below 2^54, fit for a product
 * but not for another subtraction.
 */
INLINE void fe_sub_raw(fe *h, const fe *f, const fe *g)
{
    static const uint64_t four_p0 = (MASK51 - 18) * 4;
    static const uint64_t four_pi = MASK51 * 4;

    h->v[0] = f->v[0] + four_p0 - g->v[0];
    h->v[1] = f->v[1] + four_pi - g->v[1];
    h->v[2] = f->v[2] + four_pi - g->v[2];
    h->v[3] = f->v[3] + four_pi - g->v[3];
    h->v[4] = f->v[4] + four_pi - g->v[4];
}

/* f - g, carried: usable anywhere. */
INLINE void fe_sub(fe *h, const fe *f, const fe *g)
{
    fe_sub_raw(h, f, g);
    fe_carry(h);
}

/* The five 128-bit column sums of a product, reduced to limbs. */
INLINE void fe_reduce(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    u128 top;

    r1 += r0 >> 51;
    r2 += r1 >> 51;
    r3 += r2 >> 51;
    r4 += r3 >> 51;
    top = (r4 >> 51) * 19 + ((uint64_t)r0 & MASK51);
    h->v[0] = (uint64_t)top & MASK51;
    h->v[1] = ((uint64_t)r1 & MASK51) + (uint64_t)(top >> 51);
    h->v[2] = (uint64_t)r2 & MASK51;
    h->v[3] = (uint64_t)r3 & MASK51;
    h->v[4] = (uint64_t)r4 & MASK51;
}

INLINE void fe_mul(fe *h, const fe *f, const fe *g)
{
    const uint64_t *a = f->v;
    const uint64_t *b = g->v;
    uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4];

    fe_reduce(
        h,
        (u128)a[0] * b[0] + (u128)a[1] * b4 + (u128)a[2] * b3 + (u128)a[3] * b2 + (u128)a[4] * b1,
        (u128)a[0] * b[1] + (u128)a[1] * b[0] + (u128)a[2] * b4 + (u128)a[3] * b3 + (u128)a[4] * b2,
        (u128)a[0] * b[2] + (u128)a[1] * b[1] + (u128)a[2] * b[0] + (u128)a[3] * b4 +
            (u128)a[4] * b3,
        (u128)a[0] * b[3] + (u128)a[1] * b[2] + (u128)a[2] * b[1] + (u128)a[3] * b[0] +
            (u128)a[4] * b4,
        (u128)a[0] * b[4] + (u128)a[1] * b[3] + (u128)a[2] * b[2] + (u128)a[3] * b[1] +
            (u128)a[4] * b[0]);
}

/* f^2: the products of fe_mul with the symmetric pairs taken once, doubled. */
INLINE void fe_sq(fe *h, const fe *f)
{
    const uint64_t *a = f->v;
    uint64_t d0 = 2 * a[0], d1 = 2 * a[1], d2 = 2 * a[2], d3 = 2 * a[3];
    uint64_t a3_19 = 19 * a[3], a4_19 = 19 * a[4];

    fe_reduce(h, (u128)a[0] * a[0] + (u128)d1 * a4_19 + (u128)d2 * a3_19,
              (u128)d0 * a[1] + (u128)d2 * a4_19 + (u128)a[3] * a3_19,
              (u128)d0 * a[2] + (u128)a[1] * a[1] + (u128)d3 * a4_19,
              (u128)d0 * a[3] + (u128)d1 * a[2] + (u128)a[4] * a4_19,
              (u128)d0 * a[4] + (u128)d1 * a[3] + (u128)a[2] * a[2]);
}

static void fe_sq_n(fe *h, const fe *f, int n)
{
    fe_sq(h, f);
    while (--n > 0) {
        fe_sq(h, h);
    }
}

INLINE void fe_mul_small(fe *h, const fe *f, uint32_t k)
{
    fe_reduce(h, (u128)f->v[0] * k, (u128)f->v[1] * k, (u128)f->v[2] * k, (u128)f->v[3] * k,
              (u128)f->v[4] * k);
}

/* z^(p-2) = 1/z, by the usual chain of 254 squarings and 11 products. */
static void fe_invert(fe *out, const fe *z)
{
    fe z2, z9, z11, z5_0, z10_0, z20_0, z50_0, z100_0, t;

    fe_sq(&z2, z);
    fe_sq_n(&t, &z2, 2);
    fe_mul(&z9, &t, z);
    fe_mul(&z11, &z9, &z2);
    fe_sq(&t, &z11);
    fe_mul(&z5_0, &t, &z9); /* z^(2^5 - 1) */
    fe_sq_n(&t, &z5_0, 5);
    fe_mul(&z10_0, &t, &z5_0);
    fe_sq_n(&t, &z10_0, 10);
    fe_mul(&z20_0, &t, &z10_0);
    fe_sq_n(&t, &z20_0, 20);
    fe_mul(&t, &t, &z20_0); /* z^(2^40 - 1) */
    fe_sq_n(&t, &t, 10);
    fe_mul(&z50_0, &t, &z10_0);
    fe_sq_n(&t, &z50_0, 50);
    fe_mul(&z100_0, &t, &z50_0);
    fe_sq_n(&t, &z100_0, 100);
    fe_mul(&t, &t, &z100_0); /* z^(2^200 - 1) */
    fe_sq_n(&t, &t, 50);
    fe_mul(&t, &t, &z50_0); /* z^(2^250 - 1) */
    fe_sq_n(&t, &t, 5);
    fe_mul(out, &t, &z11); /* z^(2^255 - 21) */
}

static uint64_t load64(const uint8_t *s)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | s[i];
    }
    return v;
}

static void store64(uint8_t *s, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        s[i] = (uint8_t)(v >> (8 * i));
    }
}

/* 32 little-endian bytes, the top bit ignored (RFC 7748 section 5). */
static void fe_frombytes(fe *h, const uint8_t s[32])
{
    h->v[0] = load64(s) & MASK51;
    h->v[1] = (load64(s + 6) >> 3) & MASK51;
    h->v[2] = (load64(s + 12) >> 6) & MASK51;
    h->v[3] = (load64(s + 19) >> 1) & MASK51;
    h->v[4] = (load64(s + 24) >> 12) & MASK51;
}

/* The unique value in [0, p), as 32 little-endian bytes. */
static void fe_tobytes(uint8_t s[32], const fe *f)
{
    fe h = *f;
    uint64_t q;

    fe_carry(&h);
    fe_carry(&h); /* now below 2^255, every limb below 2^51 */
    /* q = 1 exactly when h >= p, i.e. when h + 19 reaches 2^255. */
    q = (h.v[0] + 19) >> 51;
    q = (h.v[1] + q) >> 51;
    q = (h.v[2] + q) >> 51;
    q = (h.v[3] + q) >> 51;
    q = (h.v[4] + q) >> 51;
    h.v[0] += 19 * q;
    fe_carry(&h); /* its wrap into limb 0 is the 2^255 we drop: h - p */
    h.v[0] -= 19 * q;
    store64(s, h.v[0] | (h.v[1] << 51));
    store64(s + 8, (h.v[1] >> 13) | (h.v[2] << 38));
    store64(s + 16, (h.v[2] >> 26) | (h.v[3] << 25));
    store64(s + 24, (h.v[3] >> 39) | (h.v[4] << 12));
}

/* Swaps f and g when bit is 1, without a branch. */
INLINE void fe_cswap(fe *f, fe *g, uint64_t bit)
{
    uint64_t mask = 0 - bit;
    uint64_t x0 = mask & (f->v[0] ^ g->v[0]), x1 = mask & (f->v[1] ^ g->v[1]);
    uint64_t x2 = mask & (f->v[2] ^ g->v[2]), x3 = mask & (f->v[3] ^ g->v[3]);
    uint64_t x4 = mask & (f->v[4] ^ g->v[4]);

    f->v[0] ^= x0, f->v[1] ^= x1, f->v[2] ^= x2, f->v[3] ^= x3, f->v[4] ^= x4;
    g->v[0] ^= x0, g->v[1] ^= x1, g->v[2] ^= x2, g->v[3] ^= x3, g->v[4] ^= x4;
}

/* f = g when bit is 1, without a branch. */
INLINE void fe_cmov(fe *f, const fe *g, uint64_t bit)
{
    uint64_t mask = 0 - bit;

    for (int i = 0; i < 5; i++) {
        f->v[i] ^= mask & (f->v[i] ^ g->v[i]);
    }
}

static void clamp(uint8_t k[32], const uint8_t priv[32])
{
    memcpy(k, priv, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
}

/* ------------------------------------------------------------------ the ladder */

bool x25519_shared(uint8_t shared[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN],
                   const uint8_t peer[X25519_KEY_LEN])
{
    uint8_t k[32];
    fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb;
    uint64_t swap = 0;
    uint8_t zero = 0;

    clamp(k, priv);
    fe_frombytes(&x1, peer);
    fe_one(&x2);
    fe_zero(&z2);
    x3 = x1;
    fe_one(&z3);
    for (int t = 254; t >= 0; t--) {
        uint64_t bit = (k[t >> 3] >> (t & 7)) & 1;

        swap ^= bit;
        fe_cswap(&x2, &x3, swap);
        fe_cswap(&z2, &z3, swap);
        swap = bit;
        fe_add(&a, &x2, &z2);
        fe_sq(&aa, &a);
        fe_sub_raw(&b, &x2, &z2);
        fe_sq(&bb, &b);
        fe_sub_raw(&e, &aa, &bb);
        fe_add(&c, &x3, &z3);
        fe_sub_raw(&d, &x3, &z3);
        fe_mul(&da, &d, &a);
        fe_mul(&cb, &c, &b);
        fe_add(&x3, &da, &cb);
        fe_sq(&x3, &x3);
        fe_sub_raw(&z3, &da, &cb);
        fe_sq(&z3, &z3);
        fe_mul(&z3, &z3, &x1);
        fe_mul(&x2, &aa, &bb);
        fe_mul_small(&z2, &e, 121665);
        fe_add(&z2, &z2, &aa);
        fe_mul(&z2, &z2, &e);
    }
    fe_cswap(&x2, &x3, swap);
    fe_cswap(&z2, &z3, swap);
    fe_invert(&z2, &z2);
    fe_mul(&x2, &x2, &z2);
    fe_tobytes(shared, &x2);
    memset(k, 0, sizeof(k));
    /* OR of all bytes, so the check takes the same time for every result. */
    for (int i = 0; i < X25519_KEY_LEN; i++) {
        zero |= shared[i];
    }
    return zero != 0;
}

/* ------------------------------------------------------------------ Edwards points */

/* The Edwards constants, computed once: 2d and the base point's table. */
static fe d2;
static struct niels base_table[32][8]; /* [j][k-1] = k * 256^j * B */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* B's x (RFC 8032 section 5.1); its y is 4/5. Little-endian. */
static const uint8_t base_x[32] = {
    0x1a, 0xd5, 0x25, 0x8f, 0x60, 0x2d, 0x56, 0xc9, 0xb2, 0xa7, 0x25, 0x95, 0x60, 0xc7, 0x2c, 0x69,
    0x5c, 0xdc, 0xd6, 0xfd, 0x31, 0xe2, 0xa4, 0xc0, 0xfe, 0x53, 0x6e, 0xcd, 0xd3, 0x36, 0x69, 0x21,
};

static void ge_identity(struct ge *h)
{
    fe_zero(&h->X);
    fe_one(&h->Y);
    fe_one(&h->Z);
    fe_zero(&h->T);
}

static void niels_identity(struct niels *n)
{
    fe_one(&n->ypx);
    fe_one(&n->ymx);
    fe_zero(&n->xy2d);
}

/* X = E*F, Y = G*H, T = E*H, Z = F*G: where addition and doubling end alike. */
static void ge_finish(struct ge *r, const fe *e, const fe *f, const fe *g, const fe *h)
{
    fe_mul(&r->X, e, f);
    fe_mul(&r->Y, g, h);
    fe_mul(&r->T, e, h);
    fe_mul(&r->Z, f, g);
}

/* r = p + q, q affine (add-2008-hwcd-3 with a = -1, Z2 = 1). */
static void ge_madd(struct ge *r, const struct ge *p, const struct niels *q)
{
    fe a, b, c, d, e, f, g, h, t;

    fe_sub(&t, &p->Y, &p->X);
    fe_mul(&a, &t, &q->ymx);
    fe_add(&t, &p->Y, &p->X);
    fe_mul(&b, &t, &q->ypx);
    fe_mul(&c, &p->T, &q->xy2d);
    fe_add(&d, &p->Z, &p->Z);
    fe_sub(&e, &b, &a);
    fe_sub(&f, &d, &c);
    fe_add(&g, &d, &c);
    fe_add(&h, &b, &a);
    ge_finish(r, &e, &f, &g, &h);
}

/* r = 2p (dbl-2008-hwcd with a = -1). */
static void ge_dbl(struct ge *r, const struct ge *p)
{
    fe a, b, c, e, f, g, h, t;

    fe_sq(&a, &p->X);
    fe_sq(&b, &p->Y);
    fe_sq(&c, &p->Z);
    fe_add(&c, &c, &c);
    fe_add(&t, &p->X, &p->Y);
    fe_sq(&e, &t);
    fe_sub(&e, &e, &a);
    fe_sub(&e, &e, &b);
    fe_sub(&g, &b, &a);
    fe_sub(&f, &g, &c);
    fe_add(&t, &a, &b);
    fe_zero(&h);
    fe_sub(&h, &h, &t);
    ge_finish(r, &e, &f, &g, &h);
}

/* The affine form of p, for the table (public data: one inversion each). */
static void ge_to_niels(struct niels *n, const struct ge *p)
{
    fe zi, x, y;

    fe_invert(&zi, &p->Z);
    fe_mul(&x, &p->X, &zi);
    fe_mul(&y, &p->Y, &zi);
    fe_add(&n->ypx, &y, &x);
    fe_carry(&n->ypx);
    fe_sub(&n->ymx, &y, &x);
    fe_mul(&n->xy2d, &x, &y);
    fe_mul(&n->xy2d, &n->xy2d, &d2);
}

static void build_table(void)
{
    fe d, t, y;
    struct ge p, q;

    /* d = -121665 / 121666 (RFC 7748 section 4.1). */
    fe_zero(&t);
    t.v[0] = 121666;
    fe_invert(&t, &t);
    fe_zero(&d);
    d.v[0] = 121665;
    fe_mul(&d, &d, &t);
    fe_zero(&t);
    fe_sub(&d, &t, &d);
    fe_add(&d2, &d, &d);
    fe_carry(&d2);

    fe_zero(&t);
    t.v[0] = 5;
    fe_invert(&t, &t);
    fe_zero(&y);
    y.v[0] = 4;
    fe_mul(&p.Y, &y, &t);
    fe_frombytes(&p.X, base_x);
    fe_one(&p.Z);
    fe_mul(&p.T, &p.X, &p.Y);

    for (int j = 0; j < 32; j++) {
        ge_to_niels(&base_table[j][0], &p);
        q = p;
        for (int k = 1; k < 8; k++) {
            ge_madd(&q, &q, &base_table[j][0]);
            ge_to_niels(&base_table[j][k], &q);
        }
        for (int i = 0; i < 8; i++) {
            ge_dbl(&p, &p);
        }
    }
}

/* 1 when a == b, else 0, for small non-negative values, without a branch. */
static uint64_t equal(uint64_t a, uint64_t b)
{
    return ((a ^ b) - 1) >> 63;
}

/* n = digit * 256^j * B, digit in [-8, 8], reading every entry of table j. */
static void select_entry(struct niels *n, int j, int8_t digit)
{
    int neg = (uint8_t)digit >> 7;
    uint64_t mag = (uint64_t)((digit ^ -neg) + neg); /* |digit|, two's complement */
    uint64_t *out = (uint64_t *)n;
    fe minus;

    niels_identity(n);
    /* The entry as 15 words: the masked copy is one loop over them. */
    for (int k = 0; k < 8; k++) {
        const uint64_t *in = (const uint64_t *)&base_table[j][k];
        uint64_t mask = 0 - equal(mag, (uint64_t)k + 1);

        for (size_t i = 0; i < sizeof(*n) / sizeof(uint64_t); i++) {
            out[i] ^= mask & (out[i] ^ in[i]);
        }
    }
    /* -P swaps y + x with y - x and negates 2dxy. */
    fe_cswap(&n->ypx, &n->ymx, (uint64_t)neg);
    fe_zero(&minus);
    fe_sub(&minus, &minus, &n->xy2d);
    fe_cmov(&n->xy2d, &minus, (uint64_t)neg);
}

/* h += sum of e[i] * 16^(i - first) * B over every other digit from first. */
static void add_digits(struct ge *h, const int8_t e[64], int first)
{
    struct niels n;

    for (int i = first; i < 64; i += 2) {
        select_entry(&n, i / 2, e[i]);
        ge_madd(h, h, &n);
    }
}

/* k * B for the clamped scalar k of priv, on the Edwards curve. */
static void edwards_public(struct ge *h, const uint8_t priv[X25519_KEY_LEN])
{
    uint8_t k[32];
    int8_t e[64];
    int8_t carry = 0;

    pthread_once(&table_once, build_table);
    clamp(k, priv);
    for (int i = 0; i < 32; i++) {
        e[2 * i] = (int8_t)(k[i] & 15);
        e[2 * i + 1] = (int8_t)(k[i] >> 4);
    }
    /* Digits into [-8, 7]; the top one ends at most 8, as k < 2^255. */
    for (int i = 0; i < 63; i++) {
        e[i] = (int8_t)(e[i] + carry);
        carry = (int8_t)((e[i] + 8) >> 4);
        e[i] = (int8_t)(e[i] - carry * 16);
    }
    e[63] = (int8_t)(e[63] + carry);

    /* Odd digits, times 16, then even digits. */
    ge_identity(h);
    add_digits(h, e, 1);
    for (int i = 0; i < 4; i++) {
        ge_dbl(h, h);
    }
    add_digits(h, e, 0);
    memset(k, 0, sizeof(k));
    memset(e, 0, sizeof(e));
}

void x25519_public(uint8_t pub[X25519_KEY_LEN], const uint8_t priv[X25519_KEY_LEN])
{
    x25519_public_batch(&pub, &priv, 1);
}

/*
 * u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y) for each point. Z - Y is never 0:
 * only the identity has y = 1, and no clamped scalar is a multiple of B's
 * prime order. One inversion serves the batch (Montgomery's trick: invert
 * the product, then peel each factor off with two products).
 */
void x25519_public_batch(uint8_t *const *pub, const uint8_t *const *priv, size_t n)
{
    struct ge h[X25519_BATCH_MAX];
    fe den[X25519_BATCH_MAX];
    fe prefix[X25519_BATCH_MAX];
    fe inv, u;

    if (n == 0 || n > X25519_BATCH_MAX) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        edwards_public(&h[i], priv[i]);
        fe_sub(&den[i], &h[i].Z, &h[i].Y);
    }
    prefix[0] = den[0];
    for (size_t i = 1; i < n; i++) {
        fe_mul(&prefix[i], &prefix[i - 1], &den[i]);
    }
    fe_invert(&inv, &prefix[n - 1]);
    for (size_t i = n; i-- > 0;) {
        fe this_inv = inv;

        if (i > 0) {
            fe_mul(&this_inv, &inv, &prefix[i - 1]); /* 1 / den[i] */
            fe_mul(&inv, &inv, &den[i]);             /* 1 / (den[0] ... den[i - 1]) */
        }
        fe_add(&u, &h[i].Z, &h[i].Y);
        fe_mul(&u, &u, &this_inv);
        fe_tobytes(pub[i], &u);
    }
    memset(h, 0, sizeof(h));
}
