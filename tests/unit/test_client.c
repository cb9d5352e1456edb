/*
 * test_client — the SMTP client against a scripted server on a socket
 * pair. A peer thread plays the server from a table: "<LINE" expects the
 * client to send exactly LINE, ">LINE" answers, "=" reads message data up
 * to CRLF.CRLF, "!close" hangs up, "!raw TEXT" sends TEXT as is,
 * "!stall" stops reading for half a second (then drains). Whatever
 * the client sends after the script ends is recorded as extra, so a
 * command the script did not expect (a QUIT after 421, a DATA after every
 * RCPT was refused) fails the test. Each test asserts the exact command
 * sequence, the result per recipient, and where it matters the exact
 * transcript.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtp/msg.h"
#include "smtp/chat.h"
#include "smtp/smtp.h"
#include "unit_helpers.h"

#define PEER_TIMEOUT  3000      /* ms the peer waits for a client line */
#define CLIENT_TMO    5000      /* ms for every client timeout */

/* ---- the scripted peer ---- */

struct peer {
	int fd;
	const char *const *script;
	char rbuf[8192];
	size_t rlen;
	char err[512];          /* first deviation from the script */
	char extra[1024];       /* lines after the script ended */
	char *data;             /* message data received by "=" */
	size_t data_len;
	pthread_t th;
};

/* One line from the client into LINE (without CRLF): 0, or -1 on EOF
 * or timeout. */
static int peer_line(struct peer *p, char *line, size_t cap)
{
	return peer_read_line(p->fd, p->rbuf, sizeof(p->rbuf), &p->rlen,
	    line, cap, PEER_TIMEOUT);
}

/* Message data up to and without the final ".\r\n". */
static int peer_data(struct peer *p)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	size_t cap = 1 << 16;
	char *end;
	ssize_t n;

	free(p->data);          /* keep only the last message */
	p->data = malloc(cap);
	if (p->data == NULL)
		return -1;
	p->data_len = 0;
	for (;;) {
		if (p->data_len + p->rlen + 1 > cap) {
			char *d;

			cap = 2 * (p->data_len + p->rlen + 1);
			d = realloc(p->data, cap);
			if (d == NULL)
				return -1;
			p->data = d;
		}
		memcpy(p->data + p->data_len, p->rbuf, p->rlen);
		p->data_len += p->rlen;
		p->rlen = 0;
		p->data[p->data_len] = '\0';
		if (p->data_len == 3 && memcmp(p->data, ".\r\n", 3) == 0)
			end = p->data;
		else
			end = p->data_len >= 5 ? memmem(p->data, p->data_len,
			    "\r\n.\r\n", 5) : NULL;
		if (end != NULL) {
			size_t keep = end == p->data && p->data[0] == '.' ?
			    0 : (size_t)(end - p->data) + 2;
			size_t after = keep == 0 ? 3 : keep + 3;

			/* put back what follows the dot */
			p->rlen = p->data_len - after;
			memcpy(p->rbuf, p->data + after, p->rlen);
			p->data_len = keep;
			return 0;
		}
		if (poll(&pfd, 1, PEER_TIMEOUT) <= 0)
			return -1;
		n = read(p->fd, p->rbuf, sizeof(p->rbuf));
		if (n <= 0)
			return -1;
		p->rlen = (size_t)n;
	}
}

static void peer_send(struct peer *p, const char *s, int crlf)
{
	if (peer_write_text(p->fd, s, crlf) < 0)
		snprintf(p->err, sizeof(p->err), "peer: cannot send \"%s\"", s);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	char line[2048];
	size_t i, used;

	for (i = 0; p->script[i] != NULL && p->err[0] == '\0'; i++) {
		const char *op = p->script[i];

		if (op[0] == '<') {
			if (peer_line(p, line, sizeof(line)) < 0)
				snprintf(p->err, sizeof(p->err),
				    "step %zu: no line from client, wanted "
				    "\"%s\"", i, op + 1);
			else if (strcmp(line, op + 1) != 0)
				snprintf(p->err, sizeof(p->err),
				    "step %zu: got \"%.200s\", wanted \"%.200s\"", i,
				    line, op + 1);
		} else if (op[0] == '>') {
			peer_send(p, op + 1, 1);
		} else if (op[0] == '=') {
			if (peer_data(p) < 0)
				snprintf(p->err, sizeof(p->err),
				    "step %zu: message data did not end", i);
		} else if (strcmp(op, "!close") == 0) {
			shutdown(p->fd, SHUT_RDWR);
			return NULL;
		} else if (strncmp(op, "!raw ", 5) == 0) {
			peer_send(p, op + 5, 0);
		} else if (strcmp(op, "!stall") == 0) {
			/* read nothing for a while, then drain to EOF */
			char sink[65536];

			usleep(500 * 1000);
			while (read(p->fd, sink, sizeof(sink)) > 0)
				;
			return NULL;
		}
	}
	/* Record anything more the client sends until it hangs up. */
	used = 0;
	while (peer_line(p, line, sizeof(line)) == 0) {
		int n = snprintf(p->extra + used, sizeof(p->extra) - used,
		    "%s\n", line);

		if (n < 0 || (size_t)n >= sizeof(p->extra) - used)
			break;
		used += (size_t)n;
	}
	return NULL;
}

