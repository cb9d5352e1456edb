/*
 * queue — committer and delivery threads (see queue.h).
 *
 * Must never: hold ob->mu across msg_prepare, a spool write, spool_sync
 * or any smtp_* call; mark a recipient done before its final reply is in
 * a durable record; show `queued` before the record saying so is durable.
 */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/acct.h"
#include "fs/log.h"
#include "fs/pickup.h"
#include "fs/queue.h"
#include "fs/retry.h"
#include "fs/status.h"
#include "smtp/msg.h"
#include "smtp/smtp.h"
#include "util/clock.h"

#include <openssl/rand.h>

static void queue_deadline(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = at_ms / 1000;
	ts->tv_nsec = (at_ms % 1000) * 1000000;
}

static void queue_thread_done(struct ob *ob)
{
	pthread_mutex_lock(&ob->mu);
	ob->nthreads--;
	pthread_cond_broadcast(&ob->idle_cv);
	pthread_mutex_unlock(&ob->mu);
}

/* 1 for an errno that says this machine is short of something for now
 * (descriptors, memory, disk, I/O): the message waits and is retried,
 * never failed for it. */
static int queue_errno_passing(int e)
{
	switch (e) {
	case EMFILE: case ENFILE: case ENOMEM: case EIO: case ENOSPC:
	case EAGAIN: case EINTR: case ENOBUFS: case EDQUOT: case EBUSY:
	case ETIMEDOUT: case ESTALE: case ENOLCK:
		return 1;
	default:
		return 0;
	}
}

/*
 * A message file is read once: its bytes (an image) are read with one
 * pread(2) of the size fstat(2) gives, the attach check and preparing
 * read the image, and a small message keeps it for sending. A file over
 * QUEUE_IMG_MAX is read in chunks from its descriptor, as before; an
 * image is kept for sending up to QUEUE_IMG_KEEP bytes, and at commit
 * only while fewer than QUEUE_IMG_KEEP_N messages wait to be sent (at
 * most a few MiB held for messages not sent yet; an attempt drops it).
 */
#define QUEUE_IMG_MAX    (256 * 1024)
#define QUEUE_IMG_KEEP   (16 * 1024)
#define QUEUE_IMG_KEEP_N 256

/* The whole file FD into *SRC's image (SRC->fd is FD either way): 0,
 * or -1 when it is too large, empty or not read whole (SRC then reads
 * FD as before; the reason is found again there). */
static int queue_read_image(int fd, struct msg_src *src)
{
	struct stat st;
	char *buf;
	ssize_t r;

	src->fd = fd;
	src->img = NULL;
	src->len = 0;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size > QUEUE_IMG_MAX)
		return -1;
	buf = malloc((size_t)st.st_size);
	if (buf == NULL)
		return -1;
	do
		r = pread(fd, buf, (size_t)st.st_size, 0);
	while (r < 0 && errno == EINTR);
	if (r != st.st_size) {
		free(buf);
		return -1;
	}
	src->img = buf;
	src->len = (size_t)r;
	return 0;
}

/* Frees SRC's image unless KEEP and it is small enough: then PM has it
 * (msg_keep_image) and sends from it. */
static void queue_image_done(struct msg_src *src, struct msg *pm, int keep)
{
	char *img = (char *)src->img;

	if (img && pm && keep && src->len <= QUEUE_IMG_KEEP)
		msg_keep_image(pm, img, src->len);
	else
		free(img);
	src->img = NULL;
	src->len = 0;
}

/* MSGID: the Message-ID the message was given when first prepared
 * (its record's), kept when it is prepared again; NULL: a new one. */
static int queue_prepare_with(const struct msg_src *src,
    const struct cfg_account *a,
    int64_t when, const char *msgid, const struct pickup_env *env,
    const char *own_from, struct msg *out, char *err, size_t errlen)
{
	struct msg_params p;

	acct_msg_params(a, when, &p);
	p.message_id = msgid;
	pickup_env_apply(env, &p);    /* outboxfs-sendmail's envelope */
	if (own_from) {
		p.from = own_from;
		p.env_from = NULL;
	}
	return msg_prepare_src(src, &p, out, err, errlen);
}

/* 1 when M belongs to a user other than the mounting one (its owner in
 * *UID, *GID); 0 for the mounting user's own. */
static int queue_foreign(struct ob *ob, const struct ob_msg *m, uid_t *uid,
    gid_t *gid)
{
	int foreign;

	pthread_mutex_lock(&ob->mu);
	foreign = m->r.owned && m->r.uid != ob->uid;
	*uid = m->r.uid;
	*gid = m->r.gid;
	pthread_mutex_unlock(&ob->mu);
	return foreign;
}

/*
 * Another user's message through account A that has no from: its
 * envelope sender is the owner's login at A's maildomain (else domain,
 * else localhost), as sendmail's is, never its From: line (which is the
 * user's to write). Into BUF; NULL for the mounting user's own messages
 * or an account with a from (the account's then).
 */
static const char *queue_own_from(struct ob *ob, const struct ob_msg *m,
    const struct cfg_account *a, char *buf, size_t cap)
{
	uid_t uid;
	gid_t gid;

	if ((a && a->from && a->from[0]) || !queue_foreign(ob, m, &uid, &gid))
		return NULL;
	snprintf(buf, cap, "%s@%s", users_name(&ob->names, uid),
	    acct_qualify_domain(a));
	return buf;
}

/* 1 when an account other than A names a From: address: a message at
 * the top level is then read once more to pick its account by From:. */
static int queue_from_picks(const struct ob *ob, const struct cfg_account *a)
{
	size_t i;

	for (i = 0; ob->cfg && i < ob->cfg->naccounts; i++)
		if (&ob->cfg->accounts[i] != a && ob->cfg->accounts[i].from)
			return 1;
	return 0;
}

/*
 * Prepares M from its spool file, read through SRC (ob->mu not held, M
 * busy):
 * picks the account (its directory's, else the one whose from matches,
 * else the default). Returns the prepared message or NULL with err
 * filled; *acct set either way.
 */
static struct msg *queue_prepare_src(struct ob *ob, struct ob_msg *m,
    const struct msg_src *src, int64_t when, const struct cfg_account **acct, char *err,
    size_t errlen, int *temp)
{
	const struct cfg_account *a, *b;
	struct pickup_env env;
	struct msg *pm;
	char *msgid = NULL, own_from[320];
	int had_id;

	/* never NULL: a configuration without an account is refused at
	 * mount (fs/main.c) */
	*temp = 0;
	*acct = a = ob_msg_account(ob, m);
	/* prepared again (a restart, a spool error): the Message-ID it was
	 * given before, so every attempt carries the same one and a
	 * receiver can drop a duplicate (Date: comes from the queued
	 * time) */
	pthread_mutex_lock(&ob->mu);
	had_id = m->r.message_id != NULL;
	if (had_id)
		msgid = strdup(m->r.message_id);
	pthread_mutex_unlock(&ob->mu);
	pm = calloc(1, sizeof(*pm));
	if (pm == NULL || (had_id && msgid == NULL)) {
		snprintf(err, errlen, "out of memory");
		*temp = 1;
		free(pm);
		free(msgid);
		return NULL;
	}
	if (pickup_env_get(ob, m, &env) < 0) {
		snprintf(err, errlen, "out of memory");
		*temp = 1;
		free(pm);
		free(msgid);
		return NULL;
	}
	if (m->diridx < 0 && m->r.account == NULL && queue_from_picks(ob, a)) {
		/* Top level: the account whose from is the From: address. */
		errno = 0;
		if (queue_prepare_with(src, NULL, when, msgid, &env, NULL, pm,
		    err, errlen) == 0) {
			if (pm->from &&
			    (b = cfg_account_for_from(ob->cfg, pm->from)) != NULL)
				*acct = a = b;
			msg_free(pm);
		} else if (queue_errno_passing(errno)) {
			*temp = 1;
			goto fail;
		}
	}
	/* msg_prepare fails for the message's content, or for a read or
	 * an allocation that failed: errno tells the second kind. */
	errno = 0;
	if (queue_prepare_with(src, a, when, msgid, &env,
	    queue_own_from(ob, m, a, own_from, sizeof(own_from)), pm, err,
	    errlen) < 0) {
		*temp = queue_errno_passing(errno);
		goto fail;
	}
	pickup_env_free(&env);
	free(msgid);
	return pm;
fail:
	pickup_env_free(&env);
	free(pm);
	free(msgid);
	return NULL;
}

/* 0, or -1 with err filled and *temp set for a passing error. */
static int queue_open_msg(struct ob *ob, struct ob_msg *m, char *err,
    size_t errlen, int *temp)
{
	int fd = spool_open_msg(&ob->spool, m->r.id, O_RDONLY);

	if (fd < 0) {
		*temp = queue_errno_passing(errno);
		snprintf(err, errlen, "spool: cannot open the message: %s",
		    strerror(errno));
	}
	return fd;
}

/* queue_prepare_src on a descriptor of its own, for an attempt that
 * starts now: the prepared message keeps a small file's image. */
static struct msg *queue_prepare(struct ob *ob, struct ob_msg *m,
    int64_t when, const struct cfg_account **acct, char *err,
    size_t errlen, int *temp)
{
	struct msg_src src;
	struct msg *pm;
	int fd;

	*temp = 0;
	*acct = ob_msg_account(ob, m);
	fd = queue_open_msg(ob, m, err, errlen, temp);
	if (fd < 0)
		return NULL;
	(void)queue_read_image(fd, &src);
	pm = queue_prepare_src(ob, m, &src, when, acct, err, errlen, temp);
	queue_image_done(&src, pm, 1);
	close(fd);
	return pm;
}

/* 1 when M's recorded recipients are the sendmail command's, none tried
 * yet, and preparing changed them (aliases, an address completed). */
static int queue_env_rewritten(const struct ob_msg *m, const struct msg *pm)
{
	size_t i;

	if (!m->r.envelope || m->r.nrcpts == 0 || pm->nrcpts == 0)
		return 0;
	for (i = 0; i < m->r.nrcpts; i++)
		if (m->r.rcpts[i].state != SPOOL_RCPT_PENDING)
			return 0;
	if (m->r.nrcpts != pm->nrcpts)
		return 1;
	for (i = 0; i < m->r.nrcpts; i++)
		if (m->r.rcpts[i].addr == NULL ||
		    strcmp(m->r.rcpts[i].addr, pm->rcpts[i]) != 0)
			return 1;
	return 0;
}

/* Fills the record's envelope fields from a prepared message; ob->mu
 * held. Returns -1 without memory. */
