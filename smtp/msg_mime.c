/*
 * msg_mime — the byte-level encoders of message preparation: SMTP line
 * normalisation and dot-stuffing, quoted-printable, RFC 2047 encoded
 * words, header folding (into capped util/buf buffers).
 *
 * Must never emit a bare CR or LF from msg_dotstuff (SMTP smuggling), never
 * cut a header line (only fold at whitespace), never grow a buffer past
 * its cap. No global state: every encoder keeps its state in a struct the
 * caller owns.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

void msg_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	/* A cut error text is still a useful error text. */
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int msg_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = u[i];
		size_t k;
		unsigned lo = 0x80, hi = 0xBF;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			if (c == 0xE0)
				lo = 0xA0;      /* overlong */
			else if (c == 0xED)
				hi = 0x9F;      /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;      /* > U+10FFFF */
		} else
			return 0;
		if (n - i <= k)
			return 0;
		if (u[i + 1] < lo || u[i + 1] > hi)
			return 0;
		for (size_t j = 2; j <= k; j++)
			if ((u[i + j] & 0xC0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

void msg_sanitize(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0, max = 60;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == max) {
			for (int k = 0; k < 3 && o + 1 < outlen; k++)
				out[o++] = '.';
			break;
		}
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
}

/* 45 input bytes make 60 base64 characters: "=?UTF-8?B?" + 60 + "?="
 * is 72, inside RFC 2047's 75. */
#define MSG_2047_CHUNK 45

int msg_rfc2047(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t pos = 0;

	while (pos < n) {
		size_t take = n - pos;
		unsigned char enc[4 * MSG_2047_CHUNK / 3 + 4];
		int elen;

		if (take > MSG_2047_CHUNK) {
			take = MSG_2047_CHUNK;
			/* back off to the start of a UTF-8 character */
			while (take > 1 && (u[pos + take] & 0xC0) == 0x80)
				take--;
		}
		elen = EVP_EncodeBlock(enc, u + pos, (int)take);
		if (elen < 0)
			return -1;
		if ((pos > 0 && buf_add(b, " ", 1) < 0) ||
		    buf_adds(b, "=?UTF-8?B?") < 0 ||
		    buf_add(b, enc, (size_t)elen) < 0 ||
		    buf_adds(b, "?=") < 0)
			return -1;
		pos += take;
	}
	return 0;
}

static int msg_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

#define MSG_FOLD_SOFT 78
#define MSG_FOLD_HARD 998

int msg_fold(struct buf *b, const char *line, size_t n)
{
	size_t pos = 0, start_len = b->len;

	while (n > 0 && msg_is_wsp(line[n - 1]))
		n--;
	while (n - pos > MSG_FOLD_SOFT) {
		size_t first = pos, brk = 0, i, lim;

		if (pos == 0) {
			/* never break between "Name:" and the value */
			const char *colon = memchr(line, ':', n);

			if (colon)
				first = (size_t)(colon - line) + 1;
		}
		while (first < n && msg_is_wsp(line[first]))
			first++;
		/* the last whitespace within the soft limit ... */
		lim = pos + MSG_FOLD_SOFT;
		for (i = lim; i > first; i--)
			if (msg_is_wsp(line[i])) {
				brk = i;
				break;
			}
		/* ... else the first one after it */
		if (brk == 0)
			for (i = lim + 1; i < n; i++)
				if (msg_is_wsp(line[i]) && i > first) {
					brk = i;
					break;
				}
		if (brk == 0 || brk - pos > MSG_FOLD_HARD) {
			if (n - pos <= MSG_FOLD_HARD)
				break;
			buf_truncate(b, start_len);
			return -1;
		}
		/* break before a run of whitespace: it leads the next line */
		while (brk > first + 1 && msg_is_wsp(line[brk - 1]))
			brk--;
		if (buf_add(b, line + pos, brk - pos) < 0 ||
		    buf_add(b, "\r\n", 2) < 0)
			goto fail;
		pos = brk;
	}
	if (buf_add(b, line + pos, n - pos) < 0 ||
	    buf_add(b, "\r\n", 2) < 0)
		goto fail;
	return 0;
fail:
	buf_truncate(b, start_len);
	return -1;
}

void msg_dotstuff_init(struct msg_dotstuff *d)
{
	d->at_bol = 1;
	d->saw_cr = 0;
}

size_t msg_dotstuff(struct msg_dotstuff *d, const char *in, size_t len,
    char *out)
{
	size_t o = 0, i = 0;

	while (i < len) {
		char c = in[i];
		size_t j;

		if (d->saw_cr) {
			d->saw_cr = 0;
			if (c == '\n') {
				i++;
				continue;  /* the CRLF went out with the CR */
			}
		}
		if (c == '\r' || c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			d->at_bol = 1;
			d->saw_cr = (c == '\r');
			i++;
			continue;
		}
		if (d->at_bol && c == '.')
			out[o++] = '.';
		d->at_bol = 0;
		/* the rest of the line in one copy */
		for (j = i + 1; j < len && in[j] != '\r' && in[j] != '\n'; j++)
			;
		memcpy(out + o, in + i, j - i);
		o += j - i;
		i = j;
	}
	return o;
}

size_t msg_dotstuff_finish(struct msg_dotstuff *d, char *out)
{
	size_t o = 0;

	if (!d->at_bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	d->at_bol = 1;
	d->saw_cr = 0;
	return o;
}

void msg_qp_init(struct msg_qp *q)
{
	memset(q, 0, sizeof(*q));
}

#define MSG_QP_LINE 75   /* characters before a soft break's '=' */

static size_t msg_qp_token(struct msg_qp *q, const char *tok, size_t n,
    char *out)
{
	size_t o = 0;

	if ((size_t)q->linelen + n > MSG_QP_LINE) {
		out[o++] = '=';
		out[o++] = '\r';
		out[o++] = '\n';
		q->linelen = 0;
	}
	memcpy(out + o, tok, n);
	q->linelen += (int)n;
	return o + n;
}

static size_t msg_qp_byte(struct msg_qp *q, unsigned char c, int literal,
    char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char tok[3];

	/* a soft break puts the token first on a line */
	if (literal && c == '-' && q->nodash &&
	    (q->linelen == 0 || q->linelen + 1 > MSG_QP_LINE))
		literal = 0;
	if (literal) {
		tok[0] = (char)c;
		return msg_qp_token(q, tok, 1, out);
	}
	tok[0] = '=';
	tok[1] = hex[c >> 4];
	tok[2] = hex[c & 15];
	return msg_qp_token(q, tok, 3, out);
}

size_t msg_qp(struct msg_qp *q, const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (q->saw_cr) {
			q->saw_cr = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			if (q->pending) {
				o += msg_qp_byte(q, (unsigned char)q->pending,
				    0, out + o);
				q->pending = 0;
			}
			out[o++] = '\r';
			out[o++] = '\n';
			q->linelen = 0;
			q->saw_cr = (c == '\r');
			continue;
		}
		if (q->pending) {
			o += msg_qp_byte(q, (unsigned char)q->pending, 1,
			    out + o);
			q->pending = 0;
		}
		if (c == ' ' || c == '\t') {
			q->pending = c;
			continue;
		}
		if (c >= 33 && c <= 126 && c != '=' &&
		    q->linelen < MSG_QP_LINE &&
		    !(c == '-' && q->linelen == 0 && q->nodash)) {
			out[o++] = (char)c;     /* the common case */
			q->linelen++;
			continue;
		}
		o += msg_qp_byte(q, c, c >= 33 && c <= 126 && c != '=',
		    out + o);
	}
	return o;
}

size_t msg_qp_finish(struct msg_qp *q, char *out)
{
	size_t o = 0;

	if (q->pending)
		o += msg_qp_byte(q, (unsigned char)q->pending, 0, out);
	q->pending = 0;
	q->saw_cr = 0;
	q->linelen = 0;
	return o;
}
