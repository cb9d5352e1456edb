/*
 * fuzz_reply — feeds the reply parser the lines of arbitrary input (split
 * at LF, a trailing CR dropped as io_readline does) and checks what it
 * keeps: caps on lines and length, printable bytes only, a consistent
 * code. A finished or broken reply starts a new one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/reply.h"

static void fuzz_check(const struct smtp_reply *r)
{
	size_t i, j, len;
	const char *l;

	if (r->nlines > REPLY_MAX_LINES)
		abort();
	if (r->nlines > 0 && (r->code < 200 || r->code > 599))
		abort();
	for (i = 0; i < r->nlines; i++) {
		l = reply_line(r, i);
		if (l == NULL)
			abort();
		len = strlen(l);
		if (len > REPLY_MAX_LINE || len < 3)
			abort();
		for (j = 0; j < len; j++)
			if ((unsigned char)l[j] < 0x20 ||
			    (unsigned char)l[j] > 0x7e)
				abort();
	}
	l = reply_last_text(r);
	if (strlen(l) > REPLY_MAX_LINE || strlen(r->enh) >= sizeof(r->enh))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct smtp_reply r;
	enum reply_status st;
	size_t len;

	reply_init(&r);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		st = reply_feed(&r, p, len);
		fuzz_check(&r);
		if (st != REPLY_MORE)
			reply_reset(&r);
		p += (nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p));
	}
	reply_free(&r);
	return 0;
}