static int queue_fill_envelope(struct ob_msg *m, const struct msg *pm,
    const struct cfg_account *a)
{
	struct spool_rcpt *rc;
	size_t i;

	if (queue_env_rewritten(m, pm)) {
		/* what goes on the wire: the prepared recipients */
		for (i = 0; i < m->r.nrcpts; i++) {
			spool_str_free(m->r.rcpts[i].addr);
			spool_str_free(m->r.rcpts[i].text);
		}
		free(m->r.rcpts);
		m->r.rcpts = NULL;
		m->r.nrcpts = 0;
		if (pm->from && m->r.from && strcmp(pm->from, m->r.from) != 0) {
			spool_str_free(m->r.from);
			m->r.from = NULL;
		}
	}
	if (m->r.nrcpts == 0 && pm->nrcpts) {
		rc = calloc(pm->nrcpts, sizeof(*rc));
		if (rc == NULL)
			return -1;
		for (i = 0; i < pm->nrcpts; i++) {
			rc[i].addr = spool_intern(pm->rcpts[i]);
			if (rc[i].addr == NULL) {
				while (i-- > 0)
					spool_str_free(rc[i].addr);
				free(rc);
				return -1;
			}
		}
		m->r.rcpts = rc;
		m->r.nrcpts = pm->nrcpts;
	}
	if (m->r.message_id == NULL && pm->message_id)
		m->r.message_id = strdup(pm->message_id);
	if (m->r.from == NULL && pm->from)
		m->r.from = spool_intern(pm->from);
	if (m->r.account == NULL && a && a->name)
		m->r.account = spool_intern(a->name);
	m->r.size = pm->size;
	return 0;
}

/* A record's error, server, reply or recipient reply set to V: errors
 * and servers are shared by many messages, kept once (spool_intern);
 * a reply ("queued as 4Q2X") is the message's own. */
static void queue_set_str(char **dst, const char *v)
{
	char *n = v ? spool_intern(v) : NULL;

	spool_str_free(*dst);
	*dst = n;
}

/* The same for a string of the message's own: a plain copy. */
static void queue_set_own(char **dst, const char *v)
{
	char *n = v ? strdup(v) : NULL;

	spool_str_free(*dst);
	*dst = n;
}

/* ------------------------------------------------------------------ */
/* The committer                                                      */

struct queue_item;
static void queue_publish_all(struct ob *ob, int all,
    struct queue_item *items, size_t ni);
static int64_t queue_held_next(const struct ob *ob);
static void queue_publish(struct ob *ob, const struct ob_pub *pub);


/*
 * A message just went through: the server works again, so every deferred
 * message of the same account is retried now on that connection, as a
 * touch would. ob->mu held.
 */
static void queue_retry_account(struct ob *ob, const struct cfg_account *a)
{
	struct ob_msg *m, *next;

	for (m = TAILQ_FIRST(&ob->wait.q); m; m = next) {
		next = TAILQ_NEXT(m, q);
		if (ob_msg_account(ob, m) == a) {
			m->r.next = ob_wall();
			ob_set_state(ob, m, OB_QUEUED);
		}
	}
}

struct queue_item {
	struct ob_msg *m;
	struct msg *pm;
	int ok;
	int save_err;                /* errno of a failed record write */
	int fd;                      /* its spool file, open for the batch:
	                              * read and synced through one open */
	int lfd;                     /* its unused transcript's, or -1 */
	struct spool_check ck;       /* its queued record's check */
	int sync_err;                /* save_err is the batch sync's */
	int copy_err;                /* save_err is queue_resync's */
	int lost;                    /* queue_resync found its bytes lost */
	int att_err;                 /* save_err is queue_attach's */
};

/* Messages one commit takes at most (each holds a descriptor). */
#define QUEUE_BATCH_MAX 256

/* A submission whose record could not be made durable (disk full, I/O
 * error) stays a draft and is tried again after ob->spool_retry_s; so
 * are the rewrite of a lost journal and the record of an outcome
 * (queue_hold). */
#define QUEUE_SPOOL_RETRY_MS(ob) ((int64_t)(ob)->spool_retry_s * 1000)

/*
 * Expands Attach: pseudo-headers of M's spool file, once, at submission:
 * the expanded message replaces the file (temp file, rename). Returns 0
 * (also when there is nothing to expand) or -1 with err.
 */
/* 1 when the header block read from SRC has an Attach: line. */
static int queue_has_attach(const struct msg_src *src)
{
	char *buf = NULL, *p, *end, *nl;
	const char *start;
	ssize_t n;
	int found = 0;

	if (src->img) {
		start = src->img;
		n = (ssize_t)(src->len < MSG_MAX_HEADER ? src->len :
		    MSG_MAX_HEADER);
	} else {
		if ((buf = malloc(MSG_MAX_HEADER + 1)) == NULL)
			return 1;     /* let msg_attach_expand decide */
		n = pread(src->fd, buf, MSG_MAX_HEADER, 0);
		if (n < 0) {
			free(buf);
			return 1;
		}
		start = buf;
	}
	end = (char *)start + n;
	for (p = (char *)start; p < end; p = nl + 1) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;                       /* end of the header */
		if (end - p >= 7 && strncasecmp(p, "attach:", 7) == 0) {
			found = 1;
			break;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
	}
	free(buf);
	return found;
}

/* -1 with err filled and errno kept for queue_errno_passing. *FD is
 * the message's open file, SRC reads it; after an expansion, *FD is the
 * new file's and SRC reads that (its image of the old one dropped). */
static int queue_attach(struct ob *ob, struct ob_msg *m, int *fd,
    struct msg_src *src, char *err, size_t errlen)
{
	char tmp[64];
	struct stat st;
	struct spool_check xck = { 0, 0, 0, 0 }, kept = { 0, 0, 0, 0 };
	int out, rc = 0, saved = 0;

	if (!queue_has_attach(src))
		return 0;     /* the common case: no temp file made */
	queue_image_done(src, NULL, 0);
	snprintf(tmp, sizeof(tmp), ".att%" PRIu64, m->r.id);
	/* A try before wrote its expansion and a record with its check,
	 * and failed after (the sync, the rename): that expansion is used
	 * as it is. Made again it would differ (its MIME boundary), and a
	 * mount would find neither file what that record says. */
	pthread_mutex_lock(&ob->mu);
	if (m->lv && m->lv->cck.set && m->lv->cck.stamp == 0 && m->r.closed)
		kept = m->lv->cck;
	pthread_mutex_unlock(&ob->mu);
	out = kept.set ? openat(ob->spool.msgfd, tmp, O_RDWR | O_CLOEXEC |
	    O_NOFOLLOW) : -1;
	if (out >= 0 && (spool_check_fd(&xck, out) < 0 ||
	    xck.len != kept.len || xck.crc != kept.crc)) {
		close(out);
		out = -1;
	}
	if (out < 0) {
		out = openat(ob->spool.msgfd, tmp, O_RDWR | O_CREAT | O_TRUNC |
		    O_CLOEXEC, 0600);
		if (out < 0) {
			saved = errno;
			snprintf(err, errlen, "spool: %s", strerror(errno));
			errno = saved;
			return -1;
		}
		errno = 0;
		rc = msg_attach_expand(*fd, out, m->r.uid, m->r.gid, err,
		    errlen);
		saved = errno;
		if (rc != 0) {
			close(out);
			unlinkat(ob->spool.msgfd, tmp, 0);
			errno = saved;
			return -1;
		}
		xck.set = 0;
	}
	/*
	 * The user's bytes are replaced only by a durable whole file, and
	 * only once a durable record of the closed draft has its check:
	 * when the rename reaches the disk before the queued record (a
	 * power loss, a record that cannot be written), a mount finds the
	 * expansion where that record says it is, not cut-short bytes of
	 * the original. A mount that finds the original with this record
	 * (the rename lost) puts .attID in its place (spool_load). The
	 * rename itself is made durable by the batch's spool_sync, before
	 * the message is shown queued.
	 */
	if (fstat(out, &st) < 0 || fsync(out) < 0 ||
	    spool_sync_dir(&ob->spool, ob->spool.msgfd, "/msg") < 0 ||
	    (!xck.set && spool_check_fd(&xck, out) < 0) ||
	    ob_save_check(ob, m, OB_NSTATES, &xck, 1) < 0 ||
	    spool_install_msg(&ob->spool, m->r.id, out, tmp) < 0) {
		saved = errno;
		snprintf(err, errlen, "spool: %s", strerror(errno));
		close(out);
		/* kept, with the check of its record: for the next try,
		 * or for a mount if that record is durable */
		errno = saved;
		return -1;
	}
	close(*fd);
	*fd = src->fd = out;        /* the expanded message from here on */
	pthread_mutex_lock(&ob->mu);
	m->file_size = (uint64_t)st.st_size;
	m->shown_rw = 2;             /* its size changed: ob_notify says so */
	pthread_mutex_unlock(&ob->mu);
	return 0;
}

/* 1 when M's file must be copied before it is submitted (ob->mu not
 * held). */
static int queue_needs_copy(struct ob *ob, struct ob_msg *m)
{
	int r;

	pthread_mutex_lock(&ob->mu);
	r = m->resync != OB_RESYNC_NONE;
	pthread_mutex_unlock(&ob->mu);
	return r;
}

/*
 * The copy of a message whose file could not be synced: after a failed
 * sync, Linux has marked the file's pages clean, so a sync tried again
 * reports success whether or not the bytes reached the disk. Its bytes,
 * as the page cache still has them, are copied to a new file, synced,
 * which replaces it (spool_copy_msg); *FD is then the new file's. When
 * its closed record has a check and the copy differs from it (the pages
 * were dropped and read back from the disk, which never had them),
 * nothing is replaced and it returns 1 with ERR saying so: such a
 * message is never sent. 0, or -1 with ERR and errno.
 */
static int queue_resync(struct ob *ob, struct ob_msg *m, int *fd,
    char *err, size_t errlen)
{
	struct spool_check kept = { 0, 0, 0, 0 }, got;
	int rc, out = -1, saved;

	pthread_mutex_lock(&ob->mu);
	if (m->lv && m->lv->cck.set && m->lv->cck.stamp == 0 && m->r.closed)
		kept = m->lv->cck;
	pthread_mutex_unlock(&ob->mu);
	rc = spool_copy_msg(&ob->spool, m->r.id, *fd, &kept, &got, &out);
	if (rc > 0) {
		snprintf(err, errlen, "spool: this message's bytes were lost: "
		    "its file could not be synced to the disk, and what it "
		    "reads now (%" PRIu64 " bytes) is not what it was closed "
		    "with (%" PRIu64 " bytes); it is not sent: write it again",
		    got.len, kept.len);
		return 1;
	}
	if (rc < 0) {
		saved = errno ? errno : EIO;
		snprintf(err, errlen, "spool: copying the message to a new "
		    "file after a failed sync: %s", strerror(saved));
		errno = saved;
		return -1;
	}
	close(*fd);
	*fd = out;
	return 0;
}

