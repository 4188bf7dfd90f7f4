#ifndef MCB_HIST_H
#define MCB_HIST_H

#include <stdint.h>

/* Log-linear latency histogram: values below 2^MCB_HIST_SUB_BITS get one
 * bucket each; above that every power of two is split into 2^SUB_BITS equal
 * buckets, so any recorded value is known to within 1/32 of itself. */
#define MCB_HIST_SUB_BITS 5
#define MCB_HIST_SUB      (1u << MCB_HIST_SUB_BITS)
#define MCB_HIST_BUCKETS  ((64 - MCB_HIST_SUB_BITS + 1) * MCB_HIST_SUB)

struct mcb_hist {
    uint64_t count;
    uint64_t max;
    uint64_t bucket[MCB_HIST_BUCKETS];
};

void mcb_hist_init(struct mcb_hist *h);

/* Adds src into dst; both must have been initialised. */
void mcb_hist_merge(struct mcb_hist *dst, const struct mcb_hist *src);

/* Value at quantile q (0..1): midpoint of the bucket holding it, clamped to
 * the largest value recorded. Returns 0 for an empty histogram. */
uint64_t mcb_hist_quantile(const struct mcb_hist *h, double q);

/* Lower bound of the values that land in bucket idx. */
uint64_t mcb_hist_lower(unsigned idx);

/* Bucket of v. Inline because it runs once per completed request. */
static inline unsigned mcb_hist_index(uint64_t v)
{
    unsigned e;
    unsigned sub;

    if (v < MCB_HIST_SUB) {
        return (unsigned)v;
    }
    e = 63u - (unsigned)__builtin_clzll(v);
    sub = (unsigned)(v >> (e - MCB_HIST_SUB_BITS)) & (MCB_HIST_SUB - 1);
    return ((e - MCB_HIST_SUB_BITS + 1) << MCB_HIST_SUB_BITS) + sub;
}

static inline void mcb_hist_add(struct mcb_hist *h, uint64_t v)
{
    h->bucket[mcb_hist_index(v)]++;
    h->count++;
    if (v > h->max) {
        h->max = v;
    }
}

#endif
