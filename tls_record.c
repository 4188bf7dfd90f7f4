/*
 * tls_record.c - TLS 1.3 record protection after OpenSSL's handshake.
 *
 * Why it exists: once a TLS 1.3 handshake is over, all a connection needs is
 * two AEAD keys, two IVs and two sequence numbers, yet OpenSSL 3.0 keeps
 * about 15 KB per connection (the SSL object, the session, handshake
 * leftovers) and spends much of a small request in its record layer
 * (per-record parameter lookups, buffer management). This is the user-space
 * counterpart of kernel TLS offload: tls.c hands the traffic secrets over and
 * frees the SSL; from then on records are sealed and opened here, straight
 * between the socket buffers and caller memory: short AES-GCM records with
 * aes_gcm.c (EVP's per-record parameter handling cost more than the cipher),
 * longer ones and ChaCha20-Poly1305 with OpenSSL's EVP ciphers. The EVP
 * context of an AES-GCM direction is made at its first long record, so a
 * connection that never sends one never pays for it.
 *
 * Owns: the per-connection keys (wiped on destroy). Reads the ciphers
 * fetched once in tls_record_setup(); no other global state, no I/O.
 * Must not depend on: anything but OpenSSL's libcrypto and aes_gcm.c.
 *
 * Key derivations use HMAC over OpenSSL's low-level SHA-256/384 functions,
 * deprecated in 3.0 but still built by Debian: a full handshake makes about
 * 20 HMACs, EVP_MAC spent about 4,600 instructions of set-up on each (more
 * than one hash block), and a plain hash state can be keyed once and copied
 * for every label derived from the same secret (struct tls_record_key).
 *
 * Rejected: one cipher context per worker thread, re-keyed per record (saves
 * about 1 KB per connection, costs a key schedule per record), and keeping
 * OpenSSL's SSL and only releasing its buffers (it still holds ~15 KB).
 */
/* SHA256_Init and friends: see the header comment. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tls_record.h"

#include "aes_gcm.h"
#include "config.h"

#include <string.h>

#ifdef TLS

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define NONCE_LEN 12
#define STAGE_LEN 512 /* small pieces of a reply are gathered before encryption */
/*
 * Longest ciphertext sealed or opened by aes_gcm.c; beyond it EVP's stitched
 * AES+GHASH is as fast or faster (at 2 KB they are level, at 16 KB EVP takes
 * 3.6 us to our 4.9 with AES-256).
 */
#define FAST_MAX 1024

struct suite {
    unsigned id;
    const char *name; /* IANA name, as OpenSSL logs it */
    const char *cipher_name;
    size_t key_len;
    size_t hash_len;
    bool is_aes_gcm;    /* aes_gcm.c can take its short records */
    EVP_CIPHER *cipher; /* fetched in setup; NULL when the provider lacks it */
};

static struct suite suites[] = {
    {0x1301, "TLS_AES_128_GCM_SHA256", "AES-128-GCM", 16, 32, true, NULL},
    {0x1302, "TLS_AES_256_GCM_SHA384", "AES-256-GCM", 32, 48, true, NULL},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", "ChaCha20-Poly1305", 32, 32, false, NULL},
};

/* A running SHA-256 or SHA-384 hash (which one: the hash length beside it). */
union hash_state {
    SHA256_CTX s256;
    SHA512_CTX s512;
};

/* What struct tls_record_key's storage holds (RFC 2104's two keyed states). */
struct keyed {
    size_t hash_len;
    union hash_state inner; /* after (key ^ ipad) */
    union hash_state outer; /* after (key ^ opad) */
};

_Static_assert(sizeof(struct keyed) <= sizeof(((struct tls_record_key *)0)->opaque),
               "struct tls_record_key too small");

struct direction {
    EVP_CIPHER_CTX *ctx;  /* NULL until needed when fast is set */
    struct aes_gcm *fast; /* short records; NULL for ChaCha20 or without AES-NI */
    uint64_t seq;
    uint8_t iv[NONCE_LEN];
    uint8_t key[32]; /* for the EVP context made later */
    uint8_t secret[TLS_RECORD_SECRET_MAX];
};