/* ---- the client side ---- */

struct tc {
	struct peer peer;
	int cfd;
	struct smtp_params params;
	char transcript[16384];
	size_t tlen;
	uint64_t progress_sent, progress_total;
	int progress_calls;
	int msgfd;
	struct msg m;
	const char *rcpts[4];
	struct smtp_rcpt_result rr[4];
	struct smtp_result res;
};

static void tc_transcript(void *tag, char dir, const char *line)
{
	struct tc *t = tag;
	int n = snprintf(t->transcript + t->tlen, sizeof(t->transcript) -
	    t->tlen, "%c: %s\n", dir, line);

	if (n > 0 && (size_t)n < sizeof(t->transcript) - t->tlen)
		t->tlen += (size_t)n;
}

static void tc_progress(void *tag, uint64_t sent, uint64_t total)
{
	struct tc *t = tag;

	assert_true(sent >= t->progress_sent);
	assert_true(sent <= total);
	t->progress_sent = sent;
	t->progress_total = total;
	t->progress_calls++;
}

static const char default_msg[] =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.com, carol@example.com\n"
    "Subject: test\n"
    "\n"
    "Hello\n"
    ".a line with a dot\n"
    "bye\n";

static void tc_message(struct tc *t, const char *text)
{
	struct msg_params mp = {
		.from = "alice@example.com",
		.domain = "example.com",
		.now = 1800000000,
	};
	char err[256];
	size_t len = strlen(text);

	t->msgfd = memfd_create("msg", MFD_CLOEXEC);
	assert_true(t->msgfd >= 0);
	assert_int_equal(write(t->msgfd, text, len), (ssize_t)len);
	if (msg_prepare(t->msgfd, &mp, &t->m, err, sizeof(err)) < 0)
		fail_msg("msg_prepare: %s", err);
	/* fixed, so SIZE= lines can be scripted */
	t->m.size = t->m.size_8bit = t->m.size_7bit = 412;
}

static struct tc *tc_new(const char *const *script)
{
	struct tc *t = calloc(1, sizeof(*t));
	int sv[2];

	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	t->cfd = sv[0];
	t->peer.fd = sv[1];
	t->peer.script = script;
	t->params.host = "127.0.0.1";
	t->params.port = "25";
	t->params.helo = "client.example";
	t->params.timeouts = (struct smtp_timeouts){ CLIENT_TMO, CLIENT_TMO,
	    CLIENT_TMO, CLIENT_TMO, CLIENT_TMO, CLIENT_TMO, CLIENT_TMO,
	    CLIENT_TMO };
	t->params.transcript = tc_transcript;
	t->params.progress = tc_progress;
	t->params.tag = t;
	t->msgfd = -1;
	t->rcpts[0] = "bob@example.com";
	t->rcpts[1] = "carol@example.com";
	t->rcpts[2] = "dave@example.com";
	t->res.rcpts = t->rr;
	assert_int_equal(pthread_create(&t->peer.th, NULL, peer_main,
	    &t->peer), 0);
	return t;
}

/* Joins the peer and fails on any deviation it saw. */
static void tc_end(struct tc *t, const char *want_extra)
{
	pthread_join(t->peer.th, NULL);
	close(t->peer.fd);
	if (t->peer.err[0] != '\0')
		fail_msg("peer: %s\ntranscript:\n%s", t->peer.err,
		    t->transcript);
	if (strcmp(t->peer.extra, want_extra) != 0)
		fail_msg("client sent after the script: \"%s\", want \"%s\"",
		    t->peer.extra, want_extra);
}

static void tc_free(struct tc *t)
{
	free(t->peer.data);
	if (t->msgfd >= 0)
		close(t->msgfd);
	msg_free(&t->m);
	free(t);
}

/* The DATA bytes msg_stream makes for the test message. */
static char *tc_wire(struct tc *t, int eightbit_ok, size_t *len)
{
	struct msg_stream *st;
	char err[256], *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	*len = 0;
	assert_int_equal(msg_stream_open(&t->m, t->msgfd, eightbit_ok, &st,
	    err, sizeof(err)), 0);
	do {
		if (cap - *len < 4096) {
			cap = cap * 2 + 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = msg_stream_read(st, buf + *len, cap - *len, err,
		    sizeof(err));
		assert_true(n >= 0);
		*len += (size_t)n;
	} while (n > 0);
	msg_stream_free(st);
	return buf;
}

static int tc_connect(struct tc *t, struct smtp_session **s,
    struct smtp_error *err)
{
	return smtp_connect_fd(&t->params, t->cfd, s, err);
}

static int tc_send(struct tc *t, struct smtp_session *s, size_t nrcpts,
    struct smtp_error *err)
{
	return smtp_send(s, &t->m, t->msgfd, t->rcpts, nrcpts, &t->res, err);
}

/* tc_new, the default message, and a connect that must succeed. */
static struct tc *tc_open(const char *const *script, struct smtp_session **s,
    struct smtp_error *err)
{
	struct tc *t = tc_new(script);

	tc_message(t, default_msg);
	assert_int_equal(tc_connect(t, s, err), 0);
	return t;
}

/* QUIT; the peer saw the whole script and nothing after it; free T. */
static void tc_close(struct tc *t, struct smtp_session *s)
{
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);
}

