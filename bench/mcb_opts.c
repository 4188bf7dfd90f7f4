/* Command-line parsing for mcbench.
 *
 * Owns: defaults, option syntax and the cross-option checks, so that the
 * rest of the tool can trust struct mcb_opts without re-validating it.
 * Must not depend on libevent, OpenSSL or any other mcbench module.
 *
 * Rejected: a config file (every run must be reproducible from the single
 * command line that run.sh prints into RESULTS.md). */
#include "mcb_opts.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE       (64u * 1024 * 1024)
#define MAX_PIPELINE    4096u
#define MAX_THREADS     256u
#define MAX_CONNS       1000000u
#define MAX_KEY_LEN     250u
#define TIME_CAP_COUNTS 600.0 /* seconds, when only --requests bounds a run */

enum {
    OPT_TLS = 256,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY,
    OPT_INSECURE,
    OPT_RESUME,
    OPT_PREFIX,
    OPT_RECONNECT,
    OPT_IDLE,
    OPT_PREFILL,
    OPT_PID,
    OPT_TIMEOUT,
    OPT_SEED,
};

static const struct option long_opts[] = {
    {"host", required_argument, NULL, 'H'},
    {"port", required_argument, NULL, 'p'},
    {"tls", no_argument, NULL, OPT_TLS},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"tls-resume", no_argument, NULL, OPT_RESUME},
    {"conns", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"pipeline", required_argument, NULL, 'P'},
    {"keyspace", required_argument, NULL, 'k'},
    {"key-prefix", required_argument, NULL, OPT_PREFIX},
    {"value-size", required_argument, NULL, 'v'},
    {"ratio", required_argument, NULL, 'r'},
    {"reconnect-every", required_argument, NULL, OPT_RECONNECT},
    {"idle", required_argument, NULL, OPT_IDLE},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"prefill", no_argument, NULL, OPT_PREFILL},
    {"server-pid", required_argument, NULL, OPT_PID},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void mcb_opts_usage(FILE *out)
{
    fputs("usage: mcbench [options]\n"
          "  -H, --host HOST           server address (default 127.0.0.1)\n"
          "  -p, --port PORT           server port (default 11211)\n"
          "      --tls                 connect with TLS\n"
          "      --cacert FILE         CA bundle used to verify the server\n"
          "      --cert FILE --key FILE  client certificate and key\n"
          "      --insecure            do not verify the server certificate\n"
          "      --tls-resume          resume TLS sessions (tickets) on reconnect\n"
          "  -c, --conns N             active connections in total (default 50)\n"
          "  -t, --threads N           client threads, one event loop each (default 1)\n"
          "  -P, --pipeline N          requests in flight per connection (default 1)\n"
          "  -k, --keyspace N          number of distinct keys (default 10000)\n"
          "      --key-prefix S        key prefix (default \"key:\")\n"
          "  -v, --value-size MIN[-MAX]  value bytes of sets (default 32-100)\n"
          "  -r, --ratio SET:GET       set:get mix (default 1:10)\n"
          "      --reconnect-every N   reopen each connection after N requests\n"
          "      --idle N              also hold N idle connections during the run\n"
          "  -d, --duration SEC        stop issuing after SEC seconds (default 10)\n"
          "  -n, --requests N          stop after N requests (whichever comes first)\n"
          "      --prefill             set every key once before measuring\n"
          "      --server-pid PID      report server CPU per op and RSS from /proc\n"
          "      --timeout SEC         give up after SEC seconds without progress (10)\n"
          "      --seed N              random seed (default 1)\n"
          "  -q, --quiet               no progress lines on stderr\n"
          "Prints one line: RESULT key=value ...; exit 0 ok, 1 errors, 2 connection failure\n",
          out);
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (s[0] == '-') {
        return -1;
    }
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v;

    if (parse_u64(s, lo, hi, &v) != 0) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0) || v > 86400.0) {
        return -1;
    }
    *out = v;
    return 0;
}

/* "N" or "MIN-MAX". */
static int parse_range(const char *s, size_t *lo, size_t *hi)
{
    char buf[64];
    char *dash;
    uint64_t a;
    uint64_t b;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    dash = strchr(buf, '-');
    if (dash != NULL) {
        *dash = '\0';
    }
    if (parse_u64(buf, 0, MAX_VALUE, &a) != 0) {
        return -1;
    }
    b = a;
    if (dash != NULL && parse_u64(dash + 1, a, MAX_VALUE, &b) != 0) {
        return -1;
    }
    *lo = a;
    *hi = b;
    return 0;
}

static int parse_ratio(const char *s, unsigned *set, unsigned *get)
{
    char buf[64];
    char *colon;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    colon = strchr(buf, ':');
    if (colon == NULL) {
        return -1;
    }
    *colon = '\0';
    if (parse_uint(buf, 0, 1000000, set) != 0 || parse_uint(colon + 1, 0, 1000000, get) != 0) {
        return -1;
    }
    return *set + *get == 0 ? -1 : 0;
}

