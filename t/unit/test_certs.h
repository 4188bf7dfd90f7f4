/*
 * test_certs.h - certificates for the TLS unit tests: a fresh temporary
 * work dir named after the test, and t/gen-certs.sh run into work/certs
 * (or MC_CERT_DIR when set, so a run can reuse a set). Header-only: each
 * test is one program.
 */
#ifndef TEST_CERTS_H
#define TEST_CERTS_H

#include <stdio.h>
#include <stdlib.h>

/* 0 with work_dir and cert_dir filled, -1 on failure. */
static int test_certs_make(const char *test_name, char *work_dir, size_t work_cap, char *cert_dir,
                           size_t cert_cap)
{
    const char *env = getenv("MC_CERT_DIR");
    const char *srcdir = getenv("srcdir");
    char cmd[8192];
    char tmpl[128];

    snprintf(tmpl, sizeof(tmpl), "/tmp/%s.XXXXXX", test_name);
    if (mkdtemp(tmpl) == NULL) {
        return -1;
    }
    snprintf(work_dir, work_cap, "%s", tmpl);
    if (env != NULL && env[0] != '\0') {
        snprintf(cert_dir, cert_cap, "%s", env);
    } else {
        snprintf(cert_dir, cert_cap, "%s/certs", work_dir);
    }
    snprintf(cmd, sizeof(cmd), "sh '%s/t/gen-certs.sh' '%s' >/dev/null 2>&1",
             srcdir != NULL ? srcdir : ".", cert_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif /* TEST_CERTS_H */