struct tls_record {
    const struct suite *suite;
    struct direction rx; /* what the peer sends */
    struct direction tx; /* what we send */
};

bool tls_record_setup(void)
{
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (suites[i].cipher == NULL) {
            suites[i].cipher = EVP_CIPHER_fetch(NULL, suites[i].cipher_name, NULL);
        }
    }
    return true;
}

void tls_record_teardown(void)
{
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        EVP_CIPHER_free(suites[i].cipher); /* NULL-safe */
        suites[i].cipher = NULL;
    }
}

static const struct suite *find_suite(unsigned id)
{
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (suites[i].id == id) {
            return suites[i].cipher != NULL ? &suites[i] : NULL;
        }
    }
    return NULL;
}

bool tls_record_suite_supported(unsigned suite)
{
    return find_suite(suite) != NULL;
}

/* ------------------------------------------------------------------ HMAC and HKDF */

static void hash_init(size_t hash_len, union hash_state *h)
{
    if (hash_len == 48) {
        SHA384_Init(&h->s512);
    } else {
        SHA256_Init(&h->s256);
    }
}

static void hash_update(size_t hash_len, union hash_state *h, const void *data, size_t len)
{
    if (hash_len == 48) {
        SHA384_Update(&h->s512, data, len);
    } else {
        SHA256_Update(&h->s256, data, len);
    }
}

static void hash_final(size_t hash_len, union hash_state *h, uint8_t *out)
{
    if (hash_len == 48) {
        SHA384_Final(out, &h->s512);
    } else {
        SHA256_Final(out, &h->s256);
    }
}

/* Hash the padded key blocks once (RFC 2104); key_len is any length. */
static void key_prepare(struct keyed *k, size_t hash_len, const uint8_t *key, size_t key_len)
{
    size_t block = hash_len == 48 ? SHA512_CBLOCK : SHA256_CBLOCK;
    uint8_t pad[SHA512_CBLOCK];
    uint8_t digest[TLS_RECORD_SECRET_MAX];

    k->hash_len = hash_len;
    if (key_len > block) {
        hash_init(hash_len, &k->inner);
        hash_update(hash_len, &k->inner, key, key_len);
        hash_final(hash_len, &k->inner, digest);
        key = digest;
        key_len = hash_len;
    }
    memset(pad, 0x36, block);
    for (size_t i = 0; i < key_len; i++) {
        pad[i] ^= key[i];
    }
    hash_init(hash_len, &k->inner);
    hash_update(hash_len, &k->inner, pad, block);
    for (size_t i = 0; i < block; i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }
    hash_init(hash_len, &k->outer);
    hash_update(hash_len, &k->outer, pad, block);
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(digest, sizeof(digest));
}

/* HMAC(key, data) from the prepared states: two hash blocks for short data. */
static void key_hmac(const struct keyed *k, const uint8_t *data, size_t len, uint8_t *out)
{
    union hash_state h = k->inner;
    uint8_t inner[TLS_RECORD_SECRET_MAX];

    hash_update(k->hash_len, &h, data, len);
    hash_final(k->hash_len, &h, inner);
    h = k->outer;
    hash_update(k->hash_len, &h, inner, k->hash_len);
    hash_final(k->hash_len, &h, out);
    OPENSSL_cleanse(&h, sizeof(h));
    OPENSSL_cleanse(inner, sizeof(inner));
}

/*
 * HKDF-Expand-Label(secret, label, context, out_len) for out_len <= hash
 * length, where HKDF-Expand is a single HMAC block (RFC 8446 section 7.1,
 * RFC 5869).
 */
