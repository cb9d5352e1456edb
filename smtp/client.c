/*
 * client — the SMTP session: connect, greeting, EHLO/HELO, the TLS and
 * AUTH hooks, NOOP, QUIT. The mail transaction itself is in
 * client_send.c; every command and reply goes through chat.c.
 *
 * The top of smtp/: it calls the layers below it (tls.c, auth.c, chat.c,
 * io.c) and nothing there calls back into it. Must never print, keep
 * global state, or go on after the server fell out of step.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtp/auth.h"
#include "smtp/chat.h"
#include "smtp/tls.h"

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

/* Resets s->caps and runs EHLO (HELO after 500/502), parsing the
 * capabilities. Used at connect and again after STARTTLS. */
static int smtp_ehlo(struct smtp_session *s, struct smtp_error *err)
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
	    smtp_connect_timeout(p), &io, ebuf,
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
	 * was idle: the socket is readable, or bytes it sent are read
	 * already (into our buffer or TLS's), which would be taken for
	 * the reply to what we send next. */
	p.fd = io_fd(s->io);
	p.events = POLLIN;
	p.revents = 0;
	if (io_pending(s->io) > 0 || poll(&p, 1, 0) != 0)
		return 0;
	if (s->caps.pipelining) {
		s->check_first = 1;
		return 1;
	}
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
	/* (an envelope sent ahead and never followed: the server drops
	 * that transaction when the connection closes; a "." whose reply
	 * is owed is not sent behind a QUIT: that message was not taken) */
	if (s->has_pend)
		io_unwrite(s->io, 0);
	if (s->state != SMTP_ST_BROKEN && s->io != NULL &&
	    s->ahead_m == NULL && !s->has_pend) {
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
	free(s->ahead_log);
	free(s);
}