/*
 * 1 with err filled when M's file is too large for any account however
 * it is prepared: its body alone is over every max_size. Checked before
 * anything reads the file, so a sparse file with a 1 TB hole is refused
 * without being scanned or copied. ob->mu not held.
 */
static int queue_too_large(struct ob *ob, struct ob_msg *m, char *err,
    size_t errlen)
{
	uint64_t lim = ob_max_size(ob), size;

	if (lim == 0)
		return 0;
	pthread_mutex_lock(&ob->mu);
	ob_msg_stat(ob, m);
	size = m->file_size;
	pthread_mutex_unlock(&ob->mu);
	if (size <= lim || size - lim <= MSG_MAX_HEADER)
		return 0;
	snprintf(err, errlen, "message too large: the file has %" PRIu64
	    " bytes, max_size is %" PRIu64, size, lim);
	return 1;
}

/*
 * 1 with ERR when M's owner may not send (no longer in `users` or
 * `groups`): whatever submits it (a release, a rename from a scratch
 * name, a mount) fails it, as a new file of theirs is refused at create.
 */
static int queue_not_allowed(struct ob *ob, struct ob_msg *m, char *err,
    size_t errlen)
{
	uid_t uid;
	gid_t gid;

	/* (the mounting user may always send) */
	if (!queue_foreign(ob, m, &uid, &gid) ||
	    users_may_send_uid(&ob->users, uid, gid))
		return 0;
	snprintf(err, errlen, "not sent: uid=%lu user=%s is not in the users "
	    "or groups allowed to send", (unsigned long)uid,
	    users_name(&ob->names, uid));
	return 1;
}

/* Makes the batch's message files and records durable. */
static int queue_sync_batch(struct ob *ob, const struct queue_item *items,
    size_t n)
{
	int fds[QUEUE_BATCH_MAX];
	size_t i;

	/* not one that failed before: it has no record to stand for, and
	 * the file of one that queue_resync refused must not be synced */
	for (i = 0; i < n; i++)
		fds[i] = items[i].save_err ? -1 : items[i].fd;
	return spool_sync_fds(&ob->spool, fds, n);
}

static void queue_commit_batch(struct ob *ob, struct queue_item *items,
    size_t n)
{
	const struct cfg_account *a;
	struct msg_src src;
	char err[512];
	int64_t now = ob_wall();
	uint64_t stamp = spool_check_stamp(&ob->spool);
	size_t i, waiting;

	pthread_mutex_lock(&ob->mu);
	waiting = ob->run.n;        /* messages not sent yet: images kept */
	pthread_mutex_unlock(&ob->mu);
	for (i = 0; i < n; i++) {
		struct ob_msg *m = items[i].m;
		struct spool_check ck = { 0, 0, 0, 0 };
		int temp = 0, open_err = 0;

		items[i].ck = ck;
		items[i].sync_err = 0;
		items[i].copy_err = 0;
		items[i].lost = 0;
		items[i].att_err = 0;
		items[i].pm = NULL;
		items[i].save_err = 0;
		a = ob_msg_account(ob, m);
		/* open for every outcome: even a refused message's bytes are
		 * made durable with its record */
		if (items[i].fd < 0) {   /* else its last writer's */
			items[i].fd = queue_open_msg(ob, m, err, sizeof(err),
			    &temp);
			open_err = errno;
		}
		if (items[i].fd >= 0 && queue_needs_copy(ob, m)) {
			int rc = queue_resync(ob, m, &items[i].fd, err,
			    sizeof(err));

			if (rc != 0) {
				items[i].save_err = errno ? errno : EIO;
				items[i].copy_err = rc < 0;
				items[i].lost = rc > 0;
				if (rc > 0) {   /* shown as it is */
					pthread_mutex_lock(&ob->mu);
					queue_set_str(&m->r.error, err);
					pthread_mutex_unlock(&ob->mu);
				}
				continue;
			}
			pthread_mutex_lock(&ob->mu);
			m->resync = OB_RESYNC_NONE;
			if (m->lv)
				m->lv->rsw = 0;
			pthread_mutex_unlock(&ob->mu);
		}
		src.fd = items[i].fd;
		src.img = NULL;
		src.len = 0;
		if (queue_not_allowed(ob, m, err, sizeof(err)) ||
		    queue_too_large(ob, m, err, sizeof(err))) {
			temp = 0;
		} else if (items[i].fd >= 0) {   /* else err, temp: the open's */
			(void)queue_read_image(items[i].fd, &src);
			if (!m->r.envelope &&    /* sendmail: never expanded */
			    queue_attach(ob, m, &items[i].fd, &src, err,
			    sizeof(err)) < 0) {
				temp = queue_errno_passing(errno);
				/* never queued with its Attach: lines (a
				 * send does not expand them): a draft,
				 * submitted again */
				if (temp) {
					items[i].save_err = errno ? errno : EIO;
					items[i].att_err = 1;
					queue_image_done(&src, NULL, 0);
					continue;
				}
			} else
				items[i].pm = queue_prepare_src(ob, m, &src,
				    now, &a, err, sizeof(err), &temp);
		}
		/* What a queued record says of the bytes it stands for: its
		 * file is synced beside the journal, not before it (see
		 * spool_check). A file that cannot be read for it cannot be
		 * synced either: submitted again, never shown queued. */
		if (items[i].pm || temp) {
			if (items[i].fd < 0)
				items[i].save_err = open_err ? open_err : EIO;
			else if (src.img)
				spool_check_buf(&ck, src.img, src.len);
			else if (spool_check_fd(&ck, items[i].fd) < 0)
				items[i].save_err = errno ? errno : EIO;
			ck.stamp = stamp;
			items[i].ck = ck;
		}
		queue_image_done(&src, items[i].pm, waiting + i <
		    QUEUE_IMG_KEEP_N);
		if (items[i].save_err)
			continue;
		/* A passing local error (descriptors, memory, I/O) does not
		 * fail the message: it is queued, prepared again when it is
		 * sent, and deferred then if the error is still there. */
		if (items[i].pm == NULL && temp) {
			pthread_mutex_lock(&ob->mu);
			m->r.queued = now;
			m->r.attempts = 0;
			queue_set_str(&m->r.error, err);
			if (m->r.account == NULL && a && a->name)
				m->r.account = spool_intern(a->name);
			pthread_mutex_unlock(&ob->mu);
			items[i].ok = 1;
			if (ob_save_check(ob, m, OB_QUEUED, &ck, 0) < 0)
				items[i].save_err = errno ? errno : EIO;
			continue;
		}
		pthread_mutex_lock(&ob->mu);
		m->r.queued = now;
		m->r.attempts = 0;
		if (items[i].pm && queue_fill_envelope(m, items[i].pm, a) == 0) {
			items[i].ok = 1;
			queue_set_str(&m->r.error, NULL);
		} else {
			if (m->r.account == NULL && a && a->name)
				m->r.account = spool_intern(a->name);
			queue_set_str(&m->r.error, items[i].pm ? "out of memory"
			    : err);
		}
		pthread_mutex_unlock(&ob->mu);
		if (!items[i].ok) {
			log_info("%s%s%s: not sent: %s exitcode=EX_DATAERR",
			    m->r.dir ? m->r.dir : "", m->r.dir ? "/" : "",
			    m->r.name, err);
		}
		if (ob_save_check(ob, m, items[i].ok ? OB_QUEUED : OB_FAILED,
		    items[i].ok ? &ck : NULL, 0) < 0)
			items[i].save_err = errno ? errno : EIO;
	}
	/* One sync for the whole batch: the message bytes and records. */
	if (queue_sync_batch(ob, items, n) < 0) {
		int e = errno ? errno : EIO;

		log_warn("spool: making the batch durable");
		for (i = 0; i < n; i++)
			if (!items[i].save_err) {
				items[i].save_err = e;
				items[i].sync_err = 1;
			}
	}
	pthread_mutex_lock(&ob->mu);
	for (i = 0; i < n; i++) {
		struct ob_msg *m = items[i].m;

		m->busy = 0;
		if (items[i].save_err) {
			/* Not durable: never shown queued (nor failed). The
			 * journal may have its queued record, held among the
			 * last batch's (spool_sync_fds); its later records,
			 * and a rewrite's, say what it is: a closed draft,
			 * with the check of the bytes it was submitted with. */
			m->disk_state = OB_DRAFT;
			if (items[i].lost) {
				/* its error: says why; submitted again only
				 * once written again, whole (ops_release) */
				ob_set_lost(ob, m, NULL);
				m->dirty = 0;
				continue;
			}
			if (items[i].sync_err)
				m->resync = OB_RESYNC_COPY;
			if (m->r.closed && items[i].ck.set && ob_live(m)) {
				m->lv->cck = items[i].ck;
				m->lv->cck.stamp = 0;   /* a draft's */
			} else if (m->lv && m->resync == OB_RESYNC_NONE &&
			    !items[i].att_err) {
				m->lv->cck.set = 0;
			}
			/* else, its copy not made (a full disk, no
			 * descriptor): the check of its bytes is kept, the
			 * one its copy must match when it is made; its
			 * expansion not in place: its record's check, of
			 * the original or of the expansion kept for the next
			 * try (queue_attach) */
			snprintf(err, sizeof(err), "spool: %s (%s); "
			    "submitted again in %d s", items[i].fd < 0 ?
			    "the message file could not be opened to make it "
			    "durable" : items[i].sync_err ? "the message and "
			    "its record could not be synced to the disk" :
			    items[i].copy_err ? "the message could not be "
			    "copied to a new file after a failed sync" :
			    items[i].att_err ? "the message could not be "
			    "expanded with its attachments" :
			    "the record could not be written",
			    strerror(items[i].save_err),
			    ob->spool_retry_s);
			queue_set_str(&m->r.error, err);
			ob_queue_recount(ob, m);
			if (ob_submittable(ob, m))
				ob_settle_until(ob, m, clock_mono_ms() +
				    QUEUE_SPOOL_RETRY_MS(ob));
			else
				m->dirty = 1;   /* by its last release */
			continue;
		}
		/* durable: its records need no check any more */
		if (m->lv)
			m->lv->cck.set = 0;
		if (items[i].ok) {
			m->prep = items[i].pm;
			items[i].pm = NULL;
		} else {
			/* failed here: no attempt will write a transcript */
			items[i].lfd = ob_take_log_fd(ob, m);
		}
		ob_set_state(ob, m, items[i].ok ? OB_QUEUED : OB_FAILED);
	}
	pthread_mutex_unlock(&ob->mu);
	for (i = 0; i < n; i++) {
		if (items[i].fd >= 0)
			close(items[i].fd);
		if (items[i].lfd >= 0)
			close(items[i].lfd);
		if (items[i].pm) {
			msg_free(items[i].pm);
			free(items[i].pm);
		}
		ob_notify(ob, items[i].m->r.id);
		ob_unref(ob, items[i].m);
	}
}

