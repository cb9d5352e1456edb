/*
 * msg_int — what the msg_*.c files of smtp/ share with each other and with
 * their unit tests: the address-list walker, RFC 2047 encoded words and
 * header folding (into util/buf buffers). Not for use outside smtp/msg*.c
 * and tests/.
 *
 * Same error convention as msg.h: 0 on success, -1 with a reason in err.
 */
#ifndef OUTBOXFS_MSG_INT_H
#define OUTBOXFS_MSG_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

void msg_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when S[0..N) is well-formed UTF-8 (no overlongs, no surrogates). */
int msg_utf8_valid(const char *s, size_t n);

/* Copies S into OUT (OUTLEN >= 1) for an error message: at most 60
 * bytes, control characters shown as '?', "..." when cut. */
void msg_sanitize(const char *s, size_t n, char *out, size_t outlen);

/*
 * The address-list walker behind msg_parse_addrlist. For each mailbox,
 * FN gets the display name (decoded: quotes and escapes removed, words
 * joined by one space; NAME has NAMELEN bytes, may be 0) and the bare,
 * checked address. A group gives GROUP_START (NAME = its name, ADDR
 * NULL), its mailboxes, then GROUP_END. FN returns 0 or -1 (having
 * filled err). Borrowed pointers, valid during the call only.
 */
enum msg_addr_kind {
	MSG_ADDR_MAILBOX,
	MSG_ADDR_GROUP_START,
	MSG_ADDR_GROUP_END,
};

typedef int msg_addr_fn(void *ctx, enum msg_addr_kind kind,
    const char *name, size_t namelen, const char *addr,
    char *err, size_t errlen);

int msg_addr_walk(const char *value, size_t len, msg_addr_fn *fn,
    void *ctx, char *err, size_t errlen);

/*
 * msg_addr_walk that completes an address without '@' (unquoted "root",
 * or "\"a b\"") with "@" Q->domain before checking it and passing it to
 * FN. Q->last tells FN whether the mailbox it gets was completed; Q->at
 * records where in VALUE each "@domain" belongs (the end of its local
 * part), for a header rewritten in place. Q NULL: msg_addr_walk.
 */
#define MSG_MAX_QUALIFY 1024

struct msg_qualify {
	const char *domain;
	size_t at[MSG_MAX_QUALIFY];
	size_t n;
	int last;
};

int msg_addr_walk_q(const char *value, size_t len, struct msg_qualify *q,
    msg_addr_fn *fn, void *ctx, char *err, size_t errlen);

/*
 * Appends S[0..N) as RFC 2047 "B" encoded words in UTF-8, each at most
 * 75 characters, separated by one space, never splitting a UTF-8
 * character. N == 0 appends nothing.
 */
int msg_rfc2047(struct buf *b, const char *s, size_t n);

/*
 * Appends the logical header line LINE (no line end) folded at
 * whitespace, each physical line ending in CRLF and at most 998 octets
 * (78 where a space allows). Returns -1 without appending when a run
 * without whitespace makes a line over 998 octets unavoidable, or when
 * the buffer cap is reached.
 */
int msg_fold(struct buf *b, const char *line, size_t n);

/* ---- the header block (msg_hdr.c), as msg_prepare, msg_7bit and
 * msg_attach_expand read it ---- */

#define MSG_LINE_MAX   998             /* RFC 5322 2.1.1, without CRLF */

/* One field; offsets are into msg_hblock.buf. */
struct msg_hdr {
	size_t name, name_len;      /* in the header buffer */
	size_t raw, raw_end;        /* the field's lines, line ends included */
	char *value;                /* unfolded, leading whitespace skipped */
	size_t value_len;
	int longline;               /* a physical line over 998 octets */
	int nonascii;
};

struct msg_hblock {
	char *buf;                  /* the start of the file as read */
	size_t got;
	struct msg_hdr *h;
	size_t nh;
	off_t body_off;             /* first byte after the blank line, or
	                             * the end of the file */
};

/*
 * Reads and splits the header block of SRC (from offset 0): LF or CRLF
 * line ends, folding, names checked, CR elsewhere and NUL refused, the
 * size capped at MSG_MAX_HEADER. *b owned by the caller: msg_hblock_free,
 * also after an error.
 */
int msg_hblock_read(const struct msg_src *src, struct msg_hblock *b,
    char *err, size_t errlen);
void msg_hblock_free(struct msg_hblock *b);

