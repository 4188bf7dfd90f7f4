/* Socket and TLS transport of mcbench.
 *
 * Owns: the client SSL_CTX, per-connection SSL objects, session tickets kept
 * for resumption, and the mapping of OpenSSL and socket results onto the
 * three MCB_IO_* outcomes. This is the only mcbench file that includes
 * OpenSSL; it must not depend on libevent or on the connection logic.
 *
 * Rejected: libevent's bufferevent_openssl (an extra copy through evbuffers
 * and no control over how many bytes go into each SSL_write, which decides
 * the record sizes the server has to decrypt); OpenSSL's internal client
 * session cache (it is keyed by nothing useful here; one ticket slot per
 * connection gives each reconnect the ticket its predecessor received). */
#include "mcb_io.h"

#include "mcb_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct mcb_tls {
    SSL_CTX *ctx;
    char *host;
    bool is_ip;
    bool is_verify;
};

static __thread char last_error[256];

const char *mcb_io_last_error(void)
{
    return last_error;
}

static void set_error(const char *what, const char *why)
{
    snprintf(last_error, sizeof(last_error), "%s: %s", what, why);
}

static void set_ssl_error(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200];

    if (e == 0) {
        set_error(what, errno != 0 ? strerror(errno) : "unexpected end of stream");
        return;
    }
    ERR_error_string_n(e, buf, sizeof(buf));
    set_error(what, buf);
    ERR_clear_error();
}

/* Keeps the newest ticket of a connection in the slot it was given. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_app_data(ssl);

    if (slot == NULL) {
        return 0;
    }
    if (*slot != NULL) {
        SSL_SESSION_free(*slot);
    }
    *slot = sess;
    return 1; /* we keep the reference */
}

static int load_ctx_files(struct mcb_tls *t, const struct mcb_opts *o)
{
    if (t->is_verify) {
        int ok = o->cacert != NULL ? SSL_CTX_load_verify_locations(t->ctx, o->cacert, NULL)
                                   : SSL_CTX_set_default_verify_paths(t->ctx);
        if (ok != 1) {
            set_ssl_error("loading CA");
            return -1;
        }
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    if (o->cert != NULL) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx) != 1) {
            set_ssl_error("loading client certificate");
            return -1;
        }
    }
    return 0;
}

struct mcb_tls *mcb_tls_create(const struct mcb_opts *o, char *err, size_t errlen)
{
    struct mcb_tls *t = calloc(1, sizeof(*t));
    unsigned char addr[16];

    if (t == NULL || (t->host = strdup(o->host)) == NULL) {
        set_error("tls", "out of memory");
        goto fail;
    }
    t->is_ip = inet_pton(AF_INET, o->host, addr) == 1 || inet_pton(AF_INET6, o->host, addr) == 1;
    t->is_verify = !o->is_insecure;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL || SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
        set_ssl_error("SSL_CTX_new");
        goto fail;
    }
    /* Lets a short SSL_write behave like a short write(2) (see STYLE.md 2). */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (load_ctx_files(t, o) != 0) {
        goto fail;
    }
    if (o->is_tls_resume) {
        SSL_CTX_set_session_cache_mode(t->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(t->ctx, on_new_session);
    }
    return t;
fail:
    snprintf(err, errlen, "%s", last_error);
    mcb_tls_destroy(&t);
    return NULL;
}

void mcb_tls_destroy(struct mcb_tls **tp)
{
    struct mcb_tls *t = *tp;

    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ctx);
    free(t->host);
    free(t);
    *tp = NULL;
}

static int set_peer_name(SSL *ssl, const struct mcb_tls *t)
{
    if (!t->is_ip && SSL_set_tlsext_host_name(ssl, t->host) != 1) {
        return -1;
    }
    if (!t->is_verify) {
        return 0;
    }
    if (t->is_ip) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host) == 1 ? 0 : -1;
    }
    return SSL_set1_host(ssl, t->host) == 1 ? 0 : -1;
}

int mcb_io_tls_start(struct mcb_io *io, struct mcb_tls *t, struct ssl_session_st **slot)
{
    SSL *ssl = SSL_new(t->ctx);

    if (ssl == NULL || SSL_set_fd(ssl, io->fd) != 1 || set_peer_name(ssl, t) != 0) {
        set_ssl_error("SSL_new");
        SSL_free(ssl);
        return MCB_IO_ERROR;
    }
    SSL_set_app_data(ssl, slot);
    if (slot != NULL && *slot != NULL && SSL_set_session(ssl, *slot) != 1) {
        set_ssl_error("SSL_set_session");
        SSL_free(ssl);
        return MCB_IO_ERROR;
    }
    io->ssl = ssl;
    return 0;
}

/* The one place OpenSSL results become MCB_IO_* outcomes. */
static int map_ssl(struct mcb_io *io, int ret, const char *what)
{
    switch (SSL_get_error(io->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return MCB_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return MCB_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        set_ssl_error(what);
        return MCB_IO_ERROR;
    }
}

int mcb_io_handshake(struct mcb_io *io)
{
    int ret;

    if (io->ssl == NULL) {
        return 0;
    }
    ERR_clear_error();
    errno = 0;
    ret = SSL_connect(io->ssl);
    if (ret == 1) {
        return 0;
    }
    ret = map_ssl(io, ret, "TLS handshake");
    if (ret == 0) {
        set_error("TLS handshake", "server closed the connection");
        return MCB_IO_ERROR;
    }
    return ret;
}

static ssize_t map_errno(const char *what)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return what[0] == 'r' ? MCB_IO_WANT_READ : MCB_IO_WANT_WRITE;
    }
    set_error(what, strerror(errno));
    return MCB_IO_ERROR;
}

ssize_t mcb_io_read(struct mcb_io *io, void *buf, size_t len)
{
    int ret;

    if (io->ssl == NULL) {
        ssize_t n = recv(io->fd, buf, len, 0);
        return n >= 0 ? n : map_errno("read");
    }
    ERR_clear_error();
    errno = 0;
    ret = SSL_read(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return ret > 0 ? ret : map_ssl(io, ret, "TLS read");
}

ssize_t mcb_io_write(struct mcb_io *io, const void *buf, size_t len)
{
    int ret;

    if (io->ssl == NULL) {
        ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);
        return n >= 0 ? n : map_errno("write");
    }
    ERR_clear_error();
    errno = 0;
    ret = SSL_write(io->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (ret > 0) {
        return ret;
    }
    ret = map_ssl(io, ret, "TLS write");
    if (ret == 0) {
        set_error("TLS write", "peer sent close_notify");
        return MCB_IO_ERROR;
    }
    return ret;
}

size_t mcb_io_pending(const struct mcb_io *io)
{
    return io->ssl != NULL ? (size_t)SSL_pending(io->ssl) : 0;
}

bool mcb_io_is_resumed(const struct mcb_io *io)
{
    return io->ssl != NULL && SSL_session_reused(io->ssl) == 1;
}

void mcb_io_close(struct mcb_io *io, bool is_graceful)
{
    if (io->ssl != NULL) {
        if (is_graceful && SSL_is_init_finished(io->ssl)) {
            ERR_clear_error();
            (void)SSL_shutdown(io->ssl);
        }
        ERR_clear_error();
        SSL_free(io->ssl);
        io->ssl = NULL;
    }
    if (io->fd >= 0) {
        close(io->fd);
        io->fd = -1;
    }
}

void mcb_io_session_free(struct ssl_session_st **slot)
{
    if (*slot != NULL) {
        SSL_SESSION_free(*slot);
        *slot = NULL;
    }
}
