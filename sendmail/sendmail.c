/*
 * outboxfs-sendmail — the sendmail command of outboxfs.
 *
 *   outboxfs-sendmail [-C config] [-t] [-i|-oi] [-f sender] [-F name]
 *       [-N never|success,failure,delay] [-R full|hdrs] [-V envid] [-v]
 *       [--wait[=seconds]] [--] [recipient...]
 *   outboxfs-sendmail -bp          list the queue (mailq)
 *   outboxfs-sendmail -q           retry deferred mail now
 *
 * Reads a message on standard input and drops it, with its envelope,
 * into SPOOL/maildrop/ (fs/drop.h), where the daemon picks it up, now
 * if it is mounted, else at its next mount. Exit status (sysexits): 0
 * once the drop is durable; with --wait the final state's code
 * (fs/follow.h).
 *
 * Must never: link FUSE; leave a partial drop or a temp file behind a
 * failure or a signal; add a header for an argument recipient; print a
 * password (it reads the configuration only for the spool and from);
 * use its maildrop group for anything but creating in maildrop/.
 *
 * Installed setgid to the maildrop group of a system-wide outbox (see
 * THE DROP FOLDER in fs/users.h), it runs with the real group at once
 * and takes the group back only around the calls that create in
 * maildrop/ (sm_priv): the configuration (-C names any file), the
 * mount's .queue and status files are read as the user who ran it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "fs/drop.h"
#include "fs/follow.h"
#include "fs/spool.h"
#include "fs/status.h"
#include "sendmail/args.h"
#include "smtp/msg.h"
#include "util/buf.h"
#include "util/clock.h"

/* sysexits.h */
#define SM_EX_USAGE     64
#define SM_EX_DATAERR   65
#define SM_EX_NOINPUT   66
#define SM_EX_OSERR     71
#define SM_EX_IOERR     74
#define SM_EX_TEMPFAIL  75
#define SM_EX_CONFIG    78

#define SM_MAX_PATH 4096

#define SM_HINT_GROUP " (only the mounting user may drop mail there, " \
	"unless the outbox has a maildrop_group and this command is setgid " \
	"to it: see outboxfs-sendmail(8))"

/* The spool of a system-wide outbox, used when the user has no
 * configuration of their own (make SYSTEM_SPOOL=DIR). */
#ifndef SM_SYSTEM_SPOOL
#define SM_SYSTEM_SPOOL "/var/spool/outboxfs"
#endif

static const char *sm_prog = "outboxfs-sendmail";

static void sm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sm_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", sm_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the maildrop group ------------------------------------------- */

static int sm_setgid;             /* started with egid != gid */
static gid_t sm_drop_gid;         /* that egid: the maildrop group */

/* Puts the group aside (kept as the saved set-group-ID). */
static int sm_priv_init(void)
{
	sm_drop_gid = getegid();
	if (sm_drop_gid == getgid())
		return 0;
	sm_setgid = 1;
	return setegid(getgid());
}

/* The maildrop group on (ON 1) or off, around a call that creates in
 * maildrop/. Failing to take it back off is fatal: nothing may run
 * with it by mistake. */
static int sm_priv(int on)
{
	if (!sm_setgid)
		return 0;
	if (setegid(on ? sm_drop_gid : getgid()) == 0)
		return 0;
	if (!on) {
		fprintf(stderr, "%s: cannot drop the maildrop group: %s\n",
		    sm_prog, strerror(errno));
		_exit(SM_EX_OSERR);
	}
	return -1;
}

static void sm_usage(FILE *f)
{
	fprintf(f, "usage: %s [-C config] [-t] [-i|-oi] [-f sender] "
	    "[-F name]\n"
	    "           [-N never|success,failure,delay] [-R full|hdrs] "
	    "[-V envid]\n"
	    "           [-v] [--wait[=seconds]] [--] [recipient...]\n"
	    "       %s -bp       list the queue\n"
	    "       %s -q        retry deferred mail now\n"
	    "See outboxfs-sendmail(8).\n", sm_prog, sm_prog, sm_prog);
}

/* ---- configuration and spool: the rules of outboxfs(1) ------------- */

