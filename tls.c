/*
 * tls.c - TLS for the server: the process-wide SSL_CTX, per-connection
 * sessions, the TLS transport, certificate reload and the TLS counters.
 *
 * With tls_hs.c and tls_record.c, the only files that include OpenSSL headers.
 * Connections see a struct transport whose ops are below; the listener sees
 * an opaque session pointer. Built without TLS (configure --disable-tls), the same file
 * compiles to stubs at the bottom, so no other file needs #ifdef TLS.
 *
 * Contexts: one SSL_CTX pointer (and the tls_hs identity made from it),
 * swapped under ctx_lock. A reload builds a
 * complete new context with the same function as startup and validates it
 * (key matches certificate, CA and ciphers load) before the swap, so a bad
 * file never reaches the live context. SSL_new() takes its own reference on
 * the context, so the old one lives exactly as long as its last connection.
 * Rejected: reloading files into the live context (memcached 1.6 does; a
 * mismatched key then leaves it with a certificate and no usable key, and
 * every new handshake fails) and a read-write lock (the lock is taken only to
 * take a reference, for SSL_new and for the swap, all short).
 *
 * Handshake: the listener only allocates the connection (no I/O); the worker
 * drives the handshake as a non-blocking connection state. The common TLS
 * 1.3 handshake is tls_hs.c's (see "our handshake" below); everything else,
 * and listeners that verify client certificates, is SSL_do_handshake()'s.
 * Before any handshake code sees a byte, the first byte is checked: anything
 * but a TLS handshake record (plaintext commands, HTTP, scanners) fails at
 * once. Every failed handshake is counted exactly once, wherever it fails:
 * in either handshake, at the first byte, or when the connection is closed
 * before the handshake finished (timeout, server shutdown).
 *
 * After a TLS 1.3 handshake the connection is handed over to tls_record.c
 * (see "offload" below; our handshake gives it the keys directly): the SSL
 * is freed, and reads and writes go through
 * rl_read/rl_writev, which seal and open records themselves. What follows
 * describes the OpenSSL path (the handshake, TLS 1.2, and anything that is
 * not handed over).
 *
 * Writes: a gather of the caller's iovecs into a per-worker staging buffer
 * of ssl_wbuf_size bytes (thread-local, so it needs no lock and is never
 * shared between threads), then SSL_write. The chunk offered for a given
 * leading byte is a pure function of the caller's bytes, so after a WANT the
 * retry offers the same bytes, as OpenSSL requires. A slice at least a chunk
 * long is written in place without the copy. Rejected: SSL_write per iovec
 * (one TLS record per small reply) and a per-connection buffer (memory per
 * idle connection).
 *
 * Reads: SSL_read into caller memory, with read-ahead: one read(2) takes
 * whatever the socket holds (the reference reads every record header and body
 * separately, two syscalls per request). Bytes OpenSSL holds, decrypted or
 * not, are reported by pending(); conn.c keeps reading while it is non-zero
 * because the socket will not signal them again.
 *
 * Must not depend on: conn, process, storage, libevent.
 */
#include "tls.h"

#include "config.h"
#include "logger.h"
#include "settings.h"
#include "tls_hs.h"
#include "tls_record.h"
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef TLS

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS_RECORD_HANDSHAKE 0x16  /* first byte of a ClientHello record */
#define TLS_DIRECT_CHUNK     16384 /* chunk size when a worker has no staging buffer */

#define RX_IDLE_MAX 32    /* records without data in a row before the peer is cut off */
#define RX_CAP      18432 /* one largest record and then some; a record-buffer size */
#define TX_RECORDS  4     /* records sealed per send(2) after offload */

/*
 * Per-connection state, owned by the listener until handed to a worker.
 * Until the handover (see "offload" below) OpenSSL runs the connection
 * through ssl; afterwards ssl is NULL and rl protects the records, with rx
 * and tx_pend as the only buffers the connection owns, each held only while
 * it has bytes in it.
 */
struct tls_conn {
    SSL *ssl;
    struct tls_record *rl;
    /* Our own handshake (tls_hs.c) while it runs; ssl is NULL until a fallback. */
    struct tls_hs_identity *id;
    struct tls_hs *hs;
    int fd;
    uint8_t kind;        /* enum listen_tls: binds tickets and the session context */
    bool is_more;        /* more records follow the next one: send with MSG_MORE */
    bool is_eof;         /* the socket read returned 0 */
    bool has_peeked;     /* the first byte was checked to be a handshake record */
    bool is_established; /* handshake completed */
    bool is_counted;     /* a handshake failure was already counted */
    bool is_fatal;       /* OpenSSL reported a fatal error: no close_notify */
    /* Handover bookkeeping while OpenSSL runs the connection. */
    bool can_offload; /* TLS 1.3 with a suite tls_record.c handles, secrets known */
    bool has_rekeyed; /* a KeyUpdate went through OpenSSL: the secrets are stale */
    bool is_wblocked; /* OpenSSL holds part of a record after a WANT */
    bool seen_rx_fin; /* records read from now on use the client's traffic key */
    bool seen_tx_fin; /* records written from now on use the server's traffic key */
    uint8_t secrets;  /* bit 0: rx_secret known, bit 1: tx_secret known */
    uint8_t secret_len;
    uint64_t rx_seq; /* records OpenSSL read under the client's traffic key */
    uint64_t tx_seq; /* records OpenSSL wrote under the server's traffic key */
    uint8_t rx_secret[TLS_RECORD_SECRET_MAX];
    uint8_t tx_secret[TLS_RECORD_SECRET_MAX];
    /* After the handover. */
    bool is_closed;       /* close_notify received: reads return 0 */
    bool is_tx_owed;      /* the last byte sealed was not reported written yet */
    bool is_update_due;   /* the peer asked for our KeyUpdate */
    uint16_t max_plain;   /* largest record content we send: max_fragment_length */
    uint8_t idle_records; /* records in a row that carried no data (empty, KeyUpdate, ...) */
    uint8_t *rx;          /* RX_CAP bytes: [pt_off, +pt_len) plaintext, then ciphertext */
    uint32_t rx_pt_off;   /* plaintext decrypted in place, not yet delivered */
    uint32_t rx_pt_len;
    uint32_t rx_ct_off; /* ciphertext not yet decrypted */
    uint32_t rx_ct_len;
    uint8_t *tx_pend; /* sealed but unsent ciphertext (only under backpressure) */
    size_t tx_pend_off;
    size_t tx_pend_len;
};

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *live_ctx; /* guarded by ctx_lock */
/* What tls_hs.c handshakes with, made from live_ctx; NULL when it cannot. Guarded by ctx_lock. */
static struct tls_hs_identity *live_id;
static int64_t loaded_at; /* monotonic ns of the last successful load; atomic */

static BIO_METHOD *sock_method; /* our socket BIO; created once in tls_setup */

static bool is_offload_on = true; /* false when the startup self-test failed */
static bool is_fast_on = true;    /* our own handshake; false when its self-test failed */
static bool is_selftest;          /* the self-test's connection is not logged */
static void offload_selftest(SSL_CTX *ctx);
static void fast_selftest(void);

static uint64_t handshake_errors; /* atomic */
static uint64_t proto_errors;     /* atomic */
static uint64_t new_sessions;     /* atomic */

/* The worker's write staging buffer; thread-local, so only its owner sees it. */
static __thread char *wbuf;
static __thread size_t wbuf_cap;
/* The worker's sealing buffer for offloaded connections: TX_RECORDS records. */
static __thread uint8_t *txbuf;
static __thread size_t txbuf_cap;

static int64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void counter_incr(uint64_t *c)
{
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/*
 * SSL_get_error() needs an empty error queue before each I/O call. Every
 * error path below empties it, so it is almost always empty already: peeking
 * is a few loads, while ERR_clear_error() resets all 16 slots every time
 * (2-4 % of a small TLS request in perf).
 */
static void err_reset(void)
{
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

/*
 * The earliest queued OpenSSL error names the root cause (for a missing file
 * it is the errno from fopen, the later ones only say "system lib").
 */
static void openssl_reason(char *out, size_t cap)
{
    unsigned long e = ERR_get_error();

    if (e == 0) {
        snprintf(out, cap, "unknown error");
    } else {
        ERR_error_string_n(e, out, cap);
    }
    ERR_clear_error();
}

/* "what: path : reason" in memcached's wording, so scripts matching it keep working. */
static bool fail_load(char *err, size_t errlen, const char *what, const char *path)
{
    char reason[256];

    openssl_reason(reason, sizeof(reason));
    if (path != NULL) {
        snprintf(err, errlen, "%s: %s : %s", what, path, reason);
    } else {
        snprintf(err, errlen, "%s : %s", what, reason);
    }
    return false;
}

/* ------------------------------------------------------------------ record buffers */

/*
 * With SSL_MODE_RELEASE_BUFFERS (so that idle connections hold no record
 * buffer) OpenSSL frees its ~17 KB read and write buffers after each record
 * and allocates them again for the next: a malloc/free pair of a large block
 * per request and direction, about 8 % of the instructions of a small TLS
 * request under callgrind. OpenSSL's allocations go through the functions
 * below, which keep a few freed blocks of that size per thread and hand them
 * out again. Everything else goes straight to malloc. The cache is bounded
 * (BUFCACHE_MAX blocks per thread) and drained at thread exit.
 * Rejected: dropping SSL_MODE_RELEASE_BUFFERS (about 34 KB more per idle
 * connection) and freeing the buffers from the sweep (idle memory would then
 * depend on timing).
 */
#define BUFCACHE_MAX   8
#define BUFCACHE_MIN   16384 /* record buffers: 16 KB plus headers and overhead */
#define BUFCACHE_SLACK 512   /* a cached block may be this much larger than asked */
/*
 * Larger blocks are not record buffers. The slack matters: the usable size
 * of an RX_CAP (18432-byte) block is 18440, and a bound of exactly 18432 kept
 * every read buffer out of the cache (a malloc and a free per request).
 */
#define BUFCACHE_MAX_SIZE (18432 + BUFCACHE_SLACK)

static __thread void *bufcache[BUFCACHE_MAX];
static __thread size_t bufcache_size[BUFCACHE_MAX]; /* malloc_usable_size() of each */
static __thread int bufcache_len;

static bool is_record_size(size_t n)
{
    return n >= BUFCACHE_MIN && n <= BUFCACHE_MAX_SIZE;
}

static void *mem_alloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (is_record_size(n)) {
        for (int i = bufcache_len - 1; i >= 0; i--) {
            size_t have = bufcache_size[i];
            if (have >= n && have <= n + BUFCACHE_SLACK) {
                void *p = bufcache[i];
                bufcache_len--;
                bufcache[i] = bufcache[bufcache_len];
                bufcache_size[i] = bufcache_size[bufcache_len];
                return p;
            }
        }
    }
    return malloc(n);
}

static void *mem_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return realloc(p, n);
}

