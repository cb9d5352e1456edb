/*
 * msg — message preparation: from the file a user wrote to the envelope,
 * the header that is sent, and the DATA byte stream.
 *
 * msg_prepare reads the header block (capped at MSG_MAX_HEADER) and scans
 * the body in fixed chunks; msg_stream re-reads the body in chunks. Memory
 * never grows with the body. Must never let a bare CR or LF, or an early
 * "CRLF.CRLF", reach the wire, never send Bcc, never cut a header line,
 * never accept a header value or an address that could inject a header
 * or an SMTP command.
 *
 * Header rules, user-visible (outboxfs(1) repeats them):
 * - header lines end in LF or CRLF; a CR elsewhere in the header block is
 *   refused (a bare CR would be a line end to some readers: injection);
 * - a header that needs no change is sent as written (CRLF line ends);
 * - non-ASCII in Subject and other unstructured fields is sent as RFC 2047
 *   encoded words, from the first word that needs it to the last;
 *   non-ASCII display names in address fields likewise (the field is then
 *   rewritten as "name <addr>, ...", comments dropped);
 * - a line over 998 octets is folded at whitespace; an unstructured field
 *   with a run over 998 octets without whitespace is sent entirely as
 *   encoded words (which can be folded); a structured field (Message-ID,
 *   References, ...) with such a run is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

#define MSG_CHUNK      (16 * 1024)     /* body bytes read at a time */
#define MSG_M7_FEED    4096            /* body bytes per msg_mime7 call: its
                                        * output then fits obuf (see
                                        * msg_stream_sink) */

struct msg_prep {
	const struct msg_params *p;
	struct msg *m;
	struct msg_hblock b;
	char *err;
	size_t errlen;
	struct msg_qualify q;       /* reset before each walk */
};

static const char *const msg_addr_fields[] = {
	"From", "To", "Cc", "Reply-To", "Sender", "Resent-From",
	"Resent-Sender", "Resent-To", "Resent-Cc", NULL,
};

/* Fields with a grammar of their own: never RFC 2047-encoded. */
static const char *const msg_structured_fields[] = {
	"Date", "Message-ID", "In-Reply-To", "References", "Received",
	"Return-Path", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Disposition",
	"Resent-Date", "Resent-Message-ID", "DKIM-Signature", NULL,
};

static int msg_name_in(const struct msg_prep *w, const struct msg_hdr *h,
    const char *const *names)
{
	for (; *names; names++)
		if (msg_hdr_is(&w->b, h, *names))
			return 1;
	return 0;
}

/* ---- recipients and sender ---- */

static int msg_same_addr(const char *a, const char *b)
{
	const char *ata = strrchr(a, '@'), *atb = strrchr(b, '@');

	if (ata == NULL || atb == NULL)
		return strcmp(a, b) == 0;
	return ata - a == atb - b && memcmp(a, b, (size_t)(ata - a)) == 0 &&
	    strcasecmp(ata, atb) == 0;
}

static int msg_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int msg_rcpt_add(struct msg_prep *w, const char *addr, char *err,
    size_t errlen);

/* A local name's aliases (msmtp: not expanded again), each completed
 * with the mail domain when it has no '@'. */