/* Takes the settled drafts (all of them with ALL) into *items; ob->mu
 * held. Returns the count and the earliest deadline still running. */
static size_t queue_collect(struct ob *ob, struct queue_item **items,
    size_t *cap, int all, int64_t *earliest)
{
	struct ob_msg *m, *next;
	int64_t now = clock_mono_ms(), at;
	size_t n = 0;

	*earliest = -1;
	for (m = TAILQ_FIRST(&ob->settle.q); m; m = next) {
		next = TAILQ_NEXT(m, q);
		if (!ob_submittable(ob, m)) {
			ob_settle_cancel(ob, m);
			/* Opened again (a reader: a pager, an indexer): the
			 * last release starts the settle time anew. */
			if (m->r.state == OB_DRAFT && !m->removed)
				m->dirty = 1;
			continue;
		}
		at = m->lv ? m->lv->settle_at_ms : 0;
		if (at > now && !all) {
			*earliest = at;  /* in deadline order: none due after */
			break;
		}
		if (n == QUEUE_BATCH_MAX) {
			*earliest = now;     /* the rest: at once, next batch */
			break;
		}
		if (n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			struct queue_item *ni = realloc(*items,
			    nc * sizeof(*ni));

			if (ni == NULL)
				break;
			*items = ni;
			*cap = nc;
		}
		ob_settle_cancel(ob, m);
		m->busy = 1;
		ob_ref(m);
		(*items)[n].m = m;
		(*items)[n].pm = NULL;
		(*items)[n].ok = 0;
		(*items)[n].fd = ob_take_fd(ob, m);
		(*items)[n].lfd = -1;
		n++;
	}
	return n;
}

void queue_submit_pending(struct ob *ob)
{
	struct queue_item *items = NULL;
	size_t n, cap = 0;
	int64_t earliest;

	struct ob_msg *m;
	size_t left = 0;

	/* batch by batch, each waiting one once: one whose record could
	 * not be written is back in the list, for the committer's retry */
	pthread_mutex_lock(&ob->mu);
	TAILQ_FOREACH(m, &ob->settle.q, q)
		left++;
	pthread_mutex_unlock(&ob->mu);
	while (left) {
		pthread_mutex_lock(&ob->mu);
		n = queue_collect(ob, &items, &cap, 1, &earliest);
		pthread_mutex_unlock(&ob->mu);
		if (n == 0)
			break;
		queue_commit_batch(ob, items, n);
		left = n < left ? left - n : 0;
	}
	free(items);
}

/* When the committer rewrites a lost journal (monotonic ms), or -1:
 * the journal is not lost. ob->mu held (jmu is a leaf lock). */
static int64_t queue_journal_lost(struct ob *ob)
{
	return spool_journal_lost(&ob->spool) ? ob->lost_retry_ms : -1;
}

static void *queue_committer(void *arg)
{
	struct ob *ob = arg;
	struct queue_item *items = NULL;
	size_t n, cap = 0;
	struct timespec ts;
	int64_t earliest, held, lost;
	int last = 0, failed;

	(void)pthread_setname_np(pthread_self(), "outboxfs-commit");
	pthread_mutex_lock(&ob->mu);
	for (;;) {
		/* A journal whose sync failed is written again before
		 * anything else: until then every sync fails (see jlost),
		 * so a batch or an outcome recorded meanwhile fails at its
		 * sync and is tried again. */
		lost = queue_journal_lost(ob);
		if (lost >= 0 && lost <= clock_mono_ms()) {
			pthread_mutex_unlock(&ob->mu);
			failed = ob_compact_maybe(ob) < 0;
			pthread_mutex_lock(&ob->mu);
			if (failed)
				ob->lost_retry_ms = clock_mono_ms() +
				    QUEUE_SPOOL_RETRY_MS(ob);
			continue;
		}
		/* Outcomes are recorded as soon as they come: one commit
		 * covers all that came while the last one ran (no timer
		 * waits for company). */
		held = queue_held_next(ob);
		if (ob->npubs || (held >= 0 && held <= clock_mono_ms())) {
			/* with the drafts due now: one journal commit for
			 * both, not one each */
			n = ob->compact_wanted ? 0 : queue_collect(ob, &items,
			    &cap, ob->stopping, &earliest);
			pthread_mutex_unlock(&ob->mu);
			queue_publish_all(ob, 0, items, n);
			pthread_mutex_lock(&ob->mu);
			continue;
		}
		if (ob->compact_wanted) {
			pthread_mutex_unlock(&ob->mu);
			ob_compact_maybe(ob);
			pthread_mutex_lock(&ob->mu);
			continue;
		}
		n = queue_collect(ob, &items, &cap, ob->stopping, &earliest);
		if (held >= 0 && (earliest < 0 || held < earliest))
			earliest = held;
		if (lost >= 0 && (earliest < 0 || lost < earliest))
			earliest = lost;
		if (n) {
			pthread_mutex_unlock(&ob->mu);
			queue_commit_batch(ob, items, n);
			pthread_mutex_lock(&ob->mu);
			continue;
		}
		if (last)
			break;
		if (ob->stopping) {
			last = 1;   /* one more pass after the stop request */
			continue;
		}
		if (earliest >= 0) {
			queue_deadline(&ts, earliest);
			pthread_cond_timedwait(&ob->commit_cv, &ob->mu, &ts);
		} else {
			pthread_cond_wait(&ob->commit_cv, &ob->mu);
		}
	}
	pthread_mutex_unlock(&ob->mu);
	free(items);
	queue_thread_done(ob);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Delivery                                                           */

struct queue_conn {
	struct ob *ob;
	struct ob_msg *m;            /* the message the callbacks feed */
	char tail[512];              /* with m NULL: the closing QUIT of a
	                              * kept connection, for its last message */
	size_t tail_len;
};

static void queue_transcript(void *tag, char dir, const char *line)
{
	struct queue_conn *c = tag;
	char buf[1100];
	int n;

	/* '#': a note of ours, not a line of the conversation */
	n = snprintf(buf, sizeof(buf), dir == '#' ? "%c %s" : "%c: %s", dir,
	    line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	pthread_mutex_lock(&c->ob->mu);
	if (c->m) {
		ob_transcript_add(c->m, buf, (size_t)n);
	} else if (c->tail_len + (size_t)n + 1 < sizeof(c->tail)) {
		memcpy(c->tail + c->tail_len, buf, (size_t)n);
		c->tail_len += (size_t)n;
		c->tail[c->tail_len++] = '\n';
	}
	pthread_mutex_unlock(&c->ob->mu);
}

/*
 * A kept connection closed when its time was up: its QUIT exchange ends
 * the transcript of LAST, the message it carried last, when that one is
 * final and shown (its attempt is in its log), as it would have at once
 * without the cache. Drops the reference to LAST.
 */
static void queue_cache_quit(struct ob *ob, struct smtp_session *s,
    struct queue_conn *conn, struct ob_msg *last)
{
	uint64_t log_len;
	int final;

	conn->m = NULL;
	conn->tail_len = 0;
	smtp_quit(s);
	pthread_mutex_lock(&ob->mu);
	final = !last->removed && !last->busy && (last->r.state == OB_SENT ||
	    last->r.state == OB_PARTIAL || last->r.state == OB_FAILED);
	log_len = ob_log_len(ob, last);
	if (final)
		last->busy = 1;          /* its log is ours for a moment */
	pthread_mutex_unlock(&ob->mu);
	if (final) {
		int ok = conn->tail_len && spool_append_log(&ob->spool,
		    last->r.id, log_len, conn->tail, conn->tail_len) == 0;

		pthread_mutex_lock(&ob->mu);
		if (ok)
			last->log_len += conn->tail_len;
		last->busy = 0;
		pthread_mutex_unlock(&ob->mu);
		if (ok)
			ob_notify(ob, last->r.id);
	}
	ob_unref(ob, last);
}

static void queue_progress(void *tag, uint64_t sent, uint64_t total)
{
	struct queue_conn *c = tag;

	pthread_mutex_lock(&c->ob->mu);
	if (c->m && ob_live(c->m)) {
		c->m->lv->prog_sent = sent;
		c->m->lv->prog_total = total;
	}
	pthread_mutex_unlock(&c->ob->mu);
}

/* Moves deferred messages whose time has come to the run list and
 * returns the earliest future attempt (0: none). O(log N) per message
 * moved: ob->due keeps the wait list ordered. ob->mu held. */
static int64_t queue_wake_due(struct ob *ob)
{
	struct wait_node *w;
	int64_t now = ob_wall();

	while ((w = wait_top(&ob->due)) != NULL && w->at <= now) {
		struct ob_msg *m = ob_msg_of_wait(w);

		if (ob_paused(ob, ob_msg_account(ob, m))) {
			/* stays deferred while its account is paused: looked
			 * at again in a day, or at once by ob_unpause */
			wait_update(&ob->due, w, now + 86400);
			continue;
		}
		ob_set_state(ob, m, OB_QUEUED);
	}
	return w ? w->at : 0;
}

/*
 * Takes the first due message (of account ACCT when not NULL): busy,
 * referenced, state sending. ob->mu held.
 */
static struct ob_msg *queue_pick(struct ob *ob, const struct cfg_account *acct)
{
	struct ob_msg *m;

	queue_wake_due(ob);
	TAILQ_FOREACH(m, &ob->run.q, q) {
		if (m->busy)
			continue;
		if (acct && ob_msg_account(ob, m) != acct)
			continue;
		if (ob_paused(ob, ob_msg_account(ob, m)))
			continue;         /* a refused login: no new one */
		if (acct == NULL && ob_cached(ob, ob_msg_account(ob, m)))
			continue;         /* a kept connection takes it */
		m->busy = 1;
		ob_ref(m);
		m->r.attempts++;
		if (m->lv)
			m->lv->prog_sent = m->lv->prog_total = 0;
		ob_set_state(ob, m, OB_SENDING);
		return m;
	}
	return NULL;
}

static void queue_params(const struct cfg_account *a, struct smtp_params *p,
    char *port, size_t portlen)
{
	acct_smtp_params(a, p, port, portlen);
	p->transcript = queue_transcript;
	p->progress = queue_progress;
}

/* "2.1.5 Ok" from an enhanced code and a text, without doubling. */
static void queue_reply_text(char *buf, size_t cap, const char *enh,
    const char *text)
{
	size_t el = strlen(enh);

	if (el && strncmp(text, enh, el) != 0)
		snprintf(buf, cap, "%s %s", enh, text);
	else
		snprintf(buf, cap, "%s", text);
}

/* "3 s", "5 min", "2 h", "5 days": the unit picked by size. */
static void queue_duration(int64_t secs, char *buf, size_t cap)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, cap, "%" PRId64 " s", secs);
	else if (secs < 7200)
		snprintf(buf, cap, "%" PRId64 " min", secs / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, cap, "%" PRId64 " h", secs / 3600);
	else
		snprintf(buf, cap, "%" PRId64 " days", secs / 86400);
}

