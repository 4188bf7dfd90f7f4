/*
 * settings.c - command line parsing, validation and the `stats settings`
 * listing.
 *
 * Owns the one struct settings of the process. It is filled by
 * settings_parse() before any thread starts and never written afterwards,
 * so readers need no locks. This file depends only on the logger (for the
 * runtime verbosity shown by `stats settings`); it must not call storage,
 * TLS or the network code: those read the struct and act on it.
 *
 * Compatibility is the point: option letters, long names, -o keys, defaults,
 * error texts and exit codes follow memcached 1.6.18, checked by running it.
 * Where the reference reads a number with atoi() we do too (garbage reads as
 * 0 and then fails or passes the same range check), except where that would
 * crash it or us (slab_chunk_max=0, negative -m/-n/-R): those are refused.
 *
 * -o keys are a table (name -> handler + field + limits) instead of
 * memcached's enum + switch, so adding a key is one line and the handlers for
 * "integer in range", "unsigned in KB" and so on exist once. Rejected: one
 * handler per key (about fifty near-identical functions) and getsubopt(3)
 * (needs a mutable token array and hides the empty-token case we must
 * reproduce).
 *
 * Options we cannot honour (UDP, the binary protocol, SASL, ASCII auth,
 * extstore, restartable memory files) are refused with a message rather than
 * accepted and ignored, because ignoring auth or a data path silently would
 * surprise an operator far more than a failed start.
 */
#include "settings.h"

#include "config.h"
#include "logger.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#define KB                 1024L
#define MB                 (1024L * 1024L)
#define SLAB_PAGE_SIZE     (1024 * 1024)
#define TLS1_0_VERSION_NUM 0x0301

static struct settings cfg;
const struct settings *settings = &cfg;

/* Exit status for the last reported error (see settings_exit_status()). */
static int exit_status = EXIT_FAILURE;
/* -o slab_chunk_max given: -I and no_modern must not override it. */
static bool chunk_max_changed;

/* Print one error line and remember the exit status main should use. */
static bool __attribute__((format(printf, 2, 3))) fail(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit_status = status;
    return false;
}

int settings_exit_status(void)
{
    return exit_status;
}

/* ---- number parsing ------------------------------------------------------ */

/* atoi() as the reference uses it, minus the undefined overflow: clamps. */
static int to_int(const char *s)
{
    long long v = strtoll(s, NULL, 10);

    if (v > INT_MAX) {
        return INT_MAX;
    }
    return v < INT_MIN ? INT_MIN : (int)v;
}

/* A whole-string unsigned decimal (memcached's safe_strtoul): no sign, no junk. */
static bool to_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || (*end != '\0' && !isspace((unsigned char)*end))) {
        return false;
    }
    *out = v;
    return true;
}

/* A whole-string signed decimal that fits an int (memcached's safe_strtol). */
static bool to_int_strict(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || (*end != '\0' && !isspace((unsigned char)*end)) || v < INT_MIN ||
        v > INT_MAX) {
        return false;
    }
    *out = (int)v;
    return true;
}

static bool to_double_strict(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && (*end == '\0' || isspace((unsigned char)*end));
}

static bool replace_str(char **dst, const char *src)
{
    char *copy = strdup(src);

    if (copy == NULL) {
        return fail(EX_OSERR, "Failed to allocate memory");
    }
    free(*dst);
    *dst = copy;
    return true;
}

/* ---- defaults ------------------------------------------------------------ */

static void set_storage_defaults(struct settings *s)
{
    s->maxbytes = 64 * (size_t)MB;
    s->evict_to_free = true;
    s->item_size_max = 1024 * 1024;
    s->slab_page_size = SLAB_PAGE_SIZE;
    s->slab_chunk_size_max = SLAB_PAGE_SIZE / 2;
    s->factor = 1.25;
    s->chunk_size = 48;
    s->hash_expand = true;
    s->hash_algorithm = SETTINGS_HASH_MURMUR3;
    s->use_cas = true;
    s->flush_enabled = true;
    s->lru_crawler = true;
    s->lru_maintainer_thread = true;
    s->lru_segmented = true;
    s->slab_reassign = true;
    s->slab_automove = 1;
    s->slab_automove_ratio = 0.8;
    s->slab_automove_window = 30;
    s->lru_crawler_sleep = 100;
    s->hot_lru_pct = 20;
    s->warm_lru_pct = 40;
    s->hot_max_factor = 0.2;
    s->warm_max_factor = 2.0;
    s->temporary_ttl = 61;
    s->watcher_logbuf_size = 256 * KB;
    s->worker_logbuf_size = 64 * KB;
    s->batch_wait_us = 20;
}

static void set_ext_defaults(struct settings_ext *e)
{
    e->item_size = 512;
    e->item_age = UINT32_MAX;
    e->recache_rate = 2000;
    e->wbuf_size = 4 * MB;
    e->max_sleep = 1000000;
    e->max_frag = 0.8;
    e->automove_freeratio = 0.01;
}

static void set_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = 11211;
    s->access = 0700;
    s->backlog = 1024;
    s->maxconns = 1024;
    s->maxconns_fast = true;
    s->reqs_per_event = 20;
    s->num_threads = 4;
    s->binding_protocol = "auto";
    set_storage_defaults(s);
    set_ext_defaults(&s->ext);
    s->dump_enabled = true;
    s->watch_enabled = true;
    s->prefix_delimiter = ':';
    s->ssl_keyformat = 1;
    s->ssl_wbuf_size = 16 * KB;
    s->ssl_min_version = TLS1_0_VERSION_NUM + 2;
    s->ssl_handshake_timeout = 5;
    chunk_max_changed = false;
    exit_status = EXIT_FAILURE;
}

/* ---- -o key=value,... ---------------------------------------------------- */

struct subopt;
typedef bool subopt_fn(const struct subopt *o, const char *val);

struct subopt {
    const char *name;
    subopt_fn *fn;
    void *field;         /* what the generic handlers write */
    size_t size;         /* sizeof(*field) for the unsigned handler */
    long lo;             /* inclusive range, or the unit multiplier */
    long hi;             /* inclusive upper bound */
    const char *msg;     /* reference text for a bad value; NULL = "could not parse ..." */
    const char *missing; /* reference text for a missing value; NULL = "Missing <key> argument" */
};

#define MISSING_NUM "Missing numeric argument for %s"
#define MISSING_VAL "Missing %s value"

static bool need_value(const struct subopt *o, const char *val)
{
    if (val != NULL) {
        return true;
    }
    fprintf(stderr, o->missing != NULL ? o->missing : "Missing %s argument", o->name);
    return fail(EXIT_FAILURE, "%s", "");
}

static bool bad_value(const struct subopt *o)
{
    if (o->msg != NULL) {
        return fail(EXIT_FAILURE, "%s", o->msg);
    }
    return fail(EXIT_FAILURE, "could not parse argument to %s", o->name);
}

static bool so_true(const struct subopt *o, const char *val)
{
    (void)val;
    *(bool *)o->field = true;
    return true;
}

static bool so_false(const struct subopt *o, const char *val)
{
    (void)val;
    *(bool *)o->field = false;
    return true;
}

static bool so_zero(const struct subopt *o, const char *val)
{
    (void)val;
    *(int *)o->field = 0;
    return true;
}

static bool so_ignore(const struct subopt *o, const char *val)
{
    (void)o;
    (void)val;
    return true;
}

static bool so_ignore_value(const struct subopt *o, const char *val)
{
    return need_value(o, val);
}

