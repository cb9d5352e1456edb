/*
 * msg_addr — RFC 5322 address lists (To, Cc, Bcc, From) and RFC 5321
 * mailbox rules for the envelope.
 *
 * An address that comes out of here goes into "MAIL FROM:<...>" or
 * "RCPT TO:<...>", so it must never carry a CR, LF, NUL, control
 * character, '<' or '>' outside quotes, or anything else that could end
 * or extend an SMTP command. Every refusal names the address and why.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

static int addr_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;               /* UTF-8 (RFC 6532) */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Says why C cannot stand in an address's WHERE; -1. */
static int addr_bad_char(int c, const char *where, char *err, size_t errlen)
{
	if (c == '<' || c == '>')
		msg_seterr(err, errlen, "< or > inside the address");
	else if (c == ' ' || c == '\t')
		msg_seterr(err, errlen, "space in address");
	else
		msg_seterr(err, errlen, "character '%c' not allowed in the %s",
		    c, where);
	return -1;
}

static const char *addr_ctl_reason(unsigned char c)
{
	if (c == '\r' || c == '\n')
		return "line break in address";
	if (c == '\0')
		return "NUL byte in address";
	return "control character in address";
}

static int addr_check_local(const char *s, size_t n, char *err,
    size_t errlen)
{
	if (n == 0) {
		msg_seterr(err, errlen, "nothing before @");
		return -1;
	}
	if (n > 64) {
		msg_seterr(err, errlen, "local part longer than 64 octets");
		return -1;
	}
	if (s[0] == '"') {
		/* quoted: the caller found the closing quote at n - 1 */
		for (size_t i = 1; i + 1 < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '\\')
				c = (unsigned char)s[++i];
			if (i + 1 >= n || c < 0x20 || c == 0x7f) {
				msg_seterr(err, errlen,
				    "bad character in quoted local part");
				return -1;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (i == 0) {
				msg_seterr(err, errlen,
				    "local part starts with a dot");
				return -1;
			}
			if (i + 1 == n) {
				msg_seterr(err, errlen,
				    "local part ends with a dot");
				return -1;
			}
			if (s[i + 1] == '.') {
				msg_seterr(err, errlen,
				    "two dots in a row in the local part");
				return -1;
			}
			continue;
		}
		if (addr_is_atext(c))
			continue;
		return addr_bad_char(c, "local part (quote it)", err, errlen);
	}
	return 0;
}

static int addr_check_literal(const char *s, size_t n, char *err,
    size_t errlen)
{
	char buf[64];
	unsigned char bin[16];

	if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(buf)) {
		msg_seterr(err, errlen, "bad address literal");
		return -1;
	}
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (strncmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, bin) == 1)
			return 0;
	} else if (inet_pton(AF_INET, buf, bin) == 1)
		return 0;
	msg_seterr(err, errlen, "bad address literal (use [192.0.2.1] or "
	    "[IPv6:2001:db8::1])");
	return -1;
}

static int addr_check_domain(const char *s, size_t n, char *err,
    size_t errlen)
{
	size_t label = 0;

	if (n == 0) {
		msg_seterr(err, errlen, "nothing after @ (missing domain)");
		return -1;
	}
	if (memchr(s, '@', n)) {
		msg_seterr(err, errlen, "two @ signs");
		return -1;
	}
	if (n > 255) {
		msg_seterr(err, errlen, "domain longer than 255 octets");
		return -1;
	}
	if (s[0] == '[')
		return addr_check_literal(s, n, err, errlen);
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (label == 0) {
				msg_seterr(err, errlen, i == 0 ?
				    "domain starts with a dot" : i == n ?
				    "domain ends with a dot" :
				    "two dots in a row in the domain");
				return -1;
			}
			if (s[i - 1] == '-') {
				msg_seterr(err, errlen,
				    "domain label ends with '-'");
				return -1;
			}
			label = 0;
			continue;
		}
		if (label == 0 && c == '-') {
			msg_seterr(err, errlen, "domain label starts with '-'");
			return -1;
		}
		if (++label > 63) {
			msg_seterr(err, errlen,
			    "domain label longer than 63 octets");
			return -1;
		}
		if (c >= 0x80 || c == '-' || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		return addr_bad_char(c, "domain", err, errlen);
	}
	return 0;
}

