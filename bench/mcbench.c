/* mcbench: load generator for memcached-compatible servers, plain or TLS.
 *
 * Owns: main(), sizing and starting the worker threads, the measurement
 * points around the measured phase (wall clock, server CPU and RSS from
 * /proc, client CPU), the progress line, the stall watchdog and the final
 * RESULT line. Links no server code; talks to the server only over TCP.
 *
 * The run is cut into steps (connect + prefill, idle connects, measured
 * phase). Workers stop at each step and main takes its readings while no
 * load is running, so connection setup and prefill never count in per-op
 * numbers unless the scenario is about them (--reconnect-every).
 * Rejected: reading server CPU from the server's own `stats` (the server
 * under test should not be trusted to measure itself, and `stats` itself
 * costs server CPU). */
#include "mcb_hist.h"
#include "mcb_io.h"
#include "mcb_opts.h"
#include "mcb_proc.h"
#include "mcb_worker.h"

#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define EXIT_ERRORS     1
#define EXIT_CONNECTION 2
#define EXIT_USAGE      64
#define PATTERN_MIN     (1024 * 1024) /* memcached's default item size limit */

/* Readings taken around the measured phase. */
struct snap {
    uint64_t t_ns;
    uint64_t client_us;
    uint64_t server_us;
    bool has_server;
};

struct bench {
    struct mcb_opts o;
    struct mcb_shared sh;
    struct mcb_worker *w;
    unsigned nthreads;
    unsigned started;
    uint64_t last_progress;
    uint64_t last_change_ns;
    uint64_t last_print_ns;
    uint64_t last_print_ops;
    bool is_stalled;
    bool has_rss;
    uint64_t rss_before_kb;
    uint64_t rss_after_kb;
    struct snap s0;
    struct snap s1;
};

static void raise_fd_limit(uint64_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) {
        return;
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need) {
        fprintf(stderr, "mcbench: warning: only %llu file descriptors, %" PRIu64 " wanted\n",
                (unsigned long long)rl.rlim_cur, need);
    }
}

static int resolve(struct bench *b)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(b->o.host, b->o.port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(b->sh.addr)) {
        fprintf(stderr, "mcbench: cannot resolve %s:%s: %s\n", b->o.host, b->o.port,
                rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return -1;
    }
    memcpy(&b->sh.addr, res->ai_addr, res->ai_addrlen);
    b->sh.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Values are prefixes of one pattern whose period (61) is prime, so a value
 * shifted by any offset that is not a multiple of 61 fails the check. */
static char *make_pattern(size_t len)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY";
    char *p = malloc(len + 1);

    if (p != NULL) {
        for (size_t i = 0; i < len; i++) {
            p[i] = alphabet[i % 61];
        }
        p[len] = '\0';
    }
    return p;
}

