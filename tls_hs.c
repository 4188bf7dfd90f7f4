/*
 * tls_hs.c - the common TLS 1.3 server handshake without OpenSSL's state
 * machine (see tls_hs.h for what it accepts).
 *
 * Why it exists: a full TLS 1.3 handshake costs OpenSSL 3.0 about 258 us of
 * server CPU here, of which the cryptography (two X25519 operations and one
 * signature) is about 80 us; the rest is its generic machinery (provider
 * fetches, parameter lists, about 2,000 allocations). This file does the
 * same messages with the same primitives, called directly: the key
 * schedule through tls_record.c's HMAC (a secret used for several labels is
 * keyed once), X25519 by x25519.c (OpenSSL's key generation alone cost more
 * than our whole exchange), one signature through EVP.
 *
 * Shape: a ClientHello parser that only reads (struct hello), then writers
 * for the server's messages, then the key schedule. Anything the parser does
 * not fully understand is TLS_HS_FALLBACK, decided before a byte is sent.
 *
 * Owns: the per-handshake secrets (wiped on free) and the identity's ticket
 * key. Must not depend on: sockets, OpenSSL's libssl, anything in the server.
 */
#include "tls_hs.h"

#include "config.h"
#include "tls_record.h"
#include "x25519.h"

#include <string.h>
#include <sys/uio.h>
#include <time.h>

#ifdef TLS

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define HASH_MAX        48
#define GROUP_X25519    0x001d
#define MT_CLIENT_HELLO 1
#define MT_SERVER_HELLO 2
#define MT_NEW_TICKET   4
#define MT_ENC_EXT      8
#define MT_CERT_VERIFY  15
#define MT_FINISHED     20
#define TICKET_KEY_LEN  32
#define TICKET_MAGIC    4
#define TICKET_NONCE    12
#define TICKET_TAG      16
#define TICKET_PLAIN    (2 + 1 + 8 + HASH_MAX) /* suite, context, issued, PSK */
#define TICKET_MAX      (TICKET_MAGIC + TICKET_NONCE + TICKET_PLAIN + TICKET_TAG)
#define IDLE_MAX        32 /* records without progress before the peer is cut off */

/* Alerts (RFC 8446 section 6). */
enum {
    ALERT_UNEXPECTED_MESSAGE = 10,
    ALERT_BAD_RECORD_MAC = 20,
    ALERT_DECODE_ERROR = 50,
    ALERT_DECRYPT_ERROR = 51,
};

/* Extensions read from a ClientHello. */
enum {
    EXT_SERVER_NAME = 0,
    EXT_MAX_FRAGMENT = 1,
    EXT_STATUS_REQUEST = 5,
    EXT_SUPPORTED_GROUPS = 10,
    EXT_SIGALGS = 13,
    EXT_USE_SRTP = 14,
    EXT_ALPN = 16,
    EXT_PSK = 41,
    EXT_EARLY_DATA = 42,
    EXT_VERSIONS = 43,
    EXT_COOKIE = 44,
    EXT_PSK_MODES = 45,
    EXT_CERT_AUTHORITIES = 47,
    EXT_POST_HS_AUTH = 49,
    EXT_SIGALGS_CERT = 50,
    EXT_KEY_SHARE = 51,
    EXT_CRYPTOPRO_BUG = 0xfde8,
};

enum key_kind { KEY_EC_P256, KEY_EC_P384, KEY_EC_P521, KEY_RSA, KEY_ED25519, KEY_ED448 };

struct tls_hs_identity {
    int refs;     /* atomic */
    uint64_t gen; /* unique per identity: names it in per-thread caches */
    EVP_PKEY *key;
    enum key_kind kind;
    uint8_t *cert_msg;
    size_t cert_len;
    uint16_t suites[4];
    size_t nsuites;
    uint32_t lifetime;
    uint8_t ticket_magic[TICKET_MAGIC]; /* names this identity's tickets */
    uint8_t ticket_key[TICKET_KEY_LEN];
};

struct tls_hs {
    struct tls_hs_identity *id;
    unsigned suite;
    size_t hash_len;
    int hash_i; /* 0: SHA-256, 1: SHA-384 (indexes the tables set up once) */
    EVP_MD_CTX *transcript;
    EVP_MD_CTX *snapshot;  /* scratch for the transcript's hash so far, reused */
    struct tls_record *rl; /* reads: client handshake key; writes: server traffic key */
    uint8_t c_ap[HASH_MAX];
    uint8_t s_ap[HASH_MAX];
    uint8_t master[HASH_MAX];
    uint8_t client_fin[HASH_MAX];          /* the Finished we expect from the client */
    uint8_t ticket_rand[4 + TICKET_NONCE]; /* age_add and ticket nonce, drawn with our random */
    uint8_t context;
    uint8_t idle;
    bool is_resumed;
};

static EVP_MD *sha256;
static EVP_MD *sha384;
/*
 * Without a PSK the early secret and the salt derived from it are the same
 * for every handshake of a hash: computed once per hash in setup ([0]
 * SHA-256, [1] SHA-384), with the hash of the empty string.
 */
static uint8_t no_psk_salt[2][HASH_MAX];
/* The same salt prepared as an HMAC key: a full handshake's first HMAC costs half. */
static struct tls_record_key no_psk_salt_key[2];
static uint8_t empty_hash[2][HASH_MAX];
static bool has_no_psk_salt;
static EVP_CIPHER *ticket_cipher;
static uint64_t identity_gen; /* atomic */

/*
 * The calling thread's signing context for one identity and scheme, set up
 * once and copied for each signature: setting one up fetches the digest
 * and the signature algorithm by name, about 3 us of the 22 a signature
 * costs here.
 */
static __thread struct {
    uint64_t gen;
    uint16_t scheme;
    EVP_MD_CTX *ctx;
} signer;

/*
 * This thread's X25519 key pairs, made KEY_POOL at a time: the batch shares
 * one field inversion and one random draw (each RAND call also costs a
 * getpid()), 10.9 us per key against 13.6 us one at a time. Every pair
 * serves one handshake and is wiped as it is taken, so forward secrecy is
 * per connection as before; the unused ones are wiped at thread exit.
 */
#define KEY_POOL 8
static __thread struct {
    unsigned left; /* pairs not yet used, at the end of the arrays */
    uint8_t priv[KEY_POOL][X25519_KEY_LEN];
    uint8_t pub[KEY_POOL][X25519_KEY_LEN];
} key_pool;

/* ------------------------------------------------------------------ setup */

/* Early secret with no PSK, then Derive-Secret(., "derived", "") (section 7.1). */
static bool early_salt(unsigned suite, size_t hash_len, EVP_MD *md, int i)
{
    static const uint8_t zeros[HASH_MAX];
    uint8_t early[HASH_MAX];
    bool is_ok = EVP_Digest(NULL, 0, empty_hash[i], NULL, md, NULL) == 1 &&
                 tls_record_hmac(suite, zeros, hash_len, zeros, hash_len, early) &&
                 tls_record_expand_label(suite, early, "derived", empty_hash[i], hash_len,
                                         no_psk_salt[i], hash_len) &&
                 tls_record_key_init(&no_psk_salt_key[i], suite, no_psk_salt[i], hash_len);

    OPENSSL_cleanse(early, sizeof(early));
    return is_ok;
}

