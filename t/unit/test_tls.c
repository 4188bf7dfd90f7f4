/*
 * test_tls.c - unit tests for the TLS transport (tls.c) over socketpair():
 * the non-blocking handshake, the plaintext peek, reads with WANT_READ,
 * pending decrypted bytes, gathered writes with partial writes and
 * WANT_WRITE retried with the same bytes, EOF, protocol errors, the
 * counters, and certificate reload (a bad key keeps the old context).
 *
 * The client side is plain OpenSSL, driven by hand in the same thread, so
 * every step is deterministic. Certificates come from t/gen-certs.sh
 * (MC_CERT_DIR, or generated into a temporary directory). Prints TAP.
 */
#include "config.h"
#include "settings.h"
#include "tap.h"
#include "tls.h"
#include "tls_record.h"
#include "transport.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef TLS

#include "test_certs.h"

#include <fcntl.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static char cert_dir[600];
static char work_dir[512];

static int run(const char *cmd)
{
    int rc = system(cmd);

    return rc == 0 ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
    char cmd[8192];

    snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s.tmp' && mv '%s/%s.tmp' '%s/%s'", cert_dir, from,
             work_dir, to, work_dir, to, work_dir, to);
    return run(cmd);
}

/* Certificates, and a work dir whose crt.pem/key.pem we may swap for reloads. */
static int make_certs(void)
{
    if (test_certs_make("test_tls", work_dir, sizeof(work_dir), cert_dir, sizeof(cert_dir)) != 0) {
        return -1;
    }
    return copy_file("server_crt.pem", "crt.pem") | copy_file("server_key.pem", "key.pem");
}

/* The settings for the tests, plus `extra` -o options ("" for none). */
static int parse_settings_with(const char *extra)
{
    char o[1500];
    char *argv[] = {"memcached", "-Z", "-p", "11211", "-o", o, NULL};

    snprintf(o, sizeof(o), "ssl_chain_cert=%s/crt.pem,ssl_key=%s/key.pem,ssl_wbuf_size=4%s",
             work_dir, work_dir, extra);
    return settings_parse(6, argv) == SETTINGS_OK ? 0 : -1;
}

static int parse_settings(void)
{
    return parse_settings_with("");
}

/* ------------------------------------------------------------------ pairs */

struct pair {
    struct transport t; /* server side, through tls.c */
    SSL_CTX *cctx;
    SSL *cli;
    int cfd;
};

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int pair_open(struct pair *p)
{
    int sv[2];
    void *session;

    memset(p, 0, sizeof(*p));
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        return -1;
    }
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
    session = tls_session_create(sv[0], LISTEN_TLS_DEFAULT);
    if (session == NULL) {
        return -1;
    }
    tls_transport_init(&p->t, sv[0], session);
    p->cfd = sv[1];
    p->cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(p->cctx, SSL_VERIFY_NONE, NULL);
    p->cli = SSL_new(p->cctx);
    SSL_set_fd(p->cli, p->cfd);
    SSL_set_connect_state(p->cli);
    return 0;
}

static void pair_close(struct pair *p)
{
    transport_close(&p->t);
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    close(p->cfd);
}

static int want(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);

    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Step both sides until both finished; 0 on success. */
static int pair_handshake(struct pair *p, ssize_t *first_server_result)
{
    int cli_done = 0;
    int srv_done = 0;

    *first_server_result = transport_handshake(&p->t);
    for (int i = 0; i < 200 && !(cli_done && srv_done); i++) {
        if (!cli_done) {
            int r = SSL_do_handshake(p->cli);
            if (r == 1) {
                cli_done = 1;
            } else if (!want(p->cli, r)) {
                return -1;
            }
        }
        if (!srv_done) {
            ssize_t r = transport_handshake(&p->t);
            if (r == 0) {
                srv_done = 1;
            } else if (r == IO_ERROR) {
                return -1;
            }
        }
    }
    return cli_done && srv_done ? 0 : -1;
}

/* Client reads until it has n bytes or nothing more comes; returns bytes read. */
static size_t client_read(struct pair *p, char *buf, size_t n)
{
    size_t got = 0;

    for (int idle = 0; got < n && idle < 3;) {
        int r = SSL_read(p->cli, buf + got, (int)(n - got));
        if (r > 0) {
            got += (size_t)r;
            idle = 0;
        } else {
            idle++;
        }
    }
    return got;
}