static void set_defaults(struct mcb_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = "11211";
    o->conns = 50;
    o->threads = 1;
    o->pipeline = 1;
    o->keyspace = 10000;
    o->key_prefix = "key:";
    o->vmin = 32;
    o->vmax = 100;
    o->ratio_set = 1;
    o->ratio_get = 10;
    o->timeout = 10.0;
    o->seed = 1;
}

/* Options whose value is kept as given. */
static bool set_string(struct mcb_opts *o, int c, const char *a)
{
    const char **dst = NULL;

    switch (c) {
    case 'H':
        dst = &o->host;
        break;
    case 'p':
        dst = &o->port;
        break;
    case OPT_CACERT:
        dst = &o->cacert;
        break;
    case OPT_CERT:
        dst = &o->cert;
        break;
    case OPT_KEY:
        dst = &o->key;
        break;
    case OPT_PREFIX:
        dst = &o->key_prefix;
        break;
    default:
        return false;
    }
    *dst = a;
    return true;
}

/* Options that take a number; -1 on a bad value. */
static int parse_valued(struct mcb_opts *o, int c, const char *a)
{
    uint64_t pid;

    if (set_string(o, c, a)) {
        return 0;
    }
    switch (c) {
    case 'c':
        return parse_uint(a, 0, MAX_CONNS, &o->conns);
    case 't':
        return parse_uint(a, 1, MAX_THREADS, &o->threads);
    case 'P':
        return parse_uint(a, 1, MAX_PIPELINE, &o->pipeline);
    case 'k':
        return parse_u64(a, 1, UINT64_MAX / 2, &o->keyspace);
    case 'v':
        return parse_range(a, &o->vmin, &o->vmax);
    case 'r':
        return parse_ratio(a, &o->ratio_set, &o->ratio_get);
    case OPT_RECONNECT:
        return parse_u64(a, 1, UINT64_MAX / 2, &o->reconnect_every);
    case OPT_IDLE:
        return parse_uint(a, 0, MAX_CONNS, &o->idle);
    case 'd':
        return parse_secs(a, &o->duration);
    case 'n':
        return parse_u64(a, 1, UINT64_MAX / 2, &o->requests);
    case OPT_TIMEOUT:
        return parse_secs(a, &o->timeout);
    case OPT_SEED:
        return parse_u64(a, 0, UINT64_MAX, &o->seed);
    case OPT_PID:
        if (parse_u64(a, 1, 1u << 30, &pid) != 0) {
            return -1;
        }
        o->server_pid = (long)pid;
        return 0;
    default:
        return -1;
    }
}

static const char *check_combination(struct mcb_opts *o)
{
    if (!o->is_tls && (o->cacert || o->cert || o->key || o->is_insecure || o->is_tls_resume)) {
        return "TLS options need --tls";
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        return "--cert and --key go together";
    }
    if (o->conns + (uint64_t)o->idle == 0) {
        return "nothing to do: --conns 0 and --idle 0";
    }
    if (o->threads > o->conns + o->idle) {
        return "more threads than connections";
    }
    if (o->is_prefill && o->conns == 0) {
        return "--prefill needs --conns > 0";
    }
    if (strlen(o->key_prefix) + 20 > MAX_KEY_LEN || strpbrk(o->key_prefix, " \r\n\t") != NULL) {
        return "--key-prefix too long or contains whitespace";
    }
    if (o->duration == 0.0) {
        o->duration = o->requests != 0 ? TIME_CAP_COUNTS : 10.0;
    }
    return NULL;
}

int mcb_opts_parse(struct mcb_opts *o, int argc, char **argv, FILE *err)
{
    const char *why;
    int c;

    set_defaults(o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "H:p:c:t:P:k:v:r:d:n:qh", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_TLS:
            o->is_tls = true;
            continue;
        case OPT_INSECURE:
            o->is_insecure = true;
            continue;
        case OPT_RESUME:
            o->is_tls_resume = true;
            continue;
        case OPT_PREFILL:
            o->is_prefill = true;
            continue;
        case 'q':
            o->is_quiet = true;
            continue;
        case 'h':
            mcb_opts_usage(stdout);
            return 1;
        default:
            break;
        }
        if (c == '?' || parse_valued(o, c, optarg) != 0) {
            if (c != '?') {
                fprintf(err, "mcbench: bad value '%s' for option '%s'\n", optarg, argv[optind - 1]);
            }
            mcb_opts_usage(err);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(err, "mcbench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    why = check_combination(o);
    if (why != NULL) {
        fprintf(err, "mcbench: %s\n", why);
        return -1;
    }
    return 0;
}