bool tls_hs_setup(void)
{
    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    }
    if (sha384 == NULL) {
        sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    }
    if (ticket_cipher == NULL) {
        ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    }
    if (sha256 == NULL || sha384 == NULL || ticket_cipher == NULL) {
        return false;
    }
    if (!has_no_psk_salt) {
        has_no_psk_salt = early_salt(0x1301, 32, sha256, 0) && early_salt(0x1302, 48, sha384, 1);
    }
    return has_no_psk_salt;
}

void tls_hs_thread_teardown(void)
{
    OPENSSL_cleanse(&key_pool, sizeof(key_pool));
    EVP_MD_CTX_free(signer.ctx); /* NULL-safe */
    signer.ctx = NULL;
}

void tls_hs_teardown(void)
{
    tls_hs_thread_teardown();
    EVP_MD_free(sha256);
    EVP_MD_free(sha384);
    EVP_CIPHER_free(ticket_cipher);
    sha256 = NULL;
    sha384 = NULL;
    ticket_cipher = NULL;
}

static bool key_kind_of(EVP_PKEY *key, enum key_kind *kind)
{
    char group[64];

    if (EVP_PKEY_is_a(key, "RSA")) {
        *kind = KEY_RSA;
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        *kind = KEY_ED25519;
    } else if (EVP_PKEY_is_a(key, "ED448")) {
        *kind = KEY_ED448;
    } else if (EVP_PKEY_is_a(key, "EC") &&
               EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                              NULL) == 1) {
        if (strcmp(group, "prime256v1") == 0) {
            *kind = KEY_EC_P256;
        } else if (strcmp(group, "secp384r1") == 0) {
            *kind = KEY_EC_P384;
        } else if (strcmp(group, "secp521r1") == 0) {
            *kind = KEY_EC_P521;
        } else {
            return false;
        }
    } else {
        return false;
    }
    return true;
}

struct tls_hs_identity *tls_hs_identity_new(struct evp_pkey_st *key, const uint8_t *cert_msg,
                                            size_t cert_len, const uint16_t *suites, size_t nsuites,
                                            uint32_t lifetime)
{
    struct tls_hs_identity *id;
    enum key_kind kind;

    if (key == NULL || !key_kind_of(key, &kind) || cert_len < 8 || nsuites == 0 || sha256 == NULL) {
        return NULL;
    }
    id = OPENSSL_zalloc(sizeof(*id));
    if (id == NULL) {
        return NULL;
    }
    id->refs = 1;
    id->gen = __atomic_add_fetch(&identity_gen, 1, __ATOMIC_RELAXED);
    id->kind = kind;
    id->cert_msg = OPENSSL_memdup(cert_msg, cert_len);
    id->cert_len = cert_len;
    for (size_t i = 0; i < nsuites && id->nsuites < sizeof(id->suites) / sizeof(id->suites[0]);
         i++) {
        if (tls_record_suite_supported(suites[i])) {
            id->suites[id->nsuites++] = suites[i];
        }
    }
    id->lifetime = lifetime;
    if (id->cert_msg == NULL || id->nsuites == 0 || EVP_PKEY_up_ref(key) != 1 ||
        RAND_bytes(id->ticket_magic, sizeof(id->ticket_magic)) != 1 ||
        RAND_bytes(id->ticket_key, sizeof(id->ticket_key)) != 1) {
        OPENSSL_free(id->cert_msg);
        OPENSSL_free(id);
        return NULL;
    }
    id->key = key;
    return id;
}

void tls_hs_identity_hold(struct tls_hs_identity *id)
{
    __atomic_add_fetch(&id->refs, 1, __ATOMIC_RELAXED);
}

void tls_hs_identity_release(struct tls_hs_identity **id)
{
    struct tls_hs_identity *p = *id;

    *id = NULL;
    if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    EVP_PKEY_free(p->key);
    OPENSSL_free(p->cert_msg);
    OPENSSL_clear_free(p, sizeof(*p));
}

/*
 * ServerHello and ChangeCipherSpec records, then EncryptedExtensions,
 * Certificate, CertificateVerify (up to 1 KB of signature) and Finished in
 * records of at most 16 KB.
 */
size_t tls_hs_flight_max(const struct tls_hs_identity *id)
{
    size_t plain = 6 + id->cert_len + 8 + 1024 + 4 + HASH_MAX;

    return 256 + plain + (plain / TLS_RECORD_MAX_PLAIN + 1) * TLS_RECORD_OVERHEAD;
}

/* ------------------------------------------------------------------ reading */

struct reader {
    const uint8_t *p;
    size_t n;
};

static bool rd_u8(struct reader *r, uint8_t *v)
{
    if (r->n < 1) {
        return false;
    }
    *v = r->p[0];
    r->p++;
    r->n--;
    return true;
}

static bool rd_u16(struct reader *r, uint16_t *v)
{
    if (r->n < 2) {
        return false;
    }
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->n -= 2;
    return true;
}

static bool rd_bytes(struct reader *r, size_t len, struct reader *sub)
{
    if (r->n < len) {
        return false;
    }
    sub->p = r->p;
    sub->n = len;
    r->p += len;
    r->n -= len;
    return true;
}

/* A vector with a 1- or 2-byte length prefix. */
static bool rd_vec8(struct reader *r, struct reader *sub)
{
    uint8_t len;

    return rd_u8(r, &len) && rd_bytes(r, len, sub);
}

static bool rd_vec16(struct reader *r, struct reader *sub)
{
    uint16_t len;

    return rd_u16(r, &len) && rd_bytes(r, len, sub);
}

/* A non-empty list of 16-bit values filling its vector exactly. */
static bool is_u16_list(const struct reader *list)
{
    return list->n >= 2 && list->n % 2 == 0;
}

static bool list_has(struct reader list, uint16_t want)
{
    uint16_t v;

    while (rd_u16(&list, &v)) {
        if (v == want) {
            return true;
        }
    }
    return false;
}

static bool list_has_u8(struct reader list, uint8_t want)
{
    uint8_t v;

    while (rd_u8(&list, &v)) {
        if (v == want) {
            return true;
        }
    }
    return false;
}

/* What a ClientHello says, as far as the handshake here needs it. */
struct hello {
    struct reader session_id;
    struct reader suites;
    struct reader groups;
    struct reader sigalgs;
    struct reader key_shares;
    struct reader psk_modes;
    struct reader identities;
    struct reader binders;
    size_t binders_at; /* offset in the message of the binders vector */
    bool has_tls13;
    bool has_groups;
    bool has_sigalgs;
    bool has_shares;
    bool has_modes;
    bool has_psk;
};

/* Groups OpenSSL 3.0's server accepts by default (tls1_get_supported_groups). */
static bool is_server_group(uint16_t g)
{
    return g == 0x001d || g == 0x0017 || g == 0x001e || g == 0x0019 || g == 0x0018 ||
           (g >= 0x0100 && g <= 0x0104);
}

/*
 * OpenSSL takes the first key share (client order) in a group it supports,
 * after checking that every share is in the client's supported_groups. Only
 * an X25519 share chosen that way is handled here.
 */
