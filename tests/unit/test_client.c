/*
 * test_client — the SMTP client against a scripted server on a socket
 * pair, one table row per session (client_cases[]), one runner
 * (test_client_case), each row its own cmocka test named by the row.
 *
 * A row gives the server's script, what the client is given (message,
 * recipients, timeouts, TLS mode), and what must come out: how connect
 * and each smtp_send end (failure class, temporary, step, code, error
 * text), each recipient's state and reply, the result's reply, whether
 * the message may have been delivered and the session can be reused,
 * the bytes the server received, and the transcript, exact or by key
 * lines. What a row leaves 0 or NULL is not checked.
 *
 * A peer thread plays the server: "<LINE" expects the client to send
 * exactly LINE, ">LINE" answers, "=" reads message data up to CRLF.CRLF,
 * "!close" hangs up, "!raw TEXT" sends TEXT as is, "!lines N TEXT" sends
 * N lines TEXT0 .. TEXT<N-1>, "!stall" stops reading for half a second
 * (then drains). Whatever the client sends after the script ends is
 * recorded as extra, so a command the script did not expect (a QUIT
 * after 421, a DATA after every RCPT was refused) fails the row.
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
	int gate;               /* "!gate" waits for a byte from it */
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
		} else if (strncmp(op, "!lines ", 7) == 0) {
			char *text;
			unsigned long k, n = strtoul(op + 7, &text, 10);

			for (k = 0; k < n && *text == ' '; k++) {
				snprintf(line, sizeof(line), "%s%lu", text + 1,
				    k);
				peer_send(p, line, 1);
			}
		} else if (strcmp(op, "!gate") == 0) {
			/* until the test opens the gate (or 5 s) */
			struct pollfd g = { .fd = p->gate, .events = POLLIN };
			char b;

			if (poll(&g, 1, 5000) != 1 || read(p->gate, &b, 1) != 1)
				snprintf(p->err, sizeof(p->err),
				    "step %zu: the gate never opened", i);
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


/* ---- the table ---- */

#define GREET ">220 mx.example ESMTP"
#define EHLO "<EHLO client.example"

/* The opening most rows share: greeting, EHLO without extensions, MAIL
 * and RCPT TO bob accepted one by one. */
#define TO_BOB GREET, EHLO, ">250 mx.example", \
	"<MAIL FROM:<alice@example.com>", ">250 ok", \
	"<RCPT TO:<bob@example.com>", ">250 ok"

/* A PIPELINING server that takes a first message's envelope to bob in
 * one group, up to its 354; and the next envelope, sent behind a ".". */
#define PIPE_TO_BOB GREET, EHLO, ">250-mx.example", ">250 PIPELINING", \
	"<MAIL FROM:<alice@example.com>", "<RCPT TO:<bob@example.com>", \
	"<DATA", ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go"
#define ENVELOPE_AHEAD "<MAIL FROM:<alice@example.com>", \
	"<RCPT TO:<bob@example.com>", "<DATA"

/* A server script: its steps, NULL-terminated. */
#define SCRIPT(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* For a flag a row may leave unchecked. */
enum want { ANY = 0, NO, YES };

/* A recipient's smtp_rcpt_state, or RCPT_ANY: not checked. */
enum want_rcpt_state {
	RCPT_ANY = 0,
	RCPT_PENDING = SMTP_RCPT_PENDING + 1,
	RCPT_OK = SMTP_RCPT_OK + 1,
	RCPT_TEMP = SMTP_RCPT_TEMP + 1,
	RCPT_PERM = SMTP_RCPT_PERM + 1,
};

#define NO_CODE  (-1)   /* .code: must be 0, no server reply behind it */

/* How a step ends. fail SMTP_OK: it works (returns 0); else it returns
 * -1 with that class. Fields left 0 or NULL are not checked. */
struct want_err {
	enum smtp_fail fail;
	enum want temporary;
	const char *step;
	int code;                       /* or NO_CODE */
	const char *enh;
	const char *text[2];            /* substrings of err.text */
};

/* One recipient's result; fields left 0 or NULL are not checked. */
struct want_rcpt {
	enum want_rcpt_state state;
	int code;
	const char *enh;
	const char *text;
	const char *addr;
};

/* One smtp_send to the first NRCPTS of bob, carol, dave (0: none). */
struct want_send {
	size_t nrcpts;
	struct want_err err;
	struct want_rcpt rcpt[3];
	int code;                       /* res.code, res.enh, res.reply */
	const char *enh;
	const char *reply;
	enum want maybe_delivered, reusable;
};

enum wire { NO_WIRE = 0, WIRE_8BIT, WIRE_7BIT };

/*
 * One session against one script: connect, the sends (or ACT), QUIT (or
 * a hang-up), and the script must have run to its end with nothing sent
 * after it. Fields left 0 or NULL are not checked or not changed.
 */
struct client_case {
	const char *name;
	const char *const *script;

	/* the client's side */
	const char *message;            /* NULL: default_msg */
	char *(*make_message)(void);    /* or one made at run time */
	int force_smtputf8;             /* m.smtputf8 set by hand */
	int own_rcpts;                  /* the message's recipients, not
	                                 * bob, carol, dave */
	const char *rcpt0;              /* replaces bob@example.com */
	struct smtp_timeouts tmo;       /* set fields replace CLIENT_TMO */
	enum smtp_tls_mode tls;

	/* what happens */
	enum want msg_smtputf8;         /* msg_prepare saw SMTPUTF8 need */
	struct want_err connect;
	const char *caps;               /* as caps_text shows them */
	const char *desc;               /* smtp_server_desc */
	const char *prologue;
	void (*act)(struct smtp_session *s);    /* instead of the sends */
	struct want_send send[2];
	int hang_up;                    /* smtp_close, not smtp_quit */

	/* afterwards */
	enum wire wire;                 /* the DATA received is msg_stream's
	                                 * bytes, with or without 8BITMIME */
	const char *data_has;
	int progress_calls;             /* at least this many, the last at
	                                 * the wire's length */
	const char *transcript;         /* exact; %zu: the wire's length */
	const char *transcript_has[2];
	const char *transcript_lacks[2];
};

/* A 4 MB body of 'z' lines the server stops reading (block timeout). */
static char *message_4mb(void)
{
	static const char head[] = "To: bob@example.com\nSubject: big\n\n";
	size_t n = 4 * 1024 * 1024, hl = sizeof(head) - 1;
	char *text = malloc(hl + n + 1);

	assert_non_null(text);
	memcpy(text, head, hl);
	memset(text + hl, 'z', n);
	for (size_t i = hl + 70; i < hl + n; i += 71)
		text[i] = '\n';
	text[hl + n] = '\0';
	return text;
}

/* 600,000 body bytes, every line starting with a dot. */
static char *message_600k_dots(void)
{
	static const char head[] = "To: bob@example.com\nSubject: big\n\n";
	size_t n = 600000, i, hl = sizeof(head) - 1;
	char *text = malloc(hl + n + 1);

	assert_non_null(text);
	memcpy(text, head, hl);
	for (i = 0; i < n; i++)
		text[hl + i] = (i % 61 == 60) ? '\n' : (i % 61 == 0 ? '.' :
		    (char)('a' + i % 26));
	text[hl + n] = '\0';
	return text;
}

/* The primitives the AUTH code uses: a hidden command goes out as is
 * but shows only its stand-in; a line break is refused before sending. */
static void act_cmd_hidden(struct smtp_session *s)
{
	struct smtp_error err;

	assert_int_equal(smtp_cmd(s, "AUTH", "AUTH PLAIN\r\nQUIT", NULL, &err),
	    -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
	assert_int_equal(smtp_cmd(s, "AUTH", "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
	    "AUTH PLAIN [credentials hidden]", &err), 0);
	assert_int_equal(smtp_read_reply(s, "AUTH", 5000, &err), 0);
	assert_int_equal(s->reply.code, 235);
}

/* A row for a malformed reply to MAIL: a protocol error, the session
 * retired, no QUIT. */
#define MALFORMED(what, reply) { \
	.name = "malformed reply to MAIL: " what, \
	.script = SCRIPT(GREET, EHLO, ">250 mx.example", \
	    "<MAIL FROM:<alice@example.com>", ">" reply), \
	.send = { { \
		.nrcpts = 1, \
		.err = { .fail = SMTP_FAIL_PROTO, .temporary = YES }, \
		.reusable = NO, \
	} }, \
}

static const struct client_case client_cases[] = {
{
	.name = "plain send: caps, prologue, wire bytes, exact transcript",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250-SIZE 1000000",
	    ">250-8BITMIME", ">250 ENHANCEDSTATUSCODES",
	    "<MAIL FROM:<alice@example.com> SIZE=412", ">250 2.1.0 Ok",
	    "<RCPT TO:<bob@example.com>", ">250 2.1.5 Ok",
	    "<DATA", ">354 End data with <CR><LF>.<CR><LF>",
	    "=", ">250 2.0.0 Ok: queued as 4Q2X",
	    "<QUIT", ">221 2.0.0 Bye"),
	.caps = "esmtp size=1000000 8bitmime enhancedstatuscodes",
	.desc = "127.0.0.1:25 plain",
	.prologue = "S: 220 mx.example ESMTP\nC: EHLO client.example\n"
	    "S: 250-mx.example\nS: 250-SIZE 1000000\nS: 250-8BITMIME\n"
	    "S: 250 ENHANCEDSTATUSCODES\n",
	.send = { {
		.nrcpts = 1,
		.rcpt = { { .state = RCPT_OK, .code = 250, .enh = "2.1.5",
		    .text = "Ok" } },
		.code = 250, .enh = "2.0.0",
		.reply = "250 2.0.0 Ok: queued as 4Q2X",
		.maybe_delivered = NO, .reusable = YES,
	} },
	/* dot-stuffed, CRLF */
	.wire = WIRE_8BIT, .data_has = "\r\n..a line with a dot\r\n",
	.progress_calls = 1,
	.transcript =
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
	    "S: 221 2.0.0 Bye\n",
}, {
	.name = "HELO after EHLO answered 502",
	.script = SCRIPT(GREET, EHLO, ">502 5.5.2 Command not recognized",
	    "<HELO client.example", ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">250 ok",
	    "<DATA", ">354 go", "=", ">250 queued",
	    "<QUIT", ">221 bye"),
	.caps = "helo",
	.send = { { .nrcpts = 1, .rcpt = { { .state = RCPT_OK } } } },
}, {
	.name = "EHLO refused with 554: no HELO, QUIT",
	.script = SCRIPT(GREET, EHLO, ">554 5.7.1 go away", "<QUIT",
	    ">221 bye"),
	.connect = { .fail = SMTP_FAIL_PERM, .temporary = NO, .step = "EHLO",
	    .code = 554, .enh = "5.7.1" },
}, {
	/* MAIL, every RCPT and DATA arrive before any reply: the peer
	 * reads all of them before it answers, and would time out if the
	 * client waited in between. */
	.name = "PIPELINING: one write, replies in order",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250-PIPELINING",
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
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 3,
		.rcpt = {
			{ .state = RCPT_OK },
			{ .state = RCPT_PERM, .code = 550, .enh = "5.1.1",
			  .text = "<carol@example.com>: no such user" },
			{ .state = RCPT_OK, .addr = "dave@example.com" },
		},
	} },
	.wire = WIRE_8BIT,
	/* the commands in the order sent */
	.transcript_has = {
	    "C: MAIL FROM:<alice@example.com>\n"
	    "C: RCPT TO:<bob@example.com>\n"
	    "C: RCPT TO:<carol@example.com>\n"
	    "C: RCPT TO:<dave@example.com>\n"
	    "C: DATA\n"
	    "S: 250 2.1.0 Ok\n" },
}, {
	.name = "stepwise: one RCPT refused, one 452, one accepted",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">550 5.1.1 unknown",
	    "<RCPT TO:<carol@example.com>", ">452 4.5.3 too many",
	    "<RCPT TO:<dave@example.com>", ">250 ok",
	    "<DATA", ">354 go", "=", ">250 2.0.0 done",
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 3,
		.rcpt = {
			{ .state = RCPT_PERM },
			{ .state = RCPT_TEMP, .code = 452, .text = "too many" },
			{ .state = RCPT_OK },
		},
		.reusable = YES,
	} },
}, {
	/* never DATA; the session carries the next message */
	.name = "no recipient accepted: RSET, then the next message",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">550 5.1.1 unknown bob",
	    "<RCPT TO:<carol@example.com>", ">550 5.1.1 unknown carol",
	    "<RSET", ">250 ok",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">250 ok",
	    "<DATA", ">354 go", "=", ">250 queued",
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_PERM, .temporary = NO,
		    .step = "RCPT TO", .code = 550, .text = {
		    "bob@example.com 550 5.1.1 unknown bob",
		    "carol@example.com 550 5.1.1 unknown carol" } },
		.rcpt = { { .state = RCPT_PERM }, { .state = RCPT_PERM } },
		.reusable = YES,
	}, {
		.nrcpts = 1, .rcpt = { { .state = RCPT_OK } },
	} },
}, {
	/* one of them was temporary: the whole is retried */
	.name = "pipelined, every RCPT and DATA refused: RSET",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
	    "<MAIL FROM:<alice@example.com>",
	    "<RCPT TO:<bob@example.com>", "<RCPT TO:<carol@example.com>",
	    "<DATA", ">250 ok", ">450 4.2.0 busy", ">550 5.1.1 unknown",
	    ">554 5.5.1 no valid recipients",
	    "<RSET", ">250 ok", "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_TEMP, .temporary = YES },
		.rcpt = { { .state = RCPT_TEMP }, { .state = RCPT_PERM } },
		.reusable = YES,
	} },
}, {
	/* "." alone, its reply ignored; no RSET (the dot ended it) */
	.name = "pipelined, every RCPT refused but DATA got 354",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
	    "<MAIL FROM:<alice@example.com>",
	    "<RCPT TO:<bob@example.com>", "<DATA",
	    ">250 ok", ">550 5.1.1 unknown", ">354 go", "<.",
	    ">554 5.5.1 no recipients", "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PERM, .code = 550 },
		.rcpt = { { .state = RCPT_PERM } },
		.reusable = YES,
	} },
}, {
	/* the server is closing: not reused, no QUIT */
	.name = "pipelined, every RCPT refused, 354, then 421 to the dot",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
	    "<MAIL FROM:<alice@example.com>",
	    "<RCPT TO:<bob@example.com>", "<DATA",
	    ">250 ok", ">550 5.1.1 unknown", ">354 go", "<.",
	    ">421 4.3.2 shutting down"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PERM, .code = 550 },
		.rcpt = { { .state = RCPT_PERM } },
		.reusable = NO,
	} },
}, {
	/* nothing more is sent, not even QUIT; a further send is refused
	 * at once */
	.name = "421 to MAIL",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>",
	    ">421 4.3.2 shutting down"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_TEMP, .temporary = YES,
		    .step = "MAIL FROM", .code = 421 },
		.rcpt = { { .state = RCPT_PENDING },
		    { .state = RCPT_PENDING } },
		.reusable = NO,
	}, {
		.nrcpts = 1, .err = { .fail = SMTP_FAIL_CONN },
	} },
}, {
	/* bob was accepted but nothing was delivered: still pending */
	.name = "421 among the pipelined RCPT replies",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
	    "<MAIL FROM:<alice@example.com>",
	    "<RCPT TO:<bob@example.com>", "<RCPT TO:<carol@example.com>",
	    "<DATA", ">250 ok", ">250 ok", ">421 4.4.2 timeout",
	    "!close"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_TEMP, .temporary = YES,
		    .code = 421 },
		.rcpt = { { .state = RCPT_PENDING },
		    { .state = RCPT_PENDING } },
		.reusable = NO,
	} },
}, {
	.name = "554 greeting: QUIT",
	.script = SCRIPT(">554 5.7.1 no service for you", "<QUIT",
	    ">221 bye"),
	.connect = { .fail = SMTP_FAIL_PERM, .temporary = NO,
	    .step = "greeting", .code = 554,
	    .text = { "554 5.7.1 no service for you" } },
}, {
	.name = "421 greeting: no QUIT",
	.script = SCRIPT(">421 4.3.2 busy"),
	.connect = { .fail = SMTP_FAIL_TEMP, .temporary = YES },
}, {
	/* the accepted recipients get DATA's reply */
	.name = "DATA refused: RSET",
	.script = SCRIPT(TO_BOB, "<RCPT TO:<carol@example.com>", ">550 no",
	    "<DATA", ">554 5.3.0 no data today",
	    "<RSET", ">250 ok", "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_PERM, .step = "DATA", .code = 554 },
		.rcpt = { { .state = RCPT_PERM, .code = 554 },
		    { .state = RCPT_PERM, .code = 550 } },
		.reusable = YES,
	} },
}, {
	/* accepted recipients TEMP, no RSET, reusable */
	.name = "451 after the dot",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "=",
	    ">451 4.7.1 Try again later", "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_TEMP, .temporary = YES,
		    .step = "end of data" },
		.rcpt = { { .state = RCPT_TEMP, .code = 451,
		    .text = "Try again later" } },
		.reply = "451 4.7.1 Try again later",
		.maybe_delivered = NO, .reusable = YES,
	} },
}, {
	.name = "554 after the dot",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "=", ">554 5.6.0 spam",
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PERM, .temporary = NO },
		.rcpt = { { .state = RCPT_PERM } },
	} },
}, {
	/* the deferred one must be retried: temporary for it */
	.name = "one recipient 452 at RCPT, 554 after the dot for the other",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">452 4.2.2 mailbox full",
	    "<RCPT TO:<carol@example.com>", ">250 ok",
	    "<DATA", ">354 go", "=", ">554 5.6.0 spam",
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 2,
		.err = { .fail = SMTP_FAIL_PERM, .temporary = YES },
		.rcpt = { { .state = RCPT_TEMP, .code = 452 },
		    { .state = RCPT_PERM, .code = 554 } },
		.reusable = YES,
	} },
}, {
	/* the server may have it */
	.name = "connection lost after the dot",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "=", "!close"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_CONN, .temporary = YES },
		.rcpt = { { .state = RCPT_PENDING } },
		.maybe_delivered = YES, .reusable = NO,
	} },
}, {
	.name = "no reply to the dot within its timeout",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "="),
	.tmo = { .dot = 100 },
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_CONN, .text = { "no answer" } },
		.maybe_delivered = YES,
	} },
}, {
	/* a timeout before the dot is not "maybe delivered" */
	.name = "no reply to DATA within its timeout",
	.script = SCRIPT(TO_BOB, "<DATA"),
	.tmo = { .data = 100 },
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_CONN, .temporary = YES,
		    .step = "DATA" },
		.maybe_delivered = NO, .reusable = NO,
	} },
},
MALFORMED("letter in code", "25O ok"),
MALFORMED("bad separator", "250_ok"),
MALFORMED("code 600", "600 ok"),
MALFORMED("empty", ""),
MALFORMED("mismatched continuation", "250-ok\r\n251 ok"),
MALFORMED("unexpected 354", "354 go"),
{
	/* nothing was delivered: no dot went out */
	.name = "the server stops reading the body: block timeout",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "!stall"),
	.make_message = message_4mb,
	.tmo = { .block = 100 },
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_CONN, .temporary = YES,
		    .step = "DATA", .text = { "timed out" } },
		.rcpt = { { .state = RCPT_PENDING } },
		.maybe_delivered = NO, .reusable = NO,
	} },
	.hang_up = 1,
	.transcript_has = { "then the connection failed]" },
	.transcript_lacks = { "C: .\n" },
}, {
	.name = "no greeting within its timeout",
	/* the server says nothing */
	.script = (const char *const[]){ NULL },
	.tmo = { .greeting = 100 },
	.connect = { .fail = SMTP_FAIL_CONN, .temporary = YES,
	    .step = "greeting" },
},
/* Replies that make no sense where they come: a protocol error, and no
 * recipient counts as delivered. */
{
	.name = "nonsense: 250 to DATA",
	.script = SCRIPT(TO_BOB, "<DATA", ">250 no data needed"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PROTO, .temporary = YES },
		.rcpt = { { .state = RCPT_PENDING } },
		.maybe_delivered = NO, .reusable = NO,
	} },
}, {
	.name = "nonsense: 354 to the dot",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "=", ">354 again?"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PROTO, .temporary = YES },
		.rcpt = { { .state = RCPT_PENDING } },
		.maybe_delivered = YES, .reusable = NO,
	} },
}, {
	.name = "nonsense: 354 to RCPT",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">354 what"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PROTO, .temporary = YES },
		.rcpt = { { .state = RCPT_PENDING } },
		.maybe_delivered = NO, .reusable = NO,
	} },
}, {
	.name = "a reply of 101 lines is refused",
	.script = SCRIPT(GREET, EHLO, "!lines 101 250-X"),
	.connect = { .fail = SMTP_FAIL_PROTO, .step = "EHLO" },
}, {
	/* refused before MAIL, with both sizes; the session is fine */
	.name = "SIZE smaller than the message",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 SIZE 100",
	    "<QUIT", ">221 bye"),
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_PERM, .temporary = NO,
		    .code = NO_CODE, .text = { "412", "100" } },
		.reusable = YES,
	} },
}, {
	.name = "SMTPUTF8 needed but not offered",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 8BITMIME",
	    "<QUIT", ">221 bye"),
	.force_smtputf8 = 1,
	.send = { {
		.nrcpts = 1,
		.err = { .fail = SMTP_FAIL_LOCAL, .temporary = NO,
		    .text = { "SMTPUTF8" } },
	} },
}, {
	/* both parameters on MAIL */
	.name = "SMTPUTF8 and 8BITMIME offered",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250-8bitmime",
	    ">250-smtputf8", ">250 size",
	    "<MAIL FROM:<alice@example.com> SIZE=412 BODY=8BITMIME "
	    "SMTPUTF8", ">250 ok",
	    "<RCPT TO:<j\xc3\xb6rg@example.com>", ">250 ok",
	    "<DATA", ">354 go", "=", ">250 ok",
	    "<QUIT", ">221 bye"),
	.message = "From: alice@example.com\nTo: j\xc3\xb6rg@example.com\n"
	    "Subject: x\n\nGr\xc3\xbc\xc3\x9f" "e\n",
	.own_rcpts = 1,
	.msg_smtputf8 = YES,
	.caps = "esmtp size 8bitmime smtputf8",
	.send = { { .nrcpts = 1 } },
	.wire = WIRE_8BIT,
}, {
	/* no RSET between completed ones */
	.name = "two messages on one connection",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 PIPELINING",
	    ENVELOPE_AHEAD, ">250 ok", ">250 ok", ">354 go", "=", ">250 one",
	    ENVELOPE_AHEAD, ">250 ok", ">250 ok", ">354 go", "=", ">250 two",
	    "<QUIT", ">221 bye"),
	.send = {
		{ .nrcpts = 1, .reply = "250 one", .reusable = YES },
		{ .nrcpts = 1, .reply = "250 two" },
	},
}, {
	.name = "an address with a line break never reaches the wire",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example", "<QUIT",
	    ">221 bye"),
	.rcpt0 = "bob@example.com>\r\nRCPT TO:<eve@example.com",
	.send = { { .nrcpts = 1, .err = { .fail = SMTP_FAIL_LOCAL } } },
}, {
	.name = "non-printable bytes from the server replaced",
	.script = SCRIPT("!raw 220 evil\033[2J\x01 ESMTP\r\n", EHLO,
	    ">250 mx", "<QUIT", ">221 bye"),
	.transcript = "S: 220 evil?[2J? ESMTP\nC: EHLO client.example\n"
	    "S: 250 mx\nC: QUIT\nS: 221 bye\n",
}, {
	/* progress reaches the total, the bytes arrive intact */
	.name = "a bigger body",
	.script = SCRIPT(TO_BOB, "<DATA", ">354 go", "=", ">250 ok",
	    "<QUIT", ">221 bye"),
	.make_message = message_600k_dots,
	.send = { { .nrcpts = 1 } },
	.wire = WIRE_7BIT,
	.progress_calls = 2,
}, {
	/* a TLS failure, never a mail transaction in plain text */
	.name = "STARTTLS required but not offered",
	.script = SCRIPT(GREET, EHLO, ">250-mx.example", ">250 8BITMIME",
	    "<QUIT", ">221 bye"),
	.tls = SMTP_TLS_STARTTLS,
	.connect = { .fail = SMTP_FAIL_TLS },
}, {
	.name = "a hidden command shows only its stand-in",
	.script = SCRIPT(GREET, EHLO, ">250 mx.example",
	    "<AUTH PLAIN AGFsaWNlAHNlY3JldA==", ">235 2.7.0 ok",
	    "<QUIT", ">221 bye"),
	.act = act_cmd_hidden,
	.transcript_has = {
	    "C: AUTH PLAIN [credentials hidden]\nS: 235 2.7.0 ok\n" },
	.transcript_lacks = { "AGFsaWNl" },
},
};
#undef MALFORMED