static bool key_expand(const struct keyed *k, const char *label, const uint8_t *context,
                       size_t context_len, uint8_t *out, size_t out_len)
{
    uint8_t info[2 + 1 + 6 + 32 + 1 + TLS_RECORD_SECRET_MAX + 1];
    uint8_t block[TLS_RECORD_SECRET_MAX];
    size_t label_len = strlen(label);
    size_t n = 0;

    if (label_len > 32 || out_len > k->hash_len || context_len > TLS_RECORD_SECRET_MAX) {
        return false;
    }
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = (uint8_t)context_len;
    if (context_len > 0) {
        memcpy(info + n, context, context_len);
        n += context_len;
    }
    info[n++] = 1; /* HKDF-Expand block counter */
    key_hmac(k, info, n, block);
    memcpy(out, block, out_len);
    OPENSSL_cleanse(block, sizeof(block));
    return true;
}

static bool expand_label_ctx(const struct suite *s, const uint8_t *secret, const char *label,
                             const uint8_t *context, size_t context_len, uint8_t *out,
                             size_t out_len)
{
    struct keyed k;
    bool is_ok;

    key_prepare(&k, s->hash_len, secret, s->hash_len);
    is_ok = key_expand(&k, label, context, context_len, out, out_len);
    OPENSSL_cleanse(&k, sizeof(k));
    return is_ok;
}

static bool expand_label(const struct suite *s, const uint8_t *secret, const char *label,
                         uint8_t *out, size_t out_len)
{
    return expand_label_ctx(s, secret, label, NULL, 0, out, out_len);
}

size_t tls_record_hash_len(unsigned suite)
{
    const struct suite *s = find_suite(suite);

    return s != NULL ? s->hash_len : 0;
}

const char *tls_record_suite_name(unsigned suite)
{
    const struct suite *s = find_suite(suite);

    return s != NULL ? s->name : "unknown suite";
}

bool tls_record_expand_label(unsigned suite, const uint8_t *secret, const char *label,
                             const uint8_t *context, size_t context_len, uint8_t *out,
                             size_t out_len)
{
    const struct suite *s = find_suite(suite);

    return s != NULL && expand_label_ctx(s, secret, label, context, context_len, out, out_len);
}

bool tls_record_hmac(unsigned suite, const uint8_t *key, size_t key_len, const uint8_t *data,
                     size_t len, uint8_t *out)
{
    struct tls_record_key k;
    bool is_ok = tls_record_key_init(&k, suite, key, key_len);

    if (is_ok) {
        is_ok = tls_record_key_hmac(&k, data, len, out);
    }
    tls_record_key_wipe(&k);
    return is_ok;
}

bool tls_record_key_init(struct tls_record_key *k, unsigned suite, const uint8_t *key,
                         size_t key_len)
{
    const struct suite *s = find_suite(suite);

    memset(k, 0, sizeof(*k));
    if (s == NULL) {
        return false;
    }
    key_prepare((struct keyed *)k->opaque, s->hash_len, key, key_len);
    return true;
}

bool tls_record_key_hmac(const struct tls_record_key *k, const uint8_t *data, size_t len,
                         uint8_t *out)
{
    const struct keyed *kd = (const struct keyed *)k->opaque;

    if (kd->hash_len == 0) {
        return false;
    }
    key_hmac(kd, data, len, out);
    return true;
}

bool tls_record_key_expand(const struct tls_record_key *k, const char *label,
                           const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
    const struct keyed *kd = (const struct keyed *)k->opaque;

    return kd->hash_len != 0 && key_expand(kd, label, context, context_len, out, out_len);
}

