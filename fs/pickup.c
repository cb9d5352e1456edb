/*
 * pickup — maildrop/ into the outbox (see pickup.h and drop.h).
 *
 * Must never: remove a drop before the record of the message made from
 * it is durable; make two messages of one drop; hold ob->mu or ob->rmu
 * across a read, a write or a sync; delete a file it does not
 * understand (it is set aside in corrupt/).
 *
 * WHO A DROP IS FROM. The file's owner (users_maildrop_owner: one link,
 * not writable by group or others, not set-id), never its uid line,
 * which must only agree; that user must pass users/groups. A drop that
 * fails is set aside in corrupt/ with a log line, before step 1: it
 * never becomes a message. The message is created with the owner's uid
 * and primary group; another user's -f is dropped from the envelope.
 *
 * WHAT A CRASH DURING A PICKUP LEAVES, AND WHAT THE NEXT START DOES
 * (qmail INTERNALS style). Drop D becomes message "sendmail-D" (or
 * "sendmail-D-K", K = 1..9, when a file of the user already has the
 * name) in these steps:
 *
 *   1. ob_create: msg/ID (empty) and a draft record, closed 0, not
 *      synced. The message is busy from its insert on: rm and mv get
 *      EBUSY until step 5, so its name cannot change under the pickup.
 *   2. the message bytes copied from D to msg/ID; fsync of msg/ID and
 *      of msg/.
 *   3. the record "draft, closed 1, envelope 1" with the envelope, and
 *      a sync of the journal (the group commit).
 *   4. D unlinked, fsync of maildrop/. When the journal cannot be
 *      synced (or D unlinked), the message stays busy (OB_BUSY_DROP):
 *      not submitted, and rm and mv still get EBUSY, until a retry of
 *      D finds it by its envelope and does step 4 again; removed with
 *      D left behind, D would be picked up again, a second message.
 *   5. submitted (the committer's batch writes and syncs "queued").
 *
 * A start finds, for a drop D still in maildrop/:
 *   - no message named sendmail-D*: the crash was before step 1's record
 *     reached the disk (msg/ID alone is set aside in corrupt/ by
 *     spool_load). D is picked up again: not lost, one message.
 *   - sendmail-D*, draft, closed 0, without "envelope": the crash was in
 *     steps 1-3, only step 1's record is durable. That draft is ours
 *     (before the mount appears nobody else can have written it): its
 *     bytes are written again from D and steps 3-5 done. One message.
 *   - sendmail-D* with "envelope 1": step 3 was durable, the crash was
 *     before step 4 was. The message is already in the outbox (in
 *     whatever state it reached, sent included): D is only unlinked.
 *     Not sent twice.
 * A start that finds no D has nothing to do: step 4 comes after step 3
 * is durable, so a message whose drop is gone has its record.
 * While mounted the same rules hold, except that a draft of the second
 * kind is never taken over (it could be the user's file): the next free
 * name is used.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/drop.h"
#include "fs/spool.h"
#include "fs/log.h"
#include "fs/pickup.h"
#include "util/clock.h"

#define PICKUP_MAX_NAMES 10       /* sendmail-D, sendmail-D-1 .. -9 */
#define PICKUP_TMP_AGE   (24 * 3600)   /* a temp file older is removed */

struct pickup {
	struct ob *ob;
	pthread_t thread;
	int started;
	int dropfd;               /* SPOOL/maildrop */
	int ifd;                  /* inotify */
	int stopfd[2];            /* a byte written: stop */
};

/* ---- the envelope, for queue.c's prepare ------------------------------ */

void pickup_env_free(struct pickup_env *e)
{
	size_t i;

	free(e->from);
	for (i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->dsn_notify);
	free(e->dsn_ret);
	free(e->dsn_envid);
	memset(e, 0, sizeof(*e));
}

