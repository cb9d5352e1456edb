/*
 * client_send — one mail transaction on an open session: MAIL FROM, one
 * RCPT TO per recipient, DATA, the streamed body, the final "." and its
 * reply, with PIPELINING (RFC 2920) where the server offers it.
 *
 * The body is streamed from the message file through msg_stream in
 * blocks: it never sits in memory whole. Must never send DATA with no
 * recipient accepted on purpose, never end a half-sent body with "."
 * (a read error closes the connection instead), and never pipeline QUIT
 * behind the final dot.
 *
 * Without 8BITMIME, a message whose 8-bit data cannot be made 7-bit
 * (msg_check_7bit) fails before MAIL FROM; SIZE= is msg_size for the
 * server at hand, the exact count of the bytes streamed.
 *
 * Pipelining choice: MAIL, every RCPT and DATA go out in one write. When
 * every RCPT was refused but the server still answers DATA with 354, the
 * client sends "." at once (an empty message the server must refuse, as
 * it has no recipient), reads and ignores that reply, and reports the
 * RCPT errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/chat.h"
#include "smtp/msg.h"

#define SMTP_BLOCK  (64 * 1024)          /* bytes per msg_stream_read */

/* Copies the reply that ended the transaction into the result. */
static void smtp_tx_reply(struct smtp_tx *t)
{
	const struct smtp_reply *r = &t->s->reply;

	t->res->code = r->code;
	snprintf(t->res->enh, sizeof(t->res->enh), "%s", r->enh);
	snprintf(t->res->reply, sizeof(t->res->reply), "%s",
	    r->nlines ? reply_line(r, r->nlines - 1) : "");
}

static void smtp_rcpt_set(struct smtp_rcpt_result *rr,
    const struct smtp_reply *r)
{
	rr->code = r->code;
	snprintf(rr->enh, sizeof(rr->enh), "%s", r->enh);
	snprintf(rr->text, sizeof(rr->text), "%s", reply_last_text(r));
	if (r->code >= 200 && r->code < 300)
		rr->state = SMTP_RCPT_PENDING;  /* accepted, not delivered */
	else if (r->code >= 400 && r->code < 500)
		rr->state = SMTP_RCPT_TEMP;
	else
		rr->state = SMTP_RCPT_PERM;
}

static int smtp_rcpt_accepted(const struct smtp_rcpt_result *rr)
{
	return rr->state == SMTP_RCPT_PENDING && rr->code >= 200 &&
	    rr->code < 300;
}

/* Every accepted recipient gets the outcome of the data. */
static void smtp_tx_settle(struct smtp_tx *t)
{
	const struct smtp_reply *r = &t->s->reply;
	size_t i;

	for (i = 0; i < t->nrcpts; i++) {
		struct smtp_rcpt_result *rr = &t->res->rcpts[i];

		if (!smtp_rcpt_accepted(rr))
			continue;
		if (r->code >= 200 && r->code < 300)
			rr->state = SMTP_RCPT_OK;  /* keeps the RCPT reply */
		else
			smtp_rcpt_set(rr, r);
	}
}

/* The error when no recipient was accepted: every RCPT reply in one
 * line; temporary when any of them was. */