/*
 * Splits B->buf[0..B->got) (set by the caller) into fields, as
 * msg_hblock_read does; EOF: the buffer holds everything there is.
 * Fills B->h and the values; msg_hblock_free frees them and B->buf.
 */
int msg_hblock_parse(struct msg_hblock *b, int eof, char *err,
    size_t errlen);

/* Whether H's name is NAME, ignoring case. */
int msg_hdr_is(const struct msg_hblock *b, const struct msg_hdr *h,
    const char *name);

/* pread until N bytes or the end of the file; -1 with errno, and
 * "reading the message: ..." in ERR. */
ssize_t msg_pread_full(int fd, char *buf, size_t n, off_t off, char *err,
    size_t errlen);

/* msg_pread_full from SRC: from its image when it has one, without a
 * system call; else from its descriptor. */
ssize_t msg_src_read(const struct msg_src *src, char *buf, size_t n,
    off_t off, char *err, size_t errlen);

/* ---- 8-bit data for a server without 8BITMIME (msg_7bit.c) ---- */

#define MSG_7BIT_WHY      480        /* a refusal, one line */
#define MSG_MIME_BOUNDARY 70         /* RFC 2046 5.1.1 */
#define MSG_MIME_DEPTH    16         /* multiparts nested */
#define MSG_MIME_PARTS    4096       /* parts in one message */

/*
 * How a message is made 7-bit for a server without 8BITMIME, decided by
 * msg_prepare once, used by every msg_stream_open(eightbit_ok == 0).
 * Exists only when the message has 8-bit bytes that its MIME lines leave
 * as they are (the user's own MIME headers), or 8-bit bytes in its header.
 */
struct msg_7bit {
	int ok;                     /* it can be sent 7-bit */
	char why[MSG_7BIT_WHY];     /* else the error, with what to fix */
	int qp;                     /* one text part: the body becomes
	                             * quoted-printable, as MSG_BODY_QP */
	int multipart;              /* the parts marked in conv become
	                             * quoted-printable (msg_mime7) */
	char boundary[MSG_MIME_BOUNDARY + 1];
	int digest;                 /* the top is multipart/digest */
	size_t cte_off, cte_len;    /* the top Content-Transfer-Encoding
	                             * field in msg.header (cte_len 0: none,
	                             * cte_off then the header's end) */
	const char *cte_new;        /* its new value, NULL: keep the field */
	size_t nparts;              /* parts seen, containers included */
	unsigned char conv[MSG_MIME_PARTS / 8];  /* bit i: part i+1 */
};

/*
 * The top-level decision: CT and CTE are the values of the message's
 * Content-Type and Content-Transfer-Encoding (NULL: absent); the body is
 * LEN bytes of SRC from OFF, known to have 8-bit bytes, lines of at most
 * 998 octets and no NUL. Fills P (zeroed first; P->cte_off, cte_len
 * are the caller's). P->ok 0 with P->why is a refusal, not an error;
 * -1 only for a read error or no memory.
 */
int msg_7bit_plan(struct msg_7bit *p, const char *ct, size_t ctlen,
    const char *cte, size_t ctelen, const struct msg_src *src, off_t off,
    uint64_t len, char *err, size_t errlen);

/* Makes P a refusal: P->why is the fixed opening, the detail (what is
 * wrong: what to fix), ", or use a server with 8BITMIME". */
void msg_7bit_refuse(struct msg_7bit *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The multipart converter: body bytes in, the same MIME structure out
 * with the text parts P marks as quoted-printable (their
 * Content-Transfer-Encoding lines rewritten, a multipart's "8bit"
 * made "7bit"), CRLF line ends, not dot-stuffed; given to SINK in pieces.
 * Memory is fixed: a line and a part's header block at most.
 */
typedef int msg_sink_fn(void *ctx, const char *s, size_t n);

struct msg_mime7;

/* P borrowed until msg_mime7_free. NULL: no memory. */
struct msg_mime7 *msg_mime7_new(const struct msg_7bit *p, msg_sink_fn *sink,
    void *ctx);
int msg_mime7_feed(struct msg_mime7 *w, const char *in, size_t n,
    char *err, size_t errlen);
int msg_mime7_finish(struct msg_mime7 *w, char *err, size_t errlen);
void msg_mime7_free(struct msg_mime7 *w);

/* P's converter over LEN body bytes of SRC from OFF, into SINK. */
int msg_mime7_run(const struct msg_7bit *p, msg_sink_fn *sink, void *ctx,
    const struct msg_src *src, off_t off, uint64_t len, char *err,
    size_t errlen);

#endif
