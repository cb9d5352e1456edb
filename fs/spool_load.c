/*
 * spool loading — what a mount concludes from the journal and msg/:
 * each message's last whole record, checked against its bytes where a
 * stop of the system may have cut the last batch short.
 *
 * Must never: trust a record without its end line, delete a record or a
 * message it cannot read (those go to corrupt/), or change anything on a
 * mount that fails, but the copies that make accepted bytes durable.
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
#include <sys/stat.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/spool.h"
#include "fs/spool_int.h"
#include "util/hindex.h"

/* ---- loading ----------------------------------------------------------- */

/*
 * Mounting reads the journal twice: the first pass finds each id's last
 * record and keeps only where it is (32 bytes an id), the second reads
 * and parses those alone, in id order, and hands each over at once. A
 * spool of 100,000 messages never holds its records twice.
 */
struct spool_entry {
	uint64_t id;
	uint64_t off;              /* its last record: offset in the journal
	                            * (in the whole buffer for version 1) */
	uint32_t len;              /* and length */
	uint8_t used;
	uint8_t valid;             /* the last record parsed */
	uint8_t has_msg;
	uint8_t removed;           /* its last record is a tombstone */
	uint8_t torn;              /* a later record of it was torn */
	char *bad;                 /* why the last record was refused */
	char *badtext;             /* that record's bytes */
	size_t badlen;
};

/* The entries in one array (one block: it goes back to the system as
 * a whole after the mount), found by id through an open-addressing
 * table of their indexes + 1 (0: empty). */
struct spool_map {
	struct spool_entry *e;
	size_t n, ecap;
	struct hindex idx;         /* entry number (index + 1) by id */
	const char *base;          /* the bytes being read now ... */
	uint64_t base_off;         /* ... start at this journal offset */
	uint64_t max_stamp;        /* the last batch (spool_check) */
	unsigned nbad;             /* damaged frames skipped */
	unsigned ntorn;            /* frames with zeros in them skipped */
};

struct spool_idkey {
	const struct spool_map *m;
	uint64_t id;
};

static int spool_id_eq(const void *ctx, uint32_t v)
{
	const struct spool_idkey *k = ctx;

	return k->m->e[v - 1].id == k->id;
}

static struct spool_entry *spool_map_get(struct spool_map *m, uint64_t id)
{
	struct spool_idkey key = { m, id };
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	uint32_t v = hindex_find(&m->idx, h, spool_id_eq, &key);

	if (v)
		return &m->e[v - 1];
	if (m->n == UINT32_MAX - 1)
		return NULL;
	if (m->n == m->ecap) {
		size_t ncap = m->ecap ? m->ecap * 2 : 512;
		struct spool_entry *ne = realloc(m->e, ncap * sizeof(*ne));

		if (ne == NULL)
			return NULL;
		m->e = ne;
		m->ecap = ncap;
	}
	if (hindex_add(&m->idx, h, (uint32_t)m->n + 1) < 0)
		return NULL;
	memset(&m->e[m->n], 0, sizeof(m->e[m->n]));
	m->e[m->n].used = 1;
	m->e[m->n].id = id;
	return &m->e[m->n++];
}

static void spool_entry_clear(struct spool_entry *e)
{
	e->valid = 0;
	free(e->badtext);
	e->badtext = NULL;
	free(e->bad);
	e->bad = NULL;
}

static const char spool_magic[] = "outboxfs-record 1\n";

/* The journal is read this much at a time at mount; a frame head is at
 * most this long ("%obx " LEN CRC ID "\n"). */
#define SPOOL_JWINDOW         (1024 * 1024)
#define SPOOL_FRAME_HEAD_MAX  64


/*
 * Reads the whole journal. A read error is an error, never an end: a
 * journal read half-way must not be taken for a shorter journal (the
 * start-up rewrite would then drop what follows).
 */