static const uint8_t *pick_x25519(const struct hello *h)
{
    struct reader list = h->key_shares;
    const uint8_t *chosen = NULL;
    bool is_decided = false;

    while (list.n > 0) {
        uint16_t group;
        struct reader key;

        if (!rd_u16(&list, &group) || !rd_vec16(&list, &key) || key.n == 0 ||
            !list_has(h->groups, group)) {
            return NULL;
        }
        if (!is_decided && is_server_group(group)) {
            is_decided = true;
            chosen = group == GROUP_X25519 && key.n == X25519_KEY_LEN ? key.p : NULL;
        }
    }
    return chosen;
}

/* server_name as OpenSSL accepts it: one host_name of 1-255 bytes, no NUL. */
static bool is_server_name_ok(struct reader ext)
{
    struct reader list;
    struct reader name;
    uint8_t type;

    return rd_vec16(&ext, &list) && ext.n == 0 && rd_u8(&list, &type) && type == 0 &&
           rd_vec16(&list, &name) && list.n == 0 && name.n >= 1 && name.n <= 255 &&
           memchr(name.p, 0, name.n) == NULL;
}

/*
 * status_request as OpenSSL 3.0 reads it: any type but OCSP is ignored; an
 * OCSP request with responder IDs or extensions (which it decodes as DER)
 * goes to OpenSSL.
 */
static bool is_status_request_ok(struct reader ext)
{
    struct reader ids;
    struct reader exts;
    uint8_t type;

    if (!rd_u8(&ext, &type)) {
        return false;
    }
    return type != 1 || (rd_vec16(&ext, &ids) && ids.n == 0 && rd_vec16(&ext, &exts) &&
                         exts.n == 0 && ext.n == 0);
}

/* ALPN as OpenSSL checks it even without an ALPN callback: non-empty names, exactly filled. */
static bool is_alpn_ok(struct reader ext)
{
    struct reader list;

    if (!rd_vec16(&ext, &list) || ext.n != 0 || list.n < 2) {
        return false;
    }
    while (list.n > 0) {
        struct reader name;
        if (!rd_vec8(&list, &name) || name.n == 0) {
            return false;
        }
    }
    return true;
}

/* pre_shared_key: identities and binders, both non-empty and well formed. */
static bool read_psk(struct hello *h, struct reader ext, const uint8_t *msg)
{
    struct reader ids;
    struct reader binders;
    size_t count = 0;

    if (!rd_vec16(&ext, &ids) || ids.n == 0) {
        return false;
    }
    h->identities = ids;
    while (ids.n > 0) {
        struct reader one;
        struct reader age;
        if (!rd_vec16(&ids, &one) || one.n == 0 || !rd_bytes(&ids, 4, &age)) {
            return false;
        }
        count++;
    }
    h->binders_at = (size_t)(ext.p - msg);
    if (!rd_vec16(&ext, &binders) || ext.n != 0) {
        return false;
    }
    h->binders = binders;
    while (binders.n > 0) {
        struct reader one;
        if (!rd_vec8(&binders, &one) || one.n < 32 || count == 0) {
            return false;
        }
        count--;
    }
    return count == 0;
}

/*
 * One extension. false sends the ClientHello to OpenSSL: something it would
 * refuse with an alert, or something only it implements.
 */
static bool read_extension(struct hello *h, uint16_t type, struct reader ext, bool is_last,
                           const uint8_t *msg)
{
    struct reader v;

    switch (type) {
    case EXT_SERVER_NAME:
        return is_server_name_ok(ext);
    case EXT_SUPPORTED_GROUPS:
        h->has_groups = rd_vec16(&ext, &h->groups) && ext.n == 0 && is_u16_list(&h->groups);
        return h->has_groups;
    case EXT_SIGALGS:
        h->has_sigalgs = rd_vec16(&ext, &h->sigalgs) && ext.n == 0 && is_u16_list(&h->sigalgs);
        return h->has_sigalgs;
    case EXT_VERSIONS:
        if (!rd_vec8(&ext, &v) || ext.n != 0 || !is_u16_list(&v)) {
            return false;
        }
        h->has_tls13 = list_has(v, 0x0304);
        return true;
    case EXT_KEY_SHARE:
        h->has_shares = rd_vec16(&ext, &h->key_shares) && ext.n == 0;
        return h->has_shares;
    case EXT_PSK_MODES:
        h->has_modes = rd_vec8(&ext, &h->psk_modes) && ext.n == 0 && h->psk_modes.n > 0;
        return h->has_modes;
    case EXT_PSK:
        h->has_psk = is_last && read_psk(h, ext, msg);
        return h->has_psk;
    case EXT_STATUS_REQUEST:
        return is_status_request_ok(ext);
    case EXT_ALPN:
        return is_alpn_ok(ext);
    case EXT_POST_HS_AUTH:
        return ext.n == 0;
    case EXT_SIGALGS_CERT:
        return rd_vec16(&ext, &v) && ext.n == 0 && is_u16_list(&v);
    case EXT_MAX_FRAGMENT:
    case EXT_EARLY_DATA:
    case EXT_COOKIE:
    case EXT_CERT_AUTHORITIES:
    case EXT_USE_SRTP:      /* DTLS only: OpenSSL refuses it over TLS */
    case EXT_CRYPTOPRO_BUG: /* a ServerHello extension: refused in a ClientHello */
        return false;
    default:
        /*
         * Unknown to OpenSSL 3.0 (ignored by it), or one it reads only up to
         * TLS 1.2 (ec_point_formats, session_ticket, encrypt_then_mac,
         * extended_master_secret, renegotiation_info, srp, next_protocol,
         * signed_certificate_timestamp and padding it does not read at all).
         */
        return true;
    }
}

/* Each extension type at most once (OpenSSL refuses duplicates). */
static bool is_duplicate(uint16_t *seen, size_t *nseen, uint16_t type)
{
    for (size_t i = 0; i < *nseen; i++) {
        if (seen[i] == type) {
            return true;
        }
    }
    seen[(*nseen)++] = type;
    return false;
}

static bool read_extensions(struct hello *h, struct reader exts, const uint8_t *msg)
{
    uint16_t seen[64];
    size_t nseen = 0;

    while (exts.n > 0) {
        uint16_t type;
        struct reader ext;

        if (!rd_u16(&exts, &type) || !rd_vec16(&exts, &ext) || nseen == 64 ||
            is_duplicate(seen, &nseen, type) || !read_extension(h, type, ext, exts.n == 0, msg)) {
            return false;
        }
    }
    return true;
}

/* msg: the whole ClientHello message, header included. */
static bool read_hello(struct hello *h, const uint8_t *msg, size_t len)
{
    struct reader r = {msg + 4, len - 4};
    struct reader random;
    struct reader compression;
    struct reader exts;
    uint16_t version;

    memset(h, 0, sizeof(*h));
    if (!rd_u16(&r, &version) || version != 0x0303 || !rd_bytes(&r, 32, &random) ||
        !rd_vec8(&r, &h->session_id) || h->session_id.n > 32 || !rd_vec16(&r, &h->suites) ||
        !is_u16_list(&h->suites) || !rd_vec8(&r, &compression) || compression.n != 1 ||
        compression.p[0] != 0 || !rd_vec16(&r, &exts) || r.n != 0 ||
        !read_extensions(h, exts, msg)) {
        return false;
    }
    return h->has_tls13 && h->has_groups && h->has_sigalgs && h->has_shares &&
           (!h->has_psk || h->has_modes);
}