/* "STEP: TEXT", the step left out when the text starts with it. */
static void queue_err_text(const struct smtp_error *err, char *buf,
    size_t cap)
{
	size_t n = strlen(err->step);

	if (n == 0 || (strncasecmp(err->text, err->step, n) == 0 &&
	    (err->text[n] == ':' || err->text[n] == ' ')))
		snprintf(buf, cap, "%s", err->text);
	else
		snprintf(buf, cap, "%s: %s", err->step, err->text);
}

static const char *queue_exitcode(enum ob_state st, int local)
{
	if (st == OB_SENT)
		return "EX_OK";
	if (st == OB_DEFERRED)
		return "EX_TEMPFAIL";
	return local ? "EX_DATAERR" : "EX_UNAVAILABLE";
}

/* The outcome of one attempt, to be applied to the message. */
struct queue_outcome {
	int connected;
	int sent_ok;                 /* smtp_send returned 0 */
	struct smtp_result res;
	struct smtp_error err;
	size_t *idx;                 /* res.rcpts[k] is m->r.rcpts[idx[k]] */
	const char **rcpts;          /* their addresses, while the reply to
	                              * "." is outstanding (queue_send_end) */
	char server[512];            /* copied: the session may be gone */
	int local;                   /* failed before any connection */
	int local_temp;              /* ... for a passing local reason
	                              * (EMFILE, ENOMEM, EIO, ...): deferred */
	int conn_fail;               /* no session: every recipient not
	                              * done shares err's fate */
	char local_err[512];
};

/*
 * Applies an outcome to M's record (the transcript to the log, the
 * record to the journal, not yet durable) and fills *pub for
 * queue_publish. ob->mu NOT held; M busy and referenced by the caller.
 */
static void queue_apply(struct ob *ob, struct ob_msg *m,
    const struct cfg_account *a, struct queue_outcome *o,
    struct ob_pub *pub)
{
	enum ob_state st;
	char text[600], *attempt = NULL;
	size_t alen = 0, i, k, nok = 0, nperm = 0, ntemp = 0;
	const char *first_temp = NULL, *first_perm = NULL;
	int64_t now = ob_wall(), age;
	int expired = 0;

	struct spool_rec *r = &pub->rec;

	/* a new outcome, at its first step (the caller's PUB may hold the
	 * last one's leftovers) */
	memset(pub, 0, sizeof(*pub));
	/* The outcome is applied to a copy: M's record in memory stays what
	 * the journal says until the new one is written (ob_commit_rec). */
	pthread_mutex_lock(&ob->mu);
	while (spool_rec_dup(r, &m->r) < 0) {
		pthread_mutex_unlock(&ob->mu);
		log_warnx("out of memory applying an outcome; trying again");
		sleep(1);
		pthread_mutex_lock(&ob->mu);
	}
	if (m->lv && m->lv->cur.len) {
		attempt = malloc(m->lv->cur.len);
		if (attempt) {
			memcpy(attempt, m->lv->cur.p, m->lv->cur.len);
			alen = m->lv->cur.len;
		}
	}
	pthread_mutex_unlock(&ob->mu);
	if (o->server[0])
		queue_set_str(&r->server, o->server);
	if (o->local) {
		for (i = 0; i < r->nrcpts; i++)
			if (r->rcpts[i].state != SPOOL_RCPT_OK)
				r->rcpts[i].state = o->local_temp ?
				    SPOOL_RCPT_TEMP : SPOOL_RCPT_PERM;
		queue_set_str(&r->error, o->local_err);
	} else if (o->conn_fail) {
		/* every recipient not done shares the connection's fate */
		for (i = 0; i < r->nrcpts; i++)
			if (r->rcpts[i].state != SPOOL_RCPT_OK &&
			    r->rcpts[i].state != SPOOL_RCPT_PERM)
				r->rcpts[i].state = o->err.temporary ?
				    SPOOL_RCPT_TEMP : SPOOL_RCPT_PERM;
		if (o->err.code) {
			snprintf(text, sizeof(text), "%d %s", o->err.code,
			    o->err.text);
			queue_set_own(&r->reply, text);
		}
	} else {
		for (k = 0; o->res.rcpts && k < o->res.nrcpts; k++) {
			struct smtp_rcpt_result *rr = &o->res.rcpts[k];
			struct spool_rcpt *rc = &r->rcpts[o->idx[k]];
			int s = rr->state;

			if (!o->sent_ok && s != SMTP_RCPT_PERM)
				s = o->err.temporary ? SPOOL_RCPT_TEMP :
				    SPOOL_RCPT_PERM;
			if (o->sent_ok && s == SMTP_RCPT_PENDING)
				s = SPOOL_RCPT_TEMP;
			if (o->res.maybe_delivered && s == SMTP_RCPT_OK)
				s = SPOOL_RCPT_TEMP;
			rc->state = s;
			if (rr->code) {
				rc->code = rr->code;
				queue_reply_text(text, sizeof(text), rr->enh,
				    rr->text);
				queue_set_str(&rc->text, text);
			} else if (!o->sent_ok && o->err.code) {
				rc->code = o->err.code;
				queue_set_str(&rc->text, o->err.text);
			}
		}
		if (o->res.reply[0])
			queue_set_own(&r->reply, o->res.reply);
		else if (!o->sent_ok && o->err.code) {
			snprintf(text, sizeof(text), "%d %s", o->err.code,
			    o->err.text);
			queue_set_own(&r->reply, text);
		}
		if (o->res.maybe_delivered)
			r->dup = 1;
	}
	for (i = 0; i < r->nrcpts; i++) {
		switch (r->rcpts[i].state) {
		case SPOOL_RCPT_OK: nok++; break;
		case SPOOL_RCPT_PERM:
			nperm++;
			if (!first_perm)
				first_perm = r->rcpts[i].addr;
			break;
		default:
			ntemp++;
			if (!first_temp)
				first_temp = r->rcpts[i].addr;
			break;
		}
	}
	if (o->local && !o->local_temp) {
		/* what is wrong is the message itself: error says what */
		st = nok ? OB_PARTIAL : OB_FAILED;
	} else if (ntemp || r->nrcpts == 0) {
		st = OB_DEFERRED;
		age = now - r->queued;
		if (retry_expired(age, a ? a->max_queue_time :
		    CFG_DEFAULT_MAX_QUEUE_TIME)) {
			expired = 1;
			st = nok ? OB_PARTIAL : OB_FAILED;
			for (i = 0; i < r->nrcpts; i++)
				if (r->rcpts[i].state != SPOOL_RCPT_OK)
					r->rcpts[i].state = SPOOL_RCPT_PERM;
			char dur[48];

			queue_duration(age, dur, sizeof(dur));
			snprintf(text, sizeof(text), "expired after %s in the "
			    "queue (max_queue_time); the message stays in the "
			    "spool", dur);
			queue_set_str(&r->error, text);
		} else {
			unsigned j = 0;

			RAND_bytes((unsigned char *)&j, sizeof(j));
			r->next = now + retry_delay(age,
			    a ? a->retry_min : CFG_DEFAULT_RETRY_MIN,
			    a ? a->retry_max : CFG_DEFAULT_RETRY_MAX, j % 1000);
			if (o->local)
				snprintf(text, sizeof(text), "%s; tried again "
				    "later", o->local_err);
			else if (!o->sent_ok)
				queue_err_text(&o->err, text, sizeof(text));
			else if (o->res.maybe_delivered)
				snprintf(text, sizeof(text), "connection lost "
				    "after the final dot; sent again later");
			else
				snprintf(text, sizeof(text), "recipient %s "
				    "deferred by server", first_temp ?
				    first_temp : "?");
			queue_set_str(&r->error, text);
		}
	} else if (nperm == 0) {
		st = OB_SENT;
		queue_set_str(&r->error, NULL);
	} else {
		st = nok ? OB_PARTIAL : OB_FAILED;
		if (o->local)
			;   /* error already says what to fix */
		else if (!o->sent_ok && nok == 0)
			queue_set_str(&r->error, o->err.text);
		else {
			snprintf(text, sizeof(text), "recipient %s refused by "
			    "server: check the address", first_perm ?
			    first_perm : "?");
			queue_set_str(&r->error, text);
		}
	}
	if (st != OB_SENT && st != OB_DEFERRED && r->error == NULL)
		queue_set_str(&r->error, "refused by the server");
	pub->attempt = attempt;   /* to the log by queue_write_log */
	pub->m = m;
	pub->a = a;
	pub->st = st;
	pub->alen = alen;
	pub->expired = expired;
	pub->local = o->local;
	pub->code = o->res.code ? o->res.code : o->err.code;
}

/*
 * Holds PUB: its outcome could not be recorded (step WHAT failed with
 * errno E). The message stays busy in `sending` (no new attempt), its
 * status says why, and the committer tries again later. Committer
 * thread only.
 */
static void queue_hold(struct ob *ob, struct ob_pub *pub, const char *what,
    int e)
{
	struct ob_pub *nh;
	char text[400];

	snprintf(text, sizeof(text), "spool: the outcome of this attempt "
	    "could not be recorded (%s: %s); it is written again every %d s, "
	    "and no new attempt is made until it is", what, strerror(e),
	    ob->spool_retry_s);
	log_warnx("message %" PRIu64 ": %s", pub->m->r.id, text);
	pthread_mutex_lock(&ob->mu);
	if (ob_live(pub->m)) {
		free(pub->m->lv->hold_err);
		pub->m->lv->hold_err = strdup(text);
	}
	pthread_mutex_unlock(&ob->mu);
	ob_notify(ob, pub->m->r.id);
	pub->retry_ms = clock_mono_ms() + QUEUE_SPOOL_RETRY_MS(ob);
	nh = realloc(ob->held, (ob->nheld + 1) * sizeof(*nh));
	while (nh == NULL) {
		sleep(1);
		nh = realloc(ob->held, (ob->nheld + 1) * sizeof(*nh));
	}
	ob->held = nh;
	ob->held[ob->nheld++] = *pub;
}

