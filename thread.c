/*
 * thread.c - worker threads: one libevent loop each, fed new connections
 * through a locked queue plus an eventfd wakeup.
 *
 * Owns the workers, their queues and their per-thread counters. Depends on
 * conn.h (which serves the connections) and stats/tls for per-thread setup.
 * A queue + eventfd per worker is the classic hand-off: the listener never
 * touches a worker's event base, so libevent needs no locking, and the
 * worker drains several new connections per wakeup. Rejected: a pipe per
 * worker carrying the fd (a syscall pair per connection and a 4-byte message
 * format to keep in sync), and handing out connections with event_active
 * across threads (needs libevent's thread locking on every event).
 */
#include "thread.h"

#include "conn.h"
#include "logger.h"
#include "settings.h"
#include "stats.h"
#include "tls.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/*
 * Under ASan or TSan the sanitizer's allocator owns the heap, and glibc's
 * malloc_trim walks arenas it never set up (a SEGV in mtrim under ASan).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TRIM_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TRIM_HEAP 0
#endif
#endif
#ifndef TRIM_HEAP
#define TRIM_HEAP 1
#endif

struct pending_conn {
    struct pending_conn *next;
    struct conn_new_info info;
};

struct worker {
    pthread_t tid;
    struct event_base *base;
    int notify_fd;
    struct event *notify_ev;
    struct event *sweep_ev;
    pthread_mutex_t queue_lock;
    struct pending_conn *queue_head;
    struct pending_conn *queue_tail;
    bool stopping;
    int trimmed_at; /* connection count at the last malloc_trim */
    struct conn_owner owner;
    struct thread_stats stats;
};

static struct worker *workers;
static int nworkers;
static int next_worker;

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int nready;

static struct pending_conn *queue_pop(struct worker *w)
{
    struct pending_conn *p;

    pthread_mutex_lock(&w->queue_lock);
    p = w->queue_head;
    if (p != NULL) {
        w->queue_head = p->next;
        if (w->queue_head == NULL) {
            w->queue_tail = NULL;
        }
    }
    pthread_mutex_unlock(&w->queue_lock);
    return p;
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct pending_conn *p;
    uint64_t count;

    (void)what;
    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        LOG_WARN("worker notify read failed: %s", strerror(errno));
    }
    while ((p = queue_pop(w)) != NULL) {
        conn_create(&w->owner, &p->info);
        free(p);
    }
    if (__atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE)) {
        conn_close_all(&w->owner);
        event_base_loopbreak(w->base);
    }
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    conn_sweep(&w->owner);
    /*
     * TLS handshakes leave freed scratch memory scattered through the heap;
     * give it back once connections have come or gone, so idle connections
     * cost only what they hold. Skipped while the population is steady.
     */
    if (TRIM_HEAP && w->owner.nconns != w->trimmed_at) {
        w->trimmed_at = w->owner.nconns;
        malloc_trim(0);
    }
}

/*
 * Wakeup batching (-o batch_wait_us). A worker asleep in epoll_wait is woken
 * by each request that arrives, and a wakeup costs more than a small request
 * itself: the sleeper pays a context switch and an interrupt, and the client
 * pays inside its send (in this VM, 22 % of a TLS client's CPU under
 * small-p1 went to waking the server). When one poll finds two or more
 * connections ready, requests are arriving faster than they are served one
 * at a time, so the worker sleeps batch_wait_us instead of polling with a
 * wait: arrivals during the nap wake nobody, and the next poll takes them
 * together. A poll that finds fewer than two sends it back to plain waiting,
 * so a lone client waiting on each reply never waits on a nap. The cost is
 * up to batch_wait_us of latency per request while traffic is dense.
 */
static void worker_loop(struct worker *w)
{
    const struct timespec nap = {0, (long)settings->batch_wait_us * 1000};
    bool is_batching = false;

    if (settings->batch_wait_us == 0) {
        event_base_dispatch(w->base);
        return;
    }
    /* The default 50 us of timer slack would stretch every nap by that much. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    for (;;) {
        uint64_t before = w->owner.events;
        int rc;

        if (is_batching) {
            nanosleep(&nap, NULL);
            rc = event_base_loop(w->base, EVLOOP_NONBLOCK);
        } else {
            rc = event_base_loop(w->base, EVLOOP_ONCE);
        }
        if (rc != 0 || event_base_got_break(w->base)) {
            return; /* notify_cb broke the loop for shutdown */
        }
        is_batching = w->owner.events - before >= 2;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    if (settings->ssl_enabled && !tls_worker_setup()) {
        LOG_WARN("failed to set up the TLS write buffer for a worker");
    }
    pthread_mutex_lock(&ready_lock);
    nready++;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);

    worker_loop(w);
    conn_thread_teardown();

    if (settings->ssl_enabled) {
        tls_worker_teardown();
    }
    return NULL;
}