/* The value of KEY= in the record's dsn text ("NOTIFY=x RET=y ENVID=z":
 * ENVID last, to the end), a new string, or NULL. *bad on no memory. */
static char *pickup_dsn_value(const char *dsn, const char *key, int rest,
    int *bad)
{
	const char *p = dsn, *v, *end;
	size_t kl = strlen(key);
	char *out;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0) {
			v = p + kl;
			end = rest ? v + strlen(v) : strchr(v, ' ');
			if (end == NULL)
				end = v + strlen(v);
			out = strndup(v, (size_t)(end - v));
			if (out == NULL)
				*bad = 1;
			return out;
		}
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return NULL;
}

int pickup_env_get(struct ob *ob, struct ob_msg *m, struct pickup_env *e)
{
	size_t i;
	int bad = 0;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&ob->mu);
	if (m->r.envelope) {
		e->set = 1;
		if (m->r.from && (e->from = strdup(m->r.from)) == NULL)
			bad = 1;
		if (!bad && m->r.nrcpts &&
		    (e->rcpts = calloc(m->r.nrcpts, sizeof(*e->rcpts))) == NULL)
			bad = 1;
		for (i = 0; !bad && i < m->r.nrcpts; i++) {
			e->rcpts[i] = strdup(m->r.rcpts[i].addr ?
			    m->r.rcpts[i].addr : "");
			if (e->rcpts[i] == NULL)
				bad = 1;
			else
				e->nrcpts = i + 1;
		}
		if (!bad && m->r.dsn) {
			char *c;

			e->dsn_notify = pickup_dsn_value(m->r.dsn, "NOTIFY=",
			    0, &bad);
			e->dsn_ret = pickup_dsn_value(m->r.dsn, "RET=", 0,
			    &bad);
			/* sendmail's -N failure,delay -R hdrs: the words of
			 * RFC 3461, upper-case on the wire */
			for (c = e->dsn_notify; c && *c; c++)
				*c = (char)toupper((unsigned char)*c);
			for (c = e->dsn_ret; c && *c; c++)
				*c = (char)toupper((unsigned char)*c);
			e->dsn_envid = pickup_dsn_value(m->r.dsn, "ENVID=", 1,
			    &bad);
		}
	}
	pthread_mutex_unlock(&ob->mu);
	if (bad) {
		pickup_env_free(e);
		return -1;
	}
	return 0;
}

void pickup_env_apply(const struct pickup_env *e, struct msg_params *p)
{
	if (e == NULL || !e->set)
		return;
	p->env_from = e->from;
	p->env_rcpts = (const char *const *)e->rcpts;
	p->env_nrcpts = e->nrcpts;
	/* the submitter's DSN request wins over the account's */
	if (e->dsn_notify)
		p->dsn_notify = e->dsn_notify;
	if (e->dsn_ret)
		p->dsn_ret = e->dsn_ret;
	if (e->dsn_envid)
		p->dsn_envid = e->dsn_envid;
}

/* ---- one drop ------------------------------------------------------- */

/* Moves a drop that cannot be read into corrupt/ (never deleted). */
static void pickup_set_aside(struct ob *ob, int dropfd, const char *name,
    const char *why)
{
	char dst[300];

	snprintf(dst, sizeof(dst), "drop-%.200s", name);
	if (renameat(dropfd, name, ob->spool.corruptfd, dst) < 0) {
		log_warn("maildrop: %.200s: %s; cannot set it aside", name,
		    why);
		return;
	}
	fsync(ob->spool.corruptfd);
	fsync(dropfd);
	log_warnx("maildrop: %.200s: %s; set aside as corrupt/%s", name, why,
	    dst);
}


