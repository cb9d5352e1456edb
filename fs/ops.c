/*
 * ops — FUSE low-level operations on the in-memory outbox.
 *
 * Every handler returns -errno through fuse_reply_err and never prints.
 * Handlers never wait on the network or a sync: submission happens in the
 * committer thread, delivery in the queue threads. Replies are sent
 * after ob->mu is released.
 *
 * Decisions (written also in outboxfs(1)):
 * - rename onto an existing message replaces it, as rename(2) does: a
 *   queued or deferred target is cancelled, a target being sent gives
 *   EBUSY. RENAME_NOREPLACE is honoured, RENAME_EXCHANGE is EINVAL.
 * - renaming a scratch draft to a normal name submits it (settle time
 *   first); renaming a submitted message only changes its label, within
 *   its directory. Moving a draft between account directories changes
 *   its account; moving a submitted message there is EPERM (it would
 *   otherwise be sent again with another account).
 * - NAME.status, .queue and the account directories cannot be renamed,
 *   removed or written: EPERM (EACCES for writes).
 * - mkdir, rmdir, symlink, link and mknod: EPERM. chmod and chown are
 *   accepted and ignored (the mode shows the state: 0600 draft, 0400
 *   submitted). utimens on a deferred message retries it now.
 * - Permissions: the mount always has default_permissions, so the kernel
 *   checks every access against what ops_stat reports: a message and
 *   its status file belong to the user who created the message; the
 *   directories are the mounting user's, 0700, or 1777 (sticky, like
 *   /tmp) with -o allow_other. The handlers check the owner again
 *   (ops_owner_ok) so that no option can make the modes decoration, and
 *   check who may send at create (ob->users): EACCES.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/log.h"
#include "fs/ops.h"
#include "fs/outbox.h"
#include "fs/status.h"
#include "fs/users.h"
#include "util/clock.h"

#define OPS_TTL 1.0
/* A message name leaves room for ".status" within NAME_MAX. */
#define OPS_NAME_MAX (255 - 7)
/* the error of a message whose sync failed with no check of its bytes */
#define OPS_LOST_UNCHECKED "spool: this message's bytes may be lost: " \
	"its file could not be synced to the disk, and it had not been " \
	"written in order from its first byte (nothing says what it must " \
	"read); it is not sent: write it again"
/* the error of a message one of whose writes failed (%s: why) */
#define OPS_WRITE_FAILED OB_WRITE_FAILED " (%s): what was " \
	"meant to be in it may not all be there, so it is not sent; write " \
	"it again, whole (> truncates it), to send it"
/* the error of a message changed in place after its sync failed */
#define OPS_LOST_CHANGED "spool: this message's bytes may be lost: its " \
	"file could not be synced to the disk, and it was changed in place " \
	"since (only a whole rewrite is trusted then); it is not sent: " \
	"write it again"

enum ops_kind { OPS_MSG, OPS_STATUS, OPS_QUEUE, OPS_DIR };

struct ops_dirent {
	fuse_ino_t ino;
	uint32_t name;               /* offset in the handle's names */
	uint32_t type;               /* mode_t */
};

struct ops_handle {
	enum ops_kind kind;
	struct ob_msg *m;            /* OPS_MSG: referenced */
	int fd;
	int writer;
	int append;                  /* opened O_APPEND: the fd appends */
	int wfailed;                 /* a write through it failed: its
	                              * message is lost (ops_write) */
	char *text;                  /* OPS_STATUS, OPS_QUEUE: the snapshot */
	size_t len;
	size_t hlen;                 /* OPS_STATUS: its header block */
	uint64_t id;                 /* OPS_STATUS: the message */
	uint64_t gen;                /* OPS_STATUS: its generation in text */
	pthread_mutex_t tmu;         /* OPS_STATUS: text, len, gen */
	struct ops_dirent *ents;     /* OPS_DIR */
	size_t nents;
	char *names;                 /* OPS_DIR: every name, NUL after each
	                              * (one block, not one allocation a
	                              * name: a listing of 200,000 leaves
	                              * nothing scattered behind) */
	size_t names_len, names_cap;
};

/* Internal errors to what the caller sees: never 0, never negative. */
static int ops_errno(int e)
{
	if (e <= 0)
		return EIO;
	return e;
}

static struct ob *ops_ob(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t ops_msg_id(fuse_ino_t ino, int *is_status)
{
	if (ino < OB_INO_MSG0)
		return 0;
	*is_status = (int)((ino - OB_INO_MSG0) & 1);
	return (ino - OB_INO_MSG0) / 2;
}

static fuse_ino_t ops_msg_ino(const struct ob_msg *m, int status)
{
	return OB_INO_MSG0 + 2 * m->r.id + (status ? 1 : 0);
}

/* 1 when the caller of REQ sees and may do what root may in the outbox:
 * root and the mounting user, who holds the spool anyway. */
static int ops_sees_all(fuse_req_t req, const struct ob *ob)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	return c->uid == 0 || c->uid == ob->uid;
}

/*
 * What the kernel checks already (default_permissions), checked again:
 * only M's owner and root may open M or its status file or change its
 * times (FOR_NAME 0); only they and the mounting user, who owns the
 * sticky directories, may remove or rename it (FOR_NAME 1).
 */
static int ops_owner_ok(fuse_req_t req, const struct ob *ob,
    const struct ob_msg *m, int for_name)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == m->r.uid || (for_name && uid == ob->uid);
}

/* .queue as the caller of REQ sees it: its size counts every message's
 * line, which only a caller who sees them all is told. */
static void ops_queue_view(fuse_req_t req, const struct ob *ob,
    struct stat *st)
{
	if (st->st_ino == OB_INO_QUEUE && !ops_sees_all(req, ob)) {
		st->st_size = 0;
		st->st_blocks = 0;
	}
}

static void ops_base_stat(const struct ob *ob, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = ob->uid;
	st->st_gid = ob->gid;
	st->st_atim = ob->start;
	st->st_mtim = ob->start;
	st->st_ctim = ob->start;
	st->st_blksize = 4096;
}