/* The client's view of the server certificate, as a fingerprint-like compare. */
static int peer_is(struct pair *p, const char *pem_name)
{
    char path[1024];
    FILE *f;
    X509 *want_x;
    X509 *got = SSL_get1_peer_certificate(p->cli);
    int same;

    snprintf(path, sizeof(path), "%s/%s", cert_dir, pem_name);
    f = fopen(path, "r");
    want_x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    same = got != NULL && want_x != NULL && X509_cmp(got, want_x) == 0;
    if (f != NULL) {
        fclose(f);
    }
    X509_free(want_x);
    X509_free(got);
    return same;
}

/* ------------------------------------------------------------------ tests */

static void test_handshake_and_read(void)
{
    struct pair p;
    ssize_t first = 0;
    char buf[2048];
    struct tls_stats st;

    ok(pair_open(&p) == 0, "session created and transport initialised");
    ok(pair_handshake(&p, &first) == 0, "non-blocking handshake completes");
    ok(first == IO_WANT_READ, "first handshake call, nothing sent yet: IO_WANT_READ");
    ok(peer_is(&p, "server_crt.pem"), "client sees the configured certificate");
    ok(transport_handshake(&p.t) == 0, "handshake after completion returns 0");
    ok(transport_read(&p.t, buf, sizeof(buf)) == IO_WANT_READ, "read with nothing sent: WANT_READ");

    ok(SSL_write(p.cli, "get foo\r\n", 9) == 9, "client sends a request");
    ok(transport_read(&p.t, buf, sizeof(buf)) == 9 && memcmp(buf, "get foo\r\n", 9) == 0,
       "server reads it");

    memset(buf, 'p', 1000);
    ok(SSL_write(p.cli, buf, 1000) == 1000, "client sends 1000 bytes in one record");
    ok(transport_read(&p.t, buf, 10) == 10, "server reads 10 of them");
    ok(transport_pending(&p.t) == 990, "pending reports the 990 decrypted bytes left");
    ok(transport_read(&p.t, buf, sizeof(buf)) == 990, "they are read without new socket input");
    ok(transport_pending(&p.t) == 0, "pending is 0 afterwards");

    SSL_shutdown(p.cli);
    ok(transport_read(&p.t, buf, sizeof(buf)) == 0, "close_notify from the client reads as EOF");
    tls_stats_snapshot(&st);
    ok(st.ssl_proto_errors == 0, "no protocol error counted for an orderly close");
    pair_close(&p);
}

static void test_gathered_writes(void)
{
    struct pair p;
    ssize_t first;
    struct iovec iov[3] = {{"VALUE k 0 5\r\n", 13}, {"hello", 5}, {"\r\nEND\r\n", 7}};
    char buf[64];

    pair_open(&p);
    pair_handshake(&p, &first);
    ok(transport_writev(&p.t, iov, 3) == 25, "writev of three iovecs writes all 25 bytes");
    ok(client_read(&p, buf, 25) == 25 && memcmp(buf, "VALUE k 0 5\r\nhello\r\nEND\r\n", 25) == 0,
       "client receives them in order");
    pair_close(&p);
}

/* Offset the iovecs by `done` bytes into out[]; returns the new count. */
static int iov_advance(const struct iovec *in, int cnt, size_t done, struct iovec *out)
{
    int n = 0;

    for (int i = 0; i < cnt; i++) {
        if (done >= in[i].iov_len) {
            done -= in[i].iov_len;
            continue;
        }
        out[n].iov_base = (char *)in[i].iov_base + done;
        out[n].iov_len = in[i].iov_len - done;
        done = 0;
        n++;
    }
    return n;
}

