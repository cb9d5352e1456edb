/*
 * test_attach — "Attach: PATH" expansion: the exact MIME structure, base64
 * of small and large files, RFC 2231 names, refusals naming the path, the
 * permissions of the writing user (when the tests run as root), and that
 * the result goes through msg_prepare/msg_stream as a valid message.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "smtp/msg.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_attach.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	/* only our own mkdtemp directory */
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put_file(const char *name, const void *data, size_t n,
    mode_t mode, char *path, size_t plen)
{
	FILE *f;

	snprintf(path, plen, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int mkfd(const char *s, size_t n)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, n), (ssize_t)n);
	return fd;
}

/* Runs the expansion; returns its result, *out the bytes written. */
static int expand(const char *msg, uid_t uid, gid_t gid, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	int in = mkfd(msg, strlen(msg));
	int of = memfd_create("out", MFD_CLOEXEC);
	int rc;
	off_t n;

	assert_true(of >= 0);
	rc = msg_attach_expand(in, of, uid, gid, err, errlen);
	n = lseek(of, 0, SEEK_END);
	*out = malloc((size_t)n + 1);
	assert_non_null(*out);
	assert_int_equal(pread(of, *out, (size_t)n, 0), n);
	(*out)[n] = '\0';
	*outlen = (size_t)n;
	close(in);
	close(of);
	return rc;
}

/* The boundary the expansion chose. */
static void get_boundary(const char *out, char *b, size_t blen)
{
	const char *p = strstr(out, "boundary=\"");
	const char *e;

	assert_non_null(p);
	p += 10;
	e = strchr(p, '"');
	assert_non_null(e);
	assert_true((size_t)(e - p) < blen);
	memcpy(b, p, (size_t)(e - p));
	b[e - p] = '\0';
}

/* The expanded message must itself be a valid message. */
static void assert_sends(const char *out, size_t n)
{
	struct msg_params p = { .from = "a@example.com", .now = 1 };
	struct msg m;
	struct msg_stream *s;
	char err[256], buf[4096];
	ssize_t r;
	int fd = mkfd(out, n);

	if (msg_prepare(fd, &p, &m, err, sizeof(err)) != 0)
		fail_msg("prepare: %s", err);
	assert_int_equal(m.body, MSG_BODY_ASIS);
	assert_int_equal(msg_stream_open(&m, fd, 0, &s, err, sizeof(err)), 0);
	while ((r = msg_stream_read(s, buf, sizeof(buf), err,
	    sizeof(err))) > 0)
		;
	assert_int_equal(r, 0);
	msg_stream_free(s);
	msg_free(&m);
	close(fd);
}

static void test_no_attach(void **state)
{
	char *out, err[256];
	size_t n;

	(void)state;
	assert_int_equal(expand("To: b@y.org\nSubject: x\n\nAttach: /etc/x\n",
	    getuid(), getgid(), &out, &n, err, sizeof(err)), 1);
	assert_int_equal(n, 0);
	free(out);
}

static void test_one_file(void **state)
{
	unsigned char data[100];
	char path[256], msg[512], *out, err[256], b[64], want[2048];
	size_t n;

	(void)state;
	for (int i = 0; i < 100; i++)
		data[i] = (unsigned char)i;
	put_file("data.bin", data, sizeof(data), 0644, path, sizeof(path));
	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\nSubject: files\n"
	    "MIME-Version: 1.0\n\nsee attached\n", path);
	assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
	    sizeof(err)), 0);
	get_boundary(out, b, sizeof(b));
	assert_int_equal(strlen(b), 11 + 24);
	assert_memory_equal(b, "=_outboxfs_", 11);
	snprintf(want, sizeof(want),
	    "To: b@y.org\r\nSubject: files\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
	    " boundary=\"%s\"\r\n\r\n"
	    "This is a message in MIME format.\r\n\r\n"
	    "--%s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "see attached\n\r\n"
	    "--%s\r\n"
	    "Content-Type: application/octet-stream;\r\n name=\"data.bin\"\r\n"
	    "Content-Disposition: attachment;\r\n filename=\"data.bin\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
	    "MDEyMzQ1Njc4\r\n"
	    "OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==\r\n"
	    "--%s--\r\n", b, b, b, b);
	assert_string_equal(out, want);
	assert_sends(out, n);
	free(out);
}

