/*
 * process_meta.h - executes the meta commands (mg ms md ma mn me) for
 * process.c: parse with proto_meta, run against storage, queue the reply.
 * Internal to process*.c.
 */
#ifndef PROCESS_META_H
#define PROCESS_META_H

#include "process.h"

#include <stddef.h>

/* session.value_cmd while an ms value is being read (outside enum proto_cmd). */
#define PROCESS_META_VALUE_CMD 1000

/*
 * Parse and execute the meta request line at the start of buf[0..len)
 * (process_input found a complete meta line there). Same contract as
 * process_input: *consumed is the line length; PROCESS_READ_VALUE for an ms
 * whose value must be read next, PROCESS_SWALLOW when an ms error leaves
 * its value block to discard.
 */
enum process_status process_meta(struct session *s, char *buf, size_t len, size_t *consumed);

/* The ms value has been read (s->value_cmd == PROCESS_META_VALUE_CMD): store and reply. */
enum process_status process_meta_value_done(struct session *s);

#endif /* PROCESS_META_H */
