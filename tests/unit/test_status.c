/*
 * test_status — the exact text of NAME.status headers for each state,
 * the .queue lines (escaped names, next attempt, corrupt records) and
 * the times: what outboxfs(1) documents, byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs/status.h"

#define T0 1795881600   /* 2026-11-28T16:00:00Z */

static struct spool_rcpt r_ok[] = {
	{ "bob@example.com", SPOOL_RCPT_OK, 250, "2.1.5 Ok" },
};
static struct spool_rcpt r_mixed[] = {
	{ "bob@example.com", SPOOL_RCPT_OK, 250, "2.1.5 Ok" },
	{ "carol@example.com", SPOOL_RCPT_TEMP, 451, "4.7.1 Try again later" },
};
static struct spool_rcpt r_partial[] = {
	{ "bob@example.com", SPOOL_RCPT_OK, 250, "2.1.5 Ok" },
	{ "nobody@example.com", SPOOL_RCPT_PERM, 550, "5.1.1 No such user" },
};
static struct spool_rcpt r_pending[] = {
	{ "bob@example.com", SPOOL_RCPT_PENDING, 0, NULL },
};

struct status_case {
	const char *name;
	struct spool_rec rec;
	uint64_t file_size, sent, total;
	const char *want;
};

#define MID "<20261128160000.4f2a@laptop.example.com>"

static const struct status_case cases[] = {
	{ "draft", { .id = 1, .name = "hello", .state = OB_DRAFT }, 43, 0, 0,
	  "state: draft\nsize: 43\n\n" },
	{ "empty draft", { .id = 1, .name = "e", .state = OB_DRAFT }, 0, 0, 0,
	  "state: draft\nsize: 0\n\n" },
	{ "queued", { .id = 1, .name = "hello", .state = OB_QUEUED,
	  .account = "default", .message_id = MID,
	  .from = "alice@example.com", .rcpts = r_pending, .nrcpts = 1,
	  .size = 412, .queued = T0 }, 300, 0, 0,
	  "state: queued\naccount: default\nmessage-id: " MID "\n"
	  "from: alice@example.com\nrecipients: 1\nsize: 412\n"
	  "queued: 2026-11-28T16:00:00Z\nattempts: 0\n"
	  "rcpt: bob@example.com pending\n\n" },
	{ "sending with progress", { .id = 1, .name = "big",
	  .state = OB_SENDING, .from = "alice@example.com", .rcpts = r_pending,
	  .nrcpts = 1, .size = 52428800, .queued = T0, .attempts = 1,
	  .server = "127.0.0.1:25 plain" }, 52000000, 1048576, 52428800,
	  "state: sending\nfrom: alice@example.com\nrecipients: 1\n"
	  "size: 52428800\nqueued: 2026-11-28T16:00:00Z\nattempts: 1\n"
	  "server: 127.0.0.1:25 plain\n"
	  "progress: 1048576 of 52428800 bytes\n"
	  "rcpt: bob@example.com pending\n\n" },
	{ "deferred", { .id = 1, .name = "hello", .state = OB_DEFERRED,
	  .message_id = MID, .from = "alice@example.com", .rcpts = r_mixed,
	  .nrcpts = 2, .size = 412, .queued = T0, .attempts = 1,
	  .next = T0 + 300,
	  .server = "smtp.example.com:587 starttls TLSv1.3 auth=plain",
	  .reply = "451 4.7.1 Try again later",
	  .error = "recipient carol@example.com deferred by server" },
	  412, 0, 0,
	  "state: deferred\nmessage-id: " MID "\nfrom: alice@example.com\n"
	  "recipients: 2\nsize: 412\nqueued: 2026-11-28T16:00:00Z\n"
	  "attempts: 1\nnext-attempt: 2026-11-28T16:05:00Z\n"
	  "server: smtp.example.com:587 starttls TLSv1.3 auth=plain\n"
	  "rcpt: bob@example.com 250 2.1.5 Ok\n"
	  "rcpt: carol@example.com 451 4.7.1 Try again later\n"
	  "reply: 451 4.7.1 Try again later\n"
	  "error: recipient carol@example.com deferred by server\n\n" },
	{ "sent", { .id = 1, .name = "hello", .state = OB_SENT,
	  .from = "alice@example.com", .rcpts = r_ok, .nrcpts = 1,
	  .size = 168, .queued = T0, .attempts = 1, .next = T0 + 999,
	  .server = "127.0.0.1:2525 plain",
	  .reply = "250 2.0.0 Ok: queued as 1" }, 43, 0, 0,
	  "state: sent\nfrom: alice@example.com\nrecipients: 1\nsize: 168\n"
	  "queued: 2026-11-28T16:00:00Z\nattempts: 1\n"
	  "server: 127.0.0.1:2525 plain\nrcpt: bob@example.com 250 2.1.5 Ok\n"
	  "reply: 250 2.0.0 Ok: queued as 1\n\n" },
	{ "partial", { .id = 1, .name = "p", .state = OB_PARTIAL,
	  .rcpts = r_partial, .nrcpts = 2, .size = 100, .queued = T0,
	  .attempts = 2, .reply = "250 2.0.0 Ok",
	  .error = "recipient nobody@example.com refused by server: check "
	  "the address" }, 90, 0, 0,
	  "state: partial\nrecipients: 2\nsize: 100\n"
	  "queued: 2026-11-28T16:00:00Z\nattempts: 2\n"
	  "rcpt: bob@example.com 250 2.1.5 Ok\n"
	  "rcpt: nobody@example.com 550 5.1.1 No such user\n"
	  "reply: 250 2.0.0 Ok\n"
	  "error: recipient nobody@example.com refused by server: check the "
	  "address\n\n" },
	{ "failed before any connection", { .id = 1, .name = "bad",
	  .state = OB_FAILED, .account = "default", .queued = T0,
	  .error = "no recipient: add a To:, Cc: or Bcc: line" }, 20, 0, 0,
	  "state: failed\naccount: default\nsize: 20\n"
	  "queued: 2026-11-28T16:00:00Z\nattempts: 0\n"
	  "error: no recipient: add a To:, Cc: or Bcc: line\n\n" },
	{ "duplicate possible", { .id = 1, .name = "d",
	  .state = OB_DEFERRED, .queued = T0, .attempts = 1, .next = T0 + 300,
	  .dup = 1 }, 5, 0, 0,
	  "state: deferred\nsize: 5\nqueued: 2026-11-28T16:00:00Z\n"
	  "attempts: 1\nnext-attempt: 2026-11-28T16:05:00Z\n"
	  "warning: the connection was lost after the final dot: the server "
	  "may already have this message, which may arrive twice "
	  "(RFC 1047)\n\n" },
	{ "interrupted", { .id = 1, .name = "i", .state = OB_QUEUED,
	  .queued = T0, .attempts = 1, .interrupted = 1 }, 5, 0, 0,
	  "state: queued\nsize: 5\nqueued: 2026-11-28T16:00:00Z\n"
	  "attempts: 1\nwarning: outboxfs stopped during an attempt: the "
	  "server may already have this message, which may arrive twice\n\n" },
	{ "control bytes shown as ?", { .id = 1, .name = "c",
	  .state = OB_FAILED, .queued = T0,
	  .error = "bad\r\nerror: injected\x1b[0m" }, 1, 0, 0,
	  "state: failed\nsize: 1\nqueued: 2026-11-28T16:00:00Z\n"
	  "attempts: 0\nerror: bad??error: injected?[0m\n\n" },
};