/* ---- the runner ---- */

/* CAPS as one line: "esmtp" or "helo", then what is offered, in the
 * order of struct smtp_caps ("size" alone: SIZE without a limit). */
static void caps_text(const struct smtp_caps *k, char *buf, size_t cap)
{
	size_t n;

	n = (size_t)snprintf(buf, cap, "%s", k->esmtp ? "esmtp" : "helo");
	if (k->has_size && k->size > 0)
		n += (size_t)snprintf(buf + n, cap - n, " size=%llu",
		    (unsigned long long)k->size);
	else if (k->has_size)
		n += (size_t)snprintf(buf + n, cap - n, " size");
	n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s%s%s%s",
	    k->pipelining ? " pipelining" : "",
	    k->eightbitmime ? " 8bitmime" : "",
	    k->smtputf8 ? " smtputf8" : "",
	    k->starttls ? " starttls" : "",
	    k->enhancedstatuscodes ? " enhancedstatuscodes" : "",
	    k->chunking ? " chunking" : "", k->dsn ? " dsn" : "");
	if (k->auth[0] != '\0')
		snprintf(buf + n, cap - n, " auth=%s", k->auth);
}

static int tc_tmo(int set)
{
	return set > 0 ? set : CLIENT_TMO;
}

/* The client's side of row C: message, recipients, parameters. */
static void tc_setup(struct tc *t, const struct client_case *c)
{
	char *made = c->make_message != NULL ? c->make_message() : NULL;
	size_t i;

	tc_message(t, made != NULL ? made : c->message != NULL ?
	    c->message : default_msg);
	free(made);
	if (c->msg_smtputf8 != ANY)
		assert_int_equal(t->m.smtputf8, c->msg_smtputf8 == YES);
	if (c->force_smtputf8)
		t->m.smtputf8 = 1;
	for (i = 0; c->own_rcpts && i < t->m.nrcpts && i < 3; i++)
		t->rcpts[i] = t->m.rcpts[i];
	if (c->rcpt0 != NULL)
		t->rcpts[0] = c->rcpt0;
	t->params.timeouts = (struct smtp_timeouts){
		tc_tmo(c->tmo.connect), tc_tmo(c->tmo.greeting),
		tc_tmo(c->tmo.command), tc_tmo(c->tmo.mail),
		tc_tmo(c->tmo.rcpt), tc_tmo(c->tmo.data),
		tc_tmo(c->tmo.block), tc_tmo(c->tmo.dot),
	};
	t->params.tls = c->tls;
}

