/*
 * test_buf — the capped growable buffer (util/buf): the cap met exactly
 * and passed by one, a zero cap, sizes that would wrap size_t, failures
 * that stick until a truncate or reset, printf, hand-over, and reading
 * a file whole. Table-driven where the cases are alike.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/buf.h"

/*
 * The ENOMEM cases ask for more memory than exists: under
 * AddressSanitizer that must come back as NULL, as it does from glibc,
 * instead of stopping the test.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

enum op { OP_ADD, OP_RESERVE };

struct add_case {
	const char *name;
	size_t max;
	size_t pre;          /* bytes appended first (they must fit) */
	enum op op;
	size_t n;            /* then this many bytes added or reserved */
	int want_errno;      /* 0: success */
	size_t want_len;
};

static const struct add_case add_cases[] = {
	{ "zero cap, nothing", 0, 0, OP_ADD, 0, 0, 0 },
	{ "zero cap, one byte", 0, 0, OP_ADD, 1, EMSGSIZE, 0 },
	{ "zero cap, reserve one", 0, 0, OP_RESERVE, 1, EMSGSIZE, 0 },
	{ "cap reached at once", 10, 0, OP_ADD, 10, 0, 10 },
	{ "cap + 1 at once", 10, 0, OP_ADD, 11, EMSGSIZE, 0 },
	{ "cap reached in two", 10, 4, OP_ADD, 6, 0, 10 },
	{ "cap + 1 in two", 10, 4, OP_ADD, 7, EMSGSIZE, 4 },
	{ "full, nothing more", 10, 10, OP_ADD, 0, 0, 10 },
	{ "full, one more", 10, 10, OP_ADD, 1, EMSGSIZE, 10 },
	{ "full, reserve one", 10, 10, OP_RESERVE, 1, EMSGSIZE, 10 },
	{ "SIZE_MAX bytes", 10, 5, OP_ADD, SIZE_MAX, EMSGSIZE, 5 },
	{ "len + n wraps to 0", 10, 5, OP_ADD, SIZE_MAX - 4, EMSGSIZE, 5 },
	{ "len + n + 1 wraps", 10, 5, OP_ADD, SIZE_MAX - 5, EMSGSIZE, 5 },
	{ "no cap, SIZE_MAX", BUF_NOCAP, 0, OP_ADD, SIZE_MAX, EMSGSIZE, 0 },
	{ "no cap, len + n = SIZE_MAX", BUF_NOCAP, 1, OP_ADD, SIZE_MAX - 1,
	  EMSGSIZE, 1 },
	{ "no cap, reserve SIZE_MAX", BUF_NOCAP, 3, OP_RESERVE, SIZE_MAX,
	  EMSGSIZE, 3 },
	{ "no cap, more than memory", BUF_NOCAP, 3, OP_RESERVE,
	  SIZE_MAX / 2, ENOMEM, 3 },
	{ "cap near SIZE_MAX, more than memory", SIZE_MAX - 1, 0,
	  OP_RESERVE, SIZE_MAX - 1, ENOMEM, 0 },
	{ "many doublings", BUF_NOCAP, 0, OP_ADD, 100000, 0, 100000 },
	{ "cap not a power of two", 1000, 999, OP_ADD, 1, 0, 1000 },
	{ "cap not a power of two, + 1", 1000, 999, OP_ADD, 2, EMSGSIZE,
	  999 },
};

static char src[100000];

static void test_add_table(void **state)
{
	size_t i;

	(void)state;
	memset(src, 'x', sizeof(src));
	for (i = 0; i < sizeof(add_cases) / sizeof(add_cases[0]); i++) {
		const struct add_case *c = &add_cases[i];
		struct buf b = BUF_INIT(c->max);
		int rc, got_errno = 0;

		if (buf_add(&b, src, c->pre) != 0)
			fail_msg("%s: the first %zu bytes did not fit",
			    c->name, c->pre);
		errno = 0;
		if (c->op == OP_ADD)
			rc = buf_add(&b, src, c->n);
		else
			rc = buf_reserve(&b, c->n) != NULL ? 0 : -1;
		if (rc < 0)
			got_errno = errno;
		if (got_errno != c->want_errno)
			fail_msg("%s: errno got %d, want %d", c->name,
			    got_errno, c->want_errno);
		if (b.err != c->want_errno)
			fail_msg("%s: err got %d, want %d", c->name, b.err,
			    c->want_errno);
		if (b.len != c->want_len)
			fail_msg("%s: len got %zu, want %zu", c->name, b.len,
			    c->want_len);
		if (b.len > c->max)
			fail_msg("%s: len %zu over the cap", c->name, b.len);
		if (b.p != NULL && (b.alloc <= b.len || b.p[b.len] != '\0'))
			fail_msg("%s: no NUL after the content", c->name);
		if (c->max < SIZE_MAX - 1 && b.alloc > c->max + 1)
			fail_msg("%s: %zu bytes allocated for a cap of %zu",
			    c->name, b.alloc, c->max);
		buf_free(&b);
	}
}

