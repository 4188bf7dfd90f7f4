#ifndef MCB_PROC_H
#define MCB_PROC_H

#include <stdint.h>

/* utime + stime of all threads of pid, in microseconds. 0 or -1. */
int mcb_proc_cpu_us(long pid, uint64_t *us);

/* VmRSS of pid in KiB. 0 or -1. */
int mcb_proc_rss_kb(long pid, uint64_t *kb);

#endif