static int smtp_tx_norcpt(struct smtp_tx *t)
{
	char text[sizeof(t->err->text)];
	const struct smtp_rcpt_result *first = NULL;
	size_t i, used;
	int temp = 0, n;

	used = (size_t)snprintf(text, sizeof(text), "no recipient accepted:");
	for (i = 0; i < t->nrcpts; i++) {
		const struct smtp_rcpt_result *rr = &t->res->rcpts[i];

		if (rr->state == SMTP_RCPT_TEMP)
			temp = 1;
		if (first == NULL)
			first = rr;
		if (used >= sizeof(text))
			continue;
		n = snprintf(text + used, sizeof(text) - used, "%s %s %d%s%s %s",
		    i ? ";" : "", rr->addr, rr->code, rr->enh[0] ? " " : "",
		    rr->enh, rr->text);
		used = n < 0 ? sizeof(text) : used + (size_t)n;
	}
	smtp_fail(t->err, temp ? SMTP_FAIL_TEMP : SMTP_FAIL_PERM, temp,
	    "RCPT TO", "%s", text);
	if (first != NULL) {
		t->err->code = first->code;
		snprintf(t->err->enh, sizeof(t->err->enh), "%s", first->enh);
		t->res->code = first->code;
		snprintf(t->res->enh, sizeof(t->res->enh), "%s", first->enh);
		snprintf(t->res->reply, sizeof(t->res->reply), "%d%s%s %s",
		    first->code, first->enh[0] ? " " : "", first->enh,
		    first->text);
	}
	return -1;
}

/* Local checks of an envelope address before it goes into a command. */
static int smtp_addr_ok(const char *a)
{
	const unsigned char *p;

	if (strlen(a) > MSG_MAX_ADDR)
		return 0;
	for (p = (const unsigned char *)a; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	return 1;
}

static int smtp_tx_check(struct smtp_tx *t)
{
	const struct smtp_caps *c = &t->s->caps;
	const char *from = t->m->from != NULL ? t->m->from : "";
	uint64_t size = msg_size(t->m, c->eightbitmime);
	char why[sizeof(t->err->text)];
	size_t i;

	if (t->nrcpts == 0)
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "MAIL FROM",
		    "no recipient: add a To:, Cc: or Bcc: line");
	if (!smtp_addr_ok(from))
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "MAIL FROM",
		    "sender address is invalid: fix From: or from");
	for (i = 0; i < t->nrcpts; i++)
		if (t->rcpts[i] == NULL || t->rcpts[i][0] == '\0' ||
		    !smtp_addr_ok(t->rcpts[i]))
			return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "RCPT TO",
			    "recipient %zu is not a valid address", i + 1);
	if (t->m->smtputf8 && !c->smtputf8)
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "MAIL FROM",
		    "an address is not ASCII and the server does not offer "
		    "SMTPUTF8: use an ASCII address or another server");
	if (!c->eightbitmime && msg_check_7bit(t->m, why, sizeof(why)) < 0)
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "MAIL FROM", "%s",
		    why);
	if (c->has_size && c->size > 0 && size > c->size) {
		smtp_fail(t->err, SMTP_FAIL_PERM, 0, "MAIL FROM",
		    "message is %llu bytes, the server accepts at most %llu "
		    "(SIZE): make it smaller",
		    (unsigned long long)size, (unsigned long long)c->size);
		return -1;
	}
	return 0;
}

/* 1 when the message asks for DSN parameters and the server takes them
 * (RFC 3461); when it does not, the transcript says they were left out. */
static int smtp_tx_dsn(struct smtp_tx *t)
{
	const struct msg *m = t->m;

	if (m->dsn_notify == NULL && m->dsn_ret == NULL)
		return 0;
	if (t->s->caps.dsn)
		return 1;
	smtp_log(t->s, '#', "the server does not offer DSN: dsn_notify and "
	    "dsn_return were not used");
	return 0;
}