static void test_partial_and_want_write(void)
{
    enum { TOTAL = 1 << 20, PIECES = 64 };
    struct pair p;
    ssize_t first;
    char *src = malloc(TOTAL);
    char *dst = malloc(TOTAL);
    struct iovec iov[PIECES];
    struct iovec cur[PIECES];
    size_t done = 0;
    size_t got = 0;
    int wants = 0;
    int partial = 0;
    int small = 4096;

    pair_open(&p);
    setsockopt(p.t.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(p.cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    pair_handshake(&p, &first);
    for (size_t i = 0; i < TOTAL; i++) {
        src[i] = (char)(i * 131 + (i >> 12));
    }
    /* Uneven pieces: small ones get gathered, big ones written in place. */
    for (size_t i = 0, off = 0; i < PIECES; i++) {
        static const size_t sizes[] = {100, 3000, 7, 30000, 1500, 4096, 9000, 13};
        size_t len = i == PIECES - 1 ? TOTAL - off : sizes[i % 8];
        iov[i].iov_base = src + off;
        iov[i].iov_len = len;
        off += len;
    }
    for (int rounds = 0; done < TOTAL && rounds < 100000; rounds++) {
        int n = iov_advance(iov, PIECES, done, cur);
        ssize_t w = transport_writev(&p.t, cur, n);
        if (w == IO_WANT_WRITE) {
            wants++;
            int r = SSL_read(p.cli, dst + got, TOTAL - (int)got);
            got += r > 0 ? (size_t)r : 0;
        } else if (w > 0) {
            partial += (size_t)w < TOTAL - done;
            done += (size_t)w;
        } else {
            break;
        }
    }
    got += client_read(&p, dst + got, TOTAL - got);
    ok(done == TOTAL, "1 MB written through a small socket buffer");
    ok(wants > 0, "the writer saw IO_WANT_WRITE");
    ok(partial > 0, "and short writes");
    ok(got == TOTAL && memcmp(src, dst, TOTAL) == 0, "the client got every byte, in order");
    pair_close(&p);
    free(src);
    free(dst);
}

static void test_plaintext_and_errors(void)
{
    struct pair p;
    struct tls_stats before;
    struct tls_stats after;
    ssize_t first;
    char buf[64];

    tls_stats_snapshot(&before);
    pair_open(&p);
    ok(write(p.cfd, "get foo\r\n", 9) == 9, "a plaintext client sends a command");
    ok(transport_handshake(&p.t) == IO_ERROR, "handshake fails at once");
    ok(strstr(transport_last_error(), "plaintext") != NULL, "the reason says plaintext");
    pair_close(&p);
    tls_stats_snapshot(&after);
    ok(after.ssl_handshake_errors == before.ssl_handshake_errors + 1, "counted once");

    pair_open(&p);
    ok(transport_handshake(&p.t) == IO_WANT_READ, "a silent client: handshake waits");
    pair_close(&p);
    tls_stats_snapshot(&before);
    ok(before.ssl_handshake_errors == after.ssl_handshake_errors + 1,
       "closing during the handshake counts as a failed handshake");

    pair_open(&p);
    pair_handshake(&p, &first);
    ok(write(p.cfd, "\x17\x03\x03\x00\x10xxxxxxxxxxxxxxxx", 21) == 21, "a corrupted record");
    ok(transport_read(&p.t, buf, sizeof(buf)) == IO_ERROR, "read fails");
    pair_close(&p);
    tls_stats_snapshot(&after);
    ok(after.ssl_proto_errors == before.ssl_proto_errors + 1, "counted in ssl_proto_errors");
    ok(after.ssl_handshake_errors == before.ssl_handshake_errors, "not as a handshake error");
}

/* One request from the client and one reply from the server; 1 when both arrive intact. */
static int exchange(struct pair *p, const char *req, const char *reply)
{
    char buf[256];
    struct iovec iov = {(void *)reply, strlen(reply)};
    size_t rlen = strlen(req);
    ssize_t n;

    if (SSL_write(p->cli, req, (int)rlen) != (int)rlen) {
        return 0;
    }
    n = transport_read(&p->t, buf, sizeof(buf));
    if (n != (ssize_t)rlen || memcmp(buf, req, rlen) != 0) {
        return 0;
    }
    if (transport_writev(&p->t, &iov, 1) != (ssize_t)iov.iov_len) {
        return 0;
    }
    return client_read(p, buf, iov.iov_len) == iov.iov_len && memcmp(buf, reply, iov.iov_len) == 0;
}

static int key_updates_seen; /* KeyUpdate messages the client received */

static void count_key_updates(int write_p, int version, int type, const void *buf, size_t len,
                              SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    (void)arg;
    if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE) {
        key_updates_seen++;
    }
}

static void test_offload_and_key_update(void)
{
    struct pair p;
    ssize_t first;
    char buf[16];

    pair_open(&p);
    ok(pair_handshake(&p, &first) == 0, "TLS 1.3 handshake");
    ok(tls_transport_is_offloaded(&p.t), "records move to user space after the handshake");
    ok(exchange(&p, "get a\r\n", "END\r\n"), "request and reply after the handover");
    SSL_set_msg_callback(p.cli, count_key_updates);
    ok(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED) == 1, "client asks for a key update");
    ok(exchange(&p, "get b\r\n", "VALUE b 0 1\r\nx\r\nEND\r\n"),
       "the server reads under the client's next key and answers under its own next key");
    ok(key_updates_seen == 1, "the client received the server's KeyUpdate");
    ok(exchange(&p, "get c\r\n", "END\r\n"), "both keys keep working afterwards");
    ok(SSL_key_update(p.cli, SSL_KEY_UPDATE_NOT_REQUESTED) == 1, "client updates only its key");
    ok(exchange(&p, "get d\r\n", "END\r\n") && key_updates_seen == 1,
       "the server follows, without a KeyUpdate of its own");
    transport_close(&p.t);
    ok(SSL_read(p.cli, buf, sizeof(buf)) == 0 && SSL_get_error(p.cli, 0) == SSL_ERROR_ZERO_RETURN,
       "closing sends close_notify");
    pair_close(&p);
}

