/*
 * msg_hdr — the header block of a message file as msg_prepare,
 * msg_7bit and msg_attach read it: split into fields, folding undone,
 * names checked, a CR inside a line or a NUL refused, the size capped at
 * MSG_MAX_HEADER. Memory is the block and its fields, never the body.
 *
 * Below msg.c, msg_7bit.c and msg_attach.c, which all call it; calls
 * only msg_mime.c (msg_seterr, msg_sanitize). Must never accept a line
 * that could inject a header, nor read past the cap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

int msg_hdr_is(const struct msg_hblock *b, const struct msg_hdr *h,
    const char *name)
{
	return strlen(name) == h->name_len &&
	    strncasecmp(b->buf + h->name, name, h->name_len) == 0;
}

ssize_t msg_pread_full(int fd, char *buf, size_t n, off_t off, char *err,
    size_t errlen)
{
	size_t got = 0;
	char eb[128];

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			msg_seterr(err, errlen, "reading the message: %s",
			    strerror_r(e, eb, sizeof(eb)));
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int msg_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 ||
		    s[i] == ':')
			return 0;
	return 1;
}

static int msg_add_hdr(struct msg_hblock *b, size_t line, size_t colon,
    char *err, size_t errlen)
{
	struct msg_hdr *nh;

	nh = realloc(b->h, (b->nh + 1) * sizeof(*b->h));
	if (nh == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	b->h = nh;
	memset(&b->h[b->nh], 0, sizeof(*b->h));
	b->h[b->nh].name = line;
	b->h[b->nh].name_len = colon - line;
	b->h[b->nh].raw = line;
	b->nh++;
	return 0;
}

/* Unfolds every field's value (line ends before whitespace removed). */
static int msg_unfold(struct msg_hblock *b, char *err, size_t errlen)
{
	for (size_t k = 0; k < b->nh; k++) {
		struct msg_hdr *h = &b->h[k];
		size_t i = h->name + h->name_len + 1, o = 0;
		char *v = malloc(h->raw_end - i + 1);

		if (v == NULL) {
			msg_seterr(err, errlen, "out of memory");
			return -1;
		}
		for (; i < h->raw_end; i++) {
			char c = b->buf[i];

			if (c == '\r' || c == '\n')
				continue;
			if (o == 0 && (c == ' ' || c == '\t'))
				continue;
			if ((unsigned char)c >= 0x80)
				h->nonascii = 1;
			v[o++] = c;
		}
		v[o] = '\0';
		h->value = v;
		h->value_len = o;
	}
	return 0;
}

/*
 * Splits the header block into fields. Sets body_off to the first byte
 * after the blank line (or the end of the file when there is none).
 */
int msg_hblock_parse(struct msg_hblock *b, int eof, char *err,
    size_t errlen)
{
	size_t pos = 0;
	unsigned lineno = 0;
	int spaces = 0, prev_spaces = 0;

	for (;;) {
		size_t e, next, content_end, colon;
		char *nl;

		lineno++;
		if (pos >= b->got) {
			if (!eof)
				goto toobig;
			b->body_off = (off_t)b->got;
			break;
		}
		nl = memchr(b->buf + pos, '\n', b->got - pos);
		if (nl == NULL) {
			if (!eof)
				goto toobig;
			e = b->got;
			next = b->got;
		} else {
			e = (size_t)(nl - b->buf);
			next = e + 1;
		}
		content_end = e;
		if (nl && content_end > pos && b->buf[content_end - 1] == '\r')
			content_end--;
		if (next > MSG_MAX_HEADER)
			goto toobig;
		if (content_end == pos) {
			b->body_off = (off_t)next;
			break;
		}
		for (size_t i = pos; i < content_end; i++) {
			if (b->buf[i] == '\0') {
				msg_seterr(err, errlen, "line %u of the "
				    "header block contains a NUL byte",
				    lineno);
				return -1;
			}
			if (b->buf[i] == '\r') {
				msg_seterr(err, errlen, "line %u of the "
				    "header block contains a carriage return "
				    "that does not end the line (header "
				    "injection?)", lineno);
				return -1;
			}
		}
		prev_spaces = spaces;
		spaces = 1;
		for (size_t i = pos; i < content_end && spaces; i++)
			spaces = b->buf[i] == ' ' || b->buf[i] == '\t';
		if (b->buf[pos] == ' ' || b->buf[pos] == '\t') {
			if (b->nh == 0)
				goto noheader;
			b->h[b->nh - 1].raw_end = next;
			if (content_end - pos > MSG_LINE_MAX)
				b->h[b->nh - 1].longline = 1;
			pos = next;
			continue;
		}
		nl = memchr(b->buf + pos, ':', content_end - pos);
		colon = nl ? (size_t)(nl - b->buf) : 0;
		if (nl == NULL || !msg_name_ok(b->buf + pos, colon - pos)) {
			char shown[80];

			if (b->nh == 0)
				goto noheader;
			msg_sanitize(b->buf + pos, content_end - pos, shown,
			    sizeof(shown));
			if (prev_spaces)
				msg_seterr(err, errlen, "line %u is not a "
				    "header (Name: value): \"%s\"; line %u "
				    "holds only spaces, but the line between "
				    "the headers and the body must be empty",
				    lineno, shown, lineno - 1);
			else
				msg_seterr(err, errlen, "line %u is not a "
				    "header (Name: value): \"%s\"; put a blank "
				    "line between the headers and the body",
				    lineno, shown);
			return -1;
		}
		if (msg_add_hdr(b, pos, colon, err, errlen) < 0)
			return -1;
		b->h[b->nh - 1].raw_end = next;
		if (content_end - pos > MSG_LINE_MAX)
			b->h[b->nh - 1].longline = 1;
		pos = next;
	}
	if (b->nh == 0)
		goto noheader;
	return msg_unfold(b, err, errlen);
noheader:
	msg_seterr(err, errlen, "no header block: start the file with "
	    "To: and Subject: lines, then a blank line");
	return -1;
toobig:
	msg_seterr(err, errlen, "header block larger than %d KiB (is "
	    "the blank line between headers and body missing?)",
	    MSG_MAX_HEADER / 1024);
	return -1;
}

ssize_t msg_src_read(const struct msg_src *src, char *buf, size_t n,
    off_t off, char *err, size_t errlen)
{
	size_t k;

	if (src->img == NULL)
		return msg_pread_full(src->fd, buf, n, off, err, errlen);
	if (off < 0 || (uint64_t)off >= src->len)
		return 0;
	k = src->len - (size_t)off;
	if (k > n)
		k = n;
	memcpy(buf, src->img + off, k);
	return (ssize_t)k;
}

int msg_hblock_read(const struct msg_src *src, struct msg_hblock *b,
    char *err, size_t errlen)
{
	const size_t cap = MSG_MAX_HEADER + 3;
	ssize_t r;

	memset(b, 0, sizeof(*b));
	b->buf = malloc(cap);
	if (b->buf == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	r = msg_src_read(src, b->buf, cap, 0, err, errlen);
	if (r < 0)
		return -1;
	b->got = (size_t)r;
	return msg_hblock_parse(b, b->got < cap, err, errlen);
}

void msg_hblock_free(struct msg_hblock *b)
{
	for (size_t i = 0; i < b->nh; i++)
		free(b->h[i].value);
	free(b->h);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}