ssize_t tls_hs_first_record(const uint8_t *buf, size_t len)
{
    size_t body;

    if (len < TLS_RECORD_HEADER) {
        return TLS_HS_MORE;
    }
    body = (size_t)buf[3] << 8 | buf[4];
    if (buf[0] != TLS_CT_HANDSHAKE || buf[1] != 3 || body < 4 || body > TLS_RECORD_MAX_PLAIN) {
        return TLS_HS_FALLBACK;
    }
    if (len < TLS_RECORD_HEADER + body) {
        return TLS_HS_MORE;
    }
    return (ssize_t)(TLS_RECORD_HEADER + body);
}

/* ------------------------------------------------------------------ choices */

/* The first suite in the client's order that the server enables (OpenSSL's default). */
static unsigned pick_suite(const struct tls_hs_identity *id, struct reader list)
{
    uint16_t v;

    while (rd_u16(&list, &v)) {
        for (size_t i = 0; i < id->nsuites; i++) {
            if (id->suites[i] == v) {
                return v;
            }
        }
    }
    return 0;
}

static bool scheme_fits(enum key_kind kind, uint16_t scheme)
{
    switch (kind) {
    case KEY_EC_P256:
        return scheme == 0x0403;
    case KEY_EC_P384:
        return scheme == 0x0503;
    case KEY_EC_P521:
        return scheme == 0x0603;
    case KEY_RSA: /* rsa_pss_rsae_*: PKCS#1 v1.5 is not allowed in TLS 1.3 */
        return scheme >= 0x0804 && scheme <= 0x0806;
    case KEY_ED25519:
        return scheme == 0x0807;
    case KEY_ED448:
        return scheme == 0x0808;
    }
    return false;
}

/* The first scheme in the client's order our key signs with, 0 when none. */
static uint16_t pick_scheme(const struct tls_hs_identity *id, struct reader list)
{
    uint16_t v;

    while (rd_u16(&list, &v)) {
        if (scheme_fits(id->kind, v)) {
            return v;
        }
    }
    return 0;
}

static const char *scheme_digest(uint16_t scheme)
{
    switch (scheme & 0xff00) {
    case 0x0400:
        return "SHA256";
    case 0x0500:
        return "SHA384";
    case 0x0600:
        return "SHA512";
    default:
        break;
    }
    switch (scheme) {
    case 0x0804:
        return "SHA256";
    case 0x0805:
        return "SHA384";
    case 0x0806:
        return "SHA512";
    default:
        return NULL; /* EdDSA hashes internally */
    }
}

/* ------------------------------------------------------------------ key schedule */

static bool transcript_add(struct tls_hs *hs, const uint8_t *msg, size_t len)
{
    return EVP_DigestUpdate(hs->transcript, msg, len) == 1;
}

/* Hash of the messages so far, the transcript itself going on. */
static bool transcript_hash(struct tls_hs *hs, uint8_t *out)
{
    return EVP_MD_CTX_copy_ex(hs->snapshot, hs->transcript) == 1 &&
           EVP_DigestFinal_ex(hs->snapshot, out, NULL) == 1;
}

static bool digest_of(const struct tls_hs *hs, const uint8_t *data, size_t len, uint8_t *out)
{
    return EVP_Digest(data, len, out, NULL, hs->hash_i == 1 ? sha384 : sha256, NULL) == 1;
}

/* HKDF-Extract(salt, ikm); a missing salt or ikm is hash-length zeros. */
static bool extract(const struct tls_hs *hs, const uint8_t *salt, const uint8_t *ikm,
                    size_t ikm_len, uint8_t *out)
{
    static const uint8_t zeros[HASH_MAX];

    return tls_record_hmac(hs->suite, salt != NULL ? salt : zeros, hs->hash_len,
                           ikm != NULL ? ikm : zeros, ikm != NULL ? ikm_len : hs->hash_len, out);
}

static bool derive_secret(const struct tls_hs *hs, const uint8_t *secret, const char *label,
                          const uint8_t *hash, uint8_t *out)
{
    return tls_record_expand_label(hs->suite, secret, label, hash, hs->hash_len, out, hs->hash_len);
}

/* Derive-Secret(secret, "derived", ""): the salt of the next stage. */
static bool derive_next(const struct tls_hs *hs, const uint8_t *secret, uint8_t *out)
{
    return derive_secret(hs, secret, "derived", empty_hash[hs->hash_i], out);
}

/* HMAC(finished_key(base), hash): a Finished or a binder (section 4.4.4). */
static bool finished_mac(const struct tls_hs *hs, const uint8_t *base, const uint8_t *hash,
                         uint8_t *out)
{
    uint8_t key[HASH_MAX];
    bool is_ok = tls_record_expand_label(hs->suite, base, "finished", NULL, 0, key, hs->hash_len) &&
                 tls_record_hmac(hs->suite, key, hs->hash_len, hash, hs->hash_len, out);

    OPENSSL_cleanse(key, sizeof(key));
    return is_ok;
}

/* ------------------------------------------------------------------ X25519 and signing */

static bool key_pool_fill(void)
{
    uint8_t *pubs[KEY_POOL];
    const uint8_t *privs[KEY_POOL];

    if (RAND_priv_bytes(&key_pool.priv[0][0], sizeof(key_pool.priv)) != 1) {
        return false;
    }
    for (unsigned i = 0; i < KEY_POOL; i++) {
        pubs[i] = key_pool.pub[i];
        privs[i] = key_pool.priv[i];
    }
    x25519_public_batch(pubs, privs, KEY_POOL);
    key_pool.left = KEY_POOL;
    return true;
}

/*
 * Our key share (pub) and the shared secret with the client's share, by
 * x25519.c: OpenSSL's X25519 key generation and its provider calls were
 * about 40 % of a full handshake's user CPU.
 */
static bool x25519_exchange(const uint8_t *peer_pub, uint8_t *pub, uint8_t *shared)
{
    unsigned i;
    bool is_ok;

    if (key_pool.left == 0 && !key_pool_fill()) {
        return false;
    }
    i = --key_pool.left;
    memcpy(pub, key_pool.pub[i], X25519_KEY_LEN);
    is_ok = x25519_shared(shared, key_pool.priv[i], peer_pub);
    OPENSSL_cleanse(key_pool.priv[i], X25519_KEY_LEN);
    return is_ok;
}

/* A signing context for the identity's key and scheme. */
static bool signer_init(EVP_MD_CTX *mctx, const struct tls_hs_identity *id, uint16_t scheme)
{
    EVP_PKEY_CTX *pctx = NULL;

    if (EVP_DigestSignInit_ex(mctx, &pctx, scheme_digest(scheme), NULL, NULL, id->key, NULL) != 1) {
        return false;
    }
    return id->kind != KEY_RSA ||
           (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
}

/* A context ready to sign: a copy of this thread's template, or a fresh one. */
static EVP_MD_CTX *signer_get(const struct tls_hs_identity *id, uint16_t scheme)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();

    if (mctx == NULL) {
        return NULL;
    }
    if (signer.ctx == NULL || signer.gen != id->gen || signer.scheme != scheme) {
        EVP_MD_CTX_free(signer.ctx);
        signer.ctx = EVP_MD_CTX_new();
        signer.gen = id->gen;
        signer.scheme = scheme;
        if (signer.ctx != NULL && !signer_init(signer.ctx, id, scheme)) {
            EVP_MD_CTX_free(signer.ctx);
            signer.ctx = NULL;
        }
    }
    /* EdDSA contexts may not copy; they are set up each time instead. */
    if (signer.ctx != NULL && EVP_MD_CTX_copy_ex(mctx, signer.ctx) == 1) {
        return mctx;
    }
    ERR_clear_error();
    if (!signer_init(mctx, id, scheme)) {
        EVP_MD_CTX_free(mctx);
        return NULL;
    }
    return mctx;
}

