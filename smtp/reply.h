/*
 * reply — parsing SMTP replies (RFC 5321 4.2, RFC 3463 enhanced codes).
 *
 * Fed one line at a time, it builds a reply with hard caps on line length
 * and line count and with non-printable bytes replaced, so nothing a
 * server sends can make it grow without bound or reach a status file raw.
 */
#ifndef OUTBOXFS_REPLY_H
#define OUTBOXFS_REPLY_H

#include <stddef.h>

#include "util/buf.h"

#define REPLY_MAX_LINE   1000    /* bytes kept per line (RFC 5321: 512) */
#define REPLY_MAX_LINES  100     /* lines per reply before it is an error */

struct smtp_reply {
	int code;                 /* 200..599 */
	char enh[16];             /* "2.0.0", or "" when the server gave none */
	size_t nlines;
	/* Sanitized lines as received, "250-PIPELINING", NUL-separated
	 * (at most REPLY_MAX_LINES of REPLY_MAX_LINE bytes and their NULs).
	 * Owned by the struct. */
	struct buf text;
};

enum reply_status {
	REPLY_MORE = 0,          /* a continuation line: feed the next */
	REPLY_DONE = 1,          /* the last line: the reply is complete */
	REPLY_BAD = -1,          /* malformed: protocol error */
	REPLY_TOOMANY = -2,      /* more than REPLY_MAX_LINES lines */
	REPLY_NOMEM = -3,
};

/* reply_init before the first use (it sets the text's cap); reply_free
 * at the end. */
void reply_init(struct smtp_reply *r);
void reply_reset(struct smtp_reply *r);    /* empties it for reuse */
void reply_free(struct smtp_reply *r);

/*
 * Adds one line (without CR LF) of LEN bytes. A line must be 3 digits,
 * then '-', ' ' or end of line; every line of a reply has the same code.
 * Lines over REPLY_MAX_LINE are truncated (not an error); bytes outside
 * 0x20..0x7e become '?'.
 */
enum reply_status reply_feed(struct smtp_reply *r, const char *line,
    size_t len);

/* The Nth stored line (0-based), or NULL. Borrowed from R. */
const char *reply_line(const struct smtp_reply *r, size_t n);

/* The text of the last line after "NNN " and the enhanced code, for
 * messages: "Ok: queued as 4Q2X". Borrowed from R. */
const char *reply_last_text(const struct smtp_reply *r);

#endif
