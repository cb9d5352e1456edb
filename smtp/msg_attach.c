/*
 * msg_attach — "Attach: PATH" pseudo-headers turned into a MIME
 * multipart/mixed message, once, when a message is submitted.
 *
 * Must never open a file the writer of the message could not open
 * (the daemon may run with more rights than the user), never read
 * anything but a regular file, never hold a file in memory (base64 is
 * streamed in chunks), and never leave the thread's credentials changed.
 *
 * Why setfsuid/setfsgid and not access()+open(): the kernel then checks
 * the whole path walk and the file itself (modes, ACLs, directory search
 * rights) as the user, with no window between check and use. On Linux
 * the fsuid, fsgid and supplementary groups are per-thread credentials;
 * glibc's setgroups() broadcasts to every thread, so the groups are set
 * with the raw system call, which changes this thread only. All of it
 * is skipped when the daemon already runs as UID (the common case: a
 * user mounting their own outbox), where a plain open() is exact.
 *
 * Never a file of /proc: there "self" is the daemon, whose own entries
 * the kernel lets it read whatever the fsuid (/proc/self/maps), and
 * /proc/self/fd/N (also through /dev/fd or a link of the user's) would
 * reopen a file the daemon holds, a sendmail drop of another user say.
 * So the path is resolved with openat2(2) and RESOLVE_NO_MAGICLINKS,
 * and a file that opens on procfs is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/openat2.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

#define ATT_OUTBUF     (64 * 1024)
#define ATT_B64_IN     (57 * 1024)     /* 57 bytes make one 76-char line */
#define ATT_MAX_GROUPS 256

struct att_out {
	int fd;
	size_t len;
	int failed;                 /* errno of the first failed write */
	char buf[ATT_OUTBUF];
};

static void att_flush(struct att_out *o)
{
	size_t off = 0;

	while (!o->failed && off < o->len) {
		ssize_t w = write(o->fd, o->buf + off, o->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->failed = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	o->len = 0;
}

static void att_put(struct att_out *o, const void *s, size_t n)
{
	const char *p = s;

	while (n > 0 && !o->failed) {
		size_t k = sizeof(o->buf) - o->len;

		if (k > n)
			k = n;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
		if (o->len == sizeof(o->buf))
			att_flush(o);
	}
}

static void att_puts(struct att_out *o, const char *s)
{
	att_put(o, s, strlen(s));
}

struct att_file {
	int fd;
	char *path;                 /* as resolved */
	const char *base;           /* within path */
};

/* Home directory of UID into BUF. */
static int att_home(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL ||
	    pw.pw_dir == NULL)
		return -1;
	if ((size_t)snprintf(buf, len, "%s", pw.pw_dir) >= len)
		return -1;
	return 0;
}

/*
 * open(2) of PATH with FLAGS, never through a /proc magic link (see the
 * top). A kernel without openat2(2) (before Linux 5.6): a plain open()
 * for a daemon that is the user itself (what it could reach is the
 * user's own), else -1 with ENOSYS.
 */
static int att_open_nomagic(const char *path, int flags, int own)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)flags;
	how.resolve = RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS && own)
		return open(path, flags);
	return (int)fd;
}