struct printf_case {
	size_t max;
	const char *pre;
	long num;
	const char *word;
	int want_errno;
	const char *want;
};

static const struct printf_case printf_cases[] = {
	{ 9, "", 12345, "abc", 0, "12345-abc" },          /* cap exact */
	{ 8, "", 12345, "abc", EMSGSIZE, "" },            /* cap + 1 */
	{ 12, "id ", -7, "", 0, "id -7-" },
	{ 11, "0123456789", 1, "", EMSGSIZE, "0123456789" },
	{ 0, "", 0, "", EMSGSIZE, "" },
	{ BUF_NOCAP, "x", 0, "y", 0, "x0-y" },
	/* written in place, in the room already allocated */
	{ 5, "ab", 12, "", 0, "ab12-" },                  /* cap exact */
	{ 4, "ab", 12, "", EMSGSIZE, "ab" },              /* cap + 1 */
};

static void test_printf_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(printf_cases) / sizeof(printf_cases[0]); i++) {
		const struct printf_case *c = &printf_cases[i];
		struct buf b = BUF_INIT(c->max);
		int rc;

		assert_int_equal(buf_adds(&b, c->pre), 0);
		errno = 0;
		rc = buf_printf(&b, "%ld-%s", c->num, c->word);
		if ((rc == 0 ? 0 : errno) != c->want_errno)
			fail_msg("case %zu: errno got %d, want %d", i,
			    rc == 0 ? 0 : errno, c->want_errno);
		if (strcmp(b.p != NULL ? b.p : "", c->want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
			    b.p != NULL ? b.p : "", c->want);
		assert_int_equal(b.len, strlen(c->want));
		buf_free(&b);
	}
}

/* A failure sticks until truncate or reset; content stays as it was. */
static void test_sticky(void **state)
{
	struct buf b = BUF_INIT(4);
	struct buf other = BUF_INIT(100);

	(void)state;
	assert_int_equal(buf_adds(&b, "abc"), 0);
	assert_int_equal(buf_adds(&b, "de"), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* what would fit now fails the same way */
	errno = 0;
	assert_int_equal(buf_add(&b, "d", 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(buf_add(&b, NULL, 0), -1);
	assert_int_equal(buf_printf(&b, "%s", ""), -1);
	assert_null(buf_reserve(&b, 0));
	assert_string_equal(b.p, "abc");
	/* and passes on to a buffer it is appended to */
	assert_int_equal(buf_adds(&other, "x"), 0);
	assert_int_equal(buf_add_buf(&other, &b), -1);
	assert_int_equal(other.err, EMSGSIZE);
	assert_string_equal(other.p, "x");
	buf_free(&other);
	/* truncate forgets it and keeps what was good */
	buf_truncate(&b, 2);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p, "ab");
	assert_int_equal(buf_adds(&b, "cd"), 0);
	assert_string_equal(b.p, "abcd");
	/* truncating past the end changes nothing but the error */
	assert_int_equal(buf_adds(&b, "e"), -1);
	buf_truncate(&b, 99);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p, "abcd");
	/* reset empties and forgets */
	assert_int_equal(buf_adds(&b, "e"), -1);
	buf_reset(&b);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	assert_int_equal(buf_adds(&b, "wxyz"), 0);
	buf_free(&b);
}

static void test_take(void **state)
{
	struct buf b = BUF_INIT(8);
	size_t len = 99;
	char *p;

	(void)state;
	/* nothing allocated: "" */
	p = buf_take(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	/* content with a NUL inside it */
	assert_int_equal(buf_add(&b, "a\0b", 3), 0);
	p = buf_take(&b, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 4);
	free(p);
	/* the buffer is empty again, with its cap */
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 8);
	assert_int_equal(buf_adds(&b, "12345678"), 0);
	assert_int_equal(buf_adds(&b, "9"), -1);
	/* after a failure: NULL, errno, nothing to free */
	errno = 0;
	assert_null(buf_take(&b, NULL));
	assert_int_equal(errno, EMSGSIZE);
	assert_null(b.p);
	assert_int_equal(b.err, 0);
	assert_int_equal(buf_adds(&b, "ok"), 0);
	p = buf_take(&b, NULL);
	assert_string_equal(p, "ok");
	free(p);
}

static void test_reserve_commit(void **state)
{
	struct buf b = BUF_INIT(16);
	char *at;

	(void)state;
	at = buf_reserve(&b, 16);
	assert_non_null(at);
	memcpy(at, "0123456789abcdef", 16);
	buf_commit(&b, 10);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.p, "0123456789");
	/* reserving nothing is fine, even when full */
	at = buf_reserve(&b, 6);
	assert_non_null(at);
	memcpy(at, "abcdef", 6);
	buf_commit(&b, 6);
	assert_non_null(buf_reserve(&b, 0));
	buf_commit(&b, 0);
	assert_string_equal(b.p, "0123456789abcdef");
	assert_true(b.alloc <= 17);
	buf_free(&b);
	/* committing nothing on a buffer never allocated */
	buf_commit(&b, 0);
	assert_null(b.p);
}