/* SIZE bytes of IN from OFF to OUT (from 0). */
static int pickup_copy(int in, off_t off, uint64_t size, int out)
{
	char buf[65536];
	uint64_t done = 0;
	ssize_t r;

	while (done < size) {
		r = pread(in, buf, size - done < sizeof(buf) ?
		    (size_t)(size - done) : sizeof(buf),
		    off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		if (spool_write_all(out, buf, (size_t)r) < 0)
			return -1;
		done += (uint64_t)r;
	}
	return 0;
}

/* The record of M with E's envelope, closed: its new record (NR
 * owned by the caller). -1 without memory. ob->mu held. */
static int pickup_rec(struct ob_msg *m, const struct drop_env *e,
    struct spool_rec *nr)
{
	char dsn[256];
	size_t i;

	if (spool_rec_dup(nr, &m->r) < 0)
		return -1;
	for (i = 0; i < nr->nrcpts; i++) {
		free(nr->rcpts[i].addr);
		free(nr->rcpts[i].text);
	}
	free(nr->rcpts);
	nr->rcpts = calloc(e->nrcpts, sizeof(*nr->rcpts));
	nr->nrcpts = 0;
	if (nr->rcpts == NULL)
		goto oom;
	for (i = 0; i < e->nrcpts; i++) {
		if ((nr->rcpts[i].addr = strdup(e->rcpts[i])) == NULL)
			goto oom;
		nr->nrcpts = i + 1;
	}
	free(nr->from);
	nr->from = NULL;
	if (e->sender && (nr->from = strdup(e->sender)) == NULL)
		goto oom;
	drop_dsn_text(e, dsn, sizeof(dsn));
	free(nr->dsn);
	nr->dsn = NULL;
	if (dsn[0] && (nr->dsn = strdup(dsn)) == NULL)
		goto oom;
	nr->envelope = 1;
	nr->closed = 1;
	return 0;
oom:
	spool_rec_free(nr);
	return -1;
}

/* The message (referenced, busy) a pickup of drop NAME writes into:
 * taken over (a half pickup, at start only) or created. *done: the drop
 * was already picked up; then the message made of it (referenced, as
 * it is). NULL with errno otherwise. */
static struct ob_msg *pickup_target(struct ob *ob, const char *name,
    uid_t uid, gid_t gid, int at_start, int *done, int *mfd)
{
	char mname[PICKUP_MAX_NAMES][64];
	struct ob_msg *m;
	int k, fd;

	*done = 0;
	*mfd = -1;
	for (k = 0; k < PICKUP_MAX_NAMES; k++)
		snprintf(mname[k], sizeof(mname[k]), k ? "%s%s-%d" : "%s%s",
		    PICKUP_PREFIX, name, k);
	pthread_mutex_lock(&ob->mu);
	for (k = 0; k < PICKUP_MAX_NAMES; k++) {
		m = ob_find_name(ob, -1, mname[k]);
		if (m && m->r.envelope) {
			*done = 1;
			ob_ref(m);
			pthread_mutex_unlock(&ob->mu);
			return m;
		}
	}
	for (k = 0; k < PICKUP_MAX_NAMES; k++) {
		m = ob_find_name(ob, -1, mname[k]);
		if (m == NULL)
			break;
		if (at_start && m->r.state == OB_DRAFT && !m->r.closed &&
		    m->nopen == 0 && !m->busy && m->r.uid == uid) {
			ob_ref(m);
			m->busy = 1;
			ob_settle_cancel(ob, m);
			/* written again whole from its drop: not a draft a
			 * stop cut short (ob_load_one marks those) */
			if (m->resync == OB_RESYNC_WLOST) {
				m->resync = OB_RESYNC_NONE;
				m->r.lost = 0;
				spool_str_free(m->r.error);
				m->r.error = NULL;
			}
			pthread_mutex_unlock(&ob->mu);
			fd = spool_open_msg(&ob->spool, m->r.id, O_RDWR);
			if (fd < 0 || ftruncate(fd, 0) < 0) {
				int saved = errno;

				if (fd >= 0)
					close(fd);
				pthread_mutex_lock(&ob->mu);
				m->busy = 0;
				pthread_mutex_unlock(&ob->mu);
				ob_unref(ob, m);
				errno = saved;
				return NULL;
			}
			*mfd = fd;
			return m;
		}
	}
	pthread_mutex_unlock(&ob->mu);
	if (k == PICKUP_MAX_NAMES) {
		errno = EEXIST;
		return NULL;
	}
	m = ob_create(ob, -1, mname[k], uid, gid, 1, mfd);
	if (m == NULL)
		return NULL;
	return m;
}

/* Undoes a pickup that failed after its message was made: the message
 * goes (its drop stays and is tried again). */
static void pickup_undo(struct ob *ob, struct ob_msg *m)
{
	if (ob_tombstone(ob, m, 0) < 0) {
		/* an unclosed draft is never sent; it stays visible */
		log_warn("maildrop: cannot remove the unfinished %s",
		    m->r.name);
		pthread_mutex_lock(&ob->mu);
		m->busy = 0;
		pthread_mutex_unlock(&ob->mu);
		ob_unref(ob, m);
		return;
	}
	pthread_mutex_lock(&ob->mu);
	m->busy = 0;
	if (!m->removed)
		ob_remove_locked(ob, m);   /* our reference: freed below */
	pthread_mutex_unlock(&ob->mu);
	ob_unref(ob, m);
}

/*
 * Unlinks drop NAME once what was made of it is durable: 0, or -1 when
 * the drop is still there (tried again). A removal that cannot be
 * synced is done: nothing more is durable until the next mount (see
 * spool_dir_lost), which finds the message by its envelope if the drop
 * comes back.
 */
static int pickup_unlink(struct ob *ob, int dropfd, const char *name)
{
	if (spool_sync(&ob->spool) < 0) {
		log_warn("maildrop: %s: the journal cannot be synced; the "
		    "drop is kept and tried again", name);
		return -1;
	}
	if (unlinkat(dropfd, name, 0) < 0 && errno != ENOENT) {
		log_warn("maildrop: cannot remove %s; tried again", name);
		return -1;
	}
	(void)spool_sync_dir(&ob->spool, dropfd, "/maildrop");
	return 0;
}

/*
 * M, made of drop NAME, waits for the drop to be removed: neither sent
 * nor removable (a drop left behind by a removed message would be picked
 * up again), with a status line that says so. OURS: M is busy by the
 * caller's pickup; else it is held unless something else holds it (a
 * commit, a delivery: the drop then stays for its retry).
 */
static void pickup_hold(struct ob *ob, struct ob_msg *m, const char *name,
    int ours)
{
	char text[200];

	snprintf(text, sizeof(text), "maildrop: its drop %s could not be "
	    "removed (see the log); it is sent once it is, tried every %d s",
	    name, PICKUP_RETRY_MS / 1000);
	pthread_mutex_lock(&ob->mu);
	if (ours || (m->busy == 0 && !m->removed)) {
		m->busy = OB_BUSY_DROP;
		ob->drop_held++;
		ob_settle_cancel(ob, m);
		if (ob_live(m)) {
			free(m->lv->hold_err);
			m->lv->hold_err = strdup(text);
		}
	}
	pthread_mutex_unlock(&ob->mu);
	ob_notify(ob, m->r.id);
}

/* Step 5 of a pickup: M submitted at once (or, one that a mount found
 * submitted and held, let go). Its reference is the caller's. */
static void pickup_submit(struct ob *ob, struct ob_msg *m, const char *name,
    uid_t uid)
{
	pthread_mutex_lock(&ob->mu);
	if (m->busy == OB_BUSY_DROP) {
		ob->drop_held--;
		if (m->lv) {
			free(m->lv->hold_err);
			m->lv->hold_err = NULL;
		}
	}
	m->busy = 0;
	m->dirty = 1;
	if (ob_submittable(ob, m)) {
		m->dirty = 0;
		ob_settle_until(ob, m, clock_mono_ms());
	} else if (m->r.state == OB_QUEUED) {
		pthread_cond_broadcast(&ob->run_cv);    /* not busy now */
	}
	pthread_mutex_unlock(&ob->mu);
	log_info("maildrop: %s picked up as %s uid=%lu user=%s", name,
	    m->r.name, (unsigned long)uid, users_name(&ob->names, uid));
	ob_notify(ob, m->r.id);
}

/*
 * The held messages (pickup_hold) whose drop went otherwise (its owner
 * or root removed it from maildrop/, which pickup_scan then does not
 * list): their step 4 is done once the journal syncs. 1 when some are
 * still held (a retry is due).
 */
static int pickup_held(struct ob *ob, int dropfd)
{
	uint64_t ids[64];
	char drop[DROP_NAME_LEN + 1];
	struct ob_msg *m;
	size_t n = 0, i;
	int still = 0;
	uid_t uid;

	pthread_mutex_lock(&ob->mu);
	for (i = 0; ob->drop_held && i < ob->nbuckets; i++)
		for (m = ob->by_id[i]; m; m = m->id_next)
			if (m->busy == OB_BUSY_DROP && n < 64)
				ids[n++] = m->r.id;
	still = ob->drop_held > n;
	pthread_mutex_unlock(&ob->mu);
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&ob->mu);
		m = ob_find_id(ob, ids[i]);
		if (m == NULL || m->busy != OB_BUSY_DROP ||
		    strncmp(m->r.name, PICKUP_PREFIX, strlen(PICKUP_PREFIX))) {
			pthread_mutex_unlock(&ob->mu);
			continue;
		}
		ob_ref(m);
		/* its name: sendmail-D[-K], kept (rm and mv are refused) */
		snprintf(drop, sizeof(drop), "%s",
		    m->r.name + strlen(PICKUP_PREFIX));
		uid = m->r.uid;
		pthread_mutex_unlock(&ob->mu);
		/* gone: its removal made durable first, as pickup_unlink
		 * does (else a power loss could bring it back, and with the
		 * message sent and removed, it would be sent again) */
		if (faccessat(dropfd, drop, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT &&
		    spool_sync_dir(&ob->spool, dropfd, "/maildrop") == 0 &&
		    spool_sync(&ob->spool) == 0)
			pickup_submit(ob, m, drop, uid);
		else
			still = 1;   /* there: its own retry, pickup_one */
		ob_unref(ob, m);
	}
	return still;
}

