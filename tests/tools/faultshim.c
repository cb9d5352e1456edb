/*
 * faultshim — an LD_PRELOAD library that makes the daemon's spool I/O
 * fail on demand, for the fault_*.sh integration tests.
 *
 *   FAULTSHIM_CTL=DIR LD_PRELOAD=build/tools/faultshim.so outboxfs ...
 *
 * Without FAULTSHIM_CTL every call goes straight to libc. With it, each
 * intercepted call stats the control files below that concern it (one
 * stat each: a test turns a fault on or off at any moment by creating or
 * removing the file) and, only when one is present, reads the link
 * /proc/self/fd/FD to learn which file the call is about. "The journal"
 * is a file named journal, or journal.SOMETHING (a copy being written to
 * replace it).
 *
 *   DIR/read-eio-journal       content: a byte count N. read(), pread()
 *                              and pread64() on the journal return at
 *                              most the bytes before file offset N, then
 *                              fail with EIO: a read fails half-way.
 *   DIR/write-enospc-journal   write(), pwrite(), pwrite64(), writev()
 *                              and fallocate() on the journal fail with
 *                              ENOSPC, writing nothing.
 *   DIR/write-enospc-spool     content: a directory path. The same calls
 *                              on any file under that directory fail
 *                              with ENOSPC.
 *   DIR/fsync-eio-journal      fsync() and fdatasync() on the journal
 *                              fail with EIO; so does syncfs() on the
 *                              journal or on a directory holding one.
 *   DIR/fsync-kill-spool       content: a directory path. fsync() or
 *                              fdatasync() of a regular file directly
 *                              in that directory kills the process
 *                              (SIGKILL) before the call: a crash just
 *                              before the file's bytes are durable.
 *   DIR/fsync-eio-text         content: a string. fsync() and
 *                              fdatasync() of a regular file whose
 *                              first 4096 bytes hold it fail with EIO:
 *                              one message's file cannot be made
 *                              durable, the others can.
 *   DIR/fsync-eio-once-text    content: a string. The first fsync() or
 *                              fdatasync() of a regular file whose first
 *                              4096 bytes hold it fails with EIO, and
 *                              its inode is listed in DIR/eio-inodes;
 *                              the control file is then renamed to
 *                              NAME.spent (the fault is met once).
 *   DIR/fsync-eio-once-journal The same for the journal.
 *   DIR/eio-inodes             (made by the two above) "DEV INO GEN"
 *                              lines (GEN: FS_IOC_GETVERSION, else 0).
 *                              An fsync() or fdatasync() of a listed
 *                              inode returns 0 without syncing: what
 *                              Linux does after a writeback error (the
 *                              pages were marked clean, the error was
 *                              reported once), so a sync retried on
 *                              that file proves nothing. Counted in
 *                              hits as "fsync-after-eio".
 *   DIR/read-lost-eio          read() and pread() of a listed inode
 *                              return zeros in place of its bytes: its
 *                              pages were dropped and the disk never
 *                              had them.
 *   DIR/fsync-eio-dir          content: a directory path. fsync() and
 *                              fdatasync() of that directory fail with
 *                              EIO.
 *   DIR/open-emfile-spool      content: a directory path. openat() of
 *                              an existing file directly in that
 *                              directory (no O_CREAT) fails with EMFILE:
 *                              the descriptor table is full.
 *   DIR/rename-kill-name       content: a string. renameat() of a file
 *                              whose name (the last component) starts
 *                              with it kills the process (SIGKILL)
 *                              before the call: a crash just before a
 *                              rename.
 *   DIR/write-sleep-journal    content: milliseconds. write(), pwrite(),
 *                              pwrite64(), writev() and fallocate() on
 *                              the journal sleep that long first (then
 *                              write): widens a window (tests/review).
 *   DIR/fsync-hold-dir         content: a directory path. fsync() and
 *                              fdatasync() of that directory wait while
 *                              the control file exists (30 s at most),
 *                              then sync: a process held at a known
 *                              point (outboxfs-sendmail, its drop just
 *                              renamed into place) for a test to signal.
 *   DIR/unlink-eio-dir         content: a directory path. unlinkat() of
 *                              a name in that directory (DIRFD resolves
 *                              to it) fails with EIO, removing nothing.
 *
 * Each call that a fault fails is counted in DIR/hits (one line
 * "FAULT errno path" appended), so a test can tell the fault was met.
 *
 * It must never: change a call that no control file concerns, or keep
 * fault state between calls in memory (the daemon is multi-threaded;
 * every decision is made from the control files and the fd at the time
 * of the call; the only thing kept is each libc function's address;
 * what a fault must remember, eio-inodes, is a control file too).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FS_PATH_MAX 4096

typedef ssize_t (*fs_read_fn)(int, void *, size_t);
typedef ssize_t (*fs_pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*fs_pread64_fn)(int, void *, size_t, off64_t);
typedef ssize_t (*fs_write_fn)(int, const void *, size_t);
typedef ssize_t (*fs_pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*fs_pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*fs_writev_fn)(int, const struct iovec *, int);
typedef int (*fs_fallocate_fn)(int, int, off_t, off_t);
typedef int (*fs_fd_fn)(int);
typedef int (*fs_openat_fn)(int, const char *, int, ...);
typedef int (*fs_renameat_fn)(int, const char *, int, const char *);
typedef int (*fs_unlinkat_fn)(int, const char *, int);

/* Looked up once; dlsym(RTLD_NEXT) is thread-safe, a race only repeats
 * the same store. */