static int msg_rcpt_alias(struct msg_prep *w, const char *addr, char *err,
    size_t errlen)
{
	const char *at = strrchr(addr, '@');
	char local[MSG_MAX_ADDR + 1], full[MSG_MAX_ADDR + 2], why[200];
	const char *const *to;
	size_t n = 0, ll = at != NULL ? (size_t)(at - addr) : strlen(addr);

	if (ll >= sizeof(local))
		return msg_rcpt_add(w, addr, err, errlen);
	memcpy(local, addr, ll);
	local[ll] = '\0';
	to = w->p->alias(w->p->alias_ctx, local, &n);
	if (to == NULL || n == 0)
		return msg_rcpt_add(w, addr, err, errlen);
	for (size_t i = 0; i < n; i++) {
		const char *a = to[i];
		int k;

		if (strchr(a, '@') == NULL) {
			k = snprintf(full, sizeof(full), "%s@%s", a,
			    w->p->qualify_domain);
			if (k < 0 || (size_t)k >= sizeof(full)) {
				msg_seterr(err, errlen, "alias %s: %s is too "
				    "long with the mail domain", local, a);
				return -1;
			}
			a = full;
		}
		if (msg_check_addr(a, why, sizeof(why)) < 0) {
			char shown[80];

			msg_sanitize(a, strlen(a), shown, sizeof(shown));
			msg_seterr(err, errlen, "alias %s: %s: %s; fix the "
			    "aliases file", local, shown, why);
			return -1;
		}
		if (msg_rcpt_add(w, a, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int msg_rcpt_cb(void *vw, enum msg_addr_kind kind, const char *name,
    size_t namelen, const char *addr, char *err, size_t errlen)
{
	struct msg_prep *w = vw;

	(void)name;
	(void)namelen;
	if (kind != MSG_ADDR_MAILBOX)
		return 0;
	if (w->q.last && w->p->alias != NULL)
		return msg_rcpt_alias(w, addr, err, errlen);
	return msg_rcpt_add(w, addr, err, errlen);
}

static int msg_rcpt_add(struct msg_prep *w, const char *addr, char *err,
    size_t errlen)
{
	struct msg *m = w->m;
	char **nr, *dup;

	for (size_t i = 0; i < m->nrcpts; i++)
		if (msg_same_addr(m->rcpts[i], addr))
			return 0;
	if (m->nrcpts >= MSG_MAX_RCPTS) {
		msg_seterr(err, errlen, "more than %d recipients: split the "
		    "message", MSG_MAX_RCPTS);
		return -1;
	}
	dup = strdup(addr);
	nr = dup ? realloc(m->rcpts, (m->nrcpts + 1) * sizeof(*nr)) : NULL;
	if (nr == NULL) {
		free(dup);
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	m->rcpts = nr;
	m->rcpts[m->nrcpts++] = dup;
	if (!msg_is_ascii(dup))
		m->smtputf8 = 1;
	return 0;
}

struct msg_first {
	char *addr;                 /* the first mailbox, malloc'd */
};

static int msg_first_cb(void *vf, enum msg_addr_kind kind, const char *name,
    size_t namelen, const char *addr, char *err, size_t errlen)
{
	struct msg_first *f = vf;

	(void)name;
	(void)namelen;
	if (kind != MSG_ADDR_MAILBOX || f->addr)
		return 0;
	f->addr = strdup(addr);
	if (f->addr == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- the header that is sent ---- */

static int msg_needs_2047(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return 1;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
			return 1;
	}
	return 0;
}

static int msg_longest_word(const char *s, size_t n)
{
	size_t run = 0, best = 0;

	for (size_t i = 0; i < n; i++) {
		run = (s[i] == ' ' || s[i] == '\t') ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	return best > 900;
}

struct msg_rebuild {
	struct buf *b;
	const char *sep;
	int *smtputf8;              /* set when an address is not ASCII */
};

static int msg_phrase(struct buf *b, const char *s, size_t n)
{
	int plain = 1;

	if (msg_needs_2047(s, n) || msg_longest_word(s, n))
		return msg_rfc2047(b, s, n);
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~", s[i])))
			plain = 0;
	if (plain)
		return buf_add(b, s, n);
	if (buf_add(b, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '"' || s[i] == '\\') &&
		    buf_add(b, "\\", 1) < 0)
			return -1;
		if (buf_add(b, s + i, 1) < 0)
			return -1;
	}
	return buf_add(b, "\"", 1);
}

static int msg_rebuild_cb(void *vr, enum msg_addr_kind kind,
    const char *name, size_t namelen, const char *addr, char *err,
    size_t errlen)
{
	struct msg_rebuild *r = vr;
	int rc = 0;

	switch (kind) {
	case MSG_ADDR_GROUP_START:
		rc = buf_adds(r->b, r->sep);
		if (rc == 0)
			rc = msg_phrase(r->b, name, namelen);
		if (rc == 0)
			rc = buf_adds(r->b, ":");
		r->sep = " ";
		break;
	case MSG_ADDR_GROUP_END:
		rc = buf_adds(r->b, ";");
		r->sep = ", ";
		break;
	case MSG_ADDR_MAILBOX:
		/* RFC 6532: a UTF-8 address in a header needs SMTPUTF8 too */
		if (!msg_is_ascii(addr))
			*r->smtputf8 = 1;
		rc = buf_adds(r->b, r->sep);
		if (rc == 0 && namelen > 0) {
			rc = msg_phrase(r->b, name, namelen);
			if (rc == 0)
				rc = buf_adds(r->b, " <");
			if (rc == 0)
				rc = buf_adds(r->b, addr);
			if (rc == 0)
				rc = buf_adds(r->b, ">");
		} else if (rc == 0)
			rc = buf_adds(r->b, addr);
		r->sep = ", ";
		break;
	}
	if (rc < 0)
		msg_seterr(err, errlen, "header too large");
	return rc;
}

/* An unstructured value with the words from the first that needs
 * encoding to the last as encoded words (WHOLE: all of it). */
static int msg_unstructured(struct buf *b, const char *v, size_t n,
    int whole)
{
	size_t first = n, last = 0, i = 0;

	if (whole)
		return msg_rfc2047(b, v, n);
	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		s = i;
		while (i < n && v[i] != ' ' && v[i] != '\t')
			i++;
		e = i;
		if (e > s && msg_needs_2047(v + s, e - s)) {
			if (first == n)
				first = s;
			last = e;
		}
	}
	if (first == n)
		return buf_add(b, v, n);
	if (buf_add(b, v, first) < 0 ||
	    msg_rfc2047(b, v + first, last - first) < 0 ||
	    buf_add(b, v + last, n - last) < 0)
		return -1;
	return 0;
}

/* Copies a field as written, with CRLF line ends. */
static int msg_copy_raw(struct msg_prep *w, const struct msg_hdr *h,
    struct buf *out)
{
	size_t i = h->raw;

	while (i < h->raw_end) {
		size_t e = i;

		while (e < h->raw_end && w->b.buf[e] != '\n' &&
		    w->b.buf[e] != '\r')
			e++;
		if (buf_add(out, w->b.buf + i, e - i) < 0 ||
		    buf_add(out, "\r\n", 2) < 0)
			return -1;
		if (e < h->raw_end && w->b.buf[e] == '\r')
			e++;
		i = e + 1;
	}
	return 0;
}

static int msg_noop_cb(void *ctx, enum msg_addr_kind kind, const char *name,
    size_t namelen, const char *addr, char *err, size_t errlen)
{
	(void)ctx; (void)kind; (void)name; (void)namelen; (void)addr;
	(void)err; (void)errlen;
	return 0;
}

/* An address field with "@domain" inserted after each address that had
 * none (comments and display names kept as written), folded. */
static int msg_emit_qualified(struct msg_prep *w, const struct msg_hdr *h,
    struct buf *out)
{
	struct buf line = BUF_INIT(4 * MSG_MAX_HEADER);
	const char *d = w->p->qualify_domain;
	size_t pos = 0;
	int rc = -1;

	if (buf_add(&line, w->b.buf + h->name, h->name_len) < 0 ||
	    buf_adds(&line, ": ") < 0)
		goto toolarge;
	for (size_t i = 0; i < w->q.n; i++) {
		size_t at = w->q.at[i];

		if (at < pos || at > h->value_len)
			continue;
		if (buf_add(&line, h->value + pos, at - pos) < 0 ||
		    buf_adds(&line, "@") < 0 || buf_adds(&line, d) < 0)
			goto toolarge;
		pos = at;
	}
	if (buf_add(&line, h->value + pos, h->value_len - pos) < 0)
		goto toolarge;
	if (msg_fold(out, line.p, line.len) == 0) {
		rc = 0;
		goto out;
	}
	msg_seterr(w->err, w->errlen, "header %.*s has a run of over %d "
	    "characters without a space to fold at", (int)h->name_len,
	    w->b.buf + h->name, MSG_LINE_MAX);
	goto out;
toolarge:
	msg_seterr(w->err, w->errlen, "header too large");
out:
	buf_free(&line);
	return rc;
}

static int msg_emit_hdr(struct msg_prep *w, const struct msg_hdr *h,
    struct buf *out)
{
	struct buf line = BUF_INIT(4 * MSG_MAX_HEADER);
	int addr = msg_name_in(w, h, msg_addr_fields) ||
	    msg_hdr_is(&w->b, h, "Bcc") || msg_hdr_is(&w->b, h, "Resent-Bcc");
	int structured = msg_name_in(w, h, msg_structured_fields);
	int rc = -1;

	w->q.domain = w->p->qualify_domain;
	w->q.n = 0;
	if (addr && w->q.domain != NULL) {
		char ignored[64];

		/* A field that does not parse is sent as before. */
		if (msg_addr_walk_q(h->value, h->value_len, &w->q,
		    msg_noop_cb, NULL, ignored, sizeof(ignored)) < 0)
			w->q.n = 0;
		if (w->q.n > 0 && !h->nonascii && !h->longline)
			return msg_emit_qualified(w, h, out);
	}
	if (!h->nonascii && !h->longline) {
		if (msg_copy_raw(w, h, out) < 0)
			goto toolarge;
		return 0;
	}
	if (h->nonascii && !msg_utf8_valid(h->value, h->value_len)) {
		msg_seterr(w->err, w->errlen, "header %.*s: not valid UTF-8 "
		    "(save the file as UTF-8)", (int)h->name_len,
		    w->b.buf + h->name);
		return -1;
	}
	if (buf_add(&line, w->b.buf + h->name, h->name_len) < 0 ||
	    buf_adds(&line, ": ") < 0)
		goto toolarge;
	if (addr) {
		struct msg_rebuild r = { &line, "", &w->m->smtputf8 };

		w->q.n = 0;
		if (msg_addr_walk_q(h->value, h->value_len, &w->q,
		    msg_rebuild_cb, &r, w->err, w->errlen) < 0)
			goto out;
	} else if (structured || !h->nonascii) {
		if (buf_add(&line, h->value, h->value_len) < 0)
			goto toolarge;
	} else if (msg_unstructured(&line, h->value, h->value_len, 0) < 0)
		goto toolarge;
	if (msg_fold(out, line.p, line.len) == 0) {
		rc = 0;
		goto out;
	}
	if (addr || structured) {
		msg_seterr(w->err, w->errlen, "header %.*s has a run of over "
		    "%d characters without a space to fold at",
		    (int)h->name_len, w->b.buf + h->name, MSG_LINE_MAX);
		goto out;
	}
	/* an unstructured run too long to fold: encoded words can be */
	buf_truncate(&line, h->name_len + 2);
	if (msg_unstructured(&line, h->value, h->value_len, 1) < 0 ||
	    msg_fold(out, line.p, line.len) < 0)
		goto toolarge;
	rc = 0;
	goto out;
toolarge:
	msg_seterr(w->err, w->errlen, "header too large");
out:
	buf_free(&line);
	return rc;
}

static int msg_add_line(struct buf *out, const char *name,
    const char *value, char *err, size_t errlen)
{
	struct buf line = BUF_INIT(MSG_MAX_HEADER);
	int rc = -1;

	if (buf_adds(&line, name) == 0 && buf_adds(&line, ": ") == 0 &&
	    buf_adds(&line, value) == 0 &&
	    msg_fold(out, line.p, line.len) == 0)
		rc = 0;
	else
		msg_seterr(err, errlen, "header too large");
	buf_free(&line);
	return rc;
}

static void msg_date(time_t now, char *buf, size_t len)
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    day[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int msg_domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 255)
		return 0;
	for (; *d; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
		    (*d >= '0' && *d <= '9') || *d == '-' || *d == '.'))
			return 0;
	return 1;
}

/* 8 random bytes for a Message-ID, from a per-thread store that
 * OpenSSL refills for 64 messages at a time (one call, not one per
 * message). -1 when it has none. */
static int msg_id_random(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char store[512];
	static _Thread_local size_t left;

	if (left < n) {
		if (RAND_bytes(store, sizeof(store)) != 1)
			return -1;
		left = sizeof(store);
	}
	left -= n;
	memcpy(out, store + left, n);
	memset(store + left, 0, n);     /* never given out twice */
	return 0;
}

static int msg_make_id(const struct msg_params *p, time_t now, char *buf,
    size_t len, char *err, size_t errlen)
{
	unsigned char rnd[8];
	char hex[sizeof(rnd) * 2 + 1];
	const char *dom = p->domain && msg_domain_ok(p->domain) ?
	    p->domain : "localhost";
	struct tm tm;
	int n;

	if (msg_id_random(rnd, sizeof(rnd)) < 0) {
		msg_seterr(err, errlen, "no random bytes for the Message-ID");
		return -1;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		hex[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	hex[sizeof(hex) - 1] = '\0';
	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(buf, len, "<%04d%02d%02d%02d%02d%02d.%s@%s>",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, hex, dom);
	if (n < 0 || (size_t)n >= len) {
		msg_seterr(err, errlen, "domain too long for a Message-ID");
		return -1;
	}
	return 0;
}

/* "From: NAME <ADDR>" (NAME encoded as a phrase), or "From: ADDR". */
static int msg_add_from(struct buf *out, const char *name,
    const char *addr, char *err, size_t errlen)
{
	struct buf v = BUF_INIT(MSG_MAX_HEADER);
	int rc = -1;

	if (name != NULL && name[0] != '\0') {
		if (!msg_utf8_valid(name, strlen(name))) {
			msg_seterr(err, errlen, "from_full_name is not valid "
			    "UTF-8");
			goto out;
		}
		if (msg_phrase(&v, name, strlen(name)) < 0 ||
		    buf_adds(&v, " <") < 0 || buf_adds(&v, addr) < 0 ||
		    buf_adds(&v, ">") < 0) {
			msg_seterr(err, errlen, "header too large");
			goto out;
		}
		rc = msg_add_line(out, "From", v.p, err, errlen);
	} else {
		rc = msg_add_line(out, "From", addr, err, errlen);
	}
out:
	buf_free(&v);
	return rc;
}

/* RFC 3461 xtext: '+', '=' and bytes outside 33..126 as +XX. */
static int msg_xtext(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 33 || c > 126 || c == '+' || c == '=') {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '+';
			out[o++] = "0123456789ABCDEF"[c >> 4];
			out[o++] = "0123456789ABCDEF"[c & 15];
		} else {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return 0;
}

/* 1 when S is a list of upper-case words joined by commas. */
static int msg_dsn_word_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || *s == ','))
			return 0;
	return 1;
}

/* The DSN parameters of M (RFC 3461): NOTIFY, RET, ENVID. */
static int msg_dsn(const struct msg_params *p, struct msg *m, char *err,
    size_t errlen)
{
	char env[101 + 1];
	const char *id;

	if (p->dsn_notify == NULL && p->dsn_ret == NULL)
		return 0;
	if ((p->dsn_notify && !msg_dsn_word_ok(p->dsn_notify)) ||
	    (p->dsn_ret && strcmp(p->dsn_ret, "HDRS") != 0 &&
	    strcmp(p->dsn_ret, "FULL") != 0)) {
		msg_seterr(err, errlen, "bad DSN request: dsn_notify is never "
		    "or success,failure,delay; dsn_return is headers or full");
		return -1;
	}
	if (p->dsn_notify && (m->dsn_notify = strdup(p->dsn_notify)) == NULL)
		goto oom;
	if (p->dsn_ret && (m->dsn_ret = strdup(p->dsn_ret)) == NULL)
		goto oom;
	/* ENVID: as asked (at most 100 characters once encoded, RFC
	 * 3461 4.4), else the Message-ID when it fits, so that a report
	 * can be matched with this message */
	id = p->dsn_envid != NULL ? p->dsn_envid : m->message_id;
	if (id == NULL)
		return 0;
	if (msg_xtext(id, env, sizeof(env)) < 0) {
		if (p->dsn_envid == NULL)
			return 0;
		msg_seterr(err, errlen, "the DSN envelope id is longer than "
		    "100 characters");
		return -1;
	}
	if ((m->dsn_envid = strdup(env)) == NULL)
		goto oom;
	return 0;
oom:
	msg_seterr(err, errlen, "out of memory");
	return -1;
}

/* ---- the body ---- */

struct msg_scan {
	uint64_t bytes;             /* in the file */
	uint64_t wire;              /* normalised and dot-stuffed, as is */
	uint64_t wire_qp;           /* the same, quoted-printable */
	uint64_t wire7;             /* the same, made 7-bit (msg_mime7) */
	size_t maxline;             /* longest wire line, CRLF excluded */
	int eightbit, nul;
};

/* What msg_dotstuff would produce, counted without producing it. */
struct msg_count {
	int at_bol, saw_cr;
	size_t cur;
};

static void msg_count(struct msg_count *c, const char *in, size_t n,
    struct msg_scan *st)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (c->saw_cr) {
			c->saw_cr = 0;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r' || ch == '\n') {
			st->wire += 2;
			if (c->cur > st->maxline)
				st->maxline = c->cur;
			c->cur = 0;
			c->at_bol = 1;
			c->saw_cr = ch == '\r';
			continue;
		}
		if (c->at_bol && ch == '.') {
			st->wire++;
			c->cur++;
		}
		c->at_bol = 0;
		st->wire++;
		c->cur++;
		if (ch >= 0x80)
			st->eightbit = 1;
		else if (ch == 0)
			st->nul = 1;
	}
}