static void test_render_cases(void **state)
{
	size_t i, len;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct status_case *c = &cases[i];
		struct status_view v = { &c->rec, c->file_size, c->sent,
		    c->total, NULL, NULL, 0, 0 };

		assert_int_equal(status_render(&v, &out, &len), 0);
		if (len != strlen(c->want) || strcmp(out, c->want) != 0)
			fail_msg("%s: got\n[%s]\nwant\n[%s]", c->name, out,
			    c->want);
		free(out);
	}
}

/* vim's second :w of a submitted message: the error: line says why
 * first, and keeps what was there after it. */
static void test_render_rewrite_refused(void **state)
{
	struct spool_rec r;
	struct status_view v;
	char *out;
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.state = OB_SENT;
	r.queued = 1764345600;      /* 2025-11-28T16:00:00Z */
	memset(&v, 0, sizeof(v));
	v.rec = &r;
	v.rewrite_refused = 1;
	assert_int_equal(status_render(&v, &out, &len), 0);
	assert_non_null(strstr(out, "\nerror: already submitted at "
	    "2025-11-28T16:00:00Z; write a new file\n"));
	free(out);

	r.state = OB_FAILED;
	r.error = (char *)"no recipient\x1b[0m";
	assert_int_equal(status_render(&v, &out, &len), 0);
	assert_non_null(strstr(out, "\nerror: already submitted at "
	    "2025-11-28T16:00:00Z; write a new file; no recipient?[0m\n"));
	assert_null(strstr(out, "\nerror: no recipient"));
	free(out);
}