/* Options memcached 1.6 still accepts, with or without a value, and ignores. */
static bool so_deprecated(const struct subopt *o, const char *val)
{
    (void)val;
    fprintf(stderr, "%s\n", o->msg);
    return true;
}

/* atoi() then an inclusive range check, as the reference does for most ints. */
static bool so_int(const struct subopt *o, const char *val)
{
    int v;

    if (!need_value(o, val)) {
        return false;
    }
    v = to_int(val);
    if (v < o->lo || v > o->hi) {
        return bad_value(o);
    }
    *(int *)o->field = v;
    return true;
}

/* Strict unsigned times o->lo (the unit), at most o->hi, into a 4 or 8 byte field. */
static bool so_unsigned(const struct subopt *o, const char *val)
{
    uint64_t v;

    if (!need_value(o, val)) {
        return false;
    }
    if (!to_u64(val, &v) || v > (uint64_t)o->hi / (uint64_t)o->lo) {
        return bad_value(o);
    }
    v *= (uint64_t)o->lo;
    if (o->size == sizeof(uint64_t)) {
        *(uint64_t *)o->field = v;
    } else {
        *(uint32_t *)o->field = (uint32_t)v; /* an int field shares the representation */
    }
    return true;
}

/* atof() then "> 0" and, when o->hi is set, "<= hi" (the *_factor and ratio keys). */
static bool so_positive_double(const struct subopt *o, const char *val)
{
    double v;

    if (!need_value(o, val)) {
        return false;
    }
    v = strtod(val, NULL);
    if (!(v > 0) || (o->hi != 0 && v > (double)o->hi)) {
        return bad_value(o);
    }
    *(double *)o->field = v;
    return true;
}

static bool so_double(const struct subopt *o, const char *val)
{
    return need_value(o, val) && (to_double_strict(val, o->field) || bad_value(o));
}

static bool so_string(const struct subopt *o, const char *val)
{
    return need_value(o, val) && replace_str(o->field, val);
}

static bool so_hashpower(const struct subopt *o, const char *val)
{
    int v;

    if (!need_value(o, val)) {
        return false;
    }
    v = to_int(val);
    if (v < 12) {
        return fail(EXIT_FAILURE, "Initial hashtable multiplier of %d is too low", v);
    }
    if (v > 32) {
        return fail(EXIT_FAILURE,
                    "Initial hashtable multiplier of %d is too high\n"
                    "Choose a value based on \"STAT hash_power_level\" from a running instance",
                    v);
    }
    cfg.hashpower_init = v;
    return true;
}

/* A bare "slab_automove" means 1. */
static bool so_slab_automove(const struct subopt *o, const char *val)
{
    if (val == NULL) {
        cfg.slab_automove = 1;
        return true;
    }
    return so_int(o, val);
}

static bool so_hash_algorithm(const struct subopt *o, const char *val)
{
    static const char *const names[] = {"murmur3", "jenkins", "xxh3"};

    if (!need_value(o, val)) {
        return false;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(val, names[i]) == 0) {
            cfg.hash_algorithm = (enum settings_hash)i;
            return true;
        }
    }
    return fail(EXIT_FAILURE, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
}

static bool so_temporary_ttl(const struct subopt *o, const char *val)
{
    if (!need_value(o, val)) {
        return false;
    }
    cfg.temp_lru = true;
    cfg.temporary_ttl = to_int(val);
    return true;
}

/* Bytes, although the reference's -h says kilobytes: its parser and its own tests use bytes. */
static bool so_chunk_max(const struct subopt *o, const char *val)
{
    if (!need_value(o, val)) {
        return false;
    }
    if (!to_int_strict(val, &cfg.slab_chunk_size_max)) {
        return bad_value(o);
    }
    chunk_max_changed = true;
    return true;
}

/* lru_maintainer also switches the segmented LRU, as in the reference. */
static bool so_lru_maintainer(const struct subopt *o, const char *val)
{
    (void)val;
    cfg.lru_maintainer_thread = o->lo != 0;
    cfg.lru_segmented = o->lo != 0;
    return true;
}

/* no_modern: the 1.4.x defaults. */
static bool so_no_modern(const struct subopt *o, const char *val)
{
    (void)o;
    (void)val;
    if (!chunk_max_changed) {
        cfg.slab_chunk_size_max = cfg.slab_page_size;
    }
    cfg.slab_reassign = false;
    cfg.slab_automove = 0;
    cfg.maxconns_fast = false;
    cfg.lru_segmented = false;
    cfg.hash_algorithm = SETTINGS_HASH_JENKINS;
    cfg.lru_crawler = false;
    cfg.lru_maintainer_thread = false;
    return true;
}

static bool so_no_chunked_items(const struct subopt *o, const char *val)
{
    (void)o;
    (void)val;
    cfg.slab_chunk_size_max = cfg.slab_page_size;
    return true;
}

static bool so_ssl_verify_mode(const struct subopt *o, const char *val)
{
    int v;

    if (!need_value(o, val)) {
        return false;
    }
    if (!to_int_strict(val, &v)) {
        return bad_value(o);
    }
    if (v < 0 || v > 3) {
        return fail(EXIT_FAILURE, "Invalid ssl_verify_mode. Use help to see valid options.");
    }
    cfg.ssl_verify_mode = v;
    return true;
}

/* Numeric 0..3 as in the reference, or (ours) the names `stats settings` prints. */
static bool so_ssl_min_version(const struct subopt *o, const char *val)
{
    static const char *const names[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    int v = -1;

    if (!need_value(o, val)) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(val, names[i]) == 0) {
            v = i;
        }
    }
    if (strcasecmp(val, "tlsv1") == 0) {
        v = 0;
    } else if (v < 0 && !to_int_strict(val, &v)) {
        return bad_value(o);
    }
    if (v < 0 || v > 3) {
        return fail(EXIT_FAILURE, "Invalid ssl_min_version. Use help to see valid options.");
    }
    cfg.ssl_min_version = TLS1_0_VERSION_NUM + v;
    return true;
}

static bool so_int_strict(const struct subopt *o, const char *val)
{
    return need_value(o, val) && (to_int_strict(val, o->field) || bad_value(o));
}

static bool so_refuse(const struct subopt *o, const char *val)
{
    (void)val;
    return fail(EX_USAGE, "%s", o->msg);
}

static uint32_t ext_ignored; /* ext_page_size, ext_threads, ext_io_depth: validated only */

#define FLAG(n, f, h)                                                                              \
    {                                                                                              \
        .name = (n), .fn = (h), .field = &cfg.f                                                    \
    }
#define INT(n, f, l, h, m, miss)                                                                   \
    {                                                                                              \
        .name = (n), .fn = so_int, .field = &cfg.f, .lo = (l), .hi = (h), .msg = (m),              \
        .missing = (miss)                                                                          \
    }
#define UNS(n, f, unit, max, m, miss)                                                              \
    {                                                                                              \
        .name = (n), .fn = so_unsigned, .field = &cfg.f, .size = sizeof(cfg.f), .lo = (unit),      \
        .hi = (max), .msg = (m), .missing = (miss)                                                 \
    }
#define EXT(n, f) UNS(n, ext.f, 1, UINT32_MAX, NULL, NULL)
#define STR(n, f)                                                                                  \
    {                                                                                              \
        .name = (n), .fn = so_string, .field = &cfg.f                                              \
    }
#define CALL(n, h)                                                                                 \
    {                                                                                              \
        .name = (n), .fn = (h)                                                                     \
    }

