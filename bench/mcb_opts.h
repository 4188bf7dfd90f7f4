#ifndef MCB_OPTS_H
#define MCB_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Command line of mcbench, parsed once in main() and read-only afterwards. */
struct mcb_opts {
    const char *host;
    const char *port;
    bool is_tls;
    bool is_insecure;   /* skip certificate verification */
    bool is_tls_resume; /* resume sessions from tickets on reconnect */
    const char *cacert;
    const char *cert;
    const char *key;
    unsigned conns; /* active connections, total over all threads */
    unsigned threads;
    unsigned pipeline; /* requests in flight per active connection */
    uint64_t keyspace;
    const char *key_prefix;
    size_t vmin;
    size_t vmax;
    unsigned ratio_set;
    unsigned ratio_get;
    uint64_t reconnect_every; /* 0: keep connections for the whole run */
    unsigned idle;            /* idle connections held during the run */
    double duration;          /* seconds; always > 0 after parsing */
    uint64_t requests;        /* 0: bounded by duration only */
    bool is_prefill;
    long server_pid; /* 0: none */
    double timeout;  /* seconds without any progress before giving up */
    uint64_t seed;
    bool is_quiet;
};

/* Fills o from argv. Returns 0 on success, 1 when --help was printed, -1
 * after printing a usage error to err. */
int mcb_opts_parse(struct mcb_opts *o, int argc, char **argv, FILE *err);

void mcb_opts_usage(FILE *out);

#endif