static int smtp_tx_mail(struct smtp_tx *t, int eightbit)
{
	const struct smtp_caps *c = &t->s->caps;
	char line[MSG_MAX_ADDR + 256], size[40] = "", dsn[160] = "";
	int n;

	if (c->has_size)
		snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)msg_size(t->m, c->eightbitmime));
	t->dsn = smtp_tx_dsn(t);
	if (t->dsn) {
		n = snprintf(dsn, sizeof(dsn), "%s%s%s%s",
		    t->m->dsn_ret ? " RET=" : "",
		    t->m->dsn_ret ? t->m->dsn_ret : "",
		    t->m->dsn_envid ? " ENVID=" : "",
		    t->m->dsn_envid ? t->m->dsn_envid : "");
		if (n < 0 || (size_t)n >= sizeof(dsn))
			return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0,
			    "MAIL FROM", "DSN envelope id too long");
	}
	n = snprintf(line, sizeof(line), "MAIL FROM:<%s>%s%s%s%s",
	    t->m->from != NULL ? t->m->from : "", size,
	    eightbit ? " BODY=8BITMIME" : "",
	    t->m->smtputf8 ? " SMTPUTF8" : "", dsn);
	if (n < 0 || (size_t)n >= sizeof(line))
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "MAIL FROM",
		    "sender address too long");
	if (!t->ahead)
		smtp_state(t->s, SMTP_ST_MAIL);
	return smtp_cmd(t->s, "MAIL FROM", line, NULL, t->err);
}

static int smtp_tx_rcpt(struct smtp_tx *t, size_t i)
{
	char line[MSG_MAX_ADDR + 64];
	int n;

	n = snprintf(line, sizeof(line), "RCPT TO:<%s>%s%s", t->rcpts[i],
	    t->dsn && t->m->dsn_notify ? " NOTIFY=" : "",
	    t->dsn && t->m->dsn_notify ? t->m->dsn_notify : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 0, "RCPT TO",
		    "recipient address too long");
	if (!t->ahead)
		smtp_state(t->s, SMTP_ST_RCPT);
	return smtp_cmd(t->s, "RCPT TO", line, NULL, t->err);
}

/* Reads the reply to RCPT number I and records it. -1 on a failure
 * that ends the transaction (network, protocol, 421). */
static int smtp_tx_rcpt_reply(struct smtp_tx *t, size_t i)
{
	struct smtp_session *s = t->s;

	if (smtp_read_reply(s, "RCPT TO", smtp_timeout_rcpt(s), t->err) < 0)
		return -1;
	if (s->reply.code == 421) {
		smtp_tx_reply(t);
		return smtp_reply_error(s, "RCPT TO", t->err);
	}
	if (s->reply.code / 100 != 2 && s->reply.code / 100 != 4 &&
	    s->reply.code / 100 != 5)
		return smtp_reply_error(s, "RCPT TO", t->err);
	smtp_rcpt_set(&t->res->rcpts[i], &s->reply);
	if (smtp_rcpt_accepted(&t->res->rcpts[i]))
		t->naccepted++;
	return 0;
}

/* Streams the body, then "."; 1 when it went out (its reply is read by
 * smtp_tx_dot_reply), else -1 with the failure. */