static int addr_check(const char *a, size_t n, char *err, size_t errlen)
{
	size_t at;
	int nonascii = 0;

	if (n == 0) {
		msg_seterr(err, errlen, "empty address");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c < 0x20 || c == 0x7f) {
			msg_seterr(err, errlen, "%s", addr_ctl_reason(c));
			return -1;
		}
		if (c >= 0x80)
			nonascii = 1;
	}
	if (nonascii && !msg_utf8_valid(a, n)) {
		msg_seterr(err, errlen, "not valid UTF-8");
		return -1;
	}
	if (n > MSG_MAX_ADDR) {
		msg_seterr(err, errlen, "longer than %d octets", MSG_MAX_ADDR);
		return -1;
	}
	if (a[0] == '"') {
		size_t i = 1;

		while (i < n && a[i] != '"')
			i += a[i] == '\\' ? 2 : 1;
		if (i >= n) {
			msg_seterr(err, errlen,
			    "unterminated quoted local part");
			return -1;
		}
		at = i + 1;
		if (at >= n || a[at] != '@') {
			msg_seterr(err, errlen, memchr(a + i, '@', n - i) ?
			    "text between the closing quote and @" :
			    "no @ sign (missing domain)");
			return -1;
		}
	} else {
		const char *p = memchr(a, '@', n);

		if (p == NULL) {
			msg_seterr(err, errlen, "no @ sign (missing domain)");
			return -1;
		}
		at = (size_t)(p - a);
	}
	if (addr_check_local(a, at, err, errlen) < 0)
		return -1;
	return addr_check_domain(a + at + 1, n - at - 1, err, errlen);
}

int msg_check_addr(const char *addr, char *err, size_t errlen)
{
	return addr_check(addr, strlen(addr), err, errlen);
}

/* ---- the address-list walker ---- */

enum addr_tok {
	TOK_END = 0,
	TOK_ATOM,
	TOK_QSTR,
	TOK_DLIT,
	TOK_SPECIAL,
};

struct addr_lex {
	const char *s;
	size_t len, pos;
	size_t elem;               /* where the current element started */
	char *err;
	size_t errlen;
	struct msg_qualify *q;     /* NULL: an address needs its '@' */
};

struct addr_token {
	enum addr_tok type;
	char c;                    /* for TOK_SPECIAL */
	size_t start, end;
	int ws;                    /* whitespace or a comment before it */
};

/* Fills err with "ELEMENT: reason", ELEMENT running from the start of the
 * current element to the next comma. */
static int addr_fail(struct addr_lex *l, const char *reason)
{
	char shown[80];
	size_t end = l->elem;

	while (end < l->len && l->s[end] != ',')
		end++;
	while (end > l->elem && (l->s[end - 1] == ' ' ||
	    l->s[end - 1] == '\t'))
		end--;
	msg_sanitize(l->s + l->elem, end - l->elem, shown, sizeof(shown));
	msg_seterr(l->err, l->errlen, "%s: %s", shown, reason);
	return -1;
}

static int addr_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Skips whitespace and (nested) comments. */
static int addr_skip_cfws(struct addr_lex *l, int *ws)
{
	while (l->pos < l->len) {
		unsigned char c = (unsigned char)l->s[l->pos];

		if (c == ' ' || c == '\t') {
			l->pos++;
			*ws = 1;
			continue;
		}
		if (c != '(')
			return 0;
		int depth = 0;

		*ws = 1;
		while (l->pos < l->len) {
			c = (unsigned char)l->s[l->pos++];
			if (addr_ctl(c))
				return addr_fail(l, addr_ctl_reason(c));
			if (c == '\\') {
				if (l->pos >= l->len)
					break;
				c = (unsigned char)l->s[l->pos++];
				if (addr_ctl(c))
					return addr_fail(l,
					    addr_ctl_reason(c));
			} else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				break;
		}
		if (depth != 0)
			return addr_fail(l, "unbalanced parenthesis");
	}
	return 0;
}

