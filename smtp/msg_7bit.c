/*
 * msg_7bit — 8-bit text under the user's own MIME headers, made 7-bit for
 * a server that does not offer 8BITMIME (RFC 6152 forbids sending it
 * 8-bit bytes; RFC 1652 section 3 says to convert, or else to refuse).
 *
 * A single text body becomes quoted-printable by msg_stream's own
 * encoder. A multipart body is followed line by line: each part's
 * header block is parsed with the header parser of msg_hdr.c, and a text
 * part with 8-bit bytes and a 7bit/8bit (or no) transfer encoding is
 * re-encoded as quoted-printable, its Content-Transfer-Encoding line
 * rewritten. msg_7bit_plan walks the body once to find those parts and
 * anything that cannot be converted; msg_prepare walks it again through
 * the same converter to count the bytes (SIZE=), msg_stream a third
 * time to send them, so the count is the bytes sent.
 *
 * Must never hold more than a line and one part's header block, never
 * emit a line that could be taken for a boundary (a '-' that starts a
 * quoted-printable line is encoded), and never guess: a structure it
 * cannot follow is refused with what to fix, never sent half-converted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

#define MSG_M7_LINE   1024           /* body lines are <= 998 octets */
#define MSG_M7_HDRMAX (8 * 1024)     /* one part's header block */
#define MSG_M7_QPIN   256            /* bytes per msg_qp call */
#define MSG_M7_CHUNK  (16 * 1024)
#define MSG_7BIT_DETAIL 300          /* fits MSG_7BIT_WHY with the rest */

static const char msg_m7_prefix[] = "the message has 8-bit data outboxfs "
    "cannot convert and the server does not offer 8BITMIME: ";
static const char msg_m7_suffix[] = ", or use a server with 8BITMIME";

enum msg_cte {
	MSG_CTE_NONE = 0, MSG_CTE_7BIT, MSG_CTE_8BIT, MSG_CTE_BINARY,
	MSG_CTE_QP, MSG_CTE_BASE64, MSG_CTE_OTHER,
};

struct msg_ctype {
	char type[32], sub[64];         /* lower case; "" when unreadable */
	char boundary[MSG_MIME_BOUNDARY + 1];
	int bad_boundary;               /* given, but not a valid one */
};

/* ---- RFC 2045 field values ---- */

/* Skips spaces, tabs and (nested) comments. */
static size_t msg_m7_cfws(const char *v, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++) {
		if (depth > 0) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '(')
				depth++;
			else if (v[i] == ')')
				depth--;
			continue;
		}
		if (v[i] == '(')
			depth++;
		else if (v[i] != ' ' && v[i] != '\t')
			break;
	}
	return i;
}

static size_t msg_m7_token(const char *v, size_t n, size_t i)
{
	for (; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c))
			break;
	}
	return i;
}

static int msg_m7_copy_lower(char *out, size_t cap, const char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 :
		    s[i]);
	out[n] = '\0';
	return 0;
}

/* RFC 2046 5.1.1: 1..70 bchars, not ending in a space. */
static int msg_m7_boundary_ok(const char *b, size_t n)
{
	if (n == 0 || n > MSG_MIME_BOUNDARY || b[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= '0' && b[i] <= '9') ||
		    (b[i] >= 'a' && b[i] <= 'z') ||
		    (b[i] >= 'A' && b[i] <= 'Z') ||
		    strchr("'()+_,-./:=? ", b[i])))
			return 0;
	return 1;
}