/* Fills ST for INO; ob->mu held. Returns 0 or an errno. */
static int ops_stat(struct ob *ob, fuse_ino_t ino, struct stat *st)
{
	struct ob_msg *m;
	uint64_t id;
	int is_status = 0;

	ops_base_stat(ob, st);
	st->st_ino = ino;
	if (ino == OB_INO_ROOT || ob_dir_of_ino(ob, ino) >= 0) {
		/* allow_other: like /tmp; anyone may create (the daemon then
		 * asks ob->users), only a file's owner may remove it */
		st->st_mode = S_IFDIR | (ob->shared ? 01777 : 0700);
		st->st_nlink = ino == OB_INO_ROOT ? 2 + (nlink_t)ob->ndirs : 2;
		return 0;
	}
	if (ino == OB_INO_QUEUE) {
		/* Kept up to date, not rendered: a stat costs O(1) however
		 * many messages there are (.queue is read with direct_io,
		 * so a read never depends on this size). */
		st->st_mode = S_IFREG | (ob->shared ? 0444 : 0400);
		st->st_nlink = 1;
		st->st_size = (off_t)ob->queue_len;
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
		st->st_ctim = st->st_mtim;
		return 0;
	}
	id = ops_msg_id(ino, &is_status);
	m = id ? ob_find_id(ob, id) : NULL;
	if (m == NULL || m->removed)
		return ENOENT;
	ob_msg_stat(ob, m);
	st->st_nlink = 1;
	st->st_uid = m->r.uid;       /* the status file too: it is their mail */
	st->st_gid = m->r.gid;
	st->st_mtim = ob_ts(m->mtime_ns);
	st->st_ctim = ob_ts(m->ctime_ns);
	st->st_atim = st->st_mtim;
	if (is_status) {
		st->st_mode = S_IFREG | 0400;
		st->st_size = (off_t)ob_status_size(ob, m);
		if (m->status_s) {       /* its text changed since the mount */
			st->st_mtim.tv_sec = (time_t)m->status_s;
			st->st_mtim.tv_nsec = 0;
		}
	} else {
		st->st_mode = S_IFREG |
		    (m->r.state == OB_DRAFT && !m->busy ? 0600 : 0400);
		st->st_size = (off_t)m->file_size;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}

static void ops_entry(struct ob *ob, fuse_ino_t ino, struct fuse_entry_param *e,
    int *err)
{
	memset(e, 0, sizeof(*e));
	*err = ops_stat(ob, ino, &e->attr);
	e->ino = ino;
	if (ino == OB_INO_QUEUE || (ino >= OB_INO_MSG0 &&
	    ((ino - OB_INO_MSG0) & 1))) {
		e->attr_timeout = 0;
		e->entry_timeout = 0;
	} else {
		e->attr_timeout = OPS_TTL;
		e->entry_timeout = OPS_TTL;
	}
}

/* 1 when M shows a NAME.status: every message but a scratch file (an
 * editor's or a tool's temp file, never sent). ob->mu held. */
static int ops_has_status(const struct ob_msg *m)
{
	return !(m->r.state == OB_DRAFT && ob_is_scratch(m->r.name));
}

/* The inode NAME in directory DIR names, 0 when none; ob->mu held. */
static fuse_ino_t ops_resolve(struct ob *ob, int dir, const char *name)
{
	struct ob_msg *m;
	size_t n = strlen(name);
	int i;

	if (dir < 0 && strcmp(name, ".queue") == 0)
		return OB_INO_QUEUE;
	if (dir < 0)
		for (i = 0; i < ob->ndirs; i++)
			if (strcmp(ob->dirs[i], name) == 0)
				return OB_INO_DIR0 + (fuse_ino_t)i;
	if (n > 7 && strcmp(name + n - 7, ".status") == 0) {
		char *base = strndup(name, n - 7);

		if (base == NULL)
			return 0;
		m = ob_find_name(ob, dir, base);
		free(base);
		return m && ops_has_status(m) ? ops_msg_ino(m, 1) : 0;
	}
	m = ob_find_name(ob, dir, name);
	return m ? ops_msg_ino(m, 0) : 0;
}

static void ops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ob *ob = ops_ob(req);
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int dir = ob_dir_of_ino(ob, parent), err = 0;

	if (dir == -2) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	ino = ops_resolve(ob, dir, name);
	if (ino)
		ops_entry(ob, ino, &e, &err);
	pthread_mutex_unlock(&ob->mu);
	if (ino == 0 || err) {
		fuse_reply_err(req, ino ? err : ENOENT);
		return;
	}
	ops_queue_view(req, ob, &e.attr);
	fuse_reply_entry(req, &e);
}

static void ops_getattr(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct stat st;
	int err, is_status = 0;
	double ttl;

	(void)fi;
	pthread_mutex_lock(&ob->mu);
	err = ops_stat(ob, ino, &st);
	pthread_mutex_unlock(&ob->mu);
	ops_msg_id(ino, &is_status);
	ttl = ino == OB_INO_QUEUE || is_status ? 0 : OPS_TTL;
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	ops_queue_view(req, ob, &st);
	fuse_reply_attr(req, &st, ttl);
}

