/*
 * test_tls_hs.c - unit tests for tls_hs.c, the TLS 1.3 server handshake
 * done without OpenSSL's state machine, against a plain OpenSSL client over
 * memory BIOs (no sockets, one thread, every step deterministic).
 *
 * What is checked: full handshakes with every suite and every key type the
 * engine signs with (the client verifies no chain but does check the
 * CertificateVerify signature with the certificate's key); resumption with
 * our tickets and their bindings (listener context, identity, hash);
 * every kind of ClientHello that must go to OpenSSL (TLS_HS_FALLBACK with
 * nothing written); the first-record framing; what the engine does with
 * the client's records after its flight (ChangeCipherSpec skipping and its
 * limit, alerts both ways, corrupt and forged Finished, bytes that arrive
 * one at a time, application data right after the Finished); and a forged
 * resumption binder. Records forged under the client's handshake key use
 * the secret from the client's keylog callback. Malformed extensions are
 * also given to OpenSSL's own server: whatever it refuses, the engine must
 * leave to it.
 *
 * Certificates: t/gen-certs.sh (MC_CERT_DIR, or generated into a
 * temporary directory) for EC P-256; the other key types are made with the
 * openssl command line tool. Prints TAP.
 */
#include "config.h"
#include "tap.h"
#include "tls_hs.h"
#include "tls_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TLS

#include "test_certs.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static char cert_dir[600];
static char work_dir[512];
static SSL_CTX *cctx;

/* The client's handshake traffic secret of the latest handshake (keylog). */
static uint8_t keylog_c_hs[TLS_RECORD_SECRET_MAX];
static size_t keylog_c_hs_len;

static const uint16_t all_suites[] = {0x1302, 0x1303, 0x1301};

static int run(const char *cmd)
{
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ keys */

/*
 * The gen-certs.sh set (EC P-256), and self-signed certificates for the
 * other key kinds the engine signs with, in a temporary work dir.
 */
static int make_certs(void)
{
    static const struct {
        const char *name;
        const char *newkey;
    } kinds[] = {
        {"rsa", "rsa:2048"},
        {"ed25519", "ed25519"},
        {"ed448", "ed448"},
        {"p384", "ec -pkeyopt ec_paramgen_curve:P-384"},
        {"p521", "ec -pkeyopt ec_paramgen_curve:P-521"},
    };
    char cmd[8192];

    if (test_certs_make("test_tls_hs", work_dir, sizeof(work_dir), cert_dir, sizeof(cert_dir)) !=
        0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "openssl req -x509 -newkey %s -nodes -days 2 -subj /CN=localhost "
                 "-keyout '%s/%s_key.pem' -out '%s/%s_crt.pem' >/dev/null 2>&1",
                 kinds[i].newkey, work_dir, kinds[i].name, work_dir, kinds[i].name);
        if (run(cmd) != 0) {
            return -1;
        }
    }
    return 0;
}

static EVP_PKEY *load_key(const char *dir, const char *name)
{
    char path[1200];
    FILE *f;
    EVP_PKEY *key;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return key;
}

/*
 * The TLS 1.3 Certificate message for a certificate: type 11, length,
 * empty request context, certificate_list of `copies` entries of it (DER,
 * no extensions). *len gets its size; free with OPENSSL_free.
 */
static uint8_t *cert_msg_of(const char *dir, const char *name, size_t copies, size_t *len)
{
    char path[1200];
    FILE *f;
    X509 *x;
    uint8_t *der = NULL;
    uint8_t *msg = NULL;
    int dlen;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    dlen = x != NULL ? i2d_X509(x, &der) : -1;
    X509_free(x);
    if (dlen > 0) {
        size_t d = (size_t)dlen;
        size_t list = copies * (3 + d + 2);
        size_t body = 1 + 3 + list;

        msg = OPENSSL_malloc(4 + body);
        if (msg != NULL) {
            uint8_t *p = msg;
            *p++ = 11;
            *p++ = (uint8_t)(body >> 16);
            *p++ = (uint8_t)(body >> 8);
            *p++ = (uint8_t)body;
            *p++ = 0;
            *p++ = (uint8_t)(list >> 16);
            *p++ = (uint8_t)(list >> 8);
            *p++ = (uint8_t)list;
            for (size_t i = 0; i < copies; i++) {
                *p++ = (uint8_t)(d >> 16);
                *p++ = (uint8_t)(d >> 8);
                *p++ = (uint8_t)d;
                memcpy(p, der, d);
                p += d;
                *p++ = 0;
                *p++ = 0;
            }
            *len = (size_t)(p - msg);
        }
    }
    OPENSSL_free(der);
    return msg;
}

/* An identity for a key and certificate; the identity holds its own key reference. */
static struct tls_hs_identity *identity_load(const char *dir, const char *prefix,
                                             const uint16_t *suites, size_t nsuites, size_t copies)
{
    char name[128];
    EVP_PKEY *key;
    uint8_t *msg;
    size_t len = 0;
    struct tls_hs_identity *id = NULL;

    snprintf(name, sizeof(name), "%s_key.pem", prefix);
    key = load_key(dir, name);
    snprintf(name, sizeof(name), "%s_crt.pem", prefix);
    msg = cert_msg_of(dir, name, copies, &len);
    if (key != NULL && msg != NULL) {
        id = tls_hs_identity_new(key, msg, len, suites, nsuites, 7200);
    }
    EVP_PKEY_free(key);
    OPENSSL_free(msg);
    return id;
}

