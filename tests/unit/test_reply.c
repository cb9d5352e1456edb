/*
 * test_reply — the SMTP reply parser against well-formed and hostile
 * replies: every case feeds its lines in order and checks the status of
 * each feed, then the code, enhanced code, line count and last text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/reply.h"

#define MAXL 6

struct reply_case {
	const char *name;
	const char *lines[MAXL];     /* NULL-terminated */
	enum reply_status want[MAXL];
	int code;                    /* after the last feed; -1: don't care */
	const char *enh;             /* NULL: don't care */
	size_t nlines;
	const char *last_text;       /* NULL: don't care */
};

static const struct reply_case reply_cases[] = {
	{ "single", { "250 Ok" }, { REPLY_DONE }, 250, "", 1, "Ok" },
	{ "single with enh", { "250 2.0.0 Ok: queued as 4Q2X" },
	  { REPLY_DONE }, 250, "2.0.0", 1, "Ok: queued as 4Q2X" },
	{ "bare code", { "250" }, { REPLY_DONE }, 250, "", 1, "" },
	{ "code and space", { "250 " }, { REPLY_DONE }, 250, "", 1, "" },
	{ "multi-line EHLO", { "250-mx.example", "250-PIPELINING",
	  "250 SIZE 1000" }, { REPLY_MORE, REPLY_MORE, REPLY_DONE }, 250,
	  "", 3, "SIZE 1000" },
	{ "bare continuation", { "250-", "250 last" },
	  { REPLY_MORE, REPLY_DONE }, 250, "", 2, "last" },
	{ "mismatched code", { "250-a", "251 b" },
	  { REPLY_MORE, REPLY_BAD }, 250, NULL, 1, NULL },
	{ "mismatched class", { "250-a", "550 b" },
	  { REPLY_MORE, REPLY_BAD }, 250, NULL, 1, NULL },
	{ "bad separator", { "250x Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "tab separator", { "250\tOk" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "letters", { "abc Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "digit then letter", { "2x0 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "code 099", { "099 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "code 199", { "199 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "code 600", { "600 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "code 999", { "999 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "code 599", { "599 odd" }, { REPLY_DONE }, 599, "", 1, "odd" },
	{ "code 200", { "200 odd" }, { REPLY_DONE }, 200, "", 1, "odd" },
	{ "empty line", { "" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "two digits", { "25" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "two digits space", { "25 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "leading space", { " 250 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "four digits", { "2500 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "sign", { "-250 Ok" }, { REPLY_BAD }, -1, NULL, 0, NULL },
	{ "feed after done", { "250 Ok", "250 again" },
	  { REPLY_DONE, REPLY_BAD }, 250, NULL, 1, "Ok" },
	{ "enh 5.1 is not a code", { "550 5.1 nope" }, { REPLY_DONE }, 550,
	  "", 1, "5.1 nope" },
	{ "enh 2.0.0.0 is not a code", { "250 2.0.0.0 x" }, { REPLY_DONE },
	  250, "", 1, "2.0.0.0 x" },
	{ "enh class must match", { "550 4.1.1 x" }, { REPLY_DONE }, 550, "",
	  1, "4.1.1 x" },
	{ "enh 4-digit part", { "550 5.1234.1 x" }, { REPLY_DONE }, 550, "",
	  1, "5.1234.1 x" },
	{ "enh max digits", { "550 5.123.456 x" }, { REPLY_DONE }, 550,
	  "5.123.456", 1, "x" },
	{ "enh alone", { "451 4.7.1" }, { REPLY_DONE }, 451, "4.7.1", 1, "" },
	{ "enh glued", { "451 4.7.1x" }, { REPLY_DONE }, 451, "", 1,
	  "4.7.1x" },
	{ "enh letters", { "451 4.a.1 x" }, { REPLY_DONE }, 451, "", 1,
	  "4.a.1 x" },
	{ "enh from first line", { "550-5.1.1 The account", "550 5.1.1 gone" },
	  { REPLY_MORE, REPLY_DONE }, 550, "5.1.1", 2, "gone" },
	{ "enh only on a later line", { "550-first", "550 5.7.1 later" },
	  { REPLY_MORE, REPLY_DONE }, 550, "5.7.1", 2, "later" },
	{ "control bytes replaced", { "250 a\001b\033[31mc\177" },
	  { REPLY_DONE }, 250, "", 1, "a?b?[31mc?" },
	{ "8-bit bytes replaced", { "250 caf\xc3\xa9" }, { REPLY_DONE }, 250,
	  "", 1, "caf??" },
	{ "421 greeting", { "421 4.3.2 shutting down" }, { REPLY_DONE }, 421,
	  "4.3.2", 1, "shutting down" },
	{ "354", { "354 End data with <CR><LF>.<CR><LF>" }, { REPLY_DONE },
	  354, "", 1, "End data with <CR><LF>.<CR><LF>" },
};

static void test_reply_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];
		struct smtp_reply r;
		enum reply_status got;

		reply_init(&r);
		for (j = 0; j < MAXL && c->lines[j] != NULL; j++) {
			got = reply_feed(&r, c->lines[j], strlen(c->lines[j]));
			if (got != c->want[j])
				fail_msg("%s: line %zu: got %d, want %d",
				    c->name, j, (int)got, (int)c->want[j]);
		}
		if (c->code >= 0 && r.code != c->code)
			fail_msg("%s: code %d, want %d", c->name, r.code,
			    c->code);
		if (c->enh != NULL && strcmp(r.enh, c->enh) != 0)
			fail_msg("%s: enh \"%s\", want \"%s\"", c->name, r.enh,
			    c->enh);
		if (r.nlines != c->nlines)
			fail_msg("%s: %zu lines, want %zu", c->name, r.nlines,
			    c->nlines);
		if (c->last_text != NULL &&
		    strcmp(reply_last_text(&r), c->last_text) != 0)
			fail_msg("%s: text \"%s\", want \"%s\"", c->name,
			    reply_last_text(&r), c->last_text);
		reply_free(&r);
	}
}

static void test_reply_lines_stored(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(reply_feed(&r, "250-mx", 6), REPLY_MORE);
	assert_int_equal(reply_feed(&r, "250 SIZE", 8), REPLY_DONE);
	assert_string_equal(reply_line(&r, 0), "250-mx");
	assert_string_equal(reply_line(&r, 1), "250 SIZE");
	assert_null(reply_line(&r, 2));
	assert_null(reply_line(&r, (size_t)-1));
	reply_free(&r);
}

/* A NUL inside the line is data, not its end, and is replaced. */
static void test_reply_nul_byte(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(reply_feed(&r, "250 a\0b", 7), REPLY_DONE);
	assert_string_equal(reply_line(&r, 0), "250 a?b");
	reply_free(&r);
}

static void test_reply_overlong_line(void **state)
{
	size_t len = 100000;
	char *line = malloc(len);
	struct smtp_reply r;

	(void)state;
	assert_non_null(line);
	memset(line, 'x', len);
	memcpy(line, "250 ", 4);
	reply_init(&r);
	assert_int_equal(reply_feed(&r, line, len), REPLY_DONE);
	assert_int_equal(strlen(reply_line(&r, 0)), REPLY_MAX_LINE);
	assert_true(r.text.alloc < 2 * (REPLY_MAX_LINE + 1) + 256);
	reply_free(&r);
	free(line);
}

static void test_reply_line_cap(void **state)
{
	struct smtp_reply r;
	size_t i;

	(void)state;
	reply_init(&r);
	for (i = 0; i < REPLY_MAX_LINES; i++)
		assert_int_equal(reply_feed(&r, "250-x", 5), REPLY_MORE);
	assert_int_equal(reply_feed(&r, "250-x", 5), REPLY_TOOMANY);
	assert_int_equal(r.nlines, REPLY_MAX_LINES);
	reply_free(&r);
}

/* The 100th line may end the reply; line 101 may not exist. */
static void test_reply_line_cap_exact(void **state)
{
	struct smtp_reply r;
	size_t i;

	(void)state;
	reply_init(&r);
	for (i = 0; i + 1 < REPLY_MAX_LINES; i++)
		assert_int_equal(reply_feed(&r, "250-x", 5), REPLY_MORE);
	assert_int_equal(reply_feed(&r, "250 x", 5), REPLY_DONE);
	assert_int_equal(r.nlines, REPLY_MAX_LINES);
	assert_string_equal(reply_line(&r, REPLY_MAX_LINES - 1), "250 x");
	reply_free(&r);
}

static void test_reply_reset_reuse(void **state)
{
	struct smtp_reply r;

	(void)state;
	reply_init(&r);
	assert_int_equal(reply_feed(&r, "550 5.1.1 no", 12), REPLY_DONE);
	reply_reset(&r);
	assert_int_equal(r.nlines, 0);
	assert_string_equal(r.enh, "");
	assert_string_equal(reply_last_text(&r), "");
	assert_int_equal(reply_feed(&r, "250 ok", 6), REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "");
	assert_string_equal(reply_last_text(&r), "ok");
	reply_free(&r);
	reply_free(&r);         /* freeing twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_table),
		cmocka_unit_test(test_reply_lines_stored),
		cmocka_unit_test(test_reply_nul_byte),
		cmocka_unit_test(test_reply_overlong_line),
		cmocka_unit_test(test_reply_line_cap),
		cmocka_unit_test(test_reply_line_cap_exact),
		cmocka_unit_test(test_reply_reset_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