#define FS_NEXT(type, name) \
	static type next_##name; \
	if (next_##name == NULL) \
		next_##name = (type)dlsym(RTLD_NEXT, #name)

static const char *fs_ctl(void)
{
	const char *d = getenv("FAULTSHIM_CTL");

	return d != NULL && *d != '\0' ? d : NULL;
}

/* Reads control file NAME into BUF (trailing newline cut). Returns 1 when
 * the file exists, 0 when it does not (the fault is off). Uses the raw
 * syscalls through the libc entry points we do not intercept. */
static int fs_ctl_read(const char *name, char *buf, size_t cap)
{
	char path[FS_PATH_MAX];
	const char *dir = fs_ctl();
	struct stat st;
	FS_NEXT(fs_read_fn, read);
	ssize_t n;
	int fd, saved = errno, len;

	if (cap > 0)
		buf[0] = '\0';
	if (dir == NULL)
		return 0;
	len = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (len < 0 || (size_t)len >= sizeof(path) ||
	    stat(path, &st) < 0) {
		errno = saved;
		return 0;
	}
	if (cap > 0 && next_read != NULL &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = next_read(fd, buf, cap - 1);
		close(fd);
		if (n < 0)
			n = 0;
		buf[n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			buf[--n] = '\0';
	}
	errno = saved;
	return 1;
}

/* The path FD refers to, from /proc/self/fd; "" when unknown. */
static void fs_fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;
	int saved = errno;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	errno = saved;
}

static int fs_is_journal(const char *path)
{
	const char *base = strrchr(path, '/');

	if (base == NULL)
		return 0;
	base++;
	return strcmp(base, "journal") == 0 ||
	    strncmp(base, "journal.", 8) == 0;
}

static int fs_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return n > 0 && strncmp(path, dir, n) == 0 &&
	    (path[n] == '/' || path[n] == '\0');
}

static void fs_hit(const char *fault, int err, const char *path)
{
	char line[FS_PATH_MAX + 128], hits[FS_PATH_MAX];
	const char *dir = fs_ctl();
	FS_NEXT(fs_write_fn, write);
	int fd, n, saved = errno;

	if (dir == NULL || next_write == NULL)
		return;
	n = snprintf(hits, sizeof(hits), "%s/hits", dir);
	if (n < 0 || (size_t)n >= sizeof(hits))
		return;
	n = snprintf(line, sizeof(line), "%s %d %s\n", fault, err, path);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(hits, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (next_write(fd, line, (size_t)n) < 0)
			(void)0;        /* a lost count line is no fault */
		close(fd);
	}
	errno = saved;
}