static void ops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
    int to_set, struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct ops_handle *h = fi ? (struct ops_handle *)fi->fh : NULL;
	struct ob_msg *m;
	struct stat st;
	uint64_t id;
	int is_status = 0, err = 0, fd = -1, own_fd = 0, held = 0;

	id = ops_msg_id(ino, &is_status);
	pthread_mutex_lock(&ob->mu);
	m = id ? ob_find_id(ob, id) : NULL;
	if (m == NULL || m->removed) {
		err = !id && (ino == OB_INO_QUEUE || ino == OB_INO_ROOT ||
		    ob_dir_of_ino(ob, ino) >= 0) ? 0 : ENOENT;
		if (!err && (to_set & FUSE_SET_ATTR_SIZE))
			err = ino == OB_INO_QUEUE ? EACCES : EISDIR;
		goto reply;
	}
	if (!ops_owner_ok(req, ob, m, 0) && (to_set & (FUSE_SET_ATTR_SIZE |
	    FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
	    FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
	    FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		err = to_set & FUSE_SET_ATTR_SIZE ? EACCES : EPERM;
		goto reply;
	}
	if (is_status) {
		if (to_set & FUSE_SET_ATTR_SIZE)
			err = EACCES;
		goto reply;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (m->r.state != OB_DRAFT || m->busy) {
			err = EACCES;
			goto reply;
		}
		ob_settle_cancel(ob, m);
		m->nwriters++;
		m->dirty = 1;
		ob_ref(m);
		pthread_mutex_unlock(&ob->mu);
		if (h && h->kind == OPS_MSG && h->writer) {
			fd = h->fd;
		} else {
			fd = spool_open_msg(&ob->spool, m->r.id, O_RDWR);
			own_fd = 1;
		}
		if (fd < 0 || ftruncate(fd, attr->st_size) < 0)
			err = ops_errno(errno);
		if (own_fd && fd >= 0)
			close(fd);
		pthread_mutex_lock(&ob->mu);
		m->nwriters--;
		if (!err) {
			if (attr->st_size == 0)
				ob_wcrc_reset(m);
			else if ((uint64_t)attr->st_size != m->file_size)
				ob_wcrc_end(m);
			m->file_size = (uint64_t)attr->st_size;
			m->mtime_ns = m->ctime_ns = ob_now_ns();
		}
		ob_submit_if_ready(ob, m);
		/* the reference is kept to the end: a touch below still
		 * uses M, which an unlink may free once it is dropped */
		held = 1;
		if (err)
			goto reply;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW |
	    FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		/* touch: the user says the login works again */
		if (m->r.state != OB_DRAFT)
			ob_unpause(ob, ob_msg_account(ob, m));
		if (m->r.state == OB_DEFERRED && !m->busy) {
			/* touch: try again now, durably: the record says so
			 * before the call returns, or it fails */
			int64_t old = m->r.next;

			m->r.next = ob_wall();
			if (!held)
				ob_ref(m);
			/* busy: no delivery thread takes it (and writes its
			 * `sending` record) before this record is written */
			m->busy = 1;
			pthread_mutex_unlock(&ob->mu);
			if (ob_save_as(ob, m, OB_DEFERRED, 1) < 0)
				err = ops_errno(errno);
			pthread_mutex_lock(&ob->mu);
			m->busy = 0;
			pthread_cond_broadcast(&ob->run_cv);
			held = 1;
			if (m->r.state == OB_DEFERRED) {
				if (err)
					m->r.next = old;
				else
					ob_set_state(ob, m, OB_QUEUED);
			}
			if (err)
				goto reply;
		} else if (m->r.state == OB_SENDING) {
			m->touched = 1;   /* deferred by this attempt: again */
		}
		ob_msg_stat(ob, m);     /* its size, before times are set */
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			m->mtime_ns = ob_now_ns();
		else if (to_set & FUSE_SET_ATTR_MTIME)
			m->mtime_ns = ob_ns(attr->st_mtim);
		m->ctime_ns = ob_now_ns();
	}
	/* chmod, chown: accepted, ignored (the mode shows the state). */
reply:
	if (!err)
		err = ops_stat(ob, ino, &st);
	pthread_mutex_unlock(&ob->mu);
	if (held)
		ob_unref(ob, m);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	ops_queue_view(req, ob, &st);
	fuse_reply_attr(req, &st, is_status ? 0 : OPS_TTL);
}

static int ops_write_flags(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}


static void ops_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct ops_handle *h;
	struct ob_msg *m;
	uint64_t id;
	int is_status = 0, wr = ops_write_flags(fi->flags), err = 0, flags;
	int reopened = 0;
	struct spool_check kept = { 0, 0, 0, 0 };

	if (ino == OB_INO_ROOT || ob_dir_of_ino(ob, ino) >= 0) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = -1;
	if (ino == OB_INO_QUEUE) {
		if (wr) {
			err = EACCES;
			goto fail;
		}
		h->kind = OPS_QUEUE;
		/* Built at open, which knows the reader: a user sees their
		 * own messages, root and the mounting user all of them. */
		pthread_mutex_lock(&ob->mu);
		if (ob_queue_text(ob, fuse_req_ctx(req)->uid,
		    ops_sees_all(req, ob), &h->text, &h->len) < 0)
			err = ENOMEM;
		pthread_mutex_unlock(&ob->mu);
		if (err)
			goto fail;
		fi->direct_io = 1;
		goto done;
	}
	id = ops_msg_id(ino, &is_status);
	pthread_mutex_lock(&ob->mu);
	m = id ? ob_find_id(ob, id) : NULL;
	if (m && !ops_owner_ok(req, ob, m, 0))
		err = EACCES;
	pthread_mutex_unlock(&ob->mu);
	if (err)
		goto fail;
	if (is_status) {
		if (wr) {
			err = EACCES;
			goto fail;
		}
		h->kind = OPS_STATUS;
		h->id = id;
		h->gen = ob_status_gen(ob, id);
		if (ob_status_text(ob, id, &h->text, &h->len, &h->hlen) < 0) {
			err = ops_errno(errno);
			goto fail;
		}
		pthread_mutex_init(&h->tmu, NULL);
		fi->direct_io = 1;
		goto done;
	}
	h->kind = OPS_MSG;
	pthread_mutex_lock(&ob->mu);
	m = id ? ob_find_id(ob, id) : NULL;
	if (m == NULL || m->removed) {
		pthread_mutex_unlock(&ob->mu);
		err = ENOENT;
		goto fail;
	}
	if (wr && (m->r.state != OB_DRAFT || m->busy)) {
		/* vim's second :w, a `>>`: say why, once per message
		 * (touch(1) opens without O_TRUNC or O_APPEND, falls back
		 * to utimensat and is no mistake) */
		int first = m->r.state != OB_DRAFT &&
		    (m->lv == NULL || m->lv->rewrite_refused == 0) &&
		    (fi->flags & (O_TRUNC | O_APPEND)) != 0;
		char when[40], name[256];

		if (first) {
			if (ob_live(m))
				m->lv->rewrite_refused = ob_wall();
			status_time(m->r.queued, when, sizeof(when));
			snprintf(name, sizeof(name), "%s", m->r.name);
			for (char *c = name; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?';
		}
		pthread_mutex_unlock(&ob->mu);
		if (first)
			log_warnx("%s: already submitted at %s; write a new "
			    "file (opening it for writing was refused)", name,
			    when);
		err = EACCES;
		goto fail;
	}
	if (m->nopen == UINT16_MAX) {
		/* its count of opens is 16 bits: a program that opens one
		 * message 65,535 times at once is told, never miscounted */
		pthread_mutex_unlock(&ob->mu);
		err = EMFILE;
		goto fail;
	}
	ob_ref(m);
	m->nopen++;
	if (wr) {
		ob_settle_cancel(ob, m);
		m->nwriters++;
		m->dirty = 1;
		m->whole = 0;
		h->writer = 1;
		reopened = m->r.closed;
		m->r.closed = 0;
		/* A file whose sync failed keeps the check of the bytes
		 * that sync was for: its copy must match it (queue_resync),
		 * unless the writers rewrite it whole (ops_release). */
		if (m->lv && m->resync == OB_RESYNC_NONE) {
			kept = m->lv->cck;
			m->lv->cck.set = 0;   /* its bytes will change */
		} else if (m->lv) {
			kept = m->lv->cck;
		}
	}
	h->m = m;
	pthread_mutex_unlock(&ob->mu);
	/* A draft again, also after a crash: when that cannot be written
	 * (a full disk), the open fails, or a restart would submit what
	 * this writer leaves half-written. */
	if (reopened && ob_save(ob, m, 0) < 0) {
		err = ops_errno(errno);
		pthread_mutex_lock(&ob->mu);
		m->r.closed = 1;
		if (m->lv)
			m->lv->cck = kept;    /* still what its record says */
		m->nopen--;
		m->nwriters--;
		if (m->nopen == 0 && ob_submittable(ob, m))
			ob_settle_start(ob, m);
		pthread_mutex_unlock(&ob->mu);
		ob_unref(ob, m);
		goto fail;
	}

	flags = h->writer ? O_RDWR : O_RDONLY;
	if (fi->flags & O_APPEND) {
		flags |= O_APPEND;   /* pwrite then appends, as the user asked */
		h->append = 1;
	}
	if (fi->flags & O_TRUNC)
		flags |= O_TRUNC;
	h->fd = spool_open_msg(&ob->spool, id, flags);
	if (h->fd < 0) {
		err = ops_errno(errno);
		pthread_mutex_lock(&ob->mu);
		m->nopen--;
		if (h->writer)
			m->nwriters--;
		pthread_mutex_unlock(&ob->mu);
		ob_unref(ob, m);
		goto fail;
	}
	if (fi->flags & O_TRUNC) {
		pthread_mutex_lock(&ob->mu);
		ob_wcrc_reset(m);
		m->file_size = 0;
		m->mtime_ns = m->ctime_ns = ob_now_ns();
		pthread_mutex_unlock(&ob->mu);
	}
done:
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
	return;
fail:
	free(h->text);
	free(h);
	fuse_reply_err(req, err);
}

/* 1 when the caller of REQ may create a message (ob->users): its
 * supplementary groups are asked for only when a group could admit it. */
static int ops_may_send(fuse_req_t req, struct ob *ob)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	gid_t small[64], *groups = small;
	int n, ok;

	if (users_may_send(&ob->users, c->uid, c->gid, NULL, 0))
		return 1;
	if (ob->users.ngids == 0)
		return 0;
	n = fuse_req_getgroups(req, 64, small);
	if (n > 64) {
		groups = malloc((size_t)n * sizeof(*groups));
		if (groups == NULL)
			return 0;
		n = fuse_req_getgroups(req, n, groups);
	}
	ok = n > 0 && users_may_send(&ob->users, c->uid, c->gid, groups,
	    (size_t)n);
	if (groups != small)
		free(groups);
	return ok;
}