/* Opens PATH read-only with the credentials of UID/GID (see the top). */
static int att_open_as(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	gid_t groups[ATT_MAX_GROUPS], saved[ATT_MAX_GROUPS];
	int ngroups = ATT_MAX_GROUPS, nsaved, fd, eno;
	struct passwd pw, *res = NULL;
	char tmp[4096];
	uid_t ouid;
	gid_t ogid;

	if (uid == geteuid())
		return att_open_nomagic(path, flags, 1);
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL ||
	    getgrouplist(pw.pw_name, gid, groups, &ngroups) < 0)
		ngroups = 0;    /* unknown user or too many groups: gid only */
	nsaved = getgroups(ATT_MAX_GROUPS, saved);
	if (nsaved < 0 ||
	    syscall(SYS_setgroups, (size_t)ngroups, groups) != 0) {
		msg_seterr(err, errlen, "cannot read attachments as uid %u: "
		    "the daemon (uid %u) lacks the privilege",
		    (unsigned)uid, (unsigned)geteuid());
		errno = EPERM;
		return -2;
	}
	ogid = (gid_t)setfsgid(gid);
	ouid = (uid_t)setfsuid(uid);
	if ((gid_t)setfsgid(gid) != gid || (uid_t)setfsuid(uid) != uid) {
		fd = -2;
		eno = EPERM;
		msg_seterr(err, errlen, "cannot read attachments as uid %u: "
		    "the daemon (uid %u) lacks the privilege",
		    (unsigned)uid, (unsigned)geteuid());
	} else {
		fd = att_open_nomagic(path, flags, 0);
		eno = errno;
	}
	(void)setfsuid(ouid);
	(void)setfsgid(ogid);
	if (syscall(SYS_setgroups, (size_t)nsaved, saved) != 0) {
		/* the thread would keep the user's groups: never go on */
		abort();
	}
	errno = eno;
	return fd;
}