/* Whether NEEDLE is in HAY: WANT 1, it must be; 0, it must not. */
static void check_substr(const char *what, const char *hay,
    const char *needle, int want)
{
	int got = strstr(hay, needle) != NULL;

	if (got != want)
		print_error("%s %s \"%s\":\n%s\n", what,
		    want ? "lacks" : "has", needle, hay);
	assert_int_equal(got, want);
}

static void check_err(const char *what, int rc, const struct smtp_error *err,
    const struct want_err *w)
{
	if (w->fail == SMTP_OK) {
		if (rc != 0)
			print_error("%s: %s\n", what, err->text);
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, -1);
	if (err->fail != w->fail)
		print_error("%s: fail %s, want %s (%s)\n", what,
		    smtp_fail_name(err->fail), smtp_fail_name(w->fail),
		    err->text);
	assert_int_equal(err->fail, w->fail);
	if (w->temporary != ANY)
		assert_int_equal(err->temporary, w->temporary == YES);
	if (w->step != NULL)
		assert_string_equal(err->step, w->step);
	if (w->code != 0)
		assert_int_equal(err->code, w->code == NO_CODE ? 0 : w->code);
	if (w->enh != NULL)
		assert_string_equal(err->enh, w->enh);
	for (size_t i = 0; i < 2 && w->text[i] != NULL; i++)
		check_substr("error text", err->text, w->text[i], 1);
}