/* Drive the client to done, then the server; the client sends req right after its Finished. */
static int handshake_then_request(struct pair *p, const char *req)
{
    int cli_done = 0;
    int srv_done = 0;

    for (int i = 0; i < 200 && !cli_done; i++) {
        int r = SSL_do_handshake(p->cli);
        cli_done = r == 1;
        if (!cli_done && transport_handshake(&p->t) == IO_ERROR) {
            break;
        }
    }
    if (!cli_done || SSL_write(p->cli, req, (int)strlen(req)) != (int)strlen(req)) {
        return 0;
    }
    for (int i = 0; i < 200 && !srv_done; i++) {
        srv_done = transport_handshake(&p->t) == 0;
    }
    return srv_done;
}

/*
 * The client's first request arrives with its Finished. On OpenSSL's
 * handshake (a P-256 key share sends it there) OpenSSL reads it ahead, so
 * the handover waits; on ours the request stays in our buffer.
 */
static void test_offload_after_read_ahead(void)
{
    struct pair p;
    char buf[64];

    pair_open(&p);
    SSL_set1_groups_list(p.cli, "P-256");
    ok(handshake_then_request(&p, "get early\r\n") && !tls_transport_is_offloaded(&p.t),
       "OpenSSL's handshake, request read ahead: still on OpenSSL");
    ok(transport_read(&p.t, buf, sizeof(buf)) == 11 && memcmp(buf, "get early\r\n", 11) == 0,
       "the request is read");
    ok(tls_transport_is_offloaded(&p.t), "then the records move to user space");
    ok(exchange(&p, "get late\r\n", "END\r\n"), "sequence numbers carry over");
    pair_close(&p);

    pair_open(&p);
    ok(handshake_then_request(&p, "get early\r\n") && tls_transport_is_offloaded(&p.t),
       "our handshake: records in user space at once");
    ok(transport_read(&p.t, buf, sizeof(buf)) == 11 && memcmp(buf, "get early\r\n", 11) == 0,
       "the request that came with the Finished is read");
    ok(exchange(&p, "get late\r\n", "END\r\n"), "and the next one");
    pair_close(&p);
}

