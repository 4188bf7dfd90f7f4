/*
 * settings.h - the server configuration, parsed once from the command line.
 *
 * settings_parse() fills a struct settings from argv before any thread
 * starts; afterwards the struct is read-only and every module reads it through
 * the `settings` pointer. The few knobs that change at runtime (verbosity,
 * cache_memlimit, detail stats) live in the owning module as atomics with a
 * named setter, never here.
 */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a listener does with TLS, from the -l prefix (memcached spelling). */
enum listen_tls {
    LISTEN_TLS_DEFAULT = 0, /* TLS when -Z, verify per ssl_verify_mode */
    LISTEN_TLS_OFF,         /* "notls:" plain even with -Z */
    LISTEN_TLS_MUTUAL,      /* "mtls:" TLS, client certificate required */
    LISTEN_TLS_BASIC,       /* "btls:" TLS, client certificate never checked */
};

struct listen_spec {
    char *host; /* NULL = any address */
    int port;   /* explicit ":port", or settings.port */
    enum listen_tls tls;
};

#define SETTINGS_MAX_LISTEN 64

/* Values used by `stats settings`; names follow memcached's. */
struct settings {
    /* network */
    int port;    /* -p, default 11211 */
    int udpport; /* -U, only 0 supported */
    char *inter; /* -l as given, comma-joined, for `stats settings` */
    struct listen_spec listen[SETTINGS_MAX_LISTEN];
    int nlisten;            /* 0 = one listener on INADDR_ANY:port */
    char *socketpath;       /* -s */
    int access;             /* -a, octal, default 0700 */
    int backlog;            /* -b, default 1024 */
    int maxconns;           /* -c, default 1024 */
    bool maxconns_fast;     /* -o maxconns_fast / no_maxconns_fast, default true */
    int idle_timeout;       /* -o idle_timeout, seconds, 0 = off */
    int reqs_per_event;     /* -R, default 20 */
    int num_threads;        /* -t, default 4 */
    char *binding_protocol; /* -B: "ascii", "binary", "auto"; only ascii served */

    /* storage */
    size_t maxbytes;            /* -m in MB -> bytes, default 64 MB */
    bool evict_to_free;         /* false with -M */
    int item_size_max;          /* -I, bytes, default 1 MB */
    int slab_chunk_size_max;    /* -o slab_chunk_max (KB on the command line), bytes */
    double factor;              /* -f, default 1.25 */
    int chunk_size;             /* -n, default 48 */
    int hashpower_init;         /* -o hashpower, 0 = default (16) */
    bool hash_expand;           /* false with -o no_hashexpand */
    bool use_cas;               /* false with -C */
    bool flush_enabled;         /* false with -F */
    bool lru_crawler;           /* accepted; we have no crawler thread */
    bool lru_maintainer_thread; /* accepted; we have no maintainer thread */
    bool track_sizes;           /* -o track_sizes */

    /* process */
    int verbose;           /* -v count; runtime changes go through logger */
    bool daemonize;        /* -d */
    char *pid_file;        /* -P */
    char *username;        /* -u */
    bool shutdown_command; /* -A */
    bool dump_enabled;     /* false with -X */
    bool watch_enabled;    /* false with -W */
    char prefix_delimiter; /* -D, default ':' */
    bool detail_enabled;   /* -D turns it on */
    bool lock_memory;      /* -k */
    bool coredumps;        /* -r */

    /* TLS (-Z and -o ssl_*) */
    bool ssl_enabled; /* -Z / --enable-ssl */
    char *ssl_chain_cert;
    char *ssl_key;
    int ssl_keyformat;      /* 1 = PEM (SSL_FILETYPE_PEM), 2 = ASN1/DER */
    int ssl_verify_mode;    /* 0 none, 1 request, 2 require, 3 once */
    char *ssl_ciphers;      /* TLS <= 1.2 cipher list, NULL = OpenSSL default */
    char *ssl_ciphersuites; /* TLS 1.3 suites, NULL = OpenSSL default */
    char *ssl_ca_cert;
    int ssl_wbuf_size; /* bytes (KB on the command line), default 16 KB */
    bool ssl_session_cache;
    bool ssl_kernel_tls;
    int ssl_min_version;       /* 0x0301.. as OpenSSL's TLS1_x_VERSION, default TLS 1.2 */
    int ssl_handshake_timeout; /* seconds, 0 = off */
};

/* The process-wide configuration. Written only by settings_parse(). */
extern const struct settings *settings;

enum settings_result {
    SETTINGS_OK,       /* run the server */
    SETTINGS_EXIT_OK,  /* -h / -V printed, exit 0 */
    SETTINGS_EXIT_ERR, /* message printed to stderr, exit with EX_USAGE */
};

/* Parse argv into the global settings; prints usage/version/errors itself. */
enum settings_result settings_parse(int argc, char **argv);

/* Emit every `stats settings` line in memcached's order through emit(). */
void settings_emit_stats(void (*emit)(void *ctx, const char *name, const char *val), void *ctx);

/* Release strings owned by the settings (at exit, for leak checkers). */
void settings_teardown(void);

#endif /* SETTINGS_H */