/* type "/" subtype *(";" name "=" value). -1: not readable. */
static int msg_m7_ctype(const char *v, size_t n, struct msg_ctype *ct)
{
	size_t i, e;
	int have_b = 0;

	memset(ct, 0, sizeof(*ct));
	i = msg_m7_cfws(v, n, 0);
	e = msg_m7_token(v, n, i);
	if (msg_m7_copy_lower(ct->type, sizeof(ct->type), v + i, e - i) < 0)
		return -1;
	i = msg_m7_cfws(v, n, e);
	if (i >= n || v[i] != '/')
		return -1;
	i = msg_m7_cfws(v, n, i + 1);
	e = msg_m7_token(v, n, i);
	if (msg_m7_copy_lower(ct->sub, sizeof(ct->sub), v + i, e - i) < 0)
		return -1;
	for (i = e;;) {
		char val[MSG_MIME_BOUNDARY + 2];
		size_t vn = 0, ns;
		int toolong = 0;

		i = msg_m7_cfws(v, n, i);
		if (i >= n)
			break;
		if (v[i] != ';')
			return -1;
		i = msg_m7_cfws(v, n, i + 1);
		if (i >= n)
			break;          /* a trailing ';' is common */
		ns = i;
		e = msg_m7_token(v, n, i);
		if (e == ns)
			return -1;
		i = msg_m7_cfws(v, n, e);
		if (i >= n || v[i] != '=')
			return -1;
		i = msg_m7_cfws(v, n, i + 1);
		if (i < n && v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				if (vn < sizeof(val) - 1)
					val[vn++] = v[i];
				else
					toolong = 1;
			}
			if (i >= n)
				return -1;      /* unterminated */
			i++;
		} else {
			size_t ve = msg_m7_token(v, n, i);

			if (ve == i)
				return -1;
			if (ve - i < sizeof(val))
				memcpy(val, v + i, ve - i);
			vn = ve - i < sizeof(val) ? ve - i : 0;
			toolong = ve - i >= sizeof(val);
			i = ve;
		}
		if (e - ns != 8 || strncasecmp(v + ns, "boundary", 8) != 0)
			continue;
		if (have_b++ || toolong || !msg_m7_boundary_ok(val, vn)) {
			ct->bad_boundary = 1;
			continue;
		}
		memcpy(ct->boundary, val, vn);
		ct->boundary[vn] = '\0';
	}
	if (ct->bad_boundary)
		ct->boundary[0] = '\0';
	return 0;
}

static enum msg_cte msg_m7_cte(const char *v, size_t n)
{
	static const struct {
		const char *name;
		enum msg_cte cte;
	} map[] = {
		{ "7bit", MSG_CTE_7BIT }, { "8bit", MSG_CTE_8BIT },
		{ "binary", MSG_CTE_BINARY },
		{ "quoted-printable", MSG_CTE_QP },
		{ "base64", MSG_CTE_BASE64 },
	};
	size_t i = msg_m7_cfws(v, n, 0), e = msg_m7_token(v, n, i);

	if (msg_m7_cfws(v, n, e) != n || e == i)
		return MSG_CTE_OTHER;
	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (strlen(map[k].name) == e - i &&
		    strncasecmp(v + i, map[k].name, e - i) == 0)
			return map[k].cte;
	return MSG_CTE_OTHER;
}

static const char *msg_m7_cte_name(enum msg_cte c)
{
	switch (c) {
	case MSG_CTE_BINARY:
		return "binary";
	case MSG_CTE_QP:
		return "quoted-printable";
	case MSG_CTE_BASE64:
		return "base64";
	default:
		return "unknown";
	}
}