static void check_rcpt(const struct smtp_rcpt_result *r,
    const struct want_rcpt *w)
{
	if (w->state != RCPT_ANY)
		assert_int_equal(r->state, (int)w->state - 1);
	if (w->code != 0)
		assert_int_equal(r->code, w->code);
	if (w->enh != NULL)
		assert_string_equal(r->enh, w->enh);
	if (w->text != NULL)
		assert_string_equal(r->text, w->text);
	if (w->addr != NULL)
		assert_string_equal(r->addr, w->addr);
}

static void check_want(const char *what, int got, enum want w)
{
	if (w == ANY)
		return;
	if (got != (w == YES))
		print_error("%s: got %d, want %d\n", what, got, w == YES);
	assert_int_equal(got, w == YES);
}

static void check_send(struct tc *t, struct smtp_session *s,
    const struct want_send *w)
{
	struct smtp_error err;
	int rc;

	rc = smtp_send(s, &t->m, t->msgfd, t->rcpts, w->nrcpts, &t->res,
	    &err);
	check_err("send", rc, &err, &w->err);
	assert_int_equal(t->res.nrcpts, w->nrcpts);
	for (size_t i = 0; i < w->nrcpts && i < 3; i++)
		check_rcpt(&t->rr[i], &w->rcpt[i]);
	if (w->code != 0)
		assert_int_equal(t->res.code, w->code);
	if (w->enh != NULL)
		assert_string_equal(t->res.enh, w->enh);
	if (w->reply != NULL)
		assert_string_equal(t->res.reply, w->reply);
	check_want("maybe_delivered", t->res.maybe_delivered,
	    w->maybe_delivered);
	check_want("reusable", t->res.reusable, w->reusable);
}