static int addr_next(struct addr_lex *l, struct addr_token *t)
{
	unsigned char c;

	t->ws = 0;
	if (addr_skip_cfws(l, &t->ws) < 0)
		return -1;
	t->start = l->pos;
	if (l->pos >= l->len) {
		t->type = TOK_END;
		t->end = l->pos;
		return 0;
	}
	c = (unsigned char)l->s[l->pos];
	if (addr_ctl(c))
		return addr_fail(l, addr_ctl_reason(c));
	if (c == '"' || c == '[') {
		char close = c == '"' ? '"' : ']';

		l->pos++;
		while (l->pos < l->len && l->s[l->pos] != close) {
			c = (unsigned char)l->s[l->pos];
			if (addr_ctl(c))
				return addr_fail(l, addr_ctl_reason(c));
			if (close == ']' && c == '[')
				return addr_fail(l, "bad address literal");
			if (c == '\\') {
				l->pos++;
				if (l->pos < l->len && addr_ctl(
				    (unsigned char)l->s[l->pos]))
					return addr_fail(l, addr_ctl_reason(
					    (unsigned char)l->s[l->pos]));
			}
			l->pos++;
		}
		if (l->pos >= l->len)
			return addr_fail(l, close == '"' ?
			    "unterminated quoted string" :
			    "unterminated [address literal]");
		l->pos++;
		t->type = close == '"' ? TOK_QSTR : TOK_DLIT;
		t->end = l->pos;
		return 0;
	}
	if (addr_is_atext(c)) {
		while (l->pos < l->len &&
		    addr_is_atext((unsigned char)l->s[l->pos]))
			l->pos++;
		t->type = TOK_ATOM;
		t->end = l->pos;
		return 0;
	}
	if (c == ')')
		return addr_fail(l, "unbalanced parenthesis");
	if (c == '\\')
		return addr_fail(l, "backslash outside quotes");
	l->pos++;
	t->type = TOK_SPECIAL;
	t->c = (char)c;
	t->end = l->pos;
	return 0;
}

static int addr_is_addrpart(const struct addr_token *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QSTR ||
	    t->type == TOK_DLIT ||
	    (t->type == TOK_SPECIAL && (t->c == '.' || t->c == '@'));
}

/* The display name being collected before '<' or ':', decoded. */
struct addr_phrase {
	char *p;                   /* caller's buffer, len + 1 bytes */
	size_t n;
};

static void addr_phrase_add(struct addr_phrase *ph, const char *s,
    const struct addr_token *t)
{
	if (ph->n > 0 && t->ws)
		ph->p[ph->n++] = ' ';
	if (t->type == TOK_QSTR) {
		for (size_t i = t->start + 1; i + 1 < t->end; i++) {
			if (s[i] == '\\' && i + 2 < t->end)
				i++;
			ph->p[ph->n++] = s[i];
		}
	} else {
		memcpy(ph->p + ph->n, s + t->start, t->end - t->start);
		ph->n += t->end - t->start;
	}
}

/* The address text being collected: tokens concatenated, without
 * whitespace or comments. */
struct addr_spec {
	char a[MSG_MAX_ADDR + 2];
	size_t n;
	int toolong;
	int badspace;              /* "bob smith@x": words not joined by . @ */
	int prev_joiner;           /* previous token was '.' or '@' */
	size_t ntok;
	size_t end;                /* in the value: after the last token */
};

static void addr_spec_reset(struct addr_spec *sp)
{
	sp->n = 0;
	sp->toolong = sp->badspace = 0;
	sp->prev_joiner = 0;
	sp->ntok = 0;
}

static void addr_spec_add(struct addr_spec *sp, const char *s,
    const struct addr_token *t)
{
	size_t n = t->end - t->start;
	int joiner = t->type == TOK_SPECIAL;

	if (sp->ntok > 0 && t->ws && !joiner && !sp->prev_joiner)
		sp->badspace = 1;
	sp->prev_joiner = joiner;
	sp->ntok++;
	sp->end = t->end;
	if (sp->n + n > MSG_MAX_ADDR) {
		sp->toolong = 1;
		return;
	}
	memcpy(sp->a + sp->n, s + t->start, n);
	sp->n += n;
	sp->a[sp->n] = '\0';
}

