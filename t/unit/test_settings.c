/*
 * test_settings.c - unit tests for the command line (settings.c): defaults,
 * every option family, -l forms, validation texts and exit codes, and the
 * `stats settings` listing against memcached 1.6.18's. The expected texts and
 * codes were taken by running the reference with the same arguments.
 * Prints TAP; run through prove.
 */
#include "logger.h"
#include "settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static int test_num;
static int failures;
static char err_text[4096]; /* stderr of the last parse */

static void ok(int cond, const char *fmt, ...)
{
    va_list ap;

    test_num++;
    if (!cond) {
        failures++;
    }
    printf("%sok %d - ", cond ? "" : "not ", test_num);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* Parse a space separated command line; stderr is captured into err_text. */
static enum settings_result parse(const char *line)
{
    char buf[2048];
    char *argv[64];
    int argc = 0;
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    enum settings_result r;
    size_t n;

    argv[argc++] = "memcached";
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *t = strtok(buf, " "); t != NULL && argc < 63; t = strtok(NULL, " ")) {
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    r = settings_parse(argc, argv);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(err_text, 1, sizeof(err_text) - 1, tmp);
    err_text[n] = '\0';
    fclose(tmp);
    return r;
}

/* text with newlines shown as \n, so a TAP line stays one line */
static const char *one_line(const char *text, char *buf, size_t cap)
{
    size_t n = 0;

    for (; *text != '\0' && n + 3 < cap; text++) {
        if (*text == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *text;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void parses(const char *line)
{
    enum settings_result r = parse(line);

    char got[512];

    ok(r == SETTINGS_OK && err_text[0] == '\0', "accepted: %s%s%s", line, err_text[0] ? " -- " : "",
       one_line(err_text, got, sizeof(got)));
}

/* The argument vector is refused with this exact stderr text and exit status. */
static void refused(const char *line, int status, const char *text)
{
    enum settings_result r = parse(line);
    char want[512];
    char got[512];

    ok(r == SETTINGS_EXIT_ERR && settings_exit_status() == status && strcmp(err_text, text) == 0,
       "refused: %s -> %d %s (got %d/%d %s)", line, status, one_line(text, want, sizeof(want)),
       (int)r, settings_exit_status(), one_line(err_text, got, sizeof(got)));
}

static void test_defaults(void)
{
    parses("");
    ok(settings->port == 11211 && settings->udpport == 0 && settings->inter == NULL &&
           settings->nlisten == 0,
       "network defaults");
    ok(settings->maxbytes == 64u * 1024 * 1024 && settings->maxconns == 1024 &&
           settings->num_threads == 4 && settings->item_size_max == 1024 * 1024,
       "size defaults");
    ok(settings->slab_chunk_size_max == 524288 && settings->factor == 1.25 &&
           settings->chunk_size == 48 && settings->backlog == 1024 &&
           settings->reqs_per_event == 20 && settings->access == 0700,
       "slab and listener defaults");
    ok(settings->evict_to_free && settings->use_cas && settings->flush_enabled &&
           settings->maxconns_fast && settings->dump_enabled && settings->hash_expand,
       "default switches on");
    ok(!settings->ssl_enabled && settings->ssl_keyformat == 1 && settings->ssl_verify_mode == 0 &&
           settings->ssl_wbuf_size == 16384 && settings->ssl_min_version == 0x0303 &&
           settings->ssl_handshake_timeout == 5,
       "TLS defaults");
    ok(strcmp(settings->binding_protocol, "auto") == 0 && settings->prefix_delimiter == ':' &&
           !settings->detail_enabled && settings->idle_timeout == 0,
       "protocol and delimiter defaults");
}

static void test_options(void)
{
    parses("-p 1234 -U 0 -s /tmp/x.sock -a 755 -A -c 99 -t 2 -R 5 -b 7 -B ascii -C -F -X -W -M "
           "-m 128 -I 2m -f 1.5 -n 64 -D / -v -v -d -P /tmp/p -u nobody -r -k -L");
    ok(settings->port == 1234 && strcmp(settings->socketpath, "/tmp/x.sock") == 0 &&
           settings->access == 0755 && settings->shutdown_command,
       "-p -s -a -A");
    ok(settings->maxconns == 99 && settings->num_threads == 2 && settings->reqs_per_event == 5 &&
           settings->backlog == 7 && strcmp(settings->binding_protocol, "ascii") == 0,
       "-c -t -R -b -B");
    ok(!settings->use_cas && !settings->flush_enabled && !settings->dump_enabled &&
           !settings->watch_enabled && !settings->evict_to_free,
       "-C -F -X -W -M");
    ok(settings->maxbytes == 128u * 1024 * 1024 && settings->item_size_max == 2 * 1024 * 1024 &&
           settings->factor == 1.5 && settings->chunk_size == 64,
       "-m -I -f -n");
    ok(settings->prefix_delimiter == '/' && settings->detail_enabled && settings->verbose == 2 &&
           settings->daemonize && strcmp(settings->pid_file, "/tmp/p") == 0 &&
           strcmp(settings->username, "nobody") == 0 && settings->coredumps &&
           settings->lock_memory && settings->large_pages,
       "-D -v -d -P -u -r -k -L");
    parses(
        "--port=2345 --conn-limit=50 --threads=3 --memory-limit=32 --max-item-size=512k "
        "--disable-cas --enable-shutdown --verbose --listen=127.0.0.1 --extended=idle_timeout=9");
    ok(settings->port == 2345 && settings->maxconns == 50 && settings->num_threads == 3 &&
           settings->maxbytes == 32u * 1024 * 1024 && settings->item_size_max == 512 * 1024 &&
           !settings->use_cas && settings->shutdown_command && settings->verbose == 1 &&
           settings->idle_timeout == 9,
       "long options");
    parses("-m 64m -I 1024k");
    ok(settings->maxbytes == 64u * 1024 * 1024 && settings->item_size_max == 1024 * 1024,
       "-m ignores a suffix like atoi(), -I honours k");
}

static void test_subopts(void)
{
    parses("-o idle_timeout=5,hashpower=20,slab_chunk_max=16384,no_lru_crawler,"
           "no_lru_maintainer,track_sizes,no_maxconns_fast,no_hashexpand,hash_algorithm=xxh3");
    ok(settings->idle_timeout == 5 && settings->hashpower_init == 20 &&
           settings->slab_chunk_size_max == 16384 && !settings->lru_crawler &&
           !settings->lru_maintainer_thread && !settings->lru_segmented && settings->track_sizes &&
           !settings->maxconns_fast && !settings->hash_expand &&
           settings->hash_algorithm == SETTINGS_HASH_XXH3,
       "core -o keys");
    parses("-o tail_repair_time=30,lru_crawler_sleep=50,lru_crawler_tocrawl=9,read_buf_mem_limit=8,"
           "hot_lru_pct=10,warm_lru_pct=30,hot_max_factor=0.5,warm_max_factor=3.5,temporary_ttl=30,"
           "watcher_logbuf_size=128,worker_logbuf_size=32,slab_automove=2,slab_automove_ratio=0.5,"
           "slab_automove_window=10");
    ok(settings->tail_repair_time == 30 && settings->lru_crawler_sleep == 50 &&
           settings->lru_crawler_tocrawl == 9 && settings->read_buf_mem_limit == 8u << 20 &&
           settings->hot_lru_pct == 10 && settings->warm_lru_pct == 30 &&
           settings->hot_max_factor == 0.5 && settings->warm_max_factor == 3.5 &&
           settings->temp_lru && settings->temporary_ttl == 30,
       "accepted-and-stored -o keys");
    ok(settings->watcher_logbuf_size == 128 * 1024 && settings->worker_logbuf_size == 32 * 1024 &&
           settings->slab_automove == 2 && settings->slab_automove_ratio == 0.5 &&
           settings->slab_automove_window == 10,
       "KB units and slab_automove keys");
    parses("-o modern,maxconns_fast,lru_crawler,lru_maintainer,slab_reassign,");
    ok(settings->maxconns_fast && settings->lru_crawler && settings->lru_maintainer_thread,
       "bare keys; one trailing comma is fine");
    refused("-o modern,,", 1, "Illegal suboption \"\"\n");
    parses("-o no_slab_automove,no_slab_reassign");
    ok(settings->slab_automove == 0 && !settings->slab_reassign, "no_ keys take no value");
    parses("-o no_modern");
    ok(!settings->maxconns_fast && !settings->slab_reassign && settings->slab_automove == 0 &&
           settings->slab_chunk_size_max == 1024 * 1024 &&
           settings->hash_algorithm == SETTINGS_HASH_JENKINS && !settings->lru_crawler,
       "no_modern restores the 1.4 defaults");
    parses("-o slab_chunk_max=16384 -I 512k");
    ok(settings->slab_chunk_size_max == 16384 && settings->item_size_max == 512 * 1024,
       "slab_chunk_max is bytes (memcached's own tests rely on it)");
}

static void test_tls_subopts(void)
{
    parses("-Z -o ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_keyformat=2,ssl_verify_mode=3,"
           "ssl_ciphers=HIGH:!aNULL,ssl_ciphersuites=TLS_AES_128_GCM_SHA256,ssl_ca_cert=/ca.pem,"
           "ssl_wbuf_size=32,ssl_session_cache,ssl_kernel_tls,ssl_min_version=3,"
           "ssl_handshake_timeout=0");
    ok(settings->ssl_enabled && strcmp(settings->ssl_chain_cert, "/c.pem") == 0 &&
           strcmp(settings->ssl_key, "/k.pem") == 0 && settings->ssl_keyformat == 2 &&
           settings->ssl_verify_mode == 3 && strcmp(settings->ssl_ciphers, "HIGH:!aNULL") == 0,
       "TLS keys (1)");
    ok(strcmp(settings->ssl_ciphersuites, "TLS_AES_128_GCM_SHA256") == 0 &&
           strcmp(settings->ssl_ca_cert, "/ca.pem") == 0 && settings->ssl_wbuf_size == 32768 &&
           settings->ssl_session_cache && settings->ssl_kernel_tls &&
           settings->ssl_min_version == 0x0304 && settings->ssl_handshake_timeout == 0,
       "TLS keys (2)");
    static const char *const names[] = {"tlsv1", "tlsv1.1", "tlsv1.2", "TLSv1.3"};
    for (int i = 0; i < 4; i++) {
        char line[128];
        snprintf(line, sizeof(line), "-o ssl_min_version=%s", names[i]);
        parses(line);
        ok(settings->ssl_min_version == 0x0301 + i, "ssl_min_version=%s", names[i]);
        snprintf(line, sizeof(line), "-o ssl_min_version=%d", i);
        parses(line);
        ok(settings->ssl_min_version == 0x0301 + i, "ssl_min_version=%d", i);
    }
}

static void test_listen(void)
{
    parses("-p 5000 -l 127.0.0.1,[::1]:6000 -l notls:10.0.0.1:7000 -l mtls:[::1] -l btls:host:8 "
           "-l ::1 -l 127.0.0.1 -Z -o ssl_chain_cert=/c");
    ok(settings->nlisten == 6, "six listeners, exact repeat skipped (%d)", settings->nlisten);
    ok(strcmp(settings->inter,
              "127.0.0.1,[::1]:6000,notls:10.0.0.1:7000,mtls:[::1],btls:host:8,::1") == 0,
       "inter joins the -l text: %s", settings->inter);
    ok(strcmp(settings->listen[0].host, "127.0.0.1") == 0 && settings->listen[0].port == 5000 &&
           settings->listen[0].tls == LISTEN_TLS_DEFAULT,
       "host only uses -p");
    ok(strcmp(settings->listen[1].host, "::1") == 0 && settings->listen[1].port == 6000,
       "[v6]:port");
    ok(strcmp(settings->listen[2].host, "10.0.0.1") == 0 && settings->listen[2].port == 7000 &&
           settings->listen[2].tls == LISTEN_TLS_OFF,
       "notls: prefix");
    ok(strcmp(settings->listen[3].host, "::1") == 0 && settings->listen[3].port == 5000 &&
           settings->listen[3].tls == LISTEN_TLS_MUTUAL,
       "mtls:[v6] without port");
    ok(strcmp(settings->listen[4].host, "host") == 0 && settings->listen[4].port == 8 &&
           settings->listen[4].tls == LISTEN_TLS_BASIC,
       "btls:host:port");
    ok(strcmp(settings->listen[5].host, "::1") == 0 && settings->listen[5].port == 5000,
       "bare IPv6 (several colons) is a host");
    parses("-l 127.0.0.1 -p 0");
    ok(settings->nlisten == 0 && strcmp(settings->inter, "127.0.0.1") == 0,
       "-p 0 disables TCP listeners even with -l (reference)");
}

static void test_refusals(void)
{
    refused("-t 0", 1, "Number of threads must be greater than 0\n");
    refused("-c -1", 1, "Maximum connections must be greater than 0\n");
    refused("-f 1.0", 1, "Factor must be greater than 1\n");
    refused("-n 0", 1, "Chunk size must be greater than 0\n");
    refused("-R 0", 1, "Number of requests per event must be greater than 0\n");
    refused("-m abc", EX_USAGE, "Cannot set item size limit higher than 1/2 of memory max.\n");
    refused("-I 500", EX_USAGE, "Item max size cannot be less than 1024 bytes.\n");
    refused("-I 512m", EX_USAGE, "Cannot set item size limit higher than 1/2 of memory max.\n");
    refused("-m 4096 -I 1025m", EX_USAGE, "Cannot set item size limit higher than a gigabyte.\n");
    refused("-I 2k", EX_USAGE,
            "slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 2048)\n");
    refused(
        "-o slab_chunk_max=100", EX_USAGE,
        "-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 100)\n");
    refused("-I 4m -o slab_chunk_max=2097152", EX_USAGE,
            "slab_chunk_max (bytes: 2097152) must divide evenly into 1048576 (slab_page_size)\n");
    refused("-o slab_chunk_max=0", EX_USAGE, "slab_chunk_max (bytes: 0) must be greater than 0\n");
    refused("-o bogus=1", 1, "Illegal suboption \"bogus=1\"\n");
    refused("-o ,idle_timeout=1", 1, "Illegal suboption \"\"\n");
    refused("-o hashpower=11", 1, "Initial hashtable multiplier of 11 is too low\n");
    refused("-o hashpower=12", 1,
            "Hash table power size (12) cannot be equal to or less than item lock table (12)\n"
            "Item lock table grows with `-t N` (worker threadcount)\n"
            "Hash table grows with `-o hashpower=N` \n");
    refused("-o hot_lru_pct=50,warm_lru_pct=31", EX_USAGE,
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined\n");
    refused("-o temporary_ttl=5,no_lru_maintainer", EX_USAGE,
            "temporary_ttl requires lru_maintainer to be enabled\n");
    refused("-o ssl_verify_mode=4", 1, "Invalid ssl_verify_mode. Use help to see valid options.\n");
    refused("-o ssl_min_version=x", 1, "could not parse argument to ssl_min_version\n");
    refused("-o ssl_wbuf_size=-1", 1, "could not parse argument to ssl_wbuf_size\n");
    refused("-o idle_timeout", 1, "Missing numeric argument for idle_timeout\n");
    refused("-o lru_crawler_sleep", 1, "Missing lru_crawler_sleep value\n");
    refused("-o ssl_key", 1, "Missing ssl_key argument\n");
}

static void test_refusals_ours(void)
{
    refused(
        "-B foo", EX_USAGE,
        "Invalid value for binding protocol: foo\n -- should be one of auto, binary, or ascii\n");
    refused("-p 99999", EX_USAGE, "ERROR: Invalid port number 99999.\n");
    refused("-Z -p 0 -o ssl_chain_cert=/c", EX_USAGE,
            "ERROR: You cannot enable SSL without a TCP port.\n");
    ok(parse("-Z") == SETTINGS_EXIT_ERR && settings_exit_status() == EX_USAGE &&
           strncmp(err_text, "Error loading the certificate chain: (null)", 43) == 0,
       "-Z without ssl_chain_cert: the reference's first words, exit 64");
    refused("-l notls:127.0.0.1:1", EX_OSERR, "'notls' option is valid only when SSL is enabled\n");
    refused("-l 127.0.0.1:abc", EX_OSERR, "Invalid port number: \"abc\"\n");
    refused("-l [::1", EX_OSERR, "Invalid IPV6 address: \"[::1\"\n");
    ok(parse("-U 5") == SETTINGS_EXIT_ERR && settings_exit_status() == EX_USAGE &&
           strstr(err_text, "UDP") != NULL,
       "-U 5 refused: UDP unsupported");
    parses("-U 0");
    ok(parse("-B binary") == SETTINGS_EXIT_ERR && settings_exit_status() == EX_USAGE &&
           strstr(err_text, "binary protocol") != NULL,
       "-B binary refused");
    ok(parse("-S") == SETTINGS_EXIT_ERR && parse("-Y /f") == SETTINGS_EXIT_ERR &&
           parse("-e /f") == SETTINGS_EXIT_ERR && parse("-o ext_path=/f:1G") == SETTINGS_EXIT_ERR,
       "-S, -Y, -e and ext_path refused");
    ok(parse("-q") == SETTINGS_EXIT_ERR && settings_exit_status() == 1 &&
           strstr(err_text, "Illegal argument \"?\"") != NULL,
       "unknown option: getopt's line, then Illegal argument, exit 1");
}

/* `stats settings` of memcached 1.6.18 for `-p 39133 -l 127.0.0.1`, plus our two keys. */
static const char expected_default[] =
    "maxbytes 67108864|maxconns 1024|tcpport 39133|udpport 0|inter 127.0.0.1|verbosity 0|"
    "oldest 0|evictions on|domain_socket NULL|umask 700|shutdown_command no|growth_factor 1.25|"
    "chunk_size 48|num_threads 4|num_threads_per_udp 4|stat_key_prefix :|detail_enabled no|"
    "reqs_per_event 20|cas_enabled yes|tcp_backlog 1024|binding_protocol auto-negotiate|"
    "auth_enabled_sasl no|auth_enabled_ascii no|item_size_max 1048576|maxconns_fast yes|"
    "hashpower_init 0|slab_reassign yes|slab_automove 1|slab_automove_ratio 0.80|"
    "slab_automove_window 30|slab_chunk_max 524288|lru_crawler yes|lru_crawler_sleep 100|"
    "lru_crawler_tocrawl 0|tail_repair_time 0|flush_enabled yes|dump_enabled yes|"
    "hash_algorithm murmur3|lru_maintainer_thread yes|lru_segmented yes|hot_lru_pct 20|"
    "warm_lru_pct 40|hot_max_factor 0.20|warm_max_factor 2.00|temp_lru no|temporary_ttl 61|"
    "idle_timeout 0|watcher_logbuf_size 262144|worker_logbuf_size 65536|read_buf_mem_limit 0|"
    "track_sizes no|inline_ascii_response no|ext_item_size 512|ext_item_age 4294967295|"
    "ext_low_ttl 0|ext_recache_rate 2000|ext_wbuf_size 4194304|ext_compact_under 0|"
    "ext_drop_under 0|ext_max_sleep 1000000|ext_max_frag 0.80|slab_automove_freeratio 0.010|"
    "ext_drop_unread no|ssl_enabled no|ssl_chain_cert (null)|ssl_key (null)|ssl_verify_mode 0|"
    "ssl_keyformat 1|ssl_ciphers NULL|ssl_ca_cert NULL|ssl_wbuf_size 16384|"
    "ssl_session_cache no|ssl_kernel_tls no|ssl_min_version tlsv1.2|ssl_ciphersuites NULL|"
    "ssl_handshake_timeout 5|num_napi_ids (null)|memory_file (null)|batch_wait_us 20|";

static void collect(void *ctx, const char *name, const char *val)
{
    char *out = ctx;
    size_t n = strlen(out);

    snprintf(out + n, 8192 - n, "%s %s|", name, val);
}

static void test_stats(void)
{
    static char out[8192];
    struct settings_runtime rt = {.maxbytes = 100u << 20, .oldest = 7, .detail_enabled = true};

    parses("-p 39133 -l 127.0.0.1");
    logger_set_verbosity(settings->verbose);
    out[0] = '\0';
    settings_emit_stats(NULL, collect, out);
    ok(strcmp(out, expected_default) == 0, "default stats settings match the reference");
    out[0] = '\0';
    settings_emit_stats(&rt, collect, out);
    ok(strstr(out, "|maxbytes 104857600|") == NULL &&
           strncmp(out, "maxbytes 104857600|", 19) == 0 && strstr(out, "|oldest 7|") != NULL &&
           strstr(out, "|detail_enabled yes|") != NULL,
       "runtime values (cache_memlimit, flush horizon, stats detail) are shown");
    parses("-p 39131 -l notls:127.0.0.1:39132,127.0.0.1:39131 -Z -o ssl_chain_cert=/c,"
           "ssl_key=/k,ssl_verify_mode=2,ssl_min_version=1 -D / -M -a 644 -f 1.5");
    out[0] = '\0';
    settings_emit_stats(NULL, collect, out);
    ok(strstr(out, "|inter notls:127.0.0.1:39132,127.0.0.1:39131|") != NULL &&
           strstr(out, "|num_threads_per_udp 1|") != NULL && strstr(out, "|ssl_enabled yes|") &&
           strstr(out, "|ssl_chain_cert /c|ssl_key /k|ssl_verify_mode 3|") != NULL,
       "TLS listing: inter, per-udp threads, verify mode shown as OpenSSL flags");
    ok(strstr(out, "|ssl_min_version tlsv1.1|") && strstr(out, "|stat_key_prefix /|") &&
           strstr(out, "|detail_enabled yes|") && strstr(out, "|evictions off|") &&
           strstr(out, "|umask 644|") && strstr(out, "|growth_factor 1.50|"),
       "formats: version name, delimiter, evictions, octal umask, %%.2f factor");
}

int main(void)
{
    test_defaults();
    test_options();
    test_subopts();
    test_tls_subopts();
    test_listen();
    test_refusals();
    test_refusals_ours();
    test_stats();
    settings_teardown();
    printf("1..%d\n", test_num);
    return failures == 0 ? 0 : 1;
}