/* 0 when a write to FD may go on, else the errno it must fail with. */
static int fs_write_fault(int fd)
{
	char spool[FS_PATH_MAX], path[FS_PATH_MAX];
	int jon, son;

	if (fs_ctl() == NULL)
		return 0;
	if (fs_ctl_read("write-sleep-journal", spool, sizeof(spool))) {
		long ms = atol(spool);

		fs_fd_path(fd, path, sizeof(path));
		if (ms > 0 && fs_is_journal(path)) {
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

			fs_hit("write-sleep-journal", 0, path);
			nanosleep(&ts, NULL);
		}
	}
	jon = fs_ctl_read("write-enospc-journal", NULL, 0);
	son = fs_ctl_read("write-enospc-spool", spool, sizeof(spool));
	if (!jon && !(son && spool[0] != '\0'))
		return 0;
	fs_fd_path(fd, path, sizeof(path));
	if (jon && fs_is_journal(path)) {
		fs_hit("write-enospc-journal", ENOSPC, path);
		return ENOSPC;
	}
	if (son && spool[0] != '\0' && fs_under(path, spool)) {
		fs_hit("write-enospc-spool", ENOSPC, path);
		return ENOSPC;
	}
	return 0;
}

/*
 * For a read of COUNT bytes at offset POS (-1: the fd's own offset):
 * returns -1 with errno EIO when the read must fail, else the count to
 * read (COUNT, or less so that the read stops at the limit).
 */
static ssize_t fs_read_fault(int fd, size_t count, off64_t pos)
{
	char val[64], path[FS_PATH_MAX], *end;
	unsigned long long limit;

	if (fs_ctl() == NULL ||
	    !fs_ctl_read("read-eio-journal", val, sizeof(val)))
		return (ssize_t)count;
	fs_fd_path(fd, path, sizeof(path));
	if (!fs_is_journal(path))
		return (ssize_t)count;
	errno = 0;
	limit = strtoull(val, &end, 10);
	if (errno != 0 || end == val)
		limit = 0;
	if (pos < 0) {
		int saved = errno;

		pos = lseek64(fd, 0, SEEK_CUR);
		errno = saved;
		if (pos < 0)
			pos = 0;
	}
	if ((unsigned long long)pos >= limit) {
		fs_hit("read-eio-journal", EIO, path);
		errno = EIO;
		return -1;
	}
	if (count > limit - (unsigned long long)pos)
		count = (size_t)(limit - (unsigned long long)pos);
	return (ssize_t)count;
}

/* For a sync fault whose control file CTL names a directory: when it is
 * on and FD is of file type TYPE (S_IFREG, S_IFDIR), that directory
 * (trailing slashes cut) into DIR and FD's path into PATH, and 1. */
static int fs_sync_target(const char *ctl, int fd, mode_t type,
    char *dir, char *path)
{
	struct stat st;
	size_t n;

	if (!fs_ctl_read(ctl, dir, FS_PATH_MAX) || dir[0] == '\0' ||
	    fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type)
		return 0;
	fs_fd_path(fd, path, FS_PATH_MAX);
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	return 1;
}

/* The fsync-kill-spool fault: dies when FD is a file in that directory. */
static void fs_sync_kill(int fd)
{
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	size_t n;
	int saved = errno;

	if (!fs_sync_target("fsync-kill-spool", fd, S_IFREG, dir, path)) {
		errno = saved;
		return;
	}
	n = strlen(dir);
	if (fs_under(path, dir) && path[n] == '/' &&
	    strchr(path + n + 1, '/') == NULL) {
		fs_hit("fsync-kill-spool", 0, path);
		kill(getpid(), SIGKILL);
	}
	errno = saved;
}

static int fs_head_has(int fd, const char *text);

/* The fsync-eio-text fault: 1 when FD's file starts with the text. */
static int fs_sync_text(int fd)
{
	char text[256], path[FS_PATH_MAX];

	if (!fs_ctl_read("fsync-eio-text", text, sizeof(text)) ||
	    !fs_head_has(fd, text))
		return 0;
	fs_fd_path(fd, path, sizeof(path));
	fs_hit("fsync-eio-text", EIO, path);
	return 1;
}

