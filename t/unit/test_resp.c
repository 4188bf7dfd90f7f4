/*
 * test_resp.c - unit tests for the response queue (resp.c): coalescing of
 * text, borrowed references, partial consumption and mark/rewind.
 * Prints TAP; run through prove.
 */
#include "resp.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

/* Flatten the pending iovecs into out (for comparisons). */
static size_t flatten(const struct resp_queue *q, char *out, size_t cap)
{
    int cnt;
    const struct iovec *iov = resp_iov(q, &cnt);
    size_t n = 0;

    for (int i = 0; i < cnt; i++) {
        if (n + iov[i].iov_len > cap) {
            break;
        }
        memcpy(out + n, iov[i].iov_base, iov[i].iov_len);
        n += iov[i].iov_len;
    }
    return n;
}

static void test_coalesce(void)
{
    struct resp_queue q;
    char buf[256];
    int cnt;

    resp_init(&q);
    ok(resp_is_empty(&q), "new queue is empty");
    ok(resp_add_str(&q, "STORED\r\n") && resp_add_str(&q, "END\r\n"), "two texts added");
    resp_iov(&q, &cnt);
    ok(cnt == 1, "adjacent texts coalesce into one iovec");
    ok(resp_bytes(&q) == 13, "byte count covers both");
    ok(flatten(&q, buf, sizeof(buf)) == 13 && memcmp(buf, "STORED\r\nEND\r\n", 13) == 0,
       "bytes in order");
    resp_deinit(&q);
}

static void test_refs_and_consume(void)
{
    static const char value[] = "hello world\r\n";
    struct resp_queue q;
    char buf[256];
    int cnt;

    resp_init(&q);
    ok(resp_add_str(&q, "VALUE k 0 11\r\n"), "header");
    ok(resp_add_ref(&q, value, sizeof(value) - 1), "borrowed value");
    ok(resp_add_str(&q, "END\r\n"), "trailer");
    resp_iov(&q, &cnt);
    ok(cnt == 3, "text, reference, text = three iovecs");
    resp_consume(&q, 5);
    ok(flatten(&q, buf, sizeof(buf)) == resp_bytes(&q) && memcmp(buf, " k 0 11", 7) == 0,
       "partial consume advances inside the first iovec");
    resp_consume(&q, resp_bytes(&q));
    ok(resp_is_empty(&q), "drained after consuming everything");
    ok(resp_add_str(&q, "X") && resp_bytes(&q) == 1, "queue usable after drain");
    resp_deinit(&q);
}

static void test_mark_rewind(void)
{
    struct resp_queue q;
    struct resp_mark m;
    char buf[64];

    resp_init(&q);
    ok(resp_add_str(&q, "HD\r\n"), "first reply");
    resp_mark(&q, &m);
    ok(resp_add_str(&q, "EN\r\n") && resp_bytes(&q) == 8, "second reply queued");
    resp_rewind(&q, &m);
    ok(resp_bytes(&q) == 4 && flatten(&q, buf, sizeof(buf)) == 4 && memcmp(buf, "HD\r\n", 4) == 0,
       "rewind drops text appended after the mark, even when it was coalesced");
    ok(resp_add_str(&q, "MN\r\n") && flatten(&q, buf, sizeof(buf)) == 8 &&
           memcmp(buf, "HD\r\nMN\r\n", 8) == 0,
       "appending after rewind continues cleanly");
    resp_deinit(&q);
}

static void test_large_text(void)
{
    static char big[40000];
    struct resp_queue q;
    char *p;

    memset(big, 'x', sizeof(big));
    resp_init(&q);
    ok(resp_add(&q, big, sizeof(big)), "text larger than a block");
    p = resp_reserve(&q, 100);
    ok(p != NULL, "reserve after a large block");
    memcpy(p, "abc", 3);
    resp_commit(&q, 3);
    ok(resp_bytes(&q) == sizeof(big) + 3, "reserve/commit counts bytes");
    resp_consume(&q, resp_bytes(&q));
    resp_release_idle(&q);
    ok(q.blocks == NULL && q.iov == NULL, "idle release frees buffers");
    resp_deinit(&q);
}

int main(void)
{
    test_coalesce();
    test_refs_and_consume();
    test_mark_rewind();
    test_large_text();
    return tap_done();
}
