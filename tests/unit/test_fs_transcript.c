/*
 * test_fs_transcript — the cap on one attempt's transcript: lines of
 * every length up to the cap, then the cut line, and nothing after it
 * (no byte the lines did not put there reaches a status file or a log).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fs/outbox.h"

static const char cut_line[] = "[transcript cut: too long]\n";

/* Every byte of M's transcript is 'x', '\n' or part of the final cut
 * line, which appears exactly once, at the end. */
static void check_cut(const struct ob_msg *m)
{
	size_t cl = sizeof(cut_line) - 1, i;

	assert_non_null(m->lv);
	assert_true(m->lv->cur.len >= cl);
	assert_true(m->lv->cur.len <= OB_MAX_TRANSCRIPT + cl);
	assert_true(m->lv->cur.len <= m->lv->cur.alloc);
	assert_memory_equal(m->lv->cur.p + m->lv->cur.len - cl, cut_line, cl);
	for (i = 0; i < m->lv->cur.len - cl; i++)
		if (m->lv->cur.p[i] != 'x' && m->lv->cur.p[i] != '\n')
			fail_msg("byte %zu of %zu is 0x%02x", i, m->lv->cur.len,
			    (unsigned char)m->lv->cur.p[i]);
}

static void test_cap(void **state)
{
	static const size_t lens[] = { 1, 7, 80, 512, 998, 1099, 4096 };
	char *line = malloc(4096);
	size_t k, i, before;
	int j;

	(void)state;
	assert_non_null(line);
	memset(line, 'x', 4096);
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct ob_msg m;

		memset(&m, 0, sizeof(m));
		for (i = 0; i <= OB_MAX_TRANSCRIPT / (lens[k] + 1) + 1; i++)
			ob_transcript_add(&m, line, lens[k]);
		check_cut(&m);
		before = m.lv->cur.len;
		for (j = 0; j < 10; j++)
			ob_transcript_add(&m, line, lens[k]);
		if (m.lv->cur.len != before)
			fail_msg("len %zu: grew from %zu to %zu after the cut",
			    lens[k], before, m.lv->cur.len);
		check_cut(&m);
		buf_free(&m.lv->cur);
		ob_live_drop(&m);
		assert_null(m.lv);
	}
	free(line);
}

/* A new attempt (cur reset) starts a fresh transcript; the live part
 * is let go of once nothing is left in it. */
static void test_reset(void **state)
{
	struct ob_msg m;
	char line[1000];
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(line, 'x', sizeof(line));
	for (i = 0; i < 2 * OB_MAX_TRANSCRIPT / sizeof(line); i++)
		ob_transcript_add(&m, line, sizeof(line));
	check_cut(&m);
	buf_reset(&m.lv->cur);
	ob_transcript_add(&m, "S: 220 hi", 9);
	assert_int_equal(m.lv->cur.len, 10);
	assert_memory_equal(m.lv->cur.p, "S: 220 hi\n", 10);
	/* at rest again: the live part goes only once it is empty */
	ob_live_drop(&m);
	assert_non_null(m.lv);
	buf_free(&m.lv->cur);
	ob_live_drop(&m);
	assert_null(m.lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