/* Frees what PUB owns (its reference excepted). */
static void queue_pub_clear(struct ob_pub *pub)
{
	spool_rec_free(&pub->rec);
	free(pub->attempt);
	pub->attempt = NULL;
}

/*
 * THE verb that records outcomes, for LIST[0..N): each one's transcript
 * appended to its log, its record written (both checked), one commit of
 * the journal for all, then each is shown. One that fails a step is
 * held (queue_hold) and comes back here later. Committer thread, or the
 * last call at stop; no lock held.
 */
static void queue_record(struct ob *ob, struct ob_pub *list, size_t n,
    struct queue_item *items, size_t ni)
{
	size_t i;
	int e, any = 0;
	uint64_t ticket;
	char *ok;

	ok = calloc(n ? n : 1, 1);
	while (ok == NULL) {
		sleep(1);
		ok = calloc(n ? n : 1, 1);
	}
	for (i = 0; i < n; i++) {
		struct ob_pub *p = &list[i];

		if (p->stage == 0) {
			uint64_t at;
			int lfd;

			pthread_mutex_lock(&ob->mu);
			at = ob_log_len(ob, p->m);
			lfd = ob_take_log_fd(ob, p->m);
			pthread_mutex_unlock(&ob->mu);
			if (lfd >= 0 && p->alen == 0) {
				close(lfd);
				lfd = -1;
			}
			if (p->alen && (lfd >= 0 ? spool_append_log_fd(lfd, at,
			    p->attempt, p->alen) : spool_append_log(&ob->spool,
			    p->m->r.id, at, p->attempt, p->alen)) < 0) {
				queue_hold(ob, p, "transcript", errno);
				continue;
			}
			free(p->attempt);
			p->attempt = NULL;
			p->stage = 1;
		}
		if (p->stage == 1) {
			if (ob_commit_rec(ob, p->m, &p->rec, p->st) < 0) {
				queue_hold(ob, p, "record", errno);
				continue;
			}
			spool_rec_free(&p->rec);   /* the old record */
		} else if (ob_save_as(ob, p->m, p->st, 0) < 0) {
			/* written before, but its commit failed: again */
			queue_hold(ob, p, "record", errno);
			continue;
		}
		p->stage = 2;
		ok[i] = 1;
		any = 1;
	}
	/* Durable before anyone sees an outcome: by the commit of the
	 * batch of new messages ITEMS when there is one (it starts after
	 * these records were written), else by a commit of their own. */
	ticket = spool_sync_ticket(&ob->spool);
	if (ni)
		queue_commit_batch(ob, items, ni);
	if (any && spool_sync_for(&ob->spool, ticket) < 0) {
		e = errno;
		for (i = 0; i < n; i++)
			if (ok[i]) {
				ok[i] = 0;
				queue_hold(ob, &list[i], "journal commit", e);
			}
	}
	for (i = 0; i < n; i++)
		if (ok[i]) {
			queue_publish(ob, &list[i]);
			queue_pub_clear(&list[i]);
			ob_unref(ob, list[i].m);
		}
	free(ok);
}

/*
 * Hands an applied outcome to the committer, which records and shows
 * it: the connection goes on meanwhile. The reference goes with it.
 */
static void queue_hand_over(struct ob *ob, struct ob_pub *pub)
{
	struct ob_pub *np;

	pthread_mutex_lock(&ob->mu);
	while (ob->npubs == ob->pubcap) {
		size_t nc = ob->pubcap ? ob->pubcap * 2 : 64;

		np = realloc(ob->pubs, nc * sizeof(*np));
		if (np != NULL) {
			ob->pubs = np;
			ob->pubcap = nc;
			break;
		}
		pthread_mutex_unlock(&ob->mu);
		log_warnx("out of memory handing over an outcome; waiting");
		sleep(1);
		pthread_mutex_lock(&ob->mu);
	}
	ob->pubs[ob->npubs++] = *pub;
	pthread_cond_broadcast(&ob->commit_cv);
	pthread_mutex_unlock(&ob->mu);
}

/* Records every handed-over outcome, and the held ones whose time has
 * come (all of them with ALL), committing the batch ITEMS[0..NI) with
 * them. ob->mu NOT held. */
static void queue_publish_all(struct ob *ob, int all,
    struct queue_item *items, size_t ni)
{
	struct ob_pub *list;
	size_t n, i, k;
	int64_t now = clock_mono_ms();

	pthread_mutex_lock(&ob->mu);
	list = ob->pubs;
	n = ob->npubs;
	ob->pubs = NULL;
	ob->npubs = ob->pubcap = 0;
	pthread_mutex_unlock(&ob->mu);
	/* the held ones join the list (committer thread only) */
	for (i = k = 0; i < ob->nheld; i++) {
		if (all || ob->held[i].retry_ms <= now) {
			struct ob_pub *nl = realloc(list, (n + 1) *
			    sizeof(*nl));

			if (nl != NULL) {
				list = nl;
				list[n++] = ob->held[i];
				continue;
			}
		}
		ob->held[k++] = ob->held[i];
	}
	ob->nheld = k;
	if (n || ni)
		queue_record(ob, list, n, items, ni);
	free(list);
}

/* The earliest retry of a held outcome, -1 when none (committer). */
static int64_t queue_held_next(const struct ob *ob)
{
	int64_t t = -1;
	size_t i;

	for (i = 0; i < ob->nheld; i++)
		if (t < 0 || ob->held[i].retry_ms < t)
			t = ob->held[i].retry_ms;
	return t;
}

/*
 * Ends M's attempt without a session (prepare, password or connect
 * failed): LOCAL_ERR for a reason of this machine (LOCAL_TEMP: a passing
 * one), else ERR. Handed to the committer like any outcome, so a server
 * that refuses every connection costs no sync per message.
 */
static void queue_fail_early(struct ob *ob, struct ob_msg *m,
    const struct cfg_account *a, const struct smtp_error *err,
    const char *local_err, int local_temp)
{
	struct queue_outcome o;
	struct ob_pub pub;

	memset(&o, 0, sizeof(o));
	memset(&pub, 0, sizeof(pub));
	if (local_err) {
		o.local = 1;
		o.local_temp = local_temp;
		snprintf(o.local_err, sizeof(o.local_err), "%s", local_err);
	} else {
		o.err = *err;
		o.conn_fail = 1;
	}
	pthread_mutex_lock(&ob->mu);
	ob_ref(m);                   /* the caller keeps its own */
	pthread_mutex_unlock(&ob->mu);
	queue_apply(ob, m, a, &o, &pub);
	queue_hand_over(ob, &pub);
}

/*
 * Shows an applied outcome: the caller wrote its log and made it durable
 * (spool_sync) first. Drops nothing: the caller still holds its
 * reference.
 */
static void queue_publish(struct ob *ob, const struct ob_pub *pub)
{
	struct ob_msg *m = pub->m;
	const struct cfg_account *a = pub->a;
	enum ob_state st = pub->st;
	size_t alen = pub->alen, i;
	char *logfile = NULL, *logline = NULL;
	char line[1800];

	pthread_mutex_lock(&ob->mu);
	if (alen && m->log_len != OB_LOG_UNKNOWN)
		m->log_len += alen;
	/* the attempt is in the log now: its buffer goes (100,000 waiting
	 * messages must not each keep one) */
	if (m->lv) {
		buf_free(&m->lv->cur);
		m->lv->prog_sent = m->lv->prog_total = 0;
		free(m->lv->hold_err);
		m->lv->hold_err = NULL;
		ob_live_drop(m);
	}
	m->busy = 0;
	if (st == OB_DEFERRED && m->touched) {
		/* touched while this attempt ran: the user wants it now */
		m->r.next = ob_wall();
		ob_set_state(ob, m, OB_QUEUED);
	} else {
		ob_set_state(ob, m, st);
	}
	m->touched = 0;
	/* Prepared again for its next attempt (the same bytes: its
	 * Message-ID and Date are in its record): a deferred message keeps
	 * no copy of its header in memory while it waits. */
	if (m->prep && m->r.state != OB_QUEUED) {
		msg_free(m->prep);
		free(m->prep);
		m->prep = NULL;
	}
	{
		char rl[1024];
		size_t off = 0;

		rl[0] = '\0';
		for (i = 0; i < m->r.nrcpts && off < sizeof(rl) - 1; i++) {
			int w = snprintf(rl + off, sizeof(rl) - off, "%s%s",
			    i ? "," : "", m->r.rcpts[i].addr);

			if (w < 0)
				break;
			off += (size_t)w;
		}
		snprintf(line, sizeof(line), "host=%s tls=%s auth=%s from=%s "
		    "recipients=%s mailsize=%" PRIu64 " smtpstatus=%d "
		    "smtpmsg='%s' exitcode=%s uid=%lu user=%s file=%s%s%s%s",
		    a && a->host ? a->host : "-", a && a->tls ? "on" : "off",
		    a && a->auth != CFG_AUTH_OFF ? "on" : "off",
		    m->r.from ? m->r.from : "-", rl, m->r.size, pub->code,
		    m->r.reply ? m->r.reply : "", queue_exitcode(st,
		    pub->local), (unsigned long)m->r.uid,
		    users_name(&ob->names, m->r.uid), m->r.dir ? m->r.dir : "", m->r.dir ? "/" : "",
		    m->r.name, pub->expired ? " (expired)" : "");
		if (a && a->logfile && strcmp(a->logfile, "-") != 0)
			logfile = strdup(a->logfile);
		if (logfile)
			logline = strdup(line);
	}
	pthread_mutex_unlock(&ob->mu);
	/* A stderr pipe nobody reads, or a stuck syslog, may block: never
	 * with ob->mu held. */
	log_info("%s", line);
	if (logfile && logline)
		log_file(logfile, "%s", logline);   /* file I/O: not under mu */
	free(logfile);
	free(logline);
	ob_notify(ob, m->r.id);
}

/* Makes sure M has its prepared message; NULL with err on failure
 * (*temp: for a passing local reason). */
