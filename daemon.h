/*
 * daemon.h - the process environment: signals, resource limits, privileges,
 * daemonizing and the pid file, in memcached's order and with its messages.
 *
 * main() calls daemon_before_start() once after settings_parse() and before
 * any socket or thread exists, daemon_after_listen() once the listeners are
 * bound, and daemon_teardown() at exit. On failure the functions put the
 * reference's one-line message in err and daemon_exit_status() tells main
 * which exit code the reference uses for it.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * In this order: ignore SIGPIPE; -r raise the core file limit; set
 * RLIMIT_NOFILE to -c (soft and hard, exactly like memcached); refuse to run
 * as root without -u, else switch to -u's user and groups; -d fork into the
 * background (parent exits 0, child starts a session, chdir("/") unless -r,
 * stdio to /dev/null unless -v); -k mlockall (a failure only warns).
 */
bool daemon_before_start(char *err, size_t errlen);

/* Write -P's pid file (after daemonizing, so it holds the daemon's pid). */
bool daemon_after_listen(char *err, size_t errlen);

/* Remove the pid file if this process wrote it. */
void daemon_teardown(void);

/*
 * Exit status for the last failure: EX_USAGE (root without -u), EX_NOUSER
 * (unknown -u user), EX_OSERR (limits, setuid), EXIT_FAILURE (fork).
 */
int daemon_exit_status(void);

#endif /* DAEMON_H */