static void test_text_qp_and_names(void **state)
{
	char path[256], path2[256], msg[1024], *out, err[256];
	size_t n;

	(void)state;
	put_file("r\xc3\xa9sum\xc3\xa9 2026.pdf", "%PDF", 4, 0644, path,
	    sizeof(path));
	put_file("a\"b.txt", "hi\n", 3, 0644, path2, sizeof(path2));
	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\nAttach:  \"%s\" "
	    "\n\ncaf\xc3\xa9 \n", path, path2);
	assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
	    sizeof(err)), 0);
	assert_non_null(strstr(out, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n\r\ncaf=C3=A9=20\r\n\r\n--"));
	assert_non_null(strstr(out, "Content-Type: application/pdf\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename*0*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n"));
	assert_non_null(strstr(out, "Content-Type: text/plain\r\n"
	    "Content-Disposition: attachment;\r\n filename*0*=UTF-8''a%22b.txt"
	    "\r\nContent-Transfer-Encoding: base64\r\n\r\naGkK\r\n"));
	assert_null(strstr(out, "Attach"));
	assert_sends(out, n);
	free(out);
}

static void test_large_file(void **state)
{
	size_t len = 300 * 1000 + 7, n, got = 0, lines = 0;
	unsigned char *data = malloc(len), *dec = malloc(len + 64);
	char path[256], msg[512], *out, err[256];
	const char *p, *end;

	(void)state;
	assert_non_null(data);
	assert_non_null(dec);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 8));
	put_file("big", data, len, 0600, path, sizeof(path));
	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n\n", path);
	assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
	    sizeof(err)), 0);
	p = strstr(out, "base64\r\n\r\n");
	assert_non_null(p);
	p += 10;
	end = strstr(p, "--=_outboxfs_");
	assert_non_null(end);
	while (p < end) {
		const char *e = strstr(p, "\r\n");
		int k;

		assert_true(e - p <= 76);
		if (e + 2 < end)
			assert_int_equal(e - p, 76);
		k = EVP_DecodeBlock(dec + got, (const unsigned char *)p,
		    (int)(e - p));
		assert_true(k >= 0);
		got += (size_t)k;
		if (e[-1] == '=')
			got -= e[-2] == '=' ? 2 : 1;
		lines++;
		p = e + 2;
	}
	assert_int_equal(got, len);
	assert_memory_equal(dec, data, len);
	assert_int_equal(lines, (len + 56) / 57);
	assert_sends(out, n);
	free(out);
	free(data);
	free(dec);
}

static void test_own_mime_body(void **state)
{
	char path[256], msg[512], *out, err[256];
	size_t n;

	(void)state;
	put_file("x.png", "\x89PNG", 4, 0644, path, sizeof(path));
	snprintf(msg, sizeof(msg), "To: b@y.org\nContent-Type: text/html; "
	    "charset=utf-8\nAttach: %s\n\n<p>hi</p>", path);
	assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
	    sizeof(err)), 0);
	/* the user's Content-Type moved into the first part */
	assert_non_null(strstr(out, "\r\nContent-Type: text/html; "
	    "charset=utf-8\r\n\r\n<p>hi</p>\r\n--=_outboxfs_"));
	assert_non_null(strstr(out, "Content-Type: image/png;\r\n"));
	assert_null(strstr(out, "\r\n\r\nContent-Type: text/html"));
	assert_sends(out, n);
	free(out);
}

struct bad_case {
	const char *path;          /* "%s" replaced by the temp dir */
	const char *err;           /* "%s" likewise */
};

static const struct bad_case bad_cases[] = {
	{ "%s/missing", "Attach: %s/missing: No such file or directory" },
	{ "%s", "Attach: %s: not a regular file" },
	{ "/dev/null", "Attach: /dev/null: not a regular file" },
	{ "relative/file", "Attach: relative/file: use an absolute path or "
	    "~/" },
	{ "", "Attach: empty path" },
	{ "\"\"", "Attach: empty path" },
};

static void test_bad(void **state)
{
	char msg[512], want[512], path[256], *out, err[256];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(*bad_cases); i++) {
		snprintf(path, sizeof(path), bad_cases[i].path, tmpdir);
		snprintf(want, sizeof(want), bad_cases[i].err, tmpdir);
		snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n\nx\n",
		    path);
		assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
		    sizeof(err)), -1);
		assert_string_equal(err, want);
		/* nothing written before every file was open */
		assert_int_equal(n, 0);
		free(out);
	}
}