/* ------------------------------------------------------------------ the client */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void on_keylog(const SSL *ssl, const char *line)
{
    static const char tag[] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET ";
    const char *hex;
    size_t n;

    (void)ssl;
    if (strncmp(line, tag, sizeof(tag) - 1) != 0) {
        return;
    }
    hex = strchr(line + sizeof(tag) - 1, ' '); /* after the client random */
    if (hex == NULL) {
        return;
    }
    hex++;
    n = strlen(hex) / 2;
    if (n > sizeof(keylog_c_hs)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        keylog_c_hs[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    }
    keylog_c_hs_len = n;
}

static SSL *client_new(void)
{
    SSL *cli = SSL_new(cctx);

    SSL_set_bio(cli, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(cli);
    return cli;
}

/* Free keeping the session resumable (OpenSSL drops it on an unclosed SSL). */
static void client_free(SSL *cli)
{
    if (cli != NULL) {
        SSL_set_shutdown(cli, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(cli);
    }
}

static void feed(SSL *cli, const uint8_t *buf, size_t len)
{
    if (len > 0) {
        BIO_write(SSL_get_rbio(cli), buf, (int)len);
    }
}

/* What the client wrote since the last drain. */
static size_t drain(SSL *cli, uint8_t *buf, size_t cap)
{
    int n = BIO_read(SSL_get_wbio(cli), buf, (int)cap);

    return n > 0 ? (size_t)n : 0;
}

/* The client's first flight: its ClientHello record. */
static size_t client_hello(SSL *cli, uint8_t *buf, size_t cap)
{
    int r = SSL_do_handshake(cli);

    if (r != -1 || SSL_get_error(cli, r) != SSL_ERROR_WANT_READ) {
        return 0;
    }
    return drain(cli, buf, cap);
}

/*
 * Feed rec (server bytes) to the client and read: true when the read fails
 * because the client received the fatal alert `desc` (and decrypted it).
 */
static bool client_got_alert(SSL *cli, const uint8_t *rec, size_t len, int desc)
{
    char buf[64];
    int r;
    int kind;
    unsigned long e;

    ERR_clear_error();
    feed(cli, rec, len);
    r = SSL_read(cli, buf, sizeof(buf));
    kind = SSL_get_error(cli, r); /* before the queue is cleared: it reads it */
    e = ERR_peek_last_error();
    ERR_clear_error();
    return r <= 0 && kind == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_AD_REASON_OFFSET + desc;
}

/* ------------------------------------------------------------------ one handshake */

struct conn {
    SSL *cli;
    struct tls_hs *hs;
    struct tls_record *rl;
    uint8_t *flight; /* our first flight, tls_hs_flight_max bytes */
    size_t flight_len;
    uint8_t hello[4096];
    size_t hello_len;
    uint8_t fin[4096]; /* the client's answer to our flight: CCS and Finished */
    size_t fin_len;
    uint8_t out[TLS_HS_OUT_MAX];
    size_t out_len;
    size_t used;
    const char *reason;
};

#define CLIENT_FAILED (-100)

/* A conn with a fresh client; cli may be configured before conn_start. */
static void conn_init(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    c->cli = client_new();
}

static void conn_free(struct conn *c)
{
    client_free(c->cli);
    tls_hs_free(&c->hs);
    tls_record_destroy(&c->rl);
    free(c->flight);
    c->cli = NULL;
    c->flight = NULL;
}

/* Answer a ClientHello record (already in c->hello). */
static int conn_answer(struct conn *c, struct tls_hs_identity *id, uint8_t context)
{
    int st;

    free(c->flight);
    c->flight = malloc(tls_hs_flight_max(id));
    c->flight_len = 12345; /* must be overwritten, with 0 on fallback */
    st = tls_hs_start(id, context, c->hello, c->hello_len, &c->hs, c->flight, &c->flight_len,
                      &c->reason);
    return st;
}

/*
 * ClientHello -> tls_hs_start -> flight to the client, whose handshake
 * then completes; its answer (CCS, Finished) lands in c->fin. Returns the
 * tls_hs_start status, or CLIENT_FAILED when the client rejects the flight.
 */
static int conn_start(struct conn *c, struct tls_hs_identity *id, uint8_t context)
{
    ssize_t wire;
    int st;

    c->hello_len = client_hello(c->cli, c->hello, sizeof(c->hello));
    wire = tls_hs_first_record(c->hello, c->hello_len);
    if (wire != (ssize_t)c->hello_len) {
        return CLIENT_FAILED;
    }
    st = conn_answer(c, id, context);
    if (st != TLS_HS_DONE) {
        return st;
    }
    feed(c->cli, c->flight, c->flight_len);
    if (SSL_do_handshake(c->cli) != 1) {
        ERR_clear_error();
        return CLIENT_FAILED;
    }
    c->fin_len = drain(c->cli, c->fin, sizeof(c->fin));
    return TLS_HS_DONE;
}

/* The client's answer to tls_hs_continue; on DONE the ticket goes to the client. */
static int conn_finish(struct conn *c)
{
    int st = tls_hs_continue(c->hs, c->fin, c->fin_len, &c->used, c->out, &c->out_len, &c->reason);

    if (st == TLS_HS_DONE) {
        feed(c->cli, c->out, c->out_len);
        c->rl = tls_hs_take_record(c->hs);
    }
    return st;
}

/* One application record each way: client -> tls_record_open, tls_record_seal -> client. */
static bool data_both_ways(struct conn *c)
{
    uint8_t buf[512];
    uint8_t type = 0;
    char got[16];
    struct iovec iov = {"pong", 4};
    size_t n;
    ssize_t framed;

    if (c->rl == NULL || SSL_write(c->cli, "ping", 4) != 4) {
        return false;
    }
    n = drain(c->cli, buf, sizeof(buf));
    framed = tls_record_frame(buf, n);
    if (framed != (ssize_t)n ||
        tls_record_open(c->rl, buf, n, buf + TLS_RECORD_HEADER, &type) != 4 ||
        type != TLS_CT_APPLICATION_DATA || memcmp(buf + TLS_RECORD_HEADER, "ping", 4) != 0) {
        return false;
    }
    n = tls_record_seal(c->rl, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 4, buf);
    feed(c->cli, buf, n);
    /* the ticket, fed by conn_finish, is read first, then this record */
    return n > 0 && SSL_read(c->cli, got, sizeof(got)) == 4 && memcmp(got, "pong", 4) == 0;
}

/* A whole handshake and a record each way; true when all of it worked. */
static bool full_run(struct conn *c, struct tls_hs_identity *id, uint8_t context)
{
    return conn_start(c, id, context) == TLS_HS_DONE && conn_finish(c) == TLS_HS_DONE &&
           c->used == c->fin_len && data_both_ways(c);
}

/* A finished handshake's session (ticket read), for resumption; suites NULL for the default. */
static SSL_SESSION *session_from(SSL_SESSION *resume, struct tls_hs_identity *id, uint8_t context,
                                 const char *suites)
{
    struct conn c;
    SSL_SESSION *sess = NULL;

    conn_init(&c);
    if (resume != NULL) {
        SSL_set_session(c.cli, resume);
    }
    if (suites != NULL) {
        SSL_set_ciphersuites(c.cli, suites);
    }
    if (full_run(&c, id, context)) {
        sess = SSL_get1_session(c.cli);
    }
    conn_free(&c);
    return sess;
}

/* ------------------------------------------------------------------ tests */

/* Our X25519 share in the ServerHello that opens a flight: false when absent. */
static bool server_share(const uint8_t *flight, size_t len, uint8_t share[32])
{
    size_t end = TLS_RECORD_HEADER + ((size_t)flight[3] << 8 | flight[4]);
    size_t p = TLS_RECORD_HEADER + 4 + 2 + 32;

    if (end > len || p >= end) {
        return false;
    }
    p += 1 + flight[p]; /* session id */
    p += 2 + 1 + 2;     /* suite, compression, extensions' length */
    while (p + 4 <= end) {
        uint16_t type = (uint16_t)(flight[p] << 8 | flight[p + 1]);
        size_t n = (size_t)flight[p + 2] << 8 | flight[p + 3];

        if (type == 0x0033 && n == 4 + 32 && p + 4 + n <= end) {
            memcpy(share, flight + p + 8, 32);
            return true;
        }
        p += 4 + n;
    }
    return false;
}

/*
 * Key shares come from a per-thread pool refilled 8 at a time: across more
 * than two refills every handshake still gets a share of its own.
 */
static void test_key_shares(struct tls_hs_identity *id)
{
    enum { RUNS = 19 };
    uint8_t shares[RUNS][32];
    int done = 0, repeats = 0;

    for (int i = 0; i < RUNS; i++) {
        struct conn c;

        conn_init(&c);
        if (full_run(&c, id, 1) && server_share(c.flight, c.flight_len, shares[done])) {
            done++;
        }
        conn_free(&c);
    }
    for (int i = 0; i < done; i++) {
        for (int j = 0; j < i; j++) {
            repeats += memcmp(shares[i], shares[j], 32) == 0;
        }
    }
    ok(done == RUNS, "19 handshakes in a row complete (the key pool refilled twice)");
    ok(repeats == 0, "no two handshakes share an X25519 key share");
}

static void test_identity(void)
{
    static const uint16_t ccm_only[] = {0x1304, 0x1305};
    struct tls_hs_identity *id;
    struct tls_hs_identity *held;
    EVP_PKEY *x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    EVP_PKEY *p256 = load_key(cert_dir, "server_key.pem");
    size_t len = 0;
    uint8_t *msg = cert_msg_of(cert_dir, "server_crt.pem", 1, &len);

    ok(tls_hs_identity_new(x25519, msg, len, all_suites, 3, 7200) == NULL,
       "identity: an X25519 key cannot sign, refused");
    ok(tls_hs_identity_new(p256, msg, len, ccm_only, 2, 7200) == NULL,
       "identity: only CCM suites (no record layer for them), refused");
    ok(tls_hs_identity_new(p256, msg, 7, all_suites, 3, 7200) == NULL,
       "identity: a Certificate message too short to hold a certificate, refused");
    id = tls_hs_identity_new(p256, msg, len, all_suites, 3, 7200);
    ok(id != NULL && tls_hs_flight_max(id) > len + 1024, "identity: EC P-256 accepted");
    /* a held identity survives one release; valgrind sees the last one free it */
    held = id;
    if (id != NULL) {
        tls_hs_identity_hold(id);
    }
    tls_hs_identity_release(&id);
    ok(id == NULL && held != NULL && tls_hs_flight_max(held) > len,
       "identity: release clears the pointer, a held reference keeps it alive");
    tls_hs_identity_release(&held);
    tls_hs_identity_release(&held); /* NULL-safe */
    EVP_PKEY_free(x25519);
    EVP_PKEY_free(p256);
    OPENSSL_free(msg);
}

static void test_first_record(void)
{
    uint8_t rec[32] = {TLS_CT_HANDSHAKE, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0};
    bool all_more = true;
    uint8_t big[5] = {TLS_CT_HANDSHAKE, 3, 1, 0x40, 0x01};
    uint8_t max[5] = {TLS_CT_HANDSHAKE, 3, 1, 0x40, 0x00};
    uint8_t appdata[5] = {TLS_CT_APPLICATION_DATA, 3, 3, 0, 8};
    uint8_t ssl2[5] = {TLS_CT_HANDSHAKE, 2, 0, 0, 8};
    uint8_t tiny[5] = {TLS_CT_HANDSHAKE, 3, 1, 0, 3};

    for (size_t n = 0; n < 5; n++) {
        all_more = all_more && tls_hs_first_record(rec, n) == TLS_HS_MORE;
    }
    ok(all_more, "first record: 0 to 4 bytes need more");
    ok(tls_hs_first_record(rec, 5) == TLS_HS_MORE && tls_hs_first_record(rec, 12) == TLS_HS_MORE,
       "first record: a partial body needs more");
    ok(tls_hs_first_record(rec, 13) == 13 && tls_hs_first_record(rec, 20) == 13,
       "first record: complete, its wire length (bytes after it not counted)");
    ok(tls_hs_first_record(appdata, 5) == TLS_HS_FALLBACK,
       "first record: application_data type falls back");
    ok(tls_hs_first_record(ssl2, 5) == TLS_HS_FALLBACK, "first record: version byte 2 falls back");
    ok(tls_hs_first_record(big, 5) == TLS_HS_FALLBACK && tls_hs_first_record(max, 5) == TLS_HS_MORE,
       "first record: a body of 2^14 + 1 falls back at once, 2^14 waits");
    ok(tls_hs_first_record(tiny, 5) == TLS_HS_FALLBACK,
       "first record: a body too short for a message header falls back");
}

static void test_suites(struct tls_hs_identity *id)
{
    static const struct {
        const char *name;
        unsigned suite;
    } cases[] = {
        {"TLS_AES_128_GCM_SHA256", 0x1301},
        {"TLS_AES_256_GCM_SHA384", 0x1302},
        {"TLS_CHACHA20_POLY1305_SHA256", 0x1303},
    };
    char what[160];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conn c;
        bool is_ok;

        conn_init(&c);
        SSL_set_ciphersuites(c.cli, cases[i].name);
        is_ok = full_run(&c, id, 1);
        snprintf(what, sizeof(what), "%s: handshake done, data both ways", cases[i].name);
        ok(is_ok, what);
        snprintf(what, sizeof(what), "%s: suite %04x, not resumed, client agrees", cases[i].name,
                 cases[i].suite);
        ok(is_ok && tls_hs_suite(c.hs) == cases[i].suite && !tls_hs_is_resumed(c.hs) &&
               !SSL_session_reused(c.cli) &&
               SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(c.cli)) == cases[i].suite,
           what);
        conn_free(&c);
    }
    {
        /* the client's order decides, as OpenSSL's server does by default */
        struct conn c;

        conn_init(&c);
        SSL_set_ciphersuites(c.cli, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
        ok(full_run(&c, id, 1) && tls_hs_suite(c.hs) == 0x1301,
           "suite: the first in the client's order that we enable");
        conn_free(&c);
    }
}

static void test_key_types(void)
{
    static const struct {
        const char *prefix;
        const char *what;
    } kinds[] = {
        {"rsa", "RSA 2048 (rsa_pss_rsae)"},
        {"ed25519", "Ed25519"},
        {"ed448", "Ed448"},
        {"p384", "EC P-384"},
        {"p521", "EC P-521"},
    };
    char what[160];

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct tls_hs_identity *id = identity_load(work_dir, kinds[i].prefix, all_suites, 3, 1);
        struct conn c;
        bool is_ok = false;

        conn_init(&c);
        if (id != NULL) {
            is_ok = full_run(&c, id, 1);
        }
        snprintf(what, sizeof(what), "key %s: the client accepts our CertificateVerify",
                 kinds[i].what);
        ok(is_ok, what);
        conn_free(&c);
        tls_hs_identity_release(&id);
    }
    {
        /* a chain over 16 KB: the encrypted flight takes several records */
        struct tls_hs_identity *id = identity_load(cert_dir, "server", all_suites, 3, 40);
        struct conn c;
        size_t records = 0;

        conn_init(&c);
        ok(id != NULL && full_run(&c, id, 1), "a 40-certificate chain: the client accepts it");
        for (size_t p = 0; c.flight != NULL && p + TLS_RECORD_HEADER <= c.flight_len;) {
            p += TLS_RECORD_HEADER + ((size_t)c.flight[p + 3] << 8 | c.flight[p + 4]);
            records++;
        }
        ok(id != NULL && records >= 4 && c.flight_len <= tls_hs_flight_max(id),
           "a 40-certificate chain: several records, within tls_hs_flight_max");
        conn_free(&c);
        tls_hs_identity_release(&id);
    }
}

static void test_resumption(struct tls_hs_identity *id)
{
    struct tls_hs_identity *other = identity_load(cert_dir, "server", all_suites, 3, 1);
    SSL_SESSION *sess = session_from(NULL, id, 1, NULL);
    SSL_SESSION *sess256 = session_from(NULL, id, 1, "TLS_AES_128_GCM_SHA256");
    SSL_SESSION *again;
    struct conn c;
    int st;

    ok(sess != NULL && SSL_SESSION_is_resumable(sess) &&
           SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION,
       "resumption: the client keeps our ticket");

    conn_init(&c);
    SSL_set_session(c.cli, sess);
    ok(full_run(&c, id, 1) && tls_hs_is_resumed(c.hs) && SSL_session_reused(c.cli),
       "resumption: same identity and context resume, data both ways");
    ok(c.hs != NULL && tls_hs_suite(c.hs) == 0x1302 && c.flight_len < 400,
       "resumption: the session's suite, no certificate in the flight");
    conn_free(&c);

    /* the ticket issued on a resumed connection resumes too (its PSK from that transcript) */
    again = sess != NULL ? session_from(sess, id, 1, NULL) : NULL;
    conn_init(&c);
    if (again != NULL) {
        SSL_set_session(c.cli, again);
    }
    ok(again != NULL && again != sess && full_run(&c, id, 1) && tls_hs_is_resumed(c.hs) &&
           SSL_session_reused(c.cli),
       "resumption: a ticket from a resumed connection resumes");
    conn_free(&c);
    SSL_SESSION_free(again);

    /* a resumed handshake signs nothing: no scheme for our key is needed */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    SSL_set1_sigalgs_list(c.cli, "rsa_pss_rsae_sha256");
    ok(full_run(&c, id, 1) && tls_hs_is_resumed(c.hs),
       "resumption: the client's schemes exclude our key, still resumed");
    conn_free(&c);

    /* another suite of the same hash may resume (RFC 8446 4.2.11) */
    conn_init(&c);
    SSL_set_session(c.cli, sess256);
    SSL_set_ciphersuites(c.cli, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
    ok(sess256 != NULL && full_run(&c, id, 1) && tls_hs_is_resumed(c.hs) &&
           tls_hs_suite(c.hs) == 0x1303 && SSL_session_reused(c.cli),
       "resumption: an AES-128-GCM ticket resumes as ChaCha20 (both SHA-256)");
    conn_free(&c);

    /* tickets are bound to the listener's context: another context gets a full handshake */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    ok(full_run(&c, id, 2) && !tls_hs_is_resumed(c.hs) && !SSL_session_reused(c.cli),
       "resumption: another context, full handshake that succeeds");
    conn_free(&c);

    /* a SHA-384 ticket cannot serve a SHA-256 suite */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    SSL_set_ciphersuites(c.cli, "TLS_AES_128_GCM_SHA256");
    ok(full_run(&c, id, 1) && tls_hs_suite(c.hs) == 0x1301 && !tls_hs_is_resumed(c.hs) &&
           !SSL_session_reused(c.cli),
       "resumption: a suite of another hash, full handshake");
    conn_free(&c);

    /*
     * Another identity (after a reload) does not know the ticket's magic, but
     * the ticket has our size: a full handshake here, not OpenSSL's.
     */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    ok(other != NULL && full_run(&c, other, 1) && !tls_hs_is_resumed(c.hs) &&
           !SSL_session_reused(c.cli),
       "resumption: a ticket from before a reload, full handshake here");
    conn_free(&c);

    /* a forged binder is fatal: decrypt_error in plaintext (RFC 8446 4.2.11) */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
    c.hello[c.hello_len - 5] ^= 0x40; /* inside the binder, the last bytes of the message */
    st = conn_answer(&c, id, 1);
    ok(st == TLS_HS_FAIL && c.flight_len == 7 &&
           memcmp(c.flight, "\x15\x03\x03\x00\x02\x02\x33", 7) == 0 && c.hs == NULL &&
           c.reason != NULL,
       "resumption: a forged binder fails with a plaintext decrypt_error alert");
    conn_free(&c);

    /* the same hello untouched resumes: the binder was all that made it fail */
    conn_init(&c);
    SSL_set_session(c.cli, sess);
    c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
    ok(conn_answer(&c, id, 1) == TLS_HS_DONE && tls_hs_is_resumed(c.hs),
       "resumption: the hello unforged verifies");
    conn_free(&c);

    SSL_SESSION_free(sess);
    SSL_SESSION_free(sess256);
    tls_hs_identity_release(&other);
}

/* tls_hs_start on the client's hello: fallback with nothing written. */
static bool falls_back(struct conn *c, struct tls_hs_identity *id)
{
    int st = conn_start(c, id, 1);

    return st == TLS_HS_FALLBACK && c->flight_len == 0 && c->hs == NULL;
}

/* Offsets in a ClientHello record: the extensions vector's length field. */
static size_t exts_at(const uint8_t *rec, size_t len)
{
    size_t p = TLS_RECORD_HEADER + 4 + 2 + 32;

    p += 1 + rec[p];                             /* session id */
    p += 2 + ((size_t)rec[p] << 8 | rec[p + 1]); /* suites */
    p += 1 + rec[p];                             /* compression */
    return p + 2 <= len ? p : 0;
}

/* Find extension `type`; its body's offset and length. */
static bool find_ext(const uint8_t *rec, size_t len, uint16_t type, size_t *at, size_t *n)
{
    size_t p = exts_at(rec, len);

    if (p == 0) {
        return false;
    }
    for (p += 2; p + 4 <= len;) {
        uint16_t t = (uint16_t)(rec[p] << 8 | rec[p + 1]);
        size_t l = (size_t)rec[p + 2] << 8 | rec[p + 3];
        if (t == type) {
            *at = p + 4;
            *n = l;
            return true;
        }
        p += 4 + l;
    }
    return false;
}

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Append an extension at the end of the hello, fixing the three lengths around it. */
static bool append_ext(struct conn *c, uint16_t type, const uint8_t *body, size_t n)
{
    size_t e = exts_at(c->hello, c->hello_len);
    size_t mlen;

    if (e == 0 || c->hello_len + 4 + n > sizeof(c->hello)) {
        return false;
    }
    put16(c->hello + c->hello_len, type);
    put16(c->hello + c->hello_len + 2, n);
    if (n > 0) {
        memmove(c->hello + c->hello_len + 4, body, n);
    }
    c->hello_len += 4 + n;
    put16(c->hello + e, c->hello_len - e - 2);
    mlen = c->hello_len - TLS_RECORD_HEADER - 4;
    c->hello[TLS_RECORD_HEADER + 1] = (uint8_t)(mlen >> 16);
    put16(c->hello + TLS_RECORD_HEADER + 2, mlen);
    put16(c->hello + 3, c->hello_len - TLS_RECORD_HEADER);
    return true;
}

static void test_fallbacks(struct tls_hs_identity *id)
{
    struct conn c;
    size_t at = 0;
    size_t n = 0;

    conn_init(&c);
    SSL_set_max_proto_version(c.cli, TLS1_2_VERSION);
    ok(falls_back(&c, id), "fallback: a TLS 1.2-only client");
    conn_free(&c);

    conn_init(&c);
    SSL_set1_groups_list(c.cli, "P-256");
    ok(falls_back(&c, id), "fallback: groups P-256 only (no X25519 share)");
    conn_free(&c);

    conn_init(&c);
    SSL_set1_groups_list(c.cli, "P-256:X25519");
    ok(falls_back(&c, id), "fallback: P-256 share first, X25519 only listed (HRR or P-256)");
    conn_free(&c);

    conn_init(&c);
    SSL_set1_groups_list(c.cli, "X25519:P-256");
    ok(full_run(&c, id, 1), "control: X25519 first with P-256 listed is handled");
    conn_free(&c);

    conn_init(&c);
    SSL_set_tlsext_max_fragment_length(c.cli, TLSEXT_max_fragment_length_512);
    ok(falls_back(&c, id), "fallback: max_fragment_length");
    conn_free(&c);

    conn_init(&c);
    SSL_set_ciphersuites(c.cli, "TLS_AES_128_CCM_SHA256");
    ok(falls_back(&c, id), "fallback: no suite we have (CCM only)");
    conn_free(&c);

    conn_init(&c);
    SSL_set1_sigalgs_list(c.cli, "rsa_pss_rsae_sha256:rsa_pss_pss_sha256");
    ok(falls_back(&c, id), "fallback: no signature scheme for our EC key");
    conn_free(&c);

    conn_init(&c);
    SSL_set1_sigalgs_list(c.cli, "rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256");
    ok(full_run(&c, id, 1), "control: the EC scheme listed second is found");
    conn_free(&c);

    conn_init(&c);
    SSL_set_tlsext_host_name(c.cli, "localhost");
    ok(full_run(&c, id, 1), "control: server_name is accepted (and not acknowledged)");
    conn_free(&c);

    /* no middlebox compatibility: empty session id, no CCS from the client */
    conn_init(&c);
    SSL_clear_options(c.cli, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
    ok(full_run(&c, id, 1) && c.hello[TLS_RECORD_HEADER + 4 + 2 + 32] == 0 &&
           c.fin[0] == TLS_CT_APPLICATION_DATA,
       "control: a client without middlebox compatibility mode is handled");
    conn_free(&c);

    /* hand-made damage to a good hello */
    conn_init(&c);
    c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
    ok(tls_hs_first_record(c.hello, c.hello_len - 1) == TLS_HS_MORE,
       "truncated hello: first_record wants more");
    c.hello_len--;
    ok(conn_answer(&c, id, 1) == TLS_HS_FALLBACK && c.flight_len == 0,
       "truncated hello given to start anyway: fallback");
    c.hello_len++;
    {
        size_t e = exts_at(c.hello, c.hello_len);
        bool both = e != 0;

        c.hello[e + 1]++; /* extensions longer than the message */
        both = both && conn_answer(&c, id, 1) == TLS_HS_FALLBACK && c.flight_len == 0;
        c.hello[e + 1] -= 2; /* one byte left over after them */
        both = both && conn_answer(&c, id, 1) == TLS_HS_FALLBACK && c.flight_len == 0;
        c.hello[e + 1]++;
        ok(both, "extensions length one more or one less: fallback");
        c.hello[TLS_RECORD_HEADER + 3] ^= 1; /* the handshake message's length */
        ok(conn_answer(&c, id, 1) == TLS_HS_FALLBACK && c.flight_len == 0,
           "message length off by one: fallback");
        c.hello[TLS_RECORD_HEADER + 3] ^= 1;
        ok(conn_answer(&c, id, 1) == TLS_HS_DONE, "control: the repaired hello is handled");
        tls_hs_free(&c.hs);
    }
    {
        /* two ClientHello messages in one record */
        size_t mlen = c.hello_len - TLS_RECORD_HEADER;

        memcpy(c.hello + c.hello_len, c.hello + TLS_RECORD_HEADER, mlen);
        c.hello_len += mlen;
        put16(c.hello + 3, 2 * mlen);
        ok(tls_hs_first_record(c.hello, c.hello_len) == (ssize_t)c.hello_len &&
               conn_answer(&c, id, 1) == TLS_HS_FALLBACK && c.flight_len == 0,
           "two ClientHellos in one record: fallback");
        c.hello_len -= mlen;
        put16(c.hello + 3, mlen);
    }
    /* a duplicate extension: OpenSSL refuses it, so it must decide */
    if (find_ext(c.hello, c.hello_len, 43, &at, &n)) {
        uint8_t copy[64];

        memcpy(copy, c.hello + at, n < sizeof(copy) ? n : sizeof(copy));
        ok(append_ext(&c, 43, copy, n) && conn_answer(&c, id, 1) == TLS_HS_FALLBACK &&
               c.flight_len == 0,
           "duplicate supported_versions: fallback");
    } else {
        ok(0, "duplicate supported_versions: no such extension in the hello");
    }
    conn_free(&c);

    conn_init(&c);
    c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
    ok(append_ext(&c, 0x7a7a, NULL, 0) && conn_answer(&c, id, 1) == TLS_HS_DONE,
       "control: an unknown extension appended the same way is ignored");
    conn_free(&c);
}

/*
 * The reference: does OpenSSL's own server refuse this ClientHello? (It
 * fails at once with an alert; a hello it takes gets its flight, WANT_READ.)
 */
static bool openssl_refuses(SSL_CTX *sctx, const uint8_t *hello, size_t len)
{
    SSL *srv = SSL_new(sctx);
    int r;
    bool is_refused;

    SSL_set_bio(srv, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_accept_state(srv);
    BIO_write(SSL_get_rbio(srv), hello, (int)len);
    r = SSL_do_handshake(srv);
    is_refused = r <= 0 && SSL_get_error(srv, r) == SSL_ERROR_SSL;
    ERR_clear_error();
    SSL_free(srv);
    return is_refused;
}

/*
 * Extensions OpenSSL parses in a TLS 1.3 ClientHello and refuses when
 * malformed (decode_error), or refuses outright where they do not belong
 * (illegal_parameter). The engine must not complete a handshake OpenSSL
 * would have refused: each such hello must fall back.
 */
static void test_like_openssl(struct tls_hs_identity *id)
{
    static const uint8_t alpn_good[] = {0, 10, 9, 'm', 'e', 'm', 'c', 'a', 'c', 'h', 'e', 'd'};
    static const uint8_t alpn_empty_list[] = {0, 0};
    static const uint8_t alpn_empty_name[] = {0, 1, 0};
    static const uint8_t pha_body[] = {0};
    static const uint8_t sigcert_odd[] = {0, 3, 4, 3, 8};
    static const uint8_t status_short[] = {1, 0};
    static const struct {
        uint16_t type;
        const uint8_t *body;
        size_t len;
        const char *what;
    } cases[] = {
        {16, alpn_empty_list, sizeof(alpn_empty_list), "ALPN with an empty list"},
        {16, alpn_empty_name, sizeof(alpn_empty_name), "ALPN with an empty protocol name"},
        {49, pha_body, sizeof(pha_body), "post_handshake_auth with a body"},
        {50, sigcert_odd, sizeof(sigcert_odd), "signature_algorithms_cert of odd length"},
        {5, status_short, sizeof(status_short), "status_request cut short"},
        {14, alpn_empty_list, sizeof(alpn_empty_list), "use_srtp (DTLS only) in TLS"},
    };
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    char path[1200];
    char what[200];
    struct conn c;

    snprintf(path, sizeof(path), "%s/server_crt.pem", cert_dir);
    SSL_CTX_use_certificate_file(sctx, path, SSL_FILETYPE_PEM);
    snprintf(path, sizeof(path), "%s/server_key.pem", cert_dir);
    SSL_CTX_use_PrivateKey_file(sctx, path, SSL_FILETYPE_PEM);

    conn_init(&c);
    c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
    ok(append_ext(&c, 16, alpn_good, sizeof(alpn_good)) &&
           !openssl_refuses(sctx, c.hello, c.hello_len) && conn_answer(&c, id, 1) == TLS_HS_DONE,
       "like OpenSSL: a well-formed ALPN offer is taken by both");
    conn_free(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool is_refused;
        int st = CLIENT_FAILED;

        conn_init(&c);
        c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
        is_refused = append_ext(&c, cases[i].type, cases[i].body, cases[i].len) &&
                     openssl_refuses(sctx, c.hello, c.hello_len);
        if (is_refused) {
            st = conn_answer(&c, id, 1);
        }
        snprintf(what, sizeof(what),
                 "like OpenSSL: %s, which OpenSSL refuses%s, falls back (tls_hs_start: %d)",
                 cases[i].what, is_refused ? "" : " (it did not here!)", st);
        ok(is_refused && st == TLS_HS_FALLBACK && c.flight_len == 0, what);
        conn_free(&c);
    }
    {
        /* a low-order X25519 share makes an all-zero secret, which OpenSSL refuses */
        size_t at = 0;
        size_t n = 0;
        bool is_refused = false;
        int st = CLIENT_FAILED;

        conn_init(&c);
        c.hello_len = client_hello(c.cli, c.hello, sizeof(c.hello));
        if (find_ext(c.hello, c.hello_len, 51, &at, &n) && n >= 6 + 32 && c.hello[at + 2] == 0 &&
            c.hello[at + 3] == 0x1d) {
            memset(c.hello + at + 6, 0, 32);
            is_refused = openssl_refuses(sctx, c.hello, c.hello_len);
            st = conn_answer(&c, id, 1);
        }
        ok(is_refused && st == TLS_HS_FALLBACK && c.flight_len == 0,
           "like OpenSSL: an all-zero X25519 share falls back");
        conn_free(&c);
    }
    SSL_CTX_free(sctx);
}

/* A conn whose handshake reached the client's answer (c->fin); false if not. */
static bool to_answer(struct conn *c, struct tls_hs_identity *id)
{
    conn_init(c);
    return conn_start(c, id, 1) == TLS_HS_DONE && c->fin_len > 6 && c->fin[0] == 20;
}

/* Seal a record of `type` under the client's handshake key (from the keylog). */
static size_t forge(struct conn *c, uint8_t type, const uint8_t *body, size_t n, uint8_t *out)
{
    uint8_t junk[TLS_RECORD_SECRET_MAX] = {0};
    struct tls_record *rl =
        tls_record_create(tls_hs_suite(c->hs), junk, keylog_c_hs, keylog_c_hs_len, 0, 0);
    struct iovec iov = {(void *)body, n};
    size_t w = rl != NULL ? tls_record_seal(rl, type, &iov, 1, 0, n, out) : 0;

    tls_record_destroy(&rl);
    return w;
}

static void test_after_flight(struct tls_hs_identity *id)
{
    static const uint8_t ccs[] = {TLS_CT_CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1};
    static const uint8_t alert[] = {TLS_CT_ALERT, 3, 3, 0, 2, 2, 40};
    static const uint8_t garbage[] = {0x18, 3, 3, 0, 2, 1, 1};
    uint8_t buf[8192];
    uint8_t rec[256];
    struct conn c;
    size_t n;
    int st;

    /* a flipped bit in the client's Finished: bad_record_mac, sealed, and the client reads it */
    if (to_answer(&c, id)) {
        c.fin[c.fin_len - 1] ^= 1;
        st = conn_finish(&c);
        ok(st == TLS_HS_FAIL && c.out_len > 0 && c.out[0] == TLS_CT_APPLICATION_DATA &&
               c.used == c.fin_len,
           "corrupt Finished: fail, with an alert sealed under our traffic key");
        ok(client_got_alert(c.cli, c.out, c.out_len, SSL_AD_BAD_RECORD_MAC),
           "corrupt Finished: the client decrypts bad_record_mac");
    } else {
        ok(0, "corrupt Finished: handshake did not reach the client's answer");
        ok(0, "corrupt Finished: no alert to check");
    }
    conn_free(&c);

    /*
     * Controls for the forged records below: the client's own Finished,
     * opened and sealed again by the test, is accepted; so is it with
     * record padding (sealed as content type 0 after the real type byte
     * and zeros, which is what padding looks like inside).
     */
    for (int padded = 0; padded < 2; padded++) {
        bool is_ok = false;

        if (to_answer(&c, id) && keylog_c_hs_len == tls_record_hash_len(tls_hs_suite(c.hs))) {
            uint8_t junk[TLS_RECORD_SECRET_MAX] = {0};
            struct tls_record *dec =
                tls_record_create(tls_hs_suite(c.hs), keylog_c_hs, junk, keylog_c_hs_len, 0, 0);
            uint8_t plain[128];
            uint8_t type = 0;
            ssize_t got =
                dec != NULL ? tls_record_open(dec, c.fin + 6, c.fin_len - 6, plain, &type) : -1;

            tls_record_destroy(&dec);
            if (got == (ssize_t)(4 + keylog_c_hs_len) && type == TLS_CT_HANDSHAKE) {
                if (padded) {
                    memset(plain + got, 0, 8);
                    plain[got] = TLS_CT_HANDSHAKE;
                    n = forge(&c, 0, plain, (size_t)got + 8, rec);
                } else {
                    n = forge(&c, TLS_CT_HANDSHAKE, plain, (size_t)got, rec);
                }
                st = tls_hs_continue(c.hs, rec, n, &c.used, c.out, &c.out_len, &c.reason);
                if (st == TLS_HS_DONE) {
                    feed(c.cli, c.out, c.out_len);
                    c.rl = tls_hs_take_record(c.hs);
                    is_ok = c.used == n && data_both_ways(&c);
                }
            }
        }
        ok(is_ok, padded ? "control: the client's Finished with record padding is accepted"
                         : "control: the client's Finished, sealed again by the test, is accepted");
        conn_free(&c);
    }

    /* a well-formed Finished with the wrong MAC: decrypt_error */
    if (to_answer(&c, id) && keylog_c_hs_len == tls_record_hash_len(tls_hs_suite(c.hs))) {
        uint8_t fin[4 + 48] = {20, 0, 0, (uint8_t)keylog_c_hs_len};

        n = forge(&c, TLS_CT_HANDSHAKE, fin, 4 + keylog_c_hs_len, rec);
        st = tls_hs_continue(c.hs, rec, n, &c.used, c.out, &c.out_len, &c.reason);
        ok(n > 0 && st == TLS_HS_FAIL && c.out_len > 0 && c.used == n,
           "wrong Finished MAC: fail with an alert");
        ok(client_got_alert(c.cli, c.out, c.out_len, SSL_AD_DECRYPT_ERROR),
           "wrong Finished MAC: the client decrypts decrypt_error");
    } else {
        ok(0, "wrong Finished MAC: no keylog secret");
        ok(0, "wrong Finished MAC: no alert to check");
    }
    conn_free(&c);

    /* application data under the handshake key before the Finished */
    if (to_answer(&c, id)) {
        n = forge(&c, TLS_CT_APPLICATION_DATA, (const uint8_t *)"get k\r\n", 7, rec);
        st = tls_hs_continue(c.hs, rec, n, &c.used, c.out, &c.out_len, &c.reason);
        ok(n > 0 && st == TLS_HS_FAIL &&
               client_got_alert(c.cli, c.out, c.out_len, SSL_AD_UNEXPECTED_MESSAGE),
           "data before the Finished: unexpected_message, read by the client");
    } else {
        ok(0, "data before the Finished: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* the client's sealed alert: fail, nothing sent back */
    if (to_answer(&c, id)) {
        static const uint8_t close_notify[] = {1, 0};

        n = forge(&c, TLS_CT_ALERT, close_notify, 2, rec);
        st = tls_hs_continue(c.hs, rec, n, &c.used, c.out, &c.out_len, &c.reason);
        ok(n > 0 && st == TLS_HS_FAIL && c.out_len == 0 && c.reason != NULL,
           "sealed alert from the client: fail, no alert back");
    } else {
        ok(0, "sealed alert from the client: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* a plaintext alert */
    if (to_answer(&c, id)) {
        memcpy(buf, alert, sizeof(alert));
        st = tls_hs_continue(c.hs, buf, sizeof(alert), &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_FAIL && c.out_len == 0 && c.used == sizeof(alert),
           "plaintext alert: fail, consumed, no alert back");
    } else {
        ok(0, "plaintext alert: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* an unknown record type */
    if (to_answer(&c, id)) {
        memcpy(buf, garbage, sizeof(garbage));
        st = tls_hs_continue(c.hs, buf, sizeof(garbage), &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_FAIL && c.out_len > 0 &&
               client_got_alert(c.cli, c.out, c.out_len, SSL_AD_UNEXPECTED_MESSAGE),
           "record type 0x18: fail with unexpected_message");
    } else {
        ok(0, "record type 0x18: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /*
     * A record header with a version other than 3.3 (here a long "record"
     * of junk): refused from the header as OpenSSL does, not waited on.
     */
    if (to_answer(&c, id)) {
        static const uint8_t junk[] = {0x17, 0x9e, 0x41, 0x3f, 0x00, 0x11};
        memcpy(buf, junk, sizeof(junk));
        st = tls_hs_continue(c.hs, buf, sizeof(junk), &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_FAIL && c.out_len > 0 &&
               client_got_alert(c.cli, c.out, c.out_len, SSL_AD_DECODE_ERROR),
           "record version 0x9e41: fail with decode_error at the header");
    } else {
        ok(0, "record version: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* an encrypted record longer than the protocol allows: record_overflow, at the header */
    if (to_answer(&c, id)) {
        static const uint8_t huge[] = {TLS_CT_APPLICATION_DATA, 3, 3, 0x41, 0x01};

        memcpy(buf, huge, sizeof(huge));
        st = tls_hs_continue(c.hs, buf, sizeof(huge), &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_FAIL && client_got_alert(c.cli, c.out, c.out_len, SSL_AD_RECORD_OVERFLOW),
           "record of 2^14 + 257 bytes: fail with record_overflow before its body");
    } else {
        ok(0, "record overflow: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* ChangeCipherSpec records are skipped, 32 of them at most */
    if (to_answer(&c, id)) {
        memcpy(buf, ccs, sizeof(ccs));
        st = tls_hs_continue(c.hs, buf, sizeof(ccs), &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_MORE && c.used == 6 && c.out_len == 0, "one CCS: skipped, more needed");
        memcpy(buf, ccs, 3);
        st = tls_hs_continue(c.hs, buf, 3, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_MORE && c.used == 0, "a partial header: more, nothing consumed");
        memcpy(buf, c.fin, 6 + 5 + 3);
        st = tls_hs_continue(c.hs, buf, 6 + 5 + 3, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_MORE && c.used == 6, "CCS and a partial Finished: the CCS consumed");
        for (int i = 0; i < 30; i++) {
            memcpy(buf + 6 * i, ccs, sizeof(ccs));
        }
        /* 1 + 1 + 30 = 32 CCS so far: still allowed */
        st = tls_hs_continue(c.hs, buf, 6 * 30, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_MORE && c.used == 6 * 30, "32 CCS records in all: still skipped");
        st = tls_hs_continue(c.hs, c.fin + 6, c.fin_len - 6, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_DONE && c.used == c.fin_len - 6 && c.out_len > 0,
           "then the Finished: done");
    } else {
        ok(0, "CCS: handshake did not reach the client's answer");
    }
    conn_free(&c);
    if (to_answer(&c, id)) {
        for (int i = 0; i < 33; i++) {
            memcpy(buf + 6 * i, ccs, sizeof(ccs));
        }
        st = tls_hs_continue(c.hs, buf, 6 * 33, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_FAIL && c.out_len > 0, "33 CCS records: fail");
    } else {
        ok(0, "33 CCS: handshake did not reach the client's answer");
    }
    conn_free(&c);

    /* one byte at a time, the unconsumed tail fed again each time (a caller's buffer) */
    if (to_answer(&c, id)) {
        size_t have = 0;
        size_t start = 0;
        int calls_more = 0;

        st = TLS_HS_MORE;
        while (st == TLS_HS_MORE && have < c.fin_len) {
            buf[have] = c.fin[have];
            have++;
            st = tls_hs_continue(c.hs, buf + start, have - start, &c.used, c.out, &c.out_len,
                                 &c.reason);
            start += c.used;
            calls_more += st == TLS_HS_MORE;
        }
        ok(st == TLS_HS_DONE && have == c.fin_len && start == c.fin_len &&
               calls_more == (int)c.fin_len - 1,
           "byte by byte: done at the last byte, all consumed");
        feed(c.cli, c.out, c.out_len);
        c.rl = tls_hs_take_record(c.hs);
        ok(data_both_ways(&c), "byte by byte: then data both ways");
    } else {
        ok(0, "byte by byte: handshake did not reach the client's answer");
        ok(0, "byte by byte: no data");
    }
    conn_free(&c);

    /* the client's first application record in the same buffer as its Finished */
    if (to_answer(&c, id)) {
        uint8_t type = 0;
        ssize_t framed;

        memcpy(buf, c.fin, c.fin_len);
        n = c.fin_len;
        SSL_write(c.cli, "get k\r\n", 7);
        n += drain(c.cli, buf + n, sizeof(buf) - n);
        st = tls_hs_continue(c.hs, buf, n, &c.used, c.out, &c.out_len, &c.reason);
        ok(st == TLS_HS_DONE && c.used == c.fin_len && n > c.fin_len,
           "bytes after the Finished: done, only the handshake consumed");
        c.rl = tls_hs_take_record(c.hs);
        framed = tls_record_frame(buf + c.used, n - c.used);
        ok(c.rl != NULL && framed == (ssize_t)(n - c.used) &&
               tls_record_open(c.rl, buf + c.used, (size_t)framed, rec, &type) == 7 &&
               type == TLS_CT_APPLICATION_DATA && memcmp(rec, "get k\r\n", 7) == 0,
           "bytes after the Finished: they open with the application key");
    } else {
        ok(0, "bytes after the Finished: handshake did not reach the client's answer");
        ok(0, "bytes after the Finished: nothing to open");
    }
    conn_free(&c);
}

int main(void)
{
    struct tls_hs_identity *id;
    char cmd[1024];

    if (make_certs() != 0) {
        printf("Bail out! cannot make certificates\n");
        return 1;
    }
    ok(tls_record_setup() && tls_hs_setup(), "record and handshake setup");
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_keylog_callback(cctx, on_keylog);
    id = identity_load(cert_dir, "server", all_suites, 3, 1);
    ok(id != NULL, "identity from the EC P-256 server certificate");
    if (id != NULL) {
        test_identity();
        test_first_record();
        test_suites(id);
        test_key_shares(id);
        test_key_types();
        test_resumption(id);
        test_fallbacks(id);
        test_like_openssl(id);
        test_after_flight(id);
    }
    tls_hs_identity_release(&id);
    SSL_CTX_free(cctx);
    tls_hs_teardown();
    tls_record_teardown();
    printf("1..%d\n", test_num);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work_dir);
    run(cmd);
    return failures == 0 ? 0 : 1;
}

#else /* !TLS */

int main(void)
{
    return tap_skip_all("TLS not compiled in");
}

#endif