/*
 * Scans the body: pass QP == 0 counts the wire bytes as written, the
 * longest line and the 8-bit and NUL bytes; pass QP == 1 counts the wire
 * bytes after quoted-printable (only run when that encoding may be used).
 */
static int msg_scan_body(const struct msg_src *src, off_t off, int qp, struct msg_scan *st,
    char *err, size_t errlen)
{
	char *in = malloc(MSG_CHUNK), *qbuf = NULL, *qds = NULL;
	struct msg_count c = { 1, 0, 0 };
	struct msg_dotstuff dq;
	struct msg_qp q;
	uint64_t pos = 0;
	int rc = -1;

	if (qp) {
		qbuf = malloc(MSG_QP_OUT(MSG_CHUNK));
		qds = malloc(2 * MSG_QP_OUT(MSG_CHUNK) + 2);
	} else
		memset(st, 0, sizeof(*st));
	if (in == NULL || (qp && (qbuf == NULL || qds == NULL))) {
		msg_seterr(err, errlen, "out of memory");
		goto out;
	}
	msg_dotstuff_init(&dq);
	msg_qp_init(&q);
	for (;;) {
		ssize_t r = msg_src_read(src, in, MSG_CHUNK, off + (off_t)pos,
		    err, errlen);

		if (r < 0)
			goto out;
		if (r == 0)
			break;
		pos += (uint64_t)r;
		if (qp) {
			size_t qn = msg_qp(&q, in, (size_t)r, qbuf);

			st->wire_qp += msg_dotstuff(&dq, qbuf, qn, qds);
		} else
			msg_count(&c, in, (size_t)r, st);
		if ((size_t)r < MSG_CHUNK)
			break;
	}
	if (qp) {
		size_t qn = msg_qp_finish(&q, qbuf);

		st->wire_qp += msg_dotstuff(&dq, qbuf, qn, qds);
		st->wire_qp += msg_dotstuff_finish(&dq, qds);
	} else {
		st->bytes = pos;
		if (c.cur > st->maxline)
			st->maxline = c.cur;
		if (!c.at_bol)
			st->wire += 2;
	}
	rc = 0;
out:
	free(in);
	free(qbuf);
	free(qds);
	return rc;
}

