/*
 * test_hindex — the open-addressing index: found by hash and by the
 * caller's test, through growth, with every item under one hash, and
 * never found when absent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/hindex.h"

static const uint64_t *keys;   /* item v has key keys[v - 1] */

static int key_eq(const void *ctx, uint32_t v)
{
	return keys[v - 1] == *(const uint64_t *)ctx;
}

/* Hashes of the rows: a good one, one with the high half only (the
 * index keeps the low one), and one that puts everything together. */
static uint64_t hash_mix(uint64_t k) { return k * 0x9E3779B97F4A7C15ull; }
static uint64_t hash_high(uint64_t k) { return k << 32; }
static uint64_t hash_same(uint64_t k) { (void)k; return 42; }

static void test_table(void **state)
{
	static const struct {
		const char *name;
		uint64_t (*hash)(uint64_t);
		size_t n;
	} rows[] = {
		{ "mixed", hash_mix, 5000 },
		{ "high bits only", hash_high, 700 },
		{ "one hash for all", hash_same, 300 },
		{ "empty", hash_mix, 0 },
		{ "one", hash_mix, 1 },
		{ "at a growth", hash_mix, 32 },
		{ "past a growth", hash_mix, 33 },
	};
	static uint64_t k[5000];
	size_t r, i;

	(void)state;
	keys = k;
	for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct hindex x = HINDEX_INIT;
		uint64_t miss;

		for (i = 0; i < rows[r].n; i++) {
			k[i] = i * 7919 + 13;
			assert_int_equal(hindex_find(&x, rows[r].hash(k[i]),
			    key_eq, &k[i]), 0);
			assert_int_equal(hindex_add(&x, rows[r].hash(k[i]),
			    (uint32_t)i + 1), 0);
			assert_true(x.n * 2 <= x.cap);
		}
		for (i = 0; i < rows[r].n; i++)
			if (hindex_find(&x, rows[r].hash(k[i]), key_eq,
			    &k[i]) != i + 1)
				fail_msg("%s: item %zu not found",
				    rows[r].name, i + 1);
		miss = 1;              /* no key is 1 (they are 13 mod 7919) */
		assert_int_equal(hindex_find(&x, rows[r].hash(miss), key_eq,
		    &miss), 0);
		assert_int_equal(x.n, rows[r].n);
		hindex_free(&x);
		assert_null(x.s);
		assert_int_equal(hindex_find(&x, 1, key_eq, &miss), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
