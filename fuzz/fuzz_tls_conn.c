/*
 * fuzz_tls_conn.c - libFuzzer target for the server side of a TLS connection.
 *
 * Drives the real TLS transport from tls.c (session from the live SSL_CTX,
 * first-byte peek, non-blocking handshake, reads, pending bytes, gathered
 * writes, close) over a socketpair(), the way a worker drives it, with the
 * other end of the pair acting as the client. The first input byte picks
 * what the client does with the rest:
 *
 *   0  raw: the bytes are written as they are (garbage, plaintext commands,
 *      mutated ClientHellos) and then the client half-closes;
 *   1  handshake, then raw: an in-process OpenSSL client completes a real
 *      handshake, then the bytes are written under it as if they were
 *      records (corrupt records after the handshake);
 *   2  echo: after a real handshake the bytes are application data, written
 *      with SSL_write in chunks of varying size; the server reads them with
 *      varying buffer sizes (draining transport_pending as conn.c does) and
 *      echoes them through transport_writev split into several iovecs.
 *
 * Bit 2 of the first byte caps the client at TLS 1.2, so both protocol
 * versions are reached: after a TLS 1.3 handshake tls.c hands the records to
 * tls_record.c, so modes 1 and 2 drive that record layer (partial sends with
 * ciphertext held, reads into small buffers, padding and alerts), while
 * TLS 1.2 stays on OpenSSL's. Bytes 1..4 seed the chunk sizes. The server's socket
 * buffer is small and the staging buffer is 1 KB (ssl_wbuf_size=1), so
 * partial writes, WANT_WRITE retries with the same bytes and both the
 * staged and in-place write paths happen with short inputs.
 *
 * The server side is driven the way conn.c drives it: after IO_WANT_READ it
 * runs again only once the socket is readable, after IO_WANT_WRITE once it
 * is writable, and after a successful read it reads again only while the
 * socket is readable or transport_pending() says bytes are held. So bytes
 * that tls.c buffers (read-ahead, decrypted records) without reporting them
 * stall the echo, and the run fails instead of the fuzzer hiding it.
 *
 * Checked on every run, besides ASan/UBSan/LeakSanitizer findings: the
 * transport returns only byte counts or IO_* codes; the echo comes back
 * byte for byte, with no byte stranded; a connection that never finishes
 * the handshake is counted in ssl_handshake_errors exactly once, and one
 * that did finish is not counted; after EOF the handshake fails at once; no
 * step loops without progress.
 *
 * The certificate is generated in LLVMFuzzerInitialize (EC P-256,
 * self-signed) into a temporary directory by a forked child, so the target
 * needs no files and this process makes no OpenSSL allocation before
 * tls_setup() (tls.c installs its allocator then, which must be first).
 * Rejected: memory BIOs in place of the socketpair (tls.c peeks the fd with
 * recv(MSG_PEEK) and OpenSSL's socket BIO is what runs in production).
 */
#include "settings.h"
#include "tls.h"
#include "transport.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define MODE_RAW           0
#define MODE_HANDSHAKE_RAW 1
#define MODE_ECHO          2
#define HEADER_LEN         5
#define SERVER_SNDBUF      4096
#define ECHO_MAX           (256 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SSL_CTX *client_ctx;
static SSL_CTX *client_ctx12;

/* One fuzz run: the two ends and what each side has seen. */
struct run {
    int sfd; /* server end, owned by the transport */
    int cfd; /* client end */
    SSL *client;
    struct transport t;
    uint32_t rng;
    ssize_t rd_want; /* what the server's last read/handshake asked to wait for, or 0 */
    ssize_t wr_want; /* the same for its last write */
    bool is_established;
};

static uint32_t next_rand(struct run *r)
{
    /* xorshift32: cheap, deterministic for a given input */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 17;
    r->rng ^= r->rng << 5;
    return r->rng;
}

/* A chunk length in 1..max, biased towards small ones. */
static size_t chunk_len(struct run *r, size_t max)
{
    uint32_t x = next_rand(r);
    size_t cap = (x & 3) == 0 ? max : (x & 1) ? 64 : 2048;
    size_t n = 1 + (x >> 8) % (cap < max ? cap : max);

    return n;
}