static void ops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct fuse_entry_param e;
	struct ops_handle *h;
	struct ob_msg *m;
	int dir = ob_dir_of_ino(ob, parent), err = 0;

	(void)mode;
	if (dir == -2) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (strlen(name) > OPS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (!ops_may_send(req, ob)) {
		/* the one line a handler logs: an administrator must be
		 * able to see who was refused (as Postfix's
		 * authorized_submit_users does) */
		log_warnx("refused a new message from uid=%lu user=%s: not "
		    "in the users or groups allowed to send",
		    (unsigned long)fuse_req_ctx(req)->uid,
		    users_name(&ob->names, fuse_req_ctx(req)->uid));
		fuse_reply_err(req, EACCES);
		return;
	}
	switch (ob_name_kind(ob, dir, name)) {
	case OB_NAME_STATUS:
		fuse_reply_err(req, EPERM);
		return;
	case OB_NAME_RESERVED:
		fuse_reply_err(req, EEXIST);
		return;
	default:
		break;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	m = ob_create(ob, dir, name, fuse_req_ctx(req)->uid,
	    fuse_req_ctx(req)->gid, 0, &h->fd);
	if (m == NULL) {
		err = ops_errno(errno);
		free(h);
		fuse_reply_err(req, err);
		return;
	}
	h->kind = OPS_MSG;
	h->m = m;
	h->writer = 1;
	if (fi->flags & O_APPEND) {
		/* pwrite on an O_APPEND fd appends, as the user asked */
		int fl = fcntl(h->fd, F_GETFL);

		if (fl < 0 || fcntl(h->fd, F_SETFL, fl | O_APPEND) < 0) {
			close(h->fd);
			h->fd = -1;
		}
		h->append = 1;
	}
	pthread_mutex_lock(&ob->mu);
	if (h->fd < 0) {
		err = ops_errno(errno);
		ob_remove_locked(ob, m);   /* our reference: freed below */
		pthread_mutex_unlock(&ob->mu);
		ob_unref(ob, m);
		free(h);
		fuse_reply_err(req, err);
		return;
	}
	m->nopen++;
	m->nwriters++;
	m->dirty = 1;
	ob_wcrc_reset(m);          /* made empty: its bytes from 0 */
	ops_entry(ob, ops_msg_ino(m, 0), &e, &err);
	pthread_mutex_unlock(&ob->mu);
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_create(req, &e, fi);
}


/*
 * A reader at the end of H's text (tail -f) after the status changed:
 * the transcript only grows, so what it gained is appended to H's text,
 * under the header H was opened with; offsets already read stay what
 * they were. A transcript that did not grow from H's keeps H as it is.
 * h->tmu held.
 */
static void ops_status_follow(struct ob *ob, struct ops_handle *h)
{
	char *text, *nt;
	size_t len, hlen, told = h->len - h->hlen, add;

	if (ob_status_text(ob, h->id, &text, &len, &hlen) < 0)
		return;
	if (len - hlen > told &&
	    memcmp(text + hlen, h->text + h->hlen, told) == 0) {
		add = len - hlen - told;
		nt = realloc(h->text, h->len + add + 1);
		if (nt == NULL) {
			free(text);
			return;
		}
		memcpy(nt + h->len, text + hlen + told, add);
		h->len += add;
		nt[h->len] = '\0';
		h->text = nt;
	}
	free(text);
}

/*
 * A read of an open status file: the snapshot of the open, taken again
 * when the status changed and the reader starts over at offset 0 (after
 * poll(2) said so), or grown by the new transcript lines when a reader
 * that reached its end asks for more. Its header block changes in place,
 * so a reader in the middle keeps its snapshot: offsets into it stay
 * meaningful.
 */
static void ops_read_status(fuse_req_t req, struct ops_handle *h,
    size_t size, off_t off)
{
	struct ob *ob = ops_ob(req);
	uint64_t gen;
	char *text, *buf = NULL;
	size_t len, hlen, cnt = 0;

	pthread_mutex_lock(&h->tmu);
	gen = ob_status_gen(ob, h->id);
	if (gen != h->gen && off == 0) {
		if (ob_status_text(ob, h->id, &text, &len, &hlen) == 0) {
			free(h->text);
			h->text = text;
			h->len = len;
			h->hlen = hlen;
			h->gen = gen;
		}
	} else if (gen != h->gen && (uint64_t)off >= h->len) {
		ops_status_follow(ob, h);
		h->gen = gen;
	}
	if ((uint64_t)off < h->len) {
		cnt = h->len - (size_t)off < size ? h->len - (size_t)off : size;
		/* a copy: the reply may outlive a release freeing text */
		buf = malloc(cnt);
		if (buf)
			memcpy(buf, h->text + off, cnt);
	}
	pthread_mutex_unlock(&h->tmu);
	if (cnt && buf == NULL)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, buf, cnt);
	free(buf);
}