/* After the session: the bytes the server got, and the transcript. */
static void check_after(struct tc *t, const struct client_case *c)
{
	char want[4096], *wire = NULL;
	size_t wlen = 0, i;

	if (c->wire != NO_WIRE) {
		wire = tc_wire(t, c->wire == WIRE_8BIT, &wlen);
		assert_int_equal(t->peer.data_len, wlen);
		assert_memory_equal(t->peer.data, wire, wlen);
		free(wire);
	}
	if (c->data_has != NULL)
		check_substr("data", t->peer.data != NULL ? t->peer.data : "",
		    c->data_has, 1);
	if (c->progress_calls > 0) {
		assert_true(t->progress_calls >= c->progress_calls);
		assert_int_equal(t->progress_sent, wlen);
	}
	if (c->transcript != NULL) {
		snprintf(want, sizeof(want), c->transcript, wlen);
		assert_string_equal(t->transcript, want);
	}
	for (i = 0; i < 2 && c->transcript_has[i] != NULL; i++)
		check_substr("transcript", t->transcript,
		    c->transcript_has[i], 1);
	for (i = 0; i < 2 && c->transcript_lacks[i] != NULL; i++)
		check_substr("transcript", t->transcript,
		    c->transcript_lacks[i], 0);
}

/* The one runner: row *STATE against its script. */
static void test_client_case(void **state)
{
	const struct client_case *c = *state;
	struct tc *t = tc_new(c->script);
	struct smtp_session *s = (struct smtp_session *)&s;
	struct smtp_error err;
	char caps[512];
	int rc;

	tc_setup(t, c);
	rc = smtp_connect_fd(&t->params, t->cfd, &s, &err);
	check_err("connect", rc, &err, &c->connect);
	if (rc < 0) {
		assert_null(s);
	} else {
		if (c->caps != NULL) {
			caps_text(smtp_caps(s), caps, sizeof(caps));
			assert_string_equal(caps, c->caps);
		}
		if (c->desc != NULL)
			assert_string_equal(smtp_server_desc(s), c->desc);
		if (c->prologue != NULL)
			assert_string_equal(smtp_prologue(s), c->prologue);
		if (c->act != NULL)
			c->act(s);
		for (size_t i = 0; i < 2 && c->send[i].nrcpts > 0; i++)
			check_send(t, s, &c->send[i]);
		if (c->hang_up)
			smtp_close(s);
		else
			smtp_quit(s);
	}
	tc_end(t, "");
	check_after(t, c);
	tc_free(t);
}

