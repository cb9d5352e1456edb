/*
 * spool — durable storage: message bytes, a journal of framed records,
 * transcripts, and a group commit of outboxfs's own files (fdatasync,
 * never syncfs). Records as text are in spool_rec.c, what a mount reads
 * in spool_load.c.
 *
 * Must never: trust a record without its end line, delete a record or a
 * message it cannot read (those go to corrupt/), or hold any lock but its
 * own journal and sync mutexes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "fs/log.h"
#include "fs/spool.h"
#include "fs/spool_int.h"
#include "util/hindex.h"

/* ---- framing ------------------------------------------------------------ */

/*
 * CRC-32C (Castagnoli, reflected 0x82F63B78), table-driven: a checksum
 * against torn and flipped bytes, not a defence against an attacker (who
 * could not place a frame anyway: values are escaped, so a line of a
 * record never starts with '%').
 */
static uint32_t spool_crc_table[256];
static pthread_once_t spool_crc_once = PTHREAD_ONCE_INIT;

static void spool_crc_init(void)
{
	uint32_t c;
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		spool_crc_table[i] = c;
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The CPU's CRC32 instruction computes the same CRC-32C, eight bytes at a
 * time (the journal is checked whole at every mount). */
__attribute__((target("sse4.2")))
static uint32_t spool_crc_hw(const unsigned char *p, size_t len, uint32_t c)
{
	uint64_t c64 = c, w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#define SPOOL_CRC_HW 1
#endif

static int spool_crc_have_hw;

static void spool_crc_setup(void)
{
	spool_crc_init();
#ifdef SPOOL_CRC_HW
	__builtin_cpu_init();
	spool_crc_have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t spool_crc_more(uint32_t c, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&spool_crc_once, spool_crc_setup);
#ifdef SPOOL_CRC_HW
	if (spool_crc_have_hw)
		return spool_crc_hw(p, len, c);
#endif
	while (len--)
		c = spool_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c;
}

uint32_t spool_crc32c(const void *buf, size_t len)
{
	return spool_crc_more(0xFFFFFFFFu, buf, len) ^ 0xFFFFFFFFu;
}

void spool_check_buf(struct spool_check *ck, const void *p, size_t len)
{
	ck->len = len;
	ck->crc = spool_crc32c(p, len);
	ck->set = 1;
}

#define SPOOL_CHECK_CHUNK (64 * 1024)
#define SPOOL_CHECK_SMALL 8192

int spool_check_fd(struct spool_check *ck, int fd)
{
	char small[SPOOL_CHECK_SMALL], *buf = NULL, *p = small;
	uint32_t c = 0xFFFFFFFFu;
	uint64_t off = 0;
	size_t cap = sizeof(small);
	ssize_t n;
	int saved;

	for (;;) {
		n = pread(fd, p, cap, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		c = spool_crc_more(c, p, (size_t)n);
		off += (uint64_t)n;
		if (buf == NULL) {
			/* a message of a few KiB: one read, no allocation
			 * (a short read of a regular file is its end) */
			if ((size_t)n < cap)
				break;
			if ((buf = malloc(SPOOL_CHECK_CHUNK)) == NULL)
				goto fail;
			p = buf;
			cap = SPOOL_CHECK_CHUNK;
		}
	}
	free(buf);
	ck->len = off;
	ck->crc = c ^ 0xFFFFFFFFu;
	ck->set = 1;
	return 0;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}

void spool_sync_helpers_ok(struct spool *sp)
{
	sp->sw_ok = 1;
}

uint64_t spool_check_stamp(struct spool *sp)
{
	return sp->stamp;
}

int spool_frame(struct buf *out, const char *text, size_t tlen)
{
	char head[SPOOL_FRAME_HEAD];
	int n;

	uint64_t id = 0;

	/* the id twice (head and record): a damaged frame is set down to
	 * an id only where both still agree */
	if (spool_guess_id(text, tlen, &id) < 0)
		id = 0;
	n = snprintf(head, sizeof(head), "%%obx %zu %08" PRIx32 " %" PRIu64
	    "\n", tlen, spool_crc32c(text, tlen), id);
	if (n < 0 || (size_t)n >= sizeof(head) || tlen > SPOOL_MAX_RECORD) {
		errno = EINVAL;
		return -1;
	}
	/* the room first: a frame goes in whole or not at all */
	if (buf_reserve(out, (size_t)n + tlen) == NULL)
		return -1;
	(void)buf_add(out, head, (size_t)n);
	(void)buf_add(out, text, tlen);
	return 0;
}

/*
 * A new spool is marked the top of a directory tree (FS_TOPDIR_FL, what
 * chattr +T sets), and its directories are made under a name of their
 * own, then renamed: ext2/3/4 then place each in a block group picked
 * from that name (Orlov), not in the parent's nor in the one every
 * spool's msg/ would hash to. Without a journal, ext4 passes over every
 * inode of the group freed in the last minutes at each file it makes:
 * where many files were just removed (a cleaned /tmp, or the spool of
 * the last run), a new message file cost 250 us instead of 11. Only a
 * hint: a file system without the flag is left as it is, and a spool
 * that has its directories keeps them.
 */
static void spool_mark_top(struct spool *sp)
{
	int flags;

	if (faccessat(sp->dirfd, "msg", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return;
	if (ioctl(sp->dirfd, FS_IOC_GETFLAGS, &flags) < 0 ||
	    (flags & FS_TOPDIR_FL))
		return;
	flags |= FS_TOPDIR_FL;
	(void)ioctl(sp->dirfd, FS_IOC_SETFLAGS, &flags);
}

/* The made-and-renamed names (see spool_mark_top): "NAME.new-PID-NS". */
#define SPOOL_NEWDIR ".new-"

static int spool_subdir(struct spool *sp, const char *name)
{
	struct timespec ts;
	char tmp[64];

	if (faccessat(sp->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -1;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(tmp, sizeof(tmp), "%s" SPOOL_NEWDIR "%ld-%ld", name,
		    (long)getpid(), (long)ts.tv_nsec);
		/* (a file system that cannot do it gets the plain mkdir) */
		if (mkdirat(sp->dirfd, tmp, 0700) < 0 ||
		    renameat(sp->dirfd, tmp, sp->dirfd, name) < 0) {
			(void)unlinkat(sp->dirfd, tmp, AT_REMOVEDIR);
			if (mkdirat(sp->dirfd, name, 0700) < 0 &&
			    errno != EEXIST)
				return -1;
		}
	}
	return openat(sp->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A directory a crash left between its mkdir and its rename, if empty. */
static void spool_subdir_leftovers(struct spool *sp)
{
	DIR *d;
	struct dirent *e;
	int fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strstr(e->d_name, SPOOL_NEWDIR))
			(void)unlinkat(sp->dirfd, e->d_name, AT_REMOVEDIR);
	closedir(d);
}

static int spool_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

/* All N bytes of P written to FD: at OFF, or at its offset when OFF is
 * -1. */
static int spool_write_at(int fd, const char *p, size_t n, int64_t off)
{
	ssize_t w;

	while (n > 0) {
		w = off < 0 ? write(fd, p, n) : pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int spool_write_all(int fd, const char *p, size_t n)
{
	return spool_write_at(fd, p, n, -1);
}

/* Reads up to CAP bytes at OFF into BUF (fewer only at the end of the
 * file); -1 with errno, *GOT (GOT may be NULL) then the bytes read
 * before the error. */
ssize_t spool_pread_upto(int fd, char *buf, size_t cap, uint64_t off,
    size_t *got_out)
{
	size_t got = 0;
	ssize_t n = 0;

	while (got < cap) {
		n = pread(fd, buf + got, cap - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got_out)
		*got_out = got;
	return got < cap && n < 0 ? -1 : (ssize_t)got;
}

/*
 * The spool belongs to one daemon: a write lock on SPOOL/lock, held for
 * the life of the process (fcntl locks go with the process, so a kill -9
 * leaves no stale lock). The error names the holder's pid as the kernel
 * reports it; nothing is written (a refused mount changes nothing).
 */
static int spool_lock(struct spool *sp, char *err, size_t errlen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int tries;

	sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (sp->lockfd < 0)
		return -1;
	/* A daemon just unmounted may still be closing its spool: wait
	 * for it a moment before saying the spool is in use. */
	for (tries = 0;; tries++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		fl.l_type = F_WRLCK;
		if (fcntl(sp->lockfd, F_SETLK, &fl) == 0)
			break;
		if (errno != EACCES && errno != EAGAIN)
			return -1;
		if (tries < 50) {
			nanosleep(&ts, NULL);
			continue;
		}
		fl.l_type = F_WRLCK;
		fl.l_pid = 0;
		if (fcntl(sp->lockfd, F_GETLK, &fl) < 0 ||
		    fl.l_type == F_UNLCK)
			fl.l_pid = 0;
		snprintf(err, errlen, "spool %s is in use by another outboxfs "
		    "(pid %ld): one spool belongs to one daemon; unmount that "
		    "one first or set `spool` to another directory", sp->path,
		    (long)fl.l_pid);
		errno = EBUSY;
		return -2;
	}
	return 0;
}

/* jbytes is set under jmu, atomically: spool_journal_size reads it
 * without the lock. */
static void spool_jbytes_set(struct spool *sp, uint64_t n)
{
	__atomic_store_n(&sp->jbytes, n, __ATOMIC_RELAXED);
}


/*
 * The journal is written ahead in zeros: records overwrite blocks the
 * file already has, so the fdatasync of a commit finds no size or block
 * change to make durable (ext4 with its own journal: no journal commit
 * of the file system, 0.37 ms for 1.1 ms on a virtual disk). A record
 * never holds a zero byte, so the journal's end is where its zeros
 * start.
 */
#define SPOOL_JAHEAD (256 * 1024)

/* The offset after the journal FD's last byte that is not zero (FD's
 * size SIZE): where the next record goes. -1 on a read error. */
int64_t spool_journal_end(int fd, uint64_t size)
{
	char buf[8192];
	uint64_t at = size;
	size_t want, i;
	ssize_t n;

	while (at > 0) {
		want = at < sizeof(buf) ? (size_t)at : sizeof(buf);
		n = pread(fd, buf, want, (off_t)(at - want));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if ((size_t)n != want) {
			errno = EIO;       /* shorter than fstat said */
			return -1;
		}
		for (i = want; i > 0; i--)
			if (buf[i - 1] != '\0')
				return (int64_t)(at - want + i);
		at -= want;
	}
	return 0;
}

/* Takes FD (open for reading and writing) as the journal: its end
 * found, a header written when it has none. jmu held, or not yet
 * shared. -1 leaves SP as it was. */
static int spool_journal_adopt(struct spool *sp, int fd)
{
	struct stat st;
	int64_t end;
	uint64_t alloc;
	int e;

	if (fstat(fd, &st) < 0 ||
	    (end = spool_journal_end(fd, (uint64_t)st.st_size)) < 0)
		return -1;
	alloc = (uint64_t)st.st_size;
	if (end == 0) {
		/* new, or nothing of it reached the disk: a header */
		end = (int64_t)SPOOL_JHEAD_LEN;
		if (spool_write_at(fd, SPOOL_JHEAD, (size_t)end, 0) < 0) {
			e = errno;
			(void)!ftruncate(fd, 0);
			errno = e;
			return -1;
		}
		if (alloc < (uint64_t)end)
			alloc = (uint64_t)end;
	}
	sp->jfd = fd;
	sp->jalloc = alloc;
	spool_jbytes_set(sp, (uint64_t)end);
	return 0;
}

/* Opens the journal (spool_journal_adopt). */
static int spool_open_journal(struct spool *sp)
{
	int fd = openat(sp->dirfd, "journal", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);

	if (fd < 0)
		return -1;
	if (spool_journal_adopt(sp, fd) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Appends LEN bytes at the journal's end (jmu held): into its zeros,
 * which are first extended by jahead bytes when the record does not fit
 * (none when jahead is 0: OUTBOXFS_JOURNAL_AHEAD, for tests).
 * Zeros that cannot be written (a full disk) are taken back, and the
 * record extends the file itself (and so do the records after it, for a
 * quarter of jahead). A record written in part is taken back, with the
 * zeros after it, so the next append starts a whole frame; if that
 * fails too, the reader skips the torn bytes by their checksum.
 */
static int spool_jappend(struct spool *sp, const char *buf, size_t len)
{
	static const char zeros[65536];
	uint64_t end = sp->jbytes + len, want, at;
	size_t n;
	int saved;

	if (end > sp->jalloc && sp->jahead > 0 && end >= sp->jretry) {
		want = (end + sp->jahead + 4095) & ~(uint64_t)4095;
		for (at = sp->jalloc; at < want; at += n) {
			n = want - at < sizeof(zeros) ?
			    (size_t)(want - at) : sizeof(zeros);
			if (spool_write_at(sp->jfd, zeros, n, (int64_t)at) < 0)
				break;
		}
		if (at >= want) {
			sp->jalloc = want;
		} else {
			/* tried again after a quarter of it in records */
			(void)!ftruncate(sp->jfd, (off_t)sp->jalloc);
			sp->jretry = end + sp->jahead / 4;
		}
	}
	if (spool_write_at(sp->jfd, buf, len, (int64_t)sp->jbytes) < 0) {
		saved = errno;
		if (ftruncate(sp->jfd, (off_t)sp->jbytes) == 0)
			sp->jalloc = sp->jbytes;
		errno = saved;
		return -1;
	}
	spool_jbytes_set(sp, end);
	if (end > sp->jalloc)
		sp->jalloc = end;
	return 0;
}

int spool_open(struct spool *sp, const char *path, char *err, size_t errlen)
{
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->msgfd = sp->logfd = sp->corruptfd = sp->jfd = -1;
	sp->lockfd = sp->jfd_old = -1;
	pthread_mutex_init(&sp->jmu, NULL);
	pthread_mutex_init(&sp->sync_mu, NULL);
	pthread_cond_init(&sp->sync_cv, NULL);
	pthread_mutex_init(&sp->spmu, NULL);
	pthread_cond_init(&sp->spcv, NULL);
	sem_init(&sp->sw_go, 0, 0);
	sem_init(&sp->sw_done, 0, 0);
	sp->next_id = 1;
	sp->stamp = 1;
	sp->jahead = SPOOL_JAHEAD;
	if (getenv("OUTBOXFS_JOURNAL_AHEAD"))
		sp->jahead = strtoull(getenv("OUTBOXFS_JOURNAL_AHEAD"), NULL,
		    10);
	sp->path = strdup(path);
	if (sp->path == NULL)
		goto fail;
	if (spool_mkdir_p(path) < 0)
		goto fail;
	sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
		goto fail;
	rc = spool_lock(sp, err, errlen);
	if (rc == -2) {
		spool_close(sp);
		return -1;
	}
	if (rc < 0)
		goto fail;
	spool_mark_top(sp);
	spool_subdir_leftovers(sp);
	if ((sp->msgfd = spool_subdir(sp, "msg")) < 0 ||
	    (sp->logfd = spool_subdir(sp, "log")) < 0 ||
	    (sp->corruptfd = spool_subdir(sp, "corrupt")) < 0)
		goto fail;
	if (spool_open_journal(sp) < 0) {
		snprintf(err, errlen, "spool %s/journal: cannot open or read "
		    "it: %s; nothing was changed (check the disk and that "
		    "`spool` is writable, then mount again)", path,
		    strerror(errno));
		spool_close(sp);
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen, "spool %s: %s; set `spool` to a writable "
	    "directory", path, strerror(errno));
	spool_close(sp);
	return -1;
}

void spool_idname(uint64_t id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" PRIu64, id);
}

void spool_msgdir_changed(struct spool *sp)
{
	pthread_mutex_lock(&sp->spmu);
	sp->msgdir_dirty = 1;
	pthread_mutex_unlock(&sp->spmu);
}

void spool_set_next_id(struct spool *sp, uint64_t id)
{
	pthread_mutex_lock(&sp->spmu);
	sp->next_id = id;
	pthread_mutex_unlock(&sp->spmu);
}

/* A reserved file no message took: closed (FD, and LFD unless -1) and
 * removed with its transcript. */
static void spool_spare_drop(struct spool *sp, uint64_t id, int fd, int lfd)
{
	close(fd);
	if (lfd >= 0)
		close(lfd);
	(void)spool_drop_files(sp, id);
}

/*
 * Keeps SPOOL_SPARES message files reserved: when half are taken, the
 * next ids are reserved, their files made, and the directory synced once
 * for all of them before any is given out. A file that cannot be made
 * (a full disk or descriptor table) leaves its id unused; new messages
 * then create their own files, and the thread looks again in a second.
 */
static void *spool_spare_thread(void *arg)
{
	struct spool *sp = arg;
	struct timespec ts;
	int fd[SPOOL_SPARES], lfd[SPOOL_SPARES];
	uint64_t first;
	size_t want, made, i;
	char name[32];

	(void)pthread_setname_np(pthread_self(), "outboxfs-spare");
	pthread_mutex_lock(&sp->spmu);
	while (!sp->spare_stop) {
		if (sp->nspare > SPOOL_SPARES / 2) {
			pthread_cond_wait(&sp->spcv, &sp->spmu);
			continue;
		}
		want = SPOOL_SPARES - sp->nspare;
		first = sp->next_id;
		sp->next_id += want;
		pthread_mutex_unlock(&sp->spmu);
		for (made = 0; made < want; made++) {
			spool_idname(first + made, name, sizeof(name));
			fd[made] = openat(sp->msgfd, name, O_RDWR | O_CREAT |
			    O_EXCL | O_CLOEXEC, 0600);
			if (fd[made] < 0)
				break;
			/* its transcript file too, empty: the first outcome
			 * then appends without making a file (one that cannot
			 * be made now is made then) */
			lfd[made] = openat(sp->logfd, name, O_WRONLY |
			    O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		}
		if (made > 0 && spool_sync_dir(sp, sp->msgfd, "/msg") < 0) {
			for (i = 0; i < made; i++)
				spool_spare_drop(sp, first + i, fd[i], lfd[i]);
			made = 0;
		}
		pthread_mutex_lock(&sp->spmu);
		for (i = 0; i < made; i++) {
			size_t at = (sp->spare_head + sp->nspare) %
			    SPOOL_SPARES;

			sp->spare_fd[at] = fd[i];
			sp->spare_lfd[at] = lfd[i];
			sp->spare_id[at] = first + i;
			sp->nspare++;
		}
		if (made == want)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sp->spcv, &sp->spmu, &ts);
	}
	pthread_mutex_unlock(&sp->spmu);
	return NULL;
}

int spool_spares_start(struct spool *sp)
{
	int rc;

	sp->spare_stop = 0;
	rc = pthread_create(&sp->spare_th, NULL, spool_spare_thread, sp);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	sp->spare_running = 1;
	return 0;
}

static void spool_sync_helpers_stop(struct spool *sp);

/* Stops the reserving thread and removes the files it made that no
 * message took. */
static void spool_spares_stop(struct spool *sp)
{
	if (sp->spare_running) {
		pthread_mutex_lock(&sp->spmu);
		sp->spare_stop = 1;
		pthread_cond_broadcast(&sp->spcv);
		pthread_mutex_unlock(&sp->spmu);
		pthread_join(sp->spare_th, NULL);
		sp->spare_running = 0;
	}
	while (sp->nspare > 0) {
		spool_spare_drop(sp, sp->spare_id[sp->spare_head],
		    sp->spare_fd[sp->spare_head],
		    sp->spare_lfd[sp->spare_head]);
		sp->spare_head = (sp->spare_head + 1) % SPOOL_SPARES;
		sp->nspare--;
	}
}

void spool_close(struct spool *sp)
{
	int *fds[] = { &sp->dirfd, &sp->msgfd, &sp->logfd, &sp->corruptfd,
	    &sp->jfd, &sp->lockfd, &sp->jfd_old };
	size_t i;

	if (sp->msgfd >= 0)
		spool_spares_stop(sp);
	spool_sync_helpers_stop(sp);

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	free(sp->path);
	sp->path = NULL;
	pthread_mutex_destroy(&sp->jmu);
	pthread_mutex_destroy(&sp->sync_mu);
	pthread_cond_destroy(&sp->sync_cv);
	pthread_mutex_destroy(&sp->spmu);
	pthread_cond_destroy(&sp->spcv);
	sem_destroy(&sp->sw_go);
	sem_destroy(&sp->sw_done);
}

int spool_sync_dir(struct spool *sp, int fd, const char *sub)
{
	if (fsync(fd) == 0)
		return 0;
	spool_dir_lost(sp, sub);
	return -1;
}

void spool_dir_lost(struct spool *sp, const char *sub)
{
	int saved = errno, first;

	pthread_mutex_lock(&sp->jmu);
	first = !sp->dlost;
	sp->dlost = 1;
	pthread_mutex_unlock(&sp->jmu);
	if (first)
		log_warnx("spool %s%s: the directory could not be synced "
		    "(%s): nothing more is reported durable; check the disk "
		    "and mount again", sp->path, sub, strerror(saved));
	errno = saved;
}

/*
 * One commit of the journal's own bytes: fdatasync of the journal (a dup
 * of its fd, so a rewrite may swap the journal meanwhile), and of the
 * spool directory when a rename in it is not yet durable.
 */
static int spool_commit(struct spool *sp)
{
	int fd, rc, dir, lost, saved = 0;

	/* No new descriptor (the table may be full): the journal's own,
	 * kept open by a rewrite that swaps it meanwhile (jfd_old). */
	pthread_mutex_lock(&sp->jmu);
	if (sp->jlost || sp->dlost) {
		pthread_mutex_unlock(&sp->jmu);
		errno = EIO;
		return -1;
	}
	fd = sp->jfd;
	sp->jsyncing = 1;
	dir = sp->dir_dirty;
	sp->dir_dirty = 0;
	pthread_mutex_unlock(&sp->jmu);
	rc = fdatasync(fd);
	if (rc < 0) {
		saved = errno;
		dir = 0;
	} else if (dir && spool_sync_dir(sp, sp->dirfd, "") < 0) {
		saved = errno;
		rc = -1;
	}
	pthread_mutex_lock(&sp->jmu);
	/* after a failed sync, the journal's own retry would report what
	 * it can no longer prove: only a new journal can (see jlost) */
	lost = rc < 0 && !dir && !sp->jlost;
	if (lost)
		sp->jlost = 1;
	sp->jsyncing = 0;
	if (sp->jfd_old >= 0) {
		close(sp->jfd_old);
		sp->jfd_old = -1;
	}
	pthread_mutex_unlock(&sp->jmu);
	errno = saved;
	if (lost && sp->lost_cb)
		sp->lost_cb(sp->lost_arg);
	errno = saved;
	return rc;
}

int spool_journal_lost(struct spool *sp)
{
	int lost;

	pthread_mutex_lock(&sp->jmu);
	lost = sp->jlost;
	pthread_mutex_unlock(&sp->jmu);
	return lost;
}

uint64_t spool_sync_ticket(struct spool *sp)
{
	uint64_t target;

	pthread_mutex_lock(&sp->sync_mu);
	/* A commit already running may have started before our writes:
	 * only one that starts after this point covers them. */
	target = sp->sync_started + 1;
	pthread_mutex_unlock(&sp->sync_mu);
	return target;
}

int spool_sync(struct spool *sp)
{
	return spool_sync_for(sp, spool_sync_ticket(sp));
}

int spool_sync_for(struct spool *sp, uint64_t target)
{
	uint64_t gen;
	int rc = 0;

	pthread_mutex_lock(&sp->sync_mu);
	while (sp->sync_done < target) {
		if (!sp->sync_running) {
			sp->sync_running = 1;
			gen = ++sp->sync_started;
			pthread_mutex_unlock(&sp->sync_mu);
			rc = spool_commit(sp);
			pthread_mutex_lock(&sp->sync_mu);
			sp->sync_err = rc < 0 ? (errno ? errno : EIO) : 0;
			if (rc == 0)
				sp->sync_ok = gen;
			sp->sync_done = gen;
			sp->sync_running = 0;
			pthread_cond_broadcast(&sp->sync_cv);
		} else {
			pthread_cond_wait(&sp->sync_cv, &sp->sync_mu);
		}
	}
	/* covered when a commit that started after the ticket succeeded:
	 * one that failed since (another thread's) takes nothing back */
	rc = 0;
	if (sp->sync_ok < target) {
		errno = sp->sync_err ? sp->sync_err : EIO;
		rc = -1;
	}
	pthread_mutex_unlock(&sp->sync_mu);
	return rc;
}


/* Batches of this many files or more are synced by helpers: below it,
 * waking them costs more than it saves (ext4 on a virtual disk: 2 files
 * 0.67 ms in turn, 0.74 with helpers; 4 files 0.95 and 0.87). */
#define SPOOL_SYNC_HELPED 3

/*
 * The fdatasyncs of one batch of SPOOL_SYNC_HELPED files or more, shared
 * by up to SPOOL_SYNC_HELPERS helpers that live as long as the spool
 * (made at the first such batch, not per batch) and by the committer
 * once it has synced the journal: the file system commits its journal
 * once for the syncs that wait together (ext4: 64 files in about the
 * time of 4 one by one).
 */

/* Takes and syncs files of job J until none is left (no lock held:
 * the next index is taken atomically). */
static void spool_sync_share(struct spool_syncjob *j)
{
	size_t i;
	int fd, e, none;

	while ((i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) <
	    j->n) {
		fd = j->fds[i];
		if (fd >= 0 && fdatasync(fd) < 0) {
			e = errno;
			none = 0;
			__atomic_compare_exchange_n(&j->err, &none, e, 0,
			    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		}
	}
}

static void spool_sem_wait(sem_t *s)
{
	while (sem_wait(s) < 0 && errno == EINTR)
		;
}

static void *spool_sync_helper(void *arg)
{
	struct spool *sp = arg;
	struct spool_syncjob *j;

	(void)pthread_setname_np(pthread_self(), "outboxfs-sync");
	for (;;) {
		spool_sem_wait(&sp->sw_go);
		if (__atomic_load_n(&sp->sw_stop, __ATOMIC_ACQUIRE))
			break;
		j = sp->job;
		spool_sync_share(j);
		if (__atomic_sub_fetch(&j->inside, 1, __ATOMIC_ACQ_REL) == 0)
			sem_post(&sp->sw_done);
	}
	return NULL;
}

/* Stops the helpers (spool_close): each takes one post and leaves. */
static void spool_sync_helpers_stop(struct spool *sp)
{
	int i;

	__atomic_store_n(&sp->sw_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < sp->nsw; i++)
		sem_post(&sp->sw_go);
	for (i = 0; i < sp->nsw; i++)
		pthread_join(sp->sw[i], NULL);
	sp->nsw = 0;
}

int spool_sync_fds(struct spool *sp, const int *fds, size_t n)
{
	struct spool_syncjob j = { fds, n, 0, 0, 0 };
	size_t i, sent = 0;
	int dir, rc = 0, saved = 0;
	int helped = n >= SPOOL_SYNC_HELPED && sp->sw_ok;

	/* the writeback of every file started at once: a few files' runs
	 * while the journal is synced, and their own fdatasyncs then find
	 * it mostly done (as fast as helper threads, without waking them) */
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			(void)sync_file_range(fds[i], 0, 0,
			    SYNC_FILE_RANGE_WRITE);
	if (helped) {
		/* the helpers, once: one that cannot be made leaves its
		 * share to the others (with none, this thread syncs every
		 * file after the journal) */
		while (!sp->sw_tried && sp->nsw < SPOOL_SYNC_HELPERS &&
		    pthread_create(&sp->sw[sp->nsw], NULL, spool_sync_helper,
		    sp) == 0)
			sp->nsw++;
		sp->sw_tried = 1;
		/* as many helpers sent as there are files */
		sent = n < (size_t)sp->nsw ? n : (size_t)sp->nsw;
		j.inside = (int)sent;
		sp->job = &j;
		for (i = 0; i < sent; i++)
			sem_post(&sp->sw_go);
	}
	/* Meanwhile this thread: the names of files made since the last
	 * sync (a reserved file's name was synced before it was given
	 * out), then the journal. */
	pthread_mutex_lock(&sp->spmu);
	dir = sp->msgdir_dirty;
	sp->msgdir_dirty = 0;
	pthread_mutex_unlock(&sp->spmu);
	if (dir && spool_sync_dir(sp, sp->msgfd, "/msg") < 0) {
		saved = errno;
		rc = -1;
	}
	if (spool_sync(sp) < 0 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	/* and the files no helper has taken yet */
	spool_sync_share(&j);
	if (sent)
		spool_sem_wait(&sp->sw_done);
	sp->job = NULL;
	if (rc == 0 && j.err) {
		saved = j.err;
		rc = -1;
	}
	if (rc < 0) {
		/* the next batch keeps the stamp: until one is durable, a
		 * crash leaves this one's records among those checked (its
		 * messages are submitted again, with new records), and
		 * so does every batch until a rewrite of the journal: its
		 * records may stay the last of their messages (held back
		 * for a retry) after later batches are durable */
		sp->stamp_held = 1;
		errno = saved;
		return -1;
	}
	if (!sp->stamp_held)
		sp->stamp++;
	return 0;
}

int spool_write_framed(struct spool *sp, const char *buf, size_t len)
{
	int rc, saved;

	pthread_mutex_lock(&sp->jmu);
	rc = spool_jappend(sp, buf, len);
	saved = errno;
	pthread_mutex_unlock(&sp->jmu);
	errno = saved;
	return rc;
}

int spool_write_text(struct spool *sp, const char *text, size_t len)
{
	struct buf b = BUF_INIT(BUF_NOCAP);
	int rc, saved;

	if (spool_frame(&b, text, len) < 0)
		return -1;
	rc = spool_write_framed(sp, b.p, b.len);
	saved = errno;
	buf_free(&b);
	errno = saved;
	return rc;
}

int spool_write_rec(struct spool *sp, const struct spool_rec *r)
{
	char *text = NULL;
	size_t len;
	int rc, saved;

	if (spool_rec_format(r, &text, &len) < 0)
		return -1;
	rc = spool_write_text(sp, text, len);
	saved = errno;
	free(text);
	errno = saved;
	return rc;
}

int spool_tombstone_text(uint64_t id, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "outboxfs-record 1\nid %" PRIu64
	    "\nremoved 1\nend\n", id);

	return n > 0 && (size_t)n < cap ? n : -1;
}

static int spool_tombstone(struct spool *sp, uint64_t id)
{
	char text[96];
	int n = spool_tombstone_text(id, text, sizeof(text));

	return spool_write_text(sp, text, (size_t)n);
}

int spool_install_msg(struct spool *sp, uint64_t id, int out,
    const char *tmp)
{
	char name[32];

	spool_idname(id, name, sizeof(name));
	if (fsync(out) < 0 || renameat(sp->msgfd, tmp, sp->msgfd, name) < 0)
		return -1;
	spool_msgdir_changed(sp);
	return 0;
}

int spool_copy_msg(struct spool *sp, uint64_t id, int fd,
    const struct spool_check *want, struct spool_check *got, int *newfd)
{
	char tmp[48], name[32], *buf;
	uint32_t c = 0xFFFFFFFFu;
	uint64_t off = 0;
	ssize_t n;
	int out, saved;

	spool_idname(id, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), ".rs%s", name);
	if ((buf = malloc(SPOOL_CHECK_CHUNK)) == NULL)
		return -1;
	out = openat(sp->msgfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (out < 0)
		goto fail_buf;
	for (;;) {
		n = pread(fd, buf, SPOOL_CHECK_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_out;
		if (n == 0)
			break;
		if (spool_write_all(out, buf, (size_t)n) < 0)
			goto fail_out;
		c = spool_crc_more(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	buf = NULL;
	got->len = off;
	got->crc = c ^ 0xFFFFFFFFu;
	got->stamp = 0;
	got->set = 1;
	if (want && want->set &&
	    (got->len != want->len || got->crc != want->crc)) {
		close(out);
		unlinkat(sp->msgfd, tmp, 0);
		return 1;
	}
	if (spool_install_msg(sp, id, out, tmp) < 0)
		goto fail_out;
	if (newfd)
		*newfd = out;
	else
		close(out);
	return 0;
fail_out:
	saved = errno;
	close(out);
	unlinkat(sp->msgfd, tmp, 0);
	errno = saved;
fail_buf:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}

/* A new journal.new with its header, opened for writing at its end. */
static int spool_new_journal(struct spool *sp)
{
	int fd;

	fd = openat(sp->dirfd, "journal.new", O_RDWR | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (spool_write_all(fd, SPOOL_JHEAD, SPOOL_JHEAD_LEN) < 0) {
		int e = errno;

		close(fd);
		unlinkat(sp->dirfd, "journal.new", 0);
		errno = e;
		return -1;
	}
	return fd;
}

int spool_compact_begin(struct spool *sp)
{
	int fd = spool_new_journal(sp);

	if (fd < 0)
		return -1;
	pthread_mutex_lock(&sp->jmu);
	close(sp->jfd);
	sp->jfd = fd;
	spool_jbytes_set(sp, SPOOL_JHEAD_LEN);
	sp->jalloc = sp->jbytes;
	pthread_mutex_unlock(&sp->jmu);
	return 0;
}

int spool_compact_add(struct spool *sp, const struct spool_rec *r)
{
	return spool_write_rec(sp, r);
}

int spool_compact_end(struct spool *sp)
{
	int rc = 0, fd, old;

	pthread_mutex_lock(&sp->jmu);
	if (fsync(sp->jfd) < 0 ||
	    renameat(sp->dirfd, "journal.new", sp->dirfd, "journal") < 0 ||
	    fsync(sp->dirfd) < 0)
		rc = -1;
	fd = openat(sp->dirfd, "journal", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	old = sp->jfd;
	if (fd >= 0 && spool_journal_adopt(sp, fd) == 0) {
		close(old);
	} else {
		if (fd >= 0)
			close(fd);
		rc = -1;
	}
	pthread_mutex_unlock(&sp->jmu);
	return rc;
}

uint64_t spool_journal_size(struct spool *sp)
{
	/* no jmu (spool_jbytes_set): asked after every append
	 * (ob_compact_check), where the lock was contended by the next
	 * append's write(2) */
	return __atomic_load_n(&sp->jbytes, __ATOMIC_RELAXED);
}

/* Copies the journal's bytes from FROM to its end into FD (jmu held). */
static int spool_copy_tail(struct spool *sp, uint64_t from, int fd)
{
	char buf[65536];
	uint64_t off = from;
	ssize_t n;
	int in, rc = 0, saved;

	if (from >= sp->jbytes)
		return 0;
	in = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	while (off < sp->jbytes) {
		size_t want = sp->jbytes - off < sizeof(buf) ?
		    (size_t)(sp->jbytes - off) : sizeof(buf);

		n = pread(in, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			rc = -1;
			break;
		}
		if (spool_write_all(fd, buf, (size_t)n) < 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
	}
	saved = errno;
	close(in);
	errno = saved;
	return rc;
}

int spool_rewrite(struct spool *sp, const char *framed, size_t len,
    uint64_t mark)
{
	struct stat st;
	int fd, saved;

	/* the snapshot, written and synced with no lock held */
	fd = spool_new_journal(sp);
	if (fd < 0)
		return -1;
	if (spool_write_all(fd, framed, len) < 0 || fdatasync(fd) < 0)
		goto fail;
	/* the records appended since the snapshot, then the swap */
	pthread_mutex_lock(&sp->jmu);
	if (spool_copy_tail(sp, mark, fd) < 0 || fdatasync(fd) < 0 ||
	    fstat(fd, &st) < 0 ||
	    renameat(sp->dirfd, "journal.new", sp->dirfd, "journal") < 0) {
		pthread_mutex_unlock(&sp->jmu);
		goto fail;
	}
	if (sp->jsyncing && sp->jfd_old < 0)
		sp->jfd_old = sp->jfd;   /* a commit is syncing it */
	else
		close(sp->jfd);
	sp->jfd = fd;
	spool_jbytes_set(sp, (uint64_t)st.st_size);
	sp->jalloc = sp->jbytes;
	sp->jlost = 0;      /* every record is in the new one, synced */
	/* the rename is made durable by the next commit, before any
	 * record appended from now on is reported durable */
	sp->dir_dirty = 1;
	/* a failed batch's records are gone with the old journal (the
	 * snapshot has its messages as drafts): stamps go on */
	if (sp->stamp_held) {
		sp->stamp_held = 0;
		sp->stamp++;
	}
	pthread_mutex_unlock(&sp->jmu);
	return 0;
fail:
	saved = errno;
	close(fd);
	unlinkat(sp->dirfd, "journal.new", 0);
	errno = saved;
	return -1;
}

int spool_create_msg(struct spool *sp, uint64_t id)
{
	char name[32];
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->msgfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd >= 0)
		spool_msgdir_changed(sp);
	return fd;
}

int spool_new_msg(struct spool *sp, uint64_t *id, int *lfd)
{
	int fd, l;

	if (lfd)
		*lfd = -1;
	pthread_mutex_lock(&sp->spmu);
	if (sp->nspare > 0) {
		fd = sp->spare_fd[sp->spare_head];
		l = sp->spare_lfd[sp->spare_head];
		if (lfd)
			*lfd = l;
		else if (l >= 0)
			close(l);
		*id = sp->spare_id[sp->spare_head];
		sp->spare_head = (sp->spare_head + 1) % SPOOL_SPARES;
		/* refilled in one go once half are taken */
		if (--sp->nspare == SPOOL_SPARES / 2)
			pthread_cond_signal(&sp->spcv);
		pthread_mutex_unlock(&sp->spmu);
		return fd;
	}
	*id = sp->next_id++;
	pthread_mutex_unlock(&sp->spmu);
	return spool_create_msg(sp, *id);
}

int spool_open_msg(struct spool *sp, uint64_t id, int flags)
{
	char name[32];

	spool_idname(id, name, sizeof(name));
	return openat(sp->msgfd, name, flags | O_CLOEXEC);
}

int spool_drop_files(struct spool *sp, uint64_t id)
{
	char name[32];
	int rc = 0;

	spool_idname(id, name, sizeof(name));
	if (unlinkat(sp->msgfd, name, 0) < 0 && errno != ENOENT)
		rc = -1;
	if (unlinkat(sp->logfd, name, 0) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int spool_remove(struct spool *sp, uint64_t id)
{
	/* The tombstone goes first: message bytes without a record are
	 * found at start-up and set aside, never resurrected. */
	if (spool_tombstone(sp, id) < 0)
		return -1;
	return spool_drop_files(sp, id);
}

int spool_set_aside(struct spool *sp, uint64_t id)
{
	char name[32], dst[48];
	int rc = 0;

	spool_idname(id, name, sizeof(name));
	snprintf(dst, sizeof(dst), "%s.msg", name);
	if (renameat(sp->msgfd, name, sp->corruptfd, dst) < 0 &&
	    errno != ENOENT)
		rc = -1;
	snprintf(dst, sizeof(dst), "%s.log", name);
	if (renameat(sp->logfd, name, sp->corruptfd, dst) < 0 &&
	    errno != ENOENT)
		rc = -1;
	if (spool_tombstone(sp, id) < 0)
		rc = -1;
	return rc;
}

int spool_append_log(struct spool *sp, uint64_t id, uint64_t at,
    const char *buf, size_t len)
{
	char name[32];
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->logfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -1;
	return spool_append_log_fd(fd, at, buf, len);
}

int spool_append_log_fd(int fd, uint64_t at, const char *buf, size_t len)
{
	int rc, saved;

	rc = spool_write_all(fd, buf, len);
	saved = errno;
	/* A part written (disk full) is taken back to AT, the length of
	 * the whole attempts before it: the status file reads the log by
	 * those lengths. */
	if (rc < 0 && ftruncate(fd, (off_t)at) < 0) {
		/* left as it is: the status then shows it cut */
	}
	if (close(fd) < 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

ssize_t spool_read_log(struct spool *sp, uint64_t id, char *buf, size_t cap)
{
	char name[32];
	size_t got = 0;
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->logfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* a read error keeps what came before it */
	(void)spool_pread_upto(fd, buf, cap, 0, &got);
	close(fd);
	return (ssize_t)got;
}

uint64_t spool_log_size(struct spool *sp, uint64_t id)
{
	char name[32];
	struct stat st;

	spool_idname(id, name, sizeof(name));
	if (fstatat(sp->logfd, name, &st, 0) < 0)
		return 0;
	return (uint64_t)st.st_size;
}