static void test_too_many(void **state)
{
	char path[256], *msg = malloc(64 * 1024), *out, err[256];
	size_t n, off;

	(void)state;
	assert_non_null(msg);
	put_file("one", "1", 1, 0644, path, sizeof(path));
	off = (size_t)snprintf(msg, 64 * 1024, "To: b@y.org\n");
	for (int i = 0; i <= MSG_MAX_ATTACH; i++)
		off += (size_t)snprintf(msg + off, 64 * 1024 - off,
		    "Attach: %s\n", path);
	snprintf(msg + off, 64 * 1024 - off, "\n");
	assert_int_equal(expand(msg, getuid(), getgid(), &out, &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "more than 64 Attach: lines");
	free(out);
	free(msg);
}

/* The fsuid line of /proc/thread-self/status: "Uid: r e s fs". */
static long thread_fsuid(void)
{
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	long r = -1, e, s, fs = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %ld %ld %ld %ld", &r, &e, &s, &fs) == 4)
			break;
	fclose(f);
	return fs;
}

/* As another user: a file only root may read is refused; one the user
 * may read is attached; the thread's credentials are back afterwards.
 * Without root, switching is impossible and says so. */
static void test_other_user(void **state)
{
	char secret[256], open_[256], msg[512], *out, err[256];
	gid_t before[64], after[64];
	int nb, na;
	size_t n;
	uid_t nobody = 65534;

	(void)state;
	assert_int_equal(chmod(tmpdir, 0755), 0);
	put_file("secret", "s", 1, 0600, secret, sizeof(secret));
	put_file("public", "p", 1, 0644, open_, sizeof(open_));
	nb = getgroups(64, before);
	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n\n", secret);
	if (geteuid() != 0) {
		char want[256];

		assert_int_equal(expand(msg, nobody, nobody, &out, &n, err,
		    sizeof(err)), -1);
		snprintf(want, sizeof(want), "cannot read attachments as uid "
		    "65534: the daemon (uid %u) lacks the privilege",
		    (unsigned)geteuid());
		assert_string_equal(err, want);
		free(out);
		return;
	}
	assert_int_equal(expand(msg, nobody, nobody, &out, &n, err,
	    sizeof(err)), -1);
	{
		char want[320];

		snprintf(want, sizeof(want), "Attach: %s: Permission denied",
		    secret);
		assert_string_equal(err, want);
	}
	free(out);
	assert_int_equal(thread_fsuid(), 0);
	na = getgroups(64, after);
	assert_int_equal(na, nb);
	assert_memory_equal(after, before, (size_t)na * sizeof(gid_t));

	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n\n", open_);
	assert_int_equal(expand(msg, nobody, nobody, &out, &n, err,
	    sizeof(err)), 0);
	assert_non_null(strstr(out, "filename=\"public\""));
	free(out);
	assert_int_equal(thread_fsuid(), 0);
	/* root itself still reads the secret */
	snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n\n", secret);
	assert_int_equal(expand(msg, 0, 0, &out, &n, err, sizeof(err)), 0);
	free(out);
}

/*
 * Nothing of /proc: there "self" is the daemon. A file the daemon holds
 * open (here a 0600 file only its owner may read, as another user's
 * sendmail drop would be) is never reopened through /proc/self/fd/N,
 * /dev/fd/N or a link to them, and /proc/self/maps is never read; as
 * the daemon's own user and, as root, as another user.
 */
static void test_proc(void **state)
{
	char held[256], link[300], msg[2048], paths[5][320], want[2048], *out;
	char err[256];
	const char *loop = "a symbolic link loop, or a link through /proc "
	    "(never followed)";
	const char *proc = "a file of /proc (never attached: it would be the "
	    "daemon's)";
	uid_t uids[2] = { getuid(), 65534 };
	size_t n;
	int fd;

	(void)state;
	assert_int_equal(chmod(tmpdir, 0755), 0);
	put_file("held", "not yours", 9, 0600, held, sizeof(held));
	fd = open(held, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	snprintf(paths[0], sizeof(paths[0]), "/proc/self/fd/%d", fd);
	snprintf(paths[1], sizeof(paths[1]), "/dev/fd/%d", fd);
	snprintf(paths[2], sizeof(paths[2]), "/proc/thread-self/fd/%d", fd);
	(void)unlink(link);
	assert_int_equal(symlink(paths[0], link), 0);
	snprintf(paths[3], sizeof(paths[3]), "%s", link);
	snprintf(paths[4], sizeof(paths[4]), "/proc/self/maps");
	for (size_t u = 0; u < (geteuid() == 0 ? 2u : 1u); u++)
		for (size_t i = 0; i < 5; i++) {
			snprintf(msg, sizeof(msg), "To: b@y.org\nAttach: %s\n"
			    "\nx\n", paths[i]);
			assert_int_equal(expand(msg, uids[u], uids[u], &out, &n,
			    err, sizeof(err)), -1);
			snprintf(want, sizeof(want), "Attach: %s: %s", paths[i],
			    i == 4 ? proc : loop);
			assert_string_equal(err, want);
			assert_int_equal(n, 0);
			free(out);
		}
	close(fd);
	unlink(link);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_attach),
		cmocka_unit_test(test_one_file),
		cmocka_unit_test(test_text_qp_and_names),
		cmocka_unit_test(test_large_file),
		cmocka_unit_test(test_own_mime_body),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_proc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