static int msg_m7_has8(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

void msg_7bit_refuse(struct msg_7bit *p, const char *fmt, ...)
{
	char detail[MSG_7BIT_DETAIL];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	p->ok = 0;
	(void)snprintf(p->why, sizeof(p->why), "%s%s%s", msg_m7_prefix,
	    detail, msg_m7_suffix);
}

/* 1: a leaf holding 8-bit bytes can be converted; 0: P refused. */
static int msg_m7_leaf_ok(struct msg_7bit *p, const char *what, int text,
    const char *type, const char *sub, enum msg_cte cte)
{
	if (!text) {
		msg_7bit_refuse(p, "%s (%s/%s) is not text: encode it as base64",
		    what, type, sub);
		return 0;
	}
	switch (cte) {
	case MSG_CTE_NONE:
	case MSG_CTE_7BIT:
	case MSG_CTE_8BIT:
		return 1;
	case MSG_CTE_BINARY:
		msg_7bit_refuse(p, "%s has Content-Transfer-Encoding: binary: "
		    "encode it as base64 or quoted-printable", what);
		return 0;
	case MSG_CTE_OTHER:
		msg_7bit_refuse(p, "%s has an unknown Content-Transfer-Encoding: "
		    "use 8bit, quoted-printable or base64", what);
		return 0;
	default:
		msg_7bit_refuse(p, "%s is declared %s but holds raw 8-bit bytes: "
		    "encode it as it says", what, msg_m7_cte_name(cte));
		return 0;
	}
}

/* ---- the multipart walker ---- */

enum msg_m7_state {
	MSG_M7_PREAMBLE,            /* before the first boundary of a level */
	MSG_M7_PHDR,                /* a part's header block */
	MSG_M7_BODY,                /* a leaf part's content */
	MSG_M7_EPILOGUE,            /* after a closing boundary */
};

struct msg_m7_level {
	char b[MSG_MIME_BOUNDARY + 1];
	size_t n;
	int digest;                 /* parts default to message/rfc822 */
};

struct msg_mime7 {
	const struct msg_7bit *p;   /* convert with this plan, or NULL */
	struct msg_7bit *plan;      /* planning: the plan being made */
	int stopped;                /* planning: refused, input ignored */
	msg_sink_fn *sink;
	void *ctx;
	struct msg_m7_level lv[MSG_MIME_DEPTH];
	int depth;
	enum msg_m7_state st;
	char line[MSG_M7_LINE];
	size_t llen;
	int skip_lf;                /* a CR ended the last line */
	char phdr[MSG_M7_HDRMAX];
	size_t plen;
	size_t part;                /* parts seen */
	/* the current leaf */
	int conv, eol_held, body8, text;
	enum msg_cte cte;
	char type[32], sub[64];
	struct msg_qp q;
	char qbuf[MSG_QP_OUT(MSG_M7_QPIN)];
};

/* A structure the plan would have refused: planning records the refusal
 * and stops; converting (the file changed since) fails. */
static int msg_m7_bad(struct msg_mime7 *w, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int msg_m7_bad(struct msg_mime7 *w, char *err, size_t errlen,
    const char *fmt, ...)
{
	char detail[MSG_7BIT_DETAIL];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (w->plan != NULL) {
		msg_7bit_refuse(w->plan, "%s", detail);
		w->stopped = 1;
		return 0;
	}
	msg_seterr(err, errlen, "the message changed after it was prepared "
	    "(%s)", detail);
	return -1;
}

static int msg_m7_emit(struct msg_mime7 *w, const char *s, size_t n,
    char *err, size_t errlen)
{
	if (w->sink == NULL || n == 0)
		return 0;
	if (w->sink(w->ctx, s, n) < 0) {
		msg_seterr(err, errlen, "the converted message does not fit "
		    "the output buffer");
		return -1;
	}
	return 0;
}

static int msg_m7_emit_line(struct msg_mime7 *w, const char *l, size_t n,
    int eol, char *err, size_t errlen)
{
	if (msg_m7_emit(w, l, n, err, errlen) < 0)
		return -1;
	return eol ? msg_m7_emit(w, "\r\n", 2, err, errlen) : 0;
}

static int msg_m7_qp(struct msg_mime7 *w, const char *s, size_t n, char *err,
    size_t errlen)
{
	while (n > 0) {
		size_t k = n < MSG_M7_QPIN ? n : MSG_M7_QPIN;
		size_t o = msg_qp(&w->q, s, k, w->qbuf);

		if (msg_m7_emit(w, w->qbuf, o, err, errlen) < 0)
			return -1;
		s += k;
		n -= k;
	}
	return 0;
}

/* The level whose delimiter L is (*close: a closing one), or -1. */
static int msg_m7_delim(const struct msg_mime7 *w, const char *l, size_t n,
    int *close)
{
	for (int k = w->depth - 1; k >= 0; k--) {
		const struct msg_m7_level *v = &w->lv[k];
		size_t i = 2 + v->n;

		if (n < i || l[0] != '-' || l[1] != '-' ||
		    memcmp(l + 2, v->b, v->n) != 0)
			continue;
		*close = n >= i + 2 && l[i] == '-' && l[i + 1] == '-';
		if (*close)
			i += 2;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n)
			return k;
	}
	return -1;
}

/* The end of a leaf: planning decides it, converting closes the QP. */
static int msg_m7_end_leaf(struct msg_mime7 *w, char *err, size_t errlen)
{
	if (w->plan != NULL) {
		char what[48];

		if (!w->body8)
			return 0;
		(void)snprintf(what, sizeof(what), "MIME part %zu", w->part);
		if (!msg_m7_leaf_ok(w->plan, what, w->text, w->type, w->sub,
		    w->cte)) {
			w->stopped = 1;
			return 0;
		}
		w->plan->conv[(w->part - 1) / 8] |=
		    (unsigned char)(1u << ((w->part - 1) % 8));
		return 0;
	}
	if (w->conv) {
		size_t o = msg_qp_finish(&w->q, w->qbuf);

		if (msg_m7_emit(w, w->qbuf, o, err, errlen) < 0)
			return -1;
		/* the line end before a boundary belongs to the boundary */
		if (w->eol_held && msg_m7_emit(w, "\r\n", 2, err, errlen) < 0)
			return -1;
	}
	w->conv = w->eol_held = 0;
	return 0;
}

/* Emits a part's header block, the CTE field made NEWCTE (NULL: kept),
 * or added when there is none and ADD. */
static int msg_m7_emit_phdr(struct msg_mime7 *w, const struct msg_hblock *b,
    const struct msg_hdr *cte, const char *newcte, int add, char *err,
    size_t errlen)
{
	for (size_t i = 0; i < b->nh; i++) {
		const struct msg_hdr *h = &b->h[i];

		if (h == cte && newcte != NULL) {
			if (msg_m7_emit(w, "Content-Transfer-Encoding: ", 27,
			    err, errlen) < 0 ||
			    msg_m7_emit(w, newcte, strlen(newcte), err,
			    errlen) < 0 ||
			    msg_m7_emit(w, "\r\n", 2, err, errlen) < 0)
				return -1;
			continue;
		}
		if (msg_m7_emit(w, b->buf + h->raw, h->raw_end - h->raw, err,
		    errlen) < 0)
			return -1;
	}
	if (cte == NULL && add &&
	    msg_m7_emit(w, "Content-Transfer-Encoding: quoted-printable\r\n",
	    45, err, errlen) < 0)
		return -1;
	return msg_m7_emit(w, "\r\n", 2, err, errlen);
}

/* The blank line after a part's header block: what the part is. */
static int msg_m7_part(struct msg_mime7 *w, char *err, size_t errlen)
{
	struct msg_hblock b;
	const struct msg_hdr *ct = NULL, *cte = NULL;
	struct msg_ctype t;
	char why[256];
	int rc = -1, nct = 0, ncte = 0, multi;

	memset(&b, 0, sizeof(b));
	w->part++;
	if (w->part > MSG_MIME_PARTS)
		return msg_m7_bad(w, err, errlen, "more than %d MIME parts",
		    MSG_MIME_PARTS);
	if (w->plen > 0) {
		b.buf = w->phdr;
		b.got = w->plen;
		if (msg_hblock_parse(&b, 1, why, sizeof(why)) < 0) {
			rc = msg_m7_bad(w, err, errlen, "the headers of MIME "
			    "part %zu cannot be read (%s): fix them", w->part,
			    why);
			goto out;
		}
	}
	if (msg_m7_has8(w->phdr, w->plen)) {
		rc = msg_m7_bad(w, err, errlen, "MIME part %zu has 8-bit bytes "
		    "in its headers: encode them (RFC 2047)", w->part);
		goto out;
	}
	for (size_t i = 0; i < b.nh; i++) {
		if (msg_hdr_is(&b, &b.h[i], "Content-Type") && nct++ == 0)
			ct = &b.h[i];
		if (msg_hdr_is(&b, &b.h[i], "Content-Transfer-Encoding") &&
		    ncte++ == 0)
			cte = &b.h[i];
	}
	if (nct > 1 || ncte > 1) {
		rc = msg_m7_bad(w, err, errlen, "MIME part %zu has two %s "
		    "lines: keep one", w->part, nct > 1 ? "Content-Type" :
		    "Content-Transfer-Encoding");
		goto out;
	}
	if (ct == NULL) {
		memset(&t, 0, sizeof(t));
		(void)snprintf(t.type, sizeof(t.type), "%s",
		    w->lv[w->depth - 1].digest ? "message" : "text");
		(void)snprintf(t.sub, sizeof(t.sub), "%s",
		    w->lv[w->depth - 1].digest ? "rfc822" : "plain");
	} else if (msg_m7_ctype(ct->value, ct->value_len, &t) < 0) {
		(void)snprintf(t.type, sizeof(t.type), "unreadable");
		(void)snprintf(t.sub, sizeof(t.sub), "type");
	}
	w->cte = cte ? msg_m7_cte(cte->value, cte->value_len) : MSG_CTE_NONE;
	multi = strcmp(t.type, "multipart") == 0;
	if (multi) {
		struct msg_m7_level *v;

		if (t.boundary[0] == '\0') {
			rc = msg_m7_bad(w, err, errlen, "MIME part %zu is a "
			    "multipart without a valid boundary: fix its "
			    "Content-Type", w->part);
			goto out;
		}
		if (w->cte != MSG_CTE_NONE && w->cte != MSG_CTE_7BIT &&
		    w->cte != MSG_CTE_8BIT) {
			rc = msg_m7_bad(w, err, errlen, "MIME part %zu is a "
			    "multipart with Content-Transfer-Encoding: %s: "
			    "use 7bit", w->part, msg_m7_cte_name(w->cte));
			goto out;
		}
		if (w->depth == MSG_MIME_DEPTH) {
			rc = msg_m7_bad(w, err, errlen, "MIME parts nested "
			    "more than %d deep", MSG_MIME_DEPTH);
			goto out;
		}
		v = &w->lv[w->depth++];
		v->n = strlen(t.boundary);
		memcpy(v->b, t.boundary, v->n + 1);
		v->digest = strcmp(t.sub, "digest") == 0;
		w->st = MSG_M7_PREAMBLE;
		rc = w->plan ? 0 : msg_m7_emit_phdr(w, &b, cte,
		    w->cte == MSG_CTE_8BIT ? "7bit" : NULL, 0, err, errlen);
		goto out;
	}
	w->st = MSG_M7_BODY;
	w->text = strcmp(t.type, "text") == 0;
	memcpy(w->type, t.type, sizeof(w->type));
	memcpy(w->sub, t.sub, sizeof(w->sub));
	w->body8 = w->eol_held = 0;
	w->conv = w->p != NULL &&
	    (w->p->conv[(w->part - 1) / 8] >> ((w->part - 1) % 8) & 1);
	if (w->conv) {
		msg_qp_init(&w->q);
		w->q.nodash = 1;
	}
	rc = w->plan ? 0 : msg_m7_emit_phdr(w, &b, cte,
	    w->conv ? "quoted-printable" : NULL, w->conv, err, errlen);
out:
	b.buf = NULL;               /* w->phdr */
	msg_hblock_free(&b);
	return rc;
}

static int msg_m7_line(struct msg_mime7 *w, const char *l, size_t n,
    int eol, char *err, size_t errlen)
{
	int k, close = 0;

	if (w->stopped)
		return 0;
	if (w->st == MSG_M7_PHDR) {
		if (n == 0)
			return msg_m7_part(w, err, errlen);
		if (w->plen + n + 2 > sizeof(w->phdr))
			return msg_m7_bad(w, err, errlen, "the headers of MIME "
			    "part %zu are over %d KiB", w->part + 1,
			    MSG_M7_HDRMAX / 1024);
		memcpy(w->phdr + w->plen, l, n);
		memcpy(w->phdr + w->plen + n, "\r\n", 2);
		w->plen += n + 2;
		return 0;
	}
	k = msg_m7_delim(w, l, n, &close);
	if (k >= 0) {
		if (k != w->depth - 1)
			return msg_m7_bad(w, err, errlen, "a multipart inside "
			    "MIME part %zu has no closing boundary: fix the "
			    "boundaries", w->part);
		if (w->st == MSG_M7_BODY && msg_m7_end_leaf(w, err, errlen) < 0)
			return -1;
		if (w->stopped)
			return 0;
		if (msg_m7_emit_line(w, l, n, eol, err, errlen) < 0)
			return -1;
		if (close) {
			w->depth--;
			w->st = MSG_M7_EPILOGUE;
		} else {
			w->st = MSG_M7_PHDR;
			w->plen = 0;
		}
		return 0;
	}
	if (w->st != MSG_M7_BODY) {
		if (msg_m7_has8(l, n))
			return msg_m7_bad(w, err, errlen, "8-bit text outside "
			    "any MIME part (before the first or after the last "
			    "boundary): remove it");
		return msg_m7_emit_line(w, l, n, eol, err, errlen);
	}
	if (!w->conv) {
		if (msg_m7_has8(l, n))
			w->body8 = 1;
		return msg_m7_emit_line(w, l, n, eol, err, errlen);
	}
	if (w->eol_held && msg_m7_qp(w, "\n", 1, err, errlen) < 0)
		return -1;
	w->eol_held = eol;
	return msg_m7_qp(w, l, n, err, errlen);
}

struct msg_mime7 *msg_mime7_new(const struct msg_7bit *p, msg_sink_fn *sink,
    void *ctx)
{
	struct msg_mime7 *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->p = p;
	w->sink = sink;
	w->ctx = ctx;
	w->depth = 1;
	w->lv[0].n = strlen(p->boundary);
	memcpy(w->lv[0].b, p->boundary, w->lv[0].n + 1);
	w->lv[0].digest = p->digest;
	w->st = MSG_M7_PREAMBLE;
	return w;
}

void msg_mime7_free(struct msg_mime7 *w)
{
	free(w);
}

int msg_mime7_feed(struct msg_mime7 *w, const char *in, size_t n,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < n && !w->stopped; i++) {
		char c = in[i];

		if (w->skip_lf) {
			w->skip_lf = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			w->skip_lf = c == '\r';
			if (msg_m7_line(w, w->line, w->llen, 1, err,
			    errlen) < 0)
				return -1;
			w->llen = 0;
			continue;
		}
		if (w->llen == sizeof(w->line))
			return msg_m7_bad(w, err, errlen, "a line over %d "
			    "octets", MSG_M7_LINE);
		w->line[w->llen++] = c;
	}
	return 0;
}