static void mem_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (p != NULL && bufcache_len < BUFCACHE_MAX) {
        size_t have = malloc_usable_size(p);

        if (is_record_size(have)) {
            bufcache_size[bufcache_len] = have;
            bufcache[bufcache_len++] = p;
            return;
        }
    }
    free(p);
}

/* Free the calling thread's cached blocks. */
static void bufcache_drain(void)
{
    while (bufcache_len > 0) {
        free(bufcache[--bufcache_len]);
    }
}

/*
 * Only possible before OpenSSL's first allocation; when something already
 * allocated (a library that used OpenSSL first), it fails and we do without.
 */
static void mem_setup(void)
{
    static bool is_done;

    if (!is_done) {
        is_done = true;
        if (!CRYPTO_set_mem_functions(mem_alloc, mem_realloc, mem_free)) {
            LOG_VERBOSE("OpenSSL allocated memory already; record buffers are not cached");
        }
    }
}

/* ------------------------------------------------------------------ socket BIO */

/*
 * OpenSSL's socket BIO writes with write(2). Ours sends with send(2), for
 * two reasons. The records of one gathered reply after the first go out with
 * MSG_MORE, so the kernel builds full-size segments instead of pushing every
 * 16 KB record on its own (a 100 KB value is 7 records, and on loopback each
 * push also runs the receiver's softirq work on our CPU). And MSG_NOSIGNAL
 * turns a write to a reset peer into EPIPE without raising SIGPIPE. Kernel
 * TLS needs OpenSSL's own socket BIO, so ssl_kernel_tls keeps that one.
 * Rejected: collecting the ciphertext of several records in user space and
 * writing it at once (one more copy of every byte, and ciphertext held per
 * connection across a WANT_WRITE, which the transport contract cannot report).
 */
static int sock_write(BIO *b, const char *data, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    int flags = MSG_NOSIGNAL | (tc->is_more ? MSG_MORE : 0);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do {
        n = send(tc->fd, data, (size_t)len, flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        BIO_set_retry_write(b);
    }
    return (int)n;
}

static void rx_release_if_empty(struct tls_conn *tc);

static int sock_read(BIO *b, char *buf, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    /* Bytes read before our handshake handed the connection to OpenSSL come first. */
    if (tc->rx != NULL && tc->rx_ct_len > 0 && len > 0) {
        size_t take = tc->rx_ct_len < (size_t)len ? tc->rx_ct_len : (size_t)len;
        memcpy(buf, tc->rx + tc->rx_ct_off, take);
        tc->rx_ct_off += (uint32_t)take;
        tc->rx_ct_len -= (uint32_t)take;
        rx_release_if_empty(tc);
        return (int)take;
    }
    do {
        n = read(tc->fd, buf, (size_t)len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        BIO_set_retry_read(b);
    } else if (n == 0) {
        tc->is_eof = true; /* BIO_CTRL_EOF: lets OpenSSL tell EOF from an error */
    }
    return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    const struct tls_conn *tc = BIO_get_data(b);

    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return tc->is_eof;
    case BIO_C_GET_FD:
        if (ptr != NULL) {
            *(int *)ptr = tc->fd;
        }
        return tc->fd;
    default:
        return 0;
    }
}

static bool sock_method_setup(void)
{
    if (sock_method != NULL) {
        return true;
    }
    sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                               "memcached socket");
    if (sock_method == NULL || !BIO_meth_set_write(sock_method, sock_write) ||
        !BIO_meth_set_read(sock_method, sock_read) || !BIO_meth_set_ctrl(sock_method, sock_ctrl)) {
        BIO_meth_free(sock_method); /* NULL-safe */
        sock_method = NULL;
        return false;
    }
    return true;
}

/* Connect tc->ssl to tc->fd through our BIO (or OpenSSL's, for kernel TLS). */
static bool attach_socket(struct tls_conn *tc)
{
    BIO *b;

    if (settings->ssl_kernel_tls || sock_method == NULL) {
        return SSL_set_fd(tc->ssl, tc->fd) == 1;
    }
    b = BIO_new(sock_method);
    if (b == NULL) {
        return false;
    }
    BIO_set_data(b, tc);
    BIO_set_init(b, 1);
    SSL_set_bio(tc->ssl, b, b); /* one reference, owned by the SSL from now on */
    return true;
}

/* ------------------------------------------------------------------ context */

/*
 * The traffic secrets, for the handover to tls_record.c. OpenSSL 3.0 has no
 * other way to hand them out (kernel TLS offload reads them internally);
 * only the two application secrets are kept, and only until the handover.
 */
static void on_keylog(const SSL *ssl, const char *line)
{
    struct tls_conn *tc = SSL_get_app_data(ssl);
    static const char rx_label[] = "CLIENT_TRAFFIC_SECRET_0 ";
    static const char tx_label[] = "SERVER_TRAFFIC_SECRET_0 ";
    const char *hex = strrchr(line, ' ');
    uint8_t *dst;
    uint8_t bit;
    size_t n;

    if (tc == NULL || hex == NULL) {
        return;
    }
    if (strncmp(line, rx_label, sizeof(rx_label) - 1) == 0) {
        dst = tc->rx_secret;
        bit = 1;
    } else if (strncmp(line, tx_label, sizeof(tx_label) - 1) == 0) {
        dst = tc->tx_secret;
        bit = 2;
    } else {
        return;
    }
    hex++;
    n = strlen(hex) / 2;
    if (n == 0 || n > TLS_RECORD_SECRET_MAX || (tc->secret_len != 0 && n != tc->secret_len)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
        int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return;
        }
        dst[i] = (uint8_t)(hi << 4 | lo);
    }
    tc->secret_len = (uint8_t)n;
    tc->secrets |= bit;
}

/*
 * Counts the records each side protected with its traffic key, which the
 * handover needs as sequence numbers (OpenSSL does not expose them). Every
 * record header after a side's Finished is under that key: in TLS 1.3 the
 * Finished message is the last one under the handshake key.
 */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct tls_conn *tc = arg;
    const uint8_t *p = buf;

    (void)version;
    (void)ssl;
    if (content_type == SSL3_RT_HEADER) {
        if (write_p && tc->seen_tx_fin) {
            tc->tx_seq++;
        } else if (!write_p && tc->seen_rx_fin) {
            tc->rx_seq++;
        }
    } else if (content_type == SSL3_RT_HANDSHAKE && len > 0) {
        if (p[0] == SSL3_MT_FINISHED) {
            *(write_p ? &tc->seen_tx_fin : &tc->seen_rx_fin) = true;
        } else if (p[0] == SSL3_MT_KEY_UPDATE) {
            tc->has_rekeyed = true;
        }
    }
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    counter_incr(&new_sessions);
    return 0; /* we keep no reference: OpenSSL's cache owns the session */
}

/*
 * With the cache, resumption is stateful (session IDs and, in TLS 1.3, one
 * ticket that names a cached session), so every new session passes the
 * callback and is counted. Without it, as memcached, stateless tickets still
 * let a client resume; one ticket instead of OpenSSL's two, because a client
 * resumes with the newest. A reload starts a new cache and new ticket keys,
 * so nobody resumes a session made with the old certificate.
 */
static void ctx_set_sessions(SSL_CTX *ctx)
{
    SSL_CTX_set_num_tickets(ctx, 1);
    if (settings->ssl_session_cache) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
}

