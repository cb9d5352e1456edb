/*
 * chat — the command/reply layer of a session: the state machine and its
 * names, the timeouts, the failure taxonomy, the transcript (and the
 * prologue kept of it), and the three primitives every exchange with the
 * server goes through: smtp_cmd, smtp_read_reply, smtp_reply_error.
 *
 * Every byte from the server passes through reply.c before anything
 * looks at it; every line goes to the transcript as the status file
 * shows it. Calls io.c and reply.c only. Must never print, keep global
 * state, put a secret into a transcript or an error, or go on after the
 * server fell out of step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/chat.h"

static const char *const smtp_state_names[SMTP_ST_COUNT] = {
	[SMTP_ST_INIT] = "INIT",
	[SMTP_ST_CONNECT] = "CONNECT",
	[SMTP_ST_TLS] = "TLS",
	[SMTP_ST_GREETING] = "GREETING",
	[SMTP_ST_EHLO] = "EHLO",
	[SMTP_ST_HELO] = "HELO",
	[SMTP_ST_STARTTLS] = "STARTTLS",
	[SMTP_ST_AUTH] = "AUTH",
	[SMTP_ST_READY] = "READY",
	[SMTP_ST_MAIL] = "MAIL",
	[SMTP_ST_RCPT] = "RCPT",
	[SMTP_ST_DATA] = "DATA",
	[SMTP_ST_BODY] = "BODY",
	[SMTP_ST_DOT] = "DOT",
	[SMTP_ST_RSET] = "RSET",
	[SMTP_ST_NOOP] = "NOOP",
	[SMTP_ST_QUIT] = "QUIT",
	[SMTP_ST_BROKEN] = "BROKEN",
};

const char *smtp_state_name(enum smtp_state st)
{
	if ((unsigned)st >= SMTP_ST_COUNT)
		return "?";
	return smtp_state_names[st];
}

void smtp_state(struct smtp_session *s, enum smtp_state st)
{
	char line[64];

	/* Once broken, a session stays broken: nothing may revive it. */
	if (s->state == SMTP_ST_BROKEN || s->state == st)
		return;
	if (s->p->trace != NULL) {
		snprintf(line, sizeof(line), "%s -> %s",
		    smtp_state_name(s->state), smtp_state_name(st));
		s->p->trace(s->tag, line);
	}
	s->state = st;
}

const char *smtp_fail_name(enum smtp_fail f)
{
	switch (f) {
	case SMTP_OK:           return "ok";
	case SMTP_FAIL_LOCAL:   return "local";
	case SMTP_FAIL_CONN:    return "connection";
	case SMTP_FAIL_TLS:     return "tls";
	case SMTP_FAIL_PROTO:   return "protocol";
	case SMTP_FAIL_AUTH:    return "auth";
	case SMTP_FAIL_TEMP:    return "temporary";
	case SMTP_FAIL_PERM:    return "permanent";
	}
	return "unknown";
}

/* RFC 5321 4.5.3.2 defaults, in milliseconds. */
static int smtp_tmo(int set, int def)
{
	return set > 0 ? set : def;
}

int smtp_connect_timeout(const struct smtp_params *p)
{
	return smtp_tmo(p->timeouts.connect, 30 * 1000);
}

int smtp_timeout_connect(const struct smtp_session *s)
{
	return smtp_connect_timeout(s->p);
}

int smtp_timeout_greeting(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.greeting, 5 * 60 * 1000);
}

int smtp_timeout_command(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.command, 5 * 60 * 1000);
}

int smtp_timeout_mail(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.mail, 5 * 60 * 1000);
}

int smtp_timeout_rcpt(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.rcpt, 5 * 60 * 1000);
}

int smtp_timeout_data(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.data, 2 * 60 * 1000);
}

int smtp_timeout_block(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.block, 3 * 60 * 1000);
}

int smtp_timeout_dot(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.dot, 10 * 60 * 1000);
}