/* The CertificateVerify signature over the transcript hash (section 4.4.3). */
static size_t sign_transcript(const struct tls_hs *hs, uint16_t scheme, const uint8_t *hash,
                              uint8_t *sig, size_t cap)
{
    static const char label[] = "TLS 1.3, server CertificateVerify";
    uint8_t tbs[64 + sizeof(label) + HASH_MAX];
    EVP_MD_CTX *mctx = signer_get(hs->id, scheme);
    size_t len = cap;
    bool is_ok;

    memset(tbs, 0x20, 64);
    memcpy(tbs + 64, label, sizeof(label)); /* with its terminating 0 separator */
    memcpy(tbs + 64 + sizeof(label), hash, hs->hash_len);
    is_ok = mctx != NULL &&
            EVP_DigestSign(mctx, sig, &len, tbs, 64 + sizeof(label) + hs->hash_len) == 1;
    EVP_MD_CTX_free(mctx);
    return is_ok ? len : 0;
}

/* ------------------------------------------------------------------ tickets */

/*
 * A ticket: magic (names the identity), nonce, then under AES-256-GCM the
 * suite, the listener context, the time it was issued and the resumption
 * PSK. Only this identity can read it; a reload makes a new identity, so
 * nobody resumes a session made with the previous certificate.
 */
static size_t ticket_seal(const struct tls_hs *hs, const uint8_t *psk, uint8_t *out)
{
    uint8_t plain[TICKET_PLAIN];
    uint64_t now = (uint64_t)time(NULL);
    size_t n = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    int fin = 0;
    bool is_ok;

    plain[n++] = (uint8_t)(hs->suite >> 8);
    plain[n++] = (uint8_t)hs->suite;
    plain[n++] = hs->context;
    for (int i = 7; i >= 0; i--) {
        plain[n++] = (uint8_t)(now >> (8 * i));
    }
    memcpy(plain + n, psk, hs->hash_len);
    n += hs->hash_len;
    memcpy(out, hs->id->ticket_magic, TICKET_MAGIC);
    memcpy(out + TICKET_MAGIC, hs->ticket_rand + 4, TICKET_NONCE);
    is_ok =
        c != NULL &&
        EVP_EncryptInit_ex(c, ticket_cipher, NULL, hs->id->ticket_key, out + TICKET_MAGIC) == 1 &&
        EVP_EncryptUpdate(c, NULL, &len, out, TICKET_MAGIC) == 1 &&
        EVP_EncryptUpdate(c, out + TICKET_MAGIC + TICKET_NONCE, &len, plain, (int)n) == 1 &&
        EVP_EncryptFinal_ex(c, out + TICKET_MAGIC + TICKET_NONCE + len, &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TICKET_TAG,
                            out + TICKET_MAGIC + TICKET_NONCE + n) == 1;
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(plain, sizeof(plain));
    return is_ok ? TICKET_MAGIC + TICKET_NONCE + n + TICKET_TAG : 0;
}

/*
 * The PSK in one of our tickets, if it opens, is for this listener context
 * and suite's hash, and has not expired: its length, else 0.
 */
static size_t ticket_open(const struct tls_hs *hs, struct reader t, uint8_t *psk)
{
    uint8_t plain[TICKET_PLAIN];
    size_t clen;
    EVP_CIPHER_CTX *c;
    int len = 0;
    size_t got = 0;
    uint64_t issued = 0;
    uint64_t now = (uint64_t)time(NULL);
    unsigned suite;

    if (t.n < TICKET_MAGIC + TICKET_NONCE + 11 + TICKET_TAG || t.n > TICKET_MAX) {
        return 0;
    }
    clen = t.n - TICKET_MAGIC - TICKET_NONCE - TICKET_TAG;
    c = EVP_CIPHER_CTX_new();
    if (c != NULL &&
        EVP_DecryptInit_ex(c, ticket_cipher, NULL, hs->id->ticket_key, t.p + TICKET_MAGIC) == 1 &&
        EVP_DecryptUpdate(c, NULL, &len, t.p, TICKET_MAGIC) == 1 &&
        EVP_DecryptUpdate(c, plain, &len, t.p + TICKET_MAGIC + TICKET_NONCE, (int)clen) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TICKET_TAG,
                            (void *)(t.p + t.n - TICKET_TAG)) == 1 &&
        EVP_DecryptFinal_ex(c, plain + len, &len) == 1) {
        got = clen;
    }
    EVP_CIPHER_CTX_free(c);
    if (got == 0) {
        return 0;
    }
    suite = (unsigned)plain[0] << 8 | plain[1];
    for (int i = 0; i < 8; i++) {
        issued = issued << 8 | plain[3 + i];
    }
    got = tls_record_hash_len(suite) == hs->hash_len && got == 11 + hs->hash_len &&
                  plain[2] == hs->context && issued <= now + 60 && now - issued < hs->id->lifetime
              ? hs->hash_len
              : 0;
    if (got > 0) {
        memcpy(psk, plain + 11, got);
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return got;
}

/*
 * Ours when the magic is this identity's. A ticket of exactly our size for
 * one of the two hashes under another magic is one of ours from before a
 * reload (OpenSSL's are longer: a 16-byte key name, a 16-byte IV, the
 * encrypted session and a 32-byte MAC): it cannot be used, but it is no
 * reason to hand the connection to OpenSSL.
 */
enum ticket_kind { TICKET_OURS, TICKET_STALE, TICKET_FOREIGN };

static enum ticket_kind ticket_kind_of(const struct tls_hs *hs, struct reader t)
{
    size_t fixed = TICKET_MAGIC + TICKET_NONCE + 11 + TICKET_TAG;

    if (t.n >= TICKET_MAGIC && memcmp(t.p, hs->id->ticket_magic, TICKET_MAGIC) == 0) {
        return TICKET_OURS;
    }
    return t.n == fixed + 32 || t.n == fixed + 48 ? TICKET_STALE : TICKET_FOREIGN;
}

/* ------------------------------------------------------------------ writing */

struct writer {
    uint8_t *p;
    size_t n;
};

static void wr_u8(struct writer *w, uint8_t v)
{
    w->p[w->n++] = v;
}