/* FD's inode as eio-inodes lists it: "DEV INO GEN" (GEN, the inode's
 * generation where the file system has one, else 0: an inode number
 * freed and used again is another file). */
static int fs_inode_key(int fd, char *buf, size_t cap)
{
	struct stat st;
	int gen = 0, saved = errno, n;

	if (fstat(fd, &st) < 0) {
		errno = saved;
		return -1;
	}
	if (ioctl(fd, FS_IOC_GETVERSION, &gen) < 0)
		gen = 0;
	n = snprintf(buf, cap, "%llu %llu %u", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino, (unsigned)gen);
	errno = saved;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* 1 when FD's inode is listed in DIR/eio-inodes. */
static int fs_eio_listed(int fd)
{
	char list[8192], key[96], *p, *nl;
	size_t kl;
	int found = 0;

	if (!fs_ctl_read("eio-inodes", list, sizeof(list)) ||
	    fs_inode_key(fd, key, sizeof(key)) < 0)
		return 0;
	kl = strlen(key);
	for (p = list; *p != '\0' && !found; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		found = strncmp(p, key, kl) == 0 &&
		    (p[kl] == '\n' || p[kl] == '\0');
	}
	return found;
}

/* Lists FD's inode in DIR/eio-inodes. */
static void fs_eio_list(int fd)
{
	char path[FS_PATH_MAX], line[96];
	const char *dir = fs_ctl();
	FS_NEXT(fs_write_fn, write);
	int lfd, n, saved = errno;

	if (dir == NULL || next_write == NULL ||
	    fs_inode_key(fd, line, sizeof(line) - 1) < 0)
		goto out;
	n = snprintf(path, sizeof(path), "%s/eio-inodes", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		goto out;
	n = (int)strlen(line);
	line[n++] = '\n';
	lfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lfd >= 0) {
		if (next_write(lfd, line, (size_t)n) < 0)
			(void)0;
		close(lfd);
	}
out:
	errno = saved;
}

/* 1 when FD's file holds TEXT in its first 4096 bytes. */
static int fs_head_has(int fd, const char *text)
{
	char head[4097];
	FS_NEXT(fs_pread_fn, pread);
	struct stat st;
	ssize_t n;
	int saved = errno, hit = 0;

	if (text[0] != '\0' && next_pread != NULL && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode) &&
	    (n = next_pread(fd, head, sizeof(head) - 1, 0)) > 0) {
		head[n] = '\0';
		hit = memmem(head, (size_t)n, text, strlen(text)) != NULL;
	}
	errno = saved;
	return hit;
}

static int fs_claim(const char *name);

/* The -once- faults: EIO for the first sync of a matching file. */
static int fs_sync_once(int fd)
{
	char text[256], path[FS_PATH_MAX];
	int hit = 0;

	if (fs_ctl_read("fsync-eio-once-text", text, sizeof(text)) &&
	    fs_head_has(fd, text) && fs_claim("fsync-eio-once-text")) {
		fs_fd_path(fd, path, sizeof(path));
		fs_hit("fsync-eio-once-text", EIO, path);
		hit = 1;
	} else if (fs_ctl_read("fsync-eio-once-journal", NULL, 0)) {
		fs_fd_path(fd, path, sizeof(path));
		if (fs_is_journal(path) && fs_claim("fsync-eio-once-journal")) {
			fs_hit("fsync-eio-once-journal", EIO, path);
			hit = 1;
		}
	}
	if (hit)
		fs_eio_list(fd);
	return hit;
}

/* Claims the one-shot fault NAME: 1 for the one call that renames its
 * control file away (concurrent calls: one wins), else 0. */
static int fs_claim(const char *name)
{
	char from[FS_PATH_MAX], to[FS_PATH_MAX];
	const char *dir = fs_ctl();
	int saved = errno, won;

	if (dir == NULL)
		return 0;
	snprintf(from, sizeof(from), "%s/%s", dir, name);
	snprintf(to, sizeof(to), "%s/%s.spent", dir, name);
	won = rename(from, to) == 0;
	errno = saved;
	return won;
}