int smtp_fail(struct smtp_error *err, enum smtp_fail fail, int temporary,
    const char *step, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->fail = fail;
	err->temporary = temporary;
	snprintf(err->step, sizeof(err->step), "%s", step);
	va_start(ap, fmt);
	/* A long text is cut: it is one line for a status file. */
	(void)vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

static void smtp_prologue_add(struct smtp_session *s, char dir,
    const char *line)
{
	size_t len = strlen(line), need;
	char *p;

	if (!s->in_prologue)
		return;
	need = s->prologue_len + len + 5;       /* "S: " line "\n" NUL */
	if (need > SMTP_PROLOGUE_MAX)
		return;
	if (need > s->prologue_cap) {
		size_t cap = s->prologue_cap ? s->prologue_cap : 1024;

		while (cap < need)
			cap *= 2;
		p = realloc(s->prologue, cap);
		if (p == NULL)
			return;         /* the prologue is a convenience */
		s->prologue = p;
		s->prologue_cap = cap;
	}
	p = s->prologue + s->prologue_len;
	p[0] = dir;
	p[1] = ':';
	p[2] = ' ';
	memcpy(p + 3, line, len);
	p[3 + len] = '\n';
	p[4 + len] = '\0';
	s->prologue_len += len + 4;
}

/* LINE kept for the transaction sent ahead (see ahead_log); a line
 * that does not fit is dropped, as the prologue drops them. */
static void smtp_ahead_add(struct smtp_session *s, char dir,
    const char *line)
{
	size_t len = strlen(line), need = s->ahead_len + len + 3;
	char *p;

	if (need > s->ahead_cap) {
		size_t cap = s->ahead_cap ? s->ahead_cap : 256;

		while (cap < need)
			cap *= 2;
		if (cap > SMTP_PROLOGUE_MAX || (p = realloc(s->ahead_log,
		    cap)) == NULL)
			return;
		s->ahead_log = p;
		s->ahead_cap = cap;
	}
	p = s->ahead_log + s->ahead_len;
	p[0] = dir;
	p[1] = ' ';
	memcpy(p + 2, line, len);
	p[2 + len] = '\n';
	s->ahead_len += len + 3;
}

void smtp_ahead_replay(struct smtp_session *s)
{
	char *p = s->ahead_log, *end = p + s->ahead_len, *nl;

	while (p != NULL && p < end && (nl = memchr(p, '\n', (size_t)(end -
	    p))) != NULL) {
		*nl = '\0';
		smtp_log(s, p[0], p + 2);
		p = nl + 1;
	}
	s->ahead_len = 0;
}

void smtp_log(struct smtp_session *s, char dir, const char *line)
{
	if (s->ahead_hold) {
		smtp_ahead_add(s, dir, line);
		return;
	}
	smtp_prologue_add(s, dir, line);
	if (s->p->transcript != NULL)
		s->p->transcript(s->tag, dir, line);
}

static void smtp_broken(struct smtp_session *s)
{
	smtp_state(s, SMTP_ST_BROKEN);
}

/* Fills *err for a failed read or write of STEP (an io_err RC). */
static int smtp_io_fail(struct smtp_session *s, const char *step, int rc,
    int timeout_ms, struct smtp_error *err)
{
	int e = io_last_errno(s->io);
	char ebuf[128];

	smtp_broken(s);
	if (rc == IO_ERR_TIMEOUT)
		return smtp_fail(err, SMTP_FAIL_CONN, 1, step,
		    "%s: no answer from server within %d s", step,
		    (timeout_ms + 999) / 1000);
	if (rc == IO_ERR_NOMEM)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, step,
		    "%s: out of memory", step);
	if (rc == IO_ERR_TLS)
		return smtp_fail(err, SMTP_FAIL_TLS, 1, step,
		    "%s: TLS error", step);
	if ((rc == IO_ERR_NET || rc == IO_ERR_CLOSED) && e != 0)
		return smtp_fail(err, SMTP_FAIL_CONN, 1, step, "%s: %s (%s)",
		    step, io_err_text(rc), strerror_r(e, ebuf, sizeof(ebuf)));
	return smtp_fail(err, SMTP_FAIL_CONN, 1, step, "%s: %s", step,
	    io_err_text(rc));
}

