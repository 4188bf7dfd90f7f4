/*
 * logger.h - verbosity-gated diagnostics to stderr.
 *
 * memcached prints its -v/-vv messages to stderr; we do the same so scripts
 * that scrape them keep working. The verbosity can change at runtime through
 * the `verbosity` command, so it is an atomic owned here, not a setting.
 */
#ifndef LOGGER_H
#define LOGGER_H

/* Current verbosity (0 quiet, 1 -v, 2 -vv, 3 -vvv). */
int logger_verbosity(void);
void logger_set_verbosity(int level);

/* Print one line to stderr when the verbosity is at least level. */
void logger_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_WARN(...)    logger_log(1, __VA_ARGS__)
#define LOG_INFO(...)    logger_log(2, __VA_ARGS__)
#define LOG_VERBOSE(...) logger_log(3, __VA_ARGS__)

#endif /* LOGGER_H */