/* A finished client's session, kept resumable (a client freed without a shutdown marks it not). */
static SSL_SESSION *pair_session(struct pair *p)
{
    SSL_SESSION *sess = SSL_get1_session(p->cli);

    SSL_set_shutdown(p->cli, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return sess;
}

/*
 * Tickets and the two handshakes: ours resumes ours; OpenSSL's ticket (its
 * handshake served a P-256 client) goes back to OpenSSL, which reads the
 * ClientHello our handshake already took from the socket and resumes it;
 * our ticket offered where OpenSSL must answer means a full handshake.
 */
static void test_tickets_across_handshakes(void)
{
    struct pair p;
    ssize_t first;
    SSL_SESSION *ours;
    SSL_SESSION *theirs;

    pair_open(&p);
    ok(pair_handshake(&p, &first) == 0 && exchange(&p, "get a\r\n", "END\r\n"),
       "X25519 client: our handshake");
    ours = pair_session(&p);
    pair_close(&p);
    pair_open(&p);
    SSL_set1_groups_list(p.cli, "P-256");
    ok(pair_handshake(&p, &first) == 0 && exchange(&p, "get a\r\n", "END\r\n"),
       "P-256 client: OpenSSL's handshake");
    theirs = pair_session(&p);
    pair_close(&p);

    pair_open(&p);
    SSL_set_session(p.cli, ours);
    ok(pair_handshake(&p, &first) == 0 && SSL_session_reused(p.cli) &&
           exchange(&p, "get b\r\n", "END\r\n"),
       "our ticket resumes on our handshake");
    pair_close(&p);

    pair_open(&p);
    SSL_set_session(p.cli, theirs);
    ok(pair_handshake(&p, &first) == 0 && SSL_session_reused(p.cli) &&
           exchange(&p, "get c\r\n", "END\r\n"),
       "OpenSSL's ticket with an X25519 share: handed to OpenSSL, which resumes it");
    pair_close(&p);

    pair_open(&p);
    SSL_set_session(p.cli, ours);
    SSL_set1_groups_list(p.cli, "P-256");
    ok(pair_handshake(&p, &first) == 0 && !SSL_session_reused(p.cli) &&
           exchange(&p, "get d\r\n", "END\r\n"),
       "our ticket where OpenSSL answers: a full handshake");
    pair_close(&p);
    SSL_SESSION_free(ours);
    SSL_SESSION_free(theirs);
}

/*
 * A client that finishes its handshake and goes away at once: sending the
 * session ticket fails, but the handshake was complete (its Finished was
 * checked), so it is not counted as a failed handshake; the connection's
 * next read meets the end.
 */
static void test_gone_after_finished(void)
{
    struct pair p;
    struct tls_stats before;
    struct tls_stats after;
    char buf[16];
    int cli_done = 0;
    ssize_t r = IO_WANT_READ;

    tls_stats_snapshot(&before);
    pair_open(&p);
    for (int i = 0; i < 200 && !cli_done; i++) {
        cli_done = SSL_do_handshake(p.cli) == 1;
        if (!cli_done && transport_handshake(&p.t) == IO_ERROR) {
            break;
        }
    }
    close(p.cfd); /* the Finished is in the socket; sends to it now fail (EPIPE) */
    p.cfd = -1;
    for (int i = 0; i < 10 && r != 0 && r != IO_ERROR; i++) {
        r = transport_handshake(&p.t);
    }
    tls_stats_snapshot(&after);
    ok(cli_done && r == 0, "client finished and gone: the server's handshake completes");
    ok(after.ssl_handshake_errors == before.ssl_handshake_errors,
       "and it is not counted as a failed handshake");
    ok(transport_read(&p.t, buf, sizeof(buf)) <= 0, "the next read meets the end");
    pair_close(&p);
}

/* The client's traffic secrets, from its keylog callback, to forge records with. */
static uint8_t cli_secret[2][TLS_RECORD_SECRET_MAX]; /* [0] client's, [1] server's */
static size_t cli_secret_len;

static void client_keylog(const SSL *ssl, const char *line)
{
    const char *hex = strrchr(line, ' ');
    int which = strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0   ? 0
                : strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0 ? 1
                                                                     : -1;

    (void)ssl;
    if (which < 0 || hex == NULL) {
        return;
    }
    cli_secret_len = strlen(hex + 1) / 2;
    for (size_t i = 0; i < cli_secret_len && i < TLS_RECORD_SECRET_MAX; i++) {
        unsigned v = 0;
        sscanf(hex + 1 + 2 * i, "%2x", &v);
        cli_secret[which][i] = (uint8_t)v;
    }
}

/*
 * A handshaken pair and a record sealer playing the client, so the test can
 * send records no well-behaved client would: padding, empty records, odd
 * content types, alerts. The client's OpenSSL object sends nothing more.
 */
static struct tls_record *forger_open(struct pair *p)
{
    ssize_t first;

    pair_open(p);
    SSL_CTX_set_keylog_callback(p->cctx, client_keylog);
    if (pair_handshake(p, &first) != 0 || !tls_transport_is_offloaded(&p->t)) {
        return NULL;
    }
    return tls_record_create(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(p->cli)),
                             cli_secret[1], cli_secret[0], cli_secret_len, 0, 0);
}