static void check_io_result(ssize_t n)
{
    assert(n >= 0 || n == IO_ERROR || n == IO_WANT_READ || n == IO_WANT_WRITE);
}

static bool fd_ready(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};

    return poll(&p, 1, 0) > 0;
}

/* conn.c's rule: after a WANT, call again only once the socket says so. */
static bool may_run(const struct run *r, ssize_t *want)
{
    if (*want == IO_WANT_READ && !fd_ready(r->sfd, POLLIN)) {
        return false;
    }
    if (*want == IO_WANT_WRITE && !fd_ready(r->sfd, POLLOUT)) {
        return false;
    }
    *want = 0;
    return true;
}

static void note_result(ssize_t *want, ssize_t n)
{
    check_io_result(n);
    if (n == IO_WANT_READ || n == IO_WANT_WRITE) {
        *want = n;
    }
}

/* ------------------------------------------------------------ certificate */

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;

    if (x == NULL) {
        return NULL;
    }
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) == 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL) {
        return false;
    }
    ok = key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_X509(f, cert);
    return fclose(f) == 0 && ok == 1;
}

/* Write a fresh key and self-signed certificate into dir. */
static bool make_cert_files(const char *dir, char *crt, char *key, size_t cap)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *cert = pkey != NULL ? make_cert(pkey) : NULL;
    bool ok = cert != NULL;

    snprintf(crt, cap, "%s/server_crt.pem", dir);
    snprintf(key, cap, "%s/server_key.pem", dir);
    ok = ok && write_pem(key, pkey, NULL) && write_pem(crt, NULL, cert);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return ok;
}

/* In a child, so that this process's first OpenSSL allocation is tls_setup()'s. */
static bool make_cert_files_forked(const char *dir, char *crt, char *key, size_t cap)
{
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        _exit(make_cert_files(dir, crt, key, cap) ? 0 : 1);
    }
    snprintf(crt, cap, "%s/server_crt.pem", dir);
    snprintf(key, cap, "%s/server_key.pem", dir);
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

static SSL_CTX *make_client_ctx(int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (max_version != 0) {
        SSL_CTX_set_max_proto_version(ctx, max_version);
    }
    return ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/fuzz-tls-XXXXXX";
    char crt[256], key[256], opt[600], err[512];
    char *args[] = {"fuzz_tls_conn", "-p", "11211", "-Z", "-o", opt, NULL};

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(dir) == NULL || !make_cert_files_forked(dir, crt, key, sizeof(crt))) {
        fprintf(stderr, "fuzz_tls_conn: cannot write a test certificate in /tmp\n");
        abort();
    }
    snprintf(opt, sizeof(opt), "ssl_chain_cert=%s,ssl_key=%s,ssl_wbuf_size=1", crt, key);
    if (settings_parse(6, args) != SETTINGS_OK || !tls_setup(err, sizeof(err)) ||
        !tls_worker_setup()) {
        fprintf(stderr, "fuzz_tls_conn: TLS setup failed: %s\n", err);
        abort();
    }
    client_ctx = make_client_ctx(0);
    client_ctx12 = make_client_ctx(TLS1_2_VERSION);
    assert(client_ctx != NULL && client_ctx12 != NULL);
    /* The files were only needed for the load above. */
    unlink(crt);
    unlink(key);
    rmdir(dir);
    return 0;
}

/* ------------------------------------------------------------ the two ends */

static bool run_open(struct run *r, const uint8_t *data)
{
    int sv[2];
    int small = SERVER_SNDBUF;
    void *session;

    memset(r, 0, sizeof(*r));
    r->rng =
        ((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]) | 1;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        return false;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    session = tls_session_create(sv[0], LISTEN_TLS_DEFAULT);
    assert(session != NULL);
    tls_transport_init(&r->t, sv[0], session);
    r->sfd = sv[0];
    r->cfd = sv[1];
    return true;
}

static void run_close(struct run *r)
{
    transport_close(&r->t);
    assert(r->t.impl == NULL && r->t.fd == -1);
    transport_close(&r->t); /* idempotent */
    if (r->client != NULL) {
        SSL_free(r->client);
    }
    close(r->cfd);
    ERR_clear_error();
}

/* Read and drop what the server sent, so its writes never block for good. */
static void client_discard(struct run *r)
{
    char sink[4096];

    while (read(r->cfd, sink, sizeof(sink)) > 0) {
    }
}

