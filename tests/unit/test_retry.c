/*
 * test_retry — the retry schedule (Postfix's rule): the delay is the
 * message's age clamped to [retry_min, retry_max] plus at most a tenth as
 * jitter; expiry after max_queue_time. Table-driven, exact bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "fs/retry.h"

struct delay_case {
	int64_t age;
	unsigned min, max, jitter;
	unsigned want;
};

static const struct delay_case delay_cases[] = {
	/* first retry of a new message: the minimum */
	{ 0, 300, 4000, 0, 300 },
	{ 1, 300, 4000, 0, 300 },
	{ 299, 300, 4000, 0, 300 },
	/* then the age itself */
	{ 300, 300, 4000, 0, 300 },
	{ 301, 300, 4000, 0, 301 },
	{ 1234, 300, 4000, 0, 1234 },
	{ 4000, 300, 4000, 0, 4000 },
	/* capped at the maximum */
	{ 4001, 300, 4000, 0, 4000 },
	{ 5 * 86400, 300, 4000, 0, 4000 },
	{ INT64_MAX, 300, 4000, 0, 4000 },
	/* a clock that went backwards: the minimum */
	{ -50, 300, 4000, 0, 300 },
	{ INT64_MIN, 300, 4000, 0, 300 },
	/* jitter: up to +10 %, never less */
	{ 0, 300, 4000, 999, 329 },
	{ 0, 300, 4000, 500, 315 },
	{ 10000, 300, 4000, 999, 4399 },
	{ 10000, 300, 4000, 1000, 4399 },     /* out of range: as 999 */
	{ 10000, 300, 4000, 123456, 4399 },
	/* odd settings */
	{ 0, 0, 0, 0, 1 },                    /* min 0 is 1 s */
	{ 100, 600, 60, 0, 600 },             /* max below min: min */
	{ 100, 1, 1, 0, 1 },
	{ 1000, 0xffffffffu, 0xffffffffu, 999, 0xffffffffu },   /* no wrap */
};

static void test_delay_table(void **state)
{
	size_t i;
	unsigned got;

	(void)state;
	for (i = 0; i < sizeof(delay_cases) / sizeof(delay_cases[0]); i++) {
		const struct delay_case *c = &delay_cases[i];

		got = retry_delay(c->age, c->min, c->max, c->jitter);
		if (got != c->want)
			fail_msg("case %zu: age %lld min %u max %u jitter %u: "
			    "got %u, want %u", i, (long long)c->age, c->min,
			    c->max, c->jitter, got, c->want);
	}
}

/* For every age and jitter the delay stays within [clamp, 1.1 clamp]. */
static void test_delay_bounds(void **state)
{
	int64_t age;
	unsigned j, d, lo;

	(void)state;
	for (age = 0; age < 20000; age += 37)
		for (j = 0; j < 1000; j += 111) {
			d = retry_delay(age, 300, 4000, j);
			lo = age < 300 ? 300 : age > 4000 ? 4000 :
			    (unsigned)age;
			assert_true(d >= lo);
			assert_true(d <= lo + lo / 10);
		}
}

struct expiry_case {
	int64_t age;
	unsigned max;
	int want;
};

static const struct expiry_case expiry_cases[] = {
	{ 0, 432000, 0 },
	{ 432000, 432000, 0 },        /* exactly 5 days: still tried */
	{ 432001, 432000, 1 },
	{ INT64_MAX, 432000, 1 },
	{ -1, 432000, 0 },
	{ INT64_MAX, 0, 0 },          /* 0: never expires */
	{ 61, 60, 1 },
};

static void test_expiry_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(expiry_cases) / sizeof(expiry_cases[0]); i++)
		if (retry_expired(expiry_cases[i].age, expiry_cases[i].max) !=
		    expiry_cases[i].want)
			fail_msg("expiry case %zu: age %lld max %u: want %d",
			    i, (long long)expiry_cases[i].age,
			    expiry_cases[i].max, expiry_cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_table),
		cmocka_unit_test(test_delay_bounds),
		cmocka_unit_test(test_expiry_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
