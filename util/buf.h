/*
 * util/buf — a growable byte buffer with a hard cap: the one way a text
 * of unknown length is built in memory (spool and drop records, status
 * text, transcripts, message headers, SMTP replies, SASL responses) or
 * read whole from a file (configuration, aliases, a followed status).
 *
 * The cap (max) is the most content the buffer may ever hold, the
 * terminating NUL not counted; allocation grows by doubling and never
 * past max + 1 bytes. The content may hold NUL bytes; it is always
 * followed by one once anything was allocated.
 *
 * Error convention: functions returning int return 0, or -1 with errno
 * EMSGSIZE when the content would pass the cap and ENOMEM when memory
 * ran out; functions returning a pointer return NULL with errno. A
 * failed append changes nothing, and its error sticks: every later
 * append fails the same way until buf_truncate or buf_reset, so a caller
 * may append many pieces and look once (b->err, or buf_take's NULL).
 *
 * Ownership: the buffer owns p until buf_take hands it over (caller
 * frees) or buf_free releases it. A secret buffer wipes every byte it
 * lets go of (on growth, reset and free); what buf_take hands over is
 * the caller's to wipe.
 *
 * Must never: write past alloc, overflow a size computation whatever
 * the sizes asked for, or grow past max. No locking: one owner at a time.
 */
#ifndef OUTBOXFS_UTIL_BUF_H
#define OUTBOXFS_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;                    /* the content, NULL until allocated */
	size_t len;                 /* bytes of content */
	size_t alloc;               /* bytes allocated at p */
	size_t max;                 /* len never passes it */
	int err;                    /* the first failure, 0: none */
	int secret;                 /* wipe every byte let go of */
};

/* No cap but memory: for texts bounded by what they are made from. */
#define BUF_NOCAP SIZE_MAX

/* Initialisers for a declaration: an empty buffer of cap MAX. */
#define BUF_INIT(max)        { NULL, 0, 0, (max), 0, 0 }
#define BUF_INIT_SECRET(max) { NULL, 0, 0, (max), 0, 1 }

/* The same for a buffer already declared (nothing allocated yet). */
void buf_init(struct buf *b, size_t max);
void buf_init_secret(struct buf *b, size_t max);

/* Appends N bytes of S (S may be NULL when N is 0). */
int buf_add(struct buf *b, const void *s, size_t n);

/* Appends the string S, without its NUL. */
int buf_adds(struct buf *b, const char *s);

/* Appends FROM's content; when FROM has failed, B fails the same way. */
int buf_add_buf(struct buf *b, const struct buf *from);

/* Appends printf-style text. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Room for N more bytes: a pointer to them (at p + len), valid until the
 * next call that changes B. Write at most N bytes there, then count them
 * with buf_commit. NULL with errno, as an append.
 */
char *buf_reserve(struct buf *b, size_t n);

/* Counts N bytes written where buf_reserve pointed (at most what it
 * reserved) and puts the NUL after them. */
void buf_commit(struct buf *b, size_t n);

/*
 * Back to the first LEN bytes (LEN larger than len: no change), the error
 * forgotten: what is left was all appended successfully. Memory is kept.
 */
void buf_truncate(struct buf *b, size_t len);

/* Empty again, the error forgotten, memory kept (a secret is wiped). */
void buf_reset(struct buf *b);

/*
 * Hands the content over: the caller frees it; NUL-terminated, an empty
 * buffer as "". *len, when LEN is not NULL, gets its length. B is left
 * empty with its cap, nothing allocated. NULL with errno when an append
 * had failed (the content is released) or without memory for "".
 */
char *buf_take(struct buf *b, size_t *len);

/* Releases the memory (wiped first for a secret); B is left empty with
 * its cap, as after buf_init, and may be used again. */
void buf_free(struct buf *b);

/*
 * Appends what FD holds, up to its end (reads interrupted by a signal are
 * retried). -1 with errno: EMSGSIZE when FD holds more than the cap lets
 * in (what fit is kept), ENOMEM, or what read(2) said (that one does not
 * stick: the bytes read before it are kept).
 */
int buf_read_fd(struct buf *b, int fd);

#endif