void tls_record_key_wipe(struct tls_record_key *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

/* The direction's EVP context, made and keyed at first use (enc: 1 for tx). */
static EVP_CIPHER_CTX *evp_ctx(const struct suite *s, struct direction *d, int enc)
{
    if (d->ctx == NULL) {
        d->ctx = EVP_CIPHER_CTX_new();
        if (d->ctx != NULL && EVP_CipherInit_ex(d->ctx, s->cipher, NULL, d->key, NULL, enc) != 1) {
            EVP_CIPHER_CTX_free(d->ctx);
            d->ctx = NULL;
        }
    }
    return d->ctx;
}

static void direction_clear(struct direction *d)
{
    EVP_CIPHER_CTX_free(d->ctx); /* NULL-safe; wipes the key schedule */
    d->ctx = NULL;
    aes_gcm_free(&d->fast); /* NULL-safe; wipes */
}

/* Key and IV for the direction's current secret; the sequence restarts at seq. */
static bool direction_rekey(const struct suite *s, struct direction *d, int enc, uint64_t seq)
{
    struct keyed k;
    bool is_ok;

    direction_clear(d);
    key_prepare(&k, s->hash_len, d->secret, s->hash_len); /* once for both labels */
    is_ok = key_expand(&k, "key", NULL, 0, d->key, s->key_len) &&
            key_expand(&k, "iv", NULL, 0, d->iv, NONCE_LEN);
    OPENSSL_cleanse(&k, sizeof(k));
    d->seq = seq;
    if (is_ok && s->is_aes_gcm) {
        d->fast = aes_gcm_new(d->key, s->key_len); /* NULL: all records go to EVP */
    }
    /* Without the fast path every record needs EVP: fail now, not mid-stream. */
    return is_ok && (d->fast != NULL || evp_ctx(s, d, enc) != NULL);
}

struct tls_record *tls_record_create(unsigned suite, const uint8_t *rx_secret,
                                     const uint8_t *tx_secret, size_t secret_len, uint64_t rx_seq,
                                     uint64_t tx_seq)
{
    const struct suite *s = find_suite(suite);
    struct tls_record *rl;

    if (s == NULL || secret_len != s->hash_len) {
        return NULL;
    }
    rl = OPENSSL_zalloc(sizeof(*rl));
    if (rl == NULL) {
        return NULL;
    }
    rl->suite = s;
    memcpy(rl->rx.secret, rx_secret, secret_len);
    memcpy(rl->tx.secret, tx_secret, secret_len);
    if (!direction_rekey(s, &rl->rx, 0, rx_seq) || !direction_rekey(s, &rl->tx, 1, tx_seq)) {
        tls_record_destroy(&rl);
        return NULL;
    }
    return rl;
}

void tls_record_destroy(struct tls_record **rl)
{
    if (*rl == NULL) {
        return;
    }
    direction_clear(&(*rl)->rx);
    direction_clear(&(*rl)->tx);
    OPENSSL_clear_free(*rl, sizeof(**rl));
    *rl = NULL;
}

/* A new traffic secret for one direction, its sequence restarting at 0. */
static bool set_secret(struct tls_record *rl, struct direction *d, int enc, const uint8_t *secret)
{
    memcpy(d->secret, secret, rl->suite->hash_len);
    return direction_rekey(rl->suite, d, enc, 0);
}

static bool update(struct tls_record *rl, struct direction *d, int enc)
{
    uint8_t next[TLS_RECORD_SECRET_MAX];
    const struct suite *s = rl->suite;
    bool is_ok = expand_label(s, d->secret, "traffic upd", next, s->hash_len) &&
                 set_secret(rl, d, enc, next);

    OPENSSL_cleanse(next, sizeof(next));
    return is_ok;
}

bool tls_record_set_rx(struct tls_record *rl, const uint8_t *secret)
{
    return set_secret(rl, &rl->rx, 0, secret);
}

bool tls_record_set_tx(struct tls_record *rl, const uint8_t *secret)
{
    return set_secret(rl, &rl->tx, 1, secret);
}

bool tls_record_update_rx(struct tls_record *rl)
{
    return update(rl, &rl->rx, 0);
}

bool tls_record_update_tx(struct tls_record *rl)
{
    return update(rl, &rl->tx, 1);
}

/* The per-record nonce: the IV XOR the 64-bit sequence number (section 5.3). */
static bool make_nonce(const struct direction *d, uint8_t nonce[NONCE_LEN])
{
    if (d->seq == UINT64_MAX) {
        return false; /* never reused; a connection this long must reconnect */
    }
    memcpy(nonce, d->iv, NONCE_LEN);
    for (int i = 0; i < 8; i++) {
        nonce[NONCE_LEN - 1 - i] ^= (uint8_t)(d->seq >> (8 * i));
    }
    return true;
}

ssize_t tls_record_frame(const uint8_t *buf, size_t len)
{
    size_t body;

    if (len < TLS_RECORD_HEADER) {
        return TLS_RECORD_INCOMPLETE;
    }
    /* The version bytes are legacy and ignored (section 5.1). */
    if (buf[0] != TLS_CT_APPLICATION_DATA) {
        return TLS_RECORD_BAD_TYPE;
    }
    body = (size_t)buf[3] << 8 | buf[4];
    if (TLS_RECORD_HEADER + body > TLS_RECORD_MAX_WIRE) {
        return TLS_RECORD_OVERFLOW;
    }
    if (len < TLS_RECORD_HEADER + body) {
        return TLS_RECORD_INCOMPLETE;
    }
    return (ssize_t)(TLS_RECORD_HEADER + body);
}

/* Authenticate and decrypt clen bytes of record body into out. */
static int open_body(const struct suite *s, struct direction *d, const uint8_t *nonce, uint8_t *rec,
                     size_t clen, uint8_t *out)
{
    uint8_t *body = rec + TLS_RECORD_HEADER;
    EVP_CIPHER_CTX *ctx;
    int len = 0;
    int fin = 0;

    if (d->fast != NULL && clen <= FAST_MAX) {
        return aes_gcm_open(d->fast, nonce, rec, TLS_RECORD_HEADER, body, clen, out, body + clen)
                   ? TLS_RECORD_OK
                   : TLS_RECORD_BAD_MAC;
    }
    ctx = evp_ctx(s, d, 0);
    if (ctx == NULL || EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, rec, TLS_RECORD_HEADER) != 1 ||
        EVP_DecryptUpdate(ctx, out, &len, body, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TLS_RECORD_TAG, body + clen) != 1) {
        return TLS_RECORD_FAILED;
    }
    if (EVP_DecryptFinal_ex(ctx, out + len, &fin) != 1) {
        return TLS_RECORD_BAD_MAC;
    }
    return TLS_RECORD_OK;
}