#define GREET ">220 mx.example ESMTP"
#define EHLO "<EHLO client.example"

/* ---- the tests ---- */

static void test_client_plain_send(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250-SIZE 1000000",
		">250-8BITMIME", ">250 ENHANCEDSTATUSCODES",
		"<MAIL FROM:<alice@example.com> SIZE=412", ">250 2.1.0 Ok",
		"<RCPT TO:<bob@example.com>", ">250 2.1.5 Ok",
		"<DATA", ">354 End data with <CR><LF>.<CR><LF>",
		"=", ">250 2.0.0 Ok: queued as 4Q2X",
		"<QUIT", ">221 2.0.0 Bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;
	char want[4096], *wire;
	size_t wlen;

	(void)state;
	tc_message(t, default_msg);
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(smtp_caps(s)->esmtp, 1);
	assert_int_equal(smtp_caps(s)->size, 1000000);
	assert_int_equal(smtp_caps(s)->eightbitmime, 1);
	assert_int_equal(smtp_caps(s)->pipelining, 0);
	assert_string_equal(smtp_server_desc(s), "127.0.0.1:25 plain");
	assert_string_equal(smtp_prologue(s),
	    "S: 220 mx.example ESMTP\nC: EHLO client.example\n"
	    "S: 250-mx.example\nS: 250-SIZE 1000000\nS: 250-8BITMIME\n"
	    "S: 250 ENHANCEDSTATUSCODES\n");
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	assert_int_equal(t->res.nrcpts, 1);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	assert_int_equal(t->rr[0].code, 250);
	assert_string_equal(t->rr[0].enh, "2.1.5");
	assert_string_equal(t->rr[0].text, "Ok");
	assert_int_equal(t->res.code, 250);
	assert_string_equal(t->res.enh, "2.0.0");
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as 4Q2X");
	assert_int_equal(t->res.maybe_delivered, 0);
	assert_int_equal(t->res.reusable, 1);
	smtp_quit(s);
	tc_end(t, "");

	/* the server got exactly the stream's bytes, dot-stuffed, CRLF */
	wire = tc_wire(t, 1, &wlen);
	assert_int_equal(t->peer.data_len, wlen);
	assert_memory_equal(t->peer.data, wire, wlen);
	assert_non_null(strstr(t->peer.data, "\r\n..a line with a dot\r\n"));
	assert_true(t->progress_calls > 0);
	assert_int_equal(t->progress_sent, wlen);

	snprintf(want, sizeof(want),
	    "S: 220 mx.example ESMTP\n"
	    "C: EHLO client.example\n"
	    "S: 250-mx.example\n"
	    "S: 250-SIZE 1000000\n"
	    "S: 250-8BITMIME\n"
	    "S: 250 ENHANCEDSTATUSCODES\n"
	    "C: MAIL FROM:<alice@example.com> SIZE=412\n"
	    "S: 250 2.1.0 Ok\n"
	    "C: RCPT TO:<bob@example.com>\n"
	    "S: 250 2.1.5 Ok\n"
	    "C: DATA\n"
	    "S: 354 End data with <CR><LF>.<CR><LF>\n"
	    "C: [%zu bytes of message data]\n"
	    "C: .\n"
	    "S: 250 2.0.0 Ok: queued as 4Q2X\n"
	    "C: QUIT\n"
	    "S: 221 2.0.0 Bye\n", wlen);
	assert_string_equal(t->transcript, want);
	free(wire);
	tc_free(t);
}

static void test_client_helo_fallback(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">502 5.5.2 Command not recognized",
		"<HELO client.example", ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">250 queued",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(smtp_caps(s)->esmtp, 0);
	if (tc_send(t, s, 1, &err) != 0)
		fail_msg("send: %s", err.text);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	tc_close(t, s);
}

/* HELO after a refused EHLO other than 500/502 is not tried. */
static void test_client_ehlo_refused(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">554 5.7.1 go away", "<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s = (struct smtp_session *)&s;
	struct smtp_error err;

	(void)state;
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_null(s);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 0);
	assert_string_equal(err.step, "EHLO");
	assert_int_equal(err.code, 554);
	assert_string_equal(err.enh, "5.7.1");
	tc_end(t, "");
	tc_free(t);
}

/* With PIPELINING, MAIL, every RCPT and DATA arrive before any reply:
 * the peer reads all four before it answers, and would time out if the
 * client waited in between. */
static void test_client_pipelining(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250-PIPELINING",
		">250 8BITMIME",
		"<MAIL FROM:<alice@example.com>",
		"<RCPT TO:<bob@example.com>",
		"<RCPT TO:<carol@example.com>",
		"<RCPT TO:<dave@example.com>",
		"<DATA",
		">250 2.1.0 Ok", ">250 2.1.5 Ok",
		">550 5.1.1 <carol@example.com>: no such user",
		">250 2.1.5 Ok", ">354 go ahead", "=",
		">250 2.0.0 Ok: queued as X",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;
	char *wire;
	size_t wlen;

	(void)state;
	tc_message(t, default_msg);
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 3, &err), 0);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[1].code, 550);
	assert_string_equal(t->rr[1].enh, "5.1.1");
	assert_string_equal(t->rr[1].text,
	    "<carol@example.com>: no such user");
	assert_int_equal(t->rr[2].state, SMTP_RCPT_OK);
	assert_string_equal(t->rr[2].addr, "dave@example.com");
	smtp_quit(s);
	tc_end(t, "");
	wire = tc_wire(t, 1, &wlen);
	assert_int_equal(t->peer.data_len, wlen);
	assert_memory_equal(t->peer.data, wire, wlen);
	free(wire);
	/* the transcript shows the commands in the order sent */
	assert_non_null(strstr(t->transcript,
	    "C: MAIL FROM:<alice@example.com>\n"
	    "C: RCPT TO:<bob@example.com>\n"
	    "C: RCPT TO:<carol@example.com>\n"
	    "C: RCPT TO:<dave@example.com>\n"
	    "C: DATA\n"
	    "S: 250 2.1.0 Ok\n"));
	tc_free(t);
}

