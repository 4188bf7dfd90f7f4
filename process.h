/*
 * process.h - turns request bytes into storage operations and response
 * bytes. The only place where the protocol (proto_text, proto_meta) and
 * storage (items) meet.
 *
 * The connection (conn.c) owns a struct session per client and feeds it the
 * bytes it has read; process parses one request at a time with the pure
 * parser, executes it, and appends the reply to session->out. It never does
 * I/O: when a request carries a value (set, ms, ...) it returns
 * PROCESS_READ_VALUE and the connection copies the value into the
 * destination process_value_dest() names, then calls process_value_done().
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct item;
struct thread_stats;

enum process_status {
    PROCESS_OK,         /* one request consumed (*consumed > 0); call again */
    PROCESS_NEED_MORE,  /* no complete line yet; read more and call again */
    PROCESS_READ_VALUE, /* read session->value_len bytes via process_value_dest() */
    PROCESS_SWALLOW,    /* discard session->swallow bytes from the input */
    PROCESS_CLOSE,      /* reply (if any) queued; close after writing it */
    PROCESS_SHUTDOWN,   /* `shutdown`: reply queued; stop the server */
};

/*
 * Per-connection protocol state. Owned by the connection (embedded in it);
 * process.c reads and writes the fields below, the connection only reads
 * value_len and swallow and owns `out`.
 */
struct session {
    struct resp_queue out;      /* replies, written by the connection */
    struct thread_stats *stats; /* the owning worker's counters */
    int conn_id;                /* for `stats conns`, logs */
    bool is_unix;               /* UNIX socket connection */

    /* a value being read (between PROCESS_READ_VALUE and process_value_done) */
    struct item *value_item; /* reference owned by the session */
    size_t value_len;        /* bytes to read, including "\r\n" */
    int value_cmd;           /* process-private: which command waits */
    uint64_t value_cas;      /* cas unique given with the command */
    uint32_t value_opts;     /* process-private flag bits (noreply, meta flags) */
    char value_meta[48];     /* process-private: meta return-flag text to echo */
    size_t value_meta_len;

    size_t swallow; /* bytes to discard (oversized value) */
    /* process-private: start of the replies memcached would not have flushed
     * yet (dropped when the connection closes) */
    struct resp_mark unsent;
    bool noreply_next; /* process-private */
};

/* Process-wide setup (hooks below); called once by main before workers start. */
struct process_hooks {
    /* `stats conns`: emit one name/value pair per line */
    void (*emit_conns)(void (*emit)(void *ctx, const char *name, const char *val), void *ctx);
    /* libevent's version string for `stats` (process never includes libevent) */
    const char *libevent_version;
};
void process_setup(const struct process_hooks *hooks);

void session_init(struct session *s, struct thread_stats *stats, int conn_id, bool is_unix);
/* Release the pending value item and the reply queue. */
void session_deinit(struct session *s);

/*
 * Parse and execute at most one request from buf[0..len). *consumed is the
 * number of bytes of buf used (the command line; the value, if any, is read
 * separately). len may exceed the 2048-byte line rule: process decides
 * whether to keep waiting (large multi-get) or to close.
 */
enum process_status process_input(struct session *s, char *buf, size_t len, size_t *consumed);

/* Where the value byte at offset goes: sets *ptr, returns contiguous room. */
size_t process_value_dest(struct session *s, size_t offset, char **ptr);

/* The whole value has been read: store it and queue the reply. */
enum process_status process_value_done(struct session *s);

#endif /* PROCESS_H */