static bool ctx_set_protocol(SSL_CTX *ctx, char *err, size_t errlen)
{
    uint64_t opts = SSL_OP_NO_RENEGOTIATION;

#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A client that closes without close_notify has simply gone away. */
    opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
#ifdef SSL_OP_ENABLE_KTLS
    if (settings->ssl_kernel_tls) {
        opts |= SSL_OP_ENABLE_KTLS;
    }
#endif
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /*
     * One read(2) brings whole records, often several, instead of a 5-byte
     * header read and a body read per record. The bytes read ahead are
     * reported by pending() (SSL_has_pending), so none is left waiting for a
     * socket event that will not come.
     */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (!settings->ssl_kernel_tls) {
        SSL_CTX_set_keylog_callback(ctx, on_keylog);
    }
    if (!SSL_CTX_set_min_proto_version(ctx, settings->ssl_min_version)) {
        return fail_load(err, errlen, "Error setting the minimum TLS version", NULL);
    }
    if (settings->ssl_ciphers != NULL && !SSL_CTX_set_cipher_list(ctx, settings->ssl_ciphers)) {
        return fail_load(err, errlen, "Error setting the provided cipher(s)",
                         settings->ssl_ciphers);
    }
    if (settings->ssl_ciphersuites != NULL &&
        !SSL_CTX_set_ciphersuites(ctx, settings->ssl_ciphersuites)) {
        return fail_load(err, errlen, "Error setting the provided ciphersuite(s)",
                         settings->ssl_ciphersuites);
    }
    ctx_set_sessions(ctx);
    return true;
}

static bool ctx_load_ca(SSL_CTX *ctx, char *err, size_t errlen)
{
    const char *ca = settings->ssl_ca_cert;
    STACK_OF(X509_NAME) * names;

    if (ca == NULL) {
        return true;
    }
    if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
        return fail_load(err, errlen, "Error loading the CA certificate", ca);
    }
    /* Sent in the CertificateRequest so a client can pick the right certificate. */
    names = SSL_load_client_CA_file(ca);
    if (names == NULL) {
        return fail_load(err, errlen, "Error loading the CA certificate", ca);
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    return true;
}

static bool ctx_load_certs(SSL_CTX *ctx, char *err, size_t errlen)
{
    const char *chain = settings->ssl_chain_cert;
    /* memcached: the key may live in the chain file when ssl_key is not given. */
    const char *key = settings->ssl_key != NULL ? settings->ssl_key : chain;

    if (chain == NULL) {
        snprintf(err, errlen, "Error loading the certificate chain: no ssl_chain_cert given");
        return false;
    }
    if (!SSL_CTX_use_certificate_chain_file(ctx, chain)) {
        return fail_load(err, errlen, "Error loading the certificate chain", chain);
    }
    if (!SSL_CTX_use_PrivateKey_file(ctx, key, settings->ssl_keyformat)) {
        return fail_load(err, errlen, "Error loading the key", key);
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        return fail_load(err, errlen, "Error validating the certificate", chain);
    }
    return ctx_load_ca(ctx, err, errlen);
}

/* A complete, validated context from the settings, or NULL with err filled. */
static SSL_CTX *ctx_build(char *err, size_t errlen)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        fail_load(err, errlen, "Error creating the SSL context", NULL);
        return NULL;
    }
    if (!ctx_set_protocol(ctx, err, errlen) || !ctx_load_certs(ctx, err, errlen)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------ our handshake's identity */

/*
 * tls_hs.c sends the Certificate message OpenSSL would send, byte for byte
 * (the chain file's certificates, or the chain OpenSSL builds from the CA
 * store). Rather than rebuild OpenSSL's chain logic, one handshake between
 * the context and a throwaway client runs in memory when the context is
 * made, and the message is taken from it.
 */
struct cert_capture {
    uint8_t *msg;
    size_t len;
};

static void on_cert_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                        SSL *ssl, void *arg)
{
    struct cert_capture *cap = arg;
    const uint8_t *p = buf;

    (void)version;
    (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len >= 4 && p[0] == SSL3_MT_CERTIFICATE &&
        cap->msg == NULL && ((size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) == len - 4) {
        cap->msg = OPENSSL_memdup(buf, len);
        cap->len = cap->msg != NULL ? len : 0;
    }
}

static bool capture_handshake(SSL *cli, SSL *srv)
{
    for (int i = 0; i < 20; i++) {
        int c = SSL_do_handshake(cli);
        int s = SSL_do_handshake(srv);
        if (c == 1 && s == 1) {
            return true;
        }
        if ((c != 1 && SSL_get_error(cli, c) != SSL_ERROR_WANT_READ) ||
            (s != 1 && SSL_get_error(srv, s) != SSL_ERROR_WANT_READ)) {
            return false;
        }
    }
    return false;
}

static bool capture_cert_msg(SSL_CTX *ctx, struct cert_capture *cap)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *cli = cctx != NULL ? SSL_new(cctx) : NULL;
    SSL *srv = SSL_new(ctx);
    BIO *cb = NULL;
    BIO *sb = NULL;
    bool is_ok = false;

    if (cli != NULL && srv != NULL && SSL_set_min_proto_version(cli, TLS1_3_VERSION) &&
        BIO_new_bio_pair(&cb, 0, &sb, 0)) {
        SSL_set_bio(cli, cb, cb);
        SSL_set_bio(srv, sb, sb);
        SSL_set_msg_callback(srv, on_cert_msg);
        SSL_set_msg_callback_arg(srv, cap);
        SSL_set_connect_state(cli);
        SSL_set_accept_state(srv);
        is_ok = capture_handshake(cli, srv) && cap->msg != NULL;
    }
    SSL_free(srv);
    SSL_free(cli);
    SSL_CTX_free(cctx);
    ERR_clear_error();
    return is_ok;
}

/* The identity for ctx, or NULL when our handshake cannot serve it (OpenSSL then does). */
static struct tls_hs_identity *identity_build(SSL_CTX *ctx)
{
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    struct cert_capture cap = {NULL, 0};
    struct tls_hs_identity *id = NULL;
    uint16_t suites[8];
    size_t n = 0;

    /* With a session cache OpenSSL does every handshake (and the capture would count a session). */
    if (!is_offload_on || !is_fast_on || settings->ssl_kernel_tls || sock_method == NULL ||
        settings->ssl_session_cache) {
        return NULL;
    }
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers) && n < 8; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
        uint16_t id16 = (uint16_t)SSL_CIPHER_get_protocol_id(c);
        if ((id16 & 0xff00) == 0x1300) { /* TLS 1.3 suites: TLS_AES_*, TLS_CHACHA20_* */
            suites[n++] = id16;
        }
    }
    if (n > 0 && capture_cert_msg(ctx, &cap)) {
        id = tls_hs_identity_new(SSL_CTX_get0_privatekey(ctx), cap.msg, cap.len, suites, n,
                                 (uint32_t)SSL_CTX_get_timeout(ctx));
    }
    OPENSSL_free(cap.msg);
    ERR_clear_error();
    return id;
}

static void identity_install(struct tls_hs_identity *id)
{
    struct tls_hs_identity *old;

    pthread_mutex_lock(&ctx_lock);
    old = live_id;
    live_id = id;
    pthread_mutex_unlock(&ctx_lock);
    tls_hs_identity_release(&old); /* NULL-safe */
}

/* Install ctx (and its identity) as live; the old ones are freed with their last connection. */
static void ctx_swap(SSL_CTX *ctx, struct tls_hs_identity *id)
{
    SSL_CTX *old;
    struct tls_hs_identity *old_id;

    pthread_mutex_lock(&ctx_lock);
    old = live_ctx;
    old_id = live_id;
    live_ctx = ctx;
    live_id = id;
    __atomic_store_n(&loaded_at, monotonic_ns(), __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ctx_lock);
    tls_hs_identity_release(&old_id); /* NULL-safe */
    if (old != NULL) {
        SSL_CTX_free(old);
    }
}

static bool has_mutual_listener(void)
{
    for (int i = 0; i < settings->nlisten; i++) {
        if (settings->listen[i].tls == LISTEN_TLS_MUTUAL) {
            return true;
        }
    }
    return false;
}

bool tls_available(void)
{
    return true;
}

bool tls_setup(char *err, size_t errlen)
{
    SSL_CTX *ctx;

    if (has_mutual_listener() && settings->ssl_ca_cert == NULL) {
        snprintf(err, errlen,
                 "an mtls: listener needs -o ssl_ca_cert to verify client certificates");
        return false;
    }
#ifndef SSL_OP_ENABLE_KTLS
    if (settings->ssl_kernel_tls) {
        LOG_WARN("ssl_kernel_tls: this OpenSSL has no kernel TLS support; ignored");
    }
#endif
    mem_setup();
    if (!tls_record_setup()) {
        LOG_VERBOSE("TLS 1.3 records stay in OpenSSL: HMAC is not available");
    }
    if (!tls_hs_setup()) {
        is_fast_on = false;
        LOG_VERBOSE("TLS handshakes stay in OpenSSL: SHA-2 or AES-GCM is not available");
    }
    if (!settings->ssl_kernel_tls && !sock_method_setup()) {
        snprintf(err, errlen, "Error creating the TLS socket BIO method");
        return false;
    }
    ctx = ctx_build(err, errlen);
    if (ctx == NULL) {
        return false;
    }
    ctx_swap(ctx, NULL);
    offload_selftest(ctx);
    identity_install(identity_build(ctx));
    fast_selftest();
    return true;
}

void tls_teardown(void)
{
    pthread_mutex_lock(&ctx_lock);
    SSL_CTX_free(live_ctx); /* NULL-safe */
    live_ctx = NULL;
    tls_hs_identity_release(&live_id);
    pthread_mutex_unlock(&ctx_lock);
    BIO_meth_free(sock_method); /* NULL-safe; every connection is closed by now */
    sock_method = NULL;
    tls_record_teardown();
    tls_hs_teardown();
    bufcache_drain();
}