static struct msg *queue_ensure_prep(struct ob *ob, struct ob_msg *m,
    const struct cfg_account **a, char *err, size_t errlen, int *temp)
{
	struct msg *pm;

	*temp = 0;
	pthread_mutex_lock(&ob->mu);
	pm = m->prep;
	pthread_mutex_unlock(&ob->mu);
	if (pm)
		return pm;
	pm = queue_prepare(ob, m, m->r.queued ? m->r.queued : ob_wall(), a,
	    err, errlen, temp);
	if (pm == NULL)
		return NULL;
	pthread_mutex_lock(&ob->mu);
	queue_fill_envelope(m, pm, *a);
	m->prep = pm;
	pthread_mutex_unlock(&ob->mu);
	return pm;
}

/* Starts M's attempt transcript with its "--- attempt" line. */
static void queue_attempt_start(struct ob *ob, struct ob_msg *m,
    const struct cfg_account *a, struct smtp_session *reused)
{
	char line[512], hp[300];
	const char *pro;

	acct_hostport(a, hp, sizeof(hp));
	status_attempt_line(line, sizeof(line), m->r.attempts, ob_wall(), hp,
	    reused ? "(connection reused; it opened with:)" : NULL);
	pthread_mutex_lock(&ob->mu);
	if (m->lv)
		buf_reset(&m->lv->cur);
	ob_transcript_add(m, line, strlen(line) - 1);
	if (reused && (pro = smtp_prologue(reused)) != NULL) {
		const char *p = pro, *nl;

		while (*p && (nl = strchr(p, '\n')) != NULL) {
			ob_transcript_add(m, p, (size_t)(nl - p));
			p = nl + 1;
		}
		ob_transcript_add(m, "[...]", 5);
	}
	pthread_mutex_unlock(&ob->mu);
}

/* The recipients of M still to be tried, into *RCPTS (and their index
 * in m->r.rcpts into *IDX when not NULL); their count. -1: out of
 * memory (nothing allocated). */
static ssize_t queue_rcpts(struct ob *ob, struct ob_msg *m,
    const char ***rcpts, size_t **idx)
{
	size_t i, n = 0;

	*rcpts = calloc(m->r.nrcpts + 1, sizeof(**rcpts));
	if (idx)
		*idx = calloc(m->r.nrcpts + 1, sizeof(**idx));
	if (*rcpts == NULL || (idx && *idx == NULL)) {
		free(*rcpts);
		*rcpts = NULL;
		if (idx) {
			free(*idx);
			*idx = NULL;
		}
		return -1;
	}
	pthread_mutex_lock(&ob->mu);
	for (i = 0; i < m->r.nrcpts; i++)
		if (m->r.rcpts[i].state != SPOOL_RCPT_OK &&
		    m->r.rcpts[i].state != SPOOL_RCPT_PERM) {
			(*rcpts)[n] = m->r.rcpts[i].addr;
			if (idx)
				(*idx)[n] = i;
			n++;
		}
	pthread_mutex_unlock(&ob->mu);
	return (ssize_t)n;
}

/* Sends M over S. Fills *o; 1 when the final "." is out and its reply
 * still to be read (queue_send_end), else 0. ob->mu not held. */
static int queue_send_begin(struct ob *ob, struct smtp_session *s,
    struct ob_msg *m, struct msg *pm, struct queue_outcome *o)
{
	const char **rcpts = NULL;
	struct smtp_rcpt_result *rr = NULL;
	ssize_t nr;
	size_t n = 0;
	int fd, rc;

	memset(o, 0, sizeof(*o));
	o->connected = 1;
	snprintf(o->server, sizeof(o->server), "%s", smtp_server_desc(s));
	nr = queue_rcpts(ob, m, &rcpts, &o->idx);
	if (nr >= 0) {
		n = (size_t)nr;
		rr = calloc(n + 1, sizeof(*rr));
	}
	if (rcpts == NULL || o->idx == NULL || rr == NULL) {
		o->err.fail = SMTP_FAIL_LOCAL;
		o->err.temporary = 1;
		snprintf(o->err.text, sizeof(o->err.text), "out of memory");
		goto out;
	}
	/* a message that keeps its image is sent from it */
	fd = pm->img ? -1 : spool_open_msg(&ob->spool, m->r.id, O_RDONLY);
	if (fd < 0 && pm->img == NULL) {
		o->err.fail = SMTP_FAIL_LOCAL;
		o->err.temporary = 1;
		snprintf(o->err.text, sizeof(o->err.text), "spool: cannot open "
		    "the message: %s", strerror(errno));
		goto out;
	}
	o->res.rcpts = rr;
	o->res.nrcpts = n;
	rc = smtp_send_begin(s, pm, fd, rcpts, n, &o->res, &o->err);
	if (fd >= 0)
		close(fd);
	rr = NULL;
	if (rc == 1) {
		o->rcpts = rcpts;
		return 1;
	}
	o->sent_ok = rc == 0;
out:
	free(rr);
	free(rcpts);
	return 0;
}

/*
 * The message after the next one of a connection, made ready while the
 * server works on the "." before them (smtp_send_next_while), so that
 * getting a message ready (reading and preparing it, writing its
 * `sending` record) is not part of any round trip.
 */
static struct ob_msg *queue_pick_ready(struct ob *ob,
    const struct cfg_account *a, struct msg **pm,
    const struct cfg_account **ma);

struct queue_ahead {
	struct ob *ob;
	const struct cfg_account *a;   /* the connection's account */
	int skip;                      /* the next one is large: none */
	struct ob_msg *m;              /* ready, or NULL; a reference */
	struct msg *pm;
	const struct cfg_account *ma;  /* what queue_ready gave for it */
};

/* Only behind a next message this small: one made ready is `sending`
 * (rm says EBUSY) until its turn, and behind a large one that would be
 * the whole transfer, for a round trip that is nothing beside it. */
#define QUEUE_AHEAD_BEHIND (64 * 1024)

static void queue_get_ahead(void *arg)
{
	struct queue_ahead *ah = arg;

	if (ah->m == NULL && !ah->skip)
		ah->m = queue_pick_ready(ah->ob, ah->a, &ah->pm, &ah->ma);
}

/* Takes AH's message as *M (its *PM, *A); 0 when there was none. */
static int queue_take_ahead(struct queue_ahead *ah, struct ob_msg **m,
    struct msg **pm, const struct cfg_account **a)
{
	if (ah->m == NULL)
		return 0;
	*m = ah->m;
	*pm = ah->pm;
	*a = ah->ma;
	ah->m = NULL;
	return 1;
}

/* The reply to the "." queue_send_begin sent: the rest of *o. With
 * NEXT (made ready as PM for the same account), its envelope goes out
 * first, behind the "." (smtp_send_next): its replies come with that
 * one's, and its queue_send_begin on S reads them; AH gets the message
 * after NEXT ready while the server works. */
static void queue_send_end(struct ob *ob, struct smtp_session *s,
    struct queue_outcome *o, struct ob_msg *next, struct msg *pm,
    struct queue_ahead *ah)
{
	const char **rcpts = NULL;
	ssize_t n = -1;

	if (next != NULL)
		n = queue_rcpts(ob, next, &rcpts, NULL);
	if (n > 0)
		o->sent_ok = smtp_send_next_while(s, pm, rcpts, (size_t)n,
		    queue_get_ahead, ah) == 0;
	else
		o->sent_ok = smtp_send_end(s) == 0;
	free(rcpts);
	free(o->rcpts);
	o->rcpts = NULL;
}

static void queue_outcome_free(struct queue_outcome *o)
{
	free(o->res.rcpts);
	free(o->idx);
	o->res.rcpts = NULL;
	o->idx = NULL;
}

/*
 * A refused login (535) pauses account A: no message of it is tried (no
 * new login, which a provider may count towards locking the account)
 * until the user touches one of its messages or mounts again (with a
 * fixed configuration). Every waiting message of A says so.
 */
static void queue_pause(struct ob *ob, const struct cfg_account *a,
    const struct smtp_error *err)
{
	char text[700];

	snprintf(text, sizeof(text), "%s; the account %s is paused: no "
	    "login is tried again until you fix the password and touch one "
	    "of its messages (or mount again)", err->text,
	    a && a->name ? a->name : "default");
	pthread_mutex_lock(&ob->mu);
	ob_pause(ob, a, text);
	pthread_mutex_unlock(&ob->mu);
	log_warnx("%s", text);
}

/*
 * Writes M's `sending` record. When it cannot be written, the attempt is
 * not made: M is deferred for that passing local reason. -1 then.
 */
static int queue_mark_sending(struct ob *ob, struct ob_msg *m,
    const struct cfg_account *a)
{
	char text[300];

	if (ob_save_as(ob, m, OB_SENDING, 0) == 0)
		return 0;
	snprintf(text, sizeof(text), "spool: the attempt could not be "
	    "recorded (%s)", strerror(errno));
	queue_fail_early(ob, m, a, NULL, text, 1);
	return -1;
}

/* 1 when a message of another account than A waits to be sent. ob->mu
 * held. */
static int queue_other_due(struct ob *ob, const struct cfg_account *a)
{
	struct ob_msg *m;

	TAILQ_FOREACH(m, &ob->run.q, q)
		if (!m->busy && ob_msg_account(ob, m) != a &&
		    !ob_paused(ob, ob_msg_account(ob, m)))
			return 1;
	return 0;
}

/*
 * Waits up to A's connection_cache time for a due message of A, to send
 * it on the connection kept open; NULL when none came, when the daemon
 * stops, or when a message of another account needs this thread.
 */
static struct ob_msg *queue_cache_wait(struct ob *ob,
    const struct cfg_account *a)
{
	struct ob_msg *m = NULL;
	struct timespec ts;
	int64_t until = clock_mono_ms() + a->cache_ms;

	pthread_mutex_lock(&ob->mu);
	queue_deadline(&ts, until);
	ob_cache_count(ob, a, 1);
	while (!ob->stopping && (m = queue_pick(ob, a)) == NULL &&
	    !queue_other_due(ob, a) && clock_mono_ms() < until)
		pthread_cond_timedwait(&ob->run_cv, &ob->mu, &ts);
	ob_cache_count(ob, a, -1);
	if (m == NULL)
		pthread_cond_broadcast(&ob->run_cv);   /* others may take */
	pthread_mutex_unlock(&ob->mu);
	return m;
}

/*
 * M made ready to go: prepared (*A: the account it was prepared for)
 * and its `sending` record written, so that a restart after a crash warns
 * it may arrive twice. NULL when it cannot be: it is then deferred or
 * failed already; the caller still holds its reference.
 */
