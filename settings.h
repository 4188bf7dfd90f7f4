/*
 * settings.h - the server configuration, parsed once from the command line.
 *
 * settings_parse() fills a struct settings from argv before any thread
 * starts; afterwards the struct is read-only and every module reads it through
 * the `settings` pointer. The few knobs that change at runtime (verbosity,
 * cache_memlimit, detail stats, the flush horizon) live in the owning module
 * as atomics with a named setter, never here; `stats settings` gets their
 * current values through struct settings_runtime.
 *
 * Option names, defaults, validation messages and exit codes follow
 * memcached 1.6.18 (see doc/options.md for every option and where we differ).
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
    char *host; /* NULL = any address; IPv6 without brackets */
    int port;   /* explicit ":port", or settings.port */
    enum listen_tls tls;
};

#define SETTINGS_MAX_LISTEN 64

/* -o hash_algorithm; only stored and shown, the hash table picks its own. */
enum settings_hash {
    SETTINGS_HASH_MURMUR3 = 0,
    SETTINGS_HASH_JENKINS,
    SETTINGS_HASH_XXH3,
};

/*
 * Extstore (-o ext_*): we have no external storage; the values are accepted
 * and stored only so `stats settings` shows what was given, like the
 * reference does when ext_path is not set.
 */
struct settings_ext {
    uint32_t item_size;        /* ext_item_size, default 512 */
    uint32_t item_age;         /* ext_item_age, default UINT32_MAX */
    uint32_t low_ttl;          /* ext_low_ttl */
    uint32_t recache_rate;     /* ext_recache_rate, default 2000 */
    uint32_t wbuf_size;        /* ext_wbuf_size, MB on the command line, bytes */
    uint32_t compact_under;    /* ext_compact_under */
    uint32_t drop_under;       /* ext_drop_under */
    uint32_t max_sleep;        /* ext_max_sleep, default 1000000 */
    double max_frag;           /* ext_max_frag, default 0.80 */
    double automove_freeratio; /* slab_automove_freeratio, default 0.01 */
    bool drop_unread;          /* ext_drop_unread */
};

/* Values used by `stats settings`; names follow memcached's. */
struct settings {
    /* network */
    int port;    /* -p, default 11211; 0 = no TCP listener */
    int udpport; /* -U, only 0 supported */
    char *inter; /* -l as given, comma-joined, for `stats settings`; NULL without -l */
    struct listen_spec listen[SETTINGS_MAX_LISTEN];
    int nlisten;                 /* 0 = one listener on INADDR_ANY:port */
    char *socketpath;            /* -s */
    int access;                  /* -a, octal, default 0700 */
    int backlog;                 /* -b, default 1024 */
    int maxconns;                /* -c, default 1024 */
    bool maxconns_fast;          /* -o maxconns_fast / no_maxconns_fast, default true */
    int idle_timeout;            /* -o idle_timeout, seconds, 0 = off */
    int reqs_per_event;          /* -R, default 20 */
    int num_threads;             /* -t, default 4 */
    char *binding_protocol;      /* -B: "ascii" or "auto" (default); binary is refused */
    uint64_t read_buf_mem_limit; /* -o read_buf_mem_limit, MB on the command line, bytes */

    /* storage */
    size_t maxbytes;                   /* -m in MB -> bytes, default 64 MB (startup value) */
    bool evict_to_free;                /* false with -M */
    int item_size_max;                 /* -I, bytes, default 1 MB */
    int slab_chunk_size_max;           /* -o slab_chunk_max, bytes (as the reference parses it) */
    int slab_page_size;                /* fixed 1 MB, as in the reference */
    double factor;                     /* -f, default 1.25 */
    int chunk_size;                    /* -n, default 48 */
    int hashpower_init;                /* -o hashpower, 0 = default (16) */
    bool hash_expand;                  /* false with -o no_hashexpand */
    enum settings_hash hash_algorithm; /* -o hash_algorithm, default murmur3 */
    bool use_cas;                      /* false with -C */
    bool flush_enabled;                /* false with -F */
    bool lru_crawler;                  /* accepted; we have no crawler thread */
    bool lru_maintainer_thread;        /* accepted; we have no maintainer thread */
    bool lru_segmented;                /* follows lru_maintainer, like the reference */
    bool track_sizes;                  /* -o track_sizes */
    bool large_pages;                  /* -L, accepted and ignored */