bool tls_refresh_certs(char *err, size_t errlen)
{
    SSL_CTX *ctx;
    bool is_live;

    pthread_mutex_lock(&ctx_lock);
    is_live = live_ctx != NULL;
    pthread_mutex_unlock(&ctx_lock);
    if (!is_live) {
        snprintf(err, errlen, "Error TLS not enabled");
        return false;
    }
    ctx = ctx_build(err, errlen);
    if (ctx == NULL) {
        LOG_WARN("certificate reload failed, still serving the previous certificate: %s", err);
        return false;
    }
    ctx_swap(ctx, identity_build(ctx));
    LOG_INFO("certificates reloaded from %s", settings->ssl_chain_cert);
    return true;
}

void tls_stats_snapshot(struct tls_stats *out)
{
    /* Whole seconds elapsed, not a difference of truncated seconds. */
    int64_t since = (monotonic_ns() - __atomic_load_n(&loaded_at, __ATOMIC_RELAXED)) / 1000000000;

    out->ssl_handshake_errors = __atomic_load_n(&handshake_errors, __ATOMIC_RELAXED);
    out->ssl_proto_errors = __atomic_load_n(&proto_errors, __ATOMIC_RELAXED);
    out->ssl_new_sessions = __atomic_load_n(&new_sessions, __ATOMIC_RELAXED);
    out->time_since_server_cert_refresh = since > 0 ? (uint64_t)since : 0;
}

/* ------------------------------------------------------------------ sessions */

/* memcached's ssl_verify_mode values, and the two listener kinds that override them. */
static int verify_flags(enum listen_tls kind)
{
    switch (kind) {
    case LISTEN_TLS_MUTUAL:
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case LISTEN_TLS_BASIC:
        return SSL_VERIFY_NONE;
    default:
        break;
    }
    switch (settings->ssl_verify_mode) {
    case 1:
        return SSL_VERIFY_PEER;
    case 2:
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case 3: /* memcached's "once" also requires the certificate */
        return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    default:
        return SSL_VERIFY_NONE;
    }
}

/*
 * Sessions resume only on the same kind of listener: a session made on a
 * btls: port (no client certificate) must not resume on an mtls: port, and
 * OpenSSL refuses to resume under a different session ID context. A verifying
 * server also needs a context set, or every resumption attempt fails.
 */
static void set_session_context(SSL *ssl, enum listen_tls kind)
{
    char sid[32];
    int n = snprintf(sid, sizeof(sid), "memcached-tls/%d", (int)kind);

    SSL_set_session_id_context(ssl, (const unsigned char *)sid, (unsigned int)n);
}

/* Run the connection through ssl (which tc takes over; NULL fails). */
static bool ssl_attach(struct tls_conn *tc, SSL *ssl)
{
    tc->ssl = ssl;
    if (ssl == NULL || !attach_socket(tc)) {
        ERR_clear_error();
        return false;
    }
    SSL_set_verify(tc->ssl, verify_flags((enum listen_tls)tc->kind), NULL);
    set_session_context(tc->ssl, (enum listen_tls)tc->kind);
    if (!settings->ssl_kernel_tls) {
        SSL_set_app_data(tc->ssl, tc);
        SSL_set_msg_callback(tc->ssl, on_msg);
        SSL_set_msg_callback_arg(tc->ssl, tc);
    }
    SSL_set_accept_state(tc->ssl);
    return true;
}

/* An SSL from the live context; NULL when there is none (or no memory). */
static SSL *ssl_new_live(void)
{
    SSL *ssl = NULL;

    pthread_mutex_lock(&ctx_lock);
    if (live_ctx != NULL) {
        ssl = SSL_new(live_ctx);
    }
    pthread_mutex_unlock(&ctx_lock);
    return ssl;
}

/*
 * A session over fd: with our own handshake when the live context has an
 * identity and the listener needs no client certificate (tls_hs.c does not
 * ask for one) and no server-side session cache; else around an SSL.
 */
static struct tls_conn *session_new(int fd, enum listen_tls kind, SSL_CTX *ctx)
{
    struct tls_conn *tc = calloc(1, sizeof(*tc));
    bool is_fast =
        ctx == NULL && verify_flags(kind) == SSL_VERIFY_NONE && !settings->ssl_session_cache;

    if (tc == NULL) {
        return NULL;
    }
    tc->fd = fd;
    tc->kind = (uint8_t)kind;
    if (is_fast) {
        pthread_mutex_lock(&ctx_lock);
        if (live_id != NULL) {
            tc->id = live_id;
            tls_hs_identity_hold(tc->id);
        }
        pthread_mutex_unlock(&ctx_lock);
    }
    if (tc->id == NULL && !ssl_attach(tc, ctx != NULL ? SSL_new(ctx) : ssl_new_live())) {
        tls_session_destroy(tc);
        return NULL;
    }
    return tc;
}

void *tls_session_create(int fd, enum listen_tls kind)
{
    ERR_clear_error();
    return session_new(fd, kind, NULL);
}

void tls_session_destroy(void *session)
{
    struct tls_conn *tc = session;

    if (tc != NULL) {
        SSL_free(tc->ssl); /* NULL-safe */
        tls_hs_free(&tc->hs);
        tls_hs_identity_release(&tc->id);
        tls_record_destroy(&tc->rl);
        mem_free(tc->rx, NULL, 0); /* NULL-safe */
        free(tc->tx_pend);
        OPENSSL_cleanse(tc, sizeof(*tc));
        free(tc);
    }
}

/* ------------------------------------------------------------------ transport */

/* "127.0.0.1:5555" or "[::1]:5555" for logs. */
static void peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";

    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "unknown peer");
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(out, cap, "local peer");
    }
}

/*
 * The one place OpenSSL results become IO_* codes. ret is what the SSL_* call
 * returned; errno must still be the call's. Protocol errors after the
 * handshake count as ssl_proto_errors; the caller counts handshake failures.
 */