/* Stepwise: one RCPT refused, a 452 for another, the third gets it. */
static void test_client_rcpt_mixed(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">550 5.1.1 unknown",
		"<RCPT TO:<carol@example.com>", ">452 4.5.3 too many",
		"<RCPT TO:<dave@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">250 2.0.0 done",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 3, &err), 0);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_TEMP);
	assert_int_equal(t->rr[1].code, 452);
	assert_string_equal(t->rr[1].text, "too many");
	assert_int_equal(t->rr[2].state, SMTP_RCPT_OK);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

/* No recipient accepted: RSET, never DATA; the session stays usable and
 * carries the next message. */
static void test_client_all_rcpts_refused(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">550 5.1.1 unknown bob",
		"<RCPT TO:<carol@example.com>", ">550 5.1.1 unknown carol",
		"<RSET", ">250 ok",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">250 queued",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 0);
	assert_string_equal(err.step, "RCPT TO");
	assert_int_equal(err.code, 550);
	assert_non_null(strstr(err.text, "bob@example.com 550 5.1.1 "
	    "unknown bob"));
	assert_non_null(strstr(err.text, "carol@example.com 550 5.1.1 "
	    "unknown carol"));
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PERM);
	assert_int_equal(t->res.reusable, 1);
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	tc_close(t, s);
}

/* Pipelined, every RCPT refused and DATA refused too: RSET. */
static void test_client_pipelined_all_refused(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
		"<MAIL FROM:<alice@example.com>",
		"<RCPT TO:<bob@example.com>", "<RCPT TO:<carol@example.com>",
		"<DATA", ">250 ok", ">450 4.2.0 busy", ">550 5.1.1 unknown",
		">554 5.5.1 no valid recipients",
		"<RSET", ">250 ok", "<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	/* one of them was temporary: the whole is retried */
	assert_int_equal(err.fail, SMTP_FAIL_TEMP);
	assert_int_equal(err.temporary, 1);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_TEMP);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PERM);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

/* Pipelined, every RCPT refused but DATA got 354: "." alone, reply
 * ignored, no RSET (the transaction ended with the dot). */
static void test_client_pipelined_refused_354(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
		"<MAIL FROM:<alice@example.com>",
		"<RCPT TO:<bob@example.com>", "<DATA",
		">250 ok", ">550 5.1.1 unknown", ">354 go", "<.",
		">554 5.5.1 no recipients", "<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.code, 550);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

/* The same, but the server answers the lone "." with 421: it is
 * closing, so the session is not reused and no QUIT follows. */
static void test_client_pipelined_refused_354_421(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
		"<MAIL FROM:<alice@example.com>",
		"<RCPT TO:<bob@example.com>", "<DATA",
		">250 ok", ">550 5.1.1 unknown", ">354 go", "<.",
		">421 4.3.2 shutting down", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.code, 550);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	assert_int_equal(t->res.reusable, 0);
	tc_close(t, s);
}

/* 421 to MAIL: temporary, nothing more is sent, not even QUIT. */
static void test_client_421_mail(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>",
		">421 4.3.2 shutting down", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_TEMP);
	assert_int_equal(err.temporary, 1);
	assert_int_equal(err.code, 421);
	assert_string_equal(err.step, "MAIL FROM");
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PENDING);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PENDING);
	assert_int_equal(t->res.reusable, 0);
	/* a further send is refused at once */
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	tc_close(t, s);
}

/* 421 in the middle of pipelined RCPT replies. */
static void test_client_421_rcpt_pipelined(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
		"<MAIL FROM:<alice@example.com>",
		"<RCPT TO:<bob@example.com>", "<RCPT TO:<carol@example.com>",
		"<DATA", ">250 ok", ">250 ok", ">421 4.4.2 timeout",
		"!close", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_TEMP);
	assert_int_equal(err.temporary, 1);
	assert_int_equal(err.code, 421);
	/* bob was accepted but nothing was delivered: still pending */
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PENDING);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PENDING);
	assert_int_equal(t->res.reusable, 0);
	tc_close(t, s);
}