/* Whether A[0..N) has an '@' after its local part (quotes skipped). */
static int addr_has_domain(const char *a, size_t n)
{
	size_t i = 0;

	if (n > 0 && a[0] == '"') {
		for (i = 1; i < n && a[i] != '"'; i++)
			if (a[i] == '\\')
				i++;
		return i + 1 < n;
	}
	return memchr(a, '@', n) != NULL;
}

static int addr_emit(struct addr_lex *l, struct addr_spec *sp,
    const struct addr_phrase *ph, msg_addr_fn *fn, void *ctx)
{
	char why[160];

	if (sp->toolong)
		return addr_fail(l, "address longer than 320 octets");
	if (sp->n == 0)
		return addr_fail(l, "empty address <>");
	if (l->q != NULL)
		l->q->last = 0;
	if (l->q != NULL && l->q->domain != NULL && !addr_has_domain(sp->a,
	    sp->n)) {
		size_t dl = strlen(l->q->domain);

		if (sp->n + 1 + dl > MSG_MAX_ADDR)
			return addr_fail(l, "address longer than 320 octets "
			    "once completed with the mail domain");
		if (l->q->n >= MSG_MAX_QUALIFY)
			return addr_fail(l, "too many addresses without @");
		sp->a[sp->n] = '@';
		memcpy(sp->a + sp->n + 1, l->q->domain, dl);
		sp->n += 1 + dl;
		sp->a[sp->n] = '\0';
		l->q->at[l->q->n++] = sp->end;
		l->q->last = 1;
	}
	if (addr_check(sp->a, sp->n, why, sizeof(why)) < 0) {
		char shown[80];

		msg_sanitize(sp->a, sp->n, shown, sizeof(shown));
		msg_seterr(l->err, l->errlen, "%s: %s", shown, why);
		return -1;
	}
	return fn(ctx, MSG_ADDR_MAILBOX, ph->p, ph->n, sp->a, l->err,
	    l->errlen);
}

/* After '<': the address up to '>', an obsolete source route dropped. */
static int addr_angle(struct addr_lex *l, struct addr_spec *sp)
{
	struct addr_token t;
	int route = 0;

	addr_spec_reset(sp);
	for (;;) {
		if (addr_next(l, &t) < 0)
			return -1;
		if (t.type == TOK_END)
			return addr_fail(l, "missing >");
		if (t.type == TOK_SPECIAL && t.c == '>')
			break;
		if (sp->ntok == 0 && !route && t.type == TOK_SPECIAL &&
		    t.c == '@')
			route = 1;
		if (route > 0) {
			/* "@relay1,@relay2:" — RFC 5321 says ignore it */
			if (t.type == TOK_SPECIAL && t.c == ':')
				route = 2;
			if (route == 2) {
				route = -1;
				continue;
			}
			if (t.type == TOK_SPECIAL && t.c != '@' &&
			    t.c != ',' && t.c != '.')
				return addr_fail(l, "bad source route");
			continue;
		}
		if (t.type == TOK_SPECIAL && t.c == '<')
			return addr_fail(l, "< or > inside the address");
		if (!addr_is_addrpart(&t))
			return addr_fail(l, t.type == TOK_SPECIAL ?
			    "unexpected character inside <...>" :
			    "bad text inside <...>");
		addr_spec_add(sp, l->s, &t);
	}
	if (route > 0)
		return addr_fail(l, "bad source route");
	if (sp->badspace)
		return addr_fail(l, "space inside <...>");
	return 0;
}

int msg_addr_walk(const char *value, size_t len, msg_addr_fn *fn,
    void *ctx, char *err, size_t errlen)
{
	return msg_addr_walk_q(value, len, NULL, fn, ctx, err, errlen);
}