static int spool_read_journal(struct spool *sp, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd, saved;

	fd = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail_fd;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto fail_fd;
	while (got < (size_t)st.st_size) {
		n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;      /* shorter than fstat said: nothing more */
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Remembers the record [P, P+N) as bad, with WHY, under the id it
 * names (nothing when no id can be read). */
static int spool_mark_bad(const char *p, size_t n, const char *why,
    struct spool_map *m, uint64_t *max_id)
{
	struct spool_entry *e;
	uint64_t id;

	if (spool_guess_id(p, n, &id) < 0)
		return 0;
	if (id > *max_id)
		*max_id = id;
	e = spool_map_get(m, id);
	if (e == NULL)
		return -1;
	spool_entry_clear(e);
	e->removed = 0;
	e->bad = strdup(why);
	if (e->bad == NULL)
		return -1;
	e->badtext = malloc(n);
	if (e->badtext) {
		memcpy(e->badtext, p, n);
		e->badlen = n;
	}
	return 0;
}

/* Applies one record body (a whole "outboxfs-record 1" ... "end" text)
 * to M: parsed, or remembered as bad under the id it names. */
static int spool_apply(const char *p, size_t n, struct spool_map *m,
    uint64_t *max_id)
{
	struct spool_entry *e;
	struct spool_rec r;
	struct spool_check ck;
	char err[160];

	if (n > UINT32_MAX)
		return spool_mark_bad(p, n, "record too long", m, max_id);
	if (spool_rec_parse_check(p, n, &r, &ck, err, sizeof(err)) == 0) {
		/* where it is, not what it says: read again in pass two */
		if (r.id > *max_id)
			*max_id = r.id;
		if (ck.stamp > m->max_stamp)
			m->max_stamp = ck.stamp;
		e = spool_map_get(m, r.id);
		if (e == NULL) {
			spool_rec_free(&r);
			return -1;
		}
		spool_entry_clear(e);
		e->removed = r.removed;
		e->valid = !r.removed;
		e->torn = 0;
		e->off = m->base_off + (uint64_t)(p - m->base);
		e->len = (uint32_t)n;
		spool_rec_free(&r);
	} else {
		return spool_mark_bad(p, n, err, m, max_id);
	}
	return 0;
}

/* A damaged frame: reported under the id it names, never trusted. */
static int spool_apply_bad(const char *p, size_t n, struct spool_map *m,
    uint64_t *max_id)
{
	return spool_mark_bad(p, n, "record damaged (checksum mismatch)", m,
	    max_id);
}

/*
 * The journal of the first version: records from a "outboxfs-record 1"
 * line to an "end" line, unframed. Read once, at the first mount of a
 * new version, and then rewritten framed. A record starts only at the
 * start of a line (values are escaped, so no line of a record is the
 * magic line); one cut short and followed by another is dropped.
 */
static int spool_replay_v1(const char *buf, size_t len, struct spool_map *m,
    uint64_t *max_id)
{
	const char *p = buf, *end = buf + len, *nl, *rec = NULL;
	size_t ml = sizeof(spool_magic) - 1;

	m->base = buf;
	m->base_off = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;                 /* a last line cut short */
		if ((size_t)(nl + 1 - p) == ml && memcmp(p, spool_magic,
		    ml) == 0) {
			rec = p;               /* a (new) record starts */
		} else if (rec && nl - p == 3 && memcmp(p, "end", 3) == 0) {
			if (spool_apply(rec, (size_t)(nl + 1 - rec), m,
			    max_id) < 0)
				return -1;
			rec = NULL;
		}
		p = nl + 1;
	}
	return 0;
}

/* Parses a frame head "%obx LEN CRC ID\n" at P: its length, or 0. */
static size_t spool_frame_head(const char *p, const char *end, size_t *blen,
    uint32_t *crc, uint64_t *hid)
{
	const char *q = p + 5, *nl;
	unsigned long long v;
	char tmp[40], *e1, *e2;
	size_t n, room;

	if (end - p < 5 || memcmp(p, "%obx ", 5) != 0)
		return 0;
	room = (size_t)(end - q) < sizeof(tmp) ? (size_t)(end - q) :
	    sizeof(tmp) - 1;
	nl = memchr(q, '\n', room);
	if (nl == NULL)
		return 0;
	n = (size_t)(nl - q);
	memcpy(tmp, q, n);
	tmp[n] = '\0';
	if (tmp[0] < '0' || tmp[0] > '9')
		return 0;
	errno = 0;
	v = strtoull(tmp, &e1, 10);
	if (errno || *e1 != ' ' || v > SPOOL_MAX_RECORD)
		return 0;
	if (e1[1] == '-' || e1[1] == '+' || e1[1] == ' ')
		return 0;
	*crc = (uint32_t)strtoul(e1 + 1, &e2, 16);
	if (e2 != e1 + 9 || *e2 != ' ' || e2[1] < '0' || e2[1] > '9')
		return 0;
	errno = 0;
	*hid = strtoull(e2 + 1, &e1, 10);
	if (errno || *e1 != '\0')
		return 0;
	*blen = (size_t)v;
	return (size_t)(nl + 1 - p);
}

/*
 * The framed journal: a header line, then frames, each a head line
 * "%obx LEN CRC32C" and LEN bytes of record. A frame whose bytes do not
 * match its checksum costs that record alone (remembered as bad under
 * the id it names); the next frame is found after it or, when its
 * length was the damaged part, at the next "%obx " (no record holds one:
 * values are escaped, and '%' then only starts %XX). A last frame cut
 * short is a torn append and is dropped.
 */
static int spool_replay_v2(const char *buf, size_t len, int final,
    size_t *used, struct spool_map *m, uint64_t *max_id)
{
	const char *p = buf, *end = buf + len, *nx;
	struct spool_entry *e;
	size_t hl, bl = 0;
	uint32_t crc = 0;
	uint64_t hid = 0, bid;
	int whole;

	while (p < end) {
		/* more of the file to come: decide nothing on a part */
		if (!final && (size_t)(end - p) < SPOOL_FRAME_HEAD_MAX)
			break;
		hl = spool_frame_head(p, end, &bl, &crc, &hid);
		whole = hl && bl <= (size_t)(end - p) - hl;
		if (!final && hl && !whole)
			break;
		if (whole && spool_crc32c(p + hl, bl) == crc) {
			if (spool_apply(p + hl, bl, m, max_id) < 0)
				return -1;
			p += hl + bl;
			continue;
		}
		/* damaged or torn: the next frame starts at the next
		 * "%obx " (no record holds one: '%' only starts %XX) */
		nx = memmem(p + 1, (size_t)(end - p - 1), "%obx ", 5);
		if (nx == NULL && !final)
			break;
		if (nx == NULL && (!whole || hl == 0))
			break;             /* the torn last append */
		if (memchr(p, '\0', (size_t)((nx ? nx : end) - p))) {
			/* Zeros in it: never written whole. Records go into
			 * zeros written ahead (spool_jappend), and a stop of
			 * the system may keep any of the pages written after
			 * the last commit: a record of those, cut, was never
			 * reported durable. Its message keeps its last whole
			 * record, warned that it may arrive twice. */
			m->ntorn++;
			if (hl) {
				if ((e = spool_map_get(m, hid)) == NULL)
					return -1;
				e->torn = 1;
			}
		} else {
			/* damaged: when its bytes are there and both its ids
			 * agree, that message is reported and set aside,
			 * never sent from a record it cannot trust */
			m->nbad++;
			if (whole && (nx == NULL || nx >= p + hl + bl) &&
			    spool_guess_id(p + hl, bl, &bid) == 0 &&
			    bid == hid &&
			    spool_apply_bad(p + hl, bl, m, max_id) < 0)
				return -1;
		}
		if (nx == NULL)
			break;
		p = nx;
	}
	*used = (size_t)(p - buf);
	return 0;
}

/*
 * Replays the framed journal FD a window at a time (the window grows
 * only for a frame larger than it): mounting a spool of 100,000
 * messages never holds its whole journal. -1 with errno: a read error
 * (never taken for the end) or no memory (ENOMEM).
 */
static int spool_replay_fd(int fd, struct spool_map *m, uint64_t *max_id)
{
	size_t cap = SPOOL_JWINDOW, have = 0, used, start = 0, want;
	char *buf = malloc(cap), *nb;
	uint64_t woff = 0;             /* the journal offset of buf[0] */
	struct stat st;
	int64_t end;
	off_t off = 0;
	ssize_t n;
	int eof = 0, first = 1;

	if (buf == NULL)
		return -1;
	/* its records end where its zeros start (spool_jappend) */
	if (fstat(fd, &st) < 0 ||
	    (end = spool_journal_end(fd, (uint64_t)st.st_size)) < 0)
		goto fail;
	for (;;) {
		while (!eof && have < cap) {
			want = cap - have;
			if ((uint64_t)(end - off) < want)
				want = (size_t)(end - off);
			n = want ? pread(fd, buf + have, want, off) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			if (n == 0)
				eof = 1;
			have += (size_t)n;
			off += n;
		}
		if (first && have >= SPOOL_JHEAD_LEN &&
		    memcmp(buf, SPOOL_JHEAD, SPOOL_JHEAD_LEN) == 0)
			start = SPOOL_JHEAD_LEN;
		first = 0;
		m->base = buf;
		m->base_off = woff;
		if (spool_replay_v2(buf + start, have - start, eof, &used, m,
		    max_id) < 0) {
			errno = ENOMEM;
			goto fail;
		}
		used += start;
		start = 0;
		if (eof)
			break;
		if (used == 0 && have == cap) {
			/* one frame (or damage) larger than the window */
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		woff += used;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int spool_cmp_entry(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Calls ADD for every numeric name in DIRFD; removes temp leftovers.
 * *ATT (when not NULL): set when an expansion .attID is there. */
static int spool_list(int dirfd, void (*add)(void *arg, uint64_t id),
    void *arg, int *att)
{
	DIR *d;
	struct dirent *e;
	uint64_t v;
	char *end;
	int fd = dup(dirfd);

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0) {
				int saved = errno;

				closedir(d);
				errno = saved;
				return -1;
			}
			break;
		}
		/* (.attID, an expansion, may stand for a record: removed
		 * after the records are read, spool_drop_att) */
		if (att && strncmp(e->d_name, ".att", 4) == 0)
			*att = 1;
		if (strncmp(e->d_name, ".tmp", 4) == 0 ||
		    strncmp(e->d_name, ".rs", 3) == 0 ||
		    strncmp(e->d_name, ".spare", 6) == 0) {
			unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtoull(e->d_name, &end, 10);
		if (errno == 0 && (*end == '\0' || *end == '.'))
			add(arg, v);
	}
	closedir(d);
	return 0;
}

struct spool_list_ctx {
	struct spool_map *m;
	uint64_t *max_id;
	int mark_msg;
};

static void spool_list_add(void *arg, uint64_t id)
{
	struct spool_list_ctx *c = arg;
	struct spool_entry *e;

	if (id > *c->max_id)
		*c->max_id = id;
	if (!c->mark_msg)
		return;
	e = spool_map_get(c->m, id);
	if (e)
		e->has_msg = 1;
}

/* 1 when the journal FD starts as the first version's did. */
static int spool_journal_is_v1(int fd)
{
	char head[sizeof(spool_magic)];
	ssize_t n;

	do
		n = pread(fd, head, sizeof(spool_magic) - 1, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(spool_magic) - 1 &&
	    memcmp(head, spool_magic, sizeof(spool_magic) - 1) == 0;
}

/*
 * Pass two reads the records in id order, which is mostly the order
 * they were written in: a window of the journal read ahead serves the
 * records that follow (100,000 records: a few hundred reads, not one
 * each). A record before the window is read alone; one after it (or
 * running past its end) starts a new window there: the window only
 * moves forward, so the journal is read about once through it.
 */
#define SPOOL_REREAD_WIN (256 * 1024)

struct spool_win {
	char *p;
	size_t cap;
	uint64_t off;                /* where the window starts */
	size_t len;                  /* bytes in it */
};

/*
 * Pass two for entry E: its last record read again (from V1, the whole
 * first-version journal, else from FD through the window W, or into
 * TMP) and parsed into *R. 1 when it parsed, 0 when it did not (*why
 * says why), -1 with errno: a read failed or came short (the journal is
 * ours: it does not change).
 */
static int spool_reread(int fd, const char *v1, const struct spool_entry *e,
    struct spool_win *w, struct buf *tmp, struct spool_rec *r,
    struct spool_check *ck, char *why, size_t whylen)
{
	const char *p;
	size_t want;
	ssize_t n;
	char *q;

	if (v1) {
		p = v1 + e->off;
	} else if (w->p && e->off >= w->off && e->off - w->off <= w->len &&
	    e->len <= w->len - (size_t)(e->off - w->off)) {
		p = w->p + (e->off - w->off);          /* in the window */
	} else if (w->p && e->off < w->off) {
		buf_reset(tmp);                        /* before it: alone */
		q = buf_reserve(tmp, e->len);
		if (q == NULL)
			return -1;
		n = spool_pread_upto(fd, q, e->len, e->off, NULL);
		if (n < 0)
			return -1;
		if ((size_t)n < e->len) {
			errno = EIO;   /* shorter than it was */
			return -1;
		}
		buf_commit(tmp, e->len);
		p = tmp->p;
	} else {
		want = e->len > SPOOL_REREAD_WIN ? e->len : SPOOL_REREAD_WIN;
		if (w->cap < want) {
			q = realloc(w->p, want);
			if (q == NULL)
				return -1;
			w->p = q;
			w->cap = want;
		}
		w->len = 0;                            /* a new window */
		n = spool_pread_upto(fd, w->p, want, e->off, NULL);
		if (n < 0)
			return -1;
		w->off = e->off;
		w->len = (size_t)n;
		if (w->len < e->len) {
			errno = EIO;   /* shorter than it was */
			return -1;
		}
		p = w->p;
	}
	return spool_rec_parse_check(p, e->len, r, ck, why, whylen) == 0;
}

/*
 * A closed draft's expansion (queue_attach): made durable, and recorded
 * with its check, before it is renamed over msg/NAME; a crash can leave
 * the record durable and the rename not. 1 when .attNAME is what CK
 * says: it is renamed over msg/NAME (synced with msg/ before the new
 * journal); else 0.
 */
static int spool_redo_att(struct spool *sp, const char *name,
    const struct spool_check *ck)
{
	struct spool_check got;
	char tmp[48];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), ".att%s", name);
	fd = openat(sp->msgfd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	ok = spool_check_fd(&got, fd) == 0 && got.len == ck->len &&
	    got.crc == ck->crc;
	close(fd);
	if (!ok || renameat(sp->msgfd, tmp, sp->msgfd, name) < 0)
		return 0;
	sp->msgdir_dirty = 1;
	return 1;
}

/* Removes the expansions no record needed (see spool_redo_att). */
static void spool_drop_att(struct spool *sp)
{
	struct dirent *e;
	DIR *d;
	int fd = openat(sp->msgfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;     /* removed at a later mount */
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".att", 4) == 0)
			unlinkat(sp->msgfd, e->d_name, 0);
	closedir(d);
}

/*
 * R's bytes, as the check CK says, made durable: copied to a new file
 * which replaces msg/ID (see spool_copy_msg), never synced in place: a
 * previous daemon may have seen a sync of that file fail, and a second
 * sync would prove nothing. 1 when they are, 0 with WHY when they are
 * not (or cannot be read); -1 with WHY when that cannot be known or the
 * copy cannot be made for a reason of the system's.
 */
static int spool_verify(struct spool *sp, uint64_t id,
    const struct spool_check *ck, char *why, size_t whylen)
{
	struct spool_check got = { 0, 0, 0, 0 };
	char name[32];
	int fd, rc = 0;

	spool_idname(id, name, sizeof(name));
	/* (a passing error, as a full descriptor table or no memory, fails
	 * the mount: taken for lost bytes, it would need the message
	 * written again) */
	fd = openat(sp->msgfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open it: %s", strerror(errno));
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	}
	if (ck->set && spool_check_fd(&got, fd) == 0 &&
	    (got.len != ck->len || got.crc != ck->crc) &&
	    spool_redo_att(sp, name, ck) == 1) {
		/* the expansion its record stands for, now in its place */
		close(fd);
		fd = openat(sp->msgfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			snprintf(why, whylen, "cannot open it: %s",
			    strerror(errno));
			return -1;
		}
		got = *ck;
	}
	if (ck->set && got.set == 0) {
		snprintf(why, whylen, "cannot read it: %s", strerror(errno));
		if (errno == ENOMEM)
			rc = -1;
	} else if (ck->set && got.len != ck->len) {
		snprintf(why, whylen, "%" PRIu64 " bytes of %" PRIu64,
		    got.len, ck->len);
	} else if (ck->set && got.crc != ck->crc) {
		snprintf(why, whylen, "its bytes differ (CRC-32C %08" PRIx32
		    ", recorded %08" PRIx32 ")", got.crc, ck->crc);
	} else {
		switch (spool_copy_msg(sp, id, fd, ck, &got, NULL)) {
		case 0:
			rc = 1;
			break;
		case 1:
			snprintf(why, whylen, "its bytes changed while they "
			    "were read");
			break;
		default:
			/* not a fault of its bytes: the mount fails,
			 * changing nothing of what the message is */
			snprintf(why, whylen, "cannot copy it to a new file: "
			    "%s", strerror(errno));
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

/*
 * R, submitted (queued by the batch a crash interrupted, or a closed
 * draft), whose bytes are not those it was submitted with: a draft
 * again, not closed (so not submitted), with the reason in its status.
 */
static void spool_unqueue(struct spool_rec *r, const char *why)
{
	char text[400];

	snprintf(text, sizeof(text), "this message was not sent: its bytes "
	    "had not all reached the disk when the system stopped (a power "
	    "loss or a crash) and are not those it was submitted with (%s); "
	    "check the file and write it again to send it", why);
	r->state = OB_DRAFT;
	r->closed = 0;
	r->queued = 0;
	r->lost = 1;
	spool_str_free(r->error);
	r->error = strdup(text);
}

/* 1 when msg/ID, which has no record, is empty and so is its
 * transcript, if any: a reserved file no message took (a message's
 * first record is written before any byte of it). */
static int spool_unused(struct spool *sp, uint64_t id)
{
	struct stat st;
	char name[32];

	spool_idname(id, name, sizeof(name));
	if (fstatat(sp->msgfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size != 0)
		return 0;
	if (fstatat(sp->logfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT;
	return S_ISREG(st.st_mode) && st.st_size == 0;
}

int spool_load(struct spool *sp, void (*fn)(void *arg, uint64_t id,
    struct spool_rec *r, const char *bad, int has_msg), void *arg,
    uint64_t *max_id, char *err, size_t errlen)
{
	struct spool_map m = { 0 };
	struct spool_list_ctx lc = { &m, max_id, 1 };
	int att = 0;
	struct buf tmp = BUF_INIT(SPOOL_MAX_RECORD);
	struct spool_win win = { NULL, 0, 0, 0 };
	struct spool_rec r;
	struct spool_check ck;
	char *buf = NULL, name[48], why[160];
	size_t len = 0, i;
	int fd, rc = 0, ok, vrc;

	*max_id = 0;
	sp->load_v1 = 0;
	sp->load_bad = 0;
	sp->load_torn = 0;
	sp->load_unsynced = 0;
	fd = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		goto read_fail;
	if (fd >= 0 && spool_journal_is_v1(fd)) {
		close(fd);
		fd = -1;
		if (spool_read_journal(sp, &buf, &len) < 0)
			goto read_fail;
		sp->load_v1 = 1;
		rc = spool_replay_v1(buf, len, &m, max_id);
	} else if (fd >= 0) {
		rc = spool_replay_fd(fd, &m, max_id);
		sp->load_bad = m.nbad;
		sp->load_torn = m.ntorn;
		if (rc < 0 && errno != ENOMEM)
			goto read_fail;
	}
	if (rc < 0) {
		snprintf(err, errlen, "spool %s/journal: out of memory while "
		    "reading it; nothing was changed", sp->path);
		goto fail;
	}
	if (spool_list(sp->msgfd, spool_list_add, &lc, &att) < 0) {
		snprintf(err, errlen, "spool %s/msg: cannot read it: %s; "
		    "nothing was changed", sp->path, strerror(errno));
		goto fail;
	}
	lc.mark_msg = 0;
	spool_list(sp->corruptfd, spool_list_add, &lc, NULL);
	/* in id order; the index is not needed any more */
	hindex_free(&m.idx);
	if (m.n)
		qsort(m.e, m.n, sizeof(*m.e), spool_cmp_entry);
	for (i = 0; i < m.n; i++) {
		struct spool_entry *e = &m.e[i];

		if (e->valid) {
			ok = spool_reread(fd, buf, e, &win, &tmp, &r, &ck, why,
			    sizeof(why));
			if (ok < 0)
				goto read_fail;
			/* queued by the last batch, which a crash may have
			 * cut before the file was durable (a batch starts
			 * after the one before it is durable), or a closed
			 * draft, whose file nothing synced */
			vrc = 1;
			if (ok && e->has_msg &&
			    ((r.state == OB_QUEUED && ck.set && ck.stamp &&
			    ck.stamp == m.max_stamp) ||
			    (r.state == OB_DRAFT && r.closed)))
				vrc = spool_verify(sp, e->id, &ck, why,
				    sizeof(why));
			if (vrc < 0) {
				spool_rec_free(&r);
				snprintf(err, errlen, "spool %s/msg/%" PRIu64
				    ": making it durable: %s; nothing was sent "
				    "or changed (free some space or check the "
				    "disk, then mount again)", sp->path, e->id,
				    why);
				goto fail;
			}
			if (vrc == 0) {
				spool_unqueue(&r, why);
				sp->load_unsynced++;
			}
			/* a later record of it torn by a stop of the system:
			 * an attempt may have been under way */
			if (ok && e->torn && (r.state == OB_QUEUED ||
			    r.state == OB_DEFERRED))
				r.interrupted = 1;
			if (ok) {
				fn(arg, e->id, &r, NULL, e->has_msg);
				spool_rec_free(&r);
				continue;
			}
			e->bad = strdup(why);     /* cannot happen: kept */
		}
		if (e->bad) {
			/* keep the bad record's bytes beside the message */
			snprintf(name, sizeof(name), "%" PRIu64 ".meta", e->id);
			rc = openat(sp->corruptfd, name, O_WRONLY | O_CREAT |
			    O_TRUNC | O_CLOEXEC, 0600);
			if (rc >= 0) {
				if (e->badtext)
					spool_write_all(rc, e->badtext,
					    e->badlen);
				close(rc);
			}
			fn(arg, e->id, NULL, e->bad, e->has_msg);
		} else if (e->has_msg && (e->removed ||
		    spool_unused(sp, e->id))) {
			/* removed, and the crash came before the unlink; or
			 * reserved, and no message took it before the stop */
			(void)spool_drop_files(sp, e->id);
		} else if (e->has_msg) {
			fn(arg, e->id, NULL, "message bytes without a record "
			    "(a crash while the file was being created)", 1);
		}
		spool_entry_clear(e);
	}
	if (att)       /* (a second pass over msg/ only then) */
		spool_drop_att(sp);
	/* the copies spool_verify made, by name, before the journal that
	 * no longer checks them replaces this one */
	if (sp->msgdir_dirty) {
		if (fsync(sp->msgfd) < 0) {
			snprintf(err, errlen, "spool %s/msg: cannot sync it: "
			    "%s (check the disk, then mount again)", sp->path,
			    strerror(errno));
			goto fail;
		}
		sp->msgdir_dirty = 0;
	}
	rc = 0;
	goto out;
read_fail:
	snprintf(err, errlen, "spool %s/journal: cannot read it: %s; "
	    "nothing was changed (check the disk, then mount again)",
	    sp->path, strerror(errno));
fail:
	rc = -1;
out:
	for (i = 0; i < m.n; i++)
		spool_entry_clear(&m.e[i]);
	free(m.e);
	hindex_free(&m.idx);
	free(buf);
	free(win.p);
	buf_free(&tmp);
	if (fd >= 0)
		close(fd);
	return rc;
}