static int smtp_tx_body(struct smtp_tx *t, struct msg_stream *st)
{
	struct smtp_session *s = t->s;
	const struct smtp_params *p = s->p;
	int tmo = smtp_timeout_block(s), rc;
	uint64_t sent = 0, total;
	char ebuf[256], note[64];
	char *buf;
	ssize_t n;

	buf = malloc(SMTP_BLOCK);
	if (buf == NULL) {
		smtp_state(s, SMTP_ST_BROKEN);  /* 354 given: cannot go on */
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 1, "DATA",
		    "out of memory");
	}
	smtp_state(s, SMTP_ST_BODY);
	for (;;) {
		n = msg_stream_read(st, buf, SMTP_BLOCK, ebuf, sizeof(ebuf));
		if (n <= 0)
			break;
		rc = io_write(s->io, buf, (size_t)n, tmo);
		if (rc < 0) {
			free(buf);
			snprintf(note, sizeof(note), "[%llu bytes of message "
			    "data, then the connection failed]",
			    (unsigned long long)sent);
			smtp_log(s, 'C', note);
			smtp_state(s, SMTP_ST_BROKEN);
			return smtp_fail(t->err, SMTP_FAIL_CONN, 1, "DATA",
			    "sending message data: %s", io_err_text(rc));
		}
		sent += (uint64_t)n;
		total = msg_size(t->m, s->caps.eightbitmime);
		if (total < sent)
			total = sent;
		if (p->progress != NULL)
			p->progress(s->tag, sent, total);
	}
	free(buf);
	if (n < 0) {
		/* Never end a half-sent body with ".": hang up instead. */
		smtp_state(s, SMTP_ST_BROKEN);
		return smtp_fail(t->err, SMTP_FAIL_LOCAL, 1, "DATA",
		    "reading the message failed during DATA: %s; connection "
		    "closed so nothing partial is delivered", ebuf);
	}
	snprintf(note, sizeof(note), "[%llu bytes of message data]",
	    (unsigned long long)sent);
	smtp_log(s, 'C', note);
	/* "." is buffered with the last bytes of data: it goes out in
	 * one write with them, and with the next message's envelope when
	 * smtp_send_next sends one ahead (smtp_dot_flush). */
	rc = io_write(s->io, ".\r\n", 3, tmo);
	if (rc < 0) {
		smtp_state(s, SMTP_ST_BROKEN);
		return smtp_fail(t->err, SMTP_FAIL_CONN, 1, "DATA",
		    "sending message data: %s", io_err_text(rc));
	}
	s->dot_end = io_buffered(s->io);
	smtp_state(s, SMTP_ST_DOT);
	smtp_log(s, 'C', ".");
	t->dot_sent = 1;
	return 1;
}

/* The reply to the final ".": the outcome of the data. */
static int smtp_tx_dot_reply(struct smtp_tx *t)
{
	struct smtp_session *s = t->s;
	int rc;

	rc = smtp_read_reply(s, "end of data", smtp_timeout_dot(s), t->err);
	if (rc < 0) {
		/* The server may have the message (RFC 1047). */
		smtp_state(s, SMTP_ST_BROKEN);
		t->res->maybe_delivered = 1;
		t->err->temporary = 1;
		snprintf(t->err->text + strlen(t->err->text),
		    sizeof(t->err->text) - strlen(t->err->text),
		    "; the server may have the message, it will be sent "
		    "again");
		return -1;
	}
	smtp_tx_reply(t);
	if (s->reply.code / 100 == 3) {
		/* Nonsense after a whole message: it may be delivered. */
		t->res->maybe_delivered = 1;
		return smtp_reply_error(s, "end of data", t->err);
	}
	smtp_tx_settle(t);
	if (s->reply.code / 100 != 2)
		return smtp_reply_error(s, "end of data", t->err);
	return 0;
}

/* Reads the reply to DATA. 1: go on with the body; 0 with no recipient
 * accepted: send "." (pipelining); -1: failure, *err filled. */
static int smtp_tx_data_reply(struct smtp_tx *t)
{
	struct smtp_session *s = t->s;

	if (smtp_read_reply(s, "DATA", smtp_timeout_data(s), t->err) < 0)
		return -1;
	if (s->reply.code == 354)
		return t->naccepted > 0 ? 1 : 0;
	smtp_tx_reply(t);
	if (s->reply.code / 100 != 4 && s->reply.code / 100 != 5)
		return smtp_reply_error(s, "DATA", t->err);  /* protocol */
	if (t->naccepted == 0)
		return s->reply.code == 421 ?
		    smtp_reply_error(s, "DATA", t->err) : smtp_tx_norcpt(t);
	smtp_tx_settle(t);
	return smtp_reply_error(s, "DATA", t->err);
}

/* Ends a DATA the server opened though no recipient was accepted: "."
 * alone, its reply read to stay in step and otherwise ignored, except a
 * 421: the server is closing, the session cannot carry another message. */