static int setup_shared(struct bench *b)
{
    char err[256];
    struct mcb_shared *sh = &b->sh;

    sh->o = &b->o;
    sh->kf.prefix = b->o.key_prefix;
    sh->kf.prefix_len = strlen(b->o.key_prefix);
    atomic_init(&sh->prefill_next, 0);
    atomic_init(&sh->is_abort, false);
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    /* Values other runs stored (other --value-size) must verify too. */
    sh->pattern_len = b->o.vmax > PATTERN_MIN ? b->o.vmax : PATTERN_MIN;
    sh->pattern = make_pattern(sh->pattern_len);
    if (sh->pattern == NULL || resolve(b) != 0) {
        return -1;
    }
    if (b->o.is_tls) {
        sh->tls = mcb_tls_create(&b->o, err, sizeof(err));
        if (sh->tls == NULL) {
            fprintf(stderr, "mcbench: TLS setup: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static unsigned share(uint64_t total, unsigned n, unsigned i)
{
    return (unsigned)(total / n + (i < total % n));
}

static int start_workers(struct bench *b)
{
    const struct mcb_opts *o = &b->o;

    b->nthreads = o->threads;
    b->w = calloc(b->nthreads, sizeof(*b->w));
    if (b->w == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < b->nthreads; i++) {
        uint64_t budget = o->requests == 0
                              ? UINT64_MAX
                              : o->requests / b->nthreads + (i < o->requests % b->nthreads);

        if (mcb_worker_init(&b->w[i], &b->sh, i, share(o->conns, b->nthreads, i),
                            share(o->idle, b->nthreads, i), budget) != 0) {
            fprintf(stderr, "mcbench: out of memory setting up thread %u\n", i);
            return -1;
        }
        if (pthread_create(&b->w[i].tid, NULL, mcb_worker_main, &b->w[i]) != 0) {
            fprintf(stderr, "mcbench: cannot start thread %u\n", i);
            return -1;
        }
        b->started++;
    }
    return 0;
}

enum pub_counter { PUB_PROGRESS, PUB_OPS, PUB_ERRORS };

/* Sums what the workers last published (see mcb_worker.h). */
static uint64_t sum_pub(const struct bench *b, enum pub_counter which)
{
    uint64_t s = 0;

    for (unsigned i = 0; i < b->started; i++) {
        const struct mcb_worker *w = &b->w[i];
        const atomic_uint_fast64_t *a = which == PUB_PROGRESS ? &w->pub_progress
                                        : which == PUB_OPS    ? &w->pub_ops
                                                              : &w->pub_errors;

        s += atomic_load_explicit(a, memory_order_relaxed);
    }
    return s;
}

static void watchdog(struct bench *b, uint64_t now)
{
    uint64_t p = sum_pub(b, PUB_PROGRESS);

    if (p != b->last_progress) {
        b->last_progress = p;
        b->last_change_ns = now;
        return;
    }
    if (!b->is_stalled && now - b->last_change_ns > (uint64_t)(b->o.timeout * 1e9)) {
        fprintf(stderr, "mcbench: no progress for %.1f s, giving up\n", b->o.timeout);
        b->is_stalled = true;
        mcb_gate_abort(&b->sh);
    }
}

static void progress(struct bench *b, uint64_t now)
{
    uint64_t ops;

    if (b->o.is_quiet || now - b->last_print_ns < 1000000000u) {
        return;
    }
    ops = sum_pub(b, PUB_OPS);
    fprintf(stderr, "[%6.1fs] ops=%" PRIu64 " ops/s=%.0f errors=%" PRIu64 "\n",
            (double)(now - b->s0.t_ns) / 1e9, ops,
            (double)(ops - b->last_print_ops) * 1e9 / (double)(now - b->last_print_ns),
            sum_pub(b, PUB_ERRORS));
    b->last_print_ns = now;
    b->last_print_ops = ops;
}

/* Blocks until every worker reached step, watching for stalls. */
static void wait_step(struct bench *b, int step)
{
    b->last_change_ns = mcb_now_ns();
    while (mcb_gate_arrivals(&b->sh, step, 100) < b->started) {
        uint64_t now = mcb_now_ns();

        watchdog(b, now);
        if (step == MCB_STEP_RAN) {
            progress(b, now);
        }
    }
}

static uint64_t client_cpu_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void take_snap(const struct bench *b, struct snap *s)
{
    s->has_server = b->o.server_pid != 0 && mcb_proc_cpu_us(b->o.server_pid, &s->server_us) == 0;
    s->client_us = client_cpu_us();
    s->t_ns = mcb_now_ns();
}

static bool setup_failed(const struct bench *b)
{
    for (unsigned i = 0; i < b->started; i++) {
        if (b->w[i].st.conn_failures + b->w[i].st.proto_errors > 0) {
            return true;
        }
    }
    return b->is_stalled;
}

/* The three steps; see the file comment. */
static void drive(struct bench *b)
{
    const struct mcb_opts *o = &b->o;

    wait_step(b, MCB_STEP_CONNECTED);
    if (setup_failed(b)) {
        mcb_gate_abort(&b->sh);
    }
    b->has_rss = o->server_pid != 0 && mcb_proc_rss_kb(o->server_pid, &b->rss_before_kb) == 0;
    mcb_gate_open(&b->sh, MCB_STEP_CONNECTED);
    wait_step(b, MCB_STEP_IDLE_UP);
    if (setup_failed(b)) {
        mcb_gate_abort(&b->sh);
    }
    if (o->idle > 0 && b->has_rss) {
        /* Let the server finish the last handshakes it is still processing. */
        usleep(200000);
    }
    b->has_rss = b->has_rss && mcb_proc_rss_kb(o->server_pid, &b->rss_after_kb) == 0;
    take_snap(b, &b->s0);
    b->sh.t0_ns = b->s0.t_ns;
    b->last_print_ns = b->s0.t_ns;
    mcb_gate_open(&b->sh, MCB_STEP_IDLE_UP);
    wait_step(b, MCB_STEP_RAN);
    take_snap(b, &b->s1);
    mcb_gate_open(&b->sh, MCB_STEP_RAN);
    wait_step(b, MCB_STEP_FINISHED);
}

static void sum_stats(const struct bench *b, struct mcb_stats *t, struct mcb_hist *h)
{
    memset(t, 0, sizeof(*t));
    mcb_hist_init(h);
    for (unsigned i = 0; i < b->started; i++) {
        mcb_stats_add(t, &b->w[i].st);
        mcb_hist_merge(h, &b->w[i].hist);
    }
}

static void fmt_or_na(char *buf, size_t len, bool is_valid, const char *fmt, double v)
{
    if (is_valid) {
        snprintf(buf, len, fmt, v);
    } else {
        snprintf(buf, len, "NA");
    }
}

static void print_server(const struct bench *b, const struct mcb_stats *t, double secs)
{
    bool has_cpu = b->s0.has_server && b->s1.has_server;
    double cpu_us = has_cpu ? (double)(b->s1.server_us - b->s0.server_us) : 0;
    double rss_delta = (double)b->rss_after_kb - (double)b->rss_before_kb;
    char per_op[32];
    char pct[32];
    char before[32];
    char after[32];
    char per_conn[32];

    fmt_or_na(per_op, sizeof(per_op), has_cpu && t->ops > 0, "%.2f", cpu_us / (double)t->ops);
    fmt_or_na(pct, sizeof(pct), has_cpu && secs > 0, "%.1f", cpu_us / secs / 1e4);
    fmt_or_na(before, sizeof(before), b->has_rss, "%.0f", (double)b->rss_before_kb);
    fmt_or_na(after, sizeof(after), b->has_rss, "%.0f", (double)b->rss_after_kb);
    fmt_or_na(per_conn, sizeof(per_conn), b->has_rss && b->o.idle > 0, "%.0f",
              rss_delta * 1024.0 / (double)(b->o.idle > 0 ? b->o.idle : 1));
    printf(" server_cpu_us_per_op=%s server_cpu_pct=%s server_rss_before_kb=%s"
           " server_rss_after_kb=%s server_rss_per_idle_conn_bytes=%s",
           per_op, pct, before, after, per_conn);
}

static void report(const struct bench *b, const struct mcb_stats *t, const struct mcb_hist *h)
{
    double secs = (double)(b->s1.t_ns - b->s0.t_ns) / 1e9;
    double ops = (double)t->ops;

    if (secs <= 0) {
        secs = 1e-9;
    }
    printf("RESULT ops=%" PRIu64 " ops_per_sec=%.1f mb_per_sec=%.2f", t->ops, ops / secs,
           (double)(t->bytes_in + t->bytes_out) / secs / 1e6);
    printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
           (double)mcb_hist_quantile(h, 0.50) / 1e3, (double)mcb_hist_quantile(h, 0.90) / 1e3,
           (double)mcb_hist_quantile(h, 0.99) / 1e3, (double)mcb_hist_quantile(h, 0.999) / 1e3,
           (double)h->max / 1e3);
    print_server(b, t, secs);
    printf(" client_cpu_us_per_op=%.2f",
           t->ops > 0 ? (double)(b->s1.client_us - b->s0.client_us) / ops : 0.0);
    printf(" errors=%" PRIu64 " misses=%" PRIu64 " hits=%" PRIu64 " sets=%" PRIu64 " gets=%" PRIu64,
           t->errors, t->misses, t->hits, t->sets, t->gets);
    printf(" error_replies=%" PRIu64 " proto_errors=%" PRIu64 " conn_failures=%" PRIu64
           " lost=%" PRIu64,
           t->error_replies, t->proto_errors, t->conn_failures, t->lost);
    printf(" connects=%" PRIu64 " resumed=%" PRIu64 " conns=%u idle=%u prefilled=%" PRIu64
           " duration_s=%.3f\n",
           t->connects, t->resumed, b->o.conns, b->o.idle, t->prefilled, secs);
    fflush(stdout);
}

static void join_workers(struct bench *b)
{
    for (unsigned i = 0; i < b->started; i++) {
        pthread_join(b->w[i].tid, NULL);
    }
}

static void teardown(struct bench *b)
{
    for (unsigned i = 0; b->w != NULL && i < b->nthreads; i++) {
        mcb_worker_deinit(&b->w[i]);
    }
    free(b->w);
    b->w = NULL;
    mcb_tls_destroy(&b->sh.tls);
    free(b->sh.pattern);
    b->sh.pattern = NULL;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct mcb_stats total;
    static struct mcb_hist hist;
    uint64_t probe;
    int rc;

    rc = mcb_opts_parse(&b.o, argc, argv, stderr);
    if (rc != 0) {
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit((uint64_t)b.o.conns + b.o.idle + 64);
    if (b.o.server_pid != 0 && mcb_proc_cpu_us(b.o.server_pid, &probe) != 0) {
        fprintf(stderr, "mcbench: cannot read /proc/%ld/stat\n", b.o.server_pid);
        return EXIT_USAGE;
    }
    if (setup_shared(&b) != 0 || start_workers(&b) != 0) {
        mcb_gate_abort(&b.sh);
        join_workers(&b);
        teardown(&b);
        return EXIT_CONNECTION;
    }
    drive(&b);
    join_workers(&b);
    sum_stats(&b, &total, &hist);
    report(&b, &total, &hist);
    teardown(&b);
    if (b.is_stalled || total.conn_failures > 0) {
        return EXIT_CONNECTION;
    }
    return total.errors > 0 ? EXIT_ERRORS : 0;
}