static void test_client_554_greeting(void **state)
{
	static const char *const script[] = {
		">554 5.7.1 no service for you", "<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 0);
	assert_string_equal(err.step, "greeting");
	assert_int_equal(err.code, 554);
	assert_non_null(strstr(err.text, "554 5.7.1 no service for you"));
	tc_end(t, "");
	tc_free(t);
}

static void test_client_421_greeting(void **state)
{
	static const char *const script[] = {
		">421 4.3.2 busy", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_TEMP);
	assert_int_equal(err.temporary, 1);
	tc_end(t, "");          /* no QUIT after 421 */
	tc_free(t);
}

/* DATA refused: the accepted recipients get DATA's reply; RSET. */
static void test_client_data_554(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<RCPT TO:<carol@example.com>", ">550 no",
		"<DATA", ">554 5.3.0 no data today",
		"<RSET", ">250 ok", "<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_string_equal(err.step, "DATA");
	assert_int_equal(err.code, 554);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[0].code, 554);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[1].code, 550);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

/* 451 after the dot: accepted recipients TEMP, no RSET, reusable. */
static void test_client_final_451(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">451 4.7.1 Try again later",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_TEMP);
	assert_int_equal(err.temporary, 1);
	assert_string_equal(err.step, "end of data");
	assert_int_equal(t->rr[0].state, SMTP_RCPT_TEMP);
	assert_int_equal(t->rr[0].code, 451);
	assert_string_equal(t->rr[0].text, "Try again later");
	assert_string_equal(t->res.reply, "451 4.7.1 Try again later");
	assert_int_equal(t->res.maybe_delivered, 0);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

/* One recipient deferred at RCPT, the data refused for the other: the
 * deferred one must be retried, so the error is temporary for it. */
static void test_client_452_then_final_554(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">452 4.2.2 mailbox full",
		"<RCPT TO:<carol@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">554 5.6.0 spam",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 2, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 1);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_TEMP);
	assert_int_equal(t->rr[0].code, 452);
	assert_int_equal(t->rr[1].state, SMTP_RCPT_PERM);
	assert_int_equal(t->rr[1].code, 554);
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

static void test_client_final_554(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">554 5.6.0 spam",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 0);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PERM);
	tc_close(t, s);
}

/* The connection drops after the dot: the server may have it. */
static void test_client_lost_after_dot(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", "!close", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(err.temporary, 1);
	assert_int_equal(t->res.maybe_delivered, 1);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PENDING);
	assert_int_equal(t->res.reusable, 0);
	tc_close(t, s);
}

/* No reply to the dot within its timeout: the same. */
static void test_client_timeout_after_dot(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	t->params.timeouts.dot = 100;
	tc_message(t, default_msg);
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(t->res.maybe_delivered, 1);
	assert_non_null(strstr(err.text, "no answer"));
	tc_close(t, s);
}

/* A timeout before the dot is not "maybe delivered". */
static void test_client_timeout_data(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	t->params.timeouts.data = 100;
	tc_message(t, default_msg);
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(err.temporary, 1);
	assert_string_equal(err.step, "DATA");
	assert_int_equal(t->res.maybe_delivered, 0);
	assert_int_equal(t->res.reusable, 0);
	tc_close(t, s);
}

struct bad_case {
	const char *name;
	const char *reply;
};

/* Malformed replies to MAIL: protocol error, session retired, no QUIT. */
static void test_client_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "letter in code", "25O ok" },
		{ "bad separator", "250_ok" },
		{ "code 600", "600 ok" },
		{ "empty", "" },
		{ "mismatched continuation", "250-ok\r\n251 ok" },
		{ "unexpected 354", "354 go" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *script[] = {
			GREET, EHLO, ">250 mx.example",
			"<MAIL FROM:<alice@example.com>", NULL, NULL,
		};
		char reply[128];
		struct tc *t;
		struct smtp_session *s;
		struct smtp_error err;

		snprintf(reply, sizeof(reply), ">%s", cases[i].reply);
		script[4] = reply;
		t = tc_new(script);
		tc_message(t, default_msg);
		assert_int_equal(tc_connect(t, &s, &err), 0);
		assert_int_equal(tc_send(t, s, 1, &err), -1);
		if (err.fail != SMTP_FAIL_PROTO)
			fail_msg("%s: fail %s", cases[i].name,
			    smtp_fail_name(err.fail));
		assert_int_equal(err.temporary, 1);
		assert_int_equal(t->res.reusable, 0);
		smtp_quit(s);
		tc_end(t, "");
		tc_free(t);
	}
}

/* A server that stops reading the body: the block timeout ends it, and
 * nothing was delivered (no dot went out). */
static void test_client_block_timeout(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "!stall", NULL,
	};
	static const char head[] = "To: bob@example.com\nSubject: big\n\n";
	size_t n = 4 * 1024 * 1024, hl = sizeof(head) - 1;
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;
	char *text = malloc(hl + n + 1);

	(void)state;
	assert_non_null(text);
	memcpy(text, head, hl);
	memset(text + hl, 'z', n);
	for (size_t i = hl + 70; i < hl + n; i += 71)
		text[i] = '\n';
	text[hl + n] = '\0';
	tc_message(t, text);
	free(text);
	t->params.timeouts.block = 100;
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(err.temporary, 1);
	assert_string_equal(err.step, "DATA");
	assert_non_null(strstr(err.text, "timed out"));
	assert_int_equal(t->res.maybe_delivered, 0);
	assert_int_equal(t->res.reusable, 0);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_PENDING);
	assert_non_null(strstr(t->transcript, "then the connection failed]"));
	assert_null(strstr(t->transcript, "C: .\n"));
	smtp_close(s);
	tc_end(t, "");
	tc_free(t);
}

