/*
 * process_stats.h - internal interface between process.c and
 * process_stats.c (the `stats` command family and `stats detail` prefix
 * counters). Not for use outside process*.c.
 */
#ifndef PROCESS_STATS_H
#define PROCESS_STATS_H

#include "process.h"
#include "proto_text.h"

#include <stdbool.h>
#include <stddef.h>

/* Remember the hooks (emit_conns, ...) and the initial detail setting. */
void process_stats_setup(const struct process_hooks *hooks);

/* The flush_all horizon, memcached's settings.oldest_live (0 = never flushed). */
uint32_t process_flush_oldest(void);

/* Execute a parsed `stats ...` request (r->cmd == PROTO_CMD_STATS). */
enum process_status process_stats(struct session *s, const struct request *r);

/* `stats detail`: per key-prefix counters, recorded only while enabled. */
void process_detail_get(const char *key, size_t nkey, bool hit);
void process_detail_set(const char *key, size_t nkey);
void process_detail_delete(const char *key, size_t nkey);

/*
 * Shared by process*.c: memcached's out_string(). Queue one canned line
 * unless noreply; on allocation failure queue "SERVER_ERROR out of memory"
 * or, if even that fails, ask to close.
 */
enum process_status process_reply(struct session *s, enum proto_reply code, bool noreply);
/* Queue raw bytes (already including "\r\n"), with the same failure handling. */
enum process_status process_reply_raw(struct session *s, const char *text, size_t len);

#endif /* PROCESS_STATS_H */