/* Seal the pieces as one record whose inner type byte is `type`; send it. */
static int forge(struct tls_record *rl, struct pair *p, uint8_t type, const struct iovec *iov,
                 int cnt)
{
    uint8_t rec[1024];
    size_t len = 0;
    size_t n;

    for (int i = 0; i < cnt; i++) {
        len += iov[i].iov_len;
    }
    n = tls_record_seal(rl, type, iov, cnt, 0, len, rec);
    return n > 0 && write(p->cfd, rec, n) == (ssize_t)n;
}

static ssize_t forge_one(const char *what, uint8_t type, const void *body, size_t len, char *reason,
                         size_t cap)
{
    struct pair p;
    struct tls_record *rl = forger_open(&p);
    struct iovec iov = {(void *)body, len};
    char buf[64];
    ssize_t r = IO_ERROR;

    if (rl != NULL && forge(rl, &p, type, &iov, 1)) {
        r = transport_read(&p.t, buf, sizeof(buf));
    } else {
        ok(0, what);
    }
    snprintf(reason, cap, "%s", transport_last_error());
    tls_record_destroy(&rl);
    pair_close(&p);
    return r;
}

static void test_forged_records(void)
{
    static const uint8_t zeros[100];
    static const uint8_t app_type = TLS_CT_APPLICATION_DATA;
    struct pair p;
    struct tls_record *rl = forger_open(&p);
    char buf[64];
    char why[256];
    struct tls_stats before;
    struct tls_stats after;

    ok(rl != NULL, "a client-side sealer with the client's secrets");
    if (rl == NULL) {
        pair_close(&p);
        return;
    }
    /* content, type 23, then 100 zero bytes of padding (the last from `type` 0) */
    struct iovec padded[3] = {{"get a\r\n", 7}, {(void *)&app_type, 1}, {(void *)zeros, 99}};
    ok(forge(rl, &p, 0, padded, 3) && transport_read(&p.t, buf, sizeof(buf)) == 7 &&
           memcmp(buf, "get a\r\n", 7) == 0,
       "padding after the content type is stripped");
    struct iovec empty = {(void *)zeros, 0};
    struct iovec req = {"get b\r\n", 7};
    ok(forge(rl, &p, TLS_CT_APPLICATION_DATA, &empty, 1) &&
           forge(rl, &p, TLS_CT_APPLICATION_DATA, &req, 1) &&
           transport_read(&p.t, buf, sizeof(buf)) == 7 && memcmp(buf, "get b\r\n", 7) == 0,
       "an empty record is skipped, not read as EOF");
    int sent = 1;
    for (int i = 0; i < 32; i++) {
        sent &= forge(rl, &p, TLS_CT_APPLICATION_DATA, &empty, 1);
    }
    ok(sent && forge(rl, &p, TLS_CT_APPLICATION_DATA, &req, 1) &&
           transport_read(&p.t, buf, sizeof(buf)) == 7,
       "32 empty records in a row are still accepted");
    struct iovec cancel = {"\x01\x5a", 2};
    struct iovec notify = {"\x01\x00", 2};
    ok(forge(rl, &p, TLS_CT_ALERT, &cancel, 1) && forge(rl, &p, TLS_CT_ALERT, &notify, 1) &&
           transport_read(&p.t, buf, sizeof(buf)) == 0,
       "user_canceled is ignored, close_notify reads as EOF");
    tls_record_destroy(&rl);
    pair_close(&p);

    tls_stats_snapshot(&before);
    ok(forge_one("all padding", 0, zeros, 10, why, sizeof(why)) == IO_ERROR &&
           strstr(why, "unexpected") != NULL,
       "a record of only padding is an unexpected message");
    ok(forge_one("type 99", 99, "x", 1, why, sizeof(why)) == IO_ERROR,
       "an unknown content type fails");
    ok(forge_one("ticket", TLS_CT_HANDSHAKE, "\x04\x00\x00\x00", 4, why, sizeof(why)) == IO_ERROR,
       "a handshake message other than KeyUpdate fails");
    ok(forge_one("key update 2", TLS_CT_HANDSHAKE, "\x18\x00\x00\x01\x02", 5, why, sizeof(why)) ==
           IO_ERROR,
       "a KeyUpdate with an invalid request fails");
    ok(forge_one("ccs", TLS_CT_CHANGE_CIPHER_SPEC, "\x01", 1, why, sizeof(why)) == IO_ERROR,
       "change_cipher_spec after the handshake fails");
    ok(forge_one("fatal", TLS_CT_ALERT, "\x02\x28", 2, why, sizeof(why)) == IO_ERROR &&
           strstr(why, "alert") != NULL,
       "a fatal alert fails, the reason names it");
    tls_stats_snapshot(&after);
    ok(after.ssl_proto_errors == before.ssl_proto_errors + 6, "each counted in ssl_proto_errors");

    rl = forger_open(&p);
    {
        struct iovec none = {(void *)zeros, 0};
        int all_sent = rl != NULL;
        for (int i = 0; i < 33 && all_sent; i++) {
            all_sent &= forge(rl, &p, TLS_CT_APPLICATION_DATA, &none, 1);
        }
        ok(all_sent && transport_read(&p.t, buf, sizeof(buf)) == IO_ERROR &&
               strstr(transport_last_error(), "without data") != NULL,
           "33 records without data in a row: the peer is cut off");
    }
    tls_record_destroy(&rl);
    pair_close(&p);

    rl = forger_open(&p);
    {
        uint8_t rec[64];
        struct iovec iov = {"get c\r\n", 7};
        size_t n =
            rl != NULL ? tls_record_seal(rl, TLS_CT_APPLICATION_DATA, &iov, 1, 0, 7, rec) : 0;
        rec[n > 0 ? n - 1 : 0] ^= 1;
        ok(n > 0 && write(p.cfd, rec, n) == (ssize_t)n &&
               transport_read(&p.t, buf, sizeof(buf)) == IO_ERROR &&
               strstr(transport_last_error(), "bad record mac") != NULL,
           "a flipped tag bit: bad record mac");
    }
    tls_record_destroy(&rl);
    pair_close(&p);
}

