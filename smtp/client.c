/*
 * client — the SMTP session: connect, greeting, EHLO/HELO, the TLS and
 * AUTH hooks, the primitives every command goes through (smtp_cmd,
 * smtp_read_reply, smtp_reply_error), QUIT. The mail transaction itself
 * is in client_send.c.
 *
 * Every byte from the server passes through reply.c before anything
 * looks at it; every line goes to the transcript as the status file
 * shows it. Must never print, keep global state, put a secret into a
 * transcript or an error, or go on after the server fell out of step.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp/session.h"

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

void smtp_hostport(const char *host, const char *port, char *buf,
    size_t cap)
{
	int n;

	if (cap == 0)
		return;
	if (host == NULL)
		host = "?";
	if (port == NULL)
		port = "?";
	n = snprintf(buf, cap, strchr(host, ':') != NULL && host[0] != '[' ?
	    "[%s]:%s" : "%s:%s", host, port);
	if (n < 0)
		buf[0] = '\0';
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

int smtp_timeout_connect(const struct smtp_session *s)
{
	return smtp_tmo(s->p->timeouts.connect, 30 * 1000);
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

void smtp_log(struct smtp_session *s, char dir, const char *line)
{
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

/* Appends the mechanisms of an AUTH line (after "AUTH" and one ' ' or
 * '='), upper-cased and without duplicates, while they fit. */
static void smtp_caps_auth(struct smtp_caps *caps, const char *p)
{
	char mech[32];
	size_t n, used, i;
	const char *q;
	int dup;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		for (n = 0; p[n] != '\0' && p[n] != ' '; n++)
			;
		if (n == 0)
			break;
		if (n < sizeof(mech)) {
			for (i = 0; i < n; i++) {
				char c = p[i];

				if (c >= 'a' && c <= 'z')
					c = (char)(c - 'a' + 'A');
				if (!((c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || c == '-' ||
				    c == '_'))
					break;
				mech[i] = c;
			}
			mech[i] = '\0';
			used = strlen(caps->auth);
			/* skip invalid names and names already listed */
			dup = 0;
			for (q = caps->auth; i == n && q != NULL && *q != '\0';
			    q = strchr(q, ' '), q = q != NULL ? q + 1 : NULL)
				if (strncmp(q, mech, n) == 0 &&
				    (q[n] == ' ' || q[n] == '\0'))
					dup = 1;
			if (i == n && !dup &&
			    used + n + 2 <= sizeof(caps->auth)) {
				if (used > 0)
					caps->auth[used++] = ' ';
				memcpy(caps->auth + used, mech, n + 1);
			}
		}
		p += n;
	}
}

/* Whether the keyword at LINE is KW (case-insensitive), followed by the
 * end or a space. */