int msg_mime7_finish(struct msg_mime7 *w, char *err, size_t errlen)
{
	if (w->llen > 0 && msg_m7_line(w, w->line, w->llen, 0, err,
	    errlen) < 0)
		return -1;
	w->llen = 0;
	if (w->stopped)
		return 0;
	if (w->depth > 0)
		return msg_m7_bad(w, err, errlen, "the multipart body ends "
		    "without its closing boundary (--%s--): fix the "
		    "boundaries", w->lv[w->depth - 1].b);
	return 0;
}

/* ---- the top-level decision ---- */

static int msg_m7_walk(struct msg_mime7 *w, const struct msg_src *src,
    off_t off, uint64_t len, char *err, size_t errlen)
{
	char *in = malloc(MSG_M7_CHUNK);
	uint64_t pos = 0;
	int rc = -1;

	if (in == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	while (pos < len && !w->stopped) {
		size_t want = len - pos < MSG_M7_CHUNK ? (size_t)(len - pos) :
		    MSG_M7_CHUNK;
		ssize_t r = msg_src_read(src, in, want, off + (off_t)pos,
		    err, errlen);

		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if (msg_mime7_feed(w, in, (size_t)r, err, errlen) < 0)
			goto out;
		pos += (uint64_t)r;
	}
	rc = msg_mime7_finish(w, err, errlen);
out:
	free(in);
	return rc;
}

int msg_7bit_plan(struct msg_7bit *p, const char *ctv, size_t ctlen,
    const char *ctev, size_t ctelen, const struct msg_src *src, off_t off,
    uint64_t len, char *err, size_t errlen)
{
	enum msg_cte cte = ctev ? msg_m7_cte(ctev, ctelen) : MSG_CTE_NONE;
	struct msg_ctype t;
	struct msg_mime7 *w;
	int rc;

	p->ok = 1;
	p->why[0] = '\0';
	p->qp = p->multipart = p->digest = 0;
	p->cte_new = NULL;
	p->nparts = 0;
	memset(p->conv, 0, sizeof(p->conv));
	if (ctv == NULL) {
		memset(&t, 0, sizeof(t));
		(void)snprintf(t.type, sizeof(t.type), "text");
		(void)snprintf(t.sub, sizeof(t.sub), "plain");
	} else if (msg_m7_ctype(ctv, ctlen, &t) < 0) {
		(void)snprintf(t.type, sizeof(t.type), "unreadable");
		(void)snprintf(t.sub, sizeof(t.sub), "type");
	}
	if (strcmp(t.type, "multipart") != 0) {
		if (msg_m7_leaf_ok(p, "the body", strcmp(t.type, "text") == 0,
		    t.type, t.sub, cte)) {
			p->qp = 1;
			p->cte_new = "quoted-printable";
		}
		return 0;
	}
	if (t.boundary[0] == '\0') {
		msg_7bit_refuse(p, "the body is a multipart without a valid "
		    "boundary: fix its Content-Type");
		return 0;
	}
	if (cte != MSG_CTE_NONE && cte != MSG_CTE_7BIT &&
	    cte != MSG_CTE_8BIT) {
		msg_7bit_refuse(p, "the body is a multipart with "
		    "Content-Transfer-Encoding: %s: use 7bit",
		    msg_m7_cte_name(cte));
		return 0;
	}
	p->multipart = 1;
	memcpy(p->boundary, t.boundary, sizeof(p->boundary));
	p->digest = strcmp(t.sub, "digest") == 0;
	if (cte == MSG_CTE_8BIT)
		p->cte_new = "7bit";
	w = msg_mime7_new(p, NULL, NULL);
	if (w == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	w->p = NULL;
	w->plan = p;
	rc = msg_m7_walk(w, src, off, len, err, errlen);
	if (rc == 0 && p->ok)
		p->nparts = w->part;
	msg_mime7_free(w);
	return rc;
}

int msg_mime7_run(const struct msg_7bit *p, msg_sink_fn *sink, void *ctx,
    const struct msg_src *src, off_t off, uint64_t len, char *err,
    size_t errlen)
{
	struct msg_mime7 *w = msg_mime7_new(p, sink, ctx);
	int rc;

	if (w == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	rc = msg_m7_walk(w, src, off, len, err, errlen);
	msg_mime7_free(w);
	return rc;
}
