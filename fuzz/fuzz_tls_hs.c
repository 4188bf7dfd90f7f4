/*
 * fuzz_tls_hs.c - libFuzzer target for tls_hs.c, the TLS 1.3 server
 * handshake that runs without OpenSSL's state machine. No sockets: the
 * engine gets byte buffers, as tls.c hands it what it read.
 *
 * Build and run (from the top of a tree configured with TLS):
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I. fuzz/fuzz_tls_hs.c tls_hs.c tls_record.c aes_gcm.c x25519.c \
 *       -lssl -lcrypto -o fuzz/fuzz_tls_hs
 *   ./fuzz/fuzz_tls_hs -max_total_time=600 -max_len=20000 fuzz/work_tls_hs fuzz/corpus_tls_hs
 *   ./fuzz/fuzz_tls_hs -runs=0 fuzz/corpus_tls_hs          # replay: each file once
 *   FUZZ_TLS_HS_SEEDS=fuzz/corpus_tls_hs ./fuzz/fuzz_tls_hs   # (re)write the seeds, then exit
 *
 * An input is a 6-byte header and a payload. Header byte 0: bits 0-1 the
 * mode; bit 2 the identity (set: a certificate above 16 KB, so the flight
 * takes two encrypted records, and in mode 2 the ticket, issued by the
 * other identity, is a stale one); bit 5 "sealed junk" (below); bit 6 the
 * listener context given to tls_hs_start (tickets are issued under context
 * 0); bit 7 "junk first" (below). Byte 1 picks one of the OpenSSL client
 * configurations in `variants` (suites, groups, TLS 1.2 only, SNI, ALPN,
 * max_fragment_length, sigalgs, GREASE-like extensions, an external PSK,
 * ...). Bytes 2..5 seed the chunk sizes.
 *
 *   0  raw: the payload is the client's first record(s): tls_hs_first_record
 *      on it, tls_hs_start on the first record, and after TLS_HS_DONE the
 *      rest of the payload goes to tls_hs_continue.
 *   1  full handshake: a real OpenSSL client (memory BIOs) makes a
 *      ClientHello; the payload is [n] n*4 edit bytes, then junk. The edits
 *      change the ClientHello or the client's second flight (see
 *      apply_edit: xor, set, insert, delete, insert/delete that also fix
 *      the enclosing extension, extensions-block, handshake and record
 *      lengths, add an extension, truncate), so the parser is explored
 *      with mostly valid structure. tls_hs_start answers it; our flight
 *      goes to the client, whose CCS, Finished and one application record
 *      ("ping") go, edited, to tls_hs_continue with the junk after them
 *      (or before them with "junk first").
 *   2  resumption: as 1, but the client offers the ticket this process's
 *      identity issued to the same client configuration at start-up.
 *   3  bytes: a real ClientHello as in 1, then only the junk goes to
 *      tls_hs_continue (no client flight).
 *
 * With "sealed junk" the junk is [inner type][2-byte length][content]...,
 * each sealed as a record under the client's handshake traffic key (taken
 * from the client's key log), so records that authenticate but carry an
 * alert, the wrong message, a Finished that does not verify or only
 * padding reach tls_hs_continue too.
 *
 * tls_hs_continue is driven as tls.c does, with a buffer: every call gets
 * the unconsumed tail plus a chunk of new bytes (1 byte to all of them).
 *
 * Checked on every run (abort() when broken), besides ASan/UBSan/LSan:
 * - tls_hs_first_record: only a length inside the buffer, MORE or
 *   FALLBACK; a prefix of a complete record is MORE, a prefix of a
 *   refused one (header complete) is refused too;
 * - tls_hs_start: FALLBACK leaves out_len == 0 and no handshake; FAIL is a
 *   7-byte plaintext alert and no handshake; DONE sets the handshake and at
 *   most tls_hs_flight_max bytes (out is a heap buffer of exactly that size);
 * - tls_hs_continue: *used <= len; out_len <= TLS_HS_OUT_MAX (exact heap
 *   buffer); MORE writes nothing and leaves only an incomplete record, and
 *   asking again with no new bytes changes nothing; the bytes after *used
 *   are not touched; FAIL gives a reason; DONE only ever follows a real
 *   client's Finished (nobody can forge one);
 * - an unedited ClientHello from a configuration tls_hs.c claims is handled
 *   (is_ours) or not: DONE or FALLBACK as claimed; with its ticket and
 *   context 0 it resumes (and `resumes` configurations, whose only
 *   obstacle was the signature scheme or a foreign PSK after ours, are
 *   handled then); at start-up every is_ours configuration completes a
 *   whole handshake, which is also where its ticket comes from;
 * - the real client accepts our flight for its unedited ClientHello;
 * - whenever the real client accepted our flight and its own flight reaches
 *   us unedited, the handshake completes: suite and resumption agree with
 *   the client, the record after the Finished decrypts to "ping" with the
 *   taken record layer, and the client reads our NewSessionTicket and a
 *   "pong" sealed with it; a FAIL alert sent after the client finished is
 *   read by the client as that alert;
 * - differential: every ClientHello tls_hs_start accepts (edited or raw)
 *   is also given to an OpenSSL server configured as tls.c configures its
 *   own (tls.c falls back to that server for everything tls_hs.c refuses),
 *   which must answer with a TLS 1.3 ServerHello (not an alert, not a
 *   HelloRetryRequest) with the same suite. tls_hs.h promises that OpenSSL
 *   decides every case tls_hs.c does not handle "exactly as it did before,
 *   alerts included"; a ClientHello OpenSSL refuses but tls_hs accepts
 *   breaks that. One exception: when tls_hs resumed one of its own tickets,
 *   OpenSSL (which cannot read them) answers with a full handshake and may
 *   find no signature scheme, which a resumption does not need.
 *   FUZZ_TLS_HS_DIFF=log reports each kind of divergence once (with the
 *   ClientHello in hex) instead of aborting, so a run can go on past a
 *   known one.
 *
 * The certificate is t/gen-certs.sh's EC P-256 server certificate, made in
 * a temporary directory at start-up (the script is found next to the
 * binary, ../t/gen-certs.sh, or in the working directory) and deleted once
 * loaded. The Certificate message is built from it as OpenSSL sends it (and
 * compared once with what an OpenSSL server sends). Rejected: an OpenSSL
 * server as the peer of every run (it is the differential oracle only, for
 * DONE answers: most inputs never get that far and it doubles the cost).
 */
#include "config.h"
#include "tls_hs.h"
#include "tls_record.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HEADER_LEN      6
#define MODE_RAW        0
#define MODE_FULL       1
#define MODE_RESUME     2
#define MODE_BYTES      3
#define FLAG_BIG_CERT   0x04
#define FLAG_SEALED     0x20
#define FLAG_CONTEXT    0x40
#define FLAG_JUNK_FIRST 0x80
#define EDIT_LEN        4
#define EDIT_FLIGHT     0x80 /* edit target: the client's second flight, else the ClientHello */
#define BUF_MAX         (64 * 1024)
#define LIFETIME        7200
#define CH_EXT_AT       (TLS_RECORD_HEADER + 4 + 2 + 32) /* the session id length */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : check_failed(#c, __LINE__))

static void check_failed(const char *what, int line)
{
    fprintf(stderr, "fuzz_tls_hs.c:%d: check failed: %s\n", line, what);
    abort();
}

/* ------------------------------------------------------------ buffers */

struct buf {
    uint8_t *p;
    size_t n;
    size_t cap;
};

static void buf_reserve(struct buf *b, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p != NULL);
    }
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n + 1);
    if (n > 0) {
        memcpy(b->p + b->n, p, n);
    }
    b->n += n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n > 0 ? n : 1);

    CHECK(c != NULL);
    if (n > 0) {
        memcpy(c, p, n);
    }
    return c;
}

static void bio_drain(BIO *b, struct buf *dst)
{
    uint8_t tmp[4096];
    int n;

    while ((n = BIO_read(b, tmp, sizeof(tmp))) > 0) {
        buf_add(dst, tmp, (size_t)n);
    }
}