/* The user: line, after from:, with control bytes in a name hidden. */
static void test_render_user(void **state)
{
	static const struct {
		const char *user;
		unsigned long uid;
		const char *want;
	} uc[] = {
		{ "bob", 1001, "state: draft\nfrom: a@x\nuser: bob uid=1001\n"
		  "size: 3\n\n" },
		{ "root", 0, "state: draft\nfrom: a@x\nuser: root uid=0\n"
		  "size: 3\n\n" },
		{ "4294967294", 4294967294ul, "state: draft\nfrom: a@x\n"
		  "user: 4294967294 uid=4294967294\nsize: 3\n\n" },
		{ "b\nstate: sent", 7, "state: draft\nfrom: a@x\n"
		  "user: b?state: sent uid=7\nsize: 3\n\n" },
		{ NULL, 7, "state: draft\nfrom: a@x\nsize: 3\n\n" },
	};
	struct spool_rec r = { .id = 1, .name = "m", .state = OB_DRAFT,
	    .from = "a@x" };
	size_t i, len;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(uc) / sizeof(uc[0]); i++) {
		struct status_view v = { .rec = &r, .file_size = 3,
		    .user = uc[i].user, .uid = uc[i].uid };

		assert_int_equal(status_render(&v, &out, &len), 0);
		if (strcmp(out, uc[i].want) != 0)
			fail_msg("case %zu: got\n[%s]\nwant\n[%s]", i, out,
			    uc[i].want);
		free(out);
	}
}

static void test_time(void **state)
{
	char buf[40];

	(void)state;
	status_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	status_time(T0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T16:00:00Z");
	status_time(951782400, buf, sizeof(buf));   /* leap day 2000 */
	assert_string_equal(buf, "2000-02-29T00:00:00Z");
	status_time(T0, buf, 8);                     /* too small: "-" */
	assert_string_equal(buf, "-");
}

static void test_queue_lines(void **state)
{
	struct spool_rec a = { .id = 1, .name = "hello", .state = OB_SENT,
	    .attempts = 1, .reply = "250 2.0.0 Ok: queued as 1" };
	struct spool_rec b = { .id = 2, .name = "my note\\x", .dir = "work",
	    .state = OB_DEFERRED, .attempts = 3, .next = T0 + 300,
	    .error = "connect: Connection refused" };
	struct spool_rec c = { .id = 3, .name = "new\nline", .state = OB_DRAFT };
	struct spool_rec d = { .name = "corrupt/9",
	    .error = "no end line" };
	struct buf out = BUF_INIT(BUF_NOCAP);
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(status_queue_line(&out, &a, NULL), 0);
	assert_int_equal(status_queue_line(&out, &b, NULL), 0);
	assert_int_equal(status_queue_line(&out, &c, NULL), 0);
	assert_int_equal(status_queue_line(&out, &d, "corrupt"), 0);
	buf = buf_take(&out, &len);
	assert_non_null(buf);
	assert_string_equal(buf,
	    "hello sent 1 - 250 2.0.0 Ok: queued as 1\n"
	    "work/my\\040note\\134x deferred 3 2026-11-28T16:05:00Z "
	    "connect: Connection refused\n"
	    "new\\012line draft 0 - -\n"
	    "corrupt/9 corrupt 0 - no end line\n");
	assert_int_equal(len, strlen(buf));
	free(buf);
}

static void test_attempt_line(void **state)
{
	char buf[128], tiny[16];

	(void)state;
	status_attempt_line(buf, sizeof(buf), 2, T0, "smtp.example.com:587",
	    NULL);
	assert_string_equal(buf,
	    "--- attempt 2 2026-11-28T16:00:00Z smtp.example.com:587\n");
	status_attempt_line(buf, sizeof(buf), 3, T0, "h:25", "(reused)");
	assert_string_equal(buf,
	    "--- attempt 3 2026-11-28T16:00:00Z h:25 (reused)\n");
	status_attempt_line(tiny, sizeof(tiny), 3, T0, "h:25", NULL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(tiny[sizeof(tiny) - 2], '\n');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_cases),
		cmocka_unit_test(test_render_rewrite_refused),
		cmocka_unit_test(test_render_user),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_queue_lines),
		cmocka_unit_test(test_attempt_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
