/*
 * reply — builds one SMTP reply from the lines a server sends.
 *
 * Everything here is fed by the network: every line is checked before it
 * is stored, stored lines are capped and sanitized, and the number of
 * lines is capped, so a hostile server can neither grow memory without
 * bound nor put raw control bytes into a status file. Never trusts a
 * length it did not compute itself.
 */
#include <string.h>

#include "smtp/reply.h"

void reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, REPLY_MAX_LINES * (REPLY_MAX_LINE + 1));
}

void reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	r->nlines = 0;
	buf_reset(&r->text);
}

void reply_free(struct smtp_reply *r)
{
	buf_free(&r->text);
	reply_init(r);
}

static int reply_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of a valid RFC 3463 code "C.SSS.DDD" at the start of P (LEN
 * bytes), followed by a space or the end; its class must be CLASS. 0 when
 * there is none ("5.1", "2.0.0.0", "9.9.9" are not codes).
 */
static size_t reply_enh_len(const char *p, size_t len, char class)
{
	size_t i = 0, n;
	int part;

	if (len < 5 || p[0] != class || p[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && reply_isdigit(p[i]) && n < 4; i++)
			n++;
		if (n < 1 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && p[i] != ' ')
		return 0;
	return i;
}

/* Whether the last stored line ended the reply ("250 ..." or "250"). */
static int reply_complete(const struct smtp_reply *r)
{
	const char *last;

	if (r->nlines == 0)
		return 0;
	last = reply_line(r, r->nlines - 1);
	return last[3] != '-';
}

static int reply_store(struct smtp_reply *r, const char *line, size_t len)
{
	size_t keep = len > REPLY_MAX_LINE ? REPLY_MAX_LINE : len, i;
	char *dst = buf_reserve(&r->text, keep + 1);

	if (dst == NULL)
		return -1;
	for (i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)line[i];

		dst[i] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
	}
	dst[keep] = '\0';
	buf_commit(&r->text, keep + 1);
	r->nlines++;
	return 0;
}

enum reply_status reply_feed(struct smtp_reply *r, const char *line,
    size_t len)
{
	int code;
	size_t elen;

	if (reply_complete(r))
		return REPLY_BAD;       /* the caller must reset first */
	if (len < 3 || !reply_isdigit(line[0]) || !reply_isdigit(line[1]) ||
	    !reply_isdigit(line[2]))
		return REPLY_BAD;
	if (len > 3 && line[3] != '-' && line[3] != ' ')
		return REPLY_BAD;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599)
		return REPLY_BAD;
	if (r->nlines > 0 && code != r->code)
		return REPLY_BAD;
	if (r->nlines >= REPLY_MAX_LINES)
		return REPLY_TOOMANY;
	if (reply_store(r, line, len) < 0)
		return REPLY_NOMEM;
	r->code = code;
	if (r->enh[0] == '\0' && len > 4) {
		elen = reply_enh_len(line + 4, len - 4, line[0]);
		if (elen > 0 && elen < sizeof(r->enh)) {
			memcpy(r->enh, line + 4, elen);
			r->enh[elen] = '\0';
		}
	}
	return (len == 3 || line[3] == ' ') ? REPLY_DONE : REPLY_MORE;
}

const char *reply_line(const struct smtp_reply *r, size_t n)
{
	const char *p;

	if (n >= r->nlines)
		return NULL;
	p = r->text.p;
	while (n-- > 0)
		p += strlen(p) + 1;
	return p;
}

const char *reply_last_text(const struct smtp_reply *r)
{
	const char *p;
	size_t elen;

	if (r->nlines == 0)
		return "";
	p = reply_line(r, r->nlines - 1);
	if (strlen(p) <= 4)
		return "";
	p += 4;
	elen = reply_enh_len(p, strlen(p), p[-4]);
	if (elen > 0) {
		p += elen;
		while (*p == ' ')
			p++;
	}
	return p;
}