static int smtp_tx_empty_dot(struct smtp_tx *t)
{
	struct smtp_session *s = t->s;
	int rc;

	smtp_log(s, 'C', ".");
	t->dot_sent = 1;
	rc = io_write(s->io, ".\r\n", 3, smtp_timeout_block(s));
	if (rc < 0) {
		smtp_state(s, SMTP_ST_BROKEN);
		return smtp_fail(t->err, SMTP_FAIL_CONN, 1, "end of data",
		    "end of data: %s", io_err_text(rc));
	}
	if (smtp_read_reply(s, "end of data", smtp_timeout_dot(s),
	    t->err) < 0)
		return -1;
	if (s->reply.code == 421)
		smtp_state(s, SMTP_ST_BROKEN);
	return 0;
}

/* MAIL, RCPTs and DATA, buffered to go out in one write. */
static int smtp_tx_envelope(struct smtp_tx *t, int eightbit)
{
	size_t i;

	if (smtp_tx_mail(t, eightbit) < 0)
		return -1;
	for (i = 0; i < t->nrcpts; i++)
		if (smtp_tx_rcpt(t, i) < 0)
			return -1;
	if (!t->ahead)
		smtp_state(t->s, SMTP_ST_DATA);
	return smtp_cmd(t->s, "DATA", "DATA", NULL, t->err);
}

/* The kept session smtp_alive let through was closed meanwhile: the
 * RSET that opened the group got no 250 (or could not go), so the server
 * takes nothing of this transaction. The caller sends it again on a new
 * connection. */
static int smtp_tx_stale(struct smtp_tx *t, int answered)
{
	struct smtp_session *s = t->s;

	if (answered)
		smtp_reply_error(s, "RSET", t->err);
	smtp_state(s, SMTP_ST_BROKEN);
	t->err->stale = 1;
	return -1;
}

/* MAIL, RCPTs and DATA in one write (unless sent ahead already: SENT),
 * then the replies in order; an RSET first when the session is to be
 * checked (smtp_alive). */
static int smtp_tx_pipelined(struct smtp_tx *t, int eightbit,
    struct msg_stream *st, int sent)
{
	struct smtp_session *s = t->s;
	int mail_ok, rc, check = !sent && s->check_first;
	size_t i;

	s->check_first = 0;
	if (check) {
		smtp_state(s, SMTP_ST_RSET);
		if (smtp_cmd(s, "RSET", "RSET", NULL, t->err) < 0)
			return smtp_tx_stale(t, 0);
	}
	if (!sent && smtp_tx_envelope(t, eightbit) < 0)
		return check && t->err->fail == SMTP_FAIL_CONN ?
		    smtp_tx_stale(t, 0) : -1;
	if (check) {
		if (smtp_read_reply(s, "RSET", smtp_timeout_command(s),
		    t->err) < 0)
			return smtp_tx_stale(t, 0);
		if (s->reply.code != 250)
			return smtp_tx_stale(t, 1);
	}
	if (smtp_read_reply(s, "MAIL FROM", smtp_timeout_mail(s), t->err) < 0)
		return -1;
	mail_ok = s->reply.code / 100 == 2;
	if (!mail_ok) {
		struct smtp_error merr;

		smtp_tx_reply(t);
		smtp_reply_error(s, "MAIL FROM", &merr);
		if (s->state == SMTP_ST_BROKEN) {
			*t->err = merr;
			return -1;
		}
		/* The RCPT and DATA replies follow (503s); read them to stay
		 * in step, but they say nothing about the recipients. */
		for (i = 0; i < t->nrcpts + 1; i++) {
			if (smtp_read_reply(s, i < t->nrcpts ? "RCPT TO" :
			    "DATA", i < t->nrcpts ? smtp_timeout_rcpt(s) :
			    smtp_timeout_data(s), t->err) < 0)
				return -1;
			if (s->reply.code == 421)
				return smtp_reply_error(s, i < t->nrcpts ?
				    "RCPT TO" : "DATA", t->err);
		}
		if (s->reply.code == 354 && smtp_tx_empty_dot(t) < 0)
			return -1;
		*t->err = merr;
		return -1;
	}
	for (i = 0; i < t->nrcpts; i++)
		if (smtp_tx_rcpt_reply(t, i) < 0)
			return -1;
	smtp_state(s, SMTP_ST_DATA);
	rc = smtp_tx_data_reply(t);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return smtp_tx_empty_dot(t) < 0 ? -1 : smtp_tx_norcpt(t);
	return smtp_tx_body(t, st);
}