static void wr_u16(struct writer *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void wr_u24(struct writer *w, size_t v)
{
    wr_u8(w, (uint8_t)(v >> 16));
    wr_u16(w, (uint16_t)v);
}

static void wr_bytes(struct writer *w, const void *src, size_t len)
{
    memcpy(w->p + w->n, src, len);
    w->n += len;
}

/* Fill in a length written as 0 at `at` once the bytes after it are there. */
static void wr_patch(struct writer *w, size_t at, size_t width)
{
    size_t len = w->n - at - width;

    for (size_t i = 0; i < width; i++) {
        w->p[at + i] = (uint8_t)(len >> (8 * (width - 1 - i)));
    }
}

/* ------------------------------------------------------------------ the handshake */

struct psk_choice {
    bool is_chosen;
    uint16_t index;
    uint8_t psk[HASH_MAX];
};

/*
 * Resumption: the first identity that is one of our live tickets. A binder
 * that does not verify is fatal (section 4.2.11); an identity that is not
 * ours may be OpenSSL's, so then OpenSSL decides. 1 when decided, 0 for
 * fallback, -1 for the binder failure.
 */
static int choose_psk(struct tls_hs *hs, const struct hello *h, const uint8_t *msg,
                      struct psk_choice *pc)
{
    struct reader ids = h->identities;
    struct reader binders = h->binders;
    bool has_foreign = false;

    memset(pc, 0, sizeof(*pc));
    if (!h->has_psk || !list_has_u8(h->psk_modes, 1)) {
        return 1; /* psk_ke alone: OpenSSL ignores the PSK too */
    }
    for (uint16_t i = 0; ids.n > 0; i++) {
        struct reader one;
        struct reader age;
        struct reader binder;

        rd_vec16(&ids, &one);
        rd_bytes(&ids, 4, &age);
        rd_vec8(&binders, &binder);
        switch (ticket_kind_of(hs, one)) {
        case TICKET_FOREIGN:
            has_foreign = true;
            continue;
        case TICKET_STALE:
            continue;
        default:
            break;
        }
        if (ticket_open(hs, one, pc->psk) == 0) {
            continue;
        }
        {
            uint8_t early[HASH_MAX];
            uint8_t binder_key[HASH_MAX];
            uint8_t hash[HASH_MAX];
            uint8_t want[HASH_MAX];
            bool is_ok =
                extract(hs, NULL, pc->psk, hs->hash_len, early) &&
                derive_secret(hs, early, "res binder", empty_hash[hs->hash_i], binder_key) &&
                digest_of(hs, msg, h->binders_at, hash) && finished_mac(hs, binder_key, hash, want);
            bool is_match = is_ok && binder.n == hs->hash_len &&
                            CRYPTO_memcmp(want, binder.p, hs->hash_len) == 0;

            OPENSSL_cleanse(early, sizeof(early));
            OPENSSL_cleanse(binder_key, sizeof(binder_key));
            if (!is_match) {
                OPENSSL_cleanse(pc->psk, sizeof(pc->psk));
                return -1;
            }
        }
        pc->is_chosen = true;
        pc->index = i;
        return 1;
    }
    return has_foreign ? 0 : 1;
}

/* ServerHello (section 4.1.3), in a handshake record, extensions in OpenSSL's order. */
static void write_server_hello(struct writer *w, const struct tls_hs *hs, const struct hello *h,
                               const uint8_t *random, const uint8_t *pub,
                               const struct psk_choice *pc)
{
    size_t rec_at;
    size_t msg_at;
    size_t ext_at;

    wr_u8(w, TLS_CT_HANDSHAKE);
    wr_u16(w, 0x0303);
    rec_at = w->n;
    wr_u16(w, 0);
    msg_at = w->n;
    wr_u8(w, MT_SERVER_HELLO);
    wr_u24(w, 0);
    wr_u16(w, 0x0303);
    wr_bytes(w, random, 32);
    wr_u8(w, (uint8_t)h->session_id.n); /* echoed: middlebox compatibility mode */
    wr_bytes(w, h->session_id.p, h->session_id.n);
    wr_u16(w, (uint16_t)hs->suite);
    wr_u8(w, 0);
    ext_at = w->n;
    wr_u16(w, 0);
    wr_u16(w, EXT_VERSIONS);
    wr_u16(w, 2);
    wr_u16(w, 0x0304);
    wr_u16(w, EXT_KEY_SHARE);
    wr_u16(w, 4 + X25519_KEY_LEN);
    wr_u16(w, GROUP_X25519);
    wr_u16(w, X25519_KEY_LEN);
    wr_bytes(w, pub, X25519_KEY_LEN);
    if (pc->is_chosen) {
        wr_u16(w, EXT_PSK);
        wr_u16(w, 2);
        wr_u16(w, pc->index);
    }
    wr_patch(w, ext_at, 2);
    wr_patch(w, msg_at + 1, 3);
    wr_patch(w, rec_at, 2);
}

/*
 * EncryptedExtensions (nothing to say: no ALPN, SNI not acknowledged, as
 * OpenSSL without callbacks), then for a full handshake Certificate and
 * CertificateVerify, then Finished; each added to the transcript.
 */
static bool write_encrypted(struct writer *w, struct tls_hs *hs, uint16_t scheme,
                            const uint8_t *s_hs)
{
    static const uint8_t ee[] = {MT_ENC_EXT, 0, 0, 2, 0, 0};
    uint8_t hash[HASH_MAX];
    uint8_t mac[HASH_MAX];
    size_t at;

    wr_bytes(w, ee, sizeof(ee));
    if (!hs->is_resumed) {
        size_t sig_len;

        wr_bytes(w, hs->id->cert_msg, hs->id->cert_len);
        if (!transcript_add(hs, w->p, w->n) || !transcript_hash(hs, hash)) {
            return false;
        }
        at = w->n;
        wr_u8(w, MT_CERT_VERIFY);
        wr_u24(w, 0);
        wr_u16(w, scheme);
        sig_len = sign_transcript(hs, scheme, hash, w->p + w->n + 2, 1024);
        if (sig_len == 0) {
            return false;
        }
        wr_u16(w, (uint16_t)sig_len);
        w->n += sig_len;
        wr_patch(w, at + 1, 3);
        if (!transcript_add(hs, w->p + at, w->n - at)) {
            return false;
        }
    } else if (!transcript_add(hs, w->p, w->n)) {
        return false;
    }
    if (!transcript_hash(hs, hash) || !finished_mac(hs, s_hs, hash, mac)) {
        return false;
    }
    at = w->n;
    wr_u8(w, MT_FINISHED);
    wr_u24(w, hs->hash_len);
    wr_bytes(w, mac, hs->hash_len);
    return transcript_add(hs, w->p + at, w->n - at);
}

/* Seal plain as handshake records of at most 16 KB under rl; bytes written. */
static size_t seal_records(struct tls_record *rl, uint8_t type, const uint8_t *plain, size_t len,
                           uint8_t *out)
{
    struct iovec iov = {(void *)plain, len};
    size_t done = 0;
    size_t n = 0;

    while (done < len) {
        size_t chunk = len - done < TLS_RECORD_MAX_PLAIN ? len - done : TLS_RECORD_MAX_PLAIN;
        size_t w = tls_record_seal(rl, type, &iov, 1, done, chunk, out + n);
        if (w == 0) {
            return 0;
        }
        n += w;
        done += chunk;
    }
    return n;
}

/* The secrets of one handshake, wiped together. */
struct schedule {
    uint8_t shared[X25519_KEY_LEN];
    uint8_t early[HASH_MAX];
    uint8_t salt[HASH_MAX];
    uint8_t handshake[HASH_MAX];
    uint8_t c_hs[HASH_MAX];
    uint8_t s_hs[HASH_MAX];
    uint8_t hash[HASH_MAX];
};

/* Handshake secrets from the transcript through ServerHello (section 7.1). */
static bool schedule_handshake(struct tls_hs *hs, struct schedule *k, const uint8_t *psk)
{
    struct tls_record_key hsk; /* the handshake secret, keyed once for its three labels */
    bool is_ok;

    if (psk != NULL) {
        is_ok = extract(hs, NULL, psk, hs->hash_len, k->early) &&
                derive_next(hs, k->early, k->salt) &&
                extract(hs, k->salt, k->shared, X25519_KEY_LEN, k->handshake);
    } else {
        is_ok = tls_record_key_hmac(&no_psk_salt_key[hs->hash_i], k->shared, X25519_KEY_LEN,
                                    k->handshake);
    }
    is_ok =
        is_ok && transcript_hash(hs, k->hash) &&
        tls_record_key_init(&hsk, hs->suite, k->handshake, hs->hash_len) &&
        tls_record_key_expand(&hsk, "c hs traffic", k->hash, hs->hash_len, k->c_hs, hs->hash_len) &&
        tls_record_key_expand(&hsk, "s hs traffic", k->hash, hs->hash_len, k->s_hs, hs->hash_len) &&
        tls_record_key_expand(&hsk, "derived", empty_hash[hs->hash_i], hs->hash_len, k->salt,
                              hs->hash_len);
    tls_record_key_wipe(&hsk);
    return is_ok && extract(hs, k->salt, NULL, 0, hs->master);
}

/* Application secrets and the client's expected Finished, from the transcript so far. */
static bool schedule_application(struct tls_hs *hs, struct schedule *k)
{
    struct tls_record_key mk; /* the master secret, keyed once for both labels */
    bool is_ok =
        transcript_hash(hs, k->hash) &&
        tls_record_key_init(&mk, hs->suite, hs->master, hs->hash_len) &&
        tls_record_key_expand(&mk, "c ap traffic", k->hash, hs->hash_len, hs->c_ap, hs->hash_len) &&
        tls_record_key_expand(&mk, "s ap traffic", k->hash, hs->hash_len, hs->s_ap, hs->hash_len);

    tls_record_key_wipe(&mk);
    return is_ok && finished_mac(hs, k->c_hs, k->hash, hs->client_fin);
}

static bool write_flight(struct tls_hs *hs, const struct hello *h, const uint8_t *peer,
                         uint16_t scheme, const struct psk_choice *pc, uint8_t *out,
                         size_t *out_len)
{
    static const uint8_t ccs[] = {TLS_CT_CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1};
    struct schedule k;
    uint8_t random[32 + sizeof(hs->ticket_rand)];
    uint8_t pub[X25519_KEY_LEN];
    struct writer w = {out, 0};
    struct writer plain = {NULL, 0};
    size_t sealed = 0;
    bool is_ok;

    /* One draw for our random and the ticket's: each RAND call costs a getpid() too. */
    is_ok = RAND_bytes(random, sizeof(random)) == 1 && x25519_exchange(peer, pub, k.shared);
    memcpy(hs->ticket_rand, random + 32, sizeof(hs->ticket_rand));
    if (is_ok) {
        write_server_hello(&w, hs, h, random, pub, pc);
        wr_bytes(&w, ccs, sizeof(ccs));
        plain.p = OPENSSL_malloc(tls_hs_flight_max(hs->id));
        is_ok =
            plain.p != NULL &&
            transcript_add(hs, out + TLS_RECORD_HEADER, w.n - sizeof(ccs) - TLS_RECORD_HEADER) &&
            schedule_handshake(hs, &k, pc->is_chosen ? pc->psk : NULL) &&
            write_encrypted(&plain, hs, scheme, k.s_hs) && schedule_application(hs, &k);
    }
    if (is_ok) {
        hs->rl = tls_record_create(hs->suite, k.c_hs, k.s_hs, hs->hash_len, 0, 0);
        sealed = hs->rl != NULL
                     ? seal_records(hs->rl, TLS_CT_HANDSHAKE, plain.p, plain.n, out + w.n)
                     : 0;
        /* From now on we read the client's handshake key and write our traffic key. */
        is_ok = sealed > 0 && tls_record_set_tx(hs->rl, hs->s_ap);
    }
    if (plain.p != NULL) {
        OPENSSL_clear_free(plain.p, plain.n);
    }
    OPENSSL_cleanse(&k, sizeof(k));
    *out_len = w.n + sealed;
    return is_ok;
}

/* A plaintext fatal alert record (before any key is in place). */
static size_t plain_alert(uint8_t *out, uint8_t desc)
{
    static const uint8_t head[] = {TLS_CT_ALERT, 3, 3, 0, 2, 2};

    memcpy(out, head, sizeof(head));
    out[sizeof(head)] = desc;
    return sizeof(head) + 1;
}

int tls_hs_start(struct tls_hs_identity *id, uint8_t context, const uint8_t *rec, size_t len,
                 struct tls_hs **out_hs, uint8_t *out, size_t *out_len, const char **reason)
{
    const uint8_t *msg = rec + TLS_RECORD_HEADER;
    size_t mlen = len - TLS_RECORD_HEADER;
    struct psk_choice pc;
    struct hello h;
    struct tls_hs *hs;
    const uint8_t *peer;
    uint16_t scheme;
    int r;

    *out_len = 0;
    if (mlen < 4 || msg[0] != MT_CLIENT_HELLO ||
        ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]) != mlen - 4 ||
        !read_hello(&h, msg, mlen)) {
        return TLS_HS_FALLBACK;
    }
    peer = pick_x25519(&h);
    scheme = pick_scheme(id, h.sigalgs);
    hs = OPENSSL_zalloc(sizeof(*hs));
    if (peer == NULL || hs == NULL) {
        OPENSSL_free(hs);
        return TLS_HS_FALLBACK;
    }
    hs->id = id;
    tls_hs_identity_hold(id);
    hs->context = context;
    hs->suite = pick_suite(id, h.suites);
    hs->hash_len = tls_record_hash_len(hs->suite);
    hs->hash_i = hs->hash_len == 48;
    hs->transcript = EVP_MD_CTX_new();
    hs->snapshot = EVP_MD_CTX_new();
    if (hs->hash_len == 0 || hs->transcript == NULL || hs->snapshot == NULL ||
        EVP_DigestInit_ex(hs->transcript, hs->hash_i == 1 ? sha384 : sha256, NULL) != 1 ||
        !transcript_add(hs, msg, mlen)) {
        tls_hs_free(&hs);
        return TLS_HS_FALLBACK;
    }
    r = choose_psk(hs, &h, msg, &pc);
    if (r < 0) {
        tls_hs_free(&hs);
        *out_len = plain_alert(out, ALERT_DECRYPT_ERROR);
        *reason = "binder does not verify";
        return TLS_HS_FAIL;
    }
    hs->is_resumed = pc.is_chosen;
    if (r == 0 || (!pc.is_chosen && scheme == 0) ||
        !write_flight(hs, &h, peer, scheme, &pc, out, out_len)) {
        OPENSSL_cleanse(&pc, sizeof(pc));
        tls_hs_free(&hs);
        *out_len = 0;
        return TLS_HS_FALLBACK;
    }
    OPENSSL_cleanse(&pc, sizeof(pc));
    *out_hs = hs;
    return TLS_HS_DONE;
}