static ssize_t map_result(struct tls_conn *tc, int ret, const char *what)
{
    int saved_errno = errno;
    char reason[256];

    switch (SSL_get_error(tc->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        transport_set_error("%s: connection closed by peer", what);
        return 0;
    case SSL_ERROR_SYSCALL:
        tc->is_fatal = true;
        ERR_clear_error();
        if (saved_errno == 0) {
            transport_set_error("%s: connection closed by peer", what);
            return 0;
        }
        transport_set_error("%s: %s", what, strerror(saved_errno));
        return IO_ERROR;
    case SSL_ERROR_SSL:
        tc->is_fatal = true;
        openssl_reason(reason, sizeof(reason));
        transport_set_error("%s: %s", what, reason);
        if (tc->is_established) {
            counter_incr(&proto_errors);
        }
        return IO_ERROR;
    default:
        tc->is_fatal = true;
        ERR_clear_error();
        transport_set_error("%s: unexpected OpenSSL state", what);
        return IO_ERROR;
    }
}

static ssize_t handshake_failed(struct transport *t, struct tls_conn *tc)
{
    char peer[INET6_ADDRSTRLEN + 16];

    tc->is_fatal = true;
    if (!tc->is_counted) {
        tc->is_counted = true;
        counter_incr(&handshake_errors);
        peer_name(t->fd, peer, sizeof(peer));
        LOG_INFO("<%d TLS handshake failed from %s: %s", t->fd, peer, transport_last_error());
    }
    return IO_ERROR;
}

/* 0 when b can start a TLS handshake record, else IO_ERROR with the reason set. */
static ssize_t check_first_byte(unsigned char b)
{
    if (b == TLS_RECORD_HANDSHAKE) {
        return 0;
    }
    if (b >= 0x20 && b < 0x7f) {
        transport_set_error("not a TLS handshake: plaintext? (first byte '%c')", b);
        return IO_ERROR;
    }
    transport_set_error("not a TLS handshake (first byte 0x%02x)", b);
    return IO_ERROR;
}

/* 0 when the first byte is a TLS handshake record; IO_WANT_READ; or IO_ERROR. */
static ssize_t peek_record_type(int fd)
{
    unsigned char b;
    ssize_t n;

    do {
        n = recv(fd, &b, 1, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n == 1) {
        return check_first_byte(b);
    }
    if (n == 0) {
        transport_set_error("connection closed before the TLS handshake");
        return IO_ERROR;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return IO_WANT_READ;
    }
    transport_set_error("recv: %s", strerror(errno));
    return IO_ERROR;
}

static void log_established(int fd, const SSL *ssl)
{
    if (logger_verbosity() >= 3 && !is_selftest) {
        LOG_VERBOSE("<%d TLS handshake done: %s %s%s", fd, SSL_get_version(ssl),
                    SSL_get_cipher_name(ssl), SSL_session_reused(ssl) ? " (resumed)" : "");
    }
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;

    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

/* ------------------------------------------------------------------ offload */

/*
 * Once a TLS 1.3 handshake is over and OpenSSL holds nothing unsent or
 * unread, the connection moves to tls_record.c and the SSL is freed: about
 * 13 KB less per connection and a shorter path per record. The handover
 * waits (the connection simply stays on OpenSSL a little longer) while
 * OpenSSL holds bytes read ahead or part of a record it could not send, and
 * never happens for TLS 1.2, for suites tls_record.c lacks, with kernel TLS,
 * or after a KeyUpdate went through OpenSSL.
 */
/* No handover (any more) from here: wipe the secrets kept for it. */
static void offload_abandon(struct tls_conn *tc)
{
    tc->can_offload = false;
    OPENSSL_cleanse(tc->rx_secret, sizeof(tc->rx_secret));
    OPENSSL_cleanse(tc->tx_secret, sizeof(tc->tx_secret));
}

static void offload_check(struct tls_conn *tc)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(tc->ssl);

    tc->can_offload = is_offload_on && !settings->ssl_kernel_tls &&
                      SSL_version(tc->ssl) == TLS1_3_VERSION && c != NULL &&
                      tls_record_suite_supported(SSL_CIPHER_get_protocol_id(c)) && tc->secrets == 3;
    if (!tc->can_offload) {
        offload_abandon(tc);
    }
}

/*
 * A client may have negotiated a smaller record size (max_fragment_length,
 * RFC 6066: codes 1-4 for 512-4096 bytes); OpenSSL honours it, and so must
 * the records we write after the handover.
 */
static uint16_t max_fragment(SSL *ssl)
{
    uint8_t code = SSL_SESSION_get_max_fragment_length(SSL_get_session(ssl));

    return code >= 1 && code <= 4 ? (uint16_t)(256u << code) : TLS_RECORD_MAX_PLAIN;
}

static void offload_try(struct tls_conn *tc)
{
    if (!tc->can_offload) {
        return;
    }
    if (tc->has_rekeyed || tc->is_fatal) {
        offload_abandon(tc);
        return;
    }
    if (tc->is_wblocked || SSL_has_pending(tc->ssl)) {
        return; /* OpenSSL holds bytes: try again after the next read or write */
    }
    tc->rl =
        tls_record_create(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(tc->ssl)),
                          tc->rx_secret, tc->tx_secret, tc->secret_len, tc->rx_seq, tc->tx_seq);
    offload_abandon(tc); /* the keys now live in tc->rl, or nowhere */
    if (tc->rl == NULL) {
        ERR_clear_error();
        return; /* OpenSSL keeps the connection */
    }
    tc->max_plain = max_fragment(tc->ssl);
    /* Not a shutdown on the wire; it only keeps the session in the server's cache. */
    SSL_set_shutdown(tc->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(tc->ssl);
    tc->ssl = NULL;
    if (logger_verbosity() >= 3 && !is_selftest) {
        LOG_VERBOSE("<%d TLS records now sealed and opened in user space", tc->fd);
    }
}

/* Best effort, never blocks: an alert that does not fit the socket is dropped. */
static void rl_send_alert(struct tls_conn *tc, uint8_t level, uint8_t desc)
{
    uint8_t body[2] = {level, desc};
    uint8_t rec[2 + TLS_RECORD_OVERHEAD];
    struct iovec iov = {body, sizeof(body)};
    size_t n;

    if (tc->tx_pend != NULL) {
        return; /* an alert must not cut into a record half sent */
    }
    n = tls_record_seal(tc->rl, TLS_CT_ALERT, &iov, 1, 0, sizeof(body), rec);
    if (n > 0) {
        ssize_t w = send(tc->fd, rec, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
}

/* Fatal alerts we send (RFC 8446 section 6). */
enum {
    ALERT_UNEXPECTED_MESSAGE = 10,
    ALERT_BAD_RECORD_MAC = 20,
    ALERT_RECORD_OVERFLOW = 22,
};

/*
 * A protocol error after the handover: the fatal alert to the peer (best
 * effort), counted like OpenSSL's errors, the reason kept.
 */
static ssize_t rl_fail(struct tls_conn *tc, uint8_t alert, const char *reason)
{
    rl_send_alert(tc, 2, alert);
    tc->is_fatal = true;
    counter_incr(&proto_errors);
    transport_set_error("SSL_read: %s", reason);
    return IO_ERROR;
}

/* rl_fail for a tls_record.c status. */
static ssize_t rl_record_error(struct tls_conn *tc, ssize_t status)
{
    switch (status) {
    case TLS_RECORD_BAD_MAC:
        return rl_fail(tc, ALERT_BAD_RECORD_MAC, "decryption failed or bad record mac");
    case TLS_RECORD_OVERFLOW:
        return rl_fail(tc, ALERT_RECORD_OVERFLOW, "record overflow");
    case TLS_RECORD_BAD_TYPE:
        return rl_fail(tc, ALERT_UNEXPECTED_MESSAGE, "wrong record type");
    default:
        return rl_fail(tc, ALERT_UNEXPECTED_MESSAGE, "unexpected message");
    }
}

static void rx_release_if_empty(struct tls_conn *tc)
{
    if (tc->rx != NULL && tc->rx_pt_len == 0 && tc->rx_ct_len == 0) {
        mem_free(tc->rx, NULL, 0);
        tc->rx = NULL;
        tc->rx_ct_off = 0;
        tc->rx_pt_off = 0;
    }
}

/* Read what the socket has behind the ciphertext held: > 0, 0 at EOF, or IO_*. */
static ssize_t rx_fill(struct tls_conn *tc)
{
    ssize_t n;

    if (tc->rx == NULL) {
        tc->rx = mem_alloc(RX_CAP, NULL, 0);
        if (tc->rx == NULL) {
            transport_set_error("SSL_read: out of memory");
            return IO_ERROR;
        }
    }
    if (tc->rx_ct_off > 0) {
        memmove(tc->rx, tc->rx + tc->rx_ct_off, tc->rx_ct_len);
        tc->rx_ct_off = 0;
    }
    do {
        n = read(tc->fd, tc->rx + tc->rx_ct_len, RX_CAP - tc->rx_ct_len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        tc->rx_ct_len += (uint32_t)n;
        return n;
    }
    if (n == 0) {
        transport_set_error("SSL_read: connection closed by peer");
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return IO_WANT_READ;
    }
    transport_set_error("SSL_read: %s", strerror(errno));
    tc->is_fatal = true;
    return IO_ERROR;
}

/*
 * A non-data record: close_notify ends the stream (0), a KeyUpdate moves the
 * read key on (1: nothing to deliver), anything else is fatal.
 */
static ssize_t rl_control(struct tls_conn *tc, uint8_t type, const uint8_t *p, ssize_t n)
{
    if (type == TLS_CT_ALERT && n == 2) {
        if (p[1] == 0) { /* close_notify */
            tc->is_closed = true;
            transport_set_error("SSL_read: connection closed by peer");
            return 0;
        }
        if (p[1] == 90) { /* user_canceled: a close_notify follows */
            return 1;
        }
        tc->is_fatal = true;
        counter_incr(&proto_errors);
        transport_set_error("SSL_read: peer sent alert %u", p[1]);
        return IO_ERROR;
    }
    /* KeyUpdate: type 24, length 1, request_update 0 or 1; it ends its record. */
    if (type == TLS_CT_HANDSHAKE && n == 5 && p[0] == SSL3_MT_KEY_UPDATE && p[1] == 0 &&
        p[2] == 0 && p[3] == 1 && p[4] <= 1) {
        if (!tls_record_update_rx(tc->rl)) {
            tc->is_fatal = true;
            transport_set_error("SSL_read: key update failed");
            return IO_ERROR;
        }
        tc->is_update_due |= p[4] == 1;
        return 1;
    }
    return rl_fail(tc, ALERT_UNEXPECTED_MESSAGE, "unexpected message");
}

/*
 * Decrypt the complete record at the head of the ciphertext: straight into
 * dst when its plaintext surely fits in room, else in place, to be copied
 * out by the caller. Returns content bytes put in dst (0 when none or when
 * kept in place), or a code: IO_ERROR, or RL_EOF for close_notify.
 */
#define RL_EOF (-100)
static ssize_t rl_open_one(struct tls_conn *tc, size_t wire, uint8_t *dst, size_t room)
{
    uint8_t *rec = tc->rx + tc->rx_ct_off;
    bool is_direct = wire - TLS_RECORD_HEADER - TLS_RECORD_TAG <= room;
    uint8_t *out = is_direct ? dst : rec + TLS_RECORD_HEADER;
    uint8_t type = 0;
    ssize_t n = tls_record_open(tc->rl, rec, wire, out, &type);
    ssize_t r;

    tc->rx_ct_off += (uint32_t)wire;
    tc->rx_ct_len -= (uint32_t)wire;
    if (n < 0) {
        return rl_record_error(tc, n);
    }
    /*
     * A peer streaming records that carry nothing (empty records, KeyUpdates,
     * user_canceled alerts) would keep this worker reading forever without a
     * byte for the connection; OpenSSL stops such peers too (32 empty records
     * or key updates in a row).
     */
    tc->idle_records = n > 0 && type == TLS_CT_APPLICATION_DATA ? 0 : tc->idle_records + 1;
    if (tc->idle_records > RX_IDLE_MAX) {
        return rl_fail(tc, ALERT_UNEXPECTED_MESSAGE, "too many records without data");
    }
    if (type == TLS_CT_APPLICATION_DATA) {
        if (is_direct) {
            return n;
        }
        tc->rx_pt_off = (uint32_t)(rec + TLS_RECORD_HEADER - tc->rx);
        tc->rx_pt_len = (uint32_t)n;
        return 0;
    }
    r = rl_control(tc, type, out, n);
    return r == 0 ? RL_EOF : r < 0 ? r : 0;
}

static ssize_t rl_read(struct tls_conn *tc, uint8_t *buf, size_t len)
{
    size_t done = 0;
    ssize_t r = 0;

    while (done < len && !tc->is_closed) {
        ssize_t wire;

        if (tc->rx_pt_len > 0) {
            size_t take = tc->rx_pt_len < len - done ? tc->rx_pt_len : len - done;
            memcpy(buf + done, tc->rx + tc->rx_pt_off, take);
            tc->rx_pt_off += (uint32_t)take;
            tc->rx_pt_len -= (uint32_t)take;
            done += take;
            continue;
        }
        wire = tc->rx != NULL ? tls_record_frame(tc->rx + tc->rx_ct_off, tc->rx_ct_len)
                              : TLS_RECORD_INCOMPLETE;
        if (wire > 0) {
            r = rl_open_one(tc, (size_t)wire, buf + done, len - done);
            if (r < 0) {
                break;
            }
            done += (size_t)r;
            continue;
        }
        if (wire != TLS_RECORD_INCOMPLETE) {
            r = rl_record_error(tc, wire);
            break;
        }
        if (done > 0) {
            break; /* deliver now; the socket is read again when asked */
        }
        r = rx_fill(tc);
        if (r <= 0) {
            break;
        }
    }
    rx_release_if_empty(tc);
    if (done > 0 && r != IO_ERROR) {
        return (ssize_t)done;
    }
    if (tc->is_closed || r == RL_EOF) {
        return 0;
    }
    return r;
}

/* send(2) until len bytes are gone or the socket is full: bytes sent, or IO_ERROR. */
static ssize_t send_until_full(struct tls_conn *tc, const uint8_t *p, size_t len, int flags)
{
    size_t sent = 0;

    while (sent < len) {
        ssize_t n = send(tc->fd, p + sent, len - sent, MSG_NOSIGNAL | flags);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n < 0) {
            tc->is_fatal = true;
            transport_set_error("SSL_write: %s", strerror(errno));
            return IO_ERROR;
        }
        sent += (size_t)n;
    }
    return (ssize_t)sent;
}

/* Send what is left of a short send: 0 when all gone, else IO_WANT_WRITE/IO_ERROR. */
static ssize_t tx_flush(struct tls_conn *tc)
{
    ssize_t n =
        send_until_full(tc, tc->tx_pend + tc->tx_pend_off, tc->tx_pend_len - tc->tx_pend_off, 0);

    if (n < 0) {
        return n;
    }
    tc->tx_pend_off += (size_t)n;
    if (tc->tx_pend_off < tc->tx_pend_len) {
        return IO_WANT_WRITE;
    }
    free(tc->tx_pend);
    tc->tx_pend = NULL;
    tc->tx_pend_off = 0;
    tc->tx_pend_len = 0;
    return 0;
}

/*
 * Send a batch of sealed records. A short send keeps the rest per connection
 * (the records are sealed: their sequence numbers are spent). Returns 0 when
 * all went, 1 when some stayed behind, IO_ERROR.
 */
static ssize_t tx_send(struct tls_conn *tc, const uint8_t *p, size_t len, bool is_more)
{
    ssize_t n = send_until_full(tc, p, len, is_more ? MSG_MORE : 0);
    size_t sent;

    if (n < 0) {
        return n;
    }
    sent = (size_t)n;
    if (sent == len) {
        return 0;
    }
    tc->tx_pend = malloc(len - sent);
    if (tc->tx_pend == NULL) {
        tc->is_fatal = true;
        transport_set_error("SSL_write: out of memory");
        return IO_ERROR;
    }
    memcpy(tc->tx_pend, p + sent, len - sent);
    tc->tx_pend_len = len - sent;
    return 1;
}

static bool txbuf_ready(size_t chunk)
{
    size_t need = TX_RECORDS * (chunk + TLS_RECORD_OVERHEAD);

    if (txbuf != NULL && txbuf_cap >= need) {
        return true;
    }
    free(txbuf);
    txbuf = malloc(need);
    txbuf_cap = txbuf != NULL ? need : 0;
    return txbuf != NULL;
}

/* Our KeyUpdate answer goes first; records after it use the next key. */
static size_t seal_key_update(struct tls_conn *tc, uint8_t *out)
{
    static const uint8_t msg[5] = {SSL3_MT_KEY_UPDATE, 0, 0, 1, 0};
    struct iovec iov = {(void *)msg, sizeof(msg)};
    size_t n = tls_record_seal(tc->rl, TLS_CT_HANDSHAKE, &iov, 1, 0, sizeof(msg), out);

    tc->is_update_due = false;
    return n > 0 && tls_record_update_tx(tc->rl) ? n : 0;
}

/*
 * Seal up to TX_RECORDS records into the worker's buffer and send them with
 * one send(2). When a send is short, the unsent ciphertext stays with the
 * connection and the last byte sealed is not reported written: the caller
 * then still has bytes to write, so it retries, which flushes the rest, and
 * the byte it offers again is skipped. That keeps the transport contract
 * (a short write means "call again when writable") without the caller
 * knowing that ciphertext is held.
 */
static ssize_t rl_writev(struct tls_conn *tc, const struct iovec *iov, int iovcnt)
{
    size_t total = iov_total(iov, iovcnt);
    size_t chunk = wbuf_cap > 0 && wbuf_cap < tc->max_plain ? wbuf_cap : tc->max_plain;
    size_t done = 0;

    if (tc->tx_pend != NULL) {
        ssize_t r = tx_flush(tc);
        if (r != 0) {
            return r;
        }
        if (tc->is_tx_owed) {
            tc->is_tx_owed = false;
            done = 1;
        }
    }
    if (!txbuf_ready(chunk)) {
        transport_set_error("SSL_write: out of memory");
        return IO_ERROR;
    }
    while (done < total) {
        size_t used = tc->is_update_due ? seal_key_update(tc, txbuf) : 0;
        size_t sealed = 0;
        ssize_t r;

        while (done + sealed < total && used + chunk + TLS_RECORD_OVERHEAD <= txbuf_cap) {
            size_t n = total - done - sealed < chunk ? total - done - sealed : chunk;
            size_t w = tls_record_seal(tc->rl, TLS_CT_APPLICATION_DATA, iov, iovcnt, done + sealed,
                                       n, txbuf + used);
            if (w == 0) {
                tc->is_fatal = true;
                transport_set_error("SSL_write: encryption failed");
                return IO_ERROR;
            }
            used += w;
            sealed += n;
        }
        r = tx_send(tc, txbuf, used, done + sealed < total);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            done += sealed;
            continue;
        }
        tc->is_tx_owed = true; /* sealed > 0: a record always fits beside a KeyUpdate */
        done += sealed - 1;
        return done > 0 ? (ssize_t)done : IO_WANT_WRITE;
    }
    return (ssize_t)done;
}

/* ------------------------------------------------------------------ our handshake */

/*
 * The common TLS 1.3 handshake runs in tls_hs.c (see there for why); the
 * connection never gets an SSL. When the client's first record is anything
 * tls_hs.c does not handle, an SSL is made then and OpenSSL reads the bytes
 * already taken from the socket (sock_read serves them first), so it sees
 * exactly what the client sent.
 */
enum { FAST_MORE = 1, FAST_SENT, FAST_DONE, FAST_FALLBACK };

static ssize_t tls_handshake(struct transport *t);

static void rx_consume(struct tls_conn *tc, size_t n)
{
    tc->rx_ct_off += (uint32_t)n;
    tc->rx_ct_len -= (uint32_t)n;
    rx_release_if_empty(tc);
}

/* Send what tls_hs.c wrote; a short send keeps the rest for tx_flush. */
static ssize_t fast_send(struct tls_conn *tc, const uint8_t *p, size_t n, bool is_more)
{
    ssize_t r = n > 0 ? tx_send(tc, p, n, is_more) : 0;

    return r < 0 ? r : FAST_SENT;
}

static ssize_t fast_established(struct transport *t, struct tls_conn *tc)
{
    tc->rl = tls_hs_take_record(tc->hs);
    tc->max_plain = TLS_RECORD_MAX_PLAIN;
    tc->is_established = true;
    if (logger_verbosity() >= 3 && !is_selftest) {
        LOG_VERBOSE("<%d TLS handshake done: TLSv1.3 %s%s", t->fd,
                    tls_record_suite_name(tls_hs_suite(tc->hs)),
                    tls_hs_is_resumed(tc->hs) ? " (resumed)" : "");
    }
    tls_hs_free(&tc->hs);
    tls_hs_identity_release(&tc->id);
    return FAST_DONE;
}

/* The client's first record: our flight, or FAST_FALLBACK before anything is sent. */
static ssize_t fast_start(struct tls_conn *tc)
{
    const uint8_t *rec = tc->rx + tc->rx_ct_off;
    ssize_t wire = tls_hs_first_record(rec, tc->rx_ct_len);
    const char *reason = "";
    size_t n = 0;
    int st;

    if (wire == TLS_HS_MORE) {
        return FAST_MORE;
    }
    if (wire < 0 || !txbuf_ready(TLS_RECORD_MAX_PLAIN) || tls_hs_flight_max(tc->id) > txbuf_cap) {
        return FAST_FALLBACK;
    }
    st = tls_hs_start(tc->id, tc->kind, rec, (size_t)wire, &tc->hs, txbuf, &n, &reason);
    if (st == TLS_HS_FALLBACK) {
        return FAST_FALLBACK;
    }
    rx_consume(tc, (size_t)wire);
    if (st == TLS_HS_FAIL) {
        send_until_full(tc, txbuf, n, 0);
        transport_set_error("TLS handshake: %s", reason);
        return IO_ERROR;
    }
    return fast_send(tc, txbuf, n, false);
}

/* The client's records after our flight, up to its Finished. */
static ssize_t fast_continue(struct transport *t, struct tls_conn *tc)
{
    uint8_t out[TLS_HS_OUT_MAX];
    const char *reason = "";
    size_t used = 0;
    size_t n = 0;
    int st =
        tls_hs_continue(tc->hs, tc->rx + tc->rx_ct_off, tc->rx_ct_len, &used, out, &n, &reason);
    ssize_t r;

    rx_consume(tc, used);
    if (st == TLS_HS_FAIL) {
        send_until_full(tc, out, n, 0);
        transport_set_error("TLS handshake: %s", reason);
        return IO_ERROR;
    }
    if (st == TLS_HS_MORE) {
        return FAST_MORE;
    }
    /*
     * The client's Finished is checked: the handshake is complete whatever
     * becomes of the ticket. A send that fails (the client finished and
     * reset at once) is the connection's error, met by its next read or
     * write, not a failed handshake. The ticket is corked: the client waits
     * for nothing in it, so it leaves with the first reply (or once the
     * client's next segment arrives) instead of as a segment of its own.
     */
    r = fast_established(t, tc);
    (void)fast_send(tc, out, n, true);
    return r;
}

/* OpenSSL takes over: it gets an SSL now and reads the bytes we hold first. */
static ssize_t fast_fallback(struct transport *t, struct tls_conn *tc)
{
    tls_hs_identity_release(&tc->id);
    if (!ssl_attach(tc, ssl_new_live())) {
        transport_set_error("TLS handshake: out of memory");
        return IO_ERROR;
    }
    tc->has_peeked = true;
    return tls_handshake(t);
}

/* Read more of the client's bytes: > 0, IO_WANT_READ, or IO_ERROR with the reason set. */
static ssize_t fast_fill(struct tls_conn *tc)
{
    bool is_first = tc->hs == NULL && (tc->rx == NULL || tc->rx_ct_len == 0);
    ssize_t r = rx_fill(tc);

    if (r == 0) {
        transport_set_error(is_first ? "connection closed before the TLS handshake"
                                     : "TLS handshake: connection closed by peer");
        return IO_ERROR;
    }
    if (r > 0 && is_first) {
        return check_first_byte(tc->rx[tc->rx_ct_off]) == 0 ? r : IO_ERROR;
    }
    return r;
}

static ssize_t fast_handshake(struct transport *t, struct tls_conn *tc)
{
    for (;;) {
        ssize_t r = 0;

        if (tc->tx_pend != NULL) {
            r = tx_flush(tc);
        }
        if (r == 0 && tc->rx != NULL && tc->rx_ct_len > 0) {
            r = tc->hs == NULL ? fast_start(tc) : fast_continue(t, tc);
        } else if (r == 0) {
            r = FAST_MORE;
        }
        switch (r) {
        case FAST_DONE:
            return 0;
        case FAST_FALLBACK:
            return fast_fallback(t, tc);
        case FAST_SENT:
            /*
             * The client answers our flight after a round trip and its own
             * key exchange: a read now would only return EAGAIN. Bytes it
             * sent before seeing the flight still wake the (level-triggered)
             * read event.
             */
            if (tc->tx_pend == NULL && (tc->rx == NULL || tc->rx_ct_len == 0)) {
                return IO_WANT_READ;
            }
            continue;
        case FAST_MORE:
            r = fast_fill(tc);
            if (r > 0) {
                continue;
            }
            break;
        default:
            break;
        }
        return r == IO_WANT_READ || r == IO_WANT_WRITE ? r : handshake_failed(t, tc);
    }
}

static ssize_t tls_handshake(struct transport *t)
{
    struct tls_conn *tc = t->impl;
    ssize_t r;
    int ret;

    if (tc->is_established) {
        return 0;
    }
    if (tc->ssl == NULL) {
        return fast_handshake(t, tc);
    }
    if (!tc->has_peeked) {
        r = peek_record_type(t->fd);
        if (r != 0) {
            return r == IO_WANT_READ ? r : handshake_failed(t, tc);
        }
        tc->has_peeked = true;
    }
    err_reset();
    errno = 0;
    ret = SSL_do_handshake(tc->ssl);
    if (ret == 1) {
        tc->is_established = true;
        log_established(t->fd, tc->ssl);
        offload_check(tc);
        offload_try(tc);
        return 0;
    }
    r = map_result(tc, ret, "TLS handshake");
    if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
        return r;
    }
    return handshake_failed(t, tc);
}

static ssize_t tls_read(struct transport *t, void *buf, size_t len)
{
    struct tls_conn *tc = t->impl;
    int n;

    if (len == 0) {
        return 0;
    }
    if (tc->rl != NULL) {
        return rl_read(tc, buf, len);
    }
    err_reset();
    errno = 0;
    n = SSL_read(tc->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) {
        if (tc->can_offload) {
            offload_try(tc);
        }
        return n;
    }
    return map_result(tc, n, "SSL_read");
}

/*
 * The chunk starting `skip` bytes into the iovecs: min(remaining, capacity)
 * bytes, in place when one slice covers it, else copied into the staging
 * buffer. Returns its length (0 when nothing remains) and sets *src.
 */
static size_t gather(const struct iovec *iov, int iovcnt, size_t skip, const char **src)
{
    size_t cap = wbuf != NULL ? wbuf_cap : TLS_DIRECT_CHUNK;
    size_t n = 0;
    int i = 0;

    while (i < iovcnt && skip >= iov[i].iov_len) {
        skip -= iov[i++].iov_len;
    }
    if (i == iovcnt) {
        return 0;
    }
    if (iov[i].iov_len - skip >= cap || wbuf == NULL) {
        *src = (const char *)iov[i].iov_base + skip;
        n = iov[i].iov_len - skip;
        return n < cap ? n : cap;
    }
    for (; i < iovcnt && n < cap; i++, skip = 0) {
        size_t take = iov[i].iov_len - skip;
        take = take < cap - n ? take : cap - n;
        memcpy(wbuf + n, (const char *)iov[i].iov_base + skip, take);
        n += take;
    }
    *src = wbuf;
    return n;
}

/*
 * One record per SSL_write (partial-write mode). Every record but the last
 * of the call is sent with MSG_MORE; the last one never is, so nothing stays
 * corked once the caller's bytes are all written. After a WANT the kernel
 * pushes what it holds as soon as the socket fills (tcp_sendmsg does), so a
 * corked tail never waits for an event that depends on it.
 */
static ssize_t tls_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
    struct tls_conn *tc = t->impl;
    size_t total;
    size_t done = 0;
    ssize_t r;

    if (tc->rl != NULL) {
        return rl_writev(tc, iov, iovcnt);
    }
    total = iov_total(iov, iovcnt);
    for (;;) {
        const char *src = NULL;
        size_t n = gather(iov, iovcnt, done, &src);
        int w;

        if (n == 0) {
            r = (ssize_t)done;
            break;
        }
        err_reset();
        errno = 0;
        tc->is_more = done + n < total;
        w = SSL_write(tc->ssl, src, (int)n);
        tc->is_wblocked = w <= 0;
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        r = map_result(tc, w, "SSL_write");
        /* After a WANT the caller retries from `done` with the same bytes. */
        if (done > 0 && (r == IO_WANT_READ || r == IO_WANT_WRITE)) {
            r = (ssize_t)done;
        } else if (r == 0) {
            r = IO_ERROR;
        }
        break;
    }
    tc->is_more = false; /* handshake, alert and shutdown writes are never corked */
    if (tc->can_offload && r >= 0) {
        offload_try(tc);
    }
    return r;
}

/*
 * Decrypted bytes, or 1 when OpenSSL holds bytes read ahead from the socket
 * but not yet decrypted (it does not say how many). Either way the socket
 * will not signal them again, so the caller must read.
 */
static size_t tls_pending(const struct transport *t)
{
    const struct tls_conn *tc = t->impl;
    int n;

    if (tc == NULL) {
        return 0;
    }
    if (tc->rl != NULL) {
        if (tc->rx_pt_len > 0) {
            return tc->rx_pt_len;
        }
        /* A whole record (or a bad header) is there: reading it makes progress. */
        return tc->rx != NULL &&
               tls_record_frame(tc->rx + tc->rx_ct_off, tc->rx_ct_len) != TLS_RECORD_INCOMPLETE;
    }
    if (tc->ssl == NULL || tc->rx_ct_len > 0) {
        return tc->rx_ct_len > 0; /* our handshake's bytes, or OpenSSL's to read first */
    }
    /* Usually nothing is held: one call then, the count only when asked for. */
    if (!SSL_has_pending(tc->ssl)) {
        return 0;
    }
    n = SSL_pending(tc->ssl);
    return n > 0 ? (size_t)n : 1;
}

static void tls_close(struct transport *t)
{
    struct tls_conn *tc = t->impl;

    if (tc != NULL) {
        if (!tc->is_established && !tc->is_counted) {
            transport_set_error("closed before the handshake finished");
            handshake_failed(t, tc);
        }
        if (tc->rl != NULL && !tc->is_fatal) {
            rl_send_alert(tc, 1, 0); /* close_notify, best effort */
        } else if (tc->is_established && !tc->is_fatal && tc->ssl != NULL) {
            /* Best effort close_notify; never wait for the peer's. */
            err_reset();
            SSL_shutdown(tc->ssl);
        }
        tls_session_destroy(tc);
        t->impl = NULL;
        ERR_clear_error();
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

static const struct transport_ops tls_ops = {
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .close = tls_close,
    .name = "tls",
};

void tls_transport_init(struct transport *t, int fd, void *session)
{
    t->ops = &tls_ops;
    t->fd = fd;
    t->impl = session;
}

/* ------------------------------------------------------------------ self-test */

/*
 * The handover rests on two OpenSSL behaviours that no API promises: the
 * key-log lines carry the traffic secrets, and the message callback reports
 * every record header. A different OpenSSL could change either, and then
 * every TLS 1.3 connection would fail its first record after the handover.
 * So at startup one TLS 1.3 handshake runs over a socketpair between the live
 * context and a throwaway client, the server side is handed over, and a
 * record goes each way. If that fails, handovers stay off and OpenSSL keeps
 * every connection, as before the handover existed. The counters are put back
 * afterwards, so `stats` does not show the test.
 */
static bool selftest_handshake(SSL *cli, struct transport *t)
{
    bool is_cli_done = false;
    bool is_srv_done = false;

    for (int i = 0; i < 100 && !(is_cli_done && is_srv_done); i++) {
        if (!is_cli_done) {
            int r = SSL_do_handshake(cli);
            int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(cli, r);
            if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                return false;
            }
            is_cli_done = r == 1;
        }
        if (!is_srv_done) {
            ssize_t r = transport_handshake(t);
            if (r == IO_ERROR) {
                return false;
            }
            is_srv_done = r == 0;
        }
    }
    return is_cli_done && is_srv_done;
}

static bool selftest_exchange(SSL *cli, struct transport *t)
{
    char buf[16];
    struct iovec iov = {(void *)"pong", 4};
    int r = -1;

    if (SSL_write(cli, "ping", 4) != 4 || transport_read(t, buf, sizeof(buf)) != 4 ||
        memcmp(buf, "ping", 4) != 0 || transport_writev(t, &iov, 1) != 4) {
        return false;
    }
    for (int i = 0; i < 10 && r <= 0; i++) {
        r = SSL_read(cli, buf, sizeof(buf)); /* the session ticket comes first */
    }
    return r == 4 && memcmp(buf, "pong", 4) == 0;
}

/* How far a self-test connection got. */
enum selftest_step { ST_NONE, ST_HANDSHAKE, ST_HANDED_OVER, ST_EXCHANGED };

static enum selftest_step selftest_steps(SSL *cli, struct transport *t)
{
    if (!selftest_handshake(cli, t)) {
        return ST_NONE;
    }
    if (!tls_transport_is_offloaded(t)) {
        return ST_HANDSHAKE;
    }
    return selftest_exchange(cli, t) ? ST_EXCHANGED : ST_HANDED_OVER;
}

/*
 * One self-test connection over a socketpair: the server side made from
 * srv_ctx (NULL: as a client's connection is made), the client from cctx,
 * offering *sess when sess and *sess are set; *sess gets the session of a
 * connection that got through, *is_reused whether it was resumed.
 */
static enum selftest_step selftest_connection(SSL_CTX *srv_ctx, SSL_CTX *cctx, SSL_SESSION **sess,
                                              bool *is_reused)
{
    struct transport t = {0};
    SSL *cli = SSL_new(cctx);
    void *session;
    enum selftest_step got = ST_NONE;
    int sv[2];

    if (cli == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        SSL_free(cli);
        return ST_NONE;
    }
    session = session_new(sv[0], LISTEN_TLS_BASIC, srv_ctx);
    if (session != NULL && SSL_set_fd(cli, sv[1]) &&
        (sess == NULL || *sess == NULL || SSL_set_session(cli, *sess))) {
        tls_transport_init(&t, sv[0], session);
        SSL_set_connect_state(cli);
        got = selftest_steps(cli, &t);
        transport_close(&t);
    } else {
        tls_session_destroy(session); /* NULL-safe */
        close(sv[0]);
    }
    if (is_reused != NULL) {
        *is_reused = SSL_session_reused(cli);
    }
    if (got == ST_EXCHANGED && sess != NULL && *sess == NULL) {
        *sess = SSL_get1_session(cli);
    }
    /* Freed without a shutdown, the client would mark its session not resumable. */
    SSL_set_shutdown(cli, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(cli);
    close(sv[1]);
    return got;
}

/* A TLS 1.3 client context for the self-tests; NULL on failure. */
static SSL_CTX *selftest_client_ctx(void)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());

    if (cctx != NULL && !SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION)) {
        SSL_CTX_free(cctx);
        return NULL;
    }
    return cctx;
}

