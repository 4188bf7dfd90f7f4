#ifndef MCB_IO_H
#define MCB_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mcb_opts;
struct ssl_st;
struct ssl_session_st;
struct mcb_tls;

/* Every I/O call returns bytes (>= 0; a read of 0 is end of stream) or one
 * of these. errno is never part of the contract; see mcb_io_last_error(). */
enum { MCB_IO_ERROR = -1, MCB_IO_WANT_READ = -2, MCB_IO_WANT_WRITE = -3 };

/* A client socket, plain when ssl is NULL. Owned by one connection. */
struct mcb_io {
    int fd;
    struct ssl_st *ssl;
};

/* Builds the process-wide client TLS context from the options (CA, client
 * certificate, verification, ticket capture when --tls-resume). Returns NULL
 * and fills err on failure. */
struct mcb_tls *mcb_tls_create(const struct mcb_opts *o, char *err, size_t errlen);
void mcb_tls_destroy(struct mcb_tls **t);

/* Wraps io->fd in a new TLS client. With resumption on, offers *slot (if
 * any) and afterwards keeps the newest ticket the server sends in *slot. The
 * slot must outlive the TLS object. Returns 0 or MCB_IO_ERROR. */
int mcb_io_tls_start(struct mcb_io *io, struct mcb_tls *t, struct ssl_session_st **slot);

/* 0 when the TLS handshake is complete (always 0 for plain sockets). */
int mcb_io_handshake(struct mcb_io *io);
ssize_t mcb_io_read(struct mcb_io *io, void *buf, size_t len);
ssize_t mcb_io_write(struct mcb_io *io, const void *buf, size_t len);

/* Decrypted bytes OpenSSL holds that the socket will not signal again. */
size_t mcb_io_pending(const struct mcb_io *io);
bool mcb_io_is_resumed(const struct mcb_io *io);

/* Closes the socket; is_graceful sends a TLS close_notify first (without
 * waiting for the peer's), as a well-behaved client does. */
void mcb_io_close(struct mcb_io *io, bool is_graceful);

void mcb_io_session_free(struct ssl_session_st **slot);

/* Reason for the last MCB_IO_ERROR on this thread. */
const char *mcb_io_last_error(void);

#endif