static int sm_config_path(const char *given, char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat st;
	int n;

	if (given) {
		n = snprintf(buf, cap, "%s", given);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (xdg && xdg[0]) {
		n = snprintf(buf, cap, "%s/outboxfs/config", xdg);
		if (n > 0 && (size_t)n < cap && stat(buf, &st) == 0)
			return 0;
	}
	if (home && home[0]) {
		n = snprintf(buf, cap, "%s/.config/outboxfs/config", home);
		if (n > 0 && (size_t)n < cap && stat(buf, &st) == 0)
			return 0;
		n = snprintf(buf, cap, "%s/.msmtprc", home);
		if (n > 0 && (size_t)n < cap && stat(buf, &st) == 0)
			return 0;
	}
	buf[0] = '\0';
	return -1;
}

/* Opens directory PATH (at DIRFD) for reading, else, when the caller may
 * only pass through it (a spool 0711, a maildrop/ 1730), as O_PATH: a
 * dirfd for the *at calls, not for readdir or fsync. */
static int sm_open_dir(int dirfd, const char *path, int nofollow)
{
	int fl = O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
	int fd = openat(dirfd, path, O_RDONLY | fl);

	if (fd < 0 && errno == EACCES)
		fd = openat(dirfd, path, O_PATH | fl);
	return fd;
}

/* mkdir -p PATH, mode 0700 for what it creates. */
static int sm_mkdir_p(const char *path)
{
	char buf[SM_MAX_PATH], *p;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* /proc/mounts escapes a blank, a tab, a newline and a backslash as
 * \ooo: compares the field F (escaped) with PATH. */
static int sm_mount_field_is(const char *f, const char *path)
{
	while (*f && *path) {
		int c = (unsigned char)*f;

		if (f[0] == '\\' && f[1] >= '0' && f[1] <= '3' && f[2] >= '0' &&
		    f[2] <= '7' && f[3] >= '0' && f[3] <= '7') {
			c = (f[1] - '0') * 64 + (f[2] - '0') * 8 + (f[3] - '0');
			f += 4;
		} else {
			f++;
		}
		if (c != (unsigned char)*path++)
			return 0;
	}
	return *f == '\0' && *path == '\0';
}

/* 1 when PATH is a fuse.outboxfs mount now (a user who may not read
 * the spool's lock: the mount point file could be stale). */
static int sm_is_outbox_mount(const char *path)
{
	char line[2 * SM_MAX_PATH], *dev, *dir, *type, *save;
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		dev = strtok_r(line, " ", &save);
		dir = dev ? strtok_r(NULL, " ", &save) : NULL;
		type = dir ? strtok_r(NULL, " ", &save) : NULL;
		found = type && strcmp(type, "fuse.outboxfs") == 0 &&
		    sm_mount_field_is(dir, path);
	}
	fclose(f);
	return found;
}

/*
 * The mount point of the daemon that holds SPOOL, into BUF: only while
 * SPOOL/lock is locked (a daemon runs) and SPOOL/mountpoint names it.
 * -1: no daemon mounted.
 */
static int sm_mountpoint(int spoolfd, char *buf, size_t cap)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	ssize_t n;
	int fd;

	int locked = 0;

	/* F_GETLK needs no write access; the lock is the owner's alone
	 * (0600): another user checks the mount table instead. */
	fd = openat(spoolfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != EACCES)
		return -1;
	if (fd >= 0) {
		if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK) {
			close(fd);
			return -1;
		}
		close(fd);
		locked = 1;
	}
	fd = openat(spoolfd, "mountpoint", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 1 || buf[0] != '/')
		return -1;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (memchr(buf, '\n', strlen(buf)))
		return -1;
	return locked || sm_is_outbox_mount(buf) ? 0 : -1;
}

struct sm_ctx {
	struct sm_opts o;
	struct cfg cfg;
	int have_cfg;
	char cfgpath[SM_MAX_PATH];
	char spool[SM_MAX_PATH];
	int spoolfd, dropfd;
};

/* Reads the configuration and opens SPOOL and SPOOL/maildrop (created
 * as needed). Returns 0 or an exit code. */
