/*
 * util/buf — the capped growable buffer (see buf.h).
 *
 * Every size is checked before it is added to another: len <= max always
 * holds, so "n > max - len" is the overflow-free test, and the largest
 * allocation asked for is max + 1 with max at most SIZE_MAX - 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

#define BUF_MIN_ALLOC 64        /* the first allocation */
#define BUF_READ_CHUNK 8192     /* the first room buf_read_fd asks for */

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void buf_init_secret(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->secret = 1;
}

/* The cap that leaves room for the NUL in a size_t. */
static size_t buf_cap(const struct buf *b)
{
	return b->max < SIZE_MAX ? b->max : SIZE_MAX - 1;
}

static int buf_fail(struct buf *b, int err)
{
	b->err = err;
	errno = err;
	return -1;
}

/* Makes room for N more bytes and the NUL. */
static int buf_grow(struct buf *b, size_t n)
{
	size_t cap = buf_cap(b), need, want;
	char *np;

	if (b->err) {
		errno = b->err;
		return -1;
	}
	if (b->len > cap || n > cap - b->len)
		return buf_fail(b, EMSGSIZE);
	need = b->len + n + 1;
	if (need <= b->alloc)
		return 0;
	want = b->alloc ? b->alloc : BUF_MIN_ALLOC;
	while (want < need)
		want = want > SIZE_MAX / 2 ? need : want * 2;
	if (want > cap + 1)
		want = cap + 1;
	if (b->secret) {
		/* realloc could leave a copy behind: move it by hand */
		np = malloc(want);
		if (np == NULL)
			return buf_fail(b, ENOMEM);
		if (b->p != NULL) {
			memcpy(np, b->p, b->len + 1);
			explicit_bzero(b->p, b->alloc);
			free(b->p);
		}
	} else {
		np = realloc(b->p, want);
		if (np == NULL)
			return buf_fail(b, ENOMEM);
	}
	if (b->p == NULL)
		np[0] = '\0';
	b->p = np;
	b->alloc = want;
	return 0;
}

char *buf_reserve(struct buf *b, size_t n)
{
	if (buf_grow(b, n) < 0)
		return NULL;
	return b->p + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	if (n == 0 && b->p == NULL)
		return;
	/* more than was reserved: a broken caller, not bad input */
	if (b->p == NULL || n >= b->alloc - b->len)
		abort();
	b->len += n;
	b->p[b->len] = '\0';
}

int buf_add(struct buf *b, const void *s, size_t n)
{
	char *at = buf_reserve(b, n);

	if (at == NULL)
		return -1;
	if (n > 0)
		memcpy(at, s, n);
	buf_commit(b, n);
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_add_buf(struct buf *b, const struct buf *from)
{
	if (from->err && !b->err)
		return buf_fail(b, from->err);
	return buf_add(b, from->p, from->len);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *at;
	int n;

	if (b->err) {
		errno = b->err;
		return -1;
	}
	/* Most texts fit in the room there is (which never passes the
	 * cap): one pass. Otherwise measure, grow, write. */
	if (b->p != NULL) {
		size_t room = b->alloc - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		b->p[b->len] = '\0';    /* the content as it was */
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b, EMSGSIZE);   /* over INT_MAX bytes */
	if ((at = buf_reserve(b, (size_t)n)) == NULL)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(at, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->p[len] = '\0';
	}
	b->err = 0;
}

void buf_reset(struct buf *b)
{
	if (b->p != NULL) {
		if (b->secret)
			explicit_bzero(b->p, b->len);
		b->p[0] = '\0';
	}
	b->len = 0;
	b->err = 0;
}

char *buf_take(struct buf *b, size_t *len)
{
	char *p;
	int err;

	if (b->err || (b->p == NULL && buf_grow(b, 0) < 0)) {
		err = b->err;
		buf_free(b);
		errno = err;
		return NULL;
	}
	p = b->p;
	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	b->len = b->alloc = 0;
	return p;
}

void buf_free(struct buf *b)
{
	if (b->p != NULL) {
		if (b->secret)
			explicit_bzero(b->p, b->alloc);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->alloc = 0;
	b->err = 0;
}

int buf_read_fd(struct buf *b, int fd)
{
	size_t cap = buf_cap(b), room;
	ssize_t r;
	char probe;

	for (;;) {
		if (b->err) {
			errno = b->err;
			return -1;
		}
		room = b->p != NULL ? b->alloc - 1 - b->len : 0;
		if (room == 0 && b->len < cap) {
			size_t ask = b->alloc ? 1 : BUF_READ_CHUNK;

			if (ask > cap - b->len)
				ask = cap - b->len;
			if (buf_reserve(b, ask) == NULL)
				return -1;
			room = b->alloc - 1 - b->len;
		}
		if (room == 0) {
			/* full: one byte more tells whether that was the end */
			r = read(fd, &probe, 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return (int)r;
			return buf_fail(b, EMSGSIZE);
		}
		r = read(fd, b->p + b->len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return (int)r;
		buf_commit(b, (size_t)r);
	}
}
