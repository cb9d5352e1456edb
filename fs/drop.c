/*
 * drop — the maildrop format, its writer and its parser (see drop.h).
 *
 * Must never: leave a temp file or a partial drop behind a failure,
 * rename over an existing drop, or accept a block it would not write
 * itself (the parser is the format's only judge; the daemon and the
 * fuzz target call it on any bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "fs/drop.h"
#include "fs/spool.h"
#include "util/buf.h"

void drop_env_free(struct drop_env *e)
{
	size_t i;

	if (e == NULL)
		return;
	free(e->sender);
	for (i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->notify);
	free(e->ret);
	free(e->envid);
	memset(e, 0, sizeof(*e));
}

static int drop_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static int drop_ishex(char c)
{
	return drop_isdigit(c) || (c >= 'a' && c <= 'f');
}

int drop_name_ok(const char *n)
{
	size_t i;

	if (strlen(n) != DROP_NAME_LEN)
		return 0;
	for (i = 0; i < DROP_NAME_LEN; i++) {
		if (i == 8) {
			if (n[i] != 'T')
				return 0;
		} else if (i == 15) {
			if (n[i] != '-')
				return 0;
		} else if (i < 15 ? !drop_isdigit(n[i]) : !drop_ishex(n[i])) {
			return 0;
		}
	}
	return 1;
}

int drop_is_trigger(const char *n)
{
	return strncmp(n, "retry.", 6) == 0 && drop_name_ok(n + 6);
}

static void drop_seterr(char *err, size_t errlen, const char *what)
{
	if (errlen)
		snprintf(err, errlen, "%s", what);
}

int drop_check_value(const char *v, size_t n, char *err, size_t errlen)
{
	size_t i;

	if (n == 0) {
		drop_seterr(err, errlen, "empty value");
		return -1;
	}
	if (n > DROP_MAX_LINE - 16) {
		drop_seterr(err, errlen, "value too long");
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f) {
			drop_seterr(err, errlen, "control byte in a value");
			return -1;
		}
	}
	return 0;
}

int drop_check_notify(const char *v, char *err, size_t errlen)
{
	static const char *const words[] = { "success", "failure", "delay" };
	unsigned seen = 0;
	const char *p = v, *c;
	size_t n, k;

	if (strcmp(v, "never") == 0)
		return 0;
	for (;;) {
		c = strchr(p, ',');
		n = c ? (size_t)(c - p) : strlen(p);
		for (k = 0; k < 3; k++)
			if (strlen(words[k]) == n && strncmp(p, words[k], n) == 0)
				break;
		if (k == 3 || (seen & (1u << k))) {
			drop_seterr(err, errlen, "-N takes never, or a list of "
			    "success, failure and delay (each once)");
			return -1;
		}
		seen |= 1u << k;
		if (c == NULL)
			return 0;
		p = c + 1;
	}
}

int drop_check_ret(const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "full") == 0 || strcmp(v, "hdrs") == 0)
		return 0;
	drop_seterr(err, errlen, "-R takes full or hdrs");
	return -1;
}

/* RFC 3461 ENVID is xtext; we take only the characters that need no
 * encoding, which every program that passes -V uses. */
int drop_check_envid(const char *v, char *err, size_t errlen)
{
	size_t i, n = strlen(v);

	for (i = 0; i < n; i++)
		if (v[i] < 33 || v[i] > 126 || v[i] == '+' || v[i] == '=')
			break;
	if (n == 0 || n > DROP_MAX_ENVID || i < n) {
		drop_seterr(err, errlen, "-V takes 1 to 100 printable ASCII "
		    "characters other than '+' and '='");
		return -1;
	}
	return 0;
}

/* The envelope block is built in a buffer of cap DROP_MAX_HEAD - 1 (and
 * its NUL), appended to without looking: a failure sticks (util/buf). */
static void drop_add(struct buf *b, const char *s, size_t n)
{
	(void)buf_add(b, s, n);
}