/* The fsync-eio-dir fault: 1 when FD is that directory. */
static int fs_sync_dir(int fd)
{
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct stat st;
	size_t n;
	int saved = errno;

	if (!fs_ctl_read("fsync-eio-dir", dir, sizeof(dir)) || dir[0] == '\0' ||
	    fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		errno = saved;
		return 0;
	}
	fs_fd_path(fd, path, sizeof(path));
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	errno = saved;
	if (strcmp(path, dir) != 0)
		return 0;
	fs_hit("fsync-eio-dir", EIO, path);
	return 1;
}

/* The fsync-hold-dir fault: waits while it is on when FD is that
 * directory. */
static void fs_sync_hold(int fd)
{
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct timespec ts = { 0, 10 * 1000000L };
	int saved = errno, i;

	if (!fs_sync_target("fsync-hold-dir", fd, S_IFDIR, dir, path)) {
		errno = saved;
		return;
	}
	if (strcmp(path, dir) == 0) {
		fs_hit("fsync-hold-dir", 0, path);
		for (i = 0; i < 3000 && fs_ctl_read("fsync-hold-dir", NULL, 0);
		    i++)
			nanosleep(&ts, NULL);
	}
	errno = saved;
}

/* For a sync of FD: 0 to sync, -1 to return 0 without syncing (a file
 * whose sync failed once), else the errno to fail with. */
static int fs_sync_fault(int fd, int dir_too)
{
	char path[FS_PATH_MAX], probe[FS_PATH_MAX + 16];
	struct stat st;
	int n, saved;

	if (fs_ctl() == NULL)
		return 0;
	fs_sync_hold(fd);
	fs_sync_kill(fd);
	if (fs_eio_listed(fd)) {
		fs_fd_path(fd, path, sizeof(path));
		fs_hit("fsync-after-eio", 0, path);
		return -1;
	}
	if (fs_sync_once(fd))
		return EIO;
	if (fs_sync_text(fd))
		return EIO;
	if (fs_sync_dir(fd))
		return EIO;
	if (!fs_ctl_read("fsync-eio-journal", NULL, 0))
		return 0;
	fs_fd_path(fd, path, sizeof(path));
	if (fs_is_journal(path)) {
		fs_hit("fsync-eio-journal", EIO, path);
		return EIO;
	}
	if (!dir_too)
		return 0;
	n = snprintf(probe, sizeof(probe), "%s/journal", path);
	saved = errno;
	if (path[0] == '/' && n > 0 && (size_t)n < sizeof(probe) &&
	    stat(probe, &st) == 0) {
		errno = saved;
		fs_hit("fsync-eio-journal", EIO, path);
		return EIO;
	}
	errno = saved;
	return 0;
}

/* The read-lost-eio fault: BUF's N bytes just read from FD are zeros
 * when FD's inode is listed. */
static void fs_read_lost(int fd, void *buf, ssize_t n)
{
	char path[FS_PATH_MAX];

	if (n <= 0 || fs_ctl() == NULL ||
	    !fs_ctl_read("read-lost-eio", NULL, 0) || !fs_eio_listed(fd))
		return;
	memset(buf, 0, (size_t)n);
	fs_fd_path(fd, path, sizeof(path));
	fs_hit("read-lost-eio", 0, path);
}