/* ---- outside the table ---- */

/* Until T's server has hung up. */
static void tc_wait_hangup(struct tc *t)
{
	struct pollfd pf;

	pf.fd = t->cfd;
	pf.events = POLLRDHUP;
	pf.revents = 0;
	while (!(pf.revents & (POLLRDHUP | POLLHUP)))
		assert_int_equal(poll(&pf, 1, 5000), 1);
}

/* T's message on a new session *S, sent up to its "." (smtp_send_begin
 * returned 1: the "." waits for smtp_send_end or smtp_send_next). */
static void tc_to_dot(struct tc *t, struct smtp_session **s,
    struct smtp_error *err)
{
	tc_message(t, default_msg);
	assert_int_equal(smtp_connect_fd(&t->params, t->cfd, s, err), 0);
	assert_int_equal(smtp_send_begin(*s, &t->m, t->msgfd, t->rcpts, 1,
	    &t->res, err), 1);
}

/*
 * smtp_send in halves: smtp_send_begin returns once "." is out, before
 * any reply to it (the peer holds its reply behind a gate the test opens
 * only afterwards: a begin that waited for it would time out); nothing
 * else may go out while that reply is owed (another smtp_send fails and
 * sends nothing); smtp_send_end reads it. The second message's reply to
 * "." is 421: the end fails, and the session is not reusable.
 */
static void test_client_send_halves(void **state)
{
	static const char *const script[] = { PIPE_TO_BOB, "=",
	    "!gate", ">250 2.0.0 Ok: queued as A",
	    ENVELOPE_AHEAD, ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go", "=",
	    ">421 4.3.0 shutting down", NULL };
	struct tc *t = tc_new(script);
	struct smtp_session *s = NULL;
	struct smtp_result res2;
	struct smtp_rcpt_result rr2[1];
	struct smtp_error err, err2;
	int gate[2];

	(void)state;
	assert_int_equal(pipe(gate), 0);
	t->peer.gate = gate[0];
	tc_to_dot(t, &s, &err);
	check_substr("transcript", t->transcript, "C: .\n", 1);
	check_substr("transcript", t->transcript, "queued as A", 0);
	/* the reply is owed: no second transaction starts */
	res2.rcpts = rr2;
	assert_int_equal(smtp_send(s, &t->m, t->msgfd, t->rcpts, 1, &res2,
	    &err2), -1);
	assert_int_equal(err2.fail, SMTP_FAIL_CONN);
	assert_int_equal(write(gate[1], "x", 1), 1);
	assert_int_equal(smtp_send_end(s), 0);
	assert_int_equal(t->res.code, 250);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as A");
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	assert_true(t->res.reusable);
	check_substr("transcript", t->transcript,
	    "C: .\nS: 250 2.0.0 Ok: queued as A\n", 1);
	/* no reply owed now */
	assert_int_equal(smtp_send_end(s), -1);
	/* the second: its "." answered 421 */
	assert_int_equal(smtp_send_begin(s, &t->m, t->msgfd, t->rcpts, 1,
	    &t->res, &err), 1);
	assert_int_equal(smtp_send_end(s), -1);
	assert_int_equal(t->res.code, 421);
	assert_false(t->res.reusable);
	assert_int_equal(t->rr[0].state, SMTP_RCPT_TEMP);
	smtp_close(s);
	tc_end(t, "");
	close(gate[0]);
	close(gate[1]);
	tc_free(t);
}

/*
 * smtp_send_next: the second message's MAIL, RCPT and DATA go out behind
 * the first one's "." (the peer answers that "." only once it has them:
 * a client that waited for the reply first would time out), its replies
 * come after that one's; each message's transcript reads as if sent in
 * turn. Then a third one whose "." is refused (554) while the envelope
 * of a fourth is out already: that one's outcome is its own.
 */
static void test_client_send_ahead(void **state)
{
	static const char *const script[] = { PIPE_TO_BOB, "=",
	    ENVELOPE_AHEAD, ">250 2.0.0 Ok: queued as A",
	    ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go", "=",
	    ENVELOPE_AHEAD, ">554 5.7.1 no thanks",
	    ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go", "=",
	    ">250 2.0.0 Ok: queued as C", "<QUIT", ">221 bye", NULL };
	struct tc *t = tc_new(script);
	struct smtp_session *s = NULL;
	struct smtp_rcpt_result rr2[1];
	struct smtp_result res2 = { .rcpts = rr2 };
	struct smtp_error err, err2;
	struct tc *t2 = calloc(1, sizeof(*t2));   /* the second's tag */

	(void)state;
	assert_non_null(t2);
	tc_to_dot(t, &s, &err);
	/* the first's reply, read with the second's envelope out */
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), 0);
	assert_int_equal(t->res.code, 250);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as A");
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	assert_true(t->res.reusable);
	/* the first transcript ends with its own ".": nothing of the
	 * second is in it */
	check_substr("first transcript", t->transcript,
	    "C: .\nS: 250 2.0.0 Ok: queued as A\n", 1);
	assert_int_equal(strstr(t->transcript, "queued as A\n") + 12 -
	    t->transcript, (long)t->tlen);
	/* the second, with its own tag: its envelope lines first */
	smtp_set_tag(s, t2);
	assert_int_equal(smtp_send_begin(s, &t->m, t->msgfd, t->rcpts, 1,
	    &res2, &err2), 1);
	check_substr("second transcript", t2->transcript,
	    "C: MAIL FROM:<alice@example.com>\n"
	    "C: RCPT TO:<bob@example.com>\nC: DATA\n"
	    "S: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 354 go\n", 1);
	assert_true(strncmp(t2->transcript, "C: MAIL FROM:", 13) == 0);
	/* the third's envelope goes out; the second's "." is refused */
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), -1);
	assert_int_equal(res2.code, 554);
	assert_int_equal(rr2[0].state, SMTP_RCPT_PERM);
	assert_true(res2.reusable);
	check_substr("second transcript", t2->transcript,
	    "C: .\nS: 554 5.7.1 no thanks\n", 1);
	/* the third goes on, and is taken */
	smtp_set_tag(s, t);
	assert_int_equal(smtp_send(s, &t->m, t->msgfd, t->rcpts, 1,
	    &t->res, &err), 0);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as C");
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);
	free(t2);
}

