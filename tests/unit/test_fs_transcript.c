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

	assert_true(m->cur_len >= cl);
	assert_true(m->cur_len <= OB_MAX_TRANSCRIPT + cl);
	assert_true(m->cur_len <= m->cur_cap);
	assert_memory_equal(m->cur + m->cur_len - cl, cut_line, cl);
	for (i = 0; i < m->cur_len - cl; i++)
		if (m->cur[i] != 'x' && m->cur[i] != '\n')
			fail_msg("byte %zu of %zu is 0x%02x", i, m->cur_len,
			    (unsigned char)m->cur[i]);
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
		before = m.cur_len;
		for (j = 0; j < 10; j++)
			ob_transcript_add(&m, line, lens[k]);
		if (m.cur_len != before)
			fail_msg("len %zu: grew from %zu to %zu after the cut",
			    lens[k], before, m.cur_len);
		check_cut(&m);
		free(m.cur);
	}
	free(line);
}

/* A new attempt (cur_len back to 0) starts a fresh transcript. */
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
	m.cur_len = 0;
	ob_transcript_add(&m, "S: 220 hi", 9);
	assert_int_equal(m.cur_len, 10);
	assert_memory_equal(m.cur, "S: 220 hi\n", 10);
	free(m.cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