static void ops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	char *buf;
	ssize_t n;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (h->kind == OPS_STATUS) {
		ops_read_status(req, h, size, off);
		return;
	}
	if (h->kind == OPS_QUEUE) {
		size_t cnt;

		if ((uint64_t)off >= h->len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		cnt = h->len - (size_t)off < size ? h->len - (size_t)off :
		    size;
		/*
		 * Reply from a copy: once the reply is written the reader
		 * may close and the release free h->text while the reply
		 * call is still returning (and a sanitizer checks it).
		 */
		buf = malloc(cnt);
		if (buf == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(buf, h->text + off, cnt);
		fuse_reply_buf(req, buf, cnt);
		free(buf);
		return;
	}
	if (size > 1u << 20)
		size = 1u << 20;
	buf = malloc(size ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(h->fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, ops_errno(errno));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void ops_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
    size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	struct stat st;
	ssize_t n;
	uint64_t end;

	(void)ino;
	if (h->kind != OPS_MSG || !h->writer) {
		fuse_reply_err(req, EBADF);
		return;
	}
	n = pwrite(h->fd, buf, size, off);
	if (n < 0) {
		int e = errno, first;
		char why[256];

		/* The writer may stop here or go on (cat and cp stop; bash's
		 * printf may drop the line and go on, and exit 0): the bytes
		 * say nothing of which. Not submitted until written again
		 * from its first byte. */
		snprintf(why, sizeof(why), OPS_WRITE_FAILED, strerror(e));
		pthread_mutex_lock(&ob->mu);
		first = !h->m->r.lost;
		ob_set_write_lost(ob, h->m, why);
		pthread_mutex_unlock(&ob->mu);
		h->wfailed = 1;
		/* its record says so at once (a stop before the release
		 * keeps it); on a full disk it goes into the journal's
		 * zeros, and the release writes it again */
		if (first)
			(void)ob_save_check(ob, h->m, OB_NSTATES, NULL, 0);
		fuse_reply_err(req, ops_errno(e));
		return;
	}
	end = (uint64_t)off + (uint64_t)n;
	if (h->append && fstat(h->fd, &st) == 0)
		end = (uint64_t)st.st_size;
	pthread_mutex_lock(&ob->mu);
	/* (an append landed at the end: END - N) */
	ob_wcrc_add(h->m, end - (uint64_t)n, buf, (size_t)n);
	if (h->m->resync != OB_RESYNC_NONE && h->m->lv)
		h->m->lv->rsw = 1;
	if (end > h->m->file_size)
		h->m->file_size = end;
	h->m->mtime_ns = h->m->ctime_ns = ob_now_ns();
	pthread_mutex_unlock(&ob->mu);
	fuse_reply_write(req, (size_t)n);
}

static void ops_release(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	struct ob_msg *m = h->m;
	struct spool_check ck = { 0, 0, 0, 0 };
	int save = 0, read = 0, lost = 0;

	(void)ino;
	if (m) {
		pthread_mutex_lock(&ob->mu);
		m->nopen--;
		if (h->writer)
			m->nwriters--;
		/* Its bytes were lost (OB_RESYNC_LOST): written again whole,
		 * in order from 0, by writers of this mount, they are theirs
		 * (a check read from the file would be of the lost bytes). */
		if (ob_is_lost(m) && m->nopen == 0 && m->lv &&
		    m->lv->wok && m->lv->wlen == m->file_size &&
		    m->file_size > 0) {
			/* only a failed sync asks for a copy */
			if (m->resync == OB_RESYNC_WLOST) {
				m->resync = OB_RESYNC_NONE;
				m->lv->cck.set = 0;
			} else {
				m->resync = OB_RESYNC_COPY;
			}
			m->r.lost = 0;
			m->lv->rsw = 0;
		}
		/* Its sync failed, and it was changed in place since (an
		 * append, a write in the middle): part of what it reads may
		 * be bytes the disk never had, and no check says which. */
		if (m->resync == OB_RESYNC_COPY && m->nopen == 0 && m->lv &&
		    m->lv->rsw && m->lv->cck.set && !(m->lv->wok &&
		    m->lv->wlen == m->file_size && m->file_size > 0)) {
			ob_set_lost(ob, m, OPS_LOST_CHANGED);
			lost = 1;
		}
		/* a write through it failed, and it was not written whole
		 * since: its lost flag and why, for a mount after a stop */
		if (h->wfailed && ob_is_lost(m) && !m->removed)
			lost = 1;
		/* Submission is at the last release, after the settle time. */
		if (ob_submit_if_ready(ob, m)) {
			/* so a stop during the settle time still submits it */
			save = !m->r.closed;
			m->r.closed = 1;
			/* its bytes, for that record: a mount after a crash
			 * submits a closed draft, and nothing synced its
			 * file. As written in order, else read below. */
			read = save && ob_wcrc_take(m, &ck) < 0;
			if (ck.set && m->lv)
				m->lv->rsw = 0;   /* written whole: its own */
			/* not changed since its sync failed: the kept check
			 * (what it reads may be lost bytes) */
			if (read && m->resync != OB_RESYNC_NONE && m->lv &&
			    m->lv->cck.set && m->lv->cck.stamp == 0) {
				ck = m->lv->cck;
				read = 0;
			}
			/* the committer reads the file through this one (a
			 * writer's: opened for reading too) */
			if (!read && h->writer && h->fd >= 0 &&
			    ob_hold_fd(ob, m, h->fd))
				h->fd = -1;
		}
		pthread_mutex_unlock(&ob->mu);
		if (read)
			(void)ob_draft_check(ob, m->r.id, h->fd, &ck);
		if (save)
			ob_save_check(ob, m, OB_NSTATES, &ck, 0);
		else if (lost)     /* its lost flag, for a mount after a stop */
			ob_save_check(ob, m, OB_NSTATES, NULL, 0);
		ob_unref(ob, m);
	}
	if (h->fd >= 0)
		close(h->fd);
	if (h->kind == OPS_STATUS)
		pthread_mutex_destroy(&h->tmu);
	free(h->text);
	free(h);
	fuse_reply_err(req, 0);
}

/*
 * The user's sync of M failed: M is copied before it is submitted, and
 * the copy must be the bytes it had then. Their check: a closed draft's
 * kept one, else its writers' as written in order from 0. Without
 * either, nothing could tell lost bytes from its own: it is lost (sent
 * only once written again whole). ob->mu held.
 */
static void ops_sync_failed(struct ob *ob, struct ob_msg *m)
{
	struct ob_live *lv = ob_live(m);
	struct spool_check ck;

	if (lv && lv->cck.set && lv->cck.stamp == 0) {
		m->resync = OB_RESYNC_COPY;
		return;
	}
	if (lv && ob_wcrc_peek(m, &ck) == 0) {
		lv->cck = ck;
		lv->rsw = 0;
		m->resync = OB_RESYNC_COPY;
		return;
	}
	ob_set_lost(ob, m, OPS_LOST_UNCHECKED);
}

static void ops_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	int rc = 0;

	(void)ino;
	if (h->kind == OPS_MSG && h->fd >= 0)
		rc = datasync ? fdatasync(h->fd) : fsync(h->fd);
	if (rc < 0) {
		struct ob *ob = ops_ob(req);
		int saved = errno;

		/* the error is reported once: no later sync of this file
		 * proves anything (see ob_resync) */
		pthread_mutex_lock(&ob->mu);
		/* (a submitted message's file was synced with its batch;
		 * a picked-up one's at its pickup) */
		if (h->m && h->m->resync == OB_RESYNC_NONE &&
		    h->m->r.state == OB_DRAFT && !h->m->r.envelope)
			ops_sync_failed(ob, h->m);
		else if (h->m && h->m->resync == OB_RESYNC_NONE)
			h->m->resync = OB_RESYNC_COPY;
		else if (h->m && h->m->resync == OB_RESYNC_WLOST)
			ob_set_lost(ob, h->m, OPS_LOST_UNCHECKED); /* a copy */
		pthread_mutex_unlock(&ob->mu);
		errno = saved;
	}
	fuse_reply_err(req, rc < 0 ? ops_errno(errno) : 0);
}

/*
 * 1 when a restart could send M if its removal or rename were lost: a
 * submitted message, or a draft whose last writer closed it. Such
 * changes are synced before the call returns; a draft still being
 * written (or a scratch file) only needs its record written.
 */
static int ops_must_sync(const struct ob *ob, const struct ob_msg *m)
{
	return m->r.state != OB_DRAFT || (m->r.closed &&
	    ob_name_kind(ob, m->diridx, m->r.name) == OB_NAME_NORMAL);
}

static void ops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ob *ob = ops_ob(req);
	struct ob_msg *m = NULL;
	int dir = ob_dir_of_ino(ob, parent), err = 0, sync;

	if (dir == -2) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	switch (ob_name_kind(ob, dir, name)) {
	case OB_NAME_STATUS:
	case OB_NAME_RESERVED:
		err = ops_resolve(ob, dir, name) ? EPERM : ENOENT;
		pthread_mutex_unlock(&ob->mu);
		fuse_reply_err(req, err);
		return;
	default:
		break;
	}
	m = ob_find_name(ob, dir, name);
	if (m && !ops_owner_ok(req, ob, m, 1)) {
		pthread_mutex_unlock(&ob->mu);
		fuse_reply_err(req, EPERM);   /* the sticky directory's rule */
		return;
	}
	if (m == NULL || m->r.state == OB_SENDING || m->busy) {
		err = m == NULL ? ENOENT : EBUSY;
		pthread_mutex_unlock(&ob->mu);
		fuse_reply_err(req, err);
		return;
	}
	ob_ref(m);
	m->busy = 1;              /* neither sent nor submitted meanwhile */
	pthread_mutex_unlock(&ob->mu);
	/*
	 * The "removed" record first: when it cannot be written (disk
	 * full) the message stays, and rm fails with the errno. Once it is
	 * written nothing is written for M again (ob_save_as), so a
	 * committer or a writer that still holds M cannot bring it back.
	 */
	if (ob_tombstone(ob, m, 0) < 0) {
		err = ops_errno(errno);
		pthread_mutex_lock(&ob->mu);
		m->busy = 0;
		ob_submit_if_ready(ob, m);
		pthread_mutex_unlock(&ob->mu);
		ob_unref(ob, m);
		fuse_reply_err(req, err);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	m->busy = 0;
	sync = ops_must_sync(ob, m);
	if (!m->removed && ob_find_name(ob, dir, name) == m)
		ob_remove_locked(ob, m);   /* our reference: freed below */
	pthread_mutex_unlock(&ob->mu);
	if (sync && spool_sync(&ob->spool) < 0)
		err = ops_errno(errno);
	ob_unref(ob, m);
	fuse_reply_err(req, err);
}

/* Ends a rename: lets go of M and T (the busy marks and references). */
static void ops_rename_done(struct ob *ob, struct ob_msg *m,
    struct ob_msg *t)
{
	pthread_mutex_lock(&ob->mu);
	m->busy = 0;
	if (t)
		t->busy = 0;
	/* it arrived whole: no settle wait */
	if (ob_submit_if_ready(ob, m) && m->whole)
		ob_settle_until(ob, m, clock_mono_ms());
	pthread_mutex_unlock(&ob->mu);
	ob_unref(ob, m);
	if (t)
		ob_unref(ob, t);
}

/*
 * The check of draft NAME's bytes (its id in *ID) for a rename whose
 * record says it is closed (submitted at a mount after a crash). Read
 * before the rename takes its locks: a write in between makes it stale,
 * which such a mount takes for bytes that did not reach the disk (the
 * draft is then not sent). 1 when CK is set.
 */
static int ops_rename_check(struct ob *ob, int dir, const char *name,
    int ndir, const char *newname, struct spool_check *ck, uint64_t *id)
{
	struct ob_msg *m;
	int want = 0;

	pthread_mutex_lock(&ob->mu);
	m = ob_find_name(ob, dir, name);
	if (m && m->r.state == OB_DRAFT && m->nopen == 0 && (m->r.closed ||
	    (ob_name_kind(ob, dir, name) == OB_NAME_SCRATCH &&
	    ob_name_kind(ob, ndir, newname) == OB_NAME_NORMAL))) {
		want = 1;
		*id = m->r.id;
		if (ob_wcrc_take(m, ck) == 0)
			want = 2;   /* as written in order: not read again */
		else if (m->resync != OB_RESYNC_NONE)
			want = 0;   /* what it reads may be lost bytes: its
			             * record keeps the check it has, if any
			             * (ob_kept_check) */
	}
	pthread_mutex_unlock(&ob->mu);
	if (want != 1)
		return want != 0;
	return ob_draft_check(ob, *id, -1, ck) == 0;
}

/*
 * rename: the new record of M (and the "removed" record of a message it
 * replaces) are written in one append before memory changes, so the
 * call either renames, durably when a restart could send the message,
 * or fails with the errno and changes nothing.
 */
static void ops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct ob *ob = ops_ob(req);
	struct ob_msg *m, *t;
	int dir = ob_dir_of_ino(ob, parent), ndir = ob_dir_of_ino(ob, newparent);
	int err = 0, sync, submit;
	enum ob_name_kind ok, nk;
	struct spool_rec copy;
	struct spool_check ck = { 0, 0, 0, 0 };
	char *nn = NULL, *nd = NULL, *text = NULL, tomb[96];
	const char *texts[2];
	size_t lens[2], n = 1;
	uint64_t ckid = 0;
	int have_ck;

	if (dir == -2 || ndir == -2) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (strlen(newname) > OPS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	nn = strdup(newname);
	if (nn == NULL || (ndir >= 0 && (nd = strdup(ob->dirs[ndir])) ==
	    NULL)) {
		free(nn);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	have_ck = ops_rename_check(ob, dir, name, ndir, newname, &ck, &ckid);
	pthread_mutex_lock(&ob->rmu);
	pthread_mutex_lock(&ob->mu);
	ok = ob_name_kind(ob, dir, name);
	nk = ob_name_kind(ob, ndir, newname);
	if (ok == OB_NAME_STATUS || ok == OB_NAME_RESERVED ||
	    nk == OB_NAME_STATUS || nk == OB_NAME_RESERVED) {
		err = ops_resolve(ob, dir, name) ? EPERM : ENOENT;
		goto out;
	}
	m = ob_find_name(ob, dir, name);
	if (m == NULL) {
		err = ENOENT;
		goto out;
	}
	if (!ops_owner_ok(req, ob, m, 1)) {
		err = EPERM;              /* the sticky directory's rule */
		goto out;
	}
	if (m->r.state == OB_SENDING || m->busy) {
		err = EBUSY;
		goto out;
	}
	if (dir != ndir && m->r.state != OB_DRAFT) {
		err = EPERM;
		goto out;
	}
	t = ob_find_name(ob, ndir, newname);
	if (t == m)
		goto out;
	if (t && !ops_owner_ok(req, ob, t, 1)) {
		err = EPERM;              /* replacing is removing */
		goto out;
	}
	if (t) {
		if (flags & RENAME_NOREPLACE) {
			err = EEXIST;
			goto out;
		}
		if (t->r.state == OB_SENDING || t->busy) {
			err = EBUSY;
			goto out;
		}
	}
	/* A scratch file renamed to a normal name is submitted (Maildir):
	 * closed, so that a restart before its settle time ends submits
	 * it too. */
	submit = ok == OB_NAME_SCRATCH && nk == OB_NAME_NORMAL &&
	    m->r.state == OB_DRAFT;
	copy = m->r;
	copy.name = nn;
	copy.dir = nd;
	if (dir != ndir)
		copy.account = NULL;
	if (submit && m->nopen == 0)
		copy.closed = 1;
	if (!have_ck || m->r.id != ckid)
		ck.set = 0;
	if (spool_rec_format_check(&copy, ob_kept_check(m, &copy, &ck),
	    &text, &lens[0]) < 0) {
		err = ENOMEM;
		goto out;
	}
	texts[0] = text;
	if (t && !t->tombstoned) {
		lens[1] = (size_t)spool_tombstone_text(t->r.id, tomb,
		    sizeof(tomb));
		texts[1] = tomb;
		n = 2;
	}
	m->busy = 1;
	ob_ref(m);
	if (t) {
		t->busy = 1;
		ob_ref(t);
	}
	pthread_mutex_unlock(&ob->mu);
	if (ob_write_recs(ob, texts, lens, n, 0) < 0) {
		err = ops_errno(errno);
		pthread_mutex_unlock(&ob->rmu);
		free(text);
		free(nn);
		free(nd);
		ops_rename_done(ob, m, t);
		fuse_reply_err(req, err);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	sync = ops_must_sync(ob, m) || copy.closed;
	if (t) {
		sync |= ops_must_sync(ob, t);
		t->tombstoned = 1;
		ob_live_sub_locked(ob, t);
		ob_remove_locked(ob, t);   /* our reference: freed below */
	}
	ob_rename_take(ob, m, ndir, nn, nd);
	nn = nd = NULL;
	if (dir != ndir && m->r.account) {
		spool_str_free(m->r.account);
		m->r.account = NULL;
	}
	m->r.closed = copy.closed;
	m->disk_state = m->r.state;
	if (submit) {
		m->dirty = 1;
		m->whole = m->nopen == 0;
	}
	if (nk != OB_NAME_NORMAL) {
		ob_settle_cancel(ob, m);
		if (m->r.state == OB_DRAFT)
			m->dirty = 1;   /* back to normal later: submit then */
	}
	pthread_mutex_unlock(&ob->mu);
	pthread_mutex_unlock(&ob->rmu);
	free(text);
	if (sync && spool_sync(&ob->spool) < 0)
		err = ops_errno(errno);
	ops_rename_done(ob, m, t);
	fuse_reply_err(req, err);
	return;
out:
	pthread_mutex_unlock(&ob->mu);
	pthread_mutex_unlock(&ob->rmu);
	free(nn);
	free(nd);
	fuse_reply_err(req, err);
}

static void ops_eperm_mkdir(fuse_req_t req, fuse_ino_t parent,
    const char *name, mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EPERM);
}

static void ops_eperm_rmdir(fuse_req_t req, fuse_ino_t parent,
    const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void ops_eperm_symlink(fuse_req_t req, const char *link,
    fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void ops_eperm_link(fuse_req_t req, fuse_ino_t ino,
    fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

static void ops_eperm_mknod(fuse_req_t req, fuse_ino_t parent,
    const char *name, mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EPERM);
}

static int ops_dir_add(struct ops_handle *h, size_t *cap, const char *name,
    fuse_ino_t ino, mode_t type)
{
	struct ops_dirent *ne;
	size_t len = strlen(name) + 1, ncap;
	char *nn;

	if (h->nents == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		ne = realloc(h->ents, *cap * sizeof(*ne));
		if (ne == NULL)
			return -1;
		h->ents = ne;
	}
	if (h->names_len + len > UINT32_MAX) {
		errno = ENOMEM;
		return -1;
	}
	if (h->names_len + len > h->names_cap) {
		ncap = h->names_cap ? h->names_cap * 2 : 1024;
		while (ncap < h->names_len + len)
			ncap *= 2;
		nn = realloc(h->names, ncap);
		if (nn == NULL)
			return -1;
		h->names = nn;
		h->names_cap = ncap;
	}
	memcpy(h->names + h->names_len, name, len);
	h->ents[h->nents].name = (uint32_t)h->names_len;
	h->names_len += len;
	h->ents[h->nents].ino = ino;
	h->ents[h->nents].type = (uint32_t)type;
	h->nents++;
	return 0;
}

static void ops_dir_free(struct ops_handle *h)
{
	free(h->names);
	free(h->ents);
	free(h);
}

static void ops_opendir(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	struct ob *ob = ops_ob(req);
	struct ops_handle *h;
	struct ob_msg *m;
	size_t cap = 0, i;
	int dir = ob_dir_of_ino(ob, ino), fail = 0, k;
	char stname[512];

	if (dir == -2) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = OPS_DIR;
	h->fd = -1;
	pthread_mutex_lock(&ob->mu);
	fail |= ops_dir_add(h, &cap, ".", ino, S_IFDIR);
	fail |= ops_dir_add(h, &cap, "..", OB_INO_ROOT, S_IFDIR);
	if (dir < 0) {
		fail |= ops_dir_add(h, &cap, ".queue", OB_INO_QUEUE, S_IFREG);
		for (k = 0; k < ob->ndirs; k++)
			fail |= ops_dir_add(h, &cap, ob->dirs[k],
			    OB_INO_DIR0 + (fuse_ino_t)k, S_IFDIR);
	}
	for (i = 0; i < ob->nbuckets && !fail; i++)
		for (m = ob->by_id[i]; m && !fail; m = m->id_next) {
			if (m->removed || m->diridx != dir)
				continue;
			fail |= ops_dir_add(h, &cap, m->r.name,
			    ops_msg_ino(m, 0), S_IFREG);
			if (ops_has_status(m) && snprintf(stname,
			    sizeof(stname), "%s.status", m->r.name) <
			    (int)sizeof(stname))
				fail |= ops_dir_add(h, &cap, stname,
				    ops_msg_ino(m, 1), S_IFREG);
		}
	pthread_mutex_unlock(&ob->mu);
	if (fail) {
		ops_dir_free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	struct stat st;
	char *buf;
	size_t used = 0, n, i;

	(void)ino;
	buf = malloc(size ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (i = off < 0 ? 0 : (size_t)off; i < h->nents; i++) {
		st.st_ino = h->ents[i].ino;
		st.st_mode = h->ents[i].type;
		n = fuse_add_direntry(req, buf + used, size - used,
		    h->names + h->ents[i].name, &st, (off_t)(i + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ops_releasedir(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi)
{
	(void)ino;
	ops_dir_free((struct ops_handle *)fi->fh);
	fuse_reply_err(req, 0);
}

static void ops_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void ops_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ob *ob = ops_ob(req);
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(ob->spool.dirfd, &sv) < 0) {
		fuse_reply_err(req, ops_errno(errno));
		return;
	}
	sv.f_namemax = OPS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* poll(2) on a status file: readable once it changed since it was read
 * (read it again from offset 0 for the new text). Other files are always
 * readable. */
static void ops_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct fuse_pollhandle *ph)
{
	struct ops_handle *h = (struct ops_handle *)fi->fh;
	int rc;

	(void)ino;
	if (h->kind != OPS_STATUS) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM);
		return;
	}
	rc = ob_status_poll(ops_ob(req), h->id, h->gen, ph);
	fuse_reply_poll(req, rc == 0 ? 0 : rc > 0 ? POLLIN | POLLRDNORM :
	    POLLIN | POLLRDNORM | POLLHUP);
}

static void ops_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * No writeback cache, though it merges a shell's small writes (4
	 * WRITE requests of printf become 1): with it the kernel keeps its
	 * own size and mtime for every regular file and ignores ours, so a
	 * status file's and .queue's size would go stale on stat(2), and a
	 * full disk would fail close(2), not the write(2) that filled it.
	 */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

const struct fuse_lowlevel_ops ops_ops = {
	.init = ops_init,
	.lookup = ops_lookup,
	.getattr = ops_getattr,
	.setattr = ops_setattr,
	.mknod = ops_eperm_mknod,
	.mkdir = ops_eperm_mkdir,
	.unlink = ops_unlink,
	.rmdir = ops_eperm_rmdir,
	.symlink = ops_eperm_symlink,
	.rename = ops_rename,
	.link = ops_eperm_link,
	.open = ops_open,
	.read = ops_read,
	.poll = ops_poll,
	.write = ops_write,
	/* No .flush: it is not a submission point (a shell's { echo; date; }
	 * > f flushes from each child before the file is complete) and
	 * writes go straight to the spool file, so there is nothing to
	 * flush. Without it the kernel stops sending FLUSH after the first
	 * ENOSYS, and close(2) no longer waits for a round trip. */
	.release = ops_release,
	.fsync = ops_fsync,
	.opendir = ops_opendir,
	.readdir = ops_readdir,
	.releasedir = ops_releasedir,
	.fsyncdir = ops_fsyncdir,
	.statfs = ops_statfs,
	/* No .access: on a default_permissions mount (always ours) the
	 * kernel answers access(2) itself and never sends FUSE_ACCESS. */
	.create = ops_create,
};
