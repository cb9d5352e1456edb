/*
 * test_drop — the maildrop format (fs/drop.h) with hostile inputs: a
 * round trip, then blocks cut short, with NUL bytes, control bytes,
 * repeated or unknown keys, huge numbers, too many recipients, bad DSN
 * values; the writer's atomic drop and its cleanup on failure; names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/drop.h"

static void test_roundtrip(void **state)
{
	char *rc[] = { "bob@example.com", "\"a b\"@example.com" };
	struct drop_env e = { .uid = 1000, .sender = "alice@example.com",
		.rcpts = rc, .nrcpts = 2, .notify = "success,failure",
		.ret = "hdrs", .envid = "QQ314159", .size = 42 };
	struct drop_env b;
	char *text, err[256], dsn[128];
	size_t len, head;

	(void)state;
	assert_int_equal(drop_format(&e, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(drop_parse(text, len, &b, &head, err, sizeof(err)), 0);
	assert_int_equal(head, len);
	assert_int_equal(b.uid, 1000);
	assert_int_equal(b.size, 42);
	assert_int_equal(b.nrcpts, 2);
	assert_string_equal(b.rcpts[1], "\"a b\"@example.com");
	assert_string_equal(b.sender, "alice@example.com");
	drop_dsn_text(&b, dsn, sizeof(dsn));
	assert_string_equal(dsn, "NOTIFY=success,failure RET=hdrs ENVID=QQ314159");
	drop_env_free(&b);
	free(text);
}

struct bad_case {
	const char *text;
	size_t len;          /* 0: strlen */
};

#define H "outboxfs-drop 1\n"
static const struct bad_case bad_cases[] = {
	{ "", 0 },
	{ "outboxfs-drop 2\nuid 1\nrcpt a@b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 1\n", 0 },                 /* no end */
	{ H "uid 1\nrcpt a@b\nsize 1\nen", 0 },               /* cut */
	{ H "rcpt a@b\nsize 1\nend\n", 0 },                   /* no uid */
	{ H "uid 1\nsize 1\nend\n", 0 },                      /* no rcpt */
	{ H "uid 1\nrcpt a@b\nend\n", 0 },                    /* no size */
	{ H "uid 1\nuid 2\nrcpt a@b\nsize 1\nend\n", 0 },     /* repeated */
	{ H "uid 1\nrcpt a@b\nsize 1\nsize 1\nend\n", 0 },
	{ H "uid 1\nsender a@b\nsender c@d\nrcpt a@b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 1\nhello x\nend\n", 0 },   /* unknown */
	{ H "uid 1\nrcpt \nsize 1\nend\n", 0 },               /* empty */
	{ H "uid 1\nrcpt a\x01@b\nsize 1\nend\n", 0 },        /* control */
	{ H "uid 1\nrcpt a\r@b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a\x7f@b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\0x\nsize 1\nend\n", 37 },        /* NUL */
	{ H "uid 4294967295\nrcpt a@b\nsize 1\nend\n", 0 },   /* -1 uid */
	{ H "uid 99999999999999999999\nrcpt a@b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 18446744073709551616\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 9223372036854775808\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize -1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 01\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 1 \nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nnotify sometimes\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nnotify success,success\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nnotify never,success\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nret all\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nenvid a+b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nenvid a=b\nsize 1\nend\n", 0 },
	{ H "uid 1\nrcpt a@b\nsize 1\nend", 0 },              /* no LF */
	{ H "uid 1\r\nrcpt a@b\nsize 1\nend\n", 0 },          /* CR */
};

static void test_bad(void **state)
{
	struct drop_env e;
	char err[256];
	size_t i, head, len;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		len = bad_cases[i].len ? bad_cases[i].len :
		    strlen(bad_cases[i].text);
		err[0] = '\0';
		if (drop_parse(bad_cases[i].text, len, &e, &head, err,
		    sizeof(err)) == 0) {
			fail_msg("case %zu accepted, want refused", i);
		}
		assert_true(err[0] != '\0');
	}
}

