/*
 * status — the text of NAME.status and of .queue.
 *
 * Header keys, in this order, each on one line "key: value", present only
 * when they apply: state, account, message-id, from, user, recipients, size,
 * queued, attempts, next-attempt, server, progress, rcpt (one per
 * recipient: "ADDR CODE TEXT", or "ADDR pending"), reply, error, warning.
 * Then one blank line and the transcript of the attempts. Times are UTC,
 * ISO 8601 with Z. Control bytes in values are shown as '?'.
 *
 * Pure formatting: no lock, no I/O. Error convention: NULL or -1 means
 * out of memory.
 */
#ifndef OUTBOXFS_STATUS_H
#define OUTBOXFS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "fs/spool.h"
#include "util/buf.h"

/* What the header shows besides the record. */
struct status_view {
	const struct spool_rec *rec;
	uint64_t file_size;       /* bytes the user wrote */
	uint64_t progress_sent;   /* while sending: bytes sent ... */
	uint64_t progress_total;  /* ... of this many; 0: no progress line */
	const char *hold_error;   /* shown as error: instead of rec's (an
	                           * outcome not recorded yet), or NULL */
	const char *user;         /* the local user who wrote it, shown as
	                           * "user: NAME uid=UID"; NULL: no line */
	unsigned long uid;
	int rewrite_refused;      /* an open for writing was refused: the
	                           * error: line starts with "already
	                           * submitted at QUEUED; write a new file" */
};

/* "2026-11-28T16:00:00Z" into BUF (at least 32 bytes). */
void status_time(int64_t t, char *buf, size_t cap);

/* The header block including its final blank line. *out owned by caller
 * (free); *len its length. */
int status_render(const struct status_view *v, char **out, size_t *len);

/*
 * Appends the .queue line of one message to OUT (-1, with OUT failed, when
 * it did not fit): "NAME STATE ATTEMPTS NEXT REPLY\n", NAME
 * with its directory ("work/x"), with space, backslash and control bytes
 * written as \ooo octal (as /proc/mounts does); NEXT and REPLY "-" when
 * there is none. STATE_WORD replaces the state's name when not NULL.
 */
int status_queue_line(struct buf *out, const struct spool_rec *r,
    const char *state_word);

/* The length of that line, without writing it (never fails). */
size_t status_queue_line_len(const struct spool_rec *r,
    const char *state_word);

/* The "--- attempt N TIME HOST:PORT[ NOTE]" line, with '\n', into BUF. */
void status_attempt_line(char *buf, size_t cap, unsigned n, int64_t t,
    const char *hostport, const char *note);

#endif