/* The MIME lines msg_stream adds for a body it encodes. */
static const char *msg_mime_lines(enum msg_body body, int qp)
{
	if (body != MSG_BODY_8BIT && body != MSG_BODY_QP)
		return "";
	return qp ? "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n" :
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n";
}

/* Header lines that start with '.' get one more byte on the wire. */
static uint64_t msg_header_dots(const char *s, size_t n)
{
	uint64_t dots = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' && (i == 0 || s[i - 1] == '\n'))
			dots++;
	return dots;
}

/* ---- 8-bit data for a server without 8BITMIME ---- */

static int msg_has8(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* The top Content-Transfer-Encoding line that replaces the user's. */
static int msg_cte_line(const struct msg_7bit *t, char *buf, size_t len)
{
	int n = snprintf(buf, len, "Content-Transfer-Encoding: %s\r\n",
	    t->cte_new);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The header sent without 8BITMIME, in wire bytes, blank line included. */
static uint64_t msg_head7_len(const struct msg *m)
{
	const struct msg_7bit *t = m->to7;
	uint64_t n = m->header_len + msg_header_dots(m->header, m->header_len)
	    + 2;
	char line[64];
	int ln;

	if (t->cte_new == NULL || (ln = msg_cte_line(t, line,
	    sizeof(line))) < 0)
		return n;
	return n - t->cte_len - msg_header_dots(m->header + t->cte_off,
	    t->cte_len) + (uint64_t)ln;
}

struct msg_count7 {
	struct msg_count c;
	struct msg_scan st;
};

static int msg_count_sink(void *ctx, const char *s, size_t n)
{
	struct msg_count7 *k = ctx;

	msg_count(&k->c, s, n, &k->st);
	return 0;
}

/*
 * Decides whether and how the message is made 7-bit (m->to7): needed for
 * 8-bit bytes in the header, or under the user's own MIME headers. For a
 * multipart, counts the converted body into st->wire7.
 */
static int msg_prepare_7bit(const struct msg_src *src, struct msg *m, struct msg_scan *st,
    const struct msg_hdr *ct, int nct, const struct msg_hdr *cte, int ncte,
    size_t cte_off, size_t cte_len, char *err, size_t errlen)
{
	struct msg_count7 k = { .c = { 1, 0, 0 } };
	struct msg_7bit *t;
	int hdr8 = msg_has8(m->header, m->header_len);

	if (!hdr8 && !(m->body == MSG_BODY_ASIS && st->eightbit))
		return 0;
	t = m->to7 = calloc(1, sizeof(*m->to7));
	if (t == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	if (hdr8) {
		msg_7bit_refuse(t, "the header has 8-bit bytes (in an address "
		    "or in a field outboxfs does not encode): write it in "
		    "ASCII");
		return 0;
	}
	if (nct > 1 || ncte > 1) {
		msg_7bit_refuse(t, "the message has two %s lines: keep one",
		    nct > 1 ? "Content-Type" : "Content-Transfer-Encoding");
		return 0;
	}
	if (msg_7bit_plan(t, ct ? ct->value : NULL, ct ? ct->value_len : 0,
	    cte ? cte->value : NULL, cte ? cte->value_len : 0, src,
	    m->body_off, m->body_len, err, errlen) < 0)
		return -1;
	t->cte_off = cte ? cte_off : m->header_len;
	t->cte_len = cte ? cte_len : 0;
	if (!t->ok || !t->multipart)
		return 0;
	if (msg_mime7_run(t, msg_count_sink, &k, src, m->body_off, m->body_len,
	    err, errlen) < 0)
		return -1;
	if (k.st.eightbit || k.st.maxline > MSG_LINE_MAX) {
		/* cannot happen: every 8-bit line was in a part converted */
		msg_7bit_refuse(t, "the MIME structure could not be "
		    "followed: encode the 8-bit parts as base64");
		return 0;
	}
	st->wire7 = k.st.wire + (k.c.at_bol ? 0 : 2);
	return 0;
}

int msg_check_7bit(const struct msg *m, char *err, size_t errlen)
{
	if (m->to7 == NULL || m->to7->ok)
		return 0;
	msg_seterr(err, errlen, "%s", m->to7->why);
	return -1;
}

uint64_t msg_size(const struct msg *m, int eightbit_ok)
{
	return eightbit_ok ? m->size_8bit : m->size_7bit;
}

/* ---- msg_prepare ---- */

void msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->from);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->message_id);
	free(m->subject);
	free(m->header);
	free(m->dsn_notify);
	free(m->dsn_ret);
	free(m->dsn_envid);
	free(m->to7);
	free(m->img);
	memset(m, 0, sizeof(*m));
}