static int smtp_kw(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(line, kw, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

void smtp_caps_parse_line(struct smtp_caps *caps, const char *line)
{
	const char *p;
	uint64_t v = 0;
	int overflow = 0;

	if (smtp_kw(line, "SIZE")) {
		caps->has_size = 1;
		p = line + 4;
		while (*p == ' ')
			p++;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (v > (UINT64_MAX - 9) / 10)
				overflow = 1;
			else
				v = v * 10 + (uint64_t)(*p - '0');
		}
		/* An unreadable or absurd limit is treated as none. */
		caps->size = (overflow || (*p != '\0' && *p != ' ')) ? 0 : v;
	} else if (smtp_kw(line, "PIPELINING")) {
		caps->pipelining = 1;
	} else if (smtp_kw(line, "8BITMIME")) {
		caps->eightbitmime = 1;
	} else if (smtp_kw(line, "SMTPUTF8")) {
		caps->smtputf8 = 1;
	} else if (smtp_kw(line, "STARTTLS")) {
		caps->starttls = 1;
	} else if (smtp_kw(line, "ENHANCEDSTATUSCODES")) {
		caps->enhancedstatuscodes = 1;
	} else if (smtp_kw(line, "CHUNKING")) {
		caps->chunking = 1;
	} else if (smtp_kw(line, "DSN")) {
		caps->dsn = 1;
	} else if (strncasecmp(line, "AUTH", 4) == 0 &&
	    (line[4] == ' ' || line[4] == '=')) {
		smtp_caps_auth(caps, line + 5);
	}
}

static const char *smtp_helo_name(const struct smtp_session *s)
{
	return s->p->helo != NULL && s->p->helo[0] != '\0' ?
	    s->p->helo : "localhost";
}

int smtp_ehlo(struct smtp_session *s, struct smtp_error *err)
{
	char line[300];
	const char *l;
	size_t i;
	int n;

	memset(&s->caps, 0, sizeof(s->caps));
	smtp_state(s, SMTP_ST_EHLO);
	n = snprintf(line, sizeof(line), "EHLO %s", smtp_helo_name(s));
	if (n < 0 || (size_t)n >= sizeof(line))
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "EHLO",
		    "EHLO name longer than %zu bytes: fix domain",
		    sizeof(line) - 6);
	if (smtp_cmd(s, "EHLO", line, NULL, err) < 0 ||
	    smtp_read_reply(s, "EHLO", smtp_timeout_command(s), err) < 0)
		return -1;
	if (s->reply.code == 250) {
		s->caps.esmtp = 1;
		for (i = 1; i < s->reply.nlines; i++) {
			l = reply_line(&s->reply, i);
			if (strlen(l) > 4)
				smtp_caps_parse_line(&s->caps, l + 4);
		}
		return 0;
	}
	if (s->reply.code != 500 && s->reply.code != 502)
		return smtp_reply_error(s, "EHLO", err);
	smtp_state(s, SMTP_ST_HELO);
	memcpy(line, "HELO", 4);        /* same name, other verb */
	if (smtp_cmd(s, "HELO", line, NULL, err) < 0 ||
	    smtp_read_reply(s, "HELO", smtp_timeout_command(s), err) < 0)
		return -1;
	if (s->reply.code != 250)
		return smtp_reply_error(s, "HELO", err);
	return 0;
}

static struct smtp_session *smtp_session_new(const struct smtp_params *p)
{
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->p = p;
	s->tag = p->tag;
	s->in_prologue = 1;
	s->state = SMTP_ST_INIT;
	reply_init(&s->reply);
	return s;
}

/* Everything after the TCP connection: the opening of the session. */
static int smtp_open(struct smtp_session *s, struct smtp_error *err)
{
	if (s->p->tls == SMTP_TLS_IMPLICIT) {
		smtp_state(s, SMTP_ST_TLS);
		if (smtp_tls_connect(s, err) < 0)
			return -1;
	}
	smtp_state(s, SMTP_ST_GREETING);
	if (smtp_read_reply(s, "greeting", smtp_timeout_greeting(s), err) < 0)
		return -1;
	if (s->reply.code != 220)
		return smtp_reply_error(s, "greeting", err);
	if (smtp_ehlo(s, err) < 0)
		return -1;
	if (s->p->tls == SMTP_TLS_STARTTLS) {
		smtp_state(s, SMTP_ST_STARTTLS);
		if (smtp_starttls(s, err) < 0 || smtp_ehlo(s, err) < 0)
			return -1;
	}
	if (s->p->auth_mech != NULL) {
		smtp_state(s, SMTP_ST_AUTH);
		if (smtp_auth(s, err) < 0)
			return -1;
	}
	smtp_state(s, SMTP_ST_READY);
	s->in_prologue = 0;
	return 0;
}

static int smtp_start(const struct smtp_params *p, struct io *io,
    struct smtp_session **out, struct smtp_error *err)
{
	struct smtp_session *s = smtp_session_new(p);

	if (s == NULL) {
		io_close(io);
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "connect",
		    "out of memory");
	}
	s->io = io;
	if (smtp_open(s, err) < 0) {
		/* Say goodbye where the server still listens (a 554
		 * greeting, a refused EHLO or login). */
		smtp_quit(s);
		return -1;
	}
	*out = s;
	return 0;
}

