/*
 * clock.h - the server's coarse clock and memcached's expiry-time rules.
 *
 * Item times are "relative" seconds since a process epoch, ticked once a
 * second by a timer on the main thread, so the request path reads one word
 * instead of calling time(2). The epoch sits two seconds before startup so
 * that relative time 1 is always in the past: it is the value used for
 * "already expired".
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/* Relative seconds since the process epoch (>= 2). */
uint32_t clock_now(void);

/* Unix time of the process epoch. */
time_t clock_epoch(void);

/* Set the epoch from the wall clock (once, at startup) and start at now. */
void clock_setup(void);

/* Re-read the wall/monotonic clock; called once a second by the main loop. */
void clock_tick(void);

/*
 * memcached's exptime rules: 0 = never (returns 0); negative = already
 * expired (returns 1); up to 30 days = relative to now; larger = absolute
 * Unix time (in the past -> 1).
 */
uint32_t clock_exptime(int64_t exptime);

/* Whether relative expiry time exptime has passed (0 never expires). */
static inline int clock_is_expired(uint32_t exptime, uint32_t now)
{
    return exptime != 0 && exptime <= now;
}

#endif /* CLOCK_H */