static char *msg_trimdup(const char *s, size_t n)
{
	char *d;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The submitter's envelope recipients (msg_params env_rcpts), checked
 * and deduplicated as header ones are. */
static int msg_env_rcpts(struct msg_prep *w, char *err, size_t errlen)
{
	const struct msg_params *p = w->p;
	char why[200], shown[80];
	size_t i;

	if (p->env_rcpts == NULL)
		return 0;
	for (i = 0; i < p->env_nrcpts; i++) {
		const char *a = p->env_rcpts[i];
		char full[MSG_MAX_ADDR + 2];

		/* "root": looked up in the aliases, else completed, as an
		 * address without @ in To: is */
		w->q.last = 0;
		if (a != NULL && a[0] != '\0' && strchr(a, '@') == NULL &&
		    a[0] != '"' && p->qualify_domain != NULL) {
			int k = snprintf(full, sizeof(full), "%s@%s", a,
			    p->qualify_domain);

			if (k > 0 && (size_t)k < sizeof(full)) {
				a = full;
				w->q.last = 1;
			}
		}
		if (a == NULL || msg_check_addr(a, why, sizeof(why)) < 0) {
			msg_sanitize(a ? a : "", a ? strlen(a) : 0, shown,
			    sizeof(shown));
			msg_seterr(err, errlen, "envelope recipient %s: %s",
			    shown, a ? why : "missing");
			return -1;
		}
		if (msg_rcpt_cb(w, MSG_ADDR_MAILBOX, NULL, 0, a, err,
		    errlen) < 0)
			return -1;
	}
	return 0;
}

int msg_prepare(int fd, const struct msg_params *p, struct msg *m,
    char *err, size_t errlen)
{
	struct msg_src src = { fd, NULL, 0 };

	return msg_prepare_src(&src, p, m, err, errlen);
}

void msg_keep_image(struct msg *m, char *img, size_t len)
{
	free(m->img);
	m->img = img;
	m->img_len = len;
}

int msg_prepare_src(const struct msg_src *src, const struct msg_params *p,
    struct msg *m, char *err, size_t errlen)
{
	struct msg_prep w = { .p = p, .m = m, .err = err, .errlen = errlen,
	    .q = { .domain = p->qualify_domain } };
	struct buf hb = BUF_INIT(4 * MSG_MAX_HEADER + 4096);
	struct msg_first from_hdr = { NULL };
	struct msg_scan st;
	const struct msg_hdr *ct_h = NULL, *cte_h = NULL;
	size_t cte_off = 0, cte_len = 0;
	off_t body_off = 0;
	int nfrom = 0, has_date = 0, has_mime = 0, ok = 0, nct = 0, ncte = 0;
	time_t now = p->now ? p->now : time(NULL);
	char line[512];
	uint64_t head;

	memset(m, 0, sizeof(*m));
	if (msg_hblock_read(src, &w.b, err, errlen) < 0)
		goto out;
	body_off = w.b.body_off;

	for (size_t i = 0; i < w.b.nh; i++) {
		struct msg_hdr *h = &w.b.h[i];

		w.q.n = 0;
		if (p->env_rcpts == NULL && (msg_hdr_is(&w.b, h, "To") ||
		    msg_hdr_is(&w.b, h, "Cc") || msg_hdr_is(&w.b, h, "Bcc"))) {
			if (msg_addr_walk_q(h->value, h->value_len, &w.q,
			    msg_rcpt_cb, &w, err, errlen) < 0)
				goto field_err;
		} else if (msg_hdr_is(&w.b, h, "From")) {
			if (++nfrom > 1 && p->set_from != MSG_HDR_ON) {
				msg_seterr(err, errlen, "more than one From: "
				    "line");
				goto out;
			}
			if (from_hdr.addr != NULL)
				continue;
			if (msg_addr_walk_q(h->value, h->value_len, &w.q,
			    msg_first_cb, &from_hdr, err, errlen) < 0)
				goto field_err;
			if (from_hdr.addr == NULL) {
				msg_seterr(err, errlen, "empty From: line: "
				    "write an address or remove the line");
				goto out;
			}
		} else if (msg_hdr_is(&w.b, h, "Subject")) {
			if (m->subject == NULL &&
			    (m->subject = msg_trimdup(h->value,
			    h->value_len)) == NULL)
				goto oom;
		} else if (msg_hdr_is(&w.b, h, "Message-ID")) {
			if (m->message_id == NULL &&
			    (m->message_id = msg_trimdup(h->value,
			    h->value_len)) == NULL)
				goto oom;
		} else if (msg_hdr_is(&w.b, h, "Date")) {
			has_date = 1;
		} else if (msg_hdr_is(&w.b, h, "MIME-Version")) {
			has_mime = 1;
		} else if (msg_hdr_is(&w.b, h, "Content-Type")) {
			has_mime = 1;
			if (nct++ == 0)
				ct_h = h;
		} else if (msg_hdr_is(&w.b, h, "Content-Transfer-Encoding")) {
			has_mime = 1;
			if (ncte++ == 0)
				cte_h = h;
		} else if (msg_hdr_is(&w.b, h, "Attach")) {
			msg_seterr(err, errlen, "Attach: lines are only "
			    "understood when the message is submitted "
			    "through the outbox");
			goto out;
		}
		continue;
field_err:
		{
			/* prefix the field name to the walker's reason */
			char why[400];

			(void)snprintf(why, sizeof(why), "%s", err);
			msg_seterr(err, errlen, "%.*s: %s", (int)h->name_len,
			    w.b.buf + h->name, why);
			goto out;
		}
	}

	if (msg_env_rcpts(&w, err, errlen) < 0)
		goto out;
	/* the envelope sender: -f (unless allow_from_override is off and
	 * from is set), else from, else the From: line */
	if ((p->env_from && p->env_from[0]) || (p->from && p->from[0])) {
		int use_sender = p->env_from && p->env_from[0] &&
		    (!(p->from && p->from[0]) || !p->no_from_override);
		const char *env = use_sender ? p->env_from : p->from;
		char why[200], full[MSG_MAX_ADDR + 2];

		if (strchr(env, '@') == NULL && p->qualify_domain &&
		    env[0] != '"') {
			int k = snprintf(full, sizeof(full), "%s@%s", env,
			    p->qualify_domain);

			if (k > 0 && (size_t)k < sizeof(full))
				env = full;
		}
		if (msg_check_addr(env, why, sizeof(why)) < 0) {
			char shown[80];

			msg_sanitize(env, strlen(env), shown, sizeof(shown));
			msg_seterr(err, errlen, "%s (%s): %s", use_sender ?
			    "envelope sender" : "from in the "
			    "configuration", shown, why);
			goto out;
		}
		m->from = strdup(env);
	} else if (from_hdr.addr) {
		m->from = strdup(from_hdr.addr);
	} else {
		msg_seterr(err, errlen, "no sender: add a From: line or set "
		    "from in the configuration");
		goto out;
	}
	if (m->from == NULL)
		goto oom;
	if (!msg_is_ascii(m->from))
		m->smtputf8 = 1;
	if (m->nrcpts == 0) {
		msg_seterr(err, errlen, "no recipient: add a To:, Cc: or Bcc: "
		    "line");
		goto out;
	}
	if (m->subject == NULL && (m->subject = strdup("")) == NULL)
		goto oom;

	/* the header that is sent */
	for (size_t i = 0; i < w.b.nh; i++) {
		struct msg_hdr *h = &w.b.h[i];

		if ((msg_hdr_is(&w.b, h, "Bcc") || msg_hdr_is(&w.b, h,
		    "Resent-Bcc")) && !p->keep_bcc)
			continue;
		if (p->undisclosed && (msg_hdr_is(&w.b, h, "To") ||
		    msg_hdr_is(&w.b, h, "Cc") || msg_hdr_is(&w.b, h, "Bcc")))
			continue;
		if (p->set_from == MSG_HDR_ON && msg_hdr_is(&w.b, h, "From"))
			continue;
		if (h == cte_h)
			cte_off = hb.len;
		if (msg_emit_hdr(&w, h, &hb) < 0)
			goto out;
		if (h == cte_h)
			cte_len = hb.len - cte_off;
	}
	if (p->undisclosed && msg_add_line(&hb, "To",
	    "undisclosed-recipients:;", err, errlen) < 0)
		goto out;
	if ((p->set_from == MSG_HDR_ON ||
	    (p->set_from == MSG_HDR_AUTO && nfrom == 0)) &&
	    msg_add_from(&hb, p->from_full_name, m->from, err, errlen) < 0)
		goto out;
	if (!has_date && !p->no_date) {
		msg_date(now, line, sizeof(line));
		if (msg_add_line(&hb, "Date", line, err, errlen) < 0)
			goto out;
	}
	if (m->message_id == NULL && !p->no_msgid) {
		if (p->message_id != NULL)
			snprintf(line, sizeof(line), "%s", p->message_id);
		else if (msg_make_id(p, now, line, sizeof(line), err,
		    errlen) < 0)
			goto out;
		if (msg_add_line(&hb, "Message-ID", line, err, errlen) < 0)
			goto out;
		if ((m->message_id = strdup(line)) == NULL)
			goto oom;
	}

	if (msg_dsn(p, m, err, errlen) < 0)
		goto out;

	/* the body */
	if (msg_scan_body(src, body_off, 0, &st, err, errlen) < 0)
		goto out;
	m->body_off = body_off;
	m->body_len = st.bytes;
	m->body_8bit = st.eightbit;
	if (has_mime) {
		if (st.maxline > MSG_LINE_MAX) {
			msg_seterr(err, errlen, "the body has a line of %zu "
			    "octets (the limit is %d) and its own MIME "
			    "headers, so it cannot be re-encoded: encode that "
			    "part as quoted-printable or base64",
			    st.maxline, MSG_LINE_MAX);
			goto out;
		}
		if (st.nul) {
			msg_seterr(err, errlen, "the body contains NUL bytes "
			    "and has its own MIME headers: encode that part "
			    "as base64");
			goto out;
		}
		m->body = MSG_BODY_ASIS;
	} else if (st.maxline > MSG_LINE_MAX || st.nul)
		m->body = MSG_BODY_QP;
	else if (st.eightbit)
		m->body = MSG_BODY_8BIT;
	else
		m->body = MSG_BODY_7BIT;

	m->header = buf_take(&hb, &m->header_len);
	if (m->header == NULL)
		goto oom;
	if (msg_prepare_7bit(src, m, &st, ct_h, nct, cte_h, ncte, cte_off,
	    cte_len, err, errlen) < 0)
		goto out;
	if ((m->body == MSG_BODY_8BIT || m->body == MSG_BODY_QP ||
	    (m->to7 && m->to7->ok && m->to7->qp)) &&
	    msg_scan_body(src, body_off, 1, &st, err, errlen) < 0)
		goto out;
	head = m->header_len + msg_header_dots(m->header, m->header_len) + 2;
	switch (m->body) {
	case MSG_BODY_7BIT:
		m->size_8bit = m->size_7bit = head + st.wire;
		break;
	case MSG_BODY_ASIS:
		m->size_8bit = m->size_7bit = head + st.wire;
		if (m->to7 && m->to7->ok)
			m->size_7bit = msg_head7_len(m) + (m->to7->qp ?
			    st.wire_qp : st.wire7);
		break;
	case MSG_BODY_8BIT:
		m->size_8bit = head + strlen(msg_mime_lines(m->body, 0)) +
		    st.wire;
		m->size_7bit = head + strlen(msg_mime_lines(m->body, 1)) +
		    st.wire_qp;
		break;
	case MSG_BODY_QP:
		m->size_8bit = m->size_7bit = head +
		    strlen(msg_mime_lines(m->body, 1)) + st.wire_qp;
		break;
	}
	m->size = m->size_8bit > m->size_7bit ? m->size_8bit : m->size_7bit;
	if (p->max_size && m->size > p->max_size) {
		msg_seterr(err, errlen, "message too large: %llu bytes, "
		    "max_size is %llu", (unsigned long long)m->size,
		    (unsigned long long)p->max_size);
		goto out;
	}
	ok = 1;
	goto out;
oom:
	msg_seterr(err, errlen, "out of memory");
out:
	buf_free(&hb);
	free(from_hdr.addr);
	msg_hblock_free(&w.b);
	if (!ok) {
		msg_free(m);
		return -1;
	}
	return 0;
}

/* ---- msg_stream ---- */

static int msg_stream_sink(void *ctx, const char *p, size_t n);

struct msg_stream {
	const struct msg *m;
	struct msg_src src;         /* M's image, else its file */
	int qp;                     /* the body is encoded quoted-printable */
	int eightbit;               /* BODY=8BITMIME */
	int seven;                  /* no 8BITMIME: never a byte >= 0x80 */
	struct msg_mime7 *w;        /* a multipart made 7-bit, or NULL */
	struct msg_dotstuff ds;
	struct msg_qp q;
	uint64_t body_done;         /* file bytes consumed */
	int finished;
	char *in, *qbuf;
	char *obuf;                 /* wire bytes waiting for the caller */
	size_t olen, opos, ocap;
};

int msg_stream_open(const struct msg *m, int fd, int eightbit_ok,
    struct msg_stream **out, char *err, size_t errlen)
{
	struct msg_stream *s;
	const struct msg_7bit *t = eightbit_ok ? NULL : m->to7;
	const char *mime;
	size_t hlen, need, hcut = m->header_len, hrest = m->header_len;
	char cteline[64];
	int ctelen = 0;

	*out = NULL;
	if (!eightbit_ok && msg_check_7bit(m, err, errlen) < 0)
		return -1;
	if (t && t->cte_new) {
		ctelen = msg_cte_line(t, cteline, sizeof(cteline));
		if (ctelen < 0) {
			msg_seterr(err, errlen, "header too large");
			return -1;
		}
		hcut = t->cte_off;
		hrest = t->cte_off + t->cte_len;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto oom;
	s->m = m;
	s->src.fd = fd;
	s->src.img = m->img;
	s->src.len = m->img_len;
	s->seven = !eightbit_ok;
	s->qp = m->body == MSG_BODY_QP ||
	    (m->body == MSG_BODY_8BIT && !eightbit_ok) || (t && t->qp);
	s->eightbit = msg_sends_8bit(m, eightbit_ok);
	mime = msg_mime_lines(m->body, s->qp);
	hlen = m->header_len + (size_t)ctelen + strlen(mime) + 2;
	s->ocap = 2 * MSG_QP_OUT(MSG_CHUNK) + 2;
	need = 2 * hlen + 2;
	if (need > s->ocap)
		s->ocap = need;
	s->obuf = malloc(s->ocap);
	s->in = malloc(MSG_CHUNK);
	s->qbuf = malloc(MSG_QP_OUT(MSG_CHUNK));
	if (!s->obuf || !s->in || !s->qbuf)
		goto oom;
	if (t && t->multipart &&
	    (s->w = msg_mime7_new(t, msg_stream_sink, s)) == NULL)
		goto oom;
	msg_dotstuff_init(&s->ds);
	msg_qp_init(&s->q);
	s->olen = msg_dotstuff(&s->ds, m->header, hcut, s->obuf);
	s->olen += msg_dotstuff(&s->ds, cteline, (size_t)ctelen,
	    s->obuf + s->olen);
	s->olen += msg_dotstuff(&s->ds, m->header + hrest,
	    m->header_len - hrest, s->obuf + s->olen);
	s->olen += msg_dotstuff(&s->ds, mime, strlen(mime), s->obuf + s->olen);
	s->olen += msg_dotstuff(&s->ds, "\r\n", 2, s->obuf + s->olen);
	*out = s;
	return 0;
oom:
	msg_stream_free(s);
	msg_seterr(err, errlen, "out of memory");
	return -1;
}

int msg_sends_8bit(const struct msg *m, int eightbit_ok)
{
	return eightbit_ok && (m->body == MSG_BODY_8BIT ||
	    (m->body == MSG_BODY_ASIS && m->body_8bit));
}

int msg_stream_8bit(const struct msg_stream *s)
{
	return s->eightbit;
}

/* msg_mime7's output, dot-stuffed into obuf. One fill feeds it
 * MSG_M7_FEED bytes: with a held line and a part's header block that is
 * well under obuf's room; the check is for a broken invariant only. */
static int msg_stream_sink(void *ctx, const char *p, size_t n)
{
	struct msg_stream *s = ctx;

	if (n >= s->ocap / 2 || s->olen > s->ocap - 2 * n - 2)
		return -1;
	s->olen += msg_dotstuff(&s->ds, p, n, s->obuf + s->olen);
	return 0;
}

static int msg_stream_fill(struct msg_stream *s, char *err, size_t errlen)
{
	uint64_t left = s->m->body_len - s->body_done;
	size_t want = left < MSG_CHUNK ? (size_t)left : MSG_CHUNK;
	ssize_t r = 0;

	s->olen = s->opos = 0;
	if (s->w != NULL && want > MSG_M7_FEED)
		want = MSG_M7_FEED;
	if (want > 0) {
		r = msg_src_read(&s->src, s->in, want,
		    s->m->body_off + (off_t)s->body_done, err, errlen);
		if (r < 0)
			return -1;
		if ((size_t)r < want) {
			msg_seterr(err, errlen, "the message file became "
			    "shorter while it was sent");
			return -1;
		}
		s->body_done += (uint64_t)r;
		if (s->w != NULL) {
			if (msg_mime7_feed(s->w, s->in, (size_t)r, err,
			    errlen) < 0)
				return -1;
		} else if (s->qp) {
			size_t qn = msg_qp(&s->q, s->in, (size_t)r, s->qbuf);

			s->olen = msg_dotstuff(&s->ds, s->qbuf, qn, s->obuf);
		} else
			s->olen = msg_dotstuff(&s->ds, s->in, (size_t)r,
			    s->obuf);
	}
	if (s->body_done == s->m->body_len) {
		if (s->w != NULL && msg_mime7_finish(s->w, err, errlen) < 0)
			return -1;
		if (s->qp) {
			size_t qn = msg_qp_finish(&s->q, s->qbuf);

			s->olen += msg_dotstuff(&s->ds, s->qbuf, qn,
			    s->obuf + s->olen);
		}
		s->olen += msg_dotstuff_finish(&s->ds, s->obuf + s->olen);
		s->finished = 1;
	}
	if (s->seven && msg_has8(s->obuf, s->olen)) {
		msg_seterr(err, errlen, "the message changed after it was "
		    "prepared (8-bit data where there was none)");
		return -1;
	}
	return 0;
}

ssize_t msg_stream_read(struct msg_stream *s, char *buf, size_t cap,
    char *err, size_t errlen)
{
	size_t n = 0;

	while (n < cap) {
		size_t k;

		if (s->opos == s->olen) {
			if (s->finished)
				break;
			if (msg_stream_fill(s, err, errlen) < 0)
				return -1;
			continue;
		}
		k = s->olen - s->opos;
		if (k > cap - n)
			k = cap - n;
		memcpy(buf + n, s->obuf + s->opos, k);
		s->opos += k;
		n += k;
	}
	return (ssize_t)n;
}

void msg_stream_free(struct msg_stream *s)
{
	if (s == NULL)
		return;
	msg_mime7_free(s->w);
	free(s->in);
	free(s->qbuf);
	free(s->obuf);
	free(s);
}