static uint32_t next_rand(uint32_t *rng)
{
    /* xorshift32: cheap, deterministic for a given input */
    *rng ^= *rng << 13;
    *rng ^= *rng >> 17;
    *rng ^= *rng << 5;
    return *rng;
}

/* A chunk length in 1..max, biased towards small ones. */
static size_t chunk_len(uint32_t *rng, size_t max)
{
    uint32_t x = next_rand(rng);
    size_t cap = (x & 3) == 0 ? max : (x & 1) ? 8 : 512;

    return 1 + (x >> 8) % (cap < max ? cap : max);
}

static size_t rd16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static void wr16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr24(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 16);
    wr16(p + 1, v);
}

/* ------------------------------------------------------------ state made once */

/* Our identities: gen-certs.sh's certificate, and one above 16 KB for the same key. */
static struct tls_hs_identity *ids[2];
static SSL_CTX *server_ctx; /* OpenSSL's server, set up as tls.c sets up its own */
static SSL_SESSION *ext_psk;
static bool is_diff_log;

/* The client's handshake traffic secret, from its key log, to seal records as it would. */
static struct {
    uint8_t secret[TLS_RECORD_SECRET_MAX];
    size_t len;
} client_hs;

static void on_keylog(const SSL *ssl, const char *line)
{
    static const char label[] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET ";
    const char *hex;
    size_t n = 0;

    (void)ssl;
    if (strncmp(line, label, sizeof(label) - 1) != 0 ||
        (hex = strchr(line + sizeof(label) - 1, ' ')) == NULL) {
        return;
    }
    for (hex++; n < sizeof(client_hs.secret) && sscanf(hex, "%2hhx", &client_hs.secret[n]) == 1;
         hex += 2) {
        n++;
    }
    client_hs.len = n;
}

static const uint8_t alpn_protos[] = "\x09memcached\x08http/1.1";

static int grease_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
                      size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
    static const unsigned char zero[1] = {0};

    (void)s, (void)context, (void)x, (void)chainidx, (void)al, (void)arg;
    *out = zero;
    *outlen = type == 0x1a1a ? 1 : 0;
    return 1;
}

static int use_ext_psk(SSL *ssl, const EVP_MD *md, const unsigned char **ident, size_t *ident_len,
                       SSL_SESSION **sess)
{
    static const unsigned char name[] = "fuzz-external-psk";

    (void)ssl, (void)md;
    SSL_SESSION_up_ref(ext_psk);
    *sess = ext_psk;
    *ident = name;
    *ident_len = sizeof(name) - 1;
    return 1;
}

/*
 * Client configurations. is_ours: tls_hs.c handles its unedited
 * ClientHello; resumes: it also handles it with a ticket of ours (a
 * resumption needs no signature, and our ticket comes before a foreign PSK).
 */
enum {
    V_SNI = 1,
    V_ALPN = 2,
    V_STATUS = 4,
    V_GREASE = 8,
    V_PHA = 16,
};

struct variant {
    const char *name;
    bool is_ours;
    bool resumes;
    unsigned flags;
    int max_version;
    const char *suites;
    const char *groups;
    const char *sigalgs;
    uint64_t set_opts;
    uint64_t clear_opts;
    bool has_max_frag;
    bool has_ext_psk;
    bool has_ca_names;
    SSL_CTX *ctx;
    SSL_SESSION *session; /* a ticket our identity issued to this configuration */
};

static struct variant variants[] = {
    {.name = "default", .is_ours = true},
    {.name = "aes128", .is_ours = true, .suites = "TLS_AES_128_GCM_SHA256"},
    {.name = "aes256", .is_ours = true, .suites = "TLS_AES_256_GCM_SHA384"},
    {.name = "chacha", .is_ours = true, .suites = "TLS_CHACHA20_POLY1305_SHA256"},
    {.name = "ccm", .suites = "TLS_AES_128_CCM_SHA256"},
    {.name = "tls12", .max_version = TLS1_2_VERSION},
    {.name = "p256", .groups = "P-256"},
    {.name = "p256_x25519", .groups = "P-256:X25519"},
    {.name = "x25519_p256", .is_ours = true, .groups = "X25519:P-256"},
    {.name = "sni", .is_ours = true, .flags = V_SNI},
    {.name = "alpn", .is_ours = true, .flags = V_ALPN},
    {.name = "max_fragment", .has_max_frag = true},
    {.name = "sigalgs_no_p256",
     .resumes = true,
     .sigalgs = "rsa_pss_rsae_sha256:ed25519:ecdsa_secp384r1_sha384"},
    {.name = "sigalgs_p384_first",
     .is_ours = true,
     .sigalgs = "ecdsa_secp384r1_sha384:ecdsa_secp256r1_sha256"},
    {.name = "grease", .is_ours = true, .flags = V_GREASE},
    {.name = "no_compat", .is_ours = true, .clear_opts = SSL_OP_ENABLE_MIDDLEBOX_COMPAT},
    {.name = "external_psk", .resumes = true, .has_ext_psk = true},
    {.name = "x448_first", .groups = "X448:X25519"},
    {.name = "psk_ke_too", .is_ours = true, .set_opts = SSL_OP_ALLOW_NO_DHE_KEX},
    {.name = "status_request", .is_ours = true, .flags = V_STATUS},
    {.name = "post_handshake_auth", .is_ours = true, .flags = V_PHA},
    {.name = "ca_names", .has_ca_names = true},
    {.name = "kitchen_sink",
     .is_ours = true,
     .flags = V_SNI | V_ALPN | V_STATUS | V_GREASE | V_PHA},
};

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static SSL_CTX *make_client_ctx(const struct variant *v)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    bool ok = ctx != NULL;

    if (!ok) {
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_keylog_callback(ctx, on_keylog);
    if (v->max_version != 0) {
        ok = ok && SSL_CTX_set_max_proto_version(ctx, v->max_version);
    }
    if (v->suites != NULL) {
        ok = ok && SSL_CTX_set_ciphersuites(ctx, v->suites);
    }
    if (v->groups != NULL) {
        ok = ok && SSL_CTX_set1_groups_list(ctx, v->groups);
    }
    if (v->sigalgs != NULL) {
        ok = ok && SSL_CTX_set1_sigalgs_list(ctx, v->sigalgs);
    }
    SSL_CTX_set_options(ctx, v->set_opts);
    SSL_CTX_clear_options(ctx, v->clear_opts);
    if (v->has_max_frag) {
        ok = ok && SSL_CTX_set_tlsext_max_fragment_length(ctx, TLSEXT_max_fragment_length_512);
    }
    if (v->flags & V_ALPN) {
        ok = ok && SSL_CTX_set_alpn_protos(ctx, alpn_protos, sizeof(alpn_protos) - 1) == 0;
    }
    if (v->flags & V_STATUS) {
        ok = ok && SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
    }
    if (v->flags & V_GREASE) {
        ok = ok &&
             SSL_CTX_add_custom_ext(ctx, 0x0a0a, SSL_EXT_CLIENT_HELLO, grease_add, NULL, NULL, NULL,
                                    NULL) &&
             SSL_CTX_add_custom_ext(ctx, 0x1a1a, SSL_EXT_CLIENT_HELLO, grease_add, NULL, NULL, NULL,
                                    NULL);
    }
    if (v->flags & V_PHA) {
        SSL_CTX_set_post_handshake_auth(ctx, 1);
    }
    if (v->has_ext_psk) {
        SSL_CTX_set_psk_use_session_callback(ctx, use_ext_psk);
    }
    if (v->has_ca_names) {
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        X509_NAME *name = X509_NAME_new();
        ok = ok && names != NULL && name != NULL &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA",
                                        -1, -1, 0) &&
             sk_X509_NAME_push(names, name) > 0;
        SSL_CTX_set0_CA_list(ctx, names);
    }
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------ certificate */