static int sm_setup(struct sm_ctx *c, int create)
{
	char err[1024];
	struct stat st;

	if (sm_config_path(c->o.config, c->cfgpath, sizeof(c->cfgpath)) < 0) {
		/* No configuration of the user's own: the system-wide
		 * outbox, whose configuration they may not read. */
		if (stat(SM_SYSTEM_SPOOL, &st) < 0 || !S_ISDIR(st.st_mode)) {
			sm_err("no configuration: write "
			    "~/.config/outboxfs/config (msmtprc syntax) or "
			    "pass -C FILE (and no system-wide spool %s)",
			    SM_SYSTEM_SPOOL);
			return SM_EX_CONFIG;
		}
		snprintf(c->spool, sizeof(c->spool), "%s", SM_SYSTEM_SPOOL);
		goto open_spool;
	}
	if (access(c->cfgpath, R_OK) < 0) {
		sm_err("%s: %s", c->cfgpath, strerror(errno));
		return SM_EX_CONFIG;
	}
	if (cfg_parse_file(c->cfgpath, &c->cfg, err, sizeof(err)) < 0) {
		sm_err("%s", err);
		return SM_EX_CONFIG;
	}
	c->have_cfg = 1;
	if (cfg_spool_path(cfg_account(&c->cfg, NULL), c->spool,
	    sizeof(c->spool)) < 0) {
		sm_err("no spool directory: set spool in %s or HOME",
		    c->cfgpath);
		return SM_EX_CONFIG;
	}
open_spool:
	if (create && sm_mkdir_p(c->spool) < 0) {
		sm_err("cannot create the spool %s: %s; nothing was queued",
		    c->spool, strerror(errno));
		return SM_EX_TEMPFAIL;
	}
	c->spoolfd = sm_open_dir(AT_FDCWD, c->spool, 0);
	if (c->spoolfd < 0) {
		sm_err("cannot open the spool %s: %s%s", c->spool,
		    strerror(errno), create ? "; nothing was queued" : "");
		return SM_EX_TEMPFAIL;
	}
	if (create && mkdirat(c->spoolfd, DROP_DIR, 0700) < 0 &&
	    errno != EEXIST) {
		sm_err("cannot create %s/%s: %s; nothing was queued", c->spool,
		    DROP_DIR, strerror(errno));
		return SM_EX_TEMPFAIL;
	}
	c->dropfd = sm_open_dir(c->spoolfd, DROP_DIR, 1);
	if (c->dropfd < 0 && create) {
		sm_err("cannot open %s/%s: %s; nothing was queued%s",
		    c->spool, DROP_DIR, strerror(errno), errno == EACCES ?
		    SM_HINT_GROUP : "");
		return SM_EX_TEMPFAIL;
	}
	return 0;
}

/* ---- the message on standard input ---------------------------------- */