/* One server handshake step, when the socket allows; true once established. */
static bool server_handshake_step(struct run *r, bool *is_dead)
{
    ssize_t n;

    if (!may_run(r, &r->rd_want)) {
        return false;
    }
    n = transport_handshake(&r->t);
    note_result(&r->rd_want, n);
    if (n == 0) {
        r->is_established = true;
        return true;
    }
    if (n == IO_ERROR) {
        *is_dead = true;
    }
    return false;
}

/* ------------------------------------------------------------ mode: raw */

/* Feed raw bytes in chunks, then EOF; drive the server until it stops. */
static void run_raw(struct run *r, const uint8_t *p, size_t len)
{
    bool is_dead = false;
    size_t off = 0;
    char buf[4096];

    int after_eof = 0;

    while (!is_dead) {
        if (off < len) {
            ssize_t w = write(r->cfd, p + off, chunk_len(r, len - off));
            off += w > 0 ? (size_t)w : 0;
        } else if (off == len) {
            shutdown(r->cfd, SHUT_WR);
            off++;
        } else {
            /* After EOF the server must give up, not wait for the timeout. */
            assert(after_eof++ < 4);
        }
        client_discard(r);
        if (!r->is_established) {
            server_handshake_step(r, &is_dead);
            continue;
        }
        ssize_t n = transport_read(&r->t, buf, chunk_len(r, sizeof(buf)));
        check_io_result(n);
        is_dead = n == 0 || n == IO_ERROR || (n == IO_WANT_READ && off > len);
    }
}

/* ------------------------------------------------------------ real client */