static bool run_gen_certs(const char *script, const char *dir)
{
    int status = 0;
    pid_t pid;

    if (access(script, R_OK) != 0) {
        return false;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/bin/sh", "sh", script, dir, (char *)NULL);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
}

/*
 * The TLS 1.3 Certificate message for the certificates in path: type 11,
 * 3-byte length, empty context, 3-byte list length, then per certificate a
 * 3-byte DER length, the DER and no extensions.
 */
static bool build_cert_msg(const char *path, struct buf *msg)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    size_t list_at;

    if (f == NULL) {
        return false;
    }
    buf_add(msg, "\x0b\0\0\0\0\0\0\0", 8);
    list_at = msg->n;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int n = i2d_X509(x, &der);
        uint8_t len[3];
        if (n > 0) {
            wr24(len, (size_t)n);
            buf_add(msg, len, 3);
            buf_add(msg, der, (size_t)n);
            buf_add(msg, "\0\0", 2);
        }
        OPENSSL_free(der);
        X509_free(x);
    }
    fclose(f);
    ERR_clear_error();
    wr24(msg->p + 1, msg->n - 4);
    wr24(msg->p + 5, msg->n - list_at);
    return msg->n > list_at;
}

/* What an OpenSSL server with this context sends as its Certificate message. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    const uint8_t *p = buf;

    (void)version, (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && p[0] == 11 &&
        ((struct buf *)arg)->n == 0) {
        buf_add(arg, buf, len);
    }
}

/* ------------------------------------------------------------ checked calls */

/* tls_hs_first_record and its prefixes. */
static ssize_t first_record_checked(const uint8_t *p, size_t n)
{
    uint8_t *copy = exact_copy(p, n);
    ssize_t w = tls_hs_first_record(copy, n);
    size_t cuts[] = {0, 4, 5, 8, n > 0 ? n - 1 : 0, w > 0 ? (size_t)w - 1 : 0};

    CHECK(w == TLS_HS_MORE || w == TLS_HS_FALLBACK ||
          (w >= TLS_RECORD_HEADER + 4 && (size_t)w <= n &&
           (size_t)w <= TLS_RECORD_HEADER + TLS_RECORD_MAX_PLAIN));
    CHECK(n >= TLS_RECORD_HEADER || w == TLS_HS_MORE);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t k = cuts[i];
        ssize_t r;
        if (k > n || (w > 0 && k >= (size_t)w)) {
            continue;
        }
        r = tls_hs_first_record(copy, k);
        /* the header decides a refusal; a shorter prefix of anything else waits */
        CHECK(r ==
              (k >= TLS_RECORD_HEADER && w == TLS_HS_FALLBACK ? TLS_HS_FALLBACK : TLS_HS_MORE));
    }
    free(copy);
    return w;
}

struct start_result {
    int st;
    struct tls_hs *hs;
    uint8_t *out;
    size_t out_len;
};

/* tls_hs_start on the first record, from an exact heap copy, into an exact heap buffer. */
static void start_checked(struct tls_hs_identity *id, const uint8_t *rec, size_t len,
                          uint8_t context, struct start_result *r)
{
    uint8_t *copy = exact_copy(rec, len);
    const char *reason = NULL;
    size_t flight_max = tls_hs_flight_max(id);

    r->out = malloc(flight_max);
    CHECK(r->out != NULL);
    r->hs = NULL;
    r->out_len = SIZE_MAX;
    r->st = tls_hs_start(id, context, copy, len, &r->hs, r->out, &r->out_len, &reason);
    CHECK(memcmp(copy, rec, len) == 0);
    free(copy);
    switch (r->st) {
    case TLS_HS_FALLBACK:
        CHECK(r->out_len == 0);
        CHECK(r->hs == NULL);
        break;
    case TLS_HS_FAIL:
        CHECK(r->hs == NULL);
        CHECK(reason != NULL && reason[0] != '\0');
        CHECK(r->out_len == 7 && r->out[0] == TLS_CT_ALERT && rd16(r->out + 3) == 2 &&
              r->out[5] == 2);
        break;
    case TLS_HS_DONE:
        CHECK(r->hs != NULL);
        CHECK(r->out_len > 0 && r->out_len <= flight_max);
        CHECK(r->out[0] == TLS_CT_HANDSHAKE);
        break;
    default:
        CHECK(!"tls_hs_start returned something else");
    }
}

static bool is_incomplete_record(const uint8_t *p, size_t n)
{
    return n < TLS_RECORD_HEADER || TLS_RECORD_HEADER + rd16(p + 3) > n;
}

struct cont_result {
    int st;
    size_t done_at;  /* bytes of the input consumed when the status came */
    struct buf out;  /* what the last call wrote */
    struct buf rest; /* the unconsumed bytes at that point (decrypted parts excluded) */
};

/*
 * Feed in to tls_hs_continue as a caller with a buffer would: the unconsumed
 * tail plus a chunk of new bytes each call, until DONE or FAIL, or MORE with
 * the input used up.
 */
static void continue_checked(struct tls_hs *hs, const uint8_t *in, size_t len, uint32_t *rng,
                             struct cont_result *r)
{
    struct buf pend = {0};
    uint8_t *out = malloc(TLS_HS_OUT_MAX);
    size_t off = 0;
    size_t consumed = 0;

    CHECK(out != NULL);
    memset(r, 0, sizeof(*r));
    r->st = TLS_HS_MORE;
    while (off < len) {
        size_t n = chunk_len(rng, len - off);
        uint8_t *b;
        size_t used = SIZE_MAX;
        size_t out_len = SIZE_MAX;
        const char *reason = NULL;

        buf_add(&pend, in + off, n);
        off += n;
        b = exact_copy(pend.p, pend.n);
        r->st = tls_hs_continue(hs, b, pend.n, &used, out, &out_len, &reason);
        CHECK(used <= pend.n);
        CHECK(out_len <= TLS_HS_OUT_MAX);
        /* Only the records consumed are decrypted in place. */
        CHECK(memcmp(b + used, pend.p + used, pend.n - used) == 0);
        consumed += used;
        memmove(pend.p, pend.p + used, pend.n - used);
        pend.n -= used;
        free(b);
        if (r->st == TLS_HS_MORE) {
            CHECK(out_len == 0);
            CHECK(is_incomplete_record(pend.p, pend.n));
            continue;
        }
        CHECK(r->st == TLS_HS_DONE || r->st == TLS_HS_FAIL);
        if (r->st == TLS_HS_FAIL) {
            CHECK(reason != NULL && reason[0] != '\0');
        }
        buf_add(&r->out, out, out_len);
        break;
    }
    if (r->st == TLS_HS_MORE && pend.n > 0) {
        /* Asking again with nothing new changes nothing. */
        uint8_t *b = exact_copy(pend.p, pend.n);
        size_t used = SIZE_MAX;
        size_t out_len = SIZE_MAX;
        const char *reason = NULL;
        int st = tls_hs_continue(hs, b, pend.n, &used, out, &out_len, &reason);
        CHECK(st == TLS_HS_MORE && used == 0 && out_len == 0);
        free(b);
    }
    r->done_at = consumed;
    buf_add(&r->rest, pend.p, pend.n);
    buf_add(&r->rest, in + off, len - off);
    buf_free(&pend);
    free(out);
}

/* ------------------------------------------------------------ the differential check */

static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static void report_divergence(const char *why, unsigned long err, const uint8_t *rec, size_t len,
                              const struct buf *answer)
{
    static unsigned long seen[64];
    static size_t nseen;
    unsigned long key = (unsigned long)(uintptr_t)why ^ err;
    char text[256];

    for (size_t i = 0; i < nseen; i++) {
        if (seen[i] == key) {
            return;
        }
    }
    if (nseen < sizeof(seen) / sizeof(seen[0])) {
        seen[nseen++] = key;
    }
    ERR_error_string_n(err, text, sizeof(text));
    fprintf(stderr,
            "fuzz_tls_hs: tls_hs_start accepted a ClientHello OpenSSL does not: %s (%s)\n"
            "  OpenSSL answered %zu bytes:",
            why, err != 0 ? text : "no error", answer->n);
    for (size_t i = 0; i < answer->n && i < 16; i++) {
        fprintf(stderr, " %02x", answer->p[i]);
    }
    fprintf(stderr, "\n  ClientHello record (%zu bytes): ", len);
    for (size_t i = 0; i < len; i++) {
        fprintf(stderr, "%02x", rec[i]);
    }
    fprintf(stderr, "\n");
    if (!is_diff_log) {
        abort();
    }
}