    /* accepted and stored for `stats settings`; no module acts on them */
    bool slab_reassign;           /* default true */
    int slab_automove;            /* 0..2, default 1 */
    double slab_automove_ratio;   /* default 0.80 */
    int slab_automove_window;     /* default 30 */
    int lru_crawler_sleep;        /* microseconds, default 100 */
    uint32_t lru_crawler_tocrawl; /* default 0 */
    int tail_repair_time;         /* default 0 */
    int hot_lru_pct;              /* default 20 */
    int warm_lru_pct;             /* default 40 */
    double hot_max_factor;        /* default 0.20 */
    double warm_max_factor;       /* default 2.00 */
    bool temp_lru;                /* set by -o temporary_ttl */
    int temporary_ttl;            /* default 61 */
    uint32_t watcher_logbuf_size; /* KB on the command line, bytes; default 256 KB */
    uint32_t worker_logbuf_size;  /* KB on the command line, bytes; default 64 KB */
    uint32_t batch_wait_us;       /* -o batch_wait_us (ours): see thread.c; default 20, 0 = off */
    char *napi_ids;               /* -N as given, NULL when unset */
    struct settings_ext ext;

    /* process */
    int verbose;           /* -v count; runtime changes go through logger */
    bool daemonize;        /* -d */
    char *pid_file;        /* -P */
    char *username;        /* -u */
    bool shutdown_command; /* -A */
    bool dump_enabled;     /* false with -X */
    bool watch_enabled;    /* false with -W */
    char prefix_delimiter; /* -D, default ':' */
    bool detail_enabled;   /* -D turns it on (startup value; `stats detail` changes it) */
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
    int ssl_handshake_timeout; /* seconds, default 5, 0 = off */
};

/* The process-wide configuration. Written only by settings_parse(). */
extern const struct settings *settings;

enum settings_result {
    SETTINGS_OK,       /* run the server */
    SETTINGS_EXIT_OK,  /* -h / -V / -i printed, exit 0 */
    SETTINGS_EXIT_ERR, /* message printed to stderr; exit with settings_exit_status() */
};

/*
 * Parse argv into the global settings; prints usage/version/errors itself.
 * May be called again (unit tests): each call starts from the defaults.
 */
enum settings_result settings_parse(int argc, char **argv);

/*
 * The exit status the reference uses for the error settings_parse() just
 * reported: EX_USAGE (64) for most validation errors, 1 for the ones
 * memcached reports while reading options (bad -t, -c, -f, -n, -R, -o
 * values, unknown options), EX_OSERR (71) for a TLS prefix on -l without -Z.
 */
int settings_exit_status(void);

/*
 * The values `stats settings` shows that change after startup, read by the
 * caller from their owners (storage's limit, logger, stats detail, flush).
 */
struct settings_runtime {
    uint64_t maxbytes;   /* current memory limit (cache_memlimit), bytes */
    uint32_t oldest;     /* flush_all horizon ("oldest"), relative seconds, 0 = none */
    bool detail_enabled; /* `stats detail on|off` */
};

/*
 * Emit every `stats settings` line in memcached's order through emit().
 * rt may be NULL: then the startup values are shown. Verbosity is read from
 * the logger.
 */
void settings_emit_stats(const struct settings_runtime *rt,
                         void (*emit)(void *ctx, const char *name, const char *val), void *ctx);

/* Release strings owned by the settings (at exit, for leak checkers). */
void settings_teardown(void);

#endif /* SETTINGS_H */
