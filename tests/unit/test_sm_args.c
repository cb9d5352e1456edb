/*
 * test_sm_args — outboxfs-sendmail's command line: the invocations of
 * cron, mutt, git send-email, PHP and mail(1), the flags accepted and
 * ignored, the refused ones, and hostile values. Table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sendmail/args.h"

#define MAXA 12

struct ok_case {
	const char *argv[MAXA];
	int mode, t, i, verbose, wait;
	long long wait_s;
	const char *sender, *fullname, *notify, *ret, *config;
	size_t nrcpts;
	const char *rcpt0, *rcpt_last;
};

static const struct ok_case ok_cases[] = {
	/* cron */
	{ { "sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root" },
	  SM_SEND, 0, 1, 0, 0, -1, NULL, "CronDaemon", "", "", NULL, 1,
	  "root", "root" },
	/* mutt */
	{ { "sendmail", "-oem", "-oi", "-f", "a@b.c", "--", "x@y.z", "-odd@y.z" },
	  SM_SEND, 0, 1, 0, 0, -1, "a@b.c", NULL, "", "", NULL, 2, "x@y.z",
	  "-odd@y.z" },
	/* git send-email */
	{ { "sendmail", "-i", "a@b.c", "d@e.f" }, SM_SEND, 0, 1, 0, 0, -1, NULL,
	  NULL, "", "", NULL, 2, "a@b.c", "d@e.f" },
	/* PHP */
	{ { "sendmail", "-t", "-i" }, SM_SEND, 1, 1, 0, 0, -1, NULL, NULL, "",
	  "", NULL, 0, NULL, NULL },
	/* grouped flags, attached values, options after recipients */
	{ { "sendmail", "-ti", "a@b.c", "-fme@x.y", "-C/etc/c", "-v" }, SM_SEND,
	  1, 1, 1, 0, -1, "me@x.y", NULL, "", "", "/etc/c", 1, "a@b.c",
	  "a@b.c" },
	{ { "sendmail", "-N", "SUCCESS,Failure", "-R", "HDRS", "-V", "id1",
	    "a@b.c" }, SM_SEND, 0, 0, 0, 0, -1, NULL, NULL, "success,failure",
	  "hdrs", NULL, 1, "a@b.c", "a@b.c" },
	{ { "sendmail", "--wait", "a@b.c" }, SM_SEND, 0, 0, 0, 1, -1, NULL,
	  NULL, "", "", NULL, 1, "a@b.c", "a@b.c" },
	{ { "sendmail", "--wait=30", "-U", "-em", "-Am", "-odi", "-odb",
	    "-oQ/var/spool", "-Lcron", "-h", "5", "a@b.c" }, SM_SEND, 0, 0, 0,
	  1, 30, NULL, NULL, "", "", NULL, 1, "a@b.c", "a@b.c" },
	{ { "sendmail", "-bp" }, SM_LIST, 0, 0, 0, 0, -1, NULL, NULL, "", "",
	  NULL, 0, NULL, NULL },
	{ { "sendmail", "-q" }, SM_RETRY, 0, 0, 0, 0, -1, NULL, NULL, "", "",
	  NULL, 0, NULL, NULL },
	{ { "sendmail", "-bm", "-r", "x@y.z", "a@b.c" }, SM_SEND, 0, 0, 0, 0,
	  -1, "x@y.z", NULL, "", "", NULL, 1, "a@b.c", "a@b.c" },
	{ { "sendmail", "-N", "never", "a@b.c" }, SM_SEND, 0, 0, 0, 0, -1,
	  NULL, NULL, "never", "", NULL, 1, "a@b.c", "a@b.c" },
};

static int argc_of(const char *const *v)
{
	int n = 0;

	while (n < MAXA && v[n])
		n++;
	return n;
}

static void test_ok(void **state)
{
	struct sm_opts o;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];

		if (sm_parse_args(argc_of(c->argv), (char **)c->argv, &o, err,
		    sizeof(err)) < 0)
			fail_msg("case %zu refused: %s", i, err);
		assert_int_equal(o.mode, c->mode);
		assert_int_equal(o.read_rcpts, c->t);
		assert_int_equal(o.dot_is_data, c->i);
		assert_int_equal(o.verbose, c->verbose);
		assert_int_equal(o.wait, c->wait);
		assert_int_equal(o.wait_s, c->wait_s);
		if (c->sender)
			assert_string_equal(o.sender, c->sender);
		else
			assert_null(o.sender);
		if (c->fullname)
			assert_string_equal(o.fullname, c->fullname);
		if (c->config)
			assert_string_equal(o.config, c->config);
		assert_string_equal(o.notify, c->notify);
		assert_string_equal(o.ret, c->ret);
		assert_int_equal(o.nrcpts, c->nrcpts);
		if (c->nrcpts) {
			assert_string_equal(o.rcpts[0], c->rcpt0);
			assert_string_equal(o.rcpts[o.nrcpts - 1], c->rcpt_last);
		}
		sm_opts_free(&o);
	}
}

static const char *const bad_cases[][MAXA] = {
	{ "sendmail", "-X", "/tmp/log", "a@b.c" },      /* log file */
	{ "sendmail", "-bs" },                          /* SMTP on stdin */
	{ "sendmail", "-bi" },
	{ "sendmail", "-bd" },
	{ "sendmail", "-q1h" },
	{ "sendmail", "-qR" },
	{ "sendmail", "-f" },                           /* value missing */
	{ "sendmail", "-i", "-F" },
	{ "sendmail", "-N", "sometimes", "a@b.c" },
	{ "sendmail", "-N", "success,success", "a@b.c" },
	{ "sendmail", "-N", "never,delay", "a@b.c" },
	{ "sendmail", "-N", "successsuccesssuccesssuccesssuccess", "a@b.c" },
	{ "sendmail", "-R", "body", "a@b.c" },
	{ "sendmail", "-V", "a+b", "a@b.c" },
	{ "sendmail", "-V", "", "a@b.c" },
	{ "sendmail", "--wait=-1", "a@b.c" },
	{ "sendmail", "--wait=x", "a@b.c" },
	{ "sendmail", "--wait=99999999999999999999", "a@b.c" },
	{ "sendmail", "--frobnicate" },
	{ "sendmail", "-ox" },
	{ "sendmail", "-o" },
	{ "sendmail", "-e" },
	{ "sendmail", "-bp", "a@b.c" },
	{ "sendmail", "-q", "-bp" },
	{ "sendmail", "-G" },
	{ "sendmail", "-\x01" },
	{ "sendmail", "-\xff" },
};

static void test_bad(void **state)
{
	struct sm_opts o;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		err[0] = '\0';
		if (sm_parse_args(argc_of(bad_cases[i]), (char **)bad_cases[i],
		    &o, err, sizeof(err)) == 0)
			fail_msg("case %zu (%s) accepted, want refused", i,
			    bad_cases[i][1]);
		assert_true(err[0] != '\0');
		assert_null(strchr(err, '\n'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
