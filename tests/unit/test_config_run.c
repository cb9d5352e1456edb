/*
 * test_config_run — the parts of config/ that touch the system: reading a
 * file (and refusing one that exposes a password), the mount-time checks,
 * loopback detection, and running passwordeval (exit codes, first line,
 * empty output, stdin closed, concurrent calls from several threads).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "unit_helpers.h"

#define ERRLEN 1024

/* ---- files ------------------------------------------------------------- */

struct tmpdir {
	char path[64];
	char file[128];
};

static int dir_setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "/tmp/outboxfs-cfg-XXXXXX");
	if (mkdtemp(t->path) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->file, sizeof(t->file), "%s/config", t->path);
	*state = t;
	return 0;
}

static int dir_teardown(void **state)
{
	struct tmpdir *t = *state;

	unlink(t->file);
	rmdir(t->path);
	free(t);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd;
	size_t len = strlen(text);

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

struct perm_case {
	const char *text;
	mode_t mode;
	const char *want_err;       /* NULL: accepted */
};

static const struct perm_case perm_cases[] = {
	{ "account a\npassword secret\n", 0600, NULL },
	{ "account a\npassword secret\n", 0400, NULL },
	{ "account a\npassword secret\n", 0644, "chmod 600" },
	{ "account a\npassword secret\n", 0640, "mode 0640" },
	{ "account a\npassword secret\n", 0604, "group or others" },
	{ "account a\npassword secret\n", 0620, "chmod 600" },
	{ "defaults\npassword secret\naccount a\n", 0644, ":2: " },
	{ "account a\nhost h\n", 0644, NULL },
	{ "account a\npassword \"\"\n", 0644, NULL },
	{ "account a\npasswordeval pass show x\n", 0644, NULL },
	{ "account a\npasswordeval pass show x\n", 0664, "chmod go-w" },
	{ "account a\npasswordeval pass show x\n", 0646, "may change it" },
};

static void test_file_permissions(void **state)
{
	struct tmpdir *t = *state;

	for (size_t i = 0; i < sizeof(perm_cases) / sizeof(perm_cases[0]); i++) {
		const struct perm_case *tc = &perm_cases[i];
		struct cfg c;
		char err[ERRLEN] = "";
		int rc;

		write_file(t->file, tc->text, tc->mode);
		rc = cfg_parse_file(t->file, &c, err, sizeof(err));
		if (tc->want_err == NULL) {
			if (rc != 0)
				fail_msg("case %zu: refused: %s", i, err);
			assert_string_equal(c.file, t->file);
			assert_ptr_equal(c.accounts[0].file, c.file);
			cfg_free(&c);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu: accepted, want \"%s\"", i,
			    tc->want_err);
		assert_contains(err, t->file);
		assert_contains(err, tc->want_err);
		assert_null(strstr(err, "secret"));
		assert_null(c.accounts);
		assert_int_equal(c.naccounts, 0);
	}
}

static void test_file_errors(void **state)
{
	struct tmpdir *t = *state;
	struct cfg c;
	char err[ERRLEN];
	char *big;

	(void)state;
	assert_int_equal(cfg_parse_file("/nonexistent/outboxfs/config", &c, err,
	    sizeof(err)), -1);
	assert_contains(err, "/nonexistent/outboxfs/config: cannot open");
	assert_contains(err, "No such file");
	assert_null(c.accounts);

	assert_int_equal(cfg_parse_file(t->path, &c, err, sizeof(err)), -1);
	assert_contains(err, "not a regular file");

	/* Syntax errors carry the real file name and line. */
	write_file(t->file, "account a\n\nhots x\n", 0600);
	assert_int_equal(cfg_parse_file(t->file, &c, err, sizeof(err)), -1);
	assert_contains(err, ":3: unknown keyword `hots`");
	assert_contains(err, t->file);

	/* Over the size cap. */
	big = malloc(CFG_MAX_FILE + 2);
	assert_non_null(big);
	memset(big, '#', CFG_MAX_FILE + 1);
	big[CFG_MAX_FILE + 1] = '\0';
	write_file(t->file, big, 0600);
	free(big);
	assert_int_equal(cfg_parse_file(t->file, &c, err, sizeof(err)), -1);
	assert_contains(err, "larger than");
}

/* ---- cfg_check ---------------------------------------------------------- */

struct check_case {
	const char *text;
	const char *want_err;       /* NULL: passes */
};

#define CREDS "user u\npassword p\n"
#define FPR "3B:0F:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:" \
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77"

static const struct check_case check_cases[] = {
	{ "account a\nhost smtp.example.com\n", NULL },
	{ "account a\nport 25\n", "t.conf:1: account a: no host is set; add "
	    "`host smtp.example.com`" },
	{ "account a\nhost smtp.example.com\nauth on\n" CREDS,
	    "credentials would travel unencrypted" },
	{ "account a\nhost smtp.example.com\nauth plain\ntls off\n" CREDS,
	    "add `tls on`" },
	{ "account a\nhost smtp.example.com\nauth on\ntls on\n" CREDS, NULL },
	{ "account a\nhost smtp.example.com\nauth on\ntls on\n"
	    "tls_starttls off\n" CREDS, NULL },
	{ "account a\nhost 127.0.0.1\nauth on\n" CREDS, NULL },
	{ "account a\nhost 127.200.3.4\nauth on\n" CREDS, NULL },
	{ "account a\nhost localhost\nauth on\n" CREDS, NULL },
	{ "account a\nhost LocalHost\nauth on\n" CREDS, NULL },
	{ "account a\nhost ::1\nauth on\n" CREDS, NULL },
	{ "account a\nhost [::1]\nauth login\n" CREDS, NULL },
	{ "account a\nhost 128.0.0.1\nauth on\n" CREDS, "unencrypted" },
	{ "account a\nhost localhost.example.com\nauth on\n" CREDS,
	    "unencrypted" },
	{ "account a\nhost 127.0.0.1.nip.io\nauth on\n" CREDS, "unencrypted" },
	{ "account a\nhost 127.1\nauth on\n" CREDS, "unencrypted" },
	{ "account a\nhost smtp.example.com\nauth off\n" CREDS, NULL },
	{ "account a\nhost smtp.example.com\nauth on\ntls on\n"
	    "tls_certcheck off\n" CREDS, "would go to whoever answers" },
	{ "account a\nhost smtp.example.com\nauth on\ntls on\n"
	    "tls_certcheck off\ntls_fingerprint " FPR "\n" CREDS, NULL },
	{ "account a\nhost smtp.example.com\ntls on\ntls_certcheck off\n",
	    NULL },
	{ "account a\nhost ::1\nauth on\ntls on\ntls_certcheck off\n"
	    CREDS, NULL },
	{ "account a\nhost localhost\nauth on\npassword p\n",
	    "no user is set; add `user NAME`" },
	{ "account a\nhost localhost\nauth on\nuser u\n",
	    "neither password nor passwordeval" },
	{ "account a\nhost localhost\nauth on\nuser u\npasswordeval echo x\n",
	    NULL },
	{ "account a\nhost h\ntls on\ntls_cert_file /c.pem\n",
	    "tls_cert_file is set without tls_key_file" },
	{ "account a\nhost h\ntls on\ntls_key_file /k.pem\n",
	    "add `tls_cert_file FILE`" },
	{ "account a\nhost h\ntls on\ntls_cert_file /c\ntls_key_file /k\n",
	    NULL },
	{ "account a\nhost h\nretry_min 2h\nretry_max 1h\n",
	    "retry_min (7200s) is larger than retry_max (3600s)" },
	{ "account a\nhost h\nretry_min 1h\nretry_max 1h\n", NULL },
};

static void test_check(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]);
	    i++) {
		const struct check_case *tc = &check_cases[i];
		struct cfg c;
		char err[ERRLEN] = "";
		int rc;

		if (cfg_parse_buffer("t.conf", tc->text, strlen(tc->text), &c,
		    err, sizeof(err)) != 0)
			fail_msg("case %zu: parse: %s", i, err);
		rc = cfg_check(&c.accounts[0], err, sizeof(err));
		cfg_free(&c);
		if (tc->want_err == NULL && rc != 0)
			fail_msg("case %zu: refused: %s", i, err);
		if (tc->want_err == NULL)
			continue;
		if (rc != -1)
			fail_msg("case %zu: passed, want \"%s\"", i, tc->want_err);
		assert_contains(err, "t.conf:1: account a: ");
		assert_contains(err, tc->want_err);
	}
}

