/*
 * memcached.c - startup order, signal handling and teardown. Nothing else.
 *
 * Wires the modules together in dependency order (leaves first) and tears
 * them down in reverse, so leak checkers see a clean exit. Only this file
 * exits the process; modules report failures with a message and this file
 * picks the sysexits code.
 */
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "items.h"
#include "listener.h"
#include "logger.h"
#include "process.h"
#include "settings.h"
#include "thread.h"
#include "tls.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

static struct event_base *main_base;

static void emit_conns(void (*emit)(void *ctx, const char *name, const char *val), void *ctx)
{
    listener_emit_stats(emit, ctx);
    thread_emit_conns(emit, ctx);
}

/* `shutdown` arrives on a worker; a signal is the thread-safe way to stop main. */
static void request_shutdown(void)
{
    kill(getpid(), SIGTERM);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    LOG_WARN("Signal handled: %s.", strsignal((int)sig));
    event_base_loopbreak(main_base);
}

static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
    char err[512];

    (void)sig;
    (void)what;
    (void)arg;
    if (!settings->ssl_enabled) {
        return;
    }
    if (tls_refresh_certs(err, sizeof(err))) {
        LOG_WARN("SIGHUP: certificates reloaded");
    } else {
        fprintf(stderr, "SIGHUP: certificate reload failed, keeping the old ones: %s\n", err);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    clock_tick();
}

static bool add_event(struct event *ev, const struct timeval *tv)
{
    return ev != NULL && event_add(ev, tv) == 0;
}

/* Main-loop events: the clock and the signals. */
static bool setup_main_events(struct event *evs[5])
{
    static const struct timeval one_sec = {1, 0};

    evs[0] = event_new(main_base, -1, EV_PERSIST, on_tick, NULL);
    evs[1] = evsignal_new(main_base, SIGTERM, on_stop_signal, NULL);
    evs[2] = evsignal_new(main_base, SIGINT, on_stop_signal, NULL);
    evs[3] = evsignal_new(main_base, SIGHUP, on_reload_signal, NULL);
    evs[4] = NULL;
    return add_event(evs[0], &one_sec) && add_event(evs[1], NULL) && add_event(evs[2], NULL) &&
           add_event(evs[3], NULL);
}

static int fail(int code, const char *what, const char *err)
{
    fprintf(stderr, "%s: %s\n", what, err);
    return code;
}

static int run(void)
{
    char err[1024];
    struct event *evs[5] = {0};
    struct process_hooks hooks = {.emit_conns = emit_conns,
                                  .libevent_version = event_get_version()};

    if (!storage_setup(settings, err, sizeof(err))) {
        return fail(EX_CONFIG, "storage", err);
    }
    main_base = event_base_new();
    if (main_base == NULL) {
        return fail(EX_OSERR, "libevent", "failed to create the main event loop");
    }
    process_setup(&hooks);
    conn_set_shutdown_handler(request_shutdown);
    if (!listener_setup(main_base, err, sizeof(err))) {
        return fail(EX_OSERR, "listen", err);
    }
    if (!daemon_after_listen(err, sizeof(err))) {
        return fail(EX_OSERR, "startup", err);
    }
    if (!thread_setup(settings->num_threads, err, sizeof(err))) {
        return fail(EX_OSERR, "threads", err);
    }
    listener_defer_to_workers();
    if (!setup_main_events(evs)) {
        return fail(EX_OSERR, "libevent", "failed to register signal and timer events");
    }
    event_base_dispatch(main_base);

    /* Workers first: until they stop, a `stats conns` may still read the listeners. */
    thread_stop_all();
    listener_teardown();
    for (int i = 0; evs[i] != NULL; i++) {
        event_free(evs[i]);
    }
    event_base_free(main_base);
    return EX_OK;
}

int main(int argc, char **argv)
{
    char err[1024];
    int rc;

    switch (settings_parse(argc, argv)) {
    case SETTINGS_EXIT_OK:
        return EX_OK;
    case SETTINGS_EXIT_ERR:
        return EX_USAGE;
    case SETTINGS_OK:
        break;
    }
    logger_set_verbosity(settings->verbose);
    clock_setup();
    /* Before -u drops root, as memcached does: a key readable by root only still loads. */
    if (settings->ssl_enabled && !tls_setup(err, sizeof(err))) {
        tls_teardown();
        return fail(EX_USAGE, "TLS", err);
    }
    if (!daemon_before_start(err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        tls_teardown();
        return EX_OSERR;
    }
    rc = run();
    tls_teardown();
    storage_teardown();
    daemon_teardown();
    settings_teardown();
    return rc;
}
