/*
 * test_queue_len — the length getattr shows for .queue is counted by
 * status_queue_line_len without rendering: for every kind of record
 * (escaped names, control bytes, long replies, every state, extreme
 * times and counts) it must equal what status_queue_line writes.
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

struct len_case {
	const char *name, *dir, *reply, *error, *word;
	enum ob_state state;
	unsigned attempts;
	int64_t next;
};

static const struct len_case len_cases[] = {
	{ "hello", NULL, NULL, NULL, NULL, OB_DRAFT, 0, 0 },
	{ "hello", "work", "250 2.0.0 Ok", NULL, NULL, OB_SENT, 1, 0 },
	{ "with space", NULL, NULL, "connect: refused", NULL, OB_DEFERRED,
	    3, 1795000000 },
	{ "back\\slash\ttab\nnl\x7f", "a b", NULL, NULL, NULL, OB_QUEUED,
	    0, 0 },
	{ "x", NULL, "421 ctl\x01\x02 bytes\r", "ignored: reply wins", NULL,
	    OB_DEFERRED, 4294967295u, 0 },
	{ "x", NULL, "", "", NULL, OB_FAILED, 1, 0 },
	{ "x", NULL, NULL, NULL, NULL, OB_DEFERRED, 1, INT64_MAX },
	{ "x", NULL, NULL, NULL, NULL, OB_DEFERRED, 1, -1 },
	{ NULL, NULL, NULL, NULL, NULL, OB_PARTIAL, 2, 0 },
	{ "corrupt/900", NULL, NULL, "set aside in the spool's corrupt/: bad",
	    "corrupt", OB_DRAFT, 0, 0 },
	{ "\xff\xfe non-utf8", NULL, NULL, NULL, NULL, OB_SENDING, 7, 0 },
};

static void check_len(const struct spool_rec *r, const char *word,
    size_t i)
{
	struct buf b = BUF_INIT(BUF_NOCAP);
	size_t len, want;

	assert_int_equal(status_queue_line(&b, r, word), 0);
	len = b.len;
	want = status_queue_line_len(r, word);
	if (want != len || strlen(b.p) != len)
		fail_msg("case %zu: counted %zu, written %zu", i, want, len);
	buf_free(&b);
}

static void test_len_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(len_cases) / sizeof(len_cases[0]); i++) {
		const struct len_case *c = &len_cases[i];
		struct spool_rec r;

		memset(&r, 0, sizeof(r));
		r.name = (char *)c->name;
		r.dir = (char *)c->dir;
		r.reply = (char *)c->reply;
		r.error = (char *)c->error;
		r.state = c->state;
		r.attempts = c->attempts;
		r.next = c->next;
		check_len(&r, c->word, i);
	}
}

/* A 256 KiB reply of control bytes and a 4 KiB name of backslashes:
 * the worst growth the escaping can cause. */
static void test_len_huge(void **state)
{
	struct spool_rec r;
	char *reply = malloc(256 * 1024 + 1), *name = malloc(4097);

	(void)state;
	assert_non_null(reply);
	assert_non_null(name);
	memset(reply, '\x01', 256 * 1024);
	reply[256 * 1024] = '\0';
	memset(name, '\\', 4096);
	name[4096] = '\0';
	memset(&r, 0, sizeof(r));
	r.name = name;
	r.reply = reply;
	r.state = OB_DEFERRED;
	r.next = 1795000000;
	check_len(&r, NULL, 0);
	assert_true(status_queue_line_len(&r, NULL) > 4 * 4096 + 256 * 1024);
	free(reply);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_len_table),
		cmocka_unit_test(test_len_huge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