static bool client_handshake(struct run *r, bool tls12_only)
{
    bool is_dead = false;
    bool client_done = false;

    r->client = SSL_new(tls12_only ? client_ctx12 : client_ctx);
    assert(r->client != NULL);
    SSL_set_fd(r->client, r->cfd);
    SSL_set_connect_state(r->client);
    for (int steps = 0; steps < 1000; steps++) {
        if (!client_done) {
            int rc = SSL_do_handshake(r->client);
            client_done = rc == 1;
            if (rc <= 0) {
                int e = SSL_get_error(r->client, rc);
                assert(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
            }
        }
        if (!r->is_established) {
            server_handshake_step(r, &is_dead);
            assert(!is_dead);
        }
        if (client_done && r->is_established) {
            return true;
        }
    }
    assert(!"handshake with our own client did not finish");
    return false;
}

/* Raw bytes after a good handshake: the server must fail cleanly or wait. */
static void run_handshake_raw(struct run *r, const uint8_t *p, size_t len)
{
    char buf[4096];
    size_t off = 0;

    for (int steps = 0; steps < 100000; steps++) {
        if (off < len) {
            ssize_t w = write(r->cfd, p + off, chunk_len(r, len - off));
            off += w > 0 ? (size_t)w : 0;
        }
        client_discard(r);
        if (!may_run(r, &r->rd_want)) {
            if (off == len) {
                return; /* everything sent and the server waits for more */
            }
            continue;
        }
        ssize_t n = transport_read(&r->t, buf, chunk_len(r, sizeof(buf)));
        note_result(&r->rd_want, n);
        if (n == 0 || n == IO_ERROR) {
            return;
        }
        if (n > 0 && transport_pending(&r->t) == 0 && !fd_ready(r->sfd, POLLIN)) {
            r->rd_want = IO_WANT_READ; /* conn.c would wait for the next event */
        }
    }
    assert(!"server read loop made no progress");
}

/* ------------------------------------------------------------ mode: echo */

struct echo {
    const uint8_t *in;
    size_t len;
    size_t sent;      /* client: bytes given to SSL_write */
    size_t retry_len; /* client: length of a write that must be retried as is */
    uint8_t *got;     /* server: bytes read */
    size_t got_len;   /* server: bytes read so far */
    size_t echoed;    /* server: bytes written back */
    uint8_t *back;    /* client: echo received */
    size_t back_len;  /* client: bytes of echo received */
};

static void client_send(struct run *r, struct echo *e)
{
    size_t want;
    int n;

    if (e->sent == e->len) {
        return;
    }
    /* OpenSSL wants a write that returned WANT_* retried with the same length. */
    want = e->retry_len > 0 ? e->retry_len : chunk_len(r, e->len - e->sent);
    n = SSL_write(r->client, e->in + e->sent, (int)want);
    if (n > 0) {
        e->sent += (size_t)n;
        e->retry_len = 0;
        return;
    }
    assert(SSL_get_error(r->client, n) == SSL_ERROR_WANT_WRITE ||
           SSL_get_error(r->client, n) == SSL_ERROR_WANT_READ);
    e->retry_len = want;
}

static void client_receive(struct run *r, struct echo *e)
{
    for (;;) {
        int n = SSL_read(r->client, e->back + e->back_len, (int)(e->len - e->back_len + 1));
        if (n <= 0) {
            break;
        }
        e->back_len += (size_t)n;
        assert(e->back_len <= e->len);
    }
}

/*
 * Read as conn.c does: when the socket is readable, and then again only while
 * it stays readable or the transport reports held bytes; stop at IO_WANT_READ.
 */
static void server_read(struct run *r, struct echo *e)
{
    while (e->got_len < e->len) {
        size_t room = e->len - e->got_len;
        ssize_t n;

        if (!may_run(r, &r->rd_want)) {
            return;
        }
        n = transport_read(&r->t, e->got + e->got_len, chunk_len(r, room));
        note_result(&r->rd_want, n);
        if (n <= 0) {
            assert(n == IO_WANT_READ);
            return;
        }
        e->got_len += (size_t)n;
        if (transport_pending(&r->t) == 0 && !fd_ready(r->sfd, POLLIN)) {
            r->rd_want = IO_WANT_READ;
            return;
        }
    }
}

/* Echo got[echoed..got_len) split into up to 8 iovecs of random size. */
static void server_write(struct run *r, struct echo *e)
{
    while (e->echoed < e->got_len) {
        struct iovec iov[8];
        int cnt = 0;
        size_t off = e->echoed;
        ssize_t n;

        while (off < e->got_len && cnt < 8) {
            size_t take = cnt == 7 ? e->got_len - off : chunk_len(r, e->got_len - off);
            iov[cnt].iov_base = e->got + off;
            iov[cnt++].iov_len = take;
            off += take;
        }
        if (!may_run(r, &r->wr_want)) {
            return;
        }
        n = transport_writev(&r->t, iov, cnt);
        note_result(&r->wr_want, n);
        if (n < 0) {
            assert(n == IO_WANT_WRITE || n == IO_WANT_READ);
            return;
        }
        assert((size_t)n <= off - e->echoed);
        e->echoed += (size_t)n;
    }
}

static void run_echo(struct run *r, const uint8_t *p, size_t len)
{
    struct echo e = {.in = p, .len = len};

    e.got = malloc(len + 1);
    e.back = malloc(len + 1);
    assert(e.got != NULL && e.back != NULL);
    for (int steps = 0; e.back_len < len; steps++) {
        assert(steps < 100000);
        client_send(r, &e);
        server_read(r, &e);
        server_write(r, &e);
        client_receive(r, &e);
    }
    assert(e.got_len == len && e.echoed == len);
    assert(memcmp(e.back, p, len) == 0);
    free(e.got);
    free(e.back);
}

/* ------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_stats before, after;
    struct run r;
    int mode;

    if (size < HEADER_LEN || size - HEADER_LEN > ECHO_MAX || !run_open(&r, data)) {
        return 0;
    }
    mode = data[0] % 3;
    tls_stats_snapshot(&before);
    if (mode == MODE_RAW) {
        run_raw(&r, data + HEADER_LEN, size - HEADER_LEN);
    } else if (client_handshake(&r, (data[0] & 4) != 0)) {
        if (mode == MODE_HANDSHAKE_RAW) {
            run_handshake_raw(&r, data + HEADER_LEN, size - HEADER_LEN);
        } else {
            run_echo(&r, data + HEADER_LEN, size - HEADER_LEN);
        }
    }
    run_close(&r);
    tls_stats_snapshot(&after);
    /* Exactly one count for a connection that never finished its handshake. */
    assert(after.ssl_handshake_errors - before.ssl_handshake_errors ==
           (r.is_established ? 0u : 1u));
    return 0;
}