/* No greeting within its timeout. */
static void test_client_greeting_timeout(void **state)
{
	static const char *const script[] = { NULL };
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	t->params.timeouts.greeting = 100;
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(err.temporary, 1);
	assert_string_equal(err.step, "greeting");
	tc_end(t, "");
	tc_free(t);
}

/* A real connect to a closed loopback port. */
static void test_client_connect_refused(void **state)
{
	struct smtp_params p;
	struct smtp_session *s = (struct smtp_session *)&p;
	struct smtp_error err;

	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t sl = sizeof(in);
	char port[16], where[32];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* a port that was free a moment ago, and is closed now */
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &sl), 0);
	close(fd);
	snprintf(port, sizeof(port), "%u", ntohs(in.sin_port));
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = port;
	p.timeouts.connect = 2000;
	assert_int_equal(smtp_connect(&p, &s, &err), -1);
	assert_null(s);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_int_equal(err.temporary, 1);
	assert_string_equal(err.step, "connect");
	snprintf(where, sizeof(where), "127.0.0.1:%s", port);
	assert_non_null(strstr(err.text, where));
	p.host = NULL;
	assert_int_equal(smtp_connect(&p, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
}

/* Replies that make no sense where they come: a protocol error, and no
 * recipient counts as delivered. */
static void test_client_nonsense_codes(void **state)
{
	static const char *const data250[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">250 no data needed", NULL,
	};
	static const char *const dot354[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">354 again?", NULL,
	};
	static const char *const rcpt354[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">354 what", NULL,
	};
	const char *const *scripts[] = { data250, dot354, rcpt354 };
	const int maybe[] = { 0, 1, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct tc *t = tc_new(scripts[i]);
		struct smtp_session *s;
		struct smtp_error err;

		tc_message(t, default_msg);
		assert_int_equal(tc_connect(t, &s, &err), 0);
		assert_int_equal(tc_send(t, s, 1, &err), -1);
		if (err.fail != SMTP_FAIL_PROTO)
			fail_msg("script %zu: fail %s", i,
			    smtp_fail_name(err.fail));
		assert_int_equal(err.temporary, 1);
		assert_int_equal(t->rr[0].state, SMTP_RCPT_PENDING);
		assert_int_equal(t->res.maybe_delivered, maybe[i]);
		assert_int_equal(t->res.reusable, 0);
		smtp_quit(s);
		tc_end(t, "");
		tc_free(t);
	}
}

/* A reply of 101 lines is refused. */
static void test_client_reply_too_many_lines(void **state)
{
	static char lines[101][16];
	const char *script[110];
	struct tc *t;
	struct smtp_session *s;
	struct smtp_error err;
	size_t i, n = 0;

	(void)state;
	script[n++] = GREET;
	script[n++] = EHLO;
	for (i = 0; i < 101; i++) {
		snprintf(lines[i], sizeof(lines[i]), ">250-X%zu", i);
		script[n++] = lines[i];
	}
	script[n] = NULL;
	t = tc_new(script);
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PROTO);
	assert_string_equal(err.step, "EHLO");
	tc_end(t, "");
	tc_free(t);
}

/* SIZE smaller than the message: refused before MAIL, with both sizes;
 * the session is still fine. */
static void test_client_size_too_small(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 SIZE 100",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_PERM);
	assert_int_equal(err.temporary, 0);
	assert_int_equal(err.code, 0);
	assert_non_null(strstr(err.text, "412"));
	assert_non_null(strstr(err.text, "100"));
	assert_int_equal(t->res.reusable, 1);
	tc_close(t, s);
}

static void test_client_smtputf8_absent(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 8BITMIME",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	tc_message(t, default_msg);
	t->m.smtputf8 = 1;
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
	assert_int_equal(err.temporary, 0);
	assert_non_null(strstr(err.text, "SMTPUTF8"));
	tc_close(t, s);
}

/* SMTPUTF8 and 8BITMIME offered: both parameters on MAIL. */
static void test_client_smtputf8_8bit(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250-8bitmime",
		">250-smtputf8", ">250 size",
		"<MAIL FROM:<alice@example.com> SIZE=412 BODY=8BITMIME "
		"SMTPUTF8", ">250 ok",
		"<RCPT TO:<j\xc3\xb6rg@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">250 ok",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;
	char *wire;
	size_t wlen;

	(void)state;
	tc_message(t, "From: alice@example.com\nTo: j\xc3\xb6rg@example.com\n"
	    "Subject: x\n\nGr\xc3\xbc\xc3\x9f" "e\n");
	assert_int_equal(t->m.smtputf8, 1);
	t->rcpts[0] = t->m.rcpts[0];
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(smtp_caps(s)->has_size, 1);
	assert_int_equal(smtp_caps(s)->size, 0);
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	smtp_quit(s);
	tc_end(t, "");
	wire = tc_wire(t, 1, &wlen);
	assert_int_equal(t->peer.data_len, wlen);
	assert_memory_equal(t->peer.data, wire, wlen);
	free(wire);
	tc_free(t);
}