/* The counters before a self-test, put back after it so that `stats` does not show it. */
static void selftest_begin(uint64_t saved[3])
{
    saved[0] = handshake_errors;
    saved[1] = proto_errors;
    saved[2] = new_sessions;
    is_selftest = true;
}

static void selftest_end(SSL_CTX *cctx, const uint64_t saved[3])
{
    is_selftest = false;
    SSL_CTX_free(cctx); /* NULL-safe */
    ERR_clear_error();
    tls_worker_teardown(); /* this thread's buffers; workers make their own */
    __atomic_store_n(&handshake_errors, saved[0], __ATOMIC_RELAXED);
    __atomic_store_n(&proto_errors, saved[1], __ATOMIC_RELAXED);
    __atomic_store_n(&new_sessions, saved[2], __ATOMIC_RELAXED);
}

/* No TLS 1.3 with this configuration (nothing to hand over) is not a failure. */
static void offload_selftest(SSL_CTX *ctx)
{
    uint64_t saved[3];
    SSL_CTX *cctx;

    if (settings->ssl_kernel_tls) {
        return;
    }
    cctx = selftest_client_ctx();
    selftest_begin(saved);
    if (cctx != NULL && selftest_connection(ctx, cctx, NULL, NULL) == ST_HANDED_OVER) {
        is_offload_on = false;
        LOG_WARN("TLS 1.3 records stay with OpenSSL: after the handover self-test, a record "
                 "did not arrive intact");
    }
    selftest_end(cctx, saved);
}