static int drop_kv(struct buf *b, const char *key, const char *v,
    char *err, size_t errlen)
{
	char why[64];

	if (v == NULL)
		return 0;
	if (drop_check_value(v, strlen(v), why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	drop_add(b, key, strlen(key));
	drop_add(b, " ", 1);
	drop_add(b, v, strlen(v));
	drop_add(b, "\n", 1);
	return 0;
}

int drop_format(const struct drop_env *e, char **out, size_t *len,
    char *err, size_t errlen)
{
	struct buf b = BUF_INIT(DROP_MAX_HEAD - 1);
	char num[64];
	size_t i;

	if (e->nrcpts == 0 || e->nrcpts > DROP_MAX_RCPTS) {
		drop_seterr(err, errlen, e->nrcpts ? "too many recipients" :
		    "no recipient");
		return -1;
	}
	if ((e->notify && drop_check_notify(e->notify, err, errlen) < 0) ||
	    (e->ret && drop_check_ret(e->ret, err, errlen) < 0) ||
	    (e->envid && drop_check_envid(e->envid, err, errlen) < 0))
		return -1;
	drop_add(&b, "outboxfs-drop 1\n", 16);
	snprintf(num, sizeof(num), "uid %lu\n", (unsigned long)e->uid);
	drop_add(&b, num, strlen(num));
	if (drop_kv(&b, "sender", e->sender, err, errlen) < 0)
		goto fail;
	for (i = 0; i < e->nrcpts; i++)
		if (drop_kv(&b, "rcpt", e->rcpts[i], err, errlen) < 0)
			goto fail;
	if (drop_kv(&b, "notify", e->notify, err, errlen) < 0 ||
	    drop_kv(&b, "ret", e->ret, err, errlen) < 0 ||
	    drop_kv(&b, "envid", e->envid, err, errlen) < 0)
		goto fail;
	snprintf(num, sizeof(num), "size %" PRIu64 "\nend\n", e->size);
	drop_add(&b, num, strlen(num));
	if ((*out = buf_take(&b, len)) == NULL) {
		drop_seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
fail:
	buf_free(&b);
	return -1;
}

static int drop_num(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && v[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (!drop_isdigit(v[i]))
			return -1;
		if (x > (max - (uint64_t)(v[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

static char *drop_strndup(const char *v, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

/* One string value into *dst, which must be empty (no repeats). */
static int drop_set(char **dst, const char *v, size_t n)
{
	if (*dst != NULL || drop_check_value(v, n, NULL, 0) < 0)
		return -1;
	*dst = drop_strndup(v, n);
	return *dst ? 0 : -1;
}

#define DROP_KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)

/* seen: 1 uid, 2 size. */
static int drop_line(struct drop_env *e, const char *line, size_t len,
    unsigned *seen)
{
	const char *sp = memchr(line, ' ', len), *v;
	size_t klen, vlen;
	uint64_t u;
	char **nr;

	if (sp == NULL)
		return -1;
	klen = (size_t)(sp - line);
	v = sp + 1;
	vlen = len - klen - 1;
	if (DROP_KEY("uid")) {
		if ((*seen & 1) || drop_num(v, vlen, UINT32_MAX - 1, &u) < 0)
			return -1;
		e->uid = (uid_t)u;
		*seen |= 1;
		return 0;
	}
	if (DROP_KEY("size")) {
		if ((*seen & 2) || drop_num(v, vlen, INT64_MAX, &u) < 0)
			return -1;
		e->size = u;
		*seen |= 2;
		return 0;
	}
	if (DROP_KEY("rcpt")) {
		if (e->nrcpts >= DROP_MAX_RCPTS ||
		    drop_check_value(v, vlen, NULL, 0) < 0)
			return -1;
		nr = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*nr));
		if (nr == NULL)
			return -1;
		e->rcpts = nr;
		e->rcpts[e->nrcpts] = drop_strndup(v, vlen);
		if (e->rcpts[e->nrcpts] == NULL)
			return -1;
		e->nrcpts++;
		return 0;
	}
	if (DROP_KEY("sender"))
		return drop_set(&e->sender, v, vlen);
	if (DROP_KEY("notify"))
		return drop_set(&e->notify, v, vlen) < 0 ||
		    drop_check_notify(e->notify, NULL, 0) < 0 ? -1 : 0;
	if (DROP_KEY("ret"))
		return drop_set(&e->ret, v, vlen) < 0 ||
		    drop_check_ret(e->ret, NULL, 0) < 0 ? -1 : 0;
	if (DROP_KEY("envid"))
		return drop_set(&e->envid, v, vlen) < 0 ||
		    drop_check_envid(e->envid, NULL, 0) < 0 ? -1 : 0;
	return -1;
}

int drop_parse(const char *buf, size_t len, struct drop_env *e,
    size_t *head, char *err, size_t errlen)
{
	static const char magic[] = "outboxfs-drop 1\n";
	const char *p, *end, *nl;
	unsigned seen = 0, lineno = 1;

	memset(e, 0, sizeof(*e));
	if (len > DROP_MAX_HEAD)
		len = DROP_MAX_HEAD;
	if (len < sizeof(magic) - 1 ||
	    memcmp(buf, magic, sizeof(magic) - 1) != 0) {
		drop_seterr(err, errlen, "not a drop file (no "
		    "\"outboxfs-drop 1\" line)");
		return -1;
	}
	end = buf + len;
	for (p = buf + sizeof(magic) - 1; ; p = nl + 1) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			drop_seterr(err, errlen, "no end line: the envelope "
			    "block is cut short");
			goto fail;
		}
		if ((size_t)(nl - p) > DROP_MAX_LINE ||
		    memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			snprintf(err, errlen, "line %u: too long or holds a "
			    "NUL byte", lineno);
			goto fail;
		}
		if (nl - p == 3 && memcmp(p, "end", 3) == 0)
			break;
		if (drop_line(e, p, (size_t)(nl - p), &seen) < 0) {
			snprintf(err, errlen, "line %u: bad or repeated line",
			    lineno);
			goto fail;
		}
	}
	if (seen != 3 || e->nrcpts == 0) {
		snprintf(err, errlen, "missing %s", !(seen & 1) ? "uid" :
		    !(seen & 2) ? "size" : "rcpt");
		goto fail;
	}
	*head = (size_t)(nl + 1 - buf);
	return 0;
fail:
	drop_env_free(e);
	return -1;
}

/* A fresh name: now (UTC) and 32 random bits. */
static int drop_make_name(char *name, size_t cap)
{
	unsigned char r[4];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (cap < DROP_NAME_LEN + 1 || gmtime_r(&now, &tm) == NULL ||
	    RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	n = snprintf(name, cap, "%04d%02d%02dT%02d%02d%02d-%02x%02x%02x%02x",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, r[0], r[1], r[2], r[3]);
	return n == DROP_NAME_LEN && drop_name_ok(name) ? 0 : -1;
}


/* Copies exactly SIZE bytes of IN (from 0) to OUT. */
static int drop_copy(int in, int out, uint64_t size)
{
	char buf[65536];
	uint64_t off = 0;
	ssize_t r;

	while (off < size) {
		r = pread(in, buf, size - off < sizeof(buf) ?
		    (size_t)(size - off) : sizeof(buf), (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;   /* shorter than it said */
			return -1;
		}
		if (spool_write_all(out, buf, (size_t)r) < 0)
			return -1;
		off += (uint64_t)r;
	}
	return 0;
}

int drop_write(int dirfd, const struct drop_env *e, const char *pre,
    size_t prelen, int body_fd, char *name, size_t namecap, char *err,
    size_t errlen)
{
	char tmp[DROP_NAME_LEN + 8], *head = NULL;
	size_t hlen;
	int fd = -1, saved, tries;

	if (drop_format(e, &head, &hlen, err, errlen) < 0)
		return -1;
	for (tries = 0; tries < 8; tries++) {
		if (drop_make_name(name, namecap) < 0) {
			drop_seterr(err, errlen, "no random bytes for a name");
			free(head);
			errno = EIO;
			return -1;
		}
		snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail_io;
	if (prelen > e->size) {
		errno = EINVAL;
		goto fail_io;
	}
	/* The mode before the name: a drop is never seen writable, and
	 * whatever the umask (see DROP_FILE_MODE). */
	if (spool_write_all(fd, head, hlen) < 0 ||
	    spool_write_all(fd, pre, prelen) < 0 ||
	    drop_copy(body_fd, fd, e->size - prelen) < 0 ||
	    fchmod(fd, DROP_FILE_MODE) < 0 || fsync(fd) < 0)
		goto fail_io;
	/* Never over an existing drop: a collision of names would lose
	 * one message. */
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0) {
		if (errno != EINVAL && errno != ENOSYS)
			goto fail_io;
		/* a file system without RENAME_NOREPLACE: link, unlink */
		if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
			goto fail_io;
		unlinkat(dirfd, tmp, 0);
	}
	/*
	 * XXX A user of the maildrop group cannot open maildrop/ for
	 * reading (1730: no r), so DIRFD is then an O_PATH descriptor and
	 * cannot be fsync'd. The file is fsync'd again instead: the rename
	 * changed its inode (ctime), so on ext4, XFS and btrfs that fsync
	 * commits the journal transaction that holds the rename. The
	 * daemon fsyncs maildrop/ when it takes the drop.
	 */
	if (fsync(dirfd) < 0 && (errno != EBADF || fsync(fd) < 0)) {
		saved = errno;
		/* Not durable: take it back, so that the caller's failure
		 * is true (nothing queued). */
		close(fd);
		unlinkat(dirfd, name, 0);
		snprintf(err, errlen, "fsync of the maildrop: %s",
		    strerror(saved));
		free(head);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlinkat(dirfd, name, 0);
		snprintf(err, errlen, "%s", strerror(saved));
		free(head);
		errno = saved;
		return -1;
	}
	free(head);
	return 0;
fail_io:
	saved = errno;
	snprintf(err, errlen, "%s", strerror(saved));
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	free(head);
	errno = saved;
	return -1;
}

int drop_trigger(int dirfd, char *err, size_t errlen)
{
	char name[DROP_NAME_LEN + 1], trig[DROP_NAME_LEN + 8];
	int fd;

	if (drop_make_name(name, sizeof(name)) < 0) {
		drop_seterr(err, errlen, "no random bytes for a name");
		return -1;
	}
	snprintf(trig, sizeof(trig), "retry.%s", name);
	fd = openat(dirfd, trig, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

void drop_dsn_text(const struct drop_env *e, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%s%s%s%s%s",
	    e->notify ? "NOTIFY=" : "", e->notify ? e->notify : "",
	    e->ret ? (e->notify ? " RET=" : "RET=") : "", e->ret ? e->ret : "",
	    e->envid ? (e->notify || e->ret ? " ENVID=" : "ENVID=") : "",
	    e->envid ? e->envid : "");

	if (n < 0 || (size_t)n >= cap)
		buf[0] = '\0';
}