/* Picks up drop NAME. Returns 0, or -1 when it should be tried again. */
static int pickup_one(struct ob *ob, int dropfd, const char *name,
    int at_start)
{
	struct drop_env e;
	struct spool_rec nr;
	struct stat st;
	struct ob_msg *m;
	char *buf = NULL, err[256];
	size_t want, head;
	ssize_t n;
	uid_t uid;
	gid_t gid;
	int fd, mfd = -1, done, saved, rc = -1, synced = 1, held;

	fd = openat(dropfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP) {
			pickup_set_aside(ob, dropfd, name, "a symbolic link");
			return 0;
		}
		log_warn("maildrop: cannot open %s", name);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_warn("maildrop: %s", name);
		close(fd);
		return -1;
	}
	/* Who it is from: the file's owner, never a claim inside it; a
	 * file that could be someone else's (a second link, writable by
	 * others, set-id) is not taken at all. */
	if (users_maildrop_owner(fd, &uid, &gid, err, sizeof(err)) < 0) {
		close(fd);
		pickup_set_aside(ob, dropfd, name, err);
		return 0;
	}
	if (!users_may_send_uid(&ob->users, uid, gid)) {
		close(fd);
		snprintf(err, sizeof(err), "refused a message from uid=%lu "
		    "user=%s: not in the users or groups allowed to send",
		    (unsigned long)uid, users_name(&ob->names, uid));
		pickup_set_aside(ob, dropfd, name, err);
		return 0;
	}
	want = st.st_size < (off_t)DROP_MAX_HEAD ? (size_t)st.st_size :
	    DROP_MAX_HEAD;
	buf = malloc(want + 1);
	if (buf == NULL) {
		close(fd);
		return -1;
	}
	n = pread(fd, buf, want, 0);
	if (n < 0) {
		log_warn("maildrop: reading %s", name);
		goto out;
	}
	if (drop_parse(buf, (size_t)n, &e, &head, err, sizeof(err)) < 0) {
		pickup_set_aside(ob, dropfd, name, err);
		rc = 0;
		goto out;
	}
	if ((uint64_t)st.st_size != head + e.size || e.size == 0 ||
	    e.uid != uid) {
		pickup_set_aside(ob, dropfd, name, e.uid != uid ?
		    "its uid line does not name its owner" : e.size == 0 ?
		    "an empty message" : "its size line does not match the "
		    "file (cut short?)");
		drop_env_free(&e);
		rc = 0;
		goto out;
	}
	/* Another user's mail goes with the account's envelope sender, as
	 * from the outbox (outboxfs(1), A SYSTEM-WIDE OUTBOX); their -f is
	 * not theirs to choose. */
	if (e.sender && uid != ob->uid) {
		log_warnx("maildrop: %s: the envelope sender (-f) of uid=%lu "
		    "user=%s is ignored: another user's mail is sent with the "
		    "account's from", name, (unsigned long)uid,
		    users_name(&ob->names, uid));
		free(e.sender);
		e.sender = NULL;
	}
	m = pickup_target(ob, name, uid, gid, at_start, &done, &mfd);
	if (done) {
		drop_env_free(&e);
		if (pickup_unlink(ob, dropfd, name) < 0) {
			/* (a mount after a crash or a stop: not sent
			 * before the drop is gone either) */
			pickup_hold(ob, m, name, 0);
		} else {
			rc = 0;
			pthread_mutex_lock(&ob->mu);
			held = m->busy == OB_BUSY_DROP;
			pthread_mutex_unlock(&ob->mu);
			if (held)    /* its step 4 done at last */
				pickup_submit(ob, m, name, uid);
		}
		ob_unref(ob, m);
		goto out;
	}
	if (m == NULL) {
		log_warn("maildrop: %s: cannot make its message", name);
		drop_env_free(&e);
		goto out;
	}
	/* step 2: the bytes, durable */
	if (pickup_copy(fd, (off_t)head, e.size, mfd) < 0 ||
	    (synced = fsync(mfd)) < 0 || fsync(ob->spool.msgfd) < 0) {
		saved = errno;
		close(mfd);
		if (synced == 0)
			spool_dir_lost(&ob->spool, "/msg");
		errno = saved;
		log_warn("maildrop: %s: copying it into the spool", name);
		pthread_mutex_lock(&ob->mu);
		/* kept visible by pickup_undo: its file proves nothing */
		if (synced < 0)
			m->resync = OB_RESYNC_COPY;
		pthread_mutex_unlock(&ob->mu);
		pickup_undo(ob, m);
		drop_env_free(&e);
		goto out;
	}
	close(mfd);
	/* step 3: the closed record with its envelope, durable */
	pthread_mutex_lock(&ob->mu);
	m->file_size = e.size;
	m->mtime_ns = m->ctime_ns = ob_now_ns();
	saved = pickup_rec(m, &e, &nr);
	pthread_mutex_unlock(&ob->mu);
	drop_env_free(&e);
	if (saved < 0 || ob_commit_rec(ob, m, &nr, OB_DRAFT) < 0) {
		log_warn("maildrop: %s: writing its record", name);
		if (saved == 0)
			spool_rec_free(&nr);
		pickup_undo(ob, m);
		goto out;
	}
	spool_rec_free(&nr);         /* the old record */
	/* step 4: the drop goes once the record is durable. Until it has
	 * gone, the message is neither sent nor removable: removed, a
	 * drop left behind would be picked up again, a second message. */
	if (pickup_unlink(ob, dropfd, name) < 0) {
		pickup_hold(ob, m, name, 1);
		ob_unref(ob, m);
		goto out;
	}
	/* step 5: submitted at once */
	pickup_submit(ob, m, name, uid);
	ob_unref(ob, m);
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* outboxfs-sendmail -q: every deferred message now, every pause ends. */
static void pickup_retry_all(struct ob *ob)
{
	struct ob_msg *m, *next;
	size_t k;
	unsigned n = 0;

	pthread_mutex_lock(&ob->mu);
	for (k = 0; ob->cfg && k < ob->cfg->naccounts; k++)
		ob_unpause(ob, &ob->cfg->accounts[k]);
	for (m = TAILQ_FIRST(&ob->wait.q); m; m = next) {
		next = TAILQ_NEXT(m, q);
		m->r.next = ob_wall();
		ob_set_state(ob, m, OB_QUEUED);
		n++;
	}
	pthread_cond_broadcast(&ob->run_cv);
	pthread_mutex_unlock(&ob->mu);
	log_info("maildrop: retry asked (sendmail -q): %u deferred messages "
	    "retried now", n);
}