static const struct subopt subopts[] = {
    FLAG("maxconns_fast", maxconns_fast, so_true),
    FLAG("no_maxconns_fast", maxconns_fast, so_false),
    {.name = "hashpower", .fn = so_hashpower, .missing = MISSING_NUM},
    FLAG("no_hashexpand", hash_expand, so_false),
    FLAG("slab_reassign", slab_reassign, so_true),
    FLAG("no_slab_reassign", slab_reassign, so_false),
    {.name = "slab_automove",
     .fn = so_slab_automove,
     .field = &cfg.slab_automove,
     .lo = 0,
     .hi = 2,
     .msg = "slab_automove must be between 0 and 2"},
    FLAG("no_slab_automove", slab_automove, so_zero),
    {.name = "slab_automove_ratio",
     .fn = so_positive_double,
     .field = &cfg.slab_automove_ratio,
     .hi = 1,
     .msg = "slab_automove_ratio must be > 0 and < 1"},
    INT("slab_automove_window", slab_automove_window, 3, INT_MAX,
        "slab_automove_window must be > 2", NULL),
    INT("tail_repair_time", tail_repair_time, 10, INT_MAX,
        "Cannot set tail_repair_time to less than 10 seconds", MISSING_NUM),
    CALL("hash_algorithm", so_hash_algorithm),
    FLAG("lru_crawler", lru_crawler, so_true),
    FLAG("no_lru_crawler", lru_crawler, so_false),
    INT("lru_crawler_sleep", lru_crawler_sleep, 0, 1000000,
        "LRU crawler sleep must be between 0 and 1 second", MISSING_VAL),
    UNS("lru_crawler_tocrawl", lru_crawler_tocrawl, 1, UINT32_MAX,
        "lru_crawler_tocrawl takes a numeric 32bit value", MISSING_VAL),
    {.name = "lru_maintainer", .fn = so_lru_maintainer, .lo = 1},
    {.name = "no_lru_maintainer", .fn = so_lru_maintainer, .lo = 0},
    INT("hot_lru_pct", hot_lru_pct, 1, 79, "hot_lru_pct must be > 1 and < 80", NULL),
    INT("warm_lru_pct", warm_lru_pct, 1, 79, "warm_lru_pct must be > 1 and < 80", NULL),
    {.name = "hot_max_factor",
     .fn = so_positive_double,
     .field = &cfg.hot_max_factor,
     .msg = "hot_max_factor must be > 0"},
    {.name = "warm_max_factor",
     .fn = so_positive_double,
     .field = &cfg.warm_max_factor,
     .msg = "warm_max_factor must be > 0"},
    CALL("temporary_ttl", so_temporary_ttl),
    INT("idle_timeout", idle_timeout, INT_MIN, INT_MAX, NULL, MISSING_NUM),
    UNS("watcher_logbuf_size", watcher_logbuf_size, KB, UINT32_MAX, NULL, NULL),
    UNS("worker_logbuf_size", worker_logbuf_size, KB, UINT32_MAX, NULL, NULL),
    UNS("batch_wait_us", batch_wait_us, 1, 100000, NULL, NULL),
    CALL("slab_sizes", so_ignore_value),
    CALL("slab_chunk_max", so_chunk_max),
    FLAG("track_sizes", track_sizes, so_true),
    CALL("no_inline_ascii_resp", so_ignore),
    CALL("inline_ascii_resp", so_ignore),
    CALL("modern", so_ignore),
    CALL("no_modern", so_no_modern),
    CALL("no_chunked_items", so_no_chunked_items),
    UNS("read_buf_mem_limit", read_buf_mem_limit, MB, LONG_MAX, NULL, NULL),
    {.name = "resp_obj_mem_limit",
     .fn = so_deprecated,
     .msg = "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,"},
    CALL("sock_cookie_id", so_ignore_value),
    CALL("drop_privileges", so_ignore),
    CALL("no_drop_privileges", so_ignore),
    STR("ssl_chain_cert", ssl_chain_cert),
    STR("ssl_key", ssl_key),
    {.name = "ssl_keyformat", .fn = so_int_strict, .field = &cfg.ssl_keyformat},
    CALL("ssl_verify_mode", so_ssl_verify_mode),
    STR("ssl_ciphers", ssl_ciphers),
    STR("ssl_ciphersuites", ssl_ciphersuites),
    STR("ssl_ca_cert", ssl_ca_cert),
    UNS("ssl_wbuf_size", ssl_wbuf_size, KB, INT_MAX, NULL, NULL),
    FLAG("ssl_session_cache", ssl_session_cache, so_true),
    FLAG("ssl_kernel_tls", ssl_kernel_tls, so_true),
    CALL("ssl_min_version", so_ssl_min_version),
    UNS("ssl_handshake_timeout", ssl_handshake_timeout, 1, INT_MAX, NULL, NULL),
    EXT("ext_item_size", item_size),
    EXT("ext_item_age", item_age),
    EXT("ext_low_ttl", low_ttl),
    EXT("ext_recache_rate", recache_rate),
    UNS("ext_wbuf_size", ext.wbuf_size, MB, UINT32_MAX, NULL, NULL),
    EXT("ext_compact_under", compact_under),
    EXT("ext_drop_under", drop_under),
    EXT("ext_max_sleep", max_sleep),
    {.name = "ext_max_frag", .fn = so_double, .field = &cfg.ext.max_frag},
    {.name = "slab_automove_freeratio", .fn = so_double, .field = &cfg.ext.automove_freeratio},
    FLAG("ext_drop_unread", ext.drop_unread, so_true),
    {.name = "ext_page_size",
     .fn = so_unsigned,
     .field = &ext_ignored,
     .size = 4,
     .lo = 1,
     .hi = UINT32_MAX},
    {.name = "ext_threads",
     .fn = so_unsigned,
     .field = &ext_ignored,
     .size = 4,
     .lo = 1,
     .hi = UINT32_MAX},
    {.name = "ext_io_depth",
     .fn = so_unsigned,
     .field = &ext_ignored,
     .size = 4,
     .lo = 1,
     .hi = UINT32_MAX},
    {.name = "ext_path",
     .fn = so_refuse,
     .msg = "ext_path: external storage (extstore) is not supported by this server"},
};

/* One "key" or "key=value" token; the token is modified in place. */
static bool parse_subopt(char *token)
{
    char *val = strchr(token, '=');
    size_t n = val != NULL ? (size_t)(val - token) : strlen(token);

    for (size_t i = 0; i < sizeof(subopts) / sizeof(subopts[0]); i++) {
        const struct subopt *o = &subopts[i];
        if (strlen(o->name) == n && strncmp(o->name, token, n) == 0) {
            return o->fn(o, val != NULL ? val + 1 : NULL);
        }
    }
    return fail(EXIT_FAILURE, "Illegal suboption \"%s\"", token);
}

/* Comma separated tokens; an empty token is illegal, a trailing comma is not. */
static bool parse_subopts(const char *arg)
{
    char *copy = strdup(arg);
    char *p = copy;
    bool ok = copy != NULL || fail(EX_OSERR, "Failed to allocate memory");

    while (ok && *p != '\0') {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        ok = parse_subopt(p);
        p = comma != NULL ? comma + 1 : p + strlen(p);
    }
    free(copy);
    return ok;
}

/* ---- -l ------------------------------------------------------------------ */