/* The record tls_hs_start answered with DONE, given to OpenSSL's server instead. */
static void check_openssl_agrees(const uint8_t *rec, size_t len, const struct tls_hs *hs)
{
    SSL *srv = SSL_new(server_ctx);
    BIO *rb = BIO_new(BIO_s_mem());
    BIO *wb = BIO_new(BIO_s_mem());
    struct buf answer = {0};
    const char *why = NULL;
    unsigned long err;
    int rc;

    CHECK(srv != NULL && rb != NULL && wb != NULL);
    SSL_set_bio(srv, rb, wb);
    SSL_set_accept_state(srv);
    CHECK(BIO_write(rb, rec, (int)len) == (int)len);
    rc = SSL_do_handshake(srv);
    err = SSL_get_error(srv, rc) == SSL_ERROR_SSL ? ERR_peek_error() : 0;
    bio_drain(wb, &answer);
    if (rc != 1 && SSL_get_error(srv, rc) != SSL_ERROR_WANT_READ) {
        /*
         * OpenSSL cannot read our tickets, so it answers a resumption with a
         * full handshake, which needs a signature scheme a resumption does not.
         */
        if (!(tls_hs_is_resumed(hs) &&
              ERR_GET_REASON(err) == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM)) {
            why = "OpenSSL refuses it";
        }
    } else if (answer.n < 44 || answer.p[0] != TLS_CT_HANDSHAKE || answer.p[5] != 2) {
        why = "OpenSSL does not answer with a ServerHello";
    } else if (memcmp(answer.p + 11, hrr_random, 32) == 0) {
        why = "OpenSSL answers with a HelloRetryRequest";
    } else if (SSL_version(srv) != TLS1_3_VERSION) {
        why = "OpenSSL negotiates another version";
    } else if (answer.n < 47u + answer.p[43] ||
               rd16(answer.p + 44 + answer.p[43]) != tls_hs_suite(hs)) {
        why = "OpenSSL picks another suite";
    }
    if (why != NULL) {
        report_divergence(why, err, rec, len, &answer);
    }
    buf_free(&answer);
    SSL_free(srv);
    ERR_clear_error();
}

/* ------------------------------------------------------------ mode: raw */

static void run_raw(struct tls_hs_identity *id, const uint8_t *p, size_t n, uint8_t context,
                    uint32_t rng)
{
    ssize_t w = first_record_checked(p, n);
    struct start_result s;
    struct cont_result c;

    if (w <= 0) {
        return;
    }
    start_checked(id, p, (size_t)w, context, &s);
    if (s.st == TLS_HS_DONE) {
        check_openssl_agrees(p, (size_t)w, s.hs);
        continue_checked(s.hs, p + w, n - (size_t)w, &rng, &c);
        CHECK(c.st != TLS_HS_DONE); /* no Finished can be forged */
        buf_free(&c.out);
        buf_free(&c.rest);
    }
    tls_hs_free(&s.hs);
    CHECK(s.hs == NULL);
    free(s.out);
}

/* ------------------------------------------------------------ edits */

/*
 * Offsets in a ClientHello record of the extensions block's length and of
 * the extension that contains off (its type), or 0 when not found.
 */
static size_t ch_exts_at(const struct buf *ch)
{
    size_t at = CH_EXT_AT;

    if (ch->n < at + 1) {
        return 0;
    }
    at += 1 + ch->p[at]; /* session id */
    if (ch->n < at + 2) {
        return 0;
    }
    at += 2 + rd16(ch->p + at); /* suites */
    if (ch->n < at + 1) {
        return 0;
    }
    at += 1 + ch->p[at]; /* compression */
    return ch->n >= at + 2 ? at : 0;
}

static size_t ch_ext_containing(const struct buf *ch, size_t exts_at, size_t off)
{
    size_t at = exts_at + 2;

    while (at + 4 <= ch->n) {
        size_t end = at + 4 + rd16(ch->p + at + 2);
        if (off >= at + 4 && off <= end) {
            return at;
        }
        at = end;
    }
    return 0;
}

/* Add delta to the length fields around off: extension, extensions block, message, record. */
static void ch_fix_lengths(struct buf *ch, size_t off, long delta)
{
    size_t exts_at = ch_exts_at(ch);
    size_t ext_at = exts_at > 0 && off > exts_at + 1 ? ch_ext_containing(ch, exts_at, off) : 0;

    if (ext_at > 0) {
        wr16(ch->p + ext_at + 2, (size_t)((long)rd16(ch->p + ext_at + 2) + delta));
    }
    if (exts_at > 0 && off > exts_at + 1) {
        wr16(ch->p + exts_at, (size_t)((long)rd16(ch->p + exts_at) + delta));
    }
    if (ch->n >= TLS_RECORD_HEADER + 4) {
        wr16(ch->p + 3, ch->n - TLS_RECORD_HEADER);
        wr24(ch->p + 6, ch->n - TLS_RECORD_HEADER - 4);
    }
}

/*
 * One edit: op byte (bit 7 the target, low 3 bits the operation), a 16-bit
 * offset, a value. xor, set, insert, delete; insert and delete that also fix
 * the enclosing lengths (ClientHello only); add an extension of type
 * offset with value bytes of value at the start of the extensions (fixed);
 * truncate.
 */
static void apply_edit(struct buf *b, bool is_ch, const uint8_t *e)
{
    unsigned op = e[0] & 7;
    size_t off = rd16(e + 1);
    uint8_t v = e[3];

    switch (op) {
    case 0:
    case 1:
        if (b->n > 0) {
            off %= b->n;
            b->p[off] = op == 0 ? (uint8_t)(b->p[off] ^ v) : v;
        }
        break;
    case 2:
    case 5:
        if (b->n < BUF_MAX) {
            off %= b->n + 1;
            buf_reserve(b, 1);
            memmove(b->p + off + 1, b->p + off, b->n - off);
            b->p[off] = v;
            b->n++;
            if (op == 5 && is_ch) {
                ch_fix_lengths(b, off, 1);
            }
        }
        break;
    case 3:
    case 6:
        if (b->n > 0) {
            off %= b->n;
            if (op == 6 && is_ch) {
                /* lengths first, while the byte still tells where it is */
                size_t exts_at = ch_exts_at(b);
                size_t ext_at =
                    exts_at > 0 && off > exts_at + 1 ? ch_ext_containing(b, exts_at, off) : 0;
                if (ext_at > 0 && off >= ext_at + 4 + rd16(b->p + ext_at + 2)) {
                    ext_at = 0; /* the first byte after the body is not the body's */
                }
                memmove(b->p + off, b->p + off + 1, b->n - off - 1);
                b->n--;
                if (ext_at > 0) {
                    wr16(b->p + ext_at + 2, rd16(b->p + ext_at + 2) - 1);
                }
                if (exts_at > 0 && off > exts_at + 1) {
                    wr16(b->p + exts_at, rd16(b->p + exts_at) - 1);
                }
                if (b->n >= TLS_RECORD_HEADER + 4) {
                    wr16(b->p + 3, b->n - TLS_RECORD_HEADER);
                    wr24(b->p + 6, b->n - TLS_RECORD_HEADER - 4);
                }
            } else {
                memmove(b->p + off, b->p + off + 1, b->n - off - 1);
                b->n--;
            }
        }
        break;
    case 4:
        if (is_ch && b->n < BUF_MAX) {
            size_t exts_at = ch_exts_at(b);
            size_t add = 4 + (size_t)v;
            if (exts_at == 0) {
                break;
            }
            buf_reserve(b, add);
            memmove(b->p + exts_at + 2 + add, b->p + exts_at + 2, b->n - exts_at - 2);
            wr16(b->p + exts_at + 2, off);
            wr16(b->p + exts_at + 4, v);
            memset(b->p + exts_at + 6, v, v);
            b->n += add;
            wr16(b->p + exts_at, rd16(b->p + exts_at) + add);
            wr16(b->p + 3, b->n - TLS_RECORD_HEADER);
            wr24(b->p + 6, b->n - TLS_RECORD_HEADER - 4);
        }
        break;
    default:
        if (off < b->n) {
            b->n = off;
        }
        break;
    }
}

/* ------------------------------------------------------------ modes with a real client */

