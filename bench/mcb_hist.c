/* Latency histogram for mcbench.
 *
 * Owns: bucket layout, merging per-thread histograms and quantile lookup.
 * Depends on nothing but libc; the hot-path insert is inline in mcb_hist.h.
 *
 * Rejected: storing every sample and sorting at the end (memory grows with
 * the run, sorting millions of samples stalls the report) and HdrHistogram
 * proper (an external library for what is thirty lines here). A fixed
 * 1,920-bucket array costs 15 KiB per thread and one increment per op. */
#include "mcb_hist.h"

#include <math.h>
#include <string.h>

void mcb_hist_init(struct mcb_hist *h)
{
    memset(h, 0, sizeof(*h));
}

void mcb_hist_merge(struct mcb_hist *dst, const struct mcb_hist *src)
{
    for (unsigned i = 0; i < MCB_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
    dst->count += src->count;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t mcb_hist_lower(unsigned idx)
{
    unsigned group = idx >> MCB_HIST_SUB_BITS;
    unsigned sub = idx & (MCB_HIST_SUB - 1);

    if (group == 0) {
        return idx;
    }
    return (uint64_t)(MCB_HIST_SUB + sub) << (group - 1);
}

static uint64_t bucket_width(unsigned idx)
{
    unsigned group = idx >> MCB_HIST_SUB_BITS;

    return group == 0 ? 1 : (uint64_t)1 << (group - 1);
}

uint64_t mcb_hist_quantile(const struct mcb_hist *h, double q)
{
    uint64_t rank;
    uint64_t seen = 0;

    if (h->count == 0) {
        return 0;
    }
    rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) {
        rank = 1;
    }
    for (unsigned i = 0; i < MCB_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t mid = mcb_hist_lower(i) + bucket_width(i) / 2;
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}