/* Fatal alert under our traffic key (the client may already read with it). */
static int fail_sealed(struct tls_hs *hs, uint8_t desc, const char *why, uint8_t *out,
                       size_t *out_len, const char **reason)
{
    uint8_t body[2] = {2, desc};

    *out_len = seal_records(hs->rl, TLS_CT_ALERT, body, sizeof(body), out);
    *reason = why;
    return TLS_HS_FAIL;
}

/* NewSessionTicket (section 4.6.1) for the resumption secret, sealed under rl. */
static size_t write_ticket(struct tls_hs *hs, struct tls_record *rl, const uint8_t *res_master,
                           uint8_t *out)
{
    static const uint8_t nonce[8]; /* one ticket per connection: any fixed value is unique */
    uint8_t psk[HASH_MAX];
    uint8_t ticket[TICKET_MAX];
    uint8_t msg[32 + TICKET_MAX];
    struct writer w = {msg, 0};
    size_t tlen;
    bool is_ok = tls_record_expand_label(hs->suite, res_master, "resumption", nonce, sizeof(nonce),
                                         psk, hs->hash_len);

    tlen = is_ok ? ticket_seal(hs, psk, ticket) : 0;
    OPENSSL_cleanse(psk, sizeof(psk));
    if (tlen == 0) {
        return 0;
    }
    wr_u8(&w, MT_NEW_TICKET);
    wr_u24(&w, 4 + 4 + 1 + sizeof(nonce) + 2 + tlen + 2);
    wr_u16(&w, (uint16_t)(hs->id->lifetime >> 16));
    wr_u16(&w, (uint16_t)hs->id->lifetime);
    wr_bytes(&w, hs->ticket_rand, 4); /* ticket_age_add */
    wr_u8(&w, sizeof(nonce));
    wr_bytes(&w, nonce, sizeof(nonce));
    wr_u16(&w, (uint16_t)tlen);
    wr_bytes(&w, ticket, tlen);
    wr_u16(&w, 0); /* no extensions: no early data */
    return seal_records(rl, TLS_CT_HANDSHAKE, msg, w.n, out);
}

