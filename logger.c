/*
 * logger.c - stderr diagnostics gated by an atomic verbosity level.
 *
 * Owns only the verbosity. Depends on nothing in the project. memcached's
 * background logger thread and `watch` streams are not reproduced: messages
 * are rare (errors, -vv traces), so a direct unbuffered write keeps ordering
 * simple and costs nothing on the request path when verbosity is 0.
 */
#include "logger.h"

#include <stdarg.h>
#include <stdio.h>

static int verbosity;

int logger_verbosity(void)
{
    return __atomic_load_n(&verbosity, __ATOMIC_RELAXED);
}

void logger_set_verbosity(int level)
{
    __atomic_store_n(&verbosity, level, __ATOMIC_RELAXED);
}

void logger_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (logger_verbosity() < level) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n] = '\n';
    fwrite(line, 1, (size_t)n + 1, stderr);
}
