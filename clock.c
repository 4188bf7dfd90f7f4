/*
 * clock.c - coarse relative clock for item times.
 *
 * Owns the process epoch and the current relative second. Depends on nothing
 * in the project. The tick uses CLOCK_MONOTONIC so a wall-clock step does not
 * expire or resurrect items; absolute exptimes are converted against the
 * wall-clock epoch once, when they arrive (as memcached does).
 */
#include "clock.h"

#define REALTIME_MAXDELTA (60 * 60 * 24 * 30)
#define EPOCH_OFFSET      2

static time_t epoch;
static struct timespec mono_start;
static uint32_t now_rel = EPOCH_OFFSET;

uint32_t clock_now(void)
{
    return __atomic_load_n(&now_rel, __ATOMIC_RELAXED);
}

time_t clock_epoch(void)
{
    return epoch;
}

void clock_setup(void)
{
    epoch = time(NULL) - EPOCH_OFFSET;
    clock_gettime(CLOCK_MONOTONIC, &mono_start);
    /*
     * Half a second back: the tick timer, started just after this, then
     * fires half-way between two second boundaries of the relative clock,
     * so a tick delivered up to half a second early or late still reads
     * the right second and the clock never moves by two in one tick.
     */
    if (mono_start.tv_nsec >= 500000000L) {
        mono_start.tv_nsec -= 500000000L;
    } else {
        mono_start.tv_sec--;
        mono_start.tv_nsec += 500000000L;
    }
    __atomic_store_n(&now_rel, EPOCH_OFFSET, __ATOMIC_RELAXED);
}

void clock_tick(void)
{
    struct timespec ts;
    time_t secs;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Whole seconds since the start, nanoseconds included (see clock_setup). */
    secs = ts.tv_sec - mono_start.tv_sec;
    if (ts.tv_nsec < mono_start.tv_nsec) {
        secs--;
    }
    __atomic_store_n(&now_rel, (uint32_t)secs + EPOCH_OFFSET, __ATOMIC_RELAXED);
}

uint32_t clock_exptime(int64_t exptime)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        return 1;
    }
    if (exptime > REALTIME_MAXDELTA) {
        if (exptime <= (int64_t)epoch) {
            return 1;
        }
        return (uint32_t)(exptime - epoch);
    }
    return (uint32_t)(exptime + clock_now());
}
