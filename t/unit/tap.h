/*
 * tap.h - the Test Anything Protocol output the unit tests share: ok()
 * prints one numbered result (flushed, so a crash still shows how far it
 * got) and counts failures; main() prints the plan "1..test_num" and
 * exits non-zero when failures is.
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

#endif
