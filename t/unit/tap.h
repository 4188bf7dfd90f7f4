/*
 * tap.h - the Test Anything Protocol output the unit tests share: ok()
 * prints one numbered result (flushed, so a crash still shows how far it
 * got) and counts failures; main() ends with tap_done(), which prints the
 * plan "1..test_num" and gives a non-zero exit status when a test failed, or
 * with tap_skip_all() when the whole file cannot run here.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>

static int test_num;
static int failures;

static inline void ok(int cond, const char *what)
{
    test_num++;
    if (!cond) {
        failures++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", test_num, what);
    fflush(stdout);
}

static inline int tap_done(void)
{
    printf("1..%d\n", test_num);
    return failures == 0 ? 0 : 1;
}

static inline int tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    return 0;
}

#endif