/* A client that negotiated 512-byte records must never get a bigger one. */
static void test_max_fragment_length(void)
{
    struct pair p;
    ssize_t first;
    static char big[3000];
    static char got[3000];
    struct iovec iov = {big, sizeof(big)};

    memset(big, 'm', sizeof(big));
    pair_open(&p);
    SSL_set_tlsext_max_fragment_length(p.cli, TLSEXT_max_fragment_length_512);
    ok(pair_handshake(&p, &first) == 0 && SSL_SESSION_get_max_fragment_length(SSL_get_session(
                                              p.cli)) == TLSEXT_max_fragment_length_512,
       "max_fragment_length 512 negotiated");
    ok(tls_transport_is_offloaded(&p.t), "records in user space");
    ok(transport_writev(&p.t, &iov, 1) == (ssize_t)sizeof(big), "3000 bytes written");
    ok(client_read(&p, got, sizeof(got)) == sizeof(got) && memcmp(big, got, sizeof(got)) == 0,
       "the client accepts every record (none above 512 bytes)");
    pair_close(&p);
}

static void test_tls12_stays(void)
{
    struct pair p;
    ssize_t first;

    pair_open(&p);
    SSL_set_max_proto_version(p.cli, TLS1_2_VERSION);
    ok(pair_handshake(&p, &first) == 0 && SSL_version(p.cli) == TLS1_2_VERSION,
       "TLS 1.2 handshake");
    ok(!tls_transport_is_offloaded(&p.t), "TLS 1.2 stays on OpenSSL");
    ok(exchange(&p, "get a\r\n", "END\r\n"), "and works");
    pair_close(&p);
}

static void test_offload_errors(void)
{
    struct pair p;
    struct tls_stats before;
    struct tls_stats after;
    ssize_t first;
    char buf[64];

    tls_stats_snapshot(&before);
    pair_open(&p);
    pair_handshake(&p, &first);
    ok(write(p.cfd, "\x17\x03\x03\x48\x01", 5) == 5, "a record header longer than allowed");
    ok(transport_read(&p.t, buf, sizeof(buf)) == IO_ERROR, "read fails at the header");
    ok(strstr(transport_last_error(), "overflow") != NULL, "the reason says overflow");
    pair_close(&p);

    pair_open(&p);
    pair_handshake(&p, &first);
    ok(write(p.cfd, "\x15\x03\x03\x00\x02\x02\x28", 7) == 7, "an unencrypted alert");
    ok(transport_read(&p.t, buf, sizeof(buf)) == IO_ERROR, "read fails");
    pair_close(&p);
    tls_stats_snapshot(&after);
    ok(after.ssl_proto_errors == before.ssl_proto_errors + 2, "both counted in ssl_proto_errors");

    pair_open(&p);
    pair_handshake(&p, &first);
    ok(write(p.cfd, "\x17\x03\x03\x00\x40", 5) == 5, "half a record");
    ok(transport_read(&p.t, buf, sizeof(buf)) == IO_WANT_READ && transport_pending(&p.t) == 0,
       "waits for the rest, nothing pending");
    shutdown(p.cfd, SHUT_WR);
    ok(transport_read(&p.t, buf, sizeof(buf)) == 0, "EOF in the middle of a record is EOF");
    pair_close(&p);
}