ssize_t read(int fd, void *buf, size_t count)
{
	FS_NEXT(fs_read_fn, read);
	ssize_t n = fs_read_fault(fd, count, -1);

	if (n < 0)
		return -1;
	n = next_read(fd, buf, (size_t)n);
	fs_read_lost(fd, buf, n);
	return n;
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	FS_NEXT(fs_pread_fn, pread);
	ssize_t n = fs_read_fault(fd, count, off);

	if (n < 0)
		return -1;
	n = next_pread(fd, buf, (size_t)n, off);
	fs_read_lost(fd, buf, n);
	return n;
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t off)
{
	FS_NEXT(fs_pread64_fn, pread64);
	ssize_t n = fs_read_fault(fd, count, off);

	if (n < 0)
		return -1;
	n = next_pread64(fd, buf, (size_t)n, off);
	fs_read_lost(fd, buf, n);
	return n;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	FS_NEXT(fs_write_fn, write);
	int err = fs_write_fault(fd);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	FS_NEXT(fs_pwrite_fn, pwrite);
	int err = fs_write_fault(fd);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_pwrite(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off)
{
	FS_NEXT(fs_pwrite64_fn, pwrite64);
	int err = fs_write_fault(fd);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_pwrite64(fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	FS_NEXT(fs_writev_fn, writev);
	int err = fs_write_fault(fd);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_writev(fd, iov, iovcnt);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	FS_NEXT(fs_fallocate_fn, fallocate);
	int err = fs_write_fault(fd);

	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_fallocate(fd, mode, off, len);
}

int fsync(int fd)
{
	FS_NEXT(fs_fd_fn, fsync);
	int err = fs_sync_fault(fd, 0);

	if (err < 0)
		return 0;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_fsync(fd);
}

int fdatasync(int fd)
{
	FS_NEXT(fs_fd_fn, fdatasync);
	int err = fs_sync_fault(fd, 0);

	if (err < 0)
		return 0;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_fdatasync(fd);
}

int renameat(int olddir, const char *old, int newdir, const char *new)
{
	FS_NEXT(fs_renameat_fn, renameat);
	char pre[256];
	const char *base = strrchr(old, '/');

	base = base ? base + 1 : old;
	if (fs_ctl_read("rename-kill-name", pre, sizeof(pre)) &&
	    pre[0] != '\0' && strncmp(base, pre, strlen(pre)) == 0) {
		fs_hit("rename-kill-name", 0, old);
		kill(getpid(), SIGKILL);
	}
	return next_renameat(olddir, old, newdir, new);
}

int unlinkat(int dirfd, const char *name, int flags)
{
	FS_NEXT(fs_unlinkat_fn, unlinkat);
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];

	if (fs_ctl() != NULL &&
	    fs_ctl_read("unlink-eio-dir", dir, sizeof(dir)) &&
	    dir[0] != '\0' && name[0] != '/') {
		fs_fd_path(dirfd, path, sizeof(path));
		if (strcmp(path, dir) == 0) {
			fs_hit("unlink-eio-dir", EIO, name);
			errno = EIO;
			return -1;
		}
	}
	return next_unlinkat(dirfd, name, flags);
}

int syncfs(int fd)
{
	FS_NEXT(fs_fd_fn, syncfs);
	int err = fs_sync_fault(fd, 1);

	if (err < 0)
		return 0;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return next_syncfs(fd);
}

/* The open-emfile-spool fault for openat(DIRFD, NAME, FLAGS): 0, or the
 * errno the open must fail with. */
static int fs_open_fault(int dirfd, const char *name, int flags)
{
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	size_t n;

	if (fs_ctl() == NULL || (flags & O_CREAT) || name == NULL ||
	    !fs_ctl_read("open-emfile-spool", dir, sizeof(dir)) ||
	    dir[0] == '\0')
		return 0;
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		if (dirfd == AT_FDCWD)
			return 0;
		fs_fd_path(dirfd, path, sizeof(path));
		n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "/%s", name);
	}
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!fs_under(path, dir) || path[n] != '/' ||
	    strchr(path + n + 1, '/') != NULL)
		return 0;
	fs_hit("open-emfile-spool", EMFILE, path);
	return EMFILE;
}

int openat(int dirfd, const char *name, int flags, ...)
{
	FS_NEXT(fs_openat_fn, openat);
	int err = fs_open_fault(dirfd, name, flags);
	mode_t mode = 0;
	va_list ap;

	if (err != 0) {
		errno = err;
		return -1;
	}
	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return next_openat(dirfd, name, flags, mode);
}

/* The same call on a 64-bit system, where libc's openat is openat64 */
int openat64(int dirfd, const char *name, int flags, ...)
    __attribute__((alias("openat")));