/* s points after '[': cut at ']' and find an optional ":port". */
static bool split_bracketed(char *s, const char *entry, char **port)
{
    char *close = strchr(s, ']');

    if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
        return fail(EX_OSERR, "Invalid IPV6 address: \"%s\"", entry);
    }
    *close = '\0';
    *port = close[1] == ':' ? close + 2 : NULL;
    return true;
}

static bool parse_port(const char *s, int *port)
{
    int v;

    if (!to_int_strict(s, &v) || v < 0 || v > 65535) {
        return fail(EX_OSERR, "Invalid port number: \"%s\"", s);
    }
    *port = v;
    return true;
}

static enum listen_tls strip_tls_prefix(char **s)
{
    static const struct {
        const char *prefix;
        enum listen_tls kind;
    } prefixes[] = {
        {"notls:", LISTEN_TLS_OFF},
        {"mtls:", LISTEN_TLS_MUTUAL},
        {"btls:", LISTEN_TLS_BASIC},
    };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (strncmp(*s, prefixes[i].prefix, n) == 0) {
            *s += n;
            return prefixes[i].kind;
        }
    }
    return LISTEN_TLS_DEFAULT;
}

/* One comma-free -l entry: [prefix:]host, host:port, [v6], [v6]:port or bare v6. */
static bool parse_listen_entry(char *entry_copy, const char *entry, struct listen_spec *ls)
{
    char *s = entry_copy;
    char *port = NULL;

    ls->tls = strip_tls_prefix(&s);
    ls->port = -1;
    if (*s == '[') {
        s++;
        if (!split_bracketed(s, entry, &port)) {
            return false;
        }
    } else if (strchr(s, ':') != NULL && strchr(s, ':') == strrchr(s, ':')) {
        port = strchr(s, ':');
        *port++ = '\0';
    }
    if (*s == '\0') {
        return fail(EX_OSERR, "Invalid listen address: \"%s\"", entry);
    }
    if (port != NULL && !parse_port(port, &ls->port)) {
        return false;
    }
    return replace_str(&ls->host, s);
}