static void test_refresh(void)
{
    char err[1024];
    struct pair p;
    struct pair old;
    ssize_t first;
    struct tls_stats st;

    pair_open(&old);
    pair_handshake(&old, &first);
    copy_file("server_crt.pem", "crt.pem");
    copy_file("mismatch_key.pem", "key.pem");
    ok(!tls_refresh_certs(err, sizeof(err)), "refresh with a mismatched key fails");
    ok(strstr(err, "key.pem") != NULL && strstr(err, "mismatch") != NULL,
       "the error names the key file and the reason");
    pair_open(&p);
    ok(pair_handshake(&p, &first) == 0 && peer_is(&p, "server_crt.pem"),
       "new handshakes still use the last good certificate");
    pair_close(&p);

    copy_file("server2_crt.pem", "crt.pem");
    copy_file("server2_key.pem", "key.pem");
    ok(tls_refresh_certs(err, sizeof(err)), "refresh with a good pair succeeds");
    tls_stats_snapshot(&st);
    ok(st.time_since_server_cert_refresh == 0, "time_since_server_cert_refresh restarts");
    pair_open(&p);
    ok(pair_handshake(&p, &first) == 0 && peer_is(&p, "server2_crt.pem"),
       "new handshakes use the new certificate");
    pair_close(&p);
    ok(SSL_write(old.cli, "version\r\n", 9) == 9, "the old connection still writes");
    char buf[16];
    ok(transport_read(&old.t, buf, sizeof(buf)) == 9, "and the server still reads it");
    pair_close(&old);
}

/*
 * With ssl_session_cache OpenSSL does every handshake (stateful sessions),
 * and building a context counts no session: only clients' sessions are
 * counted in ssl_new_sessions.
 */
static void test_session_cache_reload(void)
{
    char err[1024];
    struct tls_stats before;
    struct tls_stats after;
    struct pair p;
    ssize_t first;

    settings_teardown();
    ok(parse_settings_with(",ssl_session_cache") == 0, "settings with ssl_session_cache");
    tls_stats_snapshot(&before);
    ok(tls_refresh_certs(err, sizeof(err)), "reload with the session cache on");
    tls_stats_snapshot(&after);
    ok(after.ssl_new_sessions == before.ssl_new_sessions, "the reload counts no session");
    pair_open(&p);
    ok(pair_handshake(&p, &first) == 0 && exchange(&p, "get a\r\n", "END\r\n"),
       "a handshake with the session cache");
    tls_stats_snapshot(&after);
    ok(after.ssl_new_sessions == before.ssl_new_sessions + 1, "its session is counted once");
    pair_close(&p);
    settings_teardown();
    parse_settings();
    tls_refresh_certs(err, sizeof(err));
}

int main(void)
{
    char err[1024];

    signal(SIGPIPE, SIG_IGN);
    if (make_certs() != 0 || parse_settings() != 0) {
        printf("Bail out! cannot make certificates or parse settings\n");
        return 1;
    }
    ok(tls_available(), "TLS is compiled in");
    ok(tls_setup(err, sizeof(err)), "tls_setup from the generated certificates");
    ok(tls_worker_setup(), "worker staging buffer");
    test_handshake_and_read();
    test_gathered_writes();
    test_partial_and_want_write();
    test_plaintext_and_errors();
    test_offload_and_key_update();
    test_offload_after_read_ahead();
    test_tickets_across_handshakes();
    test_gone_after_finished();
    test_forged_records();
    test_max_fragment_length();
    test_tls12_stays();
    test_offload_errors();
    test_refresh();
    test_session_cache_reload();
    tls_worker_teardown();
    tls_teardown();
    settings_teardown();
    printf("1..%d\n", test_num);
    {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work_dir);
        run(cmd);
    }
    return failures == 0 ? 0 : 1;
}

#else /* !TLS */

int main(void)
{
    return tap_skip_all("TLS not compiled in");
}

#endif