static void test_secret(void **state)
{
	struct buf b = BUF_INIT_SECRET(1 << 20);
	size_t i;

	(void)state;
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_add(&b, "s3cr", 4), 0);
	assert_int_equal(b.len, 20000);
	for (i = 0; i < b.len; i += 4)
		assert_memory_equal(b.p + i, "s3cr", 4);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.p[0], '\0');
	buf_free(&b);
	assert_int_equal(b.secret, 1);
	assert_null(b.p);
}

/* A file of SIZE bytes read into a buffer of cap MAX. */
struct read_case {
	size_t size, max;
	int want_errno;
	size_t want_len;
};

static const struct read_case read_cases[] = {
	{ 0, 0, 0, 0 },
	{ 0, 100, 0, 0 },
	{ 1, 0, EMSGSIZE, 0 },
	{ 100, 100, 0, 100 },                 /* cap met exactly */
	{ 101, 100, EMSGSIZE, 100 },          /* cap + 1: what fit is kept */
	{ 8192, 8192, 0, 8192 },
	{ 8193, 8192, EMSGSIZE, 8192 },
	{ 100000, BUF_NOCAP, 0, 100000 },
	{ 100000, 99999, EMSGSIZE, 99999 },
};

static void test_read_fd_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(read_cases) / sizeof(read_cases[0]); i++) {
		const struct read_case *c = &read_cases[i];
		struct buf b = BUF_INIT(c->max);
		FILE *f = tmpfile();
		int rc;

		assert_non_null(f);
		for (k = 0; k < c->size; k++)
			fputc('a' + (int)(k % 26), f);
		assert_int_equal(fflush(f), 0);
		rewind(f);
		errno = 0;
		rc = buf_read_fd(&b, fileno(f));
		if ((rc == 0 ? 0 : errno) != c->want_errno)
			fail_msg("case %zu: errno got %d, want %d", i,
			    rc == 0 ? 0 : errno, c->want_errno);
		if (b.len != c->want_len)
			fail_msg("case %zu: len got %zu, want %zu", i, b.len,
			    c->want_len);
		for (k = 0; k < b.len; k++)
			if (b.p[k] != 'a' + (int)(k % 26))
				fail_msg("case %zu: byte %zu is wrong", i, k);
		if (b.p != NULL)
			assert_int_equal(b.p[b.len], '\0');
		fclose(f);
		buf_free(&b);
	}
}

/* A read error does not stick; a bad descriptor is one. */
static void test_read_fd_error(void **state)
{
	struct buf b = BUF_INIT(100);

	(void)state;
	assert_int_equal(buf_adds(&b, "kept"), 0);
	errno = 0;
	assert_int_equal(buf_read_fd(&b, -1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p, "kept");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_table),
		cmocka_unit_test(test_printf_table),
		cmocka_unit_test(test_sticky),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_read_fd_table),
		cmocka_unit_test(test_read_fd_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