struct hs_case {
    const struct variant *v;
    struct tls_hs_identity *id;
    int mode;
    uint8_t context;
    bool is_junk_first;
    bool is_sealed;
    const uint8_t *edits;
    size_t nedits;
    const uint8_t *junk;
    size_t junk_len;
    uint32_t rng;
    /* filled in, for the seed writer */
    struct buf ch;
    struct buf flight;
    struct buf ping;
};

static SSL *client_new(const struct hs_case *c)
{
    SSL *ssl = SSL_new(c->v->ctx);
    BIO *rb = BIO_new(BIO_s_mem());
    BIO *wb = BIO_new(BIO_s_mem());

    CHECK(ssl != NULL && rb != NULL && wb != NULL);
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    if (c->v->flags & V_SNI) {
        CHECK(SSL_set_tlsext_host_name(ssl, "localhost") == 1);
    }
    if (c->mode == MODE_RESUME && c->v->session != NULL) {
        /* a copy: a client that fails or gets an alert marks its session not resumable */
        SSL_SESSION *copy = SSL_SESSION_dup(c->v->session);
        CHECK(copy != NULL && SSL_set_session(ssl, copy) == 1);
        SSL_SESSION_free(copy);
    }
    return ssl;
}

/*
 * Without this, SSL_free of a client that finished a handshake marks its
 * session not resumable (OpenSSL's "bad session" rule), and the session
 * make_sessions keeps would no longer be offered.
 */
static void client_free(SSL *ssl)
{
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
}

/* Give the client bytes; it answers into its write BIO. */
static int client_feed(SSL *ssl, const uint8_t *p, size_t n)
{
    if (n > 0) {
        CHECK(BIO_write(SSL_get_rbio(ssl), p, (int)n) == (int)n);
    }
    return SSL_do_handshake(ssl);
}

/* After a FAIL whose alert went to a client that had finished: it reads that alert. */
static void check_client_reads_alert(SSL *ssl, const struct buf *alert)
{
    uint8_t tmp[16];
    int n;

    ERR_clear_error();
    CHECK(BIO_write(SSL_get_rbio(ssl), alert->p, (int)alert->n) == (int)alert->n);
    n = SSL_read(ssl, tmp, sizeof(tmp));
    CHECK(n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_SSL);
    CHECK(ERR_GET_REASON(ERR_peek_error()) >= SSL_AD_REASON_OFFSET);
    ERR_clear_error();
}

/* After DONE with a client that finished: the record layer and the ticket work. */
static void check_established(SSL *ssl, struct tls_hs *hs, const struct cont_result *c,
                              const struct buf *ping)
{
    struct tls_record *rl = tls_hs_take_record(hs);
    struct iovec iov = {"pong", 4};
    uint8_t sealed[64];
    uint8_t got[16];
    size_t n;
    int r;

    CHECK(rl != NULL);
    CHECK(tls_hs_take_record(hs) == NULL);
    CHECK(tls_hs_suite(hs) == SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(ssl)));
    CHECK(tls_hs_is_resumed(hs) == (SSL_session_reused(ssl) == 1));
    if (ping->n > 0 && c->rest.n >= ping->n && memcmp(c->rest.p, ping->p, ping->n) == 0) {
        uint8_t *rec = exact_copy(ping->p, ping->n);
        uint8_t type = 0;
        ssize_t len = tls_record_open(rl, rec, ping->n, rec + TLS_RECORD_HEADER, &type);
        CHECK(len == 4 && type == TLS_CT_APPLICATION_DATA &&
              memcmp(rec + TLS_RECORD_HEADER, "ping", 4) == 0);
        free(rec);
    }
    n = tls_record_seal(rl, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 4, sealed);
    CHECK(n > 0);
    if (c->out.n > 0) {
        CHECK(BIO_write(SSL_get_rbio(ssl), c->out.p, (int)c->out.n) == (int)c->out.n);
    }
    CHECK(BIO_write(SSL_get_rbio(ssl), sealed, (int)n) == (int)n);
    r = SSL_read(ssl, got, sizeof(got));
    CHECK(r == 4 && memcmp(got, "pong", 4) == 0);
    tls_record_destroy(&rl);
}

/*
 * The junk as records sealed under the client's handshake key (FLAG_SEALED):
 * [inner type][2-byte length][content] each, so the fuzzer reaches what
 * tls_hs_continue does with records that authenticate: alerts, wrong
 * messages, a Finished that does not verify, all-padding records.
 */
static void seal_junk(const uint8_t *p, size_t n, unsigned suite, struct buf *dst)
{
    struct tls_record *rl =
        client_hs.len == tls_record_hash_len(suite) && client_hs.len > 0
            ? tls_record_create(suite, client_hs.secret, client_hs.secret, client_hs.len, 0, 0)
            : NULL;

    if (rl == NULL) {
        buf_add(dst, p, n);
        return;
    }
    while (n >= 3) {
        uint8_t type = p[0];
        size_t len = rd16(p + 1);
        struct iovec iov;
        size_t w;

        p += 3;
        n -= 3;
        len = len < n ? len : n;
        len = len < TLS_RECORD_MAX_PLAIN ? len : TLS_RECORD_MAX_PLAIN;
        iov.iov_base = (void *)p;
        iov.iov_len = len;
        buf_reserve(dst, len + TLS_RECORD_OVERHEAD);
        w = tls_record_seal(rl, type, &iov, 1, 0, len, dst->p + dst->n);
        CHECK(w == len + TLS_RECORD_OVERHEAD);
        dst->n += w;
        p += len;
        n -= len;
    }
    tls_record_destroy(&rl);
}

/* Returns the status of the handshake: the last of start or continue. */
static int run_handshake(struct hs_case *c)
{
    SSL *ssl;
    struct start_result s = {0};
    struct cont_result cr = {0};
    struct buf in = {0};
    struct buf junk = {0};
    bool is_ch_edited = false;
    bool is_flight_edited = false;
    bool is_client_done = false;
    ssize_t w;
    int st;

    client_hs.len = 0;
    ssl = client_new(c);
    CHECK(client_feed(ssl, NULL, 0) <= 0);
    bio_drain(SSL_get_wbio(ssl), &c->ch);
    CHECK(c->ch.n > 0);
    for (size_t i = 0; i < c->nedits; i++) {
        const uint8_t *e = c->edits + i * EDIT_LEN;
        if (!(e[0] & EDIT_FLIGHT)) {
            apply_edit(&c->ch, true, e);
            is_ch_edited = true;
        }
    }
    w = first_record_checked(c->ch.p, c->ch.n);
    if (!is_ch_edited) {
        CHECK(w == (ssize_t)c->ch.n);
    }
    if (w <= 0) {
        client_free(ssl);
        return TLS_HS_FALLBACK;
    }
    start_checked(c->id, c->ch.p, (size_t)w, c->context, &s);
    st = s.st;
    if (!is_ch_edited) {
        /* the tickets are the first identity's; to the second one they are stale */
        bool is_resumable = c->mode == MODE_RESUME && c->context == 0 && c->id == ids[0];
        CHECK(st ==
              (c->v->is_ours || (is_resumable && c->v->resumes) ? TLS_HS_DONE : TLS_HS_FALLBACK));
        if (st == TLS_HS_DONE) {
            CHECK(tls_hs_is_resumed(s.hs) == is_resumable);
        }
    } else if (st == TLS_HS_DONE) {
        check_openssl_agrees(c->ch.p, (size_t)w, s.hs);
    }
    if (st == TLS_HS_FAIL && c->mode != MODE_BYTES) {
        /* a plaintext alert: the client gives up on it */
        CHECK(client_feed(ssl, s.out, s.out_len) <= 0);
    }
    if (st != TLS_HS_DONE) {
        goto out;
    }
    /* the client's bytes after its first record come first, as tls.c holds them */
    buf_add(&in, c->ch.p + w, c->ch.n - (size_t)w);
    is_client_done = client_feed(ssl, s.out, s.out_len) == 1;
    if (!is_ch_edited) {
        CHECK(is_client_done); /* our flight for its own ClientHello: the client accepts it */
    }
    if (c->is_sealed) {
        seal_junk(c->junk, c->junk_len, tls_hs_suite(s.hs), &junk);
    } else {
        buf_add(&junk, c->junk, c->junk_len);
    }
    if (c->mode != MODE_BYTES) {
        bio_drain(SSL_get_wbio(ssl), &c->flight);
        if (is_client_done) {
            CHECK(SSL_write(ssl, "ping", 4) == 4);
            bio_drain(SSL_get_wbio(ssl), &c->ping);
        }
        for (size_t i = 0; i < c->nedits; i++) {
            const uint8_t *e = c->edits + i * EDIT_LEN;
            if (e[0] & EDIT_FLIGHT) {
                apply_edit(&c->flight, false, e);
                is_flight_edited = true;
            }
        }
        if (c->is_junk_first) {
            buf_add(&in, junk.p, junk.n);
        }
        buf_add(&in, c->flight.p, c->flight.n);
        buf_add(&in, c->ping.p, c->ping.n);
    }
    if (c->mode == MODE_BYTES || !c->is_junk_first) {
        buf_add(&in, junk.p, junk.n);
    }
    continue_checked(s.hs, in.p, in.n, &c->rng, &cr);
    st = cr.st;
    if (is_client_done && c->mode != MODE_BYTES && !is_flight_edited &&
        (!c->is_junk_first || junk.n == 0) && c->ch.n == (size_t)w) {
        CHECK(st == TLS_HS_DONE);
    }
    if (st == TLS_HS_DONE) {
        CHECK(is_client_done); /* nobody else can make a Finished that verifies */
        check_established(ssl, s.hs, &cr, &c->ping);
    } else if (st == TLS_HS_FAIL && cr.out.n > 0 && is_client_done) {
        check_client_reads_alert(ssl, &cr.out);
    }
out:
    buf_free(&cr.out);
    buf_free(&cr.rest);
    buf_free(&in);
    buf_free(&junk);
    tls_hs_free(&s.hs);
    CHECK(s.hs == NULL);
    free(s.out);
    client_free(ssl);
    ERR_clear_error();
    return st;
}