/* Two messages on one connection: no RSET between completed ones. */
static void test_client_reuse(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
		"<MAIL FROM:<alice@example.com>", "<RCPT TO:<bob@example.com>",
		"<DATA", ">250 ok", ">250 ok", ">354 go", "=", ">250 one",
		"<MAIL FROM:<alice@example.com>", "<RCPT TO:<bob@example.com>",
		"<DATA", ">250 ok", ">250 ok", ">354 go", "=", ">250 two",
		"<QUIT", ">221 bye", NULL,
	};
	struct smtp_session *s;
	struct smtp_error err;
	struct tc *t = tc_open(script, &s, &err);

	(void)state;
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	assert_string_equal(t->res.reply, "250 one");
	assert_int_equal(t->res.reusable, 1);
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	assert_string_equal(t->res.reply, "250 two");
	tc_close(t, s);
}

/* An address with a line break never reaches the wire. */
static void test_client_injection_refused(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example", "<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	tc_message(t, default_msg);
	t->rcpts[0] = "bob@example.com>\r\nRCPT TO:<eve@example.com";
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
	tc_close(t, s);
}

/* Non-printable bytes from the server are replaced in the transcript. */
static void test_client_sanitized_transcript(void **state)
{
	static const char *const script[] = {
		"!raw 220 evil\033[2J\x01 ESMTP\r\n", EHLO, ">250 mx",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	assert_int_equal(tc_connect(t, &s, &err), 0);
	smtp_quit(s);
	tc_end(t, "");
	assert_string_equal(t->transcript,
	    "S: 220 evil?[2J? ESMTP\nC: EHLO client.example\nS: 250 mx\n"
	    "C: QUIT\nS: 221 bye\n");
	tc_free(t);
}

/* A bigger body: progress reaches the total, bytes arrive intact. */
static void test_client_large_body(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<MAIL FROM:<alice@example.com>", ">250 ok",
		"<RCPT TO:<bob@example.com>", ">250 ok",
		"<DATA", ">354 go", "=", ">250 ok",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;
	size_t n = 600000, i, hl, wlen;
	char *text, *wire;
	static const char head[] = "To: bob@example.com\nSubject: big\n\n";

	(void)state;
	hl = sizeof(head) - 1;
	text = malloc(hl + n + 1);
	assert_non_null(text);
	memcpy(text, head, hl);
	for (i = 0; i < n; i++)
		text[hl + i] = (i % 61 == 60) ? '\n' : (i % 61 == 0 ? '.' :
		    (char)('a' + i % 26));
	text[hl + n] = '\0';
	tc_message(t, text);
	free(text);
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(tc_send(t, s, 1, &err), 0);
	smtp_quit(s);
	tc_end(t, "");
	wire = tc_wire(t, 0, &wlen);
	assert_int_equal(t->peer.data_len, wlen);
	assert_memory_equal(t->peer.data, wire, wlen);
	assert_int_equal(t->progress_sent, wlen);
	assert_true(t->progress_calls > 1);
	free(wire);
	tc_free(t);
}

/* STARTTLS required but not offered: a TLS failure, never a mail
 * transaction in plain text. */
static void test_client_starttls_required(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250-mx.example", ">250 8BITMIME",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	t->params.tls = SMTP_TLS_STARTTLS;
	assert_int_equal(tc_connect(t, &s, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_TLS);
	assert_null(s);
	tc_end(t, "");
	tc_free(t);
}

/* The primitives the AUTH code uses: a hidden command goes out as is
 * but shows only its stand-in; a line break is refused before sending. */
static void test_client_cmd_hidden(void **state)
{
	static const char *const script[] = {
		GREET, EHLO, ">250 mx.example",
		"<AUTH PLAIN AGFsaWNlAHNlY3JldA==", ">235 2.7.0 ok",
		"<QUIT", ">221 bye", NULL,
	};
	struct tc *t = tc_new(script);
	struct smtp_session *s;
	struct smtp_error err;

	(void)state;
	assert_int_equal(tc_connect(t, &s, &err), 0);
	assert_int_equal(smtp_cmd(s, "AUTH", "AUTH PLAIN\r\nQUIT", NULL, &err),
	    -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
	assert_int_equal(smtp_cmd(s, "AUTH", "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
	    "AUTH PLAIN [credentials hidden]", &err), 0);
	assert_int_equal(smtp_read_reply(s, "AUTH", 5000, &err), 0);
	assert_int_equal(s->reply.code, 235);
	smtp_quit(s);
	tc_end(t, "");
	assert_non_null(strstr(t->transcript,
	    "C: AUTH PLAIN [credentials hidden]\nS: 235 2.7.0 ok\n"));
	assert_null(strstr(t->transcript, "AGFsaWNl"));
	tc_free(t);
}

struct caps_case {
	const char *line;
	const char *auth;
	uint64_t size;
	int has_size, pipelining, eightbit, utf8, starttls, enh, chunking,
	    dsn;
};

static void test_client_caps_parse(void **state)
{
	static const struct caps_case cases[] = {
		{ "SIZE 1000", "", 1000, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "size 52428800", "", 52428800, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "SIZE", "", 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "SIZE 0", "", 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "SIZE abc", "", 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "SIZE 12x", "", 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		{ "SIZE 99999999999999999999999", "", 0, 1, 0, 0, 0, 0, 0, 0,
		  0 },
		{ "SIZEX 10", "", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "PIPELINING", "", 0, 0, 1, 0, 0, 0, 0, 0, 0 },
		{ "pipelining", "", 0, 0, 1, 0, 0, 0, 0, 0, 0 },
		{ "PIPELININGX", "", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "8BITMIME", "", 0, 0, 0, 1, 0, 0, 0, 0, 0 },
		{ "SmtpUtf8", "", 0, 0, 0, 0, 1, 0, 0, 0, 0 },
		{ "STARTTLS", "", 0, 0, 0, 0, 0, 1, 0, 0, 0 },
		{ "ENHANCEDSTATUSCODES", "", 0, 0, 0, 0, 0, 0, 1, 0, 0 },
		{ "CHUNKING", "", 0, 0, 0, 0, 0, 0, 0, 1, 0 },
		{ "DSN", "", 0, 0, 0, 0, 0, 0, 0, 0, 1 },
		{ "AUTH PLAIN LOGIN", "PLAIN LOGIN", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "auth=login cram-md5", "LOGIN CRAM-MD5", 0, 0, 0, 0, 0, 0, 0,
		  0, 0 },
		{ "AUTH  PLAIN   PLAIN plain", "PLAIN", 0, 0, 0, 0, 0, 0, 0, 0,
		  0 },
		{ "AUTH SCRAM-SHA-256 bad/name XOAUTH2", "SCRAM-SHA-256 XOAUTH2",
		  0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "AUTHX PLAIN", "", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "AUTH", "", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		{ "", "", 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct caps_case *c = &cases[i];
		struct smtp_caps k;

		memset(&k, 0, sizeof(k));
		smtp_caps_parse_line(&k, c->line);
		if (strcmp(k.auth, c->auth) != 0 || k.size != c->size ||
		    k.has_size != c->has_size ||
		    k.pipelining != c->pipelining ||
		    k.eightbitmime != c->eightbit || k.smtputf8 != c->utf8 ||
		    k.starttls != c->starttls ||
		    k.enhancedstatuscodes != c->enh ||
		    k.chunking != c->chunking || k.dsn != c->dsn)
			fail_msg("\"%s\": auth \"%s\" size %llu/%d", c->line,
			    k.auth, (unsigned long long)k.size, k.has_size);
	}
}

/* The AUTH list is capped, never overflows. */
static void test_client_caps_auth_cap(void **state)
{
	struct smtp_caps k;
	char line[4096];
	size_t used = 4, i;

	(void)state;
	memset(&k, 0, sizeof(k));
	memcpy(line, "AUTH", 4);
	for (i = 0; i < 300; i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used,
		    " M%zu", i);
	smtp_caps_parse_line(&k, line);
	assert_true(strlen(k.auth) < sizeof(k.auth));
	assert_true(strncmp(k.auth, "M0 M1 M2 ", 9) == 0);
}

static void test_client_fail_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_fail_name(SMTP_FAIL_CONN), "connection");
	assert_string_equal(smtp_fail_name(SMTP_FAIL_PROTO), "protocol");
	assert_string_equal(smtp_fail_name(SMTP_FAIL_PERM), "permanent");
	assert_string_equal(smtp_fail_name((enum smtp_fail)99), "unknown");
	assert_string_equal(smtp_state_name(SMTP_ST_READY), "READY");
	assert_string_equal(smtp_state_name(SMTP_ST_COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_plain_send),
		cmocka_unit_test(test_client_helo_fallback),
		cmocka_unit_test(test_client_ehlo_refused),
		cmocka_unit_test(test_client_pipelining),
		cmocka_unit_test(test_client_rcpt_mixed),
		cmocka_unit_test(test_client_all_rcpts_refused),
		cmocka_unit_test(test_client_pipelined_all_refused),
		cmocka_unit_test(test_client_pipelined_refused_354),
		cmocka_unit_test(test_client_pipelined_refused_354_421),
		cmocka_unit_test(test_client_421_mail),
		cmocka_unit_test(test_client_421_rcpt_pipelined),
		cmocka_unit_test(test_client_554_greeting),
		cmocka_unit_test(test_client_421_greeting),
		cmocka_unit_test(test_client_data_554),
		cmocka_unit_test(test_client_final_451),
		cmocka_unit_test(test_client_final_554),
		cmocka_unit_test(test_client_452_then_final_554),
		cmocka_unit_test(test_client_lost_after_dot),
		cmocka_unit_test(test_client_timeout_after_dot),
		cmocka_unit_test(test_client_timeout_data),
		cmocka_unit_test(test_client_malformed),
		cmocka_unit_test(test_client_block_timeout),
		cmocka_unit_test(test_client_greeting_timeout),
		cmocka_unit_test(test_client_connect_refused),
		cmocka_unit_test(test_client_nonsense_codes),
		cmocka_unit_test(test_client_reply_too_many_lines),
		cmocka_unit_test(test_client_size_too_small),
		cmocka_unit_test(test_client_smtputf8_absent),
		cmocka_unit_test(test_client_smtputf8_8bit),
		cmocka_unit_test(test_client_reuse),
		cmocka_unit_test(test_client_injection_refused),
		cmocka_unit_test(test_client_sanitized_transcript),
		cmocka_unit_test(test_client_large_body),
		cmocka_unit_test(test_client_starttls_required),
		cmocka_unit_test(test_client_cmd_hidden),
		cmocka_unit_test(test_client_caps_parse),
		cmocka_unit_test(test_client_caps_auth_cap),
		cmocka_unit_test(test_client_fail_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