/*
 * What smtp_send_next leaves is for that message alone: another message
 * in its place fails without a byte sent and retires the session; a
 * server without PIPELINING gets nothing ahead (smtp_send_next is
 * smtp_send_end); a session dropped with an envelope out sends no QUIT,
 * nor one with a "." whose reply is owed (nor that ".").
 */
static void test_client_send_ahead_misuse(void **state)
{
	static const char *const script[] = { PIPE_TO_BOB, "=",
	    ENVELOPE_AHEAD, ">250 2.0.0 Ok: queued as A", NULL };
	static const char *const owed[] = { PIPE_TO_BOB, NULL };
	static const char *const plain[] = { GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 2.1.0 Ok",
	    "<RCPT TO:<bob@example.com>", ">250 2.1.5 Ok",
	    "<DATA", ">354 go", "=", ">250 2.0.0 Ok: queued as B",
	    "<QUIT", ">221 bye", NULL };
	struct tc *t = tc_new(script);
	struct smtp_session *s = NULL;
	struct msg other;
	struct smtp_error err;

	(void)state;
	tc_message(t, default_msg);
	other = t->m;
	assert_int_equal(smtp_connect_fd(&t->params, t->cfd, &s, &err), 0);
	assert_int_equal(smtp_send_begin(s, &t->m, t->msgfd, t->rcpts, 1,
	    &t->res, &err), 1);
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), 0);
	assert_true(t->res.reusable);
	assert_int_equal(smtp_send(s, &other, t->msgfd, t->rcpts, 1,
	    &t->res, &err), -1);
	assert_int_equal(err.fail, SMTP_FAIL_LOCAL);
	assert_false(t->res.reusable);
	smtp_quit(s);             /* no QUIT: out of step */
	tc_end(t, "");
	tc_free(t);

	/* quit with a "." whose reply is owed: neither it nor QUIT goes */
	t = tc_new(owed);
	tc_to_dot(t, &s, &err);
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);

	t = tc_new(plain);
	tc_to_dot(t, &s, &err);
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), 0);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as B");
	assert_true(t->res.reusable);
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);
}

/*
 * The "." goes out in one write with the next envelope. A server that
 * hangs up after its 354, before the "." can go: that write fails, the
 * message fails as its data does, nothing delivered (not "may have
 * it"). A server that answers the "." and hangs up: the reply counts,
 * and the next message fails at MAIL FROM, nothing of it delivered.
 */
static void test_client_send_ahead_hangup(void **state)
{
	static const char *const before[] = { PIPE_TO_BOB, "!close",
	    NULL };
	static const char *const after[] = { PIPE_TO_BOB, "=",
	    ENVELOPE_AHEAD, ">250 2.0.0 Ok: queued as A", "!close", NULL };
	struct tc *t = tc_new(before);
	struct smtp_session *s = NULL;
	struct smtp_rcpt_result rr2[1];
	struct smtp_result res2 = { .rcpts = rr2 };
	struct smtp_error err, err2;

	(void)state;
	tc_to_dot(t, &s, &err);
	/* the server has hung up before the "." went */
	tc_wait_hangup(t);
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), -1);
	assert_int_equal(err.fail, SMTP_FAIL_CONN);
	assert_true(err.temporary);
	assert_false(t->res.maybe_delivered);
	assert_false(t->res.reusable);
	smtp_close(s);
	tc_end(t, "");
	tc_free(t);

	t = tc_new(after);
	tc_to_dot(t, &s, &err);
	assert_int_equal(smtp_send_next(s, &t->m, t->rcpts, 1), 0);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as A");
	assert_int_equal(t->rr[0].state, SMTP_RCPT_OK);
	assert_false(t->res.maybe_delivered);
	assert_int_equal(smtp_send_begin(s, &t->m, t->msgfd, t->rcpts, 1,
	    &res2, &err2), -1);
	assert_int_equal(err2.fail, SMTP_FAIL_CONN);
	assert_false(res2.maybe_delivered);
	assert_false(res2.reusable);
	smtp_close(s);
	tc_end(t, "");
	tc_free(t);
}

/* What smtp_send_next_while's callback saw. */
struct while_probe {
	const struct smtp_result *res;
	int calls;
	int code_then;       /* the "."'s reply code when it was called */
};

static void while_probe_fn(void *arg)
{
	struct while_probe *w = arg;

	w->calls++;
	w->code_then = w->res->code;
}

/*
 * smtp_send_next_while calls back once the "." and the next envelope are
 * out and before the "."'s reply is read (the server answers only after
 * both came: the callback ran between); not at all when nothing went
 * ahead (no PIPELINING) or the "." could not go (the server hung up).
 */
static void test_client_send_next_while(void **state)
{
	static const char *const script[] = { PIPE_TO_BOB, "=",
	    ENVELOPE_AHEAD, ">250 2.0.0 Ok: queued as A",
	    ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go", "=",
	    ">250 2.0.0 Ok: queued as B", "<QUIT", ">221 bye", NULL };
	static const char *const plain[] = { GREET, EHLO, ">250 mx.example",
	    "<MAIL FROM:<alice@example.com>", ">250 2.1.0 Ok",
	    "<RCPT TO:<bob@example.com>", ">250 2.1.5 Ok",
	    "<DATA", ">354 go", "=", ">250 2.0.0 Ok: queued as B",
	    "<QUIT", ">221 bye", NULL };
	static const char *const hangup[] = { PIPE_TO_BOB, "!close",
	    NULL };
	struct tc *t = tc_new(script);
	struct smtp_session *s = NULL;
	struct smtp_rcpt_result rr2[1];
	struct smtp_result res2 = { .rcpts = rr2 };
	struct smtp_error err, err2;
	struct while_probe w = { NULL, 0, -1 };

	(void)state;
	tc_to_dot(t, &s, &err);
	w.res = &t->res;
	assert_int_equal(smtp_send_next_while(s, &t->m, t->rcpts, 1,
	    while_probe_fn, &w), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.code_then, 0);
	assert_int_equal(t->res.code, 250);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as A");
	/* the message sent ahead goes on as usual */
	assert_int_equal(smtp_send(s, &t->m, t->msgfd, t->rcpts, 1,
	    &res2, &err2), 0);
	assert_string_equal(res2.reply, "250 2.0.0 Ok: queued as B");
	assert_int_equal(w.calls, 1);
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);

	/* no PIPELINING: nothing goes ahead, no call */
	t = tc_new(plain);
	tc_message(t, default_msg);
	w.calls = 0;
	assert_int_equal(smtp_connect_fd(&t->params, t->cfd, &s, &err), 0);
	assert_int_equal(smtp_send_begin(s, &t->m, t->msgfd, t->rcpts, 1,
	    &t->res, &err), 1);
	assert_int_equal(smtp_send_next_while(s, &t->m, t->rcpts, 1,
	    while_probe_fn, &w), 0);
	assert_int_equal(w.calls, 0);
	assert_string_equal(t->res.reply, "250 2.0.0 Ok: queued as B");
	smtp_quit(s);
	tc_end(t, "");
	tc_free(t);

	/* the "." cannot go: no call */
	t = tc_new(hangup);
	tc_to_dot(t, &s, &err);
	tc_wait_hangup(t);
	assert_int_equal(smtp_send_next_while(s, &t->m, t->rcpts, 1,
	    while_probe_fn, &w), -1);
	assert_int_equal(w.calls, 0);
	assert_false(t->res.reusable);
	smtp_close(s);
	tc_end(t, "");
	tc_free(t);
}