static void hs_case_free(struct hs_case *c)
{
    buf_free(&c->ch);
    buf_free(&c->flight);
    buf_free(&c->ping);
}

/* ------------------------------------------------------------ set-up */

static SSL_CTX *make_server_ctx(const char *crt, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    /* as tls.c's ctx_set_protocol, ctx_set_sessions and ctx_load_certs with the defaults */
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_use_certificate_chain_file(ctx, crt) ||
        !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) ||
        !SSL_CTX_check_private_key(ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

/* The Certificate message OpenSSL's server sends, from one in-memory handshake. */
static void capture_openssl_cert_msg(struct buf *msg)
{
    SSL_CTX *cctx = make_client_ctx(&variants[0]);
    SSL *cli = SSL_new(cctx);
    SSL *srv = SSL_new(server_ctx);
    BIO *cb = NULL;
    BIO *sb = NULL;

    CHECK(cli != NULL && srv != NULL && BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
    SSL_set_bio(cli, cb, cb);
    SSL_set_bio(srv, sb, sb);
    SSL_set_msg_callback(srv, on_msg);
    SSL_set_msg_callback_arg(srv, msg);
    SSL_set_connect_state(cli);
    SSL_set_accept_state(srv);
    for (int i = 0; i < 20; i++) {
        int rc = SSL_do_handshake(cli);
        int rs = SSL_do_handshake(srv);
        if (rc == 1 && rs == 1) {
            break;
        }
    }
    SSL_free(srv);
    SSL_free(cli);
    SSL_CTX_free(cctx);
    ERR_clear_error();
}

/*
 * A self-signed certificate for the same key with a 17,000-byte private
 * extension, as a Certificate message: the flight needs two encrypted
 * records, and the client still parses only one certificate.
 */
static void make_big_cert_msg(EVP_PKEY *pkey, struct buf *msg)
{
    static uint8_t filler[17000];
    X509 *x = X509_new();
    ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1);
    X509_EXTENSION *ext = NULL;
    X509_NAME *name;
    unsigned char *der = NULL;
    uint8_t head[11] = {11};
    int n;

    memset(filler, 'x', sizeof(filler));
    CHECK(x != NULL && data != NULL && oid != NULL &&
          ASN1_OCTET_STRING_set(data, filler, sizeof(filler)) == 1);
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, data);
    name = X509_get_subject_name(x);
    CHECK(ext != NULL && X509_add_ext(x, ext, -1) == 1 &&
          ASN1_INTEGER_set(X509_get_serialNumber(x), 2) == 1 &&
          X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
          X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) != NULL &&
          X509_set_pubkey(x, pkey) == 1 &&
          X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                     -1, -1, 0) == 1 &&
          X509_set_issuer_name(x, name) == 1 && X509_sign(x, pkey, EVP_sha256()) > 0);
    n = i2d_X509(x, &der);
    CHECK(n > 0);
    wr24(head + 1, (size_t)n + 11 - 4 + 2);
    wr24(head + 5, (size_t)n + 5);
    wr24(head + 8, (size_t)n);
    buf_add(msg, head, sizeof(head));
    buf_add(msg, der, (size_t)n);
    buf_add(msg, "\0\0", 2);
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(data);
    X509_free(x);
}

static void make_identity(const char *dir)
{
    char crt[512];
    char key[512];
    struct buf msg = {0};
    struct buf big = {0};
    struct buf theirs = {0};
    uint16_t suites[8];
    size_t n = 0;
    STACK_OF(SSL_CIPHER) * ciphers;
    FILE *f;
    EVP_PKEY *pkey;

    snprintf(crt, sizeof(crt), "%s/server_crt.pem", dir);
    snprintf(key, sizeof(key), "%s/server_key.pem", dir);
    server_ctx = make_server_ctx(crt, key);
    CHECK(server_ctx != NULL);
    f = fopen(key, "r");
    CHECK(f != NULL);
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    CHECK(pkey != NULL && build_cert_msg(crt, &msg));
    capture_openssl_cert_msg(&theirs);
    CHECK(theirs.n == msg.n && memcmp(theirs.p, msg.p, msg.n) == 0);
    /* the server's TLS 1.3 suites in its order, as tls.c's identity_build takes them */
    ciphers = SSL_CTX_get_ciphers(server_ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers) && n < 8; i++) {
        uint16_t s = (uint16_t)SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(ciphers, i));
        if ((s & 0xff00) == 0x1300) {
            suites[n++] = s;
        }
    }
    ids[0] = tls_hs_identity_new(pkey, msg.p, msg.n, suites, n, LIFETIME);
    CHECK(ids[0] != NULL && tls_hs_flight_max(ids[0]) >= msg.n);
    make_big_cert_msg(pkey, &big);
    CHECK(big.n > TLS_RECORD_MAX_PLAIN);
    ids[1] = tls_hs_identity_new(pkey, big.p, big.n, suites, n, LIFETIME);
    CHECK(ids[1] != NULL && tls_hs_flight_max(ids[1]) >= big.n);
    EVP_PKEY_free(pkey); /* the identities hold their own references */
    buf_free(&msg);
    buf_free(&big);
    buf_free(&theirs);
}

static void make_ext_psk(void)
{
    static const unsigned char key[32] = {1, 2, 3, 4, 5, 6, 7, 8};
    SSL *tmp = SSL_new(variants[0].ctx);
    const SSL_CIPHER *cipher =
        tmp != NULL ? SSL_CIPHER_find(tmp, (const unsigned char *)"\x13\x01") : NULL;

    ext_psk = SSL_SESSION_new();
    CHECK(ext_psk != NULL && cipher != NULL && SSL_SESSION_set1_master_key(ext_psk, key, 32) &&
          SSL_SESSION_set_cipher(ext_psk, cipher) &&
          SSL_SESSION_set_protocol_version(ext_psk, TLS1_3_VERSION));
    SSL_free(tmp);
}