/* Limits the parser already refuses, set directly as code could. */
static void test_check_direct(void **state)
{
	struct cfg c;
	struct cfg_account *a;
	char err[ERRLEN];

	(void)state;
	cfg_init(&c);
	a = cfg_add_account(&c, "m", err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(cfg_set(a, "host", "h", err, sizeof(err)), 0);
	assert_int_equal(cfg_check(a, err, sizeof(err)), 0);
	a->connections = 0;
	assert_int_equal(cfg_check(a, err, sizeof(err)), -1);
	assert_contains(err, "account m: connections is 0; write a number "
	    "from 1 to 64");
	a->connections = 65;
	assert_int_equal(cfg_check(a, err, sizeof(err)), -1);
	a->connections = 64;
	a->settle_ms = 60001;
	assert_int_equal(cfg_check(a, err, sizeof(err)), -1);
	assert_contains(err, "settle is 60001 ms, more than a minute");
	a->settle_ms = 60000;
	assert_int_equal(cfg_check(a, err, sizeof(err)), 0);
	cfg_free(&c);
}

static void test_loopback(void **state)
{
	static const struct {
		const char *host;
		int want;
	} cases[] = {
		{ "localhost", 1 }, { "LOCALHOST", 1 }, { "localhost.", 1 },
		{ "127.0.0.1", 1 }, { "127.255.255.254", 1 }, { "::1", 1 },
		{ "[::1]", 1 }, { "0:0:0:0:0:0:0:1", 1 },
		{ "::ffff:127.0.0.1", 1 },
		{ "", 0 }, { "localhost.evil.com", 0 }, { "localhos", 0 },
		{ "128.0.0.1", 0 }, { "126.255.255.255", 0 }, { "127.1", 0 },
		{ "0127.0.0.1", 0 }, { "::2", 0 }, { "[::1", 0 }, { "::1]", 0 },
		{ "::ffff:10.0.0.1", 0 }, { "127.0.0.1 ", 0 },
		{ "[]", 0 }, { "[[::1]]", 0 },
	};
	(void)state;
	assert_int_equal(cfg_is_loopback(NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cfg_is_loopback(cases[i].host) != cases[i].want)
			fail_msg("case %zu (%s): got %d, want %d", i,
			    cases[i].host, !cases[i].want, cases[i].want);
}

/* ---- cfg_password ------------------------------------------------------- */

struct pw_case {
	const char *password, *eval;
	int rc;
	const char *want;           /* the secret, or a part of the error */
};

static const struct pw_case pw_cases[] = {
	{ "direct", NULL, 0, "direct" },
	{ "direct", "echo ignored", 0, "direct" },
	{ NULL, NULL, 1, NULL },
	{ NULL, "echo secret", 0, "secret" },
	{ NULL, "printf 'a\\nb'", 0, "a" },
	{ NULL, "printf 'no newline'", 0, "no newline" },
	{ NULL, "printf 'crlf\\r\\n'", 0, "crlf" },
	{ NULL, "printf '  spaces  \\n'", 0, "  spaces  " },
	{ NULL, "echo pw; head -c 300000 /dev/zero", 0, "pw" },
	{ NULL, "echo pw; exec 1>&-; exit 0", 0, "pw" },
	{ NULL, "exit 3", -1, "passwordeval `exit 3` exited with status 3" },
	{ NULL, "echo 'no such entry' >&2; exit 1", -1,
	    "exited with status 1: no such entry" },
	{ NULL, "echo pw; exit 2", -1, "exited with status 2" },
	{ NULL, "true", -1, "passwordeval `true` printed nothing" },
	{ NULL, "echo", -1, "printed nothing" },
	{ NULL, "cat", -1, "printed nothing" },   /* stdin is /dev/null */
	{ NULL, "kill -9 $$", -1, "killed by signal 9" },
	{ NULL, "head -c 70000 /dev/zero | tr '\\0' a", -1,
	    "longer than 65536 bytes" },
	{ NULL, "/nonexistent/outboxfs-pw", -1, "exited with status 127" },
};

static void test_password(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pw_cases) / sizeof(pw_cases[0]); i++) {
		const struct pw_case *tc = &pw_cases[i];
		struct cfg_account a;
		char err[ERRLEN] = "";
		char *out = (char *)1;
		int rc;

		memset(&a, 0, sizeof(a));
		a.name = (char *)"acct";
		a.password = (char *)tc->password;
		a.passwordeval = (char *)tc->eval;
		rc = cfg_password(&a, &out, err, sizeof(err));
		if (rc != tc->rc)
			fail_msg("case %zu (%s): got %d, want %d (%s)", i,
			    tc->eval ? tc->eval : "-", rc, tc->rc, err);
		if (rc == 0) {
			assert_non_null(out);
			assert_string_equal(out, tc->want);
			explicit_bzero(out, strlen(out));
			free(out);
			continue;
		}
		assert_null(out);
		if (rc == -1) {
			assert_contains(err, "account acct: ");
			assert_contains(err, tc->want);
			assert_null(strchr(err, '\n'));
		}
	}
}