/*
 * A kept session (smtp_alive) on a PIPELINING server costs no round trip
 * of its own: the next transaction's group opens with RSET, and the peer
 * reads RSET, MAIL, RCPT and DATA before it answers any (a client that
 * waited for a reply in between would time out). An RSET answered 421,
 * or not at all, fails the transaction with err.stale, nothing of it
 * taken; a 421 to MAIL after the RSET's 250 is the server's own and not
 * stale. Without PIPELINING, smtp_alive sends a NOOP of its own. Bytes
 * read already behind the last reply (a 421 in the same segment) mean
 * not alive, though the socket has nothing more to read.
 */
static void test_client_alive_rset(void **state)
{
#define ALIVE_FIRST PIPE_TO_BOB, "=", ">250 2.0.0 Ok: queued as A", \
	"<RSET", ENVELOPE_AHEAD
	static const char *const ok[] = { ALIVE_FIRST, ">250 2.0.0 Reset",
	    ">250 2.1.0 Ok", ">250 2.1.5 Ok", ">354 go", "=",
	    ">250 2.0.0 Ok: queued as B", "<QUIT", ">221 bye", NULL };
	static const char *const refused[] = { ALIVE_FIRST,
	    ">421 4.4.2 idle too long", "!close", NULL };
	static const char *const closed[] = { ALIVE_FIRST, "!close", NULL };
	static const char *const mail421[] = { ALIVE_FIRST,
	    ">250 2.0.0 Reset", ">421 4.3.2 shutting down", "!close", NULL };
	static const char *const plain[] = { TO_BOB, "<DATA", ">354 go", "=",
	    ">250 2.0.0 Ok: queued as A", "<NOOP", ">250 ok",
	    "<MAIL FROM:<alice@example.com>", ">250 ok",
	    "<RCPT TO:<bob@example.com>", ">250 ok", "<DATA", ">354 go", "=",
	    ">250 2.0.0 Ok: queued as B", "<QUIT", ">221 bye", NULL };
	static const struct {
		const char *const *script;
		int rc, stale, code;
	} rows[] = {
		{ ok, 0, 0, 250 },
		{ refused, -1, 1, 0 },
		{ closed, -1, 1, 0 },
		{ mail421, -1, 0, 0 },
		{ plain, 0, 0, 250 },
	};
	struct smtp_rcpt_result rr2[1];
	struct smtp_result res2 = { .rcpts = rr2 };
	struct smtp_session *s = NULL;
	struct smtp_error err, err2;
	struct tc *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t = tc_new(rows[i].script);
		if (rows[i].script == plain) {
			tc_message(t, default_msg);
			assert_int_equal(smtp_connect_fd(&t->params, t->cfd,
			    &s, &err), 0);
			assert_int_equal(smtp_send(s, &t->m, t->msgfd,
			    t->rcpts, 1, &t->res, &err), 0);
		} else {
			tc_to_dot(t, &s, &err);
			assert_int_equal(smtp_send_end(s), 0);
		}
		assert_true(t->res.reusable);
		assert_int_equal(smtp_alive(s), 1);
		assert_int_equal(smtp_send(s, &t->m, t->msgfd, t->rcpts, 1,
		    &res2, &err2), rows[i].rc);
		assert_int_equal(err2.stale, rows[i].stale);
		assert_false(res2.maybe_delivered);
		if (rows[i].rc == 0) {
			assert_int_equal(res2.code, rows[i].code);
			assert_string_equal(res2.reply,
			    "250 2.0.0 Ok: queued as B");
			assert_true(res2.reusable);
			smtp_quit(s);
		} else {
			assert_false(res2.reusable);
			if (rows[i].stale)
				check_substr("error", err2.text, "RSET", 1);
			else
				assert_int_equal(err2.code, 421);
			smtp_close(s);
		}
		check_substr("transcript", t->transcript,
		    "C: RSET\nC: MAIL FROM:<alice@example.com>\n",
		    rows[i].script != plain);
		check_substr("transcript", t->transcript, "C: NOOP\n",
		    rows[i].script == plain);
		tc_end(t, "");
		tc_free(t);
	}

	/* a 421 that came with the last reply, read already: not alive
	 * (one write: nothing is left for the peer to send after it) */
	t = tc_new(SCRIPT(PIPE_TO_BOB, "=",
	    "!raw 250 2.0.0 Ok: queued as A\r\n421 4.4.2 idle too long\r\n"));
	tc_to_dot(t, &s, &err);
	assert_int_equal(smtp_send_end(s), 0);
	assert_int_equal(smtp_alive(s), 0);
	smtp_close(s);
	tc_end(t, "");
	tc_free(t);
#undef ALIVE_FIRST
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
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_client_connect_refused),
		cmocka_unit_test(test_client_send_halves),
		cmocka_unit_test(test_client_send_ahead),
		cmocka_unit_test(test_client_send_ahead_misuse),
		cmocka_unit_test(test_client_send_ahead_hangup),
		cmocka_unit_test(test_client_send_next_while),
		cmocka_unit_test(test_client_alive_rset),
		cmocka_unit_test(test_client_caps_parse),
		cmocka_unit_test(test_client_caps_auth_cap),
		cmocka_unit_test(test_client_fail_names),
	};
	size_t nc = sizeof(client_cases) / sizeof(client_cases[0]);
	size_t nf = sizeof(fixed) / sizeof(fixed[0]), i;
	struct CMUnitTest *t = calloc(nc + nf, sizeof(*t));
	int rc;

	if (t == NULL)
		return 1;
	for (i = 0; i < nc; i++) {
		t[i].name = client_cases[i].name;
		t[i].test_func = test_client_case;
		t[i].initial_state = (void *)&client_cases[i];
	}
	for (i = 0; i < nf; i++)
		t[nc + i] = fixed[i];
	rc = _cmocka_run_group_tests("test_client", t, nc + nf, NULL, NULL);
	free(t);
	return rc;
}