/* One command, one reply, as RFC 5321 describes without extensions. */
static int smtp_tx_stepwise(struct smtp_tx *t, int eightbit,
    struct msg_stream *st)
{
	struct smtp_session *s = t->s;
	size_t i;
	int rc;

	if (smtp_tx_mail(t, eightbit) < 0 ||
	    smtp_read_reply(s, "MAIL FROM", smtp_timeout_mail(s), t->err) < 0)
		return -1;
	if (s->reply.code / 100 != 2) {
		smtp_tx_reply(t);
		return smtp_reply_error(s, "MAIL FROM", t->err);
	}
	for (i = 0; i < t->nrcpts; i++)
		if (smtp_tx_rcpt(t, i) < 0 || smtp_tx_rcpt_reply(t, i) < 0)
			return -1;
	if (t->naccepted == 0)
		return smtp_tx_norcpt(t);
	smtp_state(s, SMTP_ST_DATA);
	if (smtp_cmd(s, "DATA", "DATA", NULL, t->err) < 0)
		return -1;
	rc = smtp_tx_data_reply(t);
	if (rc < 0)
		return -1;
	return smtp_tx_body(t, st);
}

/* After a failed transaction on a live connection: RSET, so the next
 * message starts clean. A refused RSET retires the session. */
static void smtp_tx_rset(struct smtp_session *s)
{
	struct smtp_error rerr;

	smtp_state(s, SMTP_ST_RSET);
	if (smtp_cmd(s, "RSET", "RSET", NULL, &rerr) < 0 ||
	    smtp_read_reply(s, "RSET", smtp_timeout_command(s), &rerr) < 0)
		return;
	if (s->reply.code / 100 != 2)
		smtp_state(s, SMTP_ST_BROKEN);
}

/* The end of transaction T with RC (0 or -1): what every recipient is
 * to get, RSET after a failure that left the session in step. */
static int smtp_tx_done(struct smtp_tx *t, int rc)
{
	struct smtp_session *s = t->s;
	size_t i;

	/* smtp.h: the caller applies err->temporary to every recipient not
	 * SMTP_RCPT_PERM. One deferred at RCPT (452) must stay deferred even
	 * when the data then got a 5xx for the others. */
	for (i = 0; rc < 0 && i < t->nrcpts; i++)
		if (t->res->rcpts[i].state == SMTP_RCPT_TEMP)
			t->err->temporary = 1;
	if (rc < 0 && s->state != SMTP_ST_BROKEN && !t->dot_sent)
		smtp_tx_rset(s);
	smtp_state(s, SMTP_ST_READY);
	t->res->reusable = s->state == SMTP_ST_READY;
	return rc;
}

/* T, a new transaction of M to RCPTS[0..NRCPTS) on S. */
static void smtp_tx_init(struct smtp_tx *t, struct smtp_session *s,
    const struct msg *m, const char *const *rcpts, size_t nrcpts,
    struct smtp_result *res, struct smtp_error *err)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	t->m = m;
	t->rcpts = rcpts;
	t->nrcpts = nrcpts;
	t->res = res;
	t->err = err;
}

int smtp_send_begin(struct smtp_session *s, const struct msg *m, int fd,
    const char *const *rcpts, size_t nrcpts, struct smtp_result *res,
    struct smtp_error *err)
{
	struct smtp_tx t;
	struct msg_stream *st = NULL;
	char ebuf[256];
	size_t i;
	const struct msg *am = s->ahead_m;
	int rc, eightbit, ahead = am != NULL;

