/* Server-side measurements for mcbench, read from /proc.
 *
 * Owns: parsing /proc/PID/stat (CPU) and /proc/PID/status (RSS).
 * Depends on nothing but libc.
 *
 * /proc/PID/stat sums utime and stime over every thread of the process,
 * including threads that already exited, which is what "server CPU per op"
 * needs. Its resolution is one clock tick (10 ms at USER_HZ=100), so runs
 * should be seconds long. Rejected: summing /proc/PID/task/N/schedstat
 * (nanosecond resolution, but misses threads that exited and depends on
 * CONFIG_SCHEDSTATS). */
#include "mcb_proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

int mcb_proc_cpu_us(long pid, uint64_t *us)
{
    char path[64];
    char buf[1024];
    const char *p;
    unsigned long long utime;
    unsigned long long stime;
    long hz = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (read_file(path, buf, sizeof(buf)) != 0 || hz <= 0) {
        return -1;
    }
    /* The command name may contain spaces and parentheses: skip to the
     * last ')', after which fields 3.. are plain numbers and letters. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2) {
        return -1;
    }
    *us = (uint64_t)(utime + stime) * 1000000u / (uint64_t)hz;
    return 0;
}

int mcb_proc_rss_kb(long pid, uint64_t *kb)
{
    char path[64];
    char buf[4096];
    const char *p;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if (read_file(path, buf, sizeof(buf)) != 0) {
        return -1;
    }
    p = strstr(buf, "\nVmRSS:");
    if (p == NULL || sscanf(p + 7, "%" SCNu64, kb) != 1) {
        return -1;
    }
    return 0;
}