int smtp_cmd(struct smtp_session *s, const char *step, const char *line,
    const char *shown, struct smtp_error *err)
{
	int rc, tmo = smtp_timeout_command(s);

	if (strpbrk(line, "\r\n") != NULL)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, step,
		    "%s: a line break inside a command is refused", step);
	smtp_log(s, 'C', shown != NULL ? shown : line);
	rc = io_write(s->io, line, strlen(line), tmo);
	if (rc == 0)
		rc = io_write(s->io, "\r\n", 2, tmo);
	if (rc < 0)
		return smtp_io_fail(s, step, rc, tmo, err);
	return 0;
}

/* Copies up to 80 bytes of LINE, sanitized, for an error text. */
static void smtp_sanitize(char *dst, size_t cap, const char *line,
    size_t len)
{
	size_t i, n = len < cap - 1 ? len : cap - 1;

	if (n > 80)
		n = 80;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		dst[i] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
	}
	dst[n] = '\0';
}

int smtp_read_reply(struct smtp_session *s, const char *step, int timeout_ms,
    struct smtp_error *err)
{
	long long deadline = io_deadline(timeout_ms);
	enum reply_status st;
	char bad[96];
	size_t len;
	int rc;

	if (s->state == SMTP_ST_BROKEN)
		return smtp_fail(err, SMTP_FAIL_CONN, 1, step,
		    "%s: connection no longer usable", step);
	rc = io_flush(s->io, timeout_ms);
	if (rc < 0)
		return smtp_io_fail(s, step, rc, timeout_ms, err);
	reply_reset(&s->reply);
	for (;;) {
		rc = io_readline(s->io, s->line, sizeof(s->line), &len,
		    io_left(deadline));
		if (rc == IO_ERR_TOOLONG) {
			smtp_broken(s);
			return smtp_fail(err, SMTP_FAIL_PROTO, 1, step,
			    "%s: reply line longer than %zu bytes", step,
			    sizeof(s->line) - 1);
		}
		if (rc < 0)
			return smtp_io_fail(s, step, rc, timeout_ms, err);
		st = reply_feed(&s->reply, s->line, len);
		if (st == REPLY_MORE || st == REPLY_DONE)
			smtp_log(s, 'S', reply_line(&s->reply,
			    s->reply.nlines - 1));
		if (st == REPLY_DONE)
			return 0;
		if (st == REPLY_MORE)
			continue;
		smtp_broken(s);
		if (st == REPLY_NOMEM)
			return smtp_fail(err, SMTP_FAIL_LOCAL, 1, step,
			    "%s: out of memory", step);
		if (st == REPLY_TOOMANY)
			return smtp_fail(err, SMTP_FAIL_PROTO, 1, step,
			    "%s: reply of more than %d lines", step,
			    REPLY_MAX_LINES);
		smtp_sanitize(bad, sizeof(bad), s->line, len);
		smtp_log(s, 'S', bad);
		return smtp_fail(err, SMTP_FAIL_PROTO, 1, step,
		    "%s: malformed reply \"%s\"", step, bad);
	}
}

int smtp_reply_error(struct smtp_session *s, const char *step,
    struct smtp_error *err)
{
	const struct smtp_reply *r = &s->reply;
	const char *last = r->nlines ? reply_line(r, r->nlines - 1) : "";
	int c = r->code;

	if (c >= 400 && c < 500)
		smtp_fail(err, SMTP_FAIL_TEMP, 1, step,
		    "server answered %s with %s", step, last);
	else if (c >= 500 && c < 600)
		smtp_fail(err, SMTP_FAIL_PERM, 0, step,
		    "server answered %s with %s", step, last);
	else
		smtp_fail(err, SMTP_FAIL_PROTO, 1, step,
		    "unexpected reply to %s: %s", step, last);
	err->code = c;
	snprintf(err->enh, sizeof(err->enh), "%s", r->enh);
	if (c == 421 || err->fail == SMTP_FAIL_PROTO)
		smtp_broken(s);
	return -1;
}