static int pickup_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One pass over maildrop/, oldest drop first. Returns -1 when a drop
 * is left to try again. */
static int pickup_scan(struct ob *ob, int dropfd, int at_start)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	char **names = NULL, **nn;
	size_t n = 0, cap = 0, i;
	int dfd, rc = 0, retry = 0;
	time_t now = time(NULL);

	dfd = openat(dropfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		log_warn("maildrop: cannot read the directory");
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			/* a sendmail killed while writing: its temp file */
			if (strncmp(de->d_name, ".tmp-", 5) == 0 &&
			    fstatat(dropfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime + PICKUP_TMP_AGE < now)
				unlinkat(dropfd, de->d_name, 0);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL) {
				retry = 1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			retry = 1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), pickup_cmp);
	for (i = 0; i < n; i++) {
		if (drop_is_trigger(names[i])) {
			if (unlinkat(dropfd, names[i], 0) == 0 &&
			    !ob->stopping)
				pickup_retry_all(ob);
		} else if (!drop_name_ok(names[i])) {
			pickup_set_aside(ob, dropfd, names[i], "not a drop's "
			    "name");
		} else if (pickup_one(ob, dropfd, names[i], at_start) < 0) {
			retry = 1;
		}
		free(names[i]);
	}
	free(names);
	if (pickup_held(ob, dropfd))
		retry = 1;
	if (retry)
		rc = -1;
	return rc;
}