static bool listen_entry_known(const char *entry)
{
    const char *p = cfg.inter;
    size_t n = strlen(entry);

    while (p != NULL) {
        if (strncmp(p, entry, n) == 0 && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
        p = strchr(p, ',');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

static bool append_inter(const char *entry)
{
    size_t old = cfg.inter != NULL ? strlen(cfg.inter) : 0;
    char *p = realloc(cfg.inter, old + strlen(entry) + 2);

    if (p == NULL) {
        return fail(EX_OSERR, "Failed to allocate memory");
    }
    if (old > 0) {
        p[old++] = ',';
    }
    strcpy(p + old, entry);
    cfg.inter = p;
    return true;
}

/* One entry of a -l argument; exact repeats are skipped like the reference does. */
static bool add_listen_entry(const char *entry)
{
    char *copy;
    bool ok;

    if (listen_entry_known(entry)) {
        return true;
    }
    if (cfg.nlisten == SETTINGS_MAX_LISTEN) {
        return fail(EX_USAGE, "Too many -l addresses (at most %d)", SETTINGS_MAX_LISTEN);
    }
    copy = strdup(entry);
    if (copy == NULL) {
        return fail(EX_OSERR, "Failed to allocate memory");
    }
    ok = parse_listen_entry(copy, entry, &cfg.listen[cfg.nlisten]);
    free(copy);
    if (ok) {
        cfg.nlisten++;
    }
    return ok && append_inter(entry);
}

static bool parse_listen(const char *arg)
{
    char *copy = strdup(arg);
    char *save = NULL;
    bool ok = copy != NULL || fail(EX_OSERR, "Failed to allocate memory");

    if (ok && *arg == '\0') {
        ok = fail(EX_OSERR, "Invalid listen address: \"\"");
    }
    for (char *e = ok ? strtok_r(copy, ",", &save) : NULL; ok && e != NULL;
         e = strtok_r(NULL, ",", &save)) {
        ok = add_listen_entry(e);
    }
    free(copy);
    return ok;
}

/* Entries without ":port" use the final -p; -p 0 means no TCP at all (reference). */
static void finish_listen(void)
{
    for (int i = 0; i < cfg.nlisten; i++) {
        if (cfg.listen[i].port < 0) {
            cfg.listen[i].port = cfg.port;
        }
    }
    if (cfg.port == 0) {
        for (int i = 0; i < cfg.nlisten; i++) {
            free(cfg.listen[i].host);
            cfg.listen[i].host = NULL;
        }
        cfg.nlisten = 0;
    }
}

/* ---- usage --------------------------------------------------------------- */

static const char usage_text[] =
    "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
    "-U, --udp-port=<num>      UDP port to listen on (default: 0, off; only 0 is supported)\n"
    "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
    "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
    "-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
    "-l, --listen=<addr>       interface to listen on (default: INADDR_ANY)\n"
    "                          repeatable and comma separated: <ip>, <ip>:<port>,\n"
    "                          [<ipv6>]:<port>. if TLS/SSL is enabled, a prefix\n"
    "                          selects TLS per listener: 'notls' disables it\n"
    "                          (-l notls:<ip>:<port>), 'mtls' requires a client\n"
    "                          certificate, 'btls' never asks for one\n"
    "-d, --daemon              run as a daemon\n"
    "-r, --enable-coredumps    maximize core file limit\n"
    "-u, --user=<user>         assume identity of <username> (only when run as root)\n"
    "-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
    "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
    "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
    "-k, --lock-memory         lock down all paged memory\n"
    "-v, --verbose             verbose (print errors/warnings while in event loop)\n"
    "-vv                       very verbose (also print client commands/responses)\n"
    "-vvv                      extremely verbose (internal state transitions)\n"
    "-h, --help                print this help and exit\n"
    "-i, --license             print the license and exit\n"
    "-V, --version             print version and exit\n"
    "-P, --pidfile=<file>      save PID in <file>, removed at exit\n"
    "-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)\n"
    "-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)\n"
    "-L, --enable-largepages  accepted for compatibility; no effect\n"
    "-D <char>     Use <char> as the delimiter between key prefixes and IDs.\n"
    "              This is used for per-prefix stats reporting. The default is\n"
    "              \":\" (colon). If this option is specified, stats collection\n"
    "              is turned on automatically; if not, then it may be turned on\n"
    "              by sending the \"stats detail on\" command to the server.\n"
    "-t, --threads=<num>       number of threads to use (default: 4)\n"
    "-R, --max-reqs-per-event  maximum number of requests per event, limits the\n"
    "                          requests processed per connection to prevent \n"
    "                          starvation (default: 20)\n"
    "-C, --disable-cas         disable use of CAS\n"
    "-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)\n"
    "-B, --protocol=<name>     protocol - ascii or auto (default: auto-negotiate);\n"
    "                          only the ascii protocol is served\n"
    "-I, --max-item-size=<num> adjusts max item size\n"
    "                          (default: 1m, min: 1k, max: 1024m)\n"
    "-F, --disable-flush-all   disable flush_all command\n"
    "-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
    "-W  --disable-watch       disable watch commands (live logging)\n"
    "-Z, --enable-ssl          enable TLS/SSL\n"
    "-o, --extended            comma separated list of extended options\n"
    "                          most options have a 'no_' prefix to disable\n"
    "   - maxconns_fast:       immediately close new connections after limit (default: enabled)\n"
    "   - hashpower:           an integer multiplier for how large the hash\n"
    "                          table should be. normally grows at runtime. (default starts at: 0)\n"
    "                          set based on \"STAT hash_power_level\"\n"
    "   - tail_repair_time:    time in seconds for how long to wait before\n"
    "                          forcefully killing LRU tail item. (accepted, stored)\n"
    "   - hash_algorithm:      the hash table algorithm (accepted, stored)\n"
    "                          default is murmur3 hash. options: jenkins, murmur3, xxh3\n"
    "   - no_lru_crawler:      disable LRU Crawler background thread. (accepted, stored)\n"
    "   - lru_crawler_sleep:   microseconds to sleep between items (accepted, stored)\n"
    "                          default is 100.\n"
    "   - lru_crawler_tocrawl: max items to crawl per slab per run (accepted, stored)\n"
    "                          default is 0 (unlimited)\n"
    "   - read_buf_mem_limit:  limit in megabytes for connection read/response buffers.\n"
    "                          0 means unlimited (default: 0) (accepted, stored)\n"
    "   - no_lru_maintainer:   disable new LRU system + background thread. (accepted, stored)\n"
    "   - hot_lru_pct:         pct of slab memory to reserve for hot lru.\n"
    "                          (requires lru_maintainer, default pct: 20) (accepted, stored)\n"
    "   - warm_lru_pct:        pct of slab memory to reserve for warm lru.\n"
    "                          (requires lru_maintainer, default pct: 40) (accepted, stored)\n"
    "   - hot_max_factor:      items idle > cold lru age * drop from hot lru. (default: 0.20)\n"
    "   - warm_max_factor:     items idle > cold lru age * this drop from warm. (default: 2.00)\n"
    "   - temporary_ttl:       TTL's below get separate LRU, can't be evicted.\n"
    "                          (requires lru_maintainer, default: 61) (accepted, stored)\n"
    "   - idle_timeout:        timeout for idle connections. (default: 0, no timeout)\n"
    "   - slab_chunk_max:      (EXPERIMENTAL) maximum slab size in bytes, as memcached\n"
    "                          parses it. use extreme care. (default: 524288)\n"
    "   - watcher_logbuf_size: size in kilobytes of per-watcher write buffer. (default: 256)\n"
    "   - worker_logbuf_size:  size in kilobytes of per-worker-thread buffer\n"
    "                          read by background thread, then written to watchers. (default: 64)\n"
    "   - batch_wait_us:       (ours) microseconds a busy worker thread sleeps to gather\n"
    "                          ready connections before it polls again. (default: 20, 0 = off,\n"
    "                          at most 100000)\n"
    "   - track_sizes:         enable dynamic reports for 'stats sizes' command.\n"
    "   - no_hashexpand:       disables hash table expansion (dangerous)\n"
    "   - modern:              enables options which will be default in future.\n"
    "                          currently: nothing\n"
    "   - no_modern:           uses defaults of previous major version (1.4.x)\n"
    "   - slab_reassign, slab_automove, slab_automove_ratio, slab_automove_window,\n"
    "     slab_automove_freeratio, ext_* (except ext_path): accepted and shown by\n"
    "     \"stats settings\"\n"
    "   - ssl_chain_cert:      certificate chain file in PEM format\n"
    "   - ssl_key:             private key, if not part of the -ssl_chain_cert\n"
    "   - ssl_keyformat:       private key format (PEM, DER or ENGINE) (default: PEM)\n"
    "   - ssl_verify_mode:     peer certificate verification mode, default is 0(None).\n"
    "                          valid values are 0(None), 1(Request), 2(Require)\n"
    "                          or 3(Once)\n"
    "   - ssl_ciphers:         specify cipher list to be used (TLSv1.2 and below)\n"
    "   - ssl_ciphersuites:    specify TLSv1.3 ciphersuites to be used\n"
    "   - ssl_ca_cert:         PEM format file of acceptable client CA's\n"
    "   - ssl_wbuf_size:       size in kilobytes of per-connection SSL output buffer\n"
    "                          (default: 16)\n"
    "   - ssl_session_cache:   enable server-side SSL session cache, to support session\n"
    "                          resumption\n"
    "   - ssl_kernel_tls:      enable kernel TLS offload\n"
    "   - ssl_min_version:     minimum protocol version to accept (default: tlsv1.2)\n"
    "                          valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2), or "
    "3(tlsv1.3).\n"
    "                          the names tlsv1, tlsv1.1, tlsv1.2, tlsv1.3 are accepted too\n"
    "   - ssl_handshake_timeout: seconds a client may take to finish the TLS handshake\n"
    "                          (default: 5, 0 = no limit)\n"
    "not supported (refused at startup): -S, --enable-sasl; -Y, --auth-file;\n"
    "                          -e, --memory-file; -o ext_path; -U other than 0; -B binary\n";

static void print_usage(void)
{
    printf("memcached %s\n", PACKAGE_VERSION);
    fputs(usage_text, stdout);
}

static void print_license(void)
{
    printf("memcached %s\n\n", PACKAGE_VERSION);
    fputs("memcached-tls: a memcached-compatible cache server with TLS.\n"
          "It links libevent (3-clause BSD license) and OpenSSL (Apache License 2.0).\n"
          "The full license texts are in the source distribution.\n",
          stdout);
}

/* ---- command line -------------------------------------------------------- */

enum opt_result {
    OPT_OK,
    OPT_ERR,
    OPT_EXIT, /* printed help/version; exit 0 */
    OPT_UNKNOWN,
};

static const char short_opts[] = "a:Ap:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:ZN:o:";

static const struct option long_opts[] = {
    {"unix-mask", required_argument, NULL, 'a'},
    {"enable-shutdown", no_argument, NULL, 'A'},
    {"port", required_argument, NULL, 'p'},
    {"unix-socket", required_argument, NULL, 's'},
    {"udp-port", required_argument, NULL, 'U'},
    {"memory-limit", required_argument, NULL, 'm'},
    {"disable-evictions", no_argument, NULL, 'M'},
    {"conn-limit", required_argument, NULL, 'c'},
    {"lock-memory", no_argument, NULL, 'k'},
    {"help", no_argument, NULL, 'h'},
    {"license", no_argument, NULL, 'i'},
    {"version", no_argument, NULL, 'V'},
    {"enable-coredumps", no_argument, NULL, 'r'},
    {"verbose", optional_argument, NULL, 'v'},
    {"daemon", no_argument, NULL, 'd'},
    {"listen", required_argument, NULL, 'l'},
    {"user", required_argument, NULL, 'u'},
    {"pidfile", required_argument, NULL, 'P'},
    {"slab-growth-factor", required_argument, NULL, 'f'},
    {"slab-min-size", required_argument, NULL, 'n'},
    {"threads", required_argument, NULL, 't'},
    {"enable-largepages", no_argument, NULL, 'L'},
    {"max-reqs-per-event", required_argument, NULL, 'R'},
    {"disable-cas", no_argument, NULL, 'C'},
    {"listen-backlog", required_argument, NULL, 'b'},
    {"protocol", required_argument, NULL, 'B'},
    {"max-item-size", required_argument, NULL, 'I'},
    {"enable-sasl", no_argument, NULL, 'S'},
    {"disable-flush-all", no_argument, NULL, 'F'},
    {"disable-dumping", no_argument, NULL, 'X'},
    {"disable-watch", no_argument, NULL, 'W'},
    {"auth-file", required_argument, NULL, 'Y'},
    {"memory-file", required_argument, NULL, 'e'},
    {"enable-ssl", no_argument, NULL, 'Z'},
    {"extended", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

static enum opt_result result_of(bool ok)
{
    return ok ? OPT_OK : OPT_ERR;
}

/* -m: whole megabytes via atoi() like the reference ("64m" is 64, "1g" is 1). */
static bool opt_memory(const char *arg)
{
    long long mb = strtoll(arg, NULL, 10);

    if (mb < 0) {
        return fail(EX_USAGE, "Memory limit (-m) cannot be negative: %s", arg);
    }
    if ((unsigned long long)mb > SIZE_MAX / MB) {
        mb = (long long)(SIZE_MAX / MB);
    }
    cfg.maxbytes = (size_t)mb * MB;
    return true;
}

/* -I: bytes, or a k/K/m/M suffix; anything else reads as atoi() would. */
static void opt_item_size(const char *arg)
{
    size_t len = strlen(arg);
    char last = len > 0 ? arg[len - 1] : '\0';
    long long unit = 1;
    long long v = strtoll(arg, NULL, 10);

    if (last == 'k' || last == 'K') {
        unit = KB;
    } else if (last == 'm' || last == 'M') {
        unit = MB;
    }
    if (v > INT_MAX / unit) {
        v = INT_MAX;
    } else if (v < INT_MIN / unit) {
        v = INT_MIN;
    } else {
        v *= unit;
    }
    cfg.item_size_max = (int)v;
}

static bool opt_threads(const char *arg)
{
    cfg.num_threads = to_int(arg);
    if (cfg.num_threads <= 0) {
        return fail(EXIT_FAILURE, "Number of threads must be greater than 0");
    }
    if (cfg.num_threads > 64) {
        fputs("WARNING: Setting a high number of workerthreads is not recommended.\n"
              " Set this value to the number of cores in your machine or less.\n",
              stderr);
    }
    return true;
}

static bool opt_protocol(const char *arg)
{
    if (strcmp(arg, "auto") == 0 || strcmp(arg, "ascii") == 0) {
        cfg.binding_protocol = arg[0] == 'a' && arg[1] == 's' ? "ascii" : "auto";
        return true;
    }
    if (strcmp(arg, "binary") == 0) {
        return fail(EX_USAGE, "The binary protocol is not supported by this server: "
                              "use -B ascii or -B auto (both serve the ascii protocol)");
    }
    return fail(EX_USAGE,
                "Invalid value for binding protocol: %s\n"
                " -- should be one of auto, binary, or ascii",
                arg);
}

/* Options where the reference rejects a value while reading: exit 1. */
static bool opt_positive(int *field, const char *arg, const char *msg)
{
    *field = to_int(arg);
    return *field > 0 || fail(EXIT_FAILURE, "%s", msg);
}

static enum opt_result network_option(int c, const char *arg)
{
    switch (c) {
    case 'p':
        cfg.port = to_int(arg);
        return OPT_OK;
    case 'U':
        cfg.udpport = to_int(arg);
        return OPT_OK;
    case 's':
        return result_of(replace_str(&cfg.socketpath, arg));
    case 'a':
        cfg.access = (int)strtol(arg, NULL, 8);
        return OPT_OK;
    case 'l':
        return result_of(parse_listen(arg));
    case 'c':
        return result_of(
            opt_positive(&cfg.maxconns, arg, "Maximum connections must be greater than 0"));
    case 'b':
        cfg.backlog = to_int(arg);
        return OPT_OK;
    case 'R':
        return result_of(opt_positive(&cfg.reqs_per_event, arg,
                                      "Number of requests per event must be greater than 0"));
    case 't':
        return result_of(opt_threads(arg));
    case 'B':
        return result_of(opt_protocol(arg));
    case 'Z':
        cfg.ssl_enabled = true;
        return OPT_OK;
    default:
        return OPT_UNKNOWN;
    }
}

static enum opt_result storage_option(int c, const char *arg)
{
    switch (c) {
    case 'm':
        return result_of(opt_memory(arg));
    case 'M':
        cfg.evict_to_free = false;
        return OPT_OK;
    case 'I':
        opt_item_size(arg);
        return OPT_OK;
    case 'f':
        cfg.factor = strtod(arg, NULL);
        return result_of(cfg.factor > 1.0 || fail(EXIT_FAILURE, "Factor must be greater than 1"));
    case 'n':
        return result_of(opt_positive(&cfg.chunk_size, arg, "Chunk size must be greater than 0"));
    case 'C':
        cfg.use_cas = false;
        return OPT_OK;
    case 'F':
        cfg.flush_enabled = false;
        return OPT_OK;
    case 'X':
        cfg.dump_enabled = false;
        return OPT_OK;
    case 'L':
        cfg.large_pages = true;
        return OPT_OK;
    case 'o':
        return result_of(parse_subopts(arg));
    default:
        return OPT_UNKNOWN;
    }
}

static bool opt_delimiter(const char *arg)
{
    if (arg[0] == '\0') {
        return fail(EXIT_FAILURE, "No delimiter specified");
    }
    cfg.prefix_delimiter = arg[0];
    cfg.detail_enabled = true;
    return true;
}

/* Flags the reference has but this server cannot honour safely. */
static enum opt_result unsupported_option(int c)
{
    switch (c) {
    case 'S':
        fail(EX_USAGE, "SASL authentication (-S) is not supported by this server "
                       "(it needs the binary protocol)");
        return OPT_ERR;
    case 'Y':
        fail(EX_USAGE, "ASCII authentication (-Y) is not supported by this server");
        return OPT_ERR;
    case 'e':
        fail(EX_USAGE, "Memory files / restartable cache (-e) are not supported by this server");
        return OPT_ERR;
    default:
        return OPT_UNKNOWN;
    }
}

static enum opt_result process_option(int c, const char *arg)
{
    switch (c) {
    case 'v':
        cfg.verbose++;
        return OPT_OK;
    case 'd':
        cfg.daemonize = true;
        return OPT_OK;
    case 'r':
        cfg.coredumps = true;
        return OPT_OK;
    case 'k':
        cfg.lock_memory = true;
        return OPT_OK;
    case 'u':
        return result_of(replace_str(&cfg.username, arg));
    case 'P':
        return result_of(replace_str(&cfg.pid_file, arg));
    case 'A':
        cfg.shutdown_command = true;
        return OPT_OK;
    case 'D':
        return result_of(opt_delimiter(arg));
    case 'W':
        cfg.watch_enabled = false;
        return OPT_OK;
    case 'N':
        return result_of(replace_str(&cfg.napi_ids, arg));
    default:
        return unsupported_option(c);
    }
}

static enum opt_result info_option(int c)
{
    switch (c) {
    case 'h':
        print_usage();
        return OPT_EXIT;
    case 'i':
        print_license();
        return OPT_EXIT;
    case 'V':
        printf("memcached %s\n", PACKAGE_VERSION);
        return OPT_EXIT;
    default:
        fail(EXIT_FAILURE, "Illegal argument \"%c\"", c);
        return OPT_ERR;
    }
}

static enum settings_result read_options(int argc, char **argv)
{
    int c;

    optind = 0; /* glibc: full re-initialisation, so settings_parse can run again */
    opterr = 1; /* getopt's own "invalid option" line comes first, as in memcached */
    while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        enum opt_result r = network_option(c, optarg);
        if (r == OPT_UNKNOWN) {
            r = storage_option(c, optarg);
        }
        if (r == OPT_UNKNOWN) {
            r = process_option(c, optarg);
        }
        if (r == OPT_UNKNOWN) {
            r = info_option(c);
        }
        if (r != OPT_OK) {
            return r == OPT_EXIT ? SETTINGS_EXIT_OK : SETTINGS_EXIT_ERR;
        }
    }
    return SETTINGS_OK;
}

/* ---- validation after all options (reference order and exit codes) ------- */

static bool check_item_size(void)
{
    if (cfg.item_size_max < 1024) {
        return fail(EX_USAGE, "Item max size cannot be less than 1024 bytes.");
    }
    if ((size_t)cfg.item_size_max > cfg.maxbytes / 2) {
        return fail(EX_USAGE, "Cannot set item size limit higher than 1/2 of memory max.");
    }
    if (cfg.item_size_max > 1024 * 1024 * 1024) {
        return fail(EX_USAGE, "Cannot set item size limit higher than a gigabyte.");
    }
    if (cfg.item_size_max > SLAB_PAGE_SIZE && !chunk_max_changed) {
        cfg.slab_chunk_size_max = cfg.slab_page_size / 2;
    }
    return true;
}

static bool check_chunk_max(void)
{
    int cm = cfg.slab_chunk_size_max;

    if (cm <= 0) {
        return fail(EX_USAGE, "slab_chunk_max (bytes: %d) must be greater than 0", cm);
    }
    if (cm > cfg.item_size_max) {
        return fail(EX_USAGE,
                    "slab_chunk_max (bytes: %d) cannot be larger than -I (item_size_max %d)", cm,
                    cfg.item_size_max);
    }
    if (cfg.item_size_max % cm != 0) {
        return fail(EX_USAGE,
                    "-I (item_size_max: %d) must be evenly divisible by slab_chunk_max (bytes: %d)",
                    cfg.item_size_max, cm);
    }
    if (cfg.slab_page_size % cm != 0) {
        return fail(EX_USAGE,
                    "slab_chunk_max (bytes: %d) must divide evenly into %d (slab_page_size)", cm,
                    cfg.slab_page_size);
    }
    return true;
}

static bool check_lru(void)
{
    if (cfg.hot_lru_pct + cfg.warm_lru_pct > 80) {
        return fail(EX_USAGE, "hot_lru_pct + warm_lru_pct cannot be more than 80%% combined");
    }
    if (cfg.temp_lru && !cfg.lru_maintainer_thread) {
        return fail(EX_USAGE, "temporary_ttl requires lru_maintainer to be enabled");
    }
    return true;
}

static bool check_network(void)
{
    /* -1 is memcached's "any free port" (reported through MEMCACHED_PORT_FILENAME). */
    if (cfg.port < -1 || cfg.port > 65535) {
        return fail(EX_USAGE, "ERROR: Invalid port number %d.", cfg.port);
    }
    if (cfg.udpport != 0) {
        return fail(EX_USAGE, "UDP is not supported by this server: -U must be 0 (the default)");
    }
    return true;
}

static const char *tls_prefix_name(enum listen_tls kind)
{
    switch (kind) {
    case LISTEN_TLS_OFF:
        return "notls";
    case LISTEN_TLS_MUTUAL:
        return "mtls";
    case LISTEN_TLS_BASIC:
        return "btls";
    default:
        return "";
    }
}

static bool check_tls(void)
{
    if (!cfg.ssl_enabled) {
        for (int i = 0; i < cfg.nlisten; i++) {
            if (cfg.listen[i].tls != LISTEN_TLS_DEFAULT) {
                return fail(EX_OSERR, "'%s' option is valid only when SSL is enabled",
                            tls_prefix_name(cfg.listen[i].tls));
            }
        }
        return true;
    }
    if (cfg.port == 0) {
        return fail(EX_USAGE, "ERROR: You cannot enable SSL without a TCP port.");
    }
    if (cfg.ssl_chain_cert == NULL) {
        return fail(EX_USAGE, "Error loading the certificate chain: (null) : "
                              "no certificate file given (-o ssl_chain_cert=<file>)");
    }
    if (cfg.ssl_wbuf_size == 0) {
        return fail(EX_USAGE, "ssl_wbuf_size must be at least 1 (kilobyte)");
    }
    return true;
}

/* The reference's item lock table grows with -t; the hash table must be larger. */
static int lock_table_power(int threads)
{
    if (threads < 5) {
        return threads < 3 ? 10 : threads + 8;
    }
    return threads <= 10 ? 13 : threads <= 20 ? 14 : 15;
}

static bool check_hashpower(void)
{
    int lock_power = lock_table_power(cfg.num_threads);

    if (cfg.hashpower_init != 0 && cfg.hashpower_init <= lock_power) {
        return fail(EXIT_FAILURE,
                    "Hash table power size (%d) cannot be equal to or less than item lock "
                    "table (%d)\nItem lock table grows with `-t N` (worker threadcount)\n"
                    "Hash table grows with `-o hashpower=N` ",
                    cfg.hashpower_init, lock_power);
    }
    return true;
}

enum settings_result settings_parse(int argc, char **argv)
{
    enum settings_result r;

    settings_teardown();
    set_defaults(&cfg);
    r = read_options(argc, argv);
    if (r != SETTINGS_OK) {
        return r;
    }
    if (!check_item_size() || !check_chunk_max() || !check_lru() || !check_network() ||
        !check_tls() || !check_hashpower()) {
        return SETTINGS_EXIT_ERR;
    }
    finish_listen();
    return SETTINGS_OK;
}

/* ---- stats settings ------------------------------------------------------ */

struct emitter {
    void (*emit)(void *ctx, const char *name, const char *val);
    void *ctx;
};

static void __attribute__((format(printf, 3, 4)))
emitf(const struct emitter *e, const char *name, const char *fmt, ...)
{
    char small[256];
    char *val = small;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(small) && (val = malloc((size_t)n + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(val, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    e->emit(e->ctx, name, val != NULL ? val : small);
    if (val != small) {
        free(val);
    }
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* memcached prints unset strings either as "NULL" or via printf's "(null)". */
static const char *or_null(const char *s, const char *shown)
{
    return s != NULL ? s : shown;
}

static void emit_network(const struct emitter *e, const struct settings_runtime *rt)
{
    emitf(e, "maxbytes", "%llu", (unsigned long long)rt->maxbytes);
    emitf(e, "maxconns", "%d", cfg.maxconns);
    emitf(e, "tcpport", "%d", cfg.port);
    emitf(e, "udpport", "%d", cfg.udpport);
    emitf(e, "inter", "%s", or_null(cfg.inter, "NULL"));
    emitf(e, "verbosity", "%d", logger_verbosity());
    emitf(e, "oldest", "%lu", (unsigned long)rt->oldest);
    emitf(e, "evictions", "%s", cfg.evict_to_free ? "on" : "off");
    emitf(e, "domain_socket", "%s", or_null(cfg.socketpath, "NULL"));
    emitf(e, "umask", "%o", (unsigned)cfg.access);
    emitf(e, "shutdown_command", "%s", yes_no(cfg.shutdown_command));
    emitf(e, "growth_factor", "%.2f", cfg.factor);
    emitf(e, "chunk_size", "%d", cfg.chunk_size);
    emitf(e, "num_threads", "%d", cfg.num_threads);
    emitf(e, "num_threads_per_udp", "%d",
          cfg.inter != NULL && strchr(cfg.inter, ',') != NULL ? 1 : cfg.num_threads);
    emitf(e, "stat_key_prefix", "%c", cfg.prefix_delimiter);
    emitf(e, "detail_enabled", "%s", yes_no(rt->detail_enabled));
    emitf(e, "reqs_per_event", "%d", cfg.reqs_per_event);
    emitf(e, "cas_enabled", "%s", yes_no(cfg.use_cas));
    emitf(e, "tcp_backlog", "%d", cfg.backlog);
    emitf(e, "binding_protocol", "%s",
          strcmp(cfg.binding_protocol, "ascii") == 0 ? "ascii" : "auto-negotiate");
    emitf(e, "auth_enabled_sasl", "%s", "no");
    emitf(e, "auth_enabled_ascii", "%s", "no");
    emitf(e, "item_size_max", "%d", cfg.item_size_max);
    emitf(e, "maxconns_fast", "%s", yes_no(cfg.maxconns_fast));
    emitf(e, "hashpower_init", "%d", cfg.hashpower_init);
}

static void emit_storage(const struct emitter *e)
{
    static const char *const hash_names[] = {"murmur3", "jenkins", "xxh3"};

    emitf(e, "slab_reassign", "%s", yes_no(cfg.slab_reassign));
    emitf(e, "slab_automove", "%d", cfg.slab_automove);
    emitf(e, "slab_automove_ratio", "%.2f", cfg.slab_automove_ratio);
    emitf(e, "slab_automove_window", "%d", cfg.slab_automove_window);
    emitf(e, "slab_chunk_max", "%d", cfg.slab_chunk_size_max);
    emitf(e, "lru_crawler", "%s", yes_no(cfg.lru_crawler));
    emitf(e, "lru_crawler_sleep", "%d", cfg.lru_crawler_sleep);
    emitf(e, "lru_crawler_tocrawl", "%lu", (unsigned long)cfg.lru_crawler_tocrawl);
    emitf(e, "tail_repair_time", "%d", cfg.tail_repair_time);
    emitf(e, "flush_enabled", "%s", yes_no(cfg.flush_enabled));
    emitf(e, "dump_enabled", "%s", yes_no(cfg.dump_enabled));
    emitf(e, "hash_algorithm", "%s", hash_names[cfg.hash_algorithm]);
    emitf(e, "lru_maintainer_thread", "%s", yes_no(cfg.lru_maintainer_thread));
    emitf(e, "lru_segmented", "%s", yes_no(cfg.lru_segmented));
    emitf(e, "hot_lru_pct", "%d", cfg.hot_lru_pct);
    emitf(e, "warm_lru_pct", "%d", cfg.warm_lru_pct);
    emitf(e, "hot_max_factor", "%.2f", cfg.hot_max_factor);
    emitf(e, "warm_max_factor", "%.2f", cfg.warm_max_factor);
    emitf(e, "temp_lru", "%s", yes_no(cfg.temp_lru));
    emitf(e, "temporary_ttl", "%d", cfg.temporary_ttl);
    emitf(e, "idle_timeout", "%d", cfg.idle_timeout);
    emitf(e, "watcher_logbuf_size", "%lu", (unsigned long)cfg.watcher_logbuf_size);
    emitf(e, "worker_logbuf_size", "%lu", (unsigned long)cfg.worker_logbuf_size);
    emitf(e, "read_buf_mem_limit", "%llu", (unsigned long long)cfg.read_buf_mem_limit);
    emitf(e, "track_sizes", "%s", yes_no(cfg.track_sizes));
    emitf(e, "inline_ascii_response", "%s", "no");
}

static void emit_ext(const struct emitter *e)
{
    const struct settings_ext *x = &cfg.ext;

    emitf(e, "ext_item_size", "%lu", (unsigned long)x->item_size);
    emitf(e, "ext_item_age", "%lu", (unsigned long)x->item_age);
    emitf(e, "ext_low_ttl", "%lu", (unsigned long)x->low_ttl);
    emitf(e, "ext_recache_rate", "%lu", (unsigned long)x->recache_rate);
    emitf(e, "ext_wbuf_size", "%lu", (unsigned long)x->wbuf_size);
    emitf(e, "ext_compact_under", "%lu", (unsigned long)x->compact_under);
    emitf(e, "ext_drop_under", "%lu", (unsigned long)x->drop_under);
    emitf(e, "ext_max_sleep", "%lu", (unsigned long)x->max_sleep);
    emitf(e, "ext_max_frag", "%.2f", x->max_frag);
    emitf(e, "slab_automove_freeratio", "%.3f", x->automove_freeratio);
    emitf(e, "ext_drop_unread", "%s", yes_no(x->drop_unread));
}

static void emit_tls(const struct emitter *e)
{
    /* memcached shows the OpenSSL SSL_VERIFY_* bit mask, not the -o value. */
    static const int verify_flags[] = {0, 1, 3, 7};
    static const char *const versions[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    int v = cfg.ssl_min_version - TLS1_0_VERSION_NUM;

    emitf(e, "ssl_enabled", "%s", yes_no(cfg.ssl_enabled));
    emitf(e, "ssl_chain_cert", "%s", or_null(cfg.ssl_chain_cert, "(null)"));
    emitf(e, "ssl_key", "%s", or_null(cfg.ssl_key, "(null)"));
    emitf(e, "ssl_verify_mode", "%d", verify_flags[cfg.ssl_verify_mode & 3]);
    emitf(e, "ssl_keyformat", "%d", cfg.ssl_keyformat);
    emitf(e, "ssl_ciphers", "%s", or_null(cfg.ssl_ciphers, "NULL"));
    emitf(e, "ssl_ca_cert", "%s", or_null(cfg.ssl_ca_cert, "NULL"));
    emitf(e, "ssl_wbuf_size", "%d", cfg.ssl_wbuf_size);
    emitf(e, "ssl_session_cache", "%s", yes_no(cfg.ssl_session_cache));
    emitf(e, "ssl_kernel_tls", "%s", yes_no(cfg.ssl_kernel_tls));
    emitf(e, "ssl_min_version", "%s", v >= 0 && v <= 3 ? versions[v] : "unknown");
    /* ours, not in the reference */
    emitf(e, "ssl_ciphersuites", "%s", or_null(cfg.ssl_ciphersuites, "NULL"));
    emitf(e, "ssl_handshake_timeout", "%d", cfg.ssl_handshake_timeout);
}

void settings_emit_stats(const struct settings_runtime *rt,
                         void (*emit)(void *ctx, const char *name, const char *val), void *ctx)
{
    const struct emitter e = {.emit = emit, .ctx = ctx};
    struct settings_runtime startup = {
        .maxbytes = cfg.maxbytes,
        .oldest = 0,
        .detail_enabled = cfg.detail_enabled,
    };

    emit_network(&e, rt != NULL ? rt : &startup);
    emit_storage(&e);
    emit_ext(&e);
    emit_tls(&e);
    emitf(&e, "num_napi_ids", "%s", or_null(cfg.napi_ids, "(null)"));
    emitf(&e, "memory_file", "%s", "(null)");
    /* ours, not in the reference */
    emitf(&e, "batch_wait_us", "%u", (unsigned)cfg.batch_wait_us);
}

void settings_teardown(void)
{
    char **owned[] = {
        &cfg.inter,       &cfg.socketpath,  &cfg.pid_file,
        &cfg.username,    &cfg.napi_ids,    &cfg.ssl_chain_cert,
        &cfg.ssl_key,     &cfg.ssl_ciphers, &cfg.ssl_ciphersuites,
        &cfg.ssl_ca_cert,
    };

    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        free(*owned[i]);
        *owned[i] = NULL;
    }
    for (int i = 0; i < cfg.nlisten; i++) {
        free(cfg.listen[i].host);
        cfg.listen[i].host = NULL;
    }
    cfg.nlisten = 0;
}