ssize_t tls_record_open(struct tls_record *rl, uint8_t *rec, size_t n, uint8_t *out, uint8_t *type)
{
    struct direction *d = &rl->rx;
    uint8_t nonce[NONCE_LEN];
    size_t clen;
    int r;

    if (n < TLS_RECORD_OVERHEAD) {
        return TLS_RECORD_BAD_MAC; /* too short to hold a tag and a type */
    }
    clen = n - TLS_RECORD_HEADER - TLS_RECORD_TAG;
    if (!make_nonce(d, nonce)) {
        return TLS_RECORD_FAILED;
    }
    r = open_body(rl->suite, d, nonce, rec, clen, out);
    if (r != TLS_RECORD_OK) {
        return r;
    }
    d->seq++;
    /* Inner plaintext: content, one content-type byte, then zero padding. */
    while (clen > 0 && out[clen - 1] == 0) {
        clen--;
    }
    if (clen == 0) {
        return TLS_RECORD_NO_TYPE;
    }
    *type = out[clen - 1];
    if (clen - 1 > TLS_RECORD_MAX_PLAIN) {
        return TLS_RECORD_OVERFLOW;
    }
    return (ssize_t)(clen - 1);
}

/* The iovec holding byte skip of the reply; *skip becomes its offset there. */
static int iov_at(const struct iovec *iov, int iovcnt, size_t *skip)
{
    int i = 0;

    while (i < iovcnt && *skip >= iov[i].iov_len) {
        *skip -= iov[i++].iov_len;
    }
    return i;
}

/* Copy len bytes from the iovecs, after skip, to dst: false when they hold fewer. */
static bool gather(const struct iovec *iov, int iovcnt, size_t skip, size_t len, uint8_t *dst)
{
    for (int i = iov_at(iov, iovcnt, &skip); i < iovcnt && len > 0; i++, skip = 0) {
        size_t n = iov[i].iov_len - skip < len ? iov[i].iov_len - skip : len;

        memcpy(dst, (const uint8_t *)iov[i].iov_base + skip, n);
        dst += n;
        len -= n;
    }
    return len == 0;
}