/* maildrop/ with the modes of fs/users.h (1730 to maildrop_group, or
 * 0700), created or repaired; logged when it cannot be. */
static int pickup_open_dir(struct ob *ob)
{
	char err[512];
	int fd;

	fd = users_maildrop_prepare(ob->spool.dirfd, ob->drop_group_set,
	    ob->drop_group, err, sizeof(err));
	if (fd < 0)
		log_warnx("maildrop: %s: %s", ob->spool.path, err);
	return fd;
}

void pickup_at_mount(struct ob *ob)
{
	int fd = pickup_open_dir(ob);

	if (fd < 0)
		return;
	if (pickup_scan(ob, fd, 1) < 0)
		log_warnx("maildrop: some drops are left for later");
	close(fd);
}

/* ---- the thread ----------------------------------------------------- */

static void *pickup_thread(void *arg)
{
	struct pickup *pk = arg;
	struct pollfd pf[2];
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int retry, r;

	(void)pthread_setname_np(pthread_self(), "outboxfs-pickup");
	retry = pickup_scan(pk->ob, pk->dropfd, 0) < 0;
	for (;;) {
		pf[0].fd = pk->ifd;
		pf[0].events = POLLIN;
		pf[1].fd = pk->stopfd[0];
		pf[1].events = POLLIN;
		/* no timer unless a drop waits for another try: an idle
		 * daemon uses no CPU */
		r = poll(pf, 2, retry ? PICKUP_RETRY_MS : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (r > 0 && (pf[0].revents & POLLIN))
			while (read(pk->ifd, ev, sizeof(ev)) > 0)
				;    /* the events only say: scan */
		retry = pickup_scan(pk->ob, pk->dropfd, 0) < 0;
	}
	return NULL;
}

static void pickup_write_mountpoint(struct ob *ob, const char *mnt)
{
	char tmp[] = PICKUP_MOUNTPOINT ".tmp";
	int fd;

	if (mnt == NULL)
		return;
	/* readable by all: -bp and --wait of other users find the mount
	 * (the spool is 0711 with a maildrop_group, 0700 without) */
	fd = openat(ob->spool.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || fchmod(fd, 0644) < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	if (spool_write_all(fd, mnt, strlen(mnt)) < 0 ||
	    spool_write_all(fd, "\n", 1) < 0) {
		close(fd);
		unlinkat(ob->spool.dirfd, tmp, 0);
		goto fail;
	}
	if (close(fd) < 0 ||
	    renameat(ob->spool.dirfd, tmp, ob->spool.dirfd,
	    PICKUP_MOUNTPOINT) < 0) {
		unlinkat(ob->spool.dirfd, tmp, 0);
		goto fail;
	}
	return;
fail:
	log_warn("spool: cannot write %s/%s (outboxfs-sendmail -bp and "
	    "--wait will not find the mount)", ob->spool.path,
	    PICKUP_MOUNTPOINT);
}

struct pickup *pickup_start(struct ob *ob, const char *mountpoint)
{
	struct pickup *pk = calloc(1, sizeof(*pk));
	int rc, saved;

	if (pk == NULL)
		return NULL;
	pk->ob = ob;
	pk->ifd = pk->stopfd[0] = pk->stopfd[1] = -1;
	pk->dropfd = pickup_open_dir(ob);
	if (pk->dropfd < 0)
		goto fail;
	pk->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pk->ifd < 0)
		goto fail;
	{
		/* the watch is on the path: the spool's directory fd is
		 * turned into one through /proc */
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", pk->dropfd);
		if (inotify_add_watch(pk->ifd, path, IN_MOVED_TO | IN_CREATE |
		    IN_CLOSE_WRITE | IN_ONLYDIR) < 0)
			goto fail;
	}
	if (pipe2(pk->stopfd, O_CLOEXEC) < 0)
		goto fail;
	pickup_write_mountpoint(ob, mountpoint);
	rc = pthread_create(&pk->thread, NULL, pickup_thread, pk);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	pk->started = 1;
	return pk;
fail:
	saved = errno;
	log_warn("maildrop: cannot watch %s/%s; drops are picked up at the "
	    "next mount", ob->spool.path, DROP_DIR);
	pickup_stop(pk);
	errno = saved;
	return NULL;
}

void pickup_stop(struct pickup *pk)
{
	if (pk == NULL)
		return;
	if (pk->started) {
		if (write(pk->stopfd[1], "x", 1) < 0)
			log_warn("maildrop: stopping the pickup thread");
		pthread_join(pk->thread, NULL);
		unlinkat(pk->ob->spool.dirfd, PICKUP_MOUNTPOINT, 0);
	}
	if (pk->dropfd >= 0)
		close(pk->dropfd);
	if (pk->ifd >= 0)
		close(pk->ifd);
	if (pk->stopfd[0] >= 0)
		close(pk->stopfd[0]);
	if (pk->stopfd[1] >= 0)
		close(pk->stopfd[1]);
	free(pk);
}