static bool worker_init(struct worker *w, char *err, size_t errlen)
{
    struct timeval one_sec = {1, 0};

    w->base = event_base_new();
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->base == NULL || w->notify_fd < 0) {
        snprintf(err, errlen, "failed to create a worker event loop: %s", strerror(errno));
        return false;
    }
    pthread_mutex_init(&w->queue_lock, NULL);
    w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, notify_cb, w);
    w->sweep_ev = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
    if (w->notify_ev == NULL || w->sweep_ev == NULL || event_add(w->notify_ev, NULL) != 0 ||
        event_add(w->sweep_ev, &one_sec) != 0) {
        snprintf(err, errlen, "failed to register worker events");
        return false;
    }
    conn_owner_init(&w->owner, w->base, &w->stats);
    stats_thread_register(&w->stats);
    return true;
}

bool thread_setup(int n, char *err, size_t errlen)
{
    workers = calloc((size_t)n, sizeof(*workers));
    if (workers == NULL) {
        snprintf(err, errlen, "out of memory creating %d workers", n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!worker_init(&workers[i], err, errlen)) {
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "can't create worker thread: %s", strerror(rc));
            return false;
        }
        nworkers++;
    }
    pthread_mutex_lock(&ready_lock);
    while (nready < nworkers) {
        pthread_cond_wait(&ready_cond, &ready_lock);
    }
    pthread_mutex_unlock(&ready_lock);
    return true;
}

static void wake(struct worker *w)
{
    uint64_t one = 1;

    if (write(w->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        LOG_WARN("worker notify write failed: %s", strerror(errno));
    }
}

void thread_dispatch(const struct conn_new_info *info)
{
    struct worker *w = &workers[next_worker];
    struct pending_conn *p = malloc(sizeof(*p));
    bool was_empty;

    next_worker = (next_worker + 1) % nworkers;
    if (p == NULL) {
        if (info->tls_session != NULL) {
            tls_session_destroy(info->tls_session);
        }
        close(info->fd);
        return;
    }
    p->next = NULL;
    p->info = *info;
    pthread_mutex_lock(&w->queue_lock);
    was_empty = w->queue_tail == NULL;
    if (!was_empty) {
        w->queue_tail->next = p;
    } else {
        w->queue_head = p;
    }
    w->queue_tail = p;
    pthread_mutex_unlock(&w->queue_lock);
    /*
     * A queue that was not empty has a wakeup on the way: the worker drains
     * the whole queue after reading the eventfd, and a push after its last
     * pop finds the queue empty and wakes it. A burst of accepts costs one
     * write.
     */
    if (was_empty) {
        wake(w);
    }
}

static void worker_free(struct worker *w)
{
    struct pending_conn *p;

    while ((p = queue_pop(w)) != NULL) {
        if (p->info.tls_session != NULL) {
            tls_session_destroy(p->info.tls_session);
        }
        close(p->info.fd);
        free(p);
    }
    event_free(w->notify_ev);
    event_free(w->sweep_ev);
    event_base_free(w->base);
    close(w->notify_fd);
    pthread_mutex_destroy(&w->queue_lock);
}

void thread_stop_all(void)
{
    for (int i = 0; i < nworkers; i++) {
        __atomic_store_n(&workers[i].stopping, true, __ATOMIC_RELEASE);
        wake(&workers[i]);
    }
    for (int i = 0; i < nworkers; i++) {
        pthread_join(workers[i].tid, NULL);
        worker_free(&workers[i]);
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
}

void thread_emit_conns(void (*emit)(void *ctx, const char *name, const char *val), void *ctx)
{
    for (int i = 0; i < nworkers; i++) {
        conn_emit_stats(&workers[i].owner, emit, ctx);
    }
}