	memset(err, 0, sizeof(*err));
	res->nrcpts = nrcpts;
	res->code = 0;
	res->enh[0] = '\0';
	res->reply[0] = '\0';
	res->maybe_delivered = 0;
	res->reusable = 0;
	for (i = 0; i < nrcpts; i++) {
		memset(&res->rcpts[i], 0, sizeof(res->rcpts[i]));
		res->rcpts[i].addr = rcpts[i];
		res->rcpts[i].state = SMTP_RCPT_PENDING;
	}
	smtp_tx_init(&t, s, m, rcpts, nrcpts, res, err);
	if (s->state != SMTP_ST_READY || s->has_pend)
		return smtp_fail(err, SMTP_FAIL_CONN, 1, "MAIL FROM",
		    "connection not usable (%s)", smtp_state_name(s->state));
	if (ahead) {
		/* its envelope is out: this transaction is that one, or
		 * the session is out of step */
		s->ahead_m = NULL;
		if (m != am || nrcpts != s->ahead_nrcpts) {
			s->ahead_len = 0;
			smtp_state(s, SMTP_ST_BROKEN);
			return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "MAIL FROM",
			    "not the message sent ahead on this connection");
		}
		smtp_ahead_replay(s);
		t.dsn = s->ahead_dsn;
		smtp_state(s, SMTP_ST_MAIL);
	}
	/* (the envelope sent ahead awaits its replies: a failure here
	 * leaves the session out of step) */
	if (smtp_tx_check(&t) < 0) {
		if (ahead)
			smtp_state(s, SMTP_ST_BROKEN);
		res->reusable = !ahead;
		return -1;
	}
	if (msg_stream_open(m, fd, s->caps.eightbitmime, &st, ebuf,
	    sizeof(ebuf)) < 0) {
		if (ahead)
			smtp_state(s, SMTP_ST_BROKEN);
		res->reusable = !ahead;
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "MAIL FROM",
		    "cannot read the message: %s", ebuf);
	}
	eightbit = s->caps.eightbitmime && msg_stream_8bit(st);
	if (s->caps.pipelining)
		rc = smtp_tx_pipelined(&t, eightbit, st, ahead);
	else
		rc = smtp_tx_stepwise(&t, eightbit, st);
	msg_stream_free(st);
	if (rc == 1) {
		/* "." sent: the reply is smtp_send_end's */
		s->pend = t;
		s->has_pend = 1;
		return 1;
	}
	return smtp_tx_done(&t, rc);
}

/*
 * Sends what is buffered: the end of T's data and its "." (and what
 * smtp_send_next put behind it). 0: all of it went out. -1: the "."
 * did not (not all of it was handed to the kernel): the server cannot
 * have the end of data, T fails as its data does, nothing delivered,
 * the session is broken. 1: the "." went out, not all that followed
 * it: its reply may have come.
 */
static int smtp_dot_flush(struct smtp_session *s, struct smtp_tx *t)
{
	int rc;

	if (io_buffered(s->io) == 0)
		return 0;
	rc = io_flush(s->io, smtp_timeout_block(s));
	if (rc == 0)
		return 0;
	if (io_flushed(s->io) >= s->dot_end)
		return 1;
	smtp_state(s, SMTP_ST_BROKEN);
	smtp_fail(t->err, SMTP_FAIL_CONN, 1, "DATA",
	    "sending message data: %s", io_err_text(rc));
	return -1;
}

int smtp_send_end(struct smtp_session *s)
{
	struct smtp_tx t;

	if (!s->has_pend)
		return -1;
	t = s->pend;
	s->has_pend = 0;
	if (smtp_dot_flush(s, &t) < 0)
		return smtp_tx_done(&t, -1);
	return smtp_tx_done(&t, smtp_tx_dot_reply(&t));
}

/* Envelopes sent ahead stay below this many bytes: buffered whole, they
 * go out in the one write smtp_send_next makes (the write buffer is empty
 * after a "."), and their held transcript lines all fit. */
