/*
 * outbox — messages, names, inodes and states in memory, rebuilt from
 * the spool at start-up. See outbox.h for the locking rule and the
 * lifetime of a message.
 *
 * Must never: hold ob->mu across network I/O, an fsync or a FUSE call;
 * change a state anywhere but ob_set_state.
 */
#define FUSE_USE_VERSION 35

#include <ctype.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/outbox.h"
#include "fs/status.h"
#include "smtp/msg.h"
#include "util/clock.h"

int64_t ob_wall(void)
{
	return (int64_t)time(NULL);
}

int64_t ob_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ob_ns(ts);
}


static int ob_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* sed -i's temporary file: "sed" and six letters or digits. */
static int ob_is_sed_temp(const char *name)
{
	if (strlen(name) != 9 || strncmp(name, "sed", 3) != 0)
		return 0;
	for (int i = 3; i < 9; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

/*
 * The temporary and backup files that editors and tools leave: never
 * sent. ".#name" (emacs lock) is covered by the leading '.'; "4913" is
 * the file vim creates to test that it may write in a directory.
 */
int ob_is_scratch(const char *name)
{
	static const char *const ends[] = {
		"~", ".swp", ".swx", ".tmp", ".bak", ".orig", ".rej", ".part",
	};
	size_t n = strlen(name);

	if (name[0] == '.' || (n >= 2 && name[0] == '#' && name[n - 1] == '#'))
		return 1;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (ob_ends_with(name, ends[i]))
			return 1;
	return strcmp(name, "4913") == 0 || strstr(name, ".dpkg-") != NULL ||
	    ob_is_sed_temp(name);
}

enum ob_name_kind ob_name_kind(const struct ob *ob, int dir, const char *name)
{
	int i;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    (dir < 0 && strcmp(name, ".queue") == 0))
		return OB_NAME_RESERVED;   /* .queue: top level only */
	if (dir < 0)
		for (i = 0; i < ob->ndirs; i++)
			if (strcmp(name, ob->dirs[i]) == 0)
				return OB_NAME_RESERVED;
	if (ob_ends_with(name, ".status"))
		return OB_NAME_STATUS;
	if (ob_is_scratch(name))
		return OB_NAME_SCRATCH;
	return OB_NAME_NORMAL;
}

static size_t ob_hash_name(int dir, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(dir + 2);
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static void ob_link_id(struct ob *ob, struct ob_msg *m)
{
	size_t b = (size_t)(m->r.id % ob->nbuckets);

	m->id_next = ob->by_id[b];
	ob->by_id[b] = m;
}

static void ob_link_name(struct ob *ob, struct ob_msg *m)
{
	size_t b = ob_hash_name(m->diridx, m->r.name) % ob->nbuckets;

	m->name_next = ob->by_name[b];
	ob->by_name[b] = m;
}

static void ob_unlink_id(struct ob *ob, struct ob_msg *m)
{
	struct ob_msg **pp = &ob->by_id[m->r.id % ob->nbuckets];

	for (; *pp; pp = &(*pp)->id_next)
		if (*pp == m) {
			*pp = m->id_next;
			m->id_next = NULL;
			ob->nmsgs--;
			return;
		}
}

/* Doubles the tables when they get crowded; failure only costs speed. */
static void ob_grow(struct ob *ob)
{
	struct ob_msg **ni, **nn, *m, *next;
	size_t i, old = ob->nbuckets, nb = old * 2;

	if (ob->nmsgs < old * 2)
		return;
	ni = calloc(nb, sizeof(*ni));
	nn = calloc(nb, sizeof(*nn));
	if (ni == NULL || nn == NULL) {
		free(ni);
		free(nn);
		return;
	}
	struct ob_msg **oi = ob->by_id, **on = ob->by_name;

	ob->by_id = ni;
	ob->by_name = nn;
	ob->nbuckets = nb;
	for (i = 0; i < old; i++) {
		for (m = oi[i]; m; m = next) {
			next = m->id_next;
			ob_link_id(ob, m);
		}
		for (m = on[i]; m; m = next) {
			next = m->name_next;
			ob_link_name(ob, m);
		}
	}
	free(oi);
	free(on);
}

static void ob_insert(struct ob *ob, struct ob_msg *m)
{
	ob_link_id(ob, m);
	if (!m->removed)
		ob_link_name(ob, m);
	ob->nmsgs++;
	ob_grow(ob);
	ob_queue_recount(ob, m);
}

struct ob_msg *ob_find_name(struct ob *ob, int dir, const char *name)
{
	struct ob_msg *m;

	for (m = ob->by_name[ob_hash_name(dir, name) % ob->nbuckets]; m;
	    m = m->name_next)
		if (m->diridx == dir && strcmp(m->r.name, name) == 0)
			return m;
	return NULL;
}

struct ob_msg *ob_find_id(struct ob *ob, uint64_t id)
{
	struct ob_msg *m;

	for (m = ob->by_id[id % ob->nbuckets]; m; m = m->id_next)
		if (m->r.id == id)
			return m;
	return NULL;
}

int ob_dir_of_ino(const struct ob *ob, uint64_t ino)
{
	if (ino == OB_INO_ROOT)
		return -1;
	if (ino >= OB_INO_DIR0 && ino < OB_INO_DIR0 + (uint64_t)ob->ndirs)
		return (int)(ino - OB_INO_DIR0);
	return -2;
}

void ob_unname(struct ob *ob, struct ob_msg *m)
{
	struct ob_msg **pp;

	if (m->removed)
		return;
	pp = &ob->by_name[ob_hash_name(m->diridx, m->r.name) % ob->nbuckets];
	for (; *pp; pp = &(*pp)->name_next)
		if (*pp == m) {
			*pp = m->name_next;
			m->name_next = NULL;
			break;
		}
	m->removed = 1;
	ob_queue_recount(ob, m);
}

void ob_rename_take(struct ob *ob, struct ob_msg *m, int dir, char *name,
    char *dirname)
{
	if (!m->removed)
		ob_unname(ob, m);
	free(m->r.name);
	free(m->r.dir);
	m->r.name = name;
	m->r.dir = dirname;
	m->diridx = dir;
	m->removed = 0;
	ob_link_name(ob, m);
	ob_msg_stat(ob, m);          /* its size and mtime, kept */
	m->ctime_ns = ob_now_ns();
	ob_queue_recount(ob, m);
}

static void ob_list_del(struct ob *ob, struct ob_msg *m)
{
	struct ob_list *l;

	switch (m->list) {
	case OB_LIST_SETTLE:
		l = &ob->settle;
		if (m->lv) {             /* no deadline outside the list */
			m->lv->settle_at_ms = 0;
			ob_live_drop(m);
		}
		break;
	case OB_LIST_RUN: l = &ob->run; break;
	case OB_LIST_WAIT:
		l = &ob->wait;
		wait_remove(&ob->due, &m->wn);
		break;
	default: return;
	}
	TAILQ_REMOVE(&l->q, m, q);
	m->list = OB_LIST_NONE;
	l->n--;
}

/* M's settle deadline (clock_mono_ms); 0, due at once, without one. */
static int64_t ob_settle_at(const struct ob_msg *m)
{
	return m->lv ? m->lv->settle_at_ms : 0;
}

static void ob_list_add(struct ob *ob, struct ob_msg *m, enum ob_list_id id)
{
	struct ob_list *l;
	struct ob_msg *p;

	ob_list_del(ob, m);
	if (id == OB_LIST_WAIT && wait_push(&ob->due, &m->wn, m->r.next) < 0) {
		/* Without memory to order it, it is tried at once rather
		 * than forgotten. */
		log_warnx("out of memory: deferred message %" PRIu64
		    " is retried now", m->r.id);
		id = OB_LIST_RUN;
	}
	l = id == OB_LIST_SETTLE ? &ob->settle : id == OB_LIST_RUN ?
	    &ob->run : &ob->wait;
	if (id == OB_LIST_SETTLE) {
		/* in deadline order (found from the end: most come last),
		 * so the committer looks only at those that are due */
		for (p = TAILQ_LAST(&l->q, ob_mlist);
		    p && ob_settle_at(p) > ob_settle_at(m);
		    p = TAILQ_PREV(p, ob_mlist, q))
			;
		if (p)
			TAILQ_INSERT_AFTER(&l->q, p, m, q);
		else
			TAILQ_INSERT_HEAD(&l->q, m, q);
	} else {
		TAILQ_INSERT_TAIL(&l->q, m, q);
	}
	l->n++;
	m->list = id;
}

void ob_set_state(struct ob *ob, struct ob_msg *m, enum ob_state st)
{
	if (m->r.state != st)
		log_debug("%s%s%s (id %" PRIu64 "): %s -> %s",
		    m->r.dir ? m->r.dir : "", m->r.dir ? "/" : "", m->r.name,
		    m->r.id, spool_state_name(m->r.state),
		    spool_state_name(st));
	m->r.state = st;
	ob_queue_recount(ob, m);
	ob_list_del(ob, m);
	if (m->removed)
		return;
	if (st == OB_QUEUED) {
		ob_list_add(ob, m, OB_LIST_RUN);
		pthread_cond_broadcast(&ob->run_cv);
	} else if (st == OB_DEFERRED) {
		ob_list_add(ob, m, OB_LIST_WAIT);
		pthread_cond_broadcast(&ob->run_cv);
	}
}

int ob_submittable(const struct ob *ob, const struct ob_msg *m)
{
	return m->r.state == OB_DRAFT && !m->removed && m->nopen == 0 &&
	    m->file_size > 0 && !m->busy && !ob_is_lost(m) &&
	    ob_name_kind(ob, m->diridx, m->r.name) == OB_NAME_NORMAL;
}

int ob_submit_if_ready(struct ob *ob, struct ob_msg *m)
{
	if (!m->dirty || !ob_submittable(ob, m))
		return 0;
	m->dirty = 0;
	ob_settle_start(ob, m);
	return 1;
}

void ob_settle_start(struct ob *ob, struct ob_msg *m)
{
	ob_settle_until(ob, m, clock_mono_ms() + ob->settle_ms);
}

void ob_settle_until(struct ob *ob, struct ob_msg *m, int64_t at)
{
	ob_list_del(ob, m);
	/* without memory for a deadline it is due at once */
	if (ob_live(m))
		m->lv->settle_at_ms = at;
	ob_list_add(ob, m, OB_LIST_SETTLE);
	pthread_cond_broadcast(&ob->commit_cv);
}

void ob_settle_cancel(struct ob *ob, struct ob_msg *m)
{
	if (m->list == OB_LIST_SETTLE)
		ob_list_del(ob, m);
}

void ob_ref(struct ob_msg *m)
{
	m->refs++;
}

struct ob_live *ob_live(struct ob_msg *m)
{
	if (m->lv == NULL) {
		m->lv = calloc(1, sizeof(*m->lv));
		if (m->lv)
			buf_init(&m->lv->cur, 0);
	}
	return m->lv;
}

/* FD kept as *FD1 (+ 1): it replaces one kept there before, else it
 * is kept while *COUNT is below OB_HELD_MAX. 1 when kept (FD taken), 0
 * when not (the caller closes it). ob->mu held. */
static int ob_keep_kept(int *fd1, unsigned *count, int fd)
{
	if (*fd1) {
		/* written again since: the new descriptor replaces it */
		close(*fd1 - 1);
		*fd1 = fd + 1;
		return 1;
	}
	if (*count >= OB_HELD_MAX)
		return 0;
	*fd1 = fd + 1;
	(*count)++;
	return 1;
}

int ob_hold_fd(struct ob *ob, struct ob_msg *m, int fd)
{
	if (m->lv == NULL && (ob->nfds_held >= OB_HELD_MAX ||
	    ob_live(m) == NULL))
		return 0;
	return ob_keep_kept(&m->lv->fd1, &ob->nfds_held, fd);
}

/* The descriptor kept as *FD1 (+ 1; 0: none), one fewer in *COUNT. */
static int ob_take_kept(int *fd1, unsigned *count)
{
	int fd = *fd1 - 1;

	if (*fd1 == 0)
		return -1;
	*fd1 = 0;
	(*count)--;
	return fd;
}

int ob_take_fd(struct ob *ob, struct ob_msg *m)
{
	return m->lv ? ob_take_kept(&m->lv->fd1, &ob->nfds_held) : -1;
}

int ob_take_log_fd(struct ob *ob, struct ob_msg *m)
{
	return m->lv ? ob_take_kept(&m->lv->lfd1, &ob->nlfds_held) : -1;
}

void ob_live_drop(struct ob_msg *m)
{
	struct ob_live *lv = m->lv;

	if (lv == NULL || lv->npolls || lv->cur.p || lv->hold_err ||
	    lv->rewrite_refused || lv->prog_total || lv->settle_at_ms ||
	    lv->fd1 || lv->lfd1 || lv->wok || lv->cck.set)
		return;
	free(lv->polls);
	free(lv);
	m->lv = NULL;
}

static void ob_msg_free(struct ob_msg *m)
{
	size_t i;

	if (m->lv) {
		for (i = 0; i < m->lv->npolls; i++)
			fuse_pollhandle_destroy(m->lv->polls[i]);
		free(m->lv->polls);
		free(m->lv->hold_err);
		buf_free(&m->lv->cur);
		if (m->lv->fd1)
			close(m->lv->fd1 - 1);
		if (m->lv->lfd1)
			close(m->lv->lfd1 - 1);
		free(m->lv);
	}
	spool_rec_free(&m->r);
	if (m->prep) {
		msg_free(m->prep);
		free(m->prep);
	}
	free(m);
}

void ob_destroy_msg(struct ob *ob, struct ob_msg *m)
{
	int fd;

	int lfd;

	pthread_mutex_lock(&ob->mu);
	fd = ob_take_fd(ob, m);
	lfd = ob_take_log_fd(ob, m);
	pthread_mutex_unlock(&ob->mu);
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	if (!m->tombstoned && ob_tombstone(ob, m, 0) < 0)
		log_warn("spool: removing message %" PRIu64, m->r.id);
	else if (spool_drop_files(&ob->spool, m->r.id) < 0)
		log_warn("spool: removing the files of message %" PRIu64,
		    m->r.id);
	ob_live_sub(ob, m);
	ob_msg_free(m);
}

void ob_remove_locked(struct ob *ob, struct ob_msg *m)
{
	ob_unname(ob, m);
	ob_list_del(ob, m);
}

void ob_unref(struct ob *ob, struct ob_msg *m)
{
	int gone = 0;

	pthread_mutex_lock(&ob->mu);
	if (--m->refs == 0 && m->removed) {
		ob_unlink_id(ob, m);
		gone = 1;
	}
	pthread_mutex_unlock(&ob->mu);
	if (gone)
		ob_destroy_msg(ob, m);
}

static struct ob_msg *ob_msg_new(struct ob *ob, uint64_t id, int dir,
    const char *name)
{
	struct ob_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->shown_rw = 1;             /* a new draft: the kernel has 0600 */
	m->r.id = id;
	m->r.name = strdup(name);
	if (dir >= 0)
		m->r.dir = strdup(ob->dirs[dir]);
	if (m->r.name == NULL || (dir >= 0 && m->r.dir == NULL)) {
		spool_rec_free(&m->r);
		free(m);
		return NULL;
	}
	m->diridx = dir;
	m->mtime_ns = m->ctime_ns = ob_now_ns();
	m->r.created = m->mtime_ns / 1000000000;
	return m;
}

/* NAME for a log line: control bytes shown as '?', cut to CAP. */
static void ob_log_clean(char *out, size_t cap, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < cap; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ?
		    '?' : name[i];
	out[i] = '\0';
}

struct ob_msg *ob_create(struct ob *ob, int dir, const char *name,
    uid_t uid, gid_t gid, int busy, int *fdp)
{
	struct ob_msg *m;
	uint64_t id;
	int fd, lfd;

	pthread_mutex_lock(&ob->mu);
	if (ob_find_name(ob, dir, name)) {
		pthread_mutex_unlock(&ob->mu);
		errno = EEXIST;
		return NULL;
	}
	pthread_mutex_unlock(&ob->mu);

	fd = spool_new_msg(&ob->spool, &id, &lfd);
	if (fd < 0)
		return NULL;
	m = ob_msg_new(ob, id, dir, name);
	if (m == NULL) {
		/* no record names it: removed now, or at the next mount */
		close(fd);
		if (lfd >= 0)
			close(lfd);
		spool_drop_files(&ob->spool, id);
		errno = ENOMEM;
		return NULL;
	}
	m->r.owned = 1;
	m->r.uid = uid;
	m->r.gid = gid;
	pthread_mutex_lock(&ob->mu);
	if (ob_find_name(ob, dir, name)) {
		pthread_mutex_unlock(&ob->mu);
		close(fd);
		if (lfd >= 0)
			close(lfd);
		ob_destroy_msg(ob, m);
		errno = EEXIST;
		return NULL;
	}
	m->refs = 1;
	m->busy = busy ? 1 : 0;
	ob_insert(ob, m);
	/* its transcript's descriptor, for the first outcome: no open then */
	if (lfd >= 0 && ob->nlfds_held < OB_HELD_MAX && ob_live(m) &&
	    ob_keep_kept(&m->lv->lfd1, &ob->nlfds_held, lfd))
		lfd = -1;
	pthread_mutex_unlock(&ob->mu);
	if (lfd >= 0)
		close(lfd);
	/* The record after the insert: a journal rewrite in between then
	 * has the message in its snapshot, or sees this record after it. */
	if (ob_save(ob, m, 0) < 0) {
		int saved = errno;

		pthread_mutex_lock(&ob->mu);
		ob_unname(ob, m);
		pthread_mutex_unlock(&ob->mu);
		close(fd);
		ob_unref(ob, m);
		errno = saved;
		return NULL;
	}
	/* Postfix's pickup logs uid= for mail a local user hands over;
	 * the mounting user's own mail needs no line. */
	if (uid != ob->uid) {
		char shown[256];

		ob_log_clean(shown, sizeof(shown), m->r.name);
		log_info("%s%s%s: id=%" PRIu64 " created by uid=%lu user=%s",
		    dir >= 0 ? ob->dirs[dir] : "", dir >= 0 ? "/" : "", shown,
		    id, (unsigned long)uid, users_name(&ob->names, uid));
	}
	*fdp = fd;
	return m;
}

void ob_wcrc_reset(struct ob_msg *m)
{
	struct ob_live *lv = ob_live(m);

	if (lv) {
		lv->wlen = 0;
		lv->wcrc = 0xFFFFFFFFu;
		lv->wok = 1;
	}
}

void ob_wcrc_add(struct ob_msg *m, uint64_t off, const void *buf, size_t n)
{
	struct ob_live *lv = m->lv;

	if (lv == NULL || !lv->wok)
		return;
	if (off != lv->wlen) {
		lv->wok = 0;
		return;
	}
	lv->wcrc = spool_crc_more(lv->wcrc, buf, n);
	lv->wlen += n;
}

void ob_wcrc_end(struct ob_msg *m)
{
	if (m->lv)
		m->lv->wok = 0;
}

int ob_wcrc_peek(const struct ob_msg *m, struct spool_check *ck)
{
	const struct ob_live *lv = m->lv;

	ck->set = 0;
	if (lv == NULL || !lv->wok || lv->wlen != m->file_size)
		return -1;
	ck->stamp = 0;
	ck->len = lv->wlen;
	ck->crc = lv->wcrc ^ 0xFFFFFFFFu;
	ck->set = 1;
	return 0;
}

int ob_wcrc_take(struct ob_msg *m, struct spool_check *ck)
{
	int rc = ob_wcrc_peek(m, ck);

	ob_wcrc_end(m);  /* taken: its live state may go (ob_live_drop) */
	return rc;
}

void ob_set_lost(struct ob *ob, struct ob_msg *m, const char *why)
{
	m->resync = OB_RESYNC_LOST;
	m->r.lost = 1;
	if (m->lv)
		m->lv->rsw = 0;
	if (why) {
		spool_str_free(m->r.error);
		m->r.error = spool_intern(why);
	}
	ob_queue_recount(ob, m);
}

void ob_set_write_lost(struct ob *ob, struct ob_msg *m, const char *why)
{
	int was = m->resync;

	if (was != OB_RESYNC_WLOST)
		ob_set_lost(ob, m, why);
	if (was == OB_RESYNC_NONE)
		m->resync = OB_RESYNC_WLOST;
	ob_wcrc_end(m);      /* only a file made empty again is whole */
}

/* The resync of a lost draft R as a mount reads it back: a failed write
 * says so in its error, anything else was a failed sync. */
static enum ob_resync ob_lost_resync(const struct spool_rec *r)
{
	return r->error && (strncmp(r->error, OB_WRITE_FAILED,
	    strlen(OB_WRITE_FAILED)) == 0 || strcmp(r->error,
	    OB_WRITE_CUT) == 0) ? OB_RESYNC_WLOST : OB_RESYNC_LOST;
}

const struct spool_check *ob_kept_check(struct ob_msg *m,
    const struct spool_rec *copy, const struct spool_check *ck)
{
	int closed = copy->state == OB_DRAFT && copy->closed;
	int queued = copy->state == OB_QUEUED;
	struct ob_live *lv;

	if (!closed && !queued)
		return ck && ck->set ? ck : NULL;
	/* a closed draft's check (stamp 0), or the committer's for a
	 * queued record (its batch's stamp); a closed record written late
	 * for a message the committer has queued (a release that read the
	 * file meanwhile) carries the committer's */
	if (ck && ck->set && (closed || ck->stamp != 0)) {
		if ((lv = ob_live(m)) != NULL)
			lv->cck = *ck;
		return ck;
	}
	lv = m->lv;
	if (lv && lv->cck.set && (closed ? lv->cck.stamp == 0 :
	    lv->cck.stamp != 0))
		return &lv->cck;
	return NULL;
}

uint64_t ob_max_size(const struct ob *ob)
{
	uint64_t lim = 0;
	size_t i;

	if (ob->cfg == NULL || ob->cfg->naccounts == 0)
		return 0;
	for (i = 0; i < ob->cfg->naccounts; i++) {
		if (ob->cfg->accounts[i].max_size == 0)
			return 0;         /* unlimited somewhere */
		if (ob->cfg->accounts[i].max_size > lim)
			lim = ob->cfg->accounts[i].max_size;
	}
	return lim;
}

int ob_draft_check(struct ob *ob, uint64_t id, int fd,
    struct spool_check *ck)
{
	uint64_t lim = ob_max_size(ob);
	struct stat st;
	int own = fd < 0, rc = -1;

	ck->set = 0;
	if (own && (fd = spool_open_msg(&ob->spool, id, O_RDONLY)) < 0)
		return -1;    /* recorded without: as records always were */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size <= OB_CHECK_MAX &&
	    (lim == 0 || (uint64_t)st.st_size <= lim + MSG_MAX_HEADER))
		rc = spool_check_fd(ck, fd);
	if (own)
		close(fd);
	return rc;
}

int ob_save(struct ob *ob, struct ob_msg *m, int sync)
{
	return ob_save_as(ob, m, OB_NSTATES, sync);
}

/* Counts a record of LEN bytes as M's live one (ob->mu held). */
static void ob_live_set(struct ob *ob, struct ob_msg *m, size_t len)
{
	ob->live_bytes = ob->live_bytes - m->rec_bytes + len + 32;
	m->rec_bytes = len + 32;     /* with its frame head */
}

void ob_live_sub_locked(struct ob *ob, struct ob_msg *m)
{
	ob->live_bytes -= m->rec_bytes;
	m->rec_bytes = 0;
}

void ob_live_sub(struct ob *ob, struct ob_msg *m)
{
	pthread_mutex_lock(&ob->mu);
	ob_live_sub_locked(ob, m);
	pthread_mutex_unlock(&ob->mu);
}

/* After an append: asks the committer for a rewrite when the journal
 * holds mostly dead records (ob->mu NOT held). */
static void ob_compact_check(struct ob *ob)
{
	uint64_t j = spool_journal_size(&ob->spool);

	pthread_mutex_lock(&ob->mu);
	/* Mostly dead records, and an eighth of the floor appended since
	 * the last rewrite (so an estimate that is off cannot make every
	 * append rewrite the journal). */
	if (!ob->compact_wanted && j > ob->compact_min &&
	    j > 2 * ob->live_bytes &&
	    j >= ob->rewritten + ob->compact_min / 8) {
		ob->compact_wanted = 1;
		pthread_cond_broadcast(&ob->commit_cv);
	}
	pthread_mutex_unlock(&ob->mu);
}

int ob_write_recs(struct ob *ob, const char *const *texts,
    const size_t *lens, size_t n, int sync)
{
	struct buf b = BUF_INIT(BUF_NOCAP);
	size_t i;
	int rc = 0, saved;

	for (i = 0; i < n && rc == 0; i++)
		rc = spool_frame(&b, texts[i], lens[i]);
	if (rc == 0)
		rc = spool_write_framed(&ob->spool, b.p, b.len);
	saved = errno;
	buf_free(&b);
	if (rc == 0)
		ob_compact_check(ob);
	if (rc == 0 && sync && spool_sync(&ob->spool) < 0) {
		saved = errno;
		rc = -1;
	}
	errno = saved ? saved : EIO;
	return rc;
}

int ob_save_as(struct ob *ob, struct ob_msg *m, enum ob_state st, int sync)
{
	return ob_save_check(ob, m, st, NULL, sync);
}

int ob_save_check(struct ob *ob, struct ob_msg *m, enum ob_state st,
    const struct spool_check *ck, int sync)
{
	struct spool_rec copy;
	char *text = NULL;
	size_t len = 0;
	int rc, saved = 0;

	pthread_mutex_lock(&ob->rmu);
	pthread_mutex_lock(&ob->mu);
	if (m->tombstoned) {
		/* removed: nothing may bring it back */
		pthread_mutex_unlock(&ob->mu);
		pthread_mutex_unlock(&ob->rmu);
		return 0;
	}
	copy = m->r;
	/* Without ST, the state the journal already says: the shown one
	 * lags it until a sync, and a record written late (ops_release's,
	 * after the committer or an outcome) must not take it back. */
	copy.state = st != OB_NSTATES ? st : m->disk_state;
	rc = spool_rec_format_check(&copy, ob_kept_check(m, &copy, ck),
	    &text, &len);
	pthread_mutex_unlock(&ob->mu);
	if (rc == 0)
		rc = spool_write_text(&ob->spool, text, len);
	saved = errno;
	if (rc == 0) {
		pthread_mutex_lock(&ob->mu);
		m->disk_state = copy.state;
		ob_live_set(ob, m, len);
		pthread_mutex_unlock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->rmu);
	free(text);
	if (rc < 0) {
		errno = saved;
		log_warn("spool: writing the record of message %" PRIu64,
		    m->r.id);
		errno = saved;
		return -1;
	}
	ob_compact_check(ob);
	if (sync && spool_sync(&ob->spool) < 0) {
		saved = errno;
		log_warn("spool: committing the journal");
		errno = saved;
		return -1;
	}
	return 0;
}

int ob_commit_rec(struct ob *ob, struct ob_msg *m, struct spool_rec *nr,
    enum ob_state st)
{
	struct spool_rec old;
	enum ob_state shown;
	char *text = NULL;
	size_t len = 0;
	int rc, saved;

	nr->state = st;
	pthread_mutex_lock(&ob->rmu);
	rc = spool_rec_format(nr, &text, &len);
	if (rc == 0)
		rc = spool_write_text(&ob->spool, text, len);
	saved = errno;
	if (rc == 0) {
		pthread_mutex_lock(&ob->mu);
		shown = m->r.state;
		old = m->r;
		m->r = *nr;
		m->r.state = shown;      /* shown by ob_set_state, later */
		*nr = old;
		m->disk_state = st;
		ob_live_set(ob, m, len);
		pthread_mutex_unlock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->rmu);
	free(text);
	if (rc == 0)
		ob_compact_check(ob);
	errno = saved;
	return rc;
}

int ob_tombstone(struct ob *ob, struct ob_msg *m, int sync)
{
	char text[96];
	int n, rc, saved;

	n = spool_tombstone_text(m->r.id, text, sizeof(text));
	pthread_mutex_lock(&ob->rmu);
	rc = spool_write_text(&ob->spool, text, (size_t)n);
	saved = errno;
	if (rc == 0) {
		pthread_mutex_lock(&ob->mu);
		m->tombstoned = 1;
		pthread_mutex_unlock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->rmu);
	if (rc == 0 && sync && spool_sync(&ob->spool) < 0) {
		saved = errno;
		rc = -1;
	}
	if (rc == 0)
		ob_compact_check(ob);
	errno = saved;
	return rc;
}

#define OB_MAX_POLLS 64

int ob_status_poll(struct ob *ob, uint64_t id, uint64_t gen,
    struct fuse_pollhandle *ph)
{
	struct fuse_pollhandle **np, *old = NULL;
	struct ob_live *lv;
	struct ob_msg *m;
	int rc = 0;

	pthread_mutex_lock(&ob->mu);
	m = ob_find_id(ob, id);
	if (m == NULL || m->removed) {
		rc = -1;
	} else if (m->gen != gen) {
		rc = 1;
	} else if (ph && (lv = ob_live(m)) == NULL) {
		rc = 1;                  /* cannot wait: say readable */
	} else if (ph) {
		if (lv->npolls == OB_MAX_POLLS) {
			/* a program that polls again and again without
			 * reading: the oldest wait is dropped */
			old = lv->polls[0];
			memmove(lv->polls, lv->polls + 1,
			    (lv->npolls - 1) * sizeof(*lv->polls));
			lv->npolls--;
		}
		np = realloc(lv->polls, (lv->npolls + 1) * sizeof(*np));
		if (np == NULL) {
			rc = 1;          /* cannot wait: say readable */
		} else {
			lv->polls = np;
			lv->polls[lv->npolls++] = ph;
			ph = NULL;
		}
	}
	pthread_mutex_unlock(&ob->mu);
	if (old)
		fuse_pollhandle_destroy(old);
	if (ph)
		fuse_pollhandle_destroy(ph);
	return rc;
}

uint64_t ob_status_gen(struct ob *ob, uint64_t id)
{
	struct ob_msg *m;
	uint64_t g = 0;

	pthread_mutex_lock(&ob->mu);
	m = ob_find_id(ob, id);
	if (m)
		g = m->gen;
	pthread_mutex_unlock(&ob->mu);
	return g;
}

void ob_notify(struct ob *ob, uint64_t id)
{
	struct fuse_session *se;
	struct fuse_pollhandle **polls = NULL;
	struct ob_msg *m;
	size_t n = 0, i;
	int inval = 0;

	/* main clears it when the session loop ends, while threads run */
	pthread_mutex_lock(&ob->mu);
	se = ob->se;
	m = ob_find_id(ob, id);
	if (m) {
		/* the message's attributes the kernel keeps: its mode says
		 * whether it can be written; asked again only when that (or
		 * its size) changed */
		uint8_t rw = m->r.state == OB_DRAFT && !m->busy;

		inval = m->shown_rw != rw;
		m->shown_rw = rw;
		m->gen++;
		m->status_s = (uint32_t)ob_wall();
		if (m->lv) {
			polls = m->lv->polls;
			n = m->lv->npolls;
			m->lv->polls = NULL;
			m->lv->npolls = 0;
			ob_live_drop(m);
		}
	}
	pthread_mutex_unlock(&ob->mu);
	for (i = 0; i < n; i++) {
		if (se)
			fuse_lowlevel_notify_poll(polls[i]);
		fuse_pollhandle_destroy(polls[i]);
	}
	free(polls);
	if (se == NULL || !inval)
		return;
	/* The status file needs none: the kernel keeps nothing of it (no
	 * attribute or entry time, read with direct_io). */
	fuse_lowlevel_notify_inval_inode(se, OB_INO_MSG0 + 2 * id, -1, 0);
}

void ob_transcript_add(struct ob_msg *m, const char *line, size_t len)
{
	static const char cut[] = "[transcript cut: too long]\n";
	struct ob_live *lv = ob_live(m);
	struct buf *b;

	if (lv == NULL)
		return;          /* out of memory: this line is lost */
	b = &lv->cur;

	/* Once cut, nothing more goes in: the cut line ends the text. */
	if (b->len >= sizeof(cut) - 1 && memcmp(b->p + b->len -
	    (sizeof(cut) - 1), cut, sizeof(cut) - 1) == 0)
		return;
	if (b->len + len + 1 > OB_MAX_TRANSCRIPT) {
		line = cut;
		len = sizeof(cut) - 2;
	}
	if (b->p == NULL)        /* the first line: room for the cut too */
		buf_init(b, OB_MAX_TRANSCRIPT + sizeof(cut) - 1);
	if (buf_reserve(b, len + 1) == NULL) {
		/* out of memory: this line is lost, not the next one */
		buf_truncate(b, b->len);
		return;
	}
	(void)buf_add(b, line, len);
	(void)buf_add(b, "\n", 1);
	m->gen++;                /* a follower (tail -f) sees it at once */
	m->status_s = (uint32_t)ob_wall();
}

const struct cfg_account *ob_msg_account(const struct ob *ob,
    const struct ob_msg *m)
{
	const struct cfg_account *a = NULL;

	if (m->r.account && ob->cfg)
		a = cfg_account(ob->cfg, m->r.account);
	if (a == NULL)
		a = ob_dir_account(ob, m->diridx);
	return a;
}

/* The index of A in the configuration, -1 when none. */
static long ob_acct_index(const struct ob *ob, const struct cfg_account *a)
{
	if (a == NULL || ob->cfg == NULL || ob->paused == NULL ||
	    a < ob->cfg->accounts || a >= ob->cfg->accounts +
	    ob->cfg->naccounts)
		return -1;
	return (long)(a - ob->cfg->accounts);
}

const char *ob_paused(const struct ob *ob, const struct cfg_account *a)
{
	long i = ob_acct_index(ob, a);

	return i < 0 ? NULL : ob->paused[i];
}

int ob_cached(const struct ob *ob, const struct cfg_account *a)
{
	long i = ob_acct_index(ob, a);

	return i < 0 ? 0 : (int)ob->cached[i];
}

void ob_cache_count(struct ob *ob, const struct cfg_account *a, int delta)
{
	long i = ob_acct_index(ob, a);

	if (i >= 0)
		ob->cached[i] = (unsigned)((int)ob->cached[i] + delta);
}

void ob_pause(struct ob *ob, const struct cfg_account *a, const char *why)
{
	long i = ob_acct_index(ob, a);
	char *t;

	if (i < 0 || (t = strdup(why)) == NULL)
		return;
	free(ob->paused[i]);
	ob->paused[i] = t;
}

int ob_unpause(struct ob *ob, const struct cfg_account *a)
{
	long i = ob_acct_index(ob, a);
	struct ob_msg *m, *next;

	if (i < 0 || ob->paused[i] == NULL)
		return 0;
	free(ob->paused[i]);
	ob->paused[i] = NULL;
	/* its deferred messages are tried now, as a touch would */
	for (m = TAILQ_FIRST(&ob->wait.q); m; m = next) {
		next = TAILQ_NEXT(m, q);
		if (ob_msg_account(ob, m) == a) {
			m->r.next = ob_wall();
			ob_set_state(ob, m, OB_QUEUED);
		}
	}
	pthread_cond_broadcast(&ob->run_cv);
	return 1;
}

const struct cfg_account *ob_dir_account(const struct ob *ob, int dir)
{
	if (dir >= 0)
		return &ob->cfg->accounts[dir];
	return ob->def;
}

static int ob_header(struct ob *ob, struct ob_msg *m, char **out,
    size_t *len)
{
	struct status_view v;

	ob_msg_stat(ob, m);
	v = (struct status_view){
		.rec = &m->r,
		.file_size = m->file_size,
		.progress_sent = m->lv ? m->lv->prog_sent : 0,
		.progress_total = m->lv ? m->lv->prog_total : 0,
		.hold_error = m->lv ? m->lv->hold_err : NULL,
		.rewrite_refused = m->lv && m->lv->rewrite_refused != 0,
		.user = users_name(&ob->names, m->r.uid),
		.uid = (unsigned long)m->r.uid,
	};

	/* a message of a paused account waits for the user: say why */
	if (v.hold_error == NULL && m->r.state != OB_SENT &&
	    m->r.state != OB_PARTIAL && m->r.state != OB_FAILED &&
	    m->r.state != OB_DRAFT)
		v.hold_error = ob_paused(ob, ob_msg_account(ob, m));

	return status_render(&v, out, len);
}

void ob_msg_stat(struct ob *ob, struct ob_msg *m)
{
	struct stat st;
	char name[32];

	if (m->mtime_ns != OB_STAT_UNKNOWN)
		return;
	snprintf(name, sizeof(name), "%" PRIu64, m->r.id);
	if (fstatat(ob->spool.msgfd, name, &st, 0) == 0) {
		m->file_size = (uint64_t)st.st_size;
		m->mtime_ns = ob_ns(st.st_mtim);
		m->ctime_ns = ob_ns(st.st_ctim);
	} else {
		m->file_size = 0;
		m->mtime_ns = m->r.created * 1000000000;
		m->ctime_ns = m->mtime_ns;
	}
}

uint32_t ob_log_len(struct ob *ob, struct ob_msg *m)
{
	uint64_t n;

	if (m->log_len == OB_LOG_UNKNOWN) {
		n = spool_log_size(&ob->spool, m->r.id);
		m->log_len = n < OB_LOG_UNKNOWN ? (uint32_t)n :
		    OB_LOG_UNKNOWN - 1;
	}
	return m->log_len;
}

uint64_t ob_status_size(struct ob *ob, struct ob_msg *m)
{
	char *h;
	size_t len;

	if (ob_header(ob, m, &h, &len) < 0)
		return 0;
	free(h);
	return len + ob_log_len(ob, m) + (m->lv ? m->lv->cur.len : 0);
}

int ob_status_text(struct ob *ob, uint64_t id, char **out, size_t *len,
    size_t *hlen_out)
{
	struct ob_msg *m;
	char *h = NULL, *text;
	size_t hlen, cur_len;
	uint64_t log_len;
	ssize_t got;

	pthread_mutex_lock(&ob->mu);
	m = ob_find_id(ob, id);
	if (m == NULL) {
		pthread_mutex_unlock(&ob->mu);
		errno = ENOENT;
		return -1;
	}
	if (ob_header(ob, m, &h, &hlen) < 0) {
		pthread_mutex_unlock(&ob->mu);
		errno = ENOMEM;
		return -1;
	}
	log_len = ob_log_len(ob, m);
	cur_len = m->lv ? m->lv->cur.len : 0;
	text = malloc(hlen + log_len + cur_len + 1);
	if (text == NULL) {
		pthread_mutex_unlock(&ob->mu);
		free(h);
		errno = ENOMEM;
		return -1;
	}
	memcpy(text, h, hlen);
	if (cur_len)
		memcpy(text + hlen + log_len, m->lv->cur.p, cur_len);
	pthread_mutex_unlock(&ob->mu);
	free(h);

	/* The finished attempts: only appended to, and log_len counts what
	 * was complete when the header was rendered. */
	got = log_len ? spool_read_log(&ob->spool, id, text + hlen,
	    (size_t)log_len) : 0;
	if (got < 0)
		got = 0;
	if ((uint64_t)got < log_len) {
		memmove(text + hlen + got, text + hlen + log_len, cur_len);
	}
	*len = hlen + (size_t)got + cur_len;
	text[*len] = '\0';
	*out = text;
	*hlen_out = hlen;
	return 0;
}

/* The record a corrupt spool file is listed with in .queue; NM holds
 * its name. */
static void ob_corrupt_rec(const struct ob_corrupt *c, struct spool_rec *r,
    char *nm, size_t nmcap)
{
	memset(r, 0, sizeof(*r));
	snprintf(nm, nmcap, "corrupt/%" PRIu64, c->id);
	r->name = nm;
	r->error = (char *)c->reason;
}

/* 1 when M has a line in .queue: scratch drafts (editor and rsync temp
 * files) are not mail. */
static int ob_queue_listed(const struct ob_msg *m)
{
	return !m->removed && !(m->r.state == OB_DRAFT &&
	    ob_is_scratch(m->r.name));
}

void ob_queue_recount(struct ob *ob, struct ob_msg *m)
{
	size_t n = ob_queue_listed(m) ? status_queue_line_len(&m->r, NULL) : 0;

	ob->queue_len = ob->queue_len - m->qline + n;
	m->qline = n;
}

static int ob_cmp_id(const void *a, const void *b)
{
	const struct ob_msg *x = *(struct ob_msg *const *)a;
	const struct ob_msg *y = *(struct ob_msg *const *)b;

	return x->r.id < y->r.id ? -1 : x->r.id > y->r.id;
}

int ob_queue_text(struct ob *ob, uid_t viewer, int all, char **out,
    size_t *len)
{
	struct ob_msg **list, *m;
	struct buf text = BUF_INIT(BUF_NOCAP);
	size_t n = 0, i;

	list = malloc((ob->nmsgs + 1) * sizeof(*list));
	if (list == NULL)
		return -1;
	/* Scratch drafts (editor and rsync temp files) are not mail. */
	for (i = 0; i < ob->nbuckets; i++)
		for (m = ob->by_id[i]; m; m = m->id_next)
			if (n < ob->nmsgs && ob_queue_listed(m) &&
			    (all || m->r.uid == viewer))
				list[n++] = m;
	qsort(list, n, sizeof(*list), ob_cmp_id);
	for (i = 0; i < n; i++)
		if (status_queue_line(&text, &list[i]->r, NULL) < 0)
			goto fail;
	for (i = 0; all && i < ob->ncorrupt; i++) {
		struct spool_rec r;
		char nm[64];

		ob_corrupt_rec(&ob->corrupt[i], &r, nm, sizeof(nm));
		if (status_queue_line(&text, &r, "corrupt") < 0)
			goto fail;
	}
	free(list);
	return (*out = buf_take(&text, len)) != NULL ? 0 : -1;
fail:
	free(list);
	buf_free(&text);
	return -1;
}

/* A commit of the journal failed (spool.lost_cb): the committer
 * writes a new one from memory before anything more is durable. */
static void ob_journal_lost(void *arg)
{
	struct ob *ob = arg;

	log_warn("spool: the journal could not be synced; it is written "
	    "again from memory, and nothing is reported durable before");
	pthread_mutex_lock(&ob->mu);
	ob->lost_retry_ms = 0;
	pthread_cond_broadcast(&ob->commit_cv);
	pthread_mutex_unlock(&ob->mu);
}

int ob_init(struct ob *ob, struct cfg *cfg, const char *spool_path,
    char *err, size_t errlen)
{
	pthread_condattr_t ca;
	size_t i;

	memset(ob, 0, sizeof(*ob));
	TAILQ_INIT(&ob->settle.q);
	TAILQ_INIT(&ob->run.q);
	TAILQ_INIT(&ob->wait.q);
	wait_init(&ob->due);
	pthread_mutex_init(&ob->mu, NULL);
	pthread_mutex_init(&ob->rmu, NULL);
	ob->compact_min = OB_COMPACT_MIN;
	if (getenv("OUTBOXFS_COMPACT_MIN"))
		ob->compact_min = strtoull(getenv("OUTBOXFS_COMPACT_MIN"),
		    NULL, 10);
	ob->spool_retry_s = 5;
	if (getenv("OUTBOXFS_SPOOL_RETRY")) {
		long v = strtol(getenv("OUTBOXFS_SPOOL_RETRY"), NULL, 10);

		if (v >= 1 && v <= 3600)
			ob->spool_retry_s = (int)v;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->commit_cv, &ca);
	pthread_cond_init(&ob->run_cv, &ca);
	pthread_cond_init(&ob->idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	ob->cfg = cfg;
	ob->def = cfg ? cfg_account(cfg, NULL) : NULL;
	ob->settle_ms = ob->def ? ob->def->settle_ms : CFG_DEFAULT_SETTLE_MS;
	ob->connections = ob->def && ob->def->connections ?
	    ob->def->connections : CFG_DEFAULT_CONNECTIONS;
	ob->uid = getuid();
	ob->gid = getgid();
	users_names_init(&ob->names);
	/* Who may send: read once, from the default account (`defaults`):
	 * a mount-wide setting, like spool. */
	if (users_policy_init(&ob->users, ob->uid, ob->def ? ob->def->users :
	    NULL, ob->def ? ob->def->groups : NULL, err, errlen) < 0) {
		users_names_free(&ob->names);
		return -1;
	}
	/* The drop folder's group: mount-wide too; a name that does not
	 * exist fails the mount rather than leaving maildrop/ private. */
	if (ob->def && ob->def->maildrop_group) {
		if (users_group_id(ob->def->maildrop_group, &ob->drop_group,
		    err, errlen) < 0) {
			users_policy_free(&ob->users);
			users_names_free(&ob->names);
			return -1;
		}
		ob->drop_group_set = 1;
	}
	clock_gettime(CLOCK_REALTIME, &ob->start);
	ob->nbuckets = 1024;
	ob->by_id = calloc(ob->nbuckets, sizeof(*ob->by_id));
	ob->by_name = calloc(ob->nbuckets, sizeof(*ob->by_name));
	if (ob->by_id == NULL || ob->by_name == NULL)
		goto nomem;
	if (cfg && cfg->naccounts) {
		size_t n = cfg->naccounts < OB_MAX_DIRS ? cfg->naccounts :
		    OB_MAX_DIRS;

		ob->dirs = calloc(n, sizeof(*ob->dirs));
		if (ob->dirs == NULL)
			goto nomem;
		for (i = 0; i < n; i++)
			ob->dirs[i] = cfg->accounts[i].name;
		ob->ndirs = (int)n;
		ob->paused = calloc(cfg->naccounts, sizeof(*ob->paused));
		ob->cached = calloc(cfg->naccounts, sizeof(*ob->cached));
		if (ob->paused == NULL || ob->cached == NULL)
			goto nomem;
	}
	if (spool_open(&ob->spool, spool_path, err, errlen) < 0)
		goto fail;
	ob->spool.lost_cb = ob_journal_lost;
	ob->spool.lost_arg = ob;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(ob->by_id);
	free(ob->by_name);
	users_policy_free(&ob->users);
	users_names_free(&ob->names);
	free(ob->dirs);
	free(ob->paused);
	free(ob->cached);
	return -1;
}

void ob_destroy(struct ob *ob)
{
	struct ob_msg *m, *next;
	size_t i;

	for (i = 0; i < ob->nbuckets; i++)
		for (m = ob->by_id[i]; m; m = next) {
			next = m->id_next;
			ob_msg_free(m);
		}
	free(ob->by_id);
	free(ob->by_name);
	free(ob->dirs);
	if (ob->paused)
		for (i = 0; i < ob->cfg->naccounts; i++)
			free(ob->paused[i]);
	free(ob->paused);
	free(ob->cached);
	free(ob->corrupt);
	for (i = 0; i < ob->nheld; i++) {
		spool_rec_free(&ob->held[i].rec);
		free(ob->held[i].attempt);
	}
	free(ob->held);
	free(ob->pubs);
	wait_free(&ob->due);
	spool_close(&ob->spool);
	users_policy_free(&ob->users);
	users_names_free(&ob->names);
	pthread_mutex_destroy(&ob->mu);
	pthread_mutex_destroy(&ob->rmu);
	pthread_cond_destroy(&ob->commit_cv);
	pthread_cond_destroy(&ob->run_cv);
	pthread_cond_destroy(&ob->idle_cv);
}

static void ob_add_corrupt(struct ob *ob, uint64_t id, const char *why)
{
	struct ob_corrupt *nc;

	nc = realloc(ob->corrupt, (ob->ncorrupt + 1) * sizeof(*nc));
	if (nc == NULL)
		return;
	ob->corrupt = nc;
	nc[ob->ncorrupt].id = id;
	snprintf(nc[ob->ncorrupt].reason, sizeof(nc[0].reason),
	    "set aside in the spool's corrupt/: %s", why);
	{
		struct spool_rec r;
		char nm[64];

		ob_corrupt_rec(&nc[ob->ncorrupt], &r, nm, sizeof(nm));
		ob->queue_len += status_queue_line_len(&r, "corrupt");
	}
	ob->ncorrupt++;
}

static void ob_set_aside(struct ob *ob, uint64_t id, const char *why)
{
	log_warnx("spool: message %" PRIu64 " set aside in %s/corrupt: %s",
	    id, ob->spool.path, why);
	if (spool_set_aside(&ob->spool, id) < 0)
		log_warn("spool: moving message %" PRIu64 " to corrupt/", id);
	ob_add_corrupt(ob, id, why);
}

struct ob_load_ctx {
	struct ob *ob;
	unsigned loaded, fixed, cut;
};

static int ob_dir_index(const struct ob *ob, const char *dir)
{
	int i;

	for (i = 0; i < ob->ndirs; i++)
		if (strcmp(ob->dirs[i], dir) == 0)
			return i;
	return -1;
}

static void ob_load_one(void *arg, uint64_t id, struct spool_rec *rp,
    const char *bad, int has_msg)
{
	struct ob_load_ctx *c = arg;
	struct ob *ob = c->ob;
	struct ob_msg *m;
	int dir = -1;
	enum ob_state st0;

	if (rp == NULL) {
		ob_set_aside(ob, id, bad);
		return;
	}
	if (!has_msg && rp->state != OB_SENT && rp->state != OB_PARTIAL &&
	    rp->state != OB_FAILED) {
		ob_set_aside(ob, id, "record without its message bytes");
		return;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return;
	m->shown_rw = 2;
	m->r = *rp;
	memset(rp, 0, sizeof(*rp));     /* taken */
	spool_rec_intern(&m->r);
	if (m->r.dir) {
		dir = ob_dir_index(ob, m->r.dir);
		if (dir < 0) {
			/* The account is gone from the configuration. */
			free(m->r.dir);
			m->r.dir = NULL;
			c->fixed++;
		}
	}
	if (ob_name_kind(ob, dir, m->r.name) == OB_NAME_STATUS ||
	    ob_name_kind(ob, dir, m->r.name) == OB_NAME_RESERVED ||
	    strchr(m->r.name, '/') || ob_find_name(ob, dir, m->r.name)) {
		char *nn = malloc(48);

		if (nn) {
			snprintf(nn, 48, "recovered-%" PRIu64, id);
			free(m->r.name);
			m->r.name = nn;
		}
		c->fixed++;
	}
	m->diridx = dir;
	/* Records from before owners were recorded: the mounting user's. */
	if (!m->r.owned) {
		m->r.owned = 1;
		m->r.uid = ob->uid;
		m->r.gid = ob->gid;
	}
	if (m->r.state == OB_SENDING) {
		/* Stopped mid-transaction: the server may have it. */
		m->r.state = OB_QUEUED;
		m->r.interrupted = 1;
		c->fixed++;
	}
	/* A draft's size decides its submission: looked at now. A
	 * submitted message's file no longer changes: a mount does not
	 * stat 100,000 of them (ob_msg_stat, when first asked for). */
	m->mtime_ns = OB_STAT_UNKNOWN;
	if (m->r.state == OB_DRAFT)
		ob_msg_stat(ob, m);
	/* A draft with bytes that no record says was closed was open for
	 * writing at the stop: its writers were cut off and it may be
	 * incomplete. Like one whose write failed, it is submitted only
	 * once written again whole: a touch, an append or a rename must
	 * not send it cut short. (A scratch file's closing is not
	 * recorded: renaming it is the writer's word that it is whole.) */
	if (m->r.state == OB_DRAFT && !m->r.closed && !m->r.lost &&
	    m->file_size > 0 &&
	    ob_name_kind(ob, dir, m->r.name) == OB_NAME_NORMAL) {
		char *e = spool_intern(OB_WRITE_CUT);

		if (e) {
			spool_str_free(m->r.error);
			m->r.error = e;
			m->r.lost = 1;
			c->cut++;
		}
	}
	m->log_len = OB_LOG_UNKNOWN;    /* looked at when first needed */
	ob_insert(ob, m);
	st0 = m->r.state;
	m->disk_state = st0;
	m->r.state = OB_DRAFT;
	ob_set_state(ob, m, st0);
	/* A draft the mount found cut short (spool_unqueue) is sent only
	 * once written again whole; any other draft not made durable by
	 * the mount is copied before it is submitted: the daemon before
	 * may have seen a sync of its file fail (see ob_resync). */
	if (m->r.state == OB_DRAFT)
		m->resync = m->r.lost ? ob_lost_resync(&m->r) :
		    m->r.closed ? OB_RESYNC_NONE : OB_RESYNC_COPY;
	else
		m->r.lost = 0;
	/* A draft closed before the stop was complete: submit it (its
	 * settle time had begun). One still open at the stop stays draft. */
	if (m->r.state == OB_DRAFT && m->r.closed) {
		m->dirty = 0;
		if (ob_submittable(ob, m))
			ob_settle_start(ob, m);
	}
	c->loaded++;
}

/* What a mount that could not write its new journal says to do. */
#define OB_LOAD_AGAIN "; free some space on the spool's file system or " \
	"check the disk, then mount again"

/* The new journal at start-up is written in writes of about this size,
 * not one per record (100,000 messages: 100 writes, not 100,000). */
#define OB_LOAD_WRITE (1024 * 1024)

/* M's record, framed, onto JB for the new journal at start-up (its live
 * size kept); JB written out once it holds OB_LOAD_WRITE bytes. */
static int ob_load_save(struct ob *ob, struct ob_msg *m, struct buf *jb)
{
	char *text;
	size_t len;
	int rc;

	if (spool_rec_format(&m->r, &text, &len) < 0)
		return -1;
	rc = spool_frame(jb, text, len);
	free(text);
	if (rc < 0)
		return -1;
	ob_live_set(ob, m, len);
	if (jb->len < OB_LOAD_WRITE)
		return 0;
	rc = spool_write_framed(&ob->spool, jb->p, jb->len);
	buf_reset(jb);
	return rc;
}

int ob_load(struct ob *ob, char *err, size_t errlen)
{
	struct ob_load_ctx c = { ob, 0, 0, 0 };
	struct buf jb = BUF_INIT(BUF_NOCAP);
	struct ob_msg *m;
	uint64_t max_id = 0;
	size_t i;

	if (spool_load(&ob->spool, ob_load_one, &c, &max_id, err,
	    errlen) < 0)
		return -1;
	spool_set_next_id(&ob->spool, max_id + 1);
	/* The journal, rewritten with one record per message. */
	if (spool_compact_begin(&ob->spool) < 0) {
		snprintf(err, errlen, "spool %s: cannot write a new journal "
		    "(the one there is kept): %s" OB_LOAD_AGAIN,
		    ob->spool.path, strerror(errno));
		return -1;
	}
	for (i = 0; i < ob->nbuckets; i++)
		for (m = ob->by_id[i]; m; m = m->id_next)
			if (ob_load_save(ob, m, &jb) < 0)
				goto write_fail;
	if (jb.len && spool_write_framed(&ob->spool, jb.p, jb.len) < 0)
		goto write_fail;
	buf_free(&jb);
	if (spool_compact_end(&ob->spool) < 0) {
		snprintf(err, errlen, "spool %s: cannot replace the journal: "
		    "%s" OB_LOAD_AGAIN, ob->spool.path, strerror(errno));
		return -1;
	}
	if (ob->spool.load_v1)
		log_info("spool %s: journal converted to the framed format",
		    ob->spool.path);
	if (ob->spool.load_torn)
		log_warnx("spool %s: %u journal records not written whole "
		    "before a stop of the system skipped; their messages "
		    "keep their last whole record", ob->spool.path,
		    ob->spool.load_torn);
	if (ob->spool.load_bad)
		log_warnx("spool %s: %u damaged journal records skipped",
		    ob->spool.path, ob->spool.load_bad);
	if (ob->spool.load_unsynced)
		log_warnx("spool %s: %u submitted messages had not reached "
		    "the disk when the system stopped: they are drafts again, "
		    "not sent (their status files say why; write them again to "
		    "send them)", ob->spool.path, ob->spool.load_unsynced);
	if (c.cut)
		log_warnx("spool %s: %u drafts were open for writing when "
		    "outboxfs stopped and may be incomplete: they are not sent "
		    "until written again (their status files say so)",
		    ob->spool.path, c.cut);
	if (c.loaded)
		log_info("spool %s: %u messages (%zu queued, %zu deferred)",
		    ob->spool.path, c.loaded, ob->run.n, ob->wait.n);
	return 0;
write_fail:
	snprintf(err, errlen, "spool %s: writing a new journal (the one there "
	    "is kept): %s" OB_LOAD_AGAIN, ob->spool.path, strerror(errno));
	buf_free(&jb);
	return -1;
}

/* Appends M's record as the journal has it (its disk state, a closed
 * draft's check) to OUT, framed. ob->mu held. */
static int ob_snap_one(struct ob_msg *m, struct buf *out)
{
	struct spool_rec copy = m->r;
	char *text;
	size_t tlen;
	int rc;

	copy.state = m->disk_state;
	if (spool_rec_format_check(&copy, ob_kept_check(m, &copy, NULL),
	    &text, &tlen) < 0)
		return -1;
	rc = spool_frame(out, text, tlen);
	free(text);
	return rc;
}

/* The "removed" record of M, whose files are still there (a reader or
 * the kernel holds it; they go with its last reference): a mount after
 * a crash then removes them, where without it they would be bytes
 * without a record, set aside in corrupt/. */
static int ob_snap_gone(const struct ob_msg *m, struct buf *out)
{
	char text[96];
	int n = spool_tombstone_text(m->r.id, text, sizeof(text));

	return n < 0 ? -1 : spool_frame(out, text, (size_t)n);
}

#define OB_SNAP_CHUNK 256

int ob_compact_maybe(struct ob *ob)
{
	struct ob_msg *m;
	uint64_t size, mark, *ids = NULL;
	struct buf snap = BUF_INIT(BUF_NOCAP);
	size_t n = 0, i, k;
	int failed = 0;

	pthread_mutex_lock(&ob->mu);
	ob->compact_wanted = 0;
	pthread_mutex_unlock(&ob->mu);
	size = spool_journal_size(&ob->spool);
	/*
	 * The snapshot is taken with ob->rmu held, so no record is written
	 * meanwhile and the journal up to MARK says exactly what it holds;
	 * ob->mu is taken a chunk at a time, so a FUSE handler waits at
	 * most for one chunk, never for the rewrite's I/O.
	 */
	pthread_mutex_lock(&ob->rmu);
	mark = spool_journal_size(&ob->spool);
	pthread_mutex_lock(&ob->mu);
	ids = malloc((ob->nmsgs + 1) * sizeof(*ids));
	if (ids != NULL)
		for (i = 0; i < ob->nbuckets; i++)
			for (m = ob->by_id[i]; m; m = m->id_next)
				if (n < ob->nmsgs)
					ids[n++] = m->r.id;
	pthread_mutex_unlock(&ob->mu);
	failed = ids == NULL;
	for (i = 0; i < n && !failed; i += OB_SNAP_CHUNK) {
		pthread_mutex_lock(&ob->mu);
		for (k = i; k < n && k < i + OB_SNAP_CHUNK && !failed; k++) {
			m = ob_find_id(ob, ids[k]);
			if (m && m->tombstoned)
				failed = ob_snap_gone(m, &snap) < 0;
			else if (m)
				failed = ob_snap_one(m, &snap) < 0;
		}
		pthread_mutex_unlock(&ob->mu);
	}
	pthread_mutex_unlock(&ob->rmu);
	free(ids);
	if (!failed && spool_rewrite(&ob->spool, snap.p ? snap.p : "",
	    snap.len, mark) < 0)
		failed = 1;
	buf_free(&snap);
	if (failed) {
		log_warn("spool: rewriting the journal (it stays as it is)");
		/* not again before it has doubled */
		pthread_mutex_lock(&ob->mu);
		ob->compact_min = size * 2;
		pthread_mutex_unlock(&ob->mu);
	} else {
		uint64_t now = spool_journal_size(&ob->spool);

		/* the live records as written (see ob_compact_check) */
		pthread_mutex_lock(&ob->mu);
		ob->rewritten = now;
		pthread_mutex_unlock(&ob->mu);
		log_info("spool: journal rewritten, %" PRIu64 " -> %" PRIu64
		    " bytes", size, now);
	}
	return failed ? -1 : 0;
}