/* One full handshake per configuration we handle: its ticket, and a self-test. */
static void make_sessions(void)
{
    for (size_t i = 0; i < NVARIANTS; i++) {
        struct variant *v = &variants[i];
        struct hs_case c = {.v = v, .id = ids[0], .mode = MODE_FULL, .rng = 1};
        SSL *ssl;
        struct start_result s;
        struct cont_result cr;

        if (!v->is_ours) {
            continue;
        }
        ssl = client_new(&c);
        CHECK(client_feed(ssl, NULL, 0) <= 0);
        bio_drain(SSL_get_wbio(ssl), &c.ch);
        start_checked(c.id, c.ch.p, c.ch.n, 0, &s);
        CHECK(s.st == TLS_HS_DONE);
        check_openssl_agrees(c.ch.p, c.ch.n, s.hs);
        CHECK(client_feed(ssl, s.out, s.out_len) == 1);
        bio_drain(SSL_get_wbio(ssl), &c.flight);
        c.rng = 0x12345;
        continue_checked(s.hs, c.flight.p, c.flight.n, &c.rng, &cr);
        CHECK(cr.st == TLS_HS_DONE);
        check_established(ssl, s.hs, &cr, &c.ping);
        v->session = SSL_get1_session(ssl);
        CHECK(v->session != NULL && SSL_SESSION_is_resumable(v->session));
        buf_free(&cr.out);
        buf_free(&cr.rest);
        tls_hs_free(&s.hs);
        free(s.out);
        client_free(ssl);
        hs_case_free(&c);
    }
    /* the others offer the default configuration's ticket (when they can) */
    for (size_t i = 0; i < NVARIANTS; i++) {
        if (variants[i].session == NULL) {
            SSL_SESSION_up_ref(variants[0].session);
            variants[i].session = variants[0].session;
        }
    }
    ERR_clear_error();
}

/* ------------------------------------------------------------ seeds */

static void write_seed(const char *dir, const char *name, const uint8_t head[HEADER_LEN],
                       const void *a, size_t alen, const void *b, size_t blen)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(head, 1, HEADER_LEN, f) == HEADER_LEN);
    CHECK(alen == 0 || fwrite(a, 1, alen, f) == alen);
    CHECK(blen == 0 || fwrite(b, 1, blen, f) == blen);
    CHECK(fclose(f) == 0);
}

static size_t find_bytes(const struct buf *b, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i + n <= b->n; i++) {
        if (memcmp(b->p + i, s, n) == 0) {
            return i;
        }
    }
    return 0;
}

static void write_seeds(const char *dir)
{
    static const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    static const uint8_t close_notify[] = {21, 3, 3, 0, 2, 1, 0};
    static const uint8_t fatal[] = {21, 3, 3, 0, 2, 2, 40};
    static const uint8_t plain_hs[] = {22, 3, 3, 0, 8, 20, 0, 0, 4, 1, 2, 3, 4};
    static const uint8_t short_app[] = {23, 3, 3, 0, 5, 1, 2, 3, 4, 5};
    static const uint8_t long_app[] = {23, 3, 3, 0x48, 0x01, 0, 0, 0};
    static const uint8_t huge_hs[] = {22, 3, 3, 0x40, 0x01, 1, 0, 0x3f, 0xfd};
    static const uint8_t sslv2[] = {0x80, 0x2e, 1, 0, 2, 0, 0x15, 0, 0, 0, 0x10};
    static const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";
    struct buf many_ccs = {0};
    char name[128];

    mkdir(dir, 0755);
    for (int i = 0; i < 33; i++) {
        buf_add(&many_ccs, ccs, sizeof(ccs));
    }
    for (size_t i = 0; i < NVARIANTS; i++) {
        struct variant *v = &variants[i];
        struct hs_case c = {.v = v, .id = ids[0], .mode = MODE_FULL, .rng = 7};
        uint8_t head[HEADER_LEN] = {MODE_RAW, (uint8_t)i, 0, 0, 0x10, 0x01};
        struct buf rest = {0};

        run_handshake(&c);
        buf_add(&rest, c.flight.p, c.flight.n);
        buf_add(&rest, c.ping.p, c.ping.n);
        snprintf(name, sizeof(name), "raw_%s", v->name);
        write_seed(dir, name, head, c.ch.p, c.ch.n, rest.p, rest.n);
        head[0] = MODE_FULL;
        snprintf(name, sizeof(name), "full_%s", v->name);
        write_seed(dir, name, head, "", 1, NULL, 0);
        head[0] = MODE_RESUME;
        snprintf(name, sizeof(name), "resume_%s", v->name);
        write_seed(dir, name, head, "", 1, NULL, 0);
        if (i == 0 || v->flags == (V_SNI | V_ALPN | V_STATUS | V_GREASE | V_PHA)) {
            struct hs_case r = {.v = v, .id = ids[0], .mode = MODE_RESUME, .rng = 7};
            uint8_t xor_binder[] = {1, 0, 0, 0, 0x80};
            run_handshake(&r);
            head[0] = MODE_RAW;
            snprintf(name, sizeof(name), "raw_resume_%s", v->name);
            write_seed(dir, name, head, r.ch.p, r.ch.n, NULL, 0);
            wr16(xor_binder + 2, r.ch.n - 1);
            head[0] = MODE_RESUME;
            snprintf(name, sizeof(name), "resume_binder_xor_%s", v->name);
            write_seed(dir, name, head, xor_binder, sizeof(xor_binder), NULL, 0);
            hs_case_free(&r);
        }
        /* Edits aimed at the extensions tls_hs.c reads or skips. */
        {
            size_t at;
            uint8_t e[1 + 2 * EDIT_LEN] = {2};
            head[0] = MODE_FULL;
            if ((at = find_bytes(&c.ch, "localhost")) > 0 && (v->flags & V_ALPN) == 0) {
                uint8_t ins[] = {1, 5, (uint8_t)(at >> 8), (uint8_t)at, 0};
                write_seed(dir, "full_sni_insert_nul", head, ins, sizeof(ins), NULL, 0);
                ins[1] = 6;
                write_seed(dir, "full_sni_delete_byte", head, ins, sizeof(ins), NULL, 0);
            }
            if ((at = find_bytes(&c.ch, "memcached")) > 0 && (v->flags & V_SNI) == 0) {
                uint8_t set[] = {1, 1, (uint8_t)(at >> 8), (uint8_t)at, 'M'};
                write_seed(dir, "full_alpn_rename", head, set, sizeof(set), NULL, 0);
                set[2] = (uint8_t)((at - 1) >> 8), set[3] = (uint8_t)(at - 1), set[4] = 0;
                write_seed(dir, "full_alpn_empty_name", head, set, sizeof(set), NULL, 0);
            }
            if (i == 0) {
                /*
                 * Extensions OpenSSL refuses when malformed or in a
                 * ClientHello at all (value bytes of the value): an OCSP
                 * status_request cut short, post_handshake_auth with a body,
                 * signature_algorithms_cert too short, use_srtp, cryptopro_bug,
                 * then a non-OCSP status_request with early_data.
                 */
                static const struct {
                    const char *name;
                    uint16_t type;
                    uint8_t len;
                } adds[] = {{"full_add_status_ocsp_short", 0x0005, 1},
                            {"full_add_pha_with_body", 0x0031, 1},
                            {"full_add_sigalgs_cert_short", 0x0032, 3},
                            {"full_add_use_srtp", 0x000e, 1},
                            {"full_add_cryptopro_bug", 0xfde8, 0}};
                for (size_t k = 0; k < sizeof(adds) / sizeof(adds[0]); k++) {
                    uint8_t add[] = {1, 4, (uint8_t)(adds[k].type >> 8), (uint8_t)adds[k].type,
                                     adds[k].len};
                    write_seed(dir, adds[k].name, head, add, sizeof(add), NULL, 0);
                }
                e[1] = 4, e[2] = 0, e[3] = 5, e[4] = 3;
                e[5] = 4, e[6] = 0, e[7] = 0x2a, e[8] = 0;
                write_seed(dir, "full_add_status_and_early_data", head, e, 1 + 2 * EDIT_LEN, NULL,
                           0);
            }
        }
        buf_free(&rest);
        hs_case_free(&c);
    }
    {
        uint8_t head[HEADER_LEN] = {MODE_FULL, 0, 0, 0, 0, 3};
        const uint8_t xor_flight[] = {1, EDIT_FLIGHT, 0xff, 0xff, 0x01};
        const uint8_t set_sid_len[] = {1, 1, 0, CH_EXT_AT, 33};
        const uint8_t truncate_ch[] = {1, 7, 0, 60, 0};
        const uint8_t no_edits[] = {0};

        write_seed(dir, "full_flight_xor", head, xor_flight, sizeof(xor_flight), NULL, 0);
        write_seed(dir, "full_session_id_33", head, set_sid_len, sizeof(set_sid_len), NULL, 0);
        write_seed(dir, "full_truncated_hello", head, truncate_ch, sizeof(truncate_ch), NULL, 0);
        write_seed(dir, "full_junk_after", head, no_edits, 1, many_ccs.p, 12);
        head[0] = MODE_RESUME | FLAG_CONTEXT;
        write_seed(dir, "resume_other_context", head, no_edits, 1, NULL, 0);
        head[0] = MODE_FULL | FLAG_JUNK_FIRST;
        write_seed(dir, "first_ccs_33", head, no_edits, 1, many_ccs.p, many_ccs.n);
        write_seed(dir, "first_close_notify", head, no_edits, 1, close_notify,
                   sizeof(close_notify));
        write_seed(dir, "first_fatal_alert", head, no_edits, 1, fatal, sizeof(fatal));
        write_seed(dir, "first_plain_handshake", head, no_edits, 1, plain_hs, sizeof(plain_hs));
        write_seed(dir, "first_short_appdata", head, no_edits, 1, short_app, sizeof(short_app));
        write_seed(dir, "first_long_appdata", head, no_edits, 1, long_app, sizeof(long_app));
        {
            /* for the default suite, TLS_AES_256_GCM_SHA384: a Finished is 4 + 48 bytes */
            uint8_t fin[3 + 4 + 48] = {22, 0, 52, 20, 0, 0, 48};
            uint8_t fin32[3 + 4 + 32] = {22, 0, 36, 20, 0, 0, 32};
            static const uint8_t alert_close[] = {21, 0, 2, 1, 0};
            static const uint8_t alert_fatal[] = {21, 0, 2, 2, 40};
            static const uint8_t app[] = {23, 0, 2, 'h', 'i'};
            static const uint8_t padding[] = {0, 0, 0};
            static const uint8_t key_update[] = {22, 0, 5, 24, 0, 0, 1, 0};
            struct buf two = {0};

            buf_add(&two, fin, sizeof(fin));
            buf_add(&two, app, sizeof(app));
            head[0] = MODE_FULL | FLAG_JUNK_FIRST | FLAG_SEALED;
            write_seed(dir, "sealed_finished_bad_mac", head, no_edits, 1, fin, sizeof(fin));
            write_seed(dir, "sealed_finished_short", head, no_edits, 1, fin32, sizeof(fin32));
            write_seed(dir, "sealed_close_notify", head, no_edits, 1, alert_close,
                       sizeof(alert_close));
            write_seed(dir, "sealed_fatal_alert", head, no_edits, 1, alert_fatal,
                       sizeof(alert_fatal));
            write_seed(dir, "sealed_appdata", head, no_edits, 1, app, sizeof(app));
            write_seed(dir, "sealed_padding_only", head, no_edits, 1, padding, sizeof(padding));
            write_seed(dir, "sealed_key_update", head, no_edits, 1, key_update, sizeof(key_update));
            head[0] = MODE_BYTES | FLAG_SEALED;
            write_seed(dir, "bytes_sealed_finished_then_appdata", head, no_edits, 1, two.p, two.n);
            head[1] = 1; /* TLS_AES_128_GCM_SHA256 */
            write_seed(dir, "bytes_sealed_finished_aes128", head, no_edits, 1, fin32,
                       sizeof(fin32));
            head[1] = 0;
            buf_free(&two);
        }
        head[0] = MODE_FULL | FLAG_BIG_CERT;
        write_seed(dir, "full_big_cert", head, no_edits, 1, NULL, 0);
        head[0] = MODE_RESUME | FLAG_BIG_CERT;
        write_seed(dir, "resume_stale_ticket", head, no_edits, 1, NULL, 0);
        head[0] = MODE_FULL | FLAG_BIG_CERT;
        head[1] = 3; /* ChaCha20 */
        write_seed(dir, "full_big_cert_chacha", head, no_edits, 1, NULL, 0);
        head[1] = 0;
        head[0] = MODE_BYTES;
        write_seed(dir, "bytes_ccs_alert", head, no_edits, 1, many_ccs.p, 6);
        write_seed(dir, "bytes_long_appdata", head, no_edits, 1, long_app, sizeof(long_app));
        write_seed(dir, "bytes_plain_handshake", head, no_edits, 1, plain_hs, sizeof(plain_hs));
        head[0] = MODE_RAW;
        write_seed(dir, "raw_empty", head, NULL, 0, NULL, 0);
        write_seed(dir, "raw_huge_handshake", head, huge_hs, sizeof(huge_hs), NULL, 0);
        write_seed(dir, "raw_sslv2", head, sslv2, sizeof(sslv2), NULL, 0);
        write_seed(dir, "raw_http", head, http, sizeof(http) - 1, NULL, 0);
        write_seed(dir, "raw_ccs", head, ccs, sizeof(ccs), NULL, 0);
    }
    buf_free(&many_ccs);
}