/*
 * The same check for our own handshake, against OpenSSL's client: a full
 * handshake, a record each way, and a resumption with the ticket it got.
 * If any of it fails, every handshake stays with OpenSSL.
 */
static void fast_selftest(void)
{
    uint64_t saved[3];
    SSL_CTX *cctx;
    SSL_SESSION *sess = NULL;
    bool is_reused = false;
    bool is_ok;

    pthread_mutex_lock(&ctx_lock);
    is_ok = live_id == NULL;
    pthread_mutex_unlock(&ctx_lock);
    if (is_ok) {
        return; /* nothing to test: OpenSSL does every handshake */
    }
    cctx = selftest_client_ctx();
    selftest_begin(saved);
    is_ok = cctx != NULL && selftest_connection(NULL, cctx, &sess, NULL) == ST_EXCHANGED &&
            sess != NULL && selftest_connection(NULL, cctx, &sess, &is_reused) == ST_EXCHANGED &&
            is_reused;
    if (!is_ok) {
        is_fast_on = false;
        identity_install(NULL);
        LOG_WARN("TLS handshakes stay with OpenSSL: the self-test of our own handshake failed");
    }
    SSL_SESSION_free(sess); /* NULL-safe */
    selftest_end(cctx, saved);
}

bool tls_transport_is_offloaded(const struct transport *t)
{
    const struct tls_conn *tc = t->impl;

    return t->ops == &tls_ops && tc != NULL && tc->rl != NULL;
}