/* Encrypt staged bytes to *dst and advance it. */
static bool encrypt_piece(EVP_CIPHER_CTX *ctx, uint8_t **dst, const uint8_t *src, size_t n)
{
    int len = 0;

    if (n == 0) {
        return true;
    }
    if (EVP_EncryptUpdate(ctx, *dst, &len, src, (int)n) != 1) {
        return false;
    }
    *dst += len;
    return true;
}

/*
 * A long record through EVP. Every EVP call costs a provider dispatch, so
 * the small pieces of a reply (a VALUE line, a short value, "\r\nEND\r\n")
 * are copied into one stage and encrypted together; large pieces are
 * encrypted straight from item memory.
 */
static bool seal_evp(const struct suite *s, struct direction *d, const uint8_t *nonce, uint8_t type,
                     const struct iovec *iov, int iovcnt, size_t skip, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = evp_ctx(s, d, 1);
    uint8_t stage[STAGE_LEN];
    size_t staged = 0;
    size_t left = len;
    uint8_t *dst = out + TLS_RECORD_HEADER;
    int fin = 0;

    if (ctx == NULL || EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &fin, out, TLS_RECORD_HEADER) != 1) {
        return false;
    }
    for (int i = iov_at(iov, iovcnt, &skip); i < iovcnt && left > 0; i++, skip = 0) {
        const uint8_t *src = (const uint8_t *)iov[i].iov_base + skip;
        size_t n = iov[i].iov_len - skip < left ? iov[i].iov_len - skip : left;

        left -= n;
        if (n <= STAGE_LEN - 1 - staged) { /* 1: room for the type byte */
            memcpy(stage + staged, src, n);
            staged += n;
            continue;
        }
        if (!encrypt_piece(ctx, &dst, stage, staged) || !encrypt_piece(ctx, &dst, src, n)) {
            return false;
        }
        staged = 0;
    }
    stage[staged++] = type;
    return left == 0 && encrypt_piece(ctx, &dst, stage, staged) &&
           EVP_EncryptFinal_ex(ctx, dst, &fin) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS_RECORD_TAG, dst + fin) == 1;
}

/* A short AES-GCM record: gathered in place behind the header, sealed in place. */
static bool seal_fast(struct direction *d, const uint8_t *nonce, uint8_t type,
                      const struct iovec *iov, int iovcnt, size_t skip, size_t len, uint8_t *out)
{
    uint8_t *body = out + TLS_RECORD_HEADER;

    if (!gather(iov, iovcnt, skip, len, body)) {
        return false;
    }
    body[len] = type;
    return aes_gcm_seal(d->fast, nonce, out, TLS_RECORD_HEADER, body, len + 1, body,
                        body + len + 1);
}

size_t tls_record_seal(struct tls_record *rl, uint8_t type, const struct iovec *iov, int iovcnt,
                       size_t skip, size_t len, uint8_t *out)
{
    struct direction *d = &rl->tx;
    uint8_t nonce[NONCE_LEN];
    size_t body = len + 1 + TLS_RECORD_TAG;
    bool is_ok;

    if (len > TLS_RECORD_MAX_PLAIN || !make_nonce(d, nonce)) {
        return 0;
    }
    out[0] = TLS_CT_APPLICATION_DATA;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    if (d->fast != NULL && len + 1 <= FAST_MAX) {
        is_ok = seal_fast(d, nonce, type, iov, iovcnt, skip, len, out);
    } else {
        is_ok = seal_evp(rl->suite, d, nonce, type, iov, iovcnt, skip, len, out);
    }
    if (!is_ok) {
        return 0;
    }
    d->seq++;
    return TLS_RECORD_HEADER + body;
}

#else /* !TLS */

bool tls_record_setup(void)
{
    return false;
}

void tls_record_teardown(void)
{
}

#endif /* TLS */