#define SMTP_AHEAD_MAX 8192

/* An upper bound of the bytes of T's MAIL, RCPTs and DATA. */
static size_t smtp_envelope_len(const struct smtp_tx *t)
{
	const struct msg *m = t->m;
	size_t n = 320 + (m->from ? strlen(m->from) : 0), i;
	size_t notify = m->dsn_notify ? strlen(m->dsn_notify) : 0;

	if (m->dsn_envid)
		n += strlen(m->dsn_envid);
	for (i = 0; i < t->nrcpts && n <= SMTP_AHEAD_MAX; i++)
		n += strlen(t->rcpts[i]) + 32 + notify;
	return n;
}

int smtp_send_next(struct smtp_session *s, const struct msg *m,
    const char *const *rcpts, size_t nrcpts)
{
	return smtp_send_next_while(s, m, rcpts, nrcpts, NULL, NULL);
}

int smtp_send_next_while(struct smtp_session *s, const struct msg *m,
    const char *const *rcpts, size_t nrcpts, void (*fn)(void *), void *arg)
{
	struct smtp_error err;
	struct smtp_tx t;
	size_t mark, len;
	int rc;

	if (!s->has_pend)
		return -1;
	memset(&err, 0, sizeof(err));
	smtp_tx_init(&t, s, m, rcpts, nrcpts, NULL, &err);
	t.ahead = 1;
	/* only an envelope that passes every local check goes ahead (one
	 * that fails is not sent at all: smtp_send_begin says why), and
	 * one that fits the write buffer whole */
	if (m == NULL || !s->caps.pipelining || s->state != SMTP_ST_DOT ||
	    s->ahead_m != NULL || smtp_tx_check(&t) < 0 ||
	    (len = smtp_envelope_len(&t)) > SMTP_AHEAD_MAX ||
	    len > io_room(s->io))
		return smtp_send_end(s);
	/* Buffered whole behind the "." (no byte goes out before the one
	 * write below: the server reads the "." and the envelope together
	 * and answers them together; a "." answered alone would wait for
	 * our ACK behind the server's Nagle before the rest came). */
	mark = io_buffered(s->io);
	s->ahead_hold = 1;
	s->ahead_len = 0;
	rc = smtp_tx_envelope(&t, msg_sends_8bit(m, s->caps.eightbitmime));
	s->ahead_hold = 0;
	if (rc < 0) {
		/* a local failure: nothing of it goes */
		io_unwrite(s->io, mark);
		s->ahead_len = 0;
		return smtp_send_end(s);
	}
	rc = smtp_dot_flush(s, &s->pend);
	if (rc == 0) {
		s->ahead_m = m;
		s->ahead_nrcpts = nrcpts;
		s->ahead_dsn = t.dsn;
		/* the server works on the "." and the envelope: the
		 * caller's work meanwhile costs it no time */
		if (fn)
			fn(arg);
		return smtp_send_end(s);
	}
	s->ahead_len = 0;
	if (rc < 0) {
		t = s->pend;              /* the "." did not go */
		s->has_pend = 0;
		return smtp_tx_done(&t, -1);
	}
	/* The "." went, not all of the envelope (the server gone after its
	 * reply): that reply may be here all the same, and says what
	 * became of the message; then the session, out of step or closed,
	 * is retired. */
	rc = smtp_send_end(s);
	smtp_state(s, SMTP_ST_BROKEN);
	s->pend.res->reusable = 0;
	return rc;
}

int smtp_send(struct smtp_session *s, const struct msg *m, int fd,
    const char *const *rcpts, size_t nrcpts, struct smtp_result *res,
    struct smtp_error *err)
{
	int rc = smtp_send_begin(s, m, fd, rcpts, nrcpts, res, err);

	return rc == 1 ? smtp_send_end(s) : rc;
}