int smtp_connect(const struct smtp_params *p, struct smtp_session **out,
    struct smtp_error *err)
{
	struct io *io;
	char ebuf[256];
	int rc;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (p->refuse != NULL)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "connect", "%s",
		    p->refuse);
	if (p->host == NULL || p->port == NULL)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "connect",
		    "no host or port configured");
	rc = io_connect_from(p->host, p->port, p->source_ip,
	    smtp_tmo(p->timeouts.connect, 30 * 1000), &io, ebuf,
	    sizeof(ebuf));
	if (rc < 0)
		return smtp_fail(err, rc == IO_ERR_NOMEM ? SMTP_FAIL_LOCAL :
		    SMTP_FAIL_CONN, 1, "connect", "%s", ebuf);
	return smtp_start(p, io, out, err);
}

int smtp_connect_fd(const struct smtp_params *p, int fd,
    struct smtp_session **out, struct smtp_error *err)
{
	struct io *io;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (io_from_fd(fd, &io) < 0) {
		close(fd);
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "connect",
		    "cannot use socket");
	}
	return smtp_start(p, io, out, err);
}

void smtp_set_tag(struct smtp_session *s, void *tag)
{
	s->tag = tag;
}

const struct smtp_caps *smtp_caps(const struct smtp_session *s)
{
	return &s->caps;
}

const char *smtp_server_desc(const struct smtp_session *s)
{
	struct smtp_session *w = (struct smtp_session *)s;
	const char *host = s->p->host != NULL ? s->p->host : "socket";
	const char *port = s->p->port != NULL ? s->p->port : "0";

	char hp[300];

	/* desc is a cache inside the session, rebuilt on each call. */
	smtp_hostport(host, port, hp, sizeof(hp));
	if (snprintf(w->desc, sizeof(w->desc), "%s %s%s%s", hp,
	    s->tls_desc[0] != '\0' ? s->tls_desc : "plain",
	    s->auth_desc[0] != '\0' ? " " : "", s->auth_desc) < 0)
		w->desc[0] = '\0';     /* a long one is cut, still ended */
	return w->desc;
}

const char *smtp_prologue(const struct smtp_session *s)
{
	return s->prologue != NULL ? s->prologue : "";
}

int smtp_alive(struct smtp_session *s)
{
	struct smtp_error err;
	struct pollfd p;

	if (s == NULL || s->state != SMTP_ST_READY || s->io == NULL)
		return 0;
	/* A server that closed the connection (or sent its 421) while it
	 * was idle: the socket is readable. */
	p.fd = io_fd(s->io);
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, 0) != 0)
		return 0;
	smtp_state(s, SMTP_ST_NOOP);
	if (smtp_cmd(s, "NOOP", "NOOP", NULL, &err) < 0 ||
	    smtp_read_reply(s, "NOOP", smtp_timeout_command(s), &err) < 0 ||
	    s->reply.code != 250) {
		smtp_state(s, SMTP_ST_BROKEN);
		return 0;
	}
	smtp_state(s, SMTP_ST_READY);
	return 1;
}

void smtp_quit(struct smtp_session *s)
{
	struct smtp_error err;
	int tmo;

	if (s == NULL)
		return;
	if (s->state != SMTP_ST_BROKEN && s->io != NULL) {
		smtp_state(s, SMTP_ST_QUIT);
		tmo = smtp_timeout_command(s);
		if (tmo > 10000)
			tmo = 10000;    /* QUIT waits briefly: all is done */
		if (smtp_cmd(s, "QUIT", "QUIT", NULL, &err) == 0)
			(void)smtp_read_reply(s, "QUIT", tmo, &err);
	}
	smtp_close(s);
}

void smtp_close(struct smtp_session *s)
{
	if (s == NULL)
		return;
	io_close(s->io);
	reply_free(&s->reply);
	free(s->prologue);
	free(s);
}