static void test_password_error_names_file(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	char *out;
	static const char text[] = "account a\nhost h\n"
	    "account b : a\npasswordeval exit 5\n";

	(void)state;
	assert_int_equal(cfg_parse_buffer("t.conf", text, strlen(text), &c, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg_password(cfg_account(&c, "b"), &out, err,
	    sizeof(err)), -1);
	assert_contains(err, "t.conf:3: account b: passwordeval `exit 5` "
	    "exited with status 5");
	cfg_free(&c);
}

#define NTHREADS 8

static void *pw_thread(void *arg)
{
	const struct cfg_account *a = arg;
	char err[ERRLEN];
	char *out = NULL;
	intptr_t ok = 1;

	for (int i = 0; i < 5; i++) {
		if (cfg_password(a, &out, err, sizeof(err)) != 0 ||
		    strcmp(out, "thread-secret") != 0)
			ok = 0;
		free(out);
		out = NULL;
	}
	return (void *)ok;
}

static void test_password_threads(void **state)
{
	struct cfg_account a;
	pthread_t th[NTHREADS];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.name = (char *)"t";
	a.passwordeval = (char *)"echo thread-secret";
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, pw_thread, &a), 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_true((intptr_t)ret == 1);
	}
}

/* The command must not inherit our descriptors: only 0, 1 and 2. */
static void test_password_no_fd_leak(void **state)
{
	struct cfg_account a;
	char err[ERRLEN];
	char *out = NULL;
	int fd = open("/dev/null", O_RDONLY);   /* deliberately inheritable */

	(void)state;
	assert_true(fd > 2);
	memset(&a, 0, sizeof(a));
	a.name = (char *)"fd";
	a.passwordeval = (char *)"ls /proc/self/fd | wc -l";
	assert_int_equal(cfg_password(&a, &out, err, sizeof(err)), 0);
	/* ls itself holds one for the directory it lists: 0, 1, 2, dir. */
	assert_int_equal(atoi(out), 4);
	free(out);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_permissions,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_file_errors,
		    dir_setup, dir_teardown),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_direct),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_password_error_names_file),
		cmocka_unit_test(test_password_threads),
		cmocka_unit_test(test_password_no_fd_leak),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