static int att_open(const char *value, size_t vlen, uid_t uid, gid_t gid,
    struct att_file *f, char *err, size_t errlen)
{
	char path[4096], shown[80], eb[128];
	struct statfs sfs;
	struct stat st;
	size_t n = vlen;
	const char *v = value;
	int fd;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	msg_sanitize(v, n, shown, sizeof(shown));
	if (n == 0) {
		msg_seterr(err, errlen, "Attach: empty path");
		return -1;
	}
	if (memchr(v, '\0', n)) {
		msg_seterr(err, errlen, "Attach: %s: NUL byte in path", shown);
		return -1;
	}
	if (n >= 2 && v[0] == '~' && v[1] == '/') {
		char home[2048];
		int w;

		if (att_home(uid, home, sizeof(home)) < 0) {
			msg_seterr(err, errlen, "Attach: %s: no home directory "
			    "for uid %u", shown, (unsigned)uid);
			return -1;
		}
		w = snprintf(path, sizeof(path), "%s/%.*s", home, (int)(n - 2),
		    v + 2);
		if (w < 0 || (size_t)w >= sizeof(path))
			goto toolong;
	} else if (v[0] == '/') {
		if (n >= sizeof(path))
			goto toolong;
		memcpy(path, v, n);
		path[n] = '\0';
	} else {
		msg_seterr(err, errlen, "Attach: %s: use an absolute path or "
		    "~/", shown);
		return -1;
	}
	fd = att_open_as(path, uid, gid, err, errlen);
	if (fd == -2)
		return -1;
	if (fd < 0 && errno == ELOOP) {
		msg_seterr(err, errlen, "Attach: %s: a symbolic link loop, or "
		    "a link through /proc (never followed)", shown);
		return -1;
	}
	if (fd < 0 && errno == ENOSYS) {
		msg_seterr(err, errlen, "Attach: %s: this kernel lacks "
		    "openat2 (Linux 5.6), without which another user's file "
		    "is never opened", shown);
		return -1;
	}
	if (fd < 0) {
		msg_seterr(err, errlen, "Attach: %s: %s", shown,
		    strerror_r(errno, eb, sizeof(eb)));
		return -1;
	}
	if (fstatfs(fd, &sfs) != 0 || sfs.f_type == PROC_SUPER_MAGIC) {
		close(fd);
		msg_seterr(err, errlen, "Attach: %s: a file of /proc (never "
		    "attached: it would be the daemon's)", shown);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		msg_seterr(err, errlen, "Attach: %s: not a regular file",
		    shown);
		return -1;
	}
	/* the O_NONBLOCK was only for FIFOs and devices; undo it */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	f->fd = fd;
	f->path = strdup(path);
	if (f->path == NULL) {
		close(fd);
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	f->base = strrchr(f->path, '/') + 1;
	return 0;
toolong:
	msg_seterr(err, errlen, "Attach: %s: path too long", shown);
	return -1;
}

static const char *att_type(const char *name)
{
	static const char *const map[][2] = {
		{ "txt", "text/plain" }, { "html", "text/html" },
		{ "htm", "text/html" }, { "csv", "text/csv" },
		{ "pdf", "application/pdf" }, { "zip", "application/zip" },
		{ "gz", "application/gzip" }, { "json", "application/json" },
		{ "png", "image/png" }, { "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" }, { "gif", "image/gif" },
		{ "svg", "image/svg+xml" }, { "ics", "text/calendar" },
		{ "odt", "application/vnd.oasis.opendocument.text" },
		{ "docx", "application/vnd.openxmlformats-officedocument."
		    "wordprocessingml.document" },
		{ "xlsx", "application/vnd.openxmlformats-officedocument."
		    "spreadsheetml.sheet" },
	};
	const char *dot = strrchr(name, '.');

	if (dot && dot != name)
		for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
			if (strcasecmp(dot + 1, map[i][0]) == 0)
				return map[i][1];
	return "application/octet-stream";
}

/* A file name fit for a quoted MIME parameter as is. */
static int att_plain_name(const char *s)
{
	size_t n = strlen(s);

	if (n > 200)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/* The part header of one attachment; RFC 2231 for a name that needs it. */
static void att_part_header(struct att_out *o, const char *boundary,
    const char *base)
{
	const char *type = att_type(base);

	att_puts(o, "--");
	att_puts(o, boundary);
	att_puts(o, "\r\nContent-Type: ");
	att_puts(o, type);
	if (att_plain_name(base)) {
		att_puts(o, ";\r\n name=\"");
		att_puts(o, base);
		att_puts(o, "\"\r\nContent-Disposition: attachment;\r\n "
		    "filename=\"");
		att_puts(o, base);
		att_puts(o, "\"");
	} else {
		static const char hex[] = "0123456789ABCDEF";
		size_t col = 0;

		/* continuations (filename*0*=, *1*=) keep lines short */
		att_puts(o, "\r\nContent-Disposition: attachment");
		for (size_t i = 0, part = 0; base[i]; part++) {
			char head[64];      /* fits any size_t part */
			int w = snprintf(head, sizeof(head), ";\r\n "
			    "filename*%zu*=%s", part, part ? "" : "UTF-8''");

			if (w < 0 || (size_t)w >= sizeof(head)) {
				o->failed = ENAMETOOLONG;
				break;
			}
			att_put(o, head, (size_t)w);
			for (col = 0; base[i] && col < 60; i++) {
				unsigned char c = (unsigned char)base[i];

				if ((c >= 'a' && c <= 'z') ||
				    (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') ||
				    (c && strchr("!#$&+-.^_`|~", c))) {
					att_put(o, &base[i], 1);
					col++;
				} else {
					char pct[3] = { '%', hex[c >> 4],
					    hex[c & 15] };

					att_put(o, pct, 3);
					col += 3;
				}
			}
		}
	}
	att_puts(o, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
}

static int att_base64(struct att_out *o, struct att_file *f, char *err,
    size_t errlen)
{
	unsigned char *in = malloc(ATT_B64_IN), line[80];
	char eb[128];
	size_t have = 0;
	int rc = -1;

	if (in == NULL) {
		msg_seterr(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t r = read(f->fd, in + have, ATT_B64_IN - have);
		size_t off = 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			char shown[80];

			msg_sanitize(f->path, strlen(f->path), shown,
			    sizeof(shown));
			msg_seterr(err, errlen, "Attach: %s: %s", shown,
			    strerror_r(errno, eb, sizeof(eb)));
			goto out;
		}
		have += (size_t)r;
		/* whole 57-byte groups now; the rest waits for more input */
		while (have - off >= 57 || (r == 0 && off < have)) {
			size_t k = have - off < 57 ? have - off : 57;
			int n = EVP_EncodeBlock(line, in + off, (int)k);

			line[n] = '\r';
			line[n + 1] = '\n';
			att_put(o, line, (size_t)n + 2);
			off += k;
		}
		memmove(in, in + off, have - off);
		have -= off;
		if (r == 0)
			break;
	}
	rc = 0;
out:
	free(in);
	return rc;
}

/* The text part: 7bit when it can be, else quoted-printable. */
static int att_text(struct att_out *o, int fd, off_t off, int *qp,
    char *err, size_t errlen)
{
	char *in = malloc(16384), *enc = malloc(MSG_QP_OUT(16384));
	uint64_t pos = 0;
	size_t line = 0;
	int bol = 1, prev_cr = 0, rc = -1, pass;

	if (in == NULL || enc == NULL) {
		msg_seterr(err, errlen, "out of memory");
		goto out;
	}
	*qp = 0;
	/* pass 0 decides, pass 1 writes */
	for (pass = 0; pass < 2; pass++) {
		struct msg_qp q;

		msg_qp_init(&q);
		pos = 0;
		for (;;) {
			ssize_t r = msg_pread_full(fd, in, 16384,
			    off + (off_t)pos, err, errlen);

			if (r < 0)
				goto out;
			if (r == 0)
				break;
			pos += (uint64_t)r;
			if (pass == 1) {
				if (*qp)
					att_put(o, enc, msg_qp(&q, in,
					    (size_t)r, enc));
				else
					att_put(o, in, (size_t)r);
				continue;
			}
			for (ssize_t i = 0; i < r; i++) {
				unsigned char c = (unsigned char)in[i];

				if (c == '\n' && prev_cr) {
					prev_cr = 0;
					continue;
				}
				prev_cr = c == '\r';
				if (c == '\r' || c == '\n') {
					line = 0;
					bol = 1;
					continue;
				}
				/* a leading '.' is doubled on the wire */
				line += (bol && c == '.') ? 2 : 1;
				bol = 0;
				if (c >= 0x80 || c == 0 || line > 998)
					*qp = 1;
			}
		}
		if (pass == 0) {
			att_puts(o, "Content-Type: text/plain; "
			    "charset=utf-8\r\nContent-Transfer-Encoding: ");
			att_puts(o, *qp ? "quoted-printable\r\n\r\n" :
			    "7bit\r\n\r\n");
		} else if (*qp) {
			size_t n = msg_qp_finish(&q, enc);

			att_put(o, enc, n);
		}
	}
	/* the CRLF before a boundary belongs to the boundary (RFC 2046
	 * 5.1.1): without this one the text would lose its last line end */
	att_puts(o, "\r\n");
	rc = 0;
out:
	free(in);
	free(enc);
	return rc;
}

/* Copies one header field as written, with CRLF line ends. */
static void att_copy_field(struct att_out *o, const struct msg_hblock *b,
    const struct msg_hdr *h)
{
	size_t i = h->raw;

	while (i < h->raw_end) {
		size_t e = i;

		while (e < h->raw_end && b->buf[e] != '\n' && b->buf[e] != '\r')
			e++;
		att_put(o, b->buf + i, e - i);
		att_puts(o, "\r\n");
		if (e < h->raw_end && b->buf[e] == '\r')
			e++;
		i = e + 1;
	}
}

int msg_attach_expand(int in_fd, int out_fd, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	struct msg_src src = { in_fd, NULL, 0 };
	struct msg_hblock b;
	struct att_file files[MSG_MAX_ATTACH];
	struct att_out *o = NULL;
	size_t nfiles = 0, nattach = 0;
	unsigned char rnd[12];
	char boundary[64], eb[128];
	int rc = -1, own_type = 0, qp;

	if (msg_hblock_read(&src, &b, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < b.nh; i++)
		if (msg_hdr_is(&b, &b.h[i], "Attach"))
			nattach++;
	if (nattach == 0) {
		rc = 1;
		goto out;
	}
	if (nattach > MSG_MAX_ATTACH) {
		msg_seterr(err, errlen, "more than %d Attach: lines",
		    MSG_MAX_ATTACH);
		goto out;
	}
	/* every file opened before anything is written */
	for (size_t i = 0; i < b.nh; i++) {
		const struct msg_hdr *h = &b.h[i];

		if (!msg_hdr_is(&b, h, "Attach"))
			continue;
		if (att_open(h->value, h->value_len, uid, gid, &files[nfiles],
		    err, errlen) < 0)
			goto out;
		nfiles++;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		msg_seterr(err, errlen, "no random bytes for a MIME boundary");
		goto out;
	}
	/* "=_" cannot occur in base64 or quoted-printable text */
	memcpy(boundary, "=_outboxfs_", 11);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		boundary[11 + 2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		boundary[12 + 2 * i] = "0123456789abcdef"[rnd[i] & 15];
	}
	boundary[11 + 2 * sizeof(rnd)] = '\0';

	o = malloc(sizeof(*o));
	if (o == NULL) {
		msg_seterr(err, errlen, "out of memory");
		goto out;
	}
	o->fd = out_fd;
	o->len = 0;
	o->failed = 0;
	for (size_t i = 0; i < b.nh; i++) {
		const struct msg_hdr *h = &b.h[i];

		if (msg_hdr_is(&b, h, "Attach") ||
		    msg_hdr_is(&b, h, "MIME-Version"))
			continue;
		if (msg_hdr_is(&b, h, "Content-Type") ||
		    msg_hdr_is(&b, h, "Content-Transfer-Encoding") ||
		    msg_hdr_is(&b, h, "Content-Disposition")) {
			own_type = 1;   /* moves into the first part */
			continue;
		}
		att_copy_field(o, &b, h);
	}
	att_puts(o, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n "
	    "boundary=\"");
	att_puts(o, boundary);
	att_puts(o, "\"\r\n\r\nThis is a message in MIME format.\r\n\r\n--");
	att_puts(o, boundary);
	att_puts(o, "\r\n");
	if (own_type) {
		/* the user's own MIME body: its fields go with it, as is */
		char *in = malloc(16384);
		uint64_t pos = 0;

		for (size_t i = 0; i < b.nh; i++) {
			const struct msg_hdr *h = &b.h[i];

			if (msg_hdr_is(&b, h, "Content-Type") ||
			    msg_hdr_is(&b, h, "Content-Transfer-Encoding") ||
			    msg_hdr_is(&b, h, "Content-Disposition"))
				att_copy_field(o, &b, h);
		}
		att_puts(o, "\r\n");
		if (in == NULL) {
			msg_seterr(err, errlen, "out of memory");
			goto out;
		}
		for (;;) {
			ssize_t r = msg_pread_full(in_fd, in, 16384,
			    b.body_off + (off_t)pos, err, errlen);

			if (r <= 0) {
				if (r < 0) {
					free(in);
					goto out;
				}
				break;
			}
			att_put(o, in, (size_t)r);
			pos += (uint64_t)r;
		}
		free(in);
		att_puts(o, "\r\n");
	} else if (att_text(o, in_fd, b.body_off, &qp, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < nfiles; i++) {
		att_part_header(o, boundary, files[i].base);
		if (att_base64(o, &files[i], err, errlen) < 0)
			goto out;
	}
	att_puts(o, "--");
	att_puts(o, boundary);
	att_puts(o, "--\r\n");
	att_flush(o);
	if (o->failed) {
		msg_seterr(err, errlen, "writing the expanded message: %s",
		    strerror_r(o->failed, eb, sizeof(eb)));
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < nfiles; i++) {
		close(files[i].fd);
		free(files[i].path);
	}
	free(o);
	msg_hblock_free(&b);
	return rc;
}