/* A file that disappears with the process: the message read so far. */
static int sm_tmpfile(int dirfd)
{
	char path[64];
	int fd;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	snprintf(path, sizeof(path), ".tmp-stdin-%ld", (long)getpid());
	fd = openat(dirfd, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		unlinkat(dirfd, path, 0);
	return fd;
}

struct sm_out {
	int fd;
	char buf[65536];
	size_t n;
	uint64_t total;
};

static int sm_flush(struct sm_out *w)
{
	size_t off = 0;
	ssize_t r;

	while (off < w->n) {
		r = write(w->fd, w->buf + off, w->n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		off += (size_t)r;
	}
	w->n = 0;
	return 0;
}

static int sm_put(struct sm_out *w, int ch)
{
	if (w->n == sizeof(w->buf) && sm_flush(w) < 0)
		return -1;
	w->buf[w->n++] = (char)ch;
	w->total++;
	return 0;
}

/*
 * Copies standard input to FD. Without DOT_IS_DATA a line that is a
 * lone "." (LF or CRLF) ends the message (sendmail's old rule) and is
 * not part of it. *size: bytes written. -1 with errno.
 */
static int sm_read_stdin(int fd, int dot_is_data, uint64_t *size)
{
	struct sm_out *w = calloc(1, sizeof(*w));
	int ch, bol = 1, rc = 0;

	if (w == NULL)
		return -1;
	w->fd = fd;
	while ((ch = getchar_unlocked()) != EOF) {
		if (bol && ch == '.' && !dot_is_data) {
			int c2 = getchar_unlocked(), c3;

			if (c2 == '\n' || c2 == EOF)
				break;
			if (c2 == '\r') {
				c3 = getchar_unlocked();
				if (c3 == '\n' || c3 == EOF)
					break;
				if (sm_put(w, '.') < 0 || sm_put(w, '\r') < 0)
					goto fail;
				ch = c3;
			} else {
				if (sm_put(w, '.') < 0)
					goto fail;
				ch = c2;
			}
		}
		if (sm_put(w, ch) < 0)
			goto fail;
		bol = ch == '\n';
	}
	if (ferror(stdin)) {
		errno = errno ? errno : EIO;
		goto fail;
	}
	if (sm_flush(w) < 0)
		goto fail;
	*size = w->total;
	free(w);
	return 0;
fail:
	rc = errno;
	free(w);
	errno = rc;
	return -1;
}

/* What sendmail needs of the header: whether it has From:, and with -t
 * the To, Cc and Bcc recipients. */
struct sm_head {
	int has_from;
	char **rcpts;
	size_t nrcpts;
	int crlf;                 /* its first line ends in CRLF */
};

static void sm_head_free(struct sm_head *h)
{
	size_t i;

	for (i = 0; i < h->nrcpts; i++)
		free(h->rcpts[i]);
	free(h->rcpts);
	memset(h, 0, sizeof(*h));
}

/* One unfolded field NAME: VALUE of LEN bytes. -1 with err. */
static int sm_field(struct sm_head *h, const char *f, size_t len, int want,
    char *err, size_t errlen)
{
	const char *colon = memchr(f, ':', len);
	size_t nlen;
	char why[400];

	if (colon == NULL)
		return 0;
	nlen = (size_t)(colon - f);
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 4 && strncasecmp(f, "From", 4) == 0)
		h->has_from = 1;
	if (!want)
		return 0;
	if ((nlen == 2 && strncasecmp(f, "To", 2) == 0) ||
	    (nlen == 2 && strncasecmp(f, "Cc", 2) == 0) ||
	    (nlen == 3 && strncasecmp(f, "Bcc", 3) == 0)) {
		if (msg_parse_addrlist(colon + 1, len - (size_t)(colon + 1 - f),
		    &h->rcpts, &h->nrcpts, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%.*s: %s", (int)nlen, f, why);
			return -1;
		}
	}
	return 0;
}

/* Reads the header block of the message in FD (from 0). */
static int sm_read_head(int fd, int want_rcpts, struct sm_head *h,
    char *err, size_t errlen)
{
	char *buf = malloc(MSG_MAX_HEADER + 1), *field = NULL;
	size_t flen = 0, i, start;
	ssize_t n;
	int rc = -1;

	memset(h, 0, sizeof(*h));
	field = malloc(MSG_MAX_HEADER + 1);
	if (buf == NULL || field == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = pread(fd, buf, MSG_MAX_HEADER, 0);
	if (n < 0) {
		snprintf(err, errlen, "reading the message: %s",
		    strerror(errno));
		goto out;
	}
	for (i = 0; i < (size_t)n && buf[i] != '\n'; i++)
		;
	h->crlf = i > 0 && i < (size_t)n && buf[i - 1] == '\r';
	for (start = 0; start < (size_t)n; start = i + 1) {
		size_t end;

		for (i = start; i < (size_t)n && buf[i] != '\n'; i++)
			;
		end = i;
		if (end > start && buf[end - 1] == '\r')
			end--;
		if (end == start)
			break;                     /* the blank line */
		if (buf[start] == ' ' || buf[start] == '\t') {
			memcpy(field + flen, buf + start, end - start);
			flen += end - start;       /* unfolded */
			continue;
		}
		if (flen && sm_field(h, field, flen, want_rcpts, err,
		    errlen) < 0)
			goto out;
		memcpy(field, buf + start, end - start);
		flen = end - start;
		if (memchr(field, ':', flen) == NULL)
			break;                     /* the body begins */
	}
	if (flen && sm_field(h, field, flen, want_rcpts, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sm_head_free(h);
	free(buf);
	free(field);
	return rc;
}

/* Room the envelope block keeps for what is not a recipient (its
 * header, uid, sender, DSN lines, size and end). */
#define SM_HEAD_SLACK 8192

/* Appends ADDR to *list unless it is there (case-insensitive); E2BIG
 * past DROP_MAX_RCPTS recipients or when their lines would not fit the
 * drop's envelope block (DROP_MAX_HEAD). */
static int sm_add_rcpt(char ***list, size_t *n, const char *addr)
{
	char **nl;
	size_t i, bytes = strlen(addr) + 6;   /* "rcpt ADDR\n" */

	for (i = 0; i < *n; i++) {
		if (strcasecmp((*list)[i], addr) == 0)
			return 0;
		bytes += strlen((*list)[i]) + 6;
	}
	if (*n >= DROP_MAX_RCPTS || bytes > DROP_MAX_HEAD - SM_HEAD_SLACK) {
		errno = E2BIG;
		return -1;
	}
	nl = realloc(*list, (*n + 1) * sizeof(*nl));
	if (nl == NULL)
		return -1;
	*list = nl;
	if ((nl[*n] = strdup(addr)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/*
 * The envelope recipients: every argument (an address list: "a@x, Bob
 * <b@y>"; an unqualified name such as root is kept as written and
 * judged when the message is prepared), then with -t To, Cc and Bcc.
 * Returns 0 or an exit code.
 */
static int sm_rcpts(struct sm_ctx *c, const struct sm_head *h,
    struct drop_env *e)
{
	char err[400], **list = NULL;
	size_t i, k, n = 0;

	for (i = 0; i < c->o.nrcpts; i++) {
		const char *a = c->o.rcpts[i];

		if (drop_check_value(a, strlen(a), err, sizeof(err)) < 0) {
			sm_err("recipient %zu: %s", i + 1, err);
			return SM_EX_USAGE;
		}
		if (msg_parse_addrlist(a, strlen(a), &list, &n, err,
		    sizeof(err)) < 0) {
			/* kept as written: the daemon's check names it */
			for (k = 0; k < n; k++)
				free(list[k]);
			free(list);
			list = NULL;
			n = 0;
			if (sm_add_rcpt(&e->rcpts, &e->nrcpts, a) < 0)
				goto fail;
			continue;
		}
		for (k = 0; k < n; k++) {
			if (sm_add_rcpt(&e->rcpts, &e->nrcpts, list[k]) < 0)
				goto fail;
			free(list[k]);
			list[k] = NULL;
		}
		free(list);
		list = NULL;
		n = 0;
	}
	for (i = 0; i < h->nrcpts; i++)
		if (sm_add_rcpt(&e->rcpts, &e->nrcpts, h->rcpts[i]) < 0)
			goto fail;
	if (e->nrcpts == 0) {
		sm_err("no recipient: give them as arguments%s; nothing was "
		    "queued", c->o.read_rcpts ? " or in To:, Cc: or Bcc:" :
		    ", or pass -t to read To:, Cc: and Bcc:");
		return SM_EX_USAGE;
	}
	return 0;
fail:
	for (k = 0; k < n; k++)
		free(list[k]);
	free(list);
	sm_err("%s", errno == E2BIG ? "more than 1000 recipients, or more "
	    "than 500 KiB of their addresses: split the message; nothing was "
	    "queued" : "out of memory");
	return errno == E2BIG ? SM_EX_DATAERR : SM_EX_OSERR;
}

/* The bare address of -f ("<a@b>" or "a@b"), into BUF. */
static int sm_sender(const char *v, char *buf, size_t cap)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	if (n == 0 || n >= cap || n > MSG_MAX_ADDR)
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return drop_check_value(buf, n, NULL, 0) < 0 ||
	    strpbrk(buf, "<>, ") ? -1 : 0;
}

/*
 * The From: line put before a message that has none, when -f or -F is
 * given (sendmail does so): "From: NAME <ADDR>" with NAME quoted, ADDR
 * -f's or the default account's from. "" when there is nothing to add.
 */
static int sm_from_line(struct sm_ctx *c, const char *sender, int crlf,
    char *buf, size_t cap)
{
	const struct cfg_account *d = cfg_account(&c->cfg, NULL);
	const char *addr = sender ? sender : d ? d->from : NULL;
	const char *nl = crlf ? "\r\n" : "\n", *p;
	size_t o = 0;
	int n;

	buf[0] = '\0';
	if (addr == NULL || (sender == NULL && c->o.fullname == NULL))
		return 0;
	if (c->o.fullname == NULL || c->o.fullname[0] == '\0') {
		n = snprintf(buf, cap, "From: %s%s", addr, nl);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (drop_check_value(c->o.fullname, strlen(c->o.fullname), NULL,
	    0) < 0)
		return -1;
	n = snprintf(buf, cap, "From: \"");
	o = (size_t)n;
	for (p = c->o.fullname; *p; p++) {
		if (o + 3 >= cap)
			return -1;
		if (*p == '"' || *p == '\\')
			buf[o++] = '\\';
		buf[o++] = *p;
	}
	n = snprintf(buf + o, cap - o, "\" <%s>%s", addr, nl);
	return n < 0 || (size_t)n >= cap - o ? -1 : 0;
}

/* ---- the modes ------------------------------------------------------ */

/* The status file of drop NAME, once a mount shows it; waits up to
 * F's deadline or one of its stop signals. Returns 0 with PATH filled,
 * or -1 then. */
static int sm_find_status(struct sm_ctx *c, const char *name,
    struct follow *f, char *path, size_t cap)
{
	char mnt[SM_MAX_PATH];
	struct stat st;
	int n;

	for (;;) {
		if (sm_mountpoint(c->spoolfd, mnt, sizeof(mnt)) == 0) {
			n = snprintf(path, cap, "%s/sendmail-%s.status", mnt,
			    name);
			if (n > 0 && (size_t)n < cap && stat(path, &st) == 0)
				return 0;
		}
		if (f->deadline_ms >= 0 && clock_mono_ms() >= f->deadline_ms)
			return -1;
		if (follow_sleep(f, 100))
			return -1;
	}
}

/*
 * --wait, once the drop is durable. The termination signals STOP are
 * still blocked: one that came while the drop was written, or comes
 * now, ends the wait with 75 (queued, not final), never with a death
 * that would read as "not queued".
 */
static int sm_wait(struct sm_ctx *c, const char *name, const sigset_t *stop)
{
	struct follow f = { .deadline_ms = -1, .stop = stop };
	char path[SM_MAX_PATH + 64], err[SM_MAX_PATH + 128];
	int code, again = 0;

	if (c->o.wait_s >= 0)
		f.deadline_ms = clock_mono_ms() + c->o.wait_s * 1000;
	f.out = c->o.verbose ? stdout : NULL;
	/* The mount may go away during the wait (unmounted, its daemon
	 * killed): the message is still in the spool, so the wait goes
	 * on for the next mount, wherever it is. */
	f.unmount_returns = 1;
	for (;;) {
		if (sm_find_status(c, name, &f, path, sizeof(path)) < 0) {
			if (f.signo)
				sm_err("sendmail-%s is queued; the wait was "
				    "cut short by SIG%s", name,
				    sigabbrev_np(f.signo));
			else if (again)
				sm_err("sendmail-%s is queued, not sent yet: "
				    "the outbox of %s was unmounted and not "
				    "mounted again when the wait ended", name,
				    c->spool);
			else
				sm_err("sendmail-%s is queued; no outboxfs "
				    "mounted on %s has picked it up yet", name,
				    c->spool);
			return SM_EX_TEMPFAIL;
		}
		code = follow_wait(&f, path, err, sizeof(err));
		if (code != FOLLOW_UNMOUNTED)
			break;
		again = 1;
	}
	if (err[0])
		sm_err("%s", err);
	else if (f.signo)
		sm_err("%s: queued, not sent yet when the wait was cut short "
		    "by SIG%s", path, sigabbrev_np(f.signo));
	else if (code == FOLLOW_EX_TEMPFAIL)
		sm_err("%s: not sent yet when the wait ended", path);
	else if (code != 0)
		sm_err("%s: not sent (%s)", path, code == FOLLOW_EX_PARTIAL ?
		    "partial" : "failed");
	return code;
}

/* Ignores every signal of SET (a pending one is dropped). */
static void sm_ignore(const sigset_t *set)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			sigaction(sig, &sa, NULL);
}

static int sm_send(struct sm_ctx *c)
{
	struct drop_env e;
	struct sm_head h;
	sigset_t block, old;
	char err[1024], sender[MSG_MAX_ADDR + 1], name[DROP_NAME_LEN + 1];
	char from[1200];
	uint64_t size = 0;
	int fd, rc;

	memset(&e, 0, sizeof(e));
	memset(&h, 0, sizeof(h));
	if (c->o.sender && sm_sender(c->o.sender, sender, sizeof(sender)) < 0) {
		sm_err("-f %.100s: not an address (outboxfs sends no "
		    "bounces: an empty sender is refused too)", c->o.sender);
		return SM_EX_USAGE;
	}
	if ((rc = sm_setup(c, 1)) != 0)
		return rc;
	if (sm_priv(1) == 0) {
		fd = sm_tmpfile(c->dropfd);
		rc = errno;
		sm_priv(0);
		errno = rc;
	} else {
		fd = -1;
	}
	if (fd < 0) {
		sm_err("cannot write in %s/%s: %s; nothing was queued%s",
		    c->spool, DROP_DIR, strerror(errno), errno == EACCES ?
		    SM_HINT_GROUP : "");
		return SM_EX_TEMPFAIL;
	}
	if (sm_read_stdin(fd, c->o.dot_is_data, &size) < 0) {
		int saved = errno;

		sm_err("reading the message: %s; nothing was queued",
		    strerror(saved));
		close(fd);
		return saved == ENOSPC || saved == EDQUOT || saved == EIO ?
		    SM_EX_TEMPFAIL : SM_EX_IOERR;
	}
	if (size == 0) {
		sm_err("empty message on standard input; nothing was queued");
		close(fd);
		return SM_EX_NOINPUT;
	}
	if (sm_read_head(fd, c->o.read_rcpts, &h, err, sizeof(err)) < 0) {
		sm_err("%s; nothing was queued", err);
		close(fd);
		return SM_EX_DATAERR;
	}
	rc = sm_rcpts(c, &h, &e);
	if (rc != 0)
		goto out;
	if (!h.has_from && sm_from_line(c, c->o.sender ? sender : NULL,
	    h.crlf, from, sizeof(from)) < 0) {
		sm_err("-F %.100s: cannot be used as a name", c->o.fullname);
		rc = SM_EX_USAGE;
		goto out;
	}
	if (h.has_from)
		from[0] = '\0';
	e.uid = getuid();
	if (c->o.sender && (e.sender = strdup(sender)) == NULL)
		goto oom;
	if (c->o.notify[0] && (e.notify = strdup(c->o.notify)) == NULL)
		goto oom;
	if (c->o.ret[0] && (e.ret = strdup(c->o.ret)) == NULL)
		goto oom;
	if (c->o.envid && (e.envid = strdup(c->o.envid)) == NULL)
		goto oom;
	e.size = strlen(from) + size;
	/* A signal while the drop is written would leave its temp file:
	 * the write finishes first (it is bounded by the message), and
	 * once it is durable the run ends as queued (see below). */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (sm_priv(1) < 0) {
		snprintf(err, sizeof(err), "cannot take the maildrop group: "
		    "%s", strerror(errno));
		rc = -1;
	} else {
		rc = drop_write(c->dropfd, &e, from, strlen(from), fd, name,
		    sizeof(name), err, sizeof(err));
		sm_priv(0);
	}
	if (rc < 0) {
		/* Nothing was queued: a signal that came meanwhile may
		 * end the run now, as it would have before. */
		sigprocmask(SIG_SETMASK, &old, NULL);
		sm_err("cannot queue in %s/%s: %s; nothing was queued",
		    c->spool, DROP_DIR, err);
		rc = SM_EX_TEMPFAIL;
		goto out;
	}
	/*
	 * Queued: from now on no signal may turn this run into a death
	 * that reads as "not queued" (a caller would send it again).
	 * Without --wait they are ignored (which drops one pending) and
	 * the run ends 0; with --wait they stay blocked and end the wait
	 * with 75 (sm_wait), then are ignored the same way.
	 */
	if (c->o.verbose)
		printf("%s: queued as sendmail-%s in %s\n", sm_prog, name,
		    c->spool);
	rc = c->o.wait ? sm_wait(c, name, &block) : 0;
	sm_ignore(&block);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (fflush(stdout) != 0 && rc == 0) {
		sm_err("writing to standard output: %s", strerror(errno));
		rc = SM_EX_IOERR;
	}
	goto out;
oom:
	sm_err("out of memory; nothing was queued");
	rc = SM_EX_OSERR;
out:
	close(fd);
	sm_head_free(&h);
	drop_env_free(&e);
	return rc;
}

/* -bp */
static void sm_list_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct buf line = BUF_INIT(BUF_NOCAP);

	(void)has_msg;
	(void)arg;
	if (r == NULL) {
		printf("(id %llu) damaged: %s\n", (unsigned long long)id,
		    bad ? bad : "?");
		return;
	}
	if (r->removed)
		return;
	if (status_queue_line(&line, r, NULL) == 0)
		fwrite(line.p, 1, line.len, stdout);
	buf_free(&line);
}

static int sm_list(struct sm_ctx *c)
{
	char mnt[SM_MAX_PATH], path[SM_MAX_PATH + 16], buf[65536], err[1024];
	struct spool sp;
	uint64_t max_id = 0;
	ssize_t n;
	int rc, fd;

	if ((rc = sm_setup(c, 0)) != 0)
		return rc;
	if (sm_mountpoint(c->spoolfd, mnt, sizeof(mnt)) == 0) {
		snprintf(path, sizeof(path), "%s/.queue", mnt);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			sm_err("%s: %s", path, strerror(errno));
			return SM_EX_TEMPFAIL;
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
				break;
		close(fd);
	} else {
		/* No daemon: the spool is read here, under its lock, by
		 * its owner only (a system-wide spool is 0711). */
		struct stat st;

		if (fstat(c->spoolfd, &st) == 0 && st.st_uid != geteuid() &&
		    geteuid() != 0) {
			sm_err("no outboxfs is mounted on %s; without a mount "
			    "only its owner can list its queue", c->spool);
			return SM_EX_TEMPFAIL;
		}
		memset(&sp, 0, sizeof(sp));
		if (spool_open(&sp, c->spool, err, sizeof(err)) < 0) {
			sm_err("%s", err);
			return SM_EX_TEMPFAIL;
		}
		if (spool_load(&sp, sm_list_cb, NULL, &max_id, err,
		    sizeof(err)) < 0) {
			sm_err("%s", err);
			spool_close(&sp);
			return SM_EX_TEMPFAIL;
		}
		spool_close(&sp);
	}
	if (c->dropfd >= 0) {
		/* drops not picked up yet */
		DIR *d = fdopendir(dup(c->dropfd));
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			if (!drop_name_ok(de->d_name))
				continue;
			printf("sendmail-%s maildrop 0 - -\n", de->d_name);
		}
		if (d)
			closedir(d);
	}
	if (fflush(stdout) != 0) {
		sm_err("writing to standard output: %s", strerror(errno));
		return SM_EX_IOERR;
	}
	return 0;
}

/* -q */
static int sm_retry(struct sm_ctx *c)
{
	char err[256];
	int rc;

	if ((rc = sm_setup(c, 1)) != 0)
		return rc;
	if (sm_priv(1) < 0) {
		snprintf(err, sizeof(err), "cannot take the maildrop group: "
		    "%s", strerror(errno));
		rc = -1;
	} else {
		rc = drop_trigger(c->dropfd, err, sizeof(err));
		sm_priv(0);
	}
	if (rc < 0) {
		sm_err("cannot write the retry request in %s/%s: %s",
		    c->spool, DROP_DIR, err);
		return SM_EX_TEMPFAIL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sm_ctx c;
	char err[512];
	int rc;

	/* A reader of -v or -bp that goes away is an error we report,
	 * not a signal that kills us half-way. */
	signal(SIGPIPE, SIG_IGN);
	if (sm_priv_init() < 0) {
		fprintf(stderr, "%s: cannot drop the maildrop group: %s\n",
		    sm_prog, strerror(errno));
		return SM_EX_OSERR;
	}
	memset(&c, 0, sizeof(c));
	c.spoolfd = c.dropfd = -1;
	if (sm_parse_args(argc, argv, &c.o, err, sizeof(err)) < 0) {
		sm_err("%s (see --help)", err);
		return SM_EX_USAGE;
	}
	/* installed as mailq (make install SENDMAIL=1): -bp */
	if (argc >= 1 && argv[0] && c.o.mode == SM_SEND && c.o.nrcpts == 0) {
		const char *base = strrchr(argv[0], '/');

		if (strcmp(base ? base + 1 : argv[0], "mailq") == 0)
			c.o.mode = SM_LIST;
	}
	switch (c.o.mode) {
	case SM_HELP:
		sm_usage(stdout);
		rc = 0;
		break;
	case SM_VERSION:
		printf("outboxfs-sendmail 0.1\n");
		rc = 0;
		break;
	case SM_LIST:
		rc = sm_list(&c);
		break;
	case SM_RETRY:
		rc = sm_retry(&c);
		break;
	default:
		rc = sm_send(&c);
		break;
	}
	if (c.dropfd >= 0)
		close(c.dropfd);
	if (c.spoolfd >= 0)
		close(c.spoolfd);
	if (c.have_cfg)
		cfg_free(&c.cfg);
	sm_opts_free(&c.o);
	return rc;
}
