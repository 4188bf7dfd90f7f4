/*
 * daemon.c - process environment set up once at startup: SIGPIPE, resource
 * limits, privilege drop, daemonizing, mlockall and the pid file.
 *
 * Owns nothing but the pid file name it wrote. Reads the read-only settings
 * and depends on no other module; it never exits the process (main picks
 * the exit code from daemon_exit_status()).
 *
 * The order and the messages are memcached's, because init scripts and
 * operators rely on them: limits first (raising RLIMIT_NOFILE needs root),
 * then the privilege drop, then the fork, so the daemon never runs as root
 * and a failure is reported by the process the shell is waiting for.
 * The pid file is written after the listeners are bound, so its existence
 * means the server accepts connections.
 *
 * Rejected: daemon(3) - it cannot keep the working directory for core files
 * while still closing stdio conditionally on -v the way memcached does; and
 * keeping the RLIMIT_NOFILE soft limit untouched when it is already above
 * -c - memcached sets soft and hard to exactly -c, and its connection
 * accounting (and ours, in listener.c) is designed around that ceiling.
 */
#include "daemon.h"

#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

static int exit_status = EX_OSERR;
static char *written_pid_file; /* set once we wrote it; removed at teardown */
static pid_t written_by;

int daemon_exit_status(void)
{
    return exit_status;
}

static bool fail(int status, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    exit_status = status;
    return false;
}

static bool ignore_signal(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) == 0;
}

/* -r: unlimited core files, else the hard limit; fail only if still 0. */
static bool enable_core_dumps(char *err, size_t errlen)
{
    struct rlimit old;
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

    if (getrlimit(RLIMIT_CORE, &old) == 0 && setrlimit(RLIMIT_CORE, &rl) != 0) {
        rl.rlim_cur = old.rlim_max;
        rl.rlim_max = old.rlim_max;
        (void)setrlimit(RLIMIT_CORE, &rl);
    }
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0) {
        return fail(EX_OSERR, err, errlen, "failed to ensure corefile creation");
    }
    return true;
}

/* Soft and hard RLIMIT_NOFILE become exactly -c, as in memcached. */
static bool set_fd_limit(char *err, size_t errlen)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return fail(EX_OSERR, err, errlen, "failed to getrlimit number of files");
    }
    rl.rlim_cur = (rlim_t)settings->maxconns;
    rl.rlim_max = (rlim_t)settings->maxconns;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return fail(EX_OSERR, err, errlen,
                    "failed to set rlimit for open files. Try starting as root or requesting "
                    "smaller maxconns value.");
    }
    return true;
}

/* Root must name a user with -u; anyone else keeps their identity. */
static bool drop_privileges(char *err, size_t errlen)
{
    const struct passwd *pw;
    char msg[512];

    if (getuid() != 0 && geteuid() != 0) {
        return true;
    }
    if (settings->username == NULL || settings->username[0] == '\0') {
        return fail(EX_USAGE, err, errlen, "can't run as root without the -u switch");
    }
    pw = getpwnam(settings->username);
    if (pw == NULL) {
        snprintf(msg, sizeof(msg), "can't find the user %s to switch to", settings->username);
        return fail(EX_NOUSER, err, errlen, msg);
    }
    if (setgroups(0, NULL) < 0) {
        return fail(EX_OSERR, err, errlen, "failed to drop supplementary groups");
    }
    if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(msg, sizeof(msg), "failed to assume identity of user %s", settings->username);
        return fail(EX_OSERR, err, errlen, msg);
    }
    return true;
}

/* Point stdin, stdout and stderr at /dev/null. */
static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);

    if (fd < 0) {
        return;
    }
    (void)dup2(fd, STDIN_FILENO);
    (void)dup2(fd, STDOUT_FILENO);
    (void)dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) {
        close(fd);
    }
}

/*
 * The parent exits 0 at once; the child leads a new session. With -r the
 * working directory stays (cores land there); with -v stderr stays open.
 */
static bool daemonize(char *err, size_t errlen)
{
    pid_t pid;

    (void)ignore_signal(SIGHUP); /* until main installs its reload handler */
    pid = fork();
    if (pid < 0) {
        return fail(EXIT_FAILURE, err, errlen, "failed to daemon() in order to daemonize");
    }
    if (pid > 0) {
        _exit(EXIT_SUCCESS);
    }
    if (setsid() < 0 || (!settings->coredumps && chdir("/") != 0)) {
        return fail(EXIT_FAILURE, err, errlen, "failed to daemon() in order to daemonize");
    }
    if (settings->verbose == 0) {
        detach_stdio();
    }
    return true;
}

static void lock_memory(void)
{
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        fprintf(stderr, "warning: -k invalid, mlockall() failed: %s\n", strerror(errno));
    }
}

bool daemon_before_start(char *err, size_t errlen)
{
    if (!ignore_signal(SIGPIPE)) {
        return fail(EX_OSERR, err, errlen, "failed to ignore SIGPIPE; sigaction");
    }
    if (settings->coredumps && !enable_core_dumps(err, errlen)) {
        return false;
    }
    if (!set_fd_limit(err, errlen) || !drop_privileges(err, errlen)) {
        return false;
    }
    if (settings->daemonize && !daemonize(err, errlen)) {
        return false;
    }
    if (settings->lock_memory) {
        lock_memory();
    }
    return true;
}

/* Warn, like memcached, when the old pid file names a live process. */
static void warn_running_pid(const char *path)
{
    FILE *fp = fopen(path, "r");
    long pid = 0;

    if (fp == NULL) {
        return;
    }
    if (fscanf(fp, "%ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) == 0) {
        fprintf(stderr, "WARNING: The pid file contained the following (running) pid: %ld\n", pid);
    }
    fclose(fp);
}

/*
 * Written under a temporary name and renamed, so a reader never sees an
 * empty file. A failure is reported but does not stop the server (as in
 * memcached): the pid file is a convenience for scripts.
 */
bool daemon_after_listen(char *err, size_t errlen)
{
    char tmp[4096];
    FILE *fp;

    (void)err;
    (void)errlen;
    if (settings->pid_file == NULL) {
        return true;
    }
    warn_running_pid(settings->pid_file);
    snprintf(tmp, sizeof(tmp), "%s.tmp", settings->pid_file);
    fp = fopen(tmp, "w");
    if (fp == NULL) {
        fprintf(stderr, "Could not open the pid file %s for writing: %s\n", tmp, strerror(errno));
        return true;
    }
    fprintf(fp, "%ld\n", (long)getpid());
    if (fclose(fp) != 0 || rename(tmp, settings->pid_file) != 0) {
        fprintf(stderr, "Could not write the pid file %s: %s\n", settings->pid_file,
                strerror(errno));
        (void)unlink(tmp);
        return true;
    }
    free(written_pid_file);
    written_pid_file = strdup(settings->pid_file); /* teardown may run after settings' */
    written_by = getpid();
    return true;
}

void daemon_teardown(void)
{
    if (written_pid_file == NULL || written_by != getpid()) {
        return;
    }
    if (unlink(written_pid_file) != 0 && errno != ENOENT) {
        fprintf(stderr, "Could not remove the pid file %s: %s\n", written_pid_file,
                strerror(errno));
    }
    free(written_pid_file);
    written_pid_file = NULL;
}