/* ------------------------------------------------------------ entry */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/fuzz-tls-hs-XXXXXX";
    char script[1024];
    const char *seeds = getenv("FUZZ_TLS_HS_SEEDS");
    const char *diff = getenv("FUZZ_TLS_HS_DIFF");
    const char *slash = strrchr((*argv)[0], '/');

    (void)argc;
    is_diff_log = diff != NULL && strcmp(diff, "log") == 0;
    if (slash != NULL) {
        snprintf(script, sizeof(script), "%.*s/../t/gen-certs.sh", (int)(slash - (*argv)[0]),
                 (*argv)[0]);
    } else {
        snprintf(script, sizeof(script), "../t/gen-certs.sh");
    }
    if (mkdtemp(dir) == NULL ||
        (!run_gen_certs(script, dir) && !run_gen_certs("t/gen-certs.sh", dir))) {
        fprintf(stderr, "fuzz_tls_hs: cannot run t/gen-certs.sh into %s\n", dir);
        abort();
    }
    if (!tls_record_setup() || !tls_hs_setup()) {
        fprintf(stderr, "fuzz_tls_hs: setup failed\n");
        abort();
    }
    make_identity(dir);
    remove_dir(dir); /* the files were only needed for the load above */
    for (size_t i = 0; i < NVARIANTS; i++) {
        variants[i].ctx = make_client_ctx(&variants[i]);
        CHECK(variants[i].ctx != NULL);
    }
    make_ext_psk();
    make_sessions();
    if (seeds != NULL) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + HEADER_LEN;
    size_t n;
    uint32_t rng;
    struct hs_case c = {0};

    if (size < HEADER_LEN) {
        return 0;
    }
    n = size - HEADER_LEN;
    rng =
        ((uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 8 | data[5]) | 1;
    if ((data[0] & 3) == MODE_RAW) {
        run_raw(ids[(data[0] & FLAG_BIG_CERT) != 0], p, n, (data[0] & FLAG_CONTEXT) != 0, rng);
        ERR_clear_error();
        return 0;
    }
    c.v = &variants[data[1] % NVARIANTS];
    c.mode = data[0] & 3;
    c.id = ids[(data[0] & FLAG_BIG_CERT) != 0];
    c.context = (data[0] & FLAG_CONTEXT) != 0;
    c.is_junk_first = (data[0] & FLAG_JUNK_FIRST) != 0;
    c.is_sealed = (data[0] & FLAG_SEALED) != 0;
    c.rng = rng;
    if (n > 0) {
        c.nedits = p[0] % 17;
        if (1 + c.nedits * EDIT_LEN > n) {
            c.nedits = (n - 1) / EDIT_LEN;
        }
        c.edits = p + 1;
        c.junk = p + 1 + c.nedits * EDIT_LEN;
        c.junk_len = n - 1 - c.nedits * EDIT_LEN;
    }
    run_handshake(&c);
    hs_case_free(&c);
    return 0;
}