bool tls_worker_setup(void)
{
    size_t size = settings->ssl_wbuf_size > 0 ? (size_t)settings->ssl_wbuf_size : 16384;

    if (wbuf != NULL) {
        return true;
    }
    wbuf = malloc(size);
    if (wbuf == NULL) {
        return false; /* writes still work, chunked in place */
    }
    wbuf_cap = size;
    return true;
}

void tls_worker_teardown(void)
{
    bufcache_drain();
    tls_hs_thread_teardown();
    free(txbuf);
    txbuf = NULL;
    txbuf_cap = 0;
    free(wbuf);
    wbuf = NULL;
    wbuf_cap = 0;
}

#else /* !TLS: the same API, reporting that TLS is not compiled in */

bool tls_available(void)
{
    return false;
}

bool tls_setup(char *err, size_t errlen)
{
    snprintf(err, errlen, "TLS support was not compiled in (built with --disable-tls)");
    return false;
}

void tls_teardown(void)
{
}

void *tls_session_create(int fd, enum listen_tls kind)
{
    (void)fd;
    (void)kind;
    return NULL;
}

void tls_session_destroy(void *session)
{
    (void)session;
}

void tls_transport_init(struct transport *t, int fd, void *session)
{
    (void)session;
    transport_tcp_init(t, fd);
}

bool tls_refresh_certs(char *err, size_t errlen)
{
    snprintf(err, errlen, "Error TLS not enabled");
    return false;
}

bool tls_transport_is_offloaded(const struct transport *t)
{
    (void)t;
    return false;
}

void tls_stats_snapshot(struct tls_stats *out)
{
    memset(out, 0, sizeof(*out));
}

bool tls_worker_setup(void)
{
    return true;
}

void tls_worker_teardown(void)
{
}

#endif /* TLS */