static struct msg *queue_ready(struct ob *ob, struct ob_msg *m,
    const struct cfg_account **a)
{
	struct msg *pm;
	char perr[512];
	int temp = 0;

	pm = queue_ensure_prep(ob, m, a, perr, sizeof(perr), &temp);
	if (pm == NULL) {
		queue_fail_early(ob, m, *a, NULL, perr, temp);
		return NULL;
	}
	*a = ob_msg_account(ob, m);
	return queue_mark_sending(ob, m, *a) < 0 ? NULL : pm;
}

/*
 * The next message of account A, made ready to go while the server
 * takes the data of the one before; NULL when there is none, or it
 * failed to get ready (then it is deferred or failed as it would have
 * been after the reply).
 */
static struct ob_msg *queue_pick_ready(struct ob *ob,
    const struct cfg_account *a, struct msg **pm,
    const struct cfg_account **ma)
{
	struct ob_msg *m;

	pthread_mutex_lock(&ob->mu);
	m = ob->stopping ? NULL : queue_pick(ob, a);
	pthread_mutex_unlock(&ob->mu);
	if (m == NULL)
		return NULL;
	*ma = a;
	*pm = queue_ready(ob, m, ma);
	if (*pm == NULL) {
		ob_unref(ob, m);
		return NULL;
	}
	return m;
}

static void queue_run_connection(struct ob *ob, struct ob_msg *m)
{
	const struct cfg_account *a = NULL;
	struct smtp_params p;
	struct smtp_session *s = NULL;
	struct smtp_error err;
	struct queue_outcome o;
	struct queue_conn conn = { ob, NULL, "", 0 };
	struct ob_msg *next, *early;
	const struct cfg_account *ea = NULL;
	struct msg *pm, *epm = NULL;
	struct queue_ahead ah = { ob, NULL, 0, NULL, NULL, NULL };
	char port[16], perr[512];
	char *secret = NULL;
	struct ob_pub pub;
	int rc;

	/* An attempt in flight is on disk before any byte is sent */
	pm = queue_ready(ob, m, &a);
	if (pm == NULL) {
		ob_unref(ob, m);
		return;
	}
	queue_params(a, &p, port, sizeof(port));
	p.tag = &conn;
	memset(&err, 0, sizeof(err));
	if (p.auth_mech) {
		rc = cfg_password(a, &secret, perr, sizeof(perr));
		if (rc < 0) {
			err.fail = SMTP_FAIL_AUTH;
			err.temporary = 1;
			snprintf(err.step, sizeof(err.step), "password");
			snprintf(err.text, sizeof(err.text), "%s", perr);
			queue_attempt_start(ob, m, a, NULL);
			queue_fail_early(ob, m, a, &err, NULL, 0);
			ob_unref(ob, m);
			return;
		}
		p.secret = secret;
	}
	conn.m = m;
	queue_attempt_start(ob, m, a, NULL);
	if (smtp_connect(&p, &s, &err) < 0) {
		conn.m = NULL;
		if (err.fail == SMTP_FAIL_AUTH && err.code == 535)
			queue_pause(ob, a, &err);
		queue_fail_early(ob, m, a, &err, NULL, 0);
		ob_unref(ob, m);
		goto out;
	}
	for (;;) {
		early = NULL;
		ah.a = a;
		if (queue_send_begin(ob, s, m, pm, &o)) {
			/* its "." waits in the buffer to go out with the
			 * next one's envelope: the one made ready during
			 * the last round trip, or one made ready now */
			if (!queue_take_ahead(&ah, &early, &epm, &ea))
				early = queue_pick_ready(ob, a, &epm, &ea);
			ah.skip = early && epm->size > QUEUE_AHEAD_BEHIND;
			queue_send_end(ob, s, &o, early, epm, &ah);
		} else if (o.err.stale) {
			/* the kept connection was closed meanwhile: nothing
			 * of M went; M goes on a new one, its transcript a
			 * first connection's (smtp_alive) */
			queue_outcome_free(&o);
			smtp_close(s);
			s = NULL;
			goto connect;
		} else {
			/* ended before its ".": the one made ready ahead
			 * is the next, as if made ready now */
			(void)queue_take_ahead(&ah, &early, &epm, &ea);
		}
		next = NULL;
		if (early) {
			/* ready before the reply: on this connection if it
			 * can carry it, else on a new one */
			next = early;
			if (o.sent_ok && o.res.code >= 200 && o.res.code < 300) {
				pthread_mutex_lock(&ob->mu);
				queue_retry_account(ob, a);
				pthread_mutex_unlock(&ob->mu);
			}
			if (!o.res.reusable) {
				smtp_close(s);
				s = NULL;
			}
		} else if (o.sent_ok ||
		    (o.res.reusable && !o.res.maybe_delivered)) {
			pthread_mutex_lock(&ob->mu);
			if (o.sent_ok && o.res.code >= 200 && o.res.code < 300)
				queue_retry_account(ob, a);
			if (!ob->stopping && o.res.reusable)
				next = queue_pick(ob, a);
			pthread_mutex_unlock(&ob->mu);
		}
		if (next == NULL && !(o.res.reusable && a->cache_ms)) {
			if (o.res.reusable)
				smtp_quit(s);
			else
				smtp_close(s);
			s = NULL;
		}
		conn.m = NULL;
		if (next == NULL && s != NULL) {
			pthread_mutex_lock(&ob->mu);
			ob_ref(m);       /* for the QUIT at the end */
			pthread_mutex_unlock(&ob->mu);
		}
		/* Shown by the committer after its next sync: the
		 * connection goes on meanwhile. */
		queue_apply(ob, m, a, &o, &pub);
		queue_outcome_free(&o);
		queue_hand_over(ob, &pub);
		if (next == NULL && s != NULL) {
			/* kept a moment for the next message of the account:
			 * it then pays no connect, greeting, TLS or login */
			next = queue_cache_wait(ob, a);
			if (next == NULL) {
				queue_cache_quit(ob, s, &conn, m);
				s = NULL;
			} else {
				ob_unref(ob, m);
				if (!smtp_alive(s)) {
					smtp_close(s);   /* closed by the server */
					s = NULL;
				}
			}
		}
		if (next == NULL)
			break;
		m = next;
		if (early) {
			pm = epm;
			a = ea;
		} else {
			pm = queue_ready(ob, m, &a);
		}
		if (pm == NULL) {
			ob_unref(ob, m);
			smtp_quit(s);
			s = NULL;
			break;
		}
connect:
		if (s == NULL) {
			/* a new connection, as for a first message */
			queue_attempt_start(ob, m, a, NULL);
			conn.m = m;
			if (smtp_connect(&p, &s, &err) < 0) {
				conn.m = NULL;
				if (err.fail == SMTP_FAIL_AUTH &&
				    err.code == 535)
					queue_pause(ob, a, &err);
				queue_fail_early(ob, m, a, &err, NULL, 0);
				ob_unref(ob, m);
				s = NULL;
				/* the one made ready behind it had its
				 * attempt on disk: it ends the same way */
				if (queue_take_ahead(&ah, &m, &pm, &a)) {
					queue_attempt_start(ob, m, a, NULL);
					queue_fail_early(ob, m, a, &err, NULL,
					    0);
					ob_unref(ob, m);
				}
				break;
			}
			continue;
		}
		queue_attempt_start(ob, m, a, s);
		conn.m = m;
		smtp_set_tag(s, &conn);
	}
out:
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}

static void *queue_delivery(void *arg)
{
	struct ob *ob = arg;
	struct ob_msg *m;
	struct timespec ts;
	int64_t next;

	(void)pthread_setname_np(pthread_self(), "outboxfs-smtp");
	pthread_mutex_lock(&ob->mu);
	while (!ob->stopping) {
		m = queue_pick(ob, NULL);
		if (m == NULL) {
			next = queue_wake_due(ob);
			if (next) {
				/* in seconds first: a next attempt read from
				 * the journal may be far in the future */
				int64_t secs = next - ob_wall(), wait_ms;

				if (secs > 86400)
					secs = 86400;
				wait_ms = secs * 1000;
				if (wait_ms < 10)
					wait_ms = 10;
				queue_deadline(&ts, clock_mono_ms() + wait_ms);
				pthread_cond_timedwait(&ob->run_cv, &ob->mu,
				    &ts);
			} else {
				pthread_cond_wait(&ob->run_cv, &ob->mu);
			}
			continue;
		}
		ob->sending_now++;
		pthread_mutex_unlock(&ob->mu);
		queue_run_connection(ob, m);
		pthread_mutex_lock(&ob->mu);
		ob->sending_now--;
	}
	pthread_mutex_unlock(&ob->mu);
	queue_thread_done(ob);
	return NULL;
}

int queue_start(struct ob *ob)
{
	unsigned i, n = ob->connections + 1;
	int rc;

	ob->threads = calloc(n, sizeof(*ob->threads));
	if (ob->threads == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&ob->mu);
		ob->nthreads++;
		pthread_mutex_unlock(&ob->mu);
		rc = pthread_create(&ob->threads[i], NULL, i == 0 ?
		    queue_committer : queue_delivery, ob);
		if (rc != 0) {
			queue_thread_done(ob);
			queue_stop(ob, 5000);
			errno = rc;
			return -1;
		}
		ob->nstarted++;
	}
	return 0;
}

unsigned queue_stop(struct ob *ob, int wait_ms)
{
	struct timespec ts;
	int64_t until = clock_mono_ms() + wait_ms;
	unsigned left, i;

	pthread_mutex_lock(&ob->mu);
	ob->stopping = 1;
	pthread_cond_broadcast(&ob->commit_cv);
	pthread_cond_broadcast(&ob->run_cv);
	while (ob->nthreads > 0 && clock_mono_ms() < until) {
		queue_deadline(&ts, until);
		pthread_cond_timedwait(&ob->idle_cv, &ob->mu, &ts);
	}
	left = ob->nthreads;
	pthread_mutex_unlock(&ob->mu);
	/* Joined when all are done (their thread-local state, OpenSSL's
	 * included, is then freed); else left to end with the process. */
	for (i = 0; i < ob->nstarted; i++) {
		if (left == 0)
			pthread_join(ob->threads[i], NULL);
		else
			pthread_detach(ob->threads[i]);
	}
	ob->nstarted = 0;
	if (left == 0) {
		free(ob->threads);
		ob->threads = NULL;
		/* outcomes handed over after the committer's last pass, and
		 * one more try for the held ones (those that still cannot
		 * be recorded stay `sending` on disk: the next start sends
		 * them again, with the warning) */
		queue_publish_all(ob, 1, NULL, 0);
	}
	return left;
}