int msg_addr_walk_q(const char *value, size_t len, struct msg_qualify *q,
    msg_addr_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct addr_lex l = { value, len, 0, 0, err, errlen, q };
	struct addr_spec *sp;
	struct addr_phrase ph;
	struct addr_token t;
	int in_group = 0, rc = -1;

	sp = malloc(sizeof(*sp));
	ph.p = malloc(len + 1);
	if (sp == NULL || ph.p == NULL) {
		msg_seterr(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		int dummy = 0;

		if (addr_skip_cfws(&l, &dummy) < 0)
			goto out;
		l.elem = l.pos;
		addr_spec_reset(sp);
		ph.n = 0;
		/* a phrase or a bare address, up to what ends it */
		for (;;) {
			if (addr_next(&l, &t) < 0)
				goto out;
			if (!addr_is_addrpart(&t))
				break;
			addr_spec_add(sp, value, &t);
			addr_phrase_add(&ph, value, &t);
		}
		ph.p[ph.n] = '\0';
		if (t.type == TOK_SPECIAL && t.c == ':') {
			if (in_group) {
				addr_fail(&l, "a group inside a group");
				goto out;
			}
			if (fn(ctx, MSG_ADDR_GROUP_START, ph.p, ph.n, NULL,
			    err, errlen) < 0)
				goto out;
			in_group = 1;
			continue;
		}
		if (t.type == TOK_SPECIAL && t.c == '<') {
			if (addr_angle(&l, sp) < 0 ||
			    addr_emit(&l, sp, &ph, fn, ctx) < 0)
				goto out;
			if (addr_next(&l, &t) < 0)
				goto out;
			if (!(t.type == TOK_END || (t.type == TOK_SPECIAL &&
			    (t.c == ',' || t.c == ';')))) {
				addr_fail(&l, "text after >");
				goto out;
			}
		} else if (t.type == TOK_END || (t.type == TOK_SPECIAL &&
		    (t.c == ',' || t.c == ';'))) {
			if (sp->ntok > 0) {
				if (sp->badspace) {
					addr_fail(&l, "a name must be followed "
					    "by <address>");
					goto out;
				}
				ph.n = 0;
				ph.p[0] = '\0';
				if (addr_emit(&l, sp, &ph, fn, ctx) < 0)
					goto out;
			}
		} else {
			addr_fail(&l, t.type == TOK_SPECIAL && t.c == '>' ?
			    "> without <" : "unexpected character");
			goto out;
		}
		if (t.type == TOK_SPECIAL && t.c == ';') {
			if (!in_group) {
				addr_fail(&l, "; outside a group");
				goto out;
			}
			if (fn(ctx, MSG_ADDR_GROUP_END, "", 0, NULL, err,
			    errlen) < 0)
				goto out;
			in_group = 0;
			if (addr_next(&l, &t) < 0)
				goto out;
			if (!(t.type == TOK_END || (t.type == TOK_SPECIAL &&
			    t.c == ','))) {
				addr_fail(&l, "text after ;");
				goto out;
			}
		}
		if (t.type == TOK_END)
			break;
	}
	/* "team: a@x, b@y" without the ';' — closed by the end */
	if (in_group && fn(ctx, MSG_ADDR_GROUP_END, "", 0, NULL, err,
	    errlen) < 0)
		goto out;
	rc = 0;
out:
	free(sp);
	free(ph.p);
	return rc;
}

struct addr_list_ctx {
	char ***list;
	size_t *n;
};

static int addr_list_add(void *vctx, enum msg_addr_kind kind,
    const char *name, size_t namelen, const char *addr, char *err,
    size_t errlen)
{
	struct addr_list_ctx *c = vctx;
	char **nl, *dup;

	(void)name;
	(void)namelen;
	if (kind != MSG_ADDR_MAILBOX)
		return 0;
	dup = strdup(addr);
	nl = dup ? realloc(*c->list, (*c->n + 1) * sizeof(**c->list)) : NULL;
	if (nl == NULL) {
		free(dup);
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	nl[(*c->n)++] = dup;
	*c->list = nl;
	return 0;
}

int msg_parse_addrlist(const char *value, size_t len, char ***list,
    size_t *n, char *err, size_t errlen)
{
	struct addr_list_ctx c = { list, n };
	size_t n0 = *n;

	if (msg_addr_walk(value, len, addr_list_add, &c, err, errlen) < 0) {
		/* leave the list as it was */
		while (*n > n0)
			free((*list)[--*n]);
		return -1;
	}
	return 0;
}
