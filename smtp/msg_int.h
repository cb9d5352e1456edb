/*
 * msg_int — what the msg_*.c files of smtp/ share with each other and with
 * their unit tests: a capped byte buffer, the address-list walker, RFC 2047
 * encoded words and header folding. Not for use outside smtp/msg*.c and
 * tests/.
 *
 * Same error convention as msg.h: 0 on success, -1 with a reason in err.
 */
#ifndef OUTBOXFS_MSG_INT_H
#define OUTBOXFS_MSG_INT_H

#include <stddef.h>
#include <sys/types.h>

void msg_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable byte buffer that refuses to grow past max (OOM or cap:
 * the add functions return -1). Zero-initialise, set max; p is
 * NUL-terminated when non-NULL. Owner frees with msg_buf_free. */
struct msg_buf {
	char *p;
	size_t len, cap, max;
};

int msg_buf_add(struct msg_buf *b, const void *s, size_t n);
int msg_buf_adds(struct msg_buf *b, const char *s);
void msg_buf_free(struct msg_buf *b);

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
int msg_rfc2047(struct msg_buf *b, const char *s, size_t n);

/*
 * Appends the logical header line LINE (no line end) folded at
 * whitespace, each physical line ending in CRLF and at most 998 octets
 * (78 where a space allows). Returns -1 without appending when a run
 * without whitespace makes a line over 998 octets unavoidable, or when
 * the buffer cap is reached.
 */
int msg_fold(struct msg_buf *b, const char *line, size_t n);

/* ---- the header block, as msg_prepare and msg_attach_expand read it ---- */

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
 * Reads and splits the header block of FD (from offset 0): LF or CRLF
 * line ends, folding, names checked, CR elsewhere and NUL refused, the
 * size capped at MSG_MAX_HEADER. *b owned by the caller: msg_hblock_free,
 * also after an error.
 */
int msg_hblock_read(int fd, struct msg_hblock *b, char *err, size_t errlen);
void msg_hblock_free(struct msg_hblock *b);

/* Whether H's name is NAME, ignoring case. */
int msg_hdr_is(const struct msg_hblock *b, const struct msg_hdr *h,
    const char *name);

/* pread until N bytes or the end of the file; -1 with errno. */
ssize_t msg_pread_full(int fd, char *buf, size_t n, off_t off);

#endif