/* The client's Finished checked: switch to the traffic keys and issue a ticket. */
static int finish(struct tls_hs *hs, const uint8_t *fin, size_t len, uint8_t *out, size_t *out_len,
                  const char **reason)
{
    uint8_t hash[HASH_MAX];
    uint8_t res_master[HASH_MAX];

    if (!transcript_add(hs, fin, len) || !transcript_hash(hs, hash) ||
        !derive_secret(hs, hs->master, "res master", hash, res_master) ||
        !tls_record_set_rx(hs->rl, hs->c_ap)) {
        OPENSSL_cleanse(res_master, sizeof(res_master));
        return fail_sealed(hs, 80, "key schedule failed", out, out_len, reason);
    }
    /* A ticket that cannot be made only costs the client a full handshake next time. */
    *out_len = write_ticket(hs, hs->rl, res_master, out);
    OPENSSL_cleanse(res_master, sizeof(res_master));
    return TLS_HS_DONE;
}

/* One record under the client's handshake key: its Finished, alone. */
static int open_handshake_record(struct tls_hs *hs, uint8_t *rec, size_t wire, uint8_t *out,
                                 size_t *out_len, const char **reason)
{
    uint8_t type = 0;
    uint8_t *body = rec + TLS_RECORD_HEADER;
    ssize_t n = tls_record_open(hs->rl, rec, wire, body, &type);

    if (n == TLS_RECORD_BAD_MAC || n == TLS_RECORD_NO_TYPE) {
        return fail_sealed(hs, ALERT_BAD_RECORD_MAC, "decryption failed or bad record mac", out,
                           out_len, reason);
    }
    if (n < 0) {
        return fail_sealed(hs, ALERT_UNEXPECTED_MESSAGE, "unexpected record", out, out_len, reason);
    }
    if (type == TLS_CT_ALERT) {
        *reason = n == 2 && body[1] == 0 ? "connection closed by peer" : "peer sent an alert";
        return TLS_HS_FAIL;
    }
    if (type != TLS_CT_HANDSHAKE || (size_t)n != 4 + hs->hash_len || body[0] != MT_FINISHED ||
        body[1] != 0 || body[2] != 0 || body[3] != hs->hash_len) {
        return fail_sealed(hs, ALERT_UNEXPECTED_MESSAGE, "unexpected message", out, out_len,
                           reason);
    }
    if (CRYPTO_memcmp(body + 4, hs->client_fin, hs->hash_len) != 0) {
        return fail_sealed(hs, ALERT_DECRYPT_ERROR, "digest check failed", out, out_len, reason);
    }
    return finish(hs, body, (size_t)n, out, out_len, reason);
}

int tls_hs_continue(struct tls_hs *hs, uint8_t *buf, size_t len, size_t *used, uint8_t *out,
                    size_t *out_len, const char **reason)
{
    *used = 0;
    *out_len = 0;
    while (len - *used >= TLS_RECORD_HEADER) {
        uint8_t *rec = buf + *used;
        size_t body = (size_t)rec[3] << 8 | rec[4];
        size_t wire = TLS_RECORD_HEADER + body;

        /*
         * As OpenSSL during a TLS 1.3 handshake: a record version other than
         * 3.3 is refused from its header, so junk is not waited on for the
         * length its first bytes happen to claim.
         */
        if (rec[1] != 3 || rec[2] != 3) {
            return fail_sealed(hs, ALERT_DECODE_ERROR, "wrong version number", out, out_len,
                               reason);
        }
        if (rec[0] == TLS_CT_APPLICATION_DATA) {
            ssize_t framed = tls_record_frame(rec, len - *used);
            if (framed == TLS_RECORD_INCOMPLETE) {
                return TLS_HS_MORE;
            }
            if (framed < 0) {
                return fail_sealed(hs, 22, "record overflow", out, out_len, reason);
            }
            *used += wire;
            return open_handshake_record(hs, rec, wire, out, out_len, reason);
        }
        if (wire > len - *used) {
            if (body > TLS_RECORD_MAX_PLAIN) {
                break;
            }
            return TLS_HS_MORE;
        }
        if (rec[0] == TLS_CT_ALERT && body == 2) {
            *reason = rec[6] == 0 ? "connection closed by peer" : "peer sent an alert";
            *used += wire;
            return TLS_HS_FAIL;
        }
        /* A middlebox-compatibility ChangeCipherSpec (section D.4) is skipped. */
        if (rec[0] != TLS_CT_CHANGE_CIPHER_SPEC || body != 1 || rec[5] != 1 ||
            ++hs->idle > IDLE_MAX) {
            break;
        }
        *used += wire;
    }
    if (len - *used < TLS_RECORD_HEADER) {
        return TLS_HS_MORE;
    }
    return fail_sealed(hs, ALERT_UNEXPECTED_MESSAGE, "unexpected message", out, out_len, reason);
}

struct tls_record *tls_hs_take_record(struct tls_hs *hs)
{
    struct tls_record *rl = hs->rl;

    hs->rl = NULL;
    return rl;
}

unsigned tls_hs_suite(const struct tls_hs *hs)
{
    return hs->suite;
}

bool tls_hs_is_resumed(const struct tls_hs *hs)
{
    return hs->is_resumed;
}

void tls_hs_free(struct tls_hs **hs)
{
    struct tls_hs *p = *hs;

    *hs = NULL;
    if (p == NULL) {
        return;
    }
    tls_record_destroy(&p->rl);
    EVP_MD_CTX_free(p->transcript);
    EVP_MD_CTX_free(p->snapshot);
    tls_hs_identity_release(&p->id);
    OPENSSL_clear_free(p, sizeof(*p));
}

#endif /* TLS */