static void test_limits(void **state)
{
	/* 1001 recipients, a line over DROP_MAX_LINE, a block over
	 * DROP_MAX_HEAD: refused without reading past the buffer */
	size_t cap = DROP_MAX_HEAD + 4096, len = 0, i, head;
	char *buf = malloc(cap), err[256];
	struct drop_env e;

	(void)state;
	assert_non_null(buf);
	len += (size_t)snprintf(buf + len, cap - len, H "uid 1\n");
	for (i = 0; i < 1001; i++)
		len += (size_t)snprintf(buf + len, cap - len, "rcpt a%zu@b\n", i);
	len += (size_t)snprintf(buf + len, cap - len, "size 1\nend\n");
	assert_int_equal(drop_parse(buf, len, &e, &head, err, sizeof(err)), -1);

	len = (size_t)snprintf(buf, cap, H "uid 1\nrcpt ");
	memset(buf + len, 'a', 2000);
	len += 2000;
	len += (size_t)snprintf(buf + len, cap - len, "@b\nsize 1\nend\n");
	assert_int_equal(drop_parse(buf, len, &e, &head, err, sizeof(err)), -1);

	len = (size_t)snprintf(buf, cap, H "uid 1\nrcpt a@b\nsize 1\n");
	memset(buf + len, 'x', cap - len);   /* no end line, no NUL */
	assert_int_equal(drop_parse(buf, cap, &e, &head, err, sizeof(err)), -1);
	free(buf);
}

static void test_format_refuses(void **state)
{
	char *rc[] = { "a@b\nrcpt evil@x" };
	struct drop_env e = { .uid = 1, .rcpts = rc, .nrcpts = 1, .size = 1 };
	char *text = NULL, err[256];
	size_t len;

	(void)state;
	assert_int_equal(drop_format(&e, &text, &len, err, sizeof(err)), -1);
	e.nrcpts = 0;
	assert_int_equal(drop_format(&e, &text, &len, err, sizeof(err)), -1);
	assert_null(text);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(drop_name_ok("20261130T120000-4f2a00ff"));
	assert_false(drop_name_ok("20261130T120000-4F2A00FF"));
	assert_false(drop_name_ok("20261130T120000-4f2a00f"));
	assert_false(drop_name_ok("20261130X120000-4f2a00ff"));
	assert_false(drop_name_ok(".tmp-20261130T120000-4f2a00ff"));
	assert_false(drop_name_ok("../20261130T12000-4f2a00ff"));
	assert_false(drop_name_ok(""));
	assert_true(drop_is_trigger("retry.20261130T120000-4f2a00ff"));
	assert_false(drop_is_trigger("retry.x"));
}

static void test_write(void **state)
{
	char dir[] = "/tmp/test_drop.XXXXXX", name[64], err[256], *rc[] = {
		"bob@example.com" };
	struct drop_env e = { .uid = 7, .rcpts = rc, .nrcpts = 1, .size = 11 };
	struct drop_env b;
	char buf[4096];
	size_t head;
	ssize_t n;
	int dfd, body, fd, count = 0;
	DIR *d;
	struct dirent *de;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	body = openat(dfd, "body", O_RDWR | O_CREAT, 0600);
	assert_int_equal(write(body, "body text\n", 10), 10);
	/* the prefix line plus 10 bytes would be 17: ask 11 = 1 + 10 */
	assert_int_equal(drop_write(dfd, &e, "X", 1, body, name, sizeof(name),
	    err, sizeof(err)), 0);
	assert_true(drop_name_ok(name));
	fd = openat(dfd, name, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(drop_parse(buf, (size_t)n, &b, &head, err,
	    sizeof(err)), 0);
	assert_int_equal((size_t)n, head + 11);
	assert_memory_equal(buf + head, "Xbody text\n", 11);
	drop_env_free(&b);
	/* a body shorter than the size: fails, leaves nothing */
	e.size = 100;
	assert_int_equal(drop_write(dfd, &e, NULL, 0, body, name, sizeof(name),
	    err, sizeof(err)), -1);
	d = fdopendir(dup(dfd));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			count++, unlinkat(dfd, de->d_name, 0);
	closedir(d);
	assert_int_equal(count, 2);     /* body and the first drop */
	close(body);
	close(dfd);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
