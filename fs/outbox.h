/*
 * outbox — the in-memory model of the mounted outbox: messages, their
 * inodes, names and states, the queues the threads wait on.
 *
 * LOCKING RULE. One mutex, ob->mu, guards every field of struct ob and of
 * every struct ob_msg (except the fields marked "owner"). It is never
 * held across network I/O, fsync/syncfs, a FUSE reply or a FUSE
 * notification, and never across spool writes (small local reads and an
 * ftruncate are the only I/O done under it). ob->rmu is held around
 * every record written to the journal, together with the change of
 * memory the record says (and its undo when the write fails), so the
 * journal's order is memory's order and the rewrite's snapshot is
 * exact. Lock order: ob->rmu, then ob->mu, then the spool's journal
 * mutex (a leaf; ob->rmu is never taken while ob->mu is held). The
 * spool's sync mutex is a leaf. Nobody waits on a sync with either
 * ob->rmu or ob->mu held.
 *
 * STATES. The state shown (r.state) changes only in ob_set_state and
 * only after the record saying so is durable; disk_state is what the
 * last record written says.
 *
 * LIFETIME. A message lives while it has a name or a reference: every
 * open handle, the committer's batch and a delivery thread hold one
 * (ob_ref/ob_unref). Removing the name of a message nobody holds frees
 * it and its spool files; otherwise the last ob_unref does.
 *
 * Inode numbers: 1 the root, 2 .queue, 3 + i account directory i, and
 * OB_INO_MSG0 + 2 * id for message id (+ 1 for its status file). Spool
 * ids are never reused, so a stale inode number finds nothing.
 */
#ifndef OUTBOXFS_OUTBOX_H
#define OUTBOXFS_OUTBOX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>
#include <sys/types.h>

#include "config/config.h"
#include "fs/spool.h"
#include "fs/users.h"
#include "fs/wait.h"
#include "util/buf.h"

struct msg;
struct fuse_session;
struct fuse_pollhandle;

#define OB_INO_ROOT   1
#define OB_INO_QUEUE  2
#define OB_INO_DIR0   3
#define OB_MAX_DIRS   1000
#define OB_INO_MSG0   4096
#define OB_MAX_TRANSCRIPT (256u * 1024)   /* bytes of one attempt kept */

enum ob_name_kind {
	OB_NAME_NORMAL = 0,   /* a message that is sent */
	OB_NAME_SCRATCH,      /* .x, x~, x.swp, x.tmp, #x#: never sent */
	OB_NAME_STATUS,       /* x.status: made by outboxfs */
	OB_NAME_RESERVED,     /* .queue, ".", "..", or an account directory */
};

/* After a failed sync of a message's file, a sync tried again would
 * prove nothing (see jlost in spool.h). */
enum ob_resync {
	OB_RESYNC_NONE = 0,
	OB_RESYNC_COPY,   /* copied to a new file, synced, when submitted */
	OB_RESYNC_LOST,   /* the copy was not the closed file's bytes: not
	                   * submitted until a writer wrote it again, whole
	                   * (then OB_RESYNC_COPY) */
	OB_RESYNC_WLOST,  /* a write to it failed (no sync did): not
	                   * submitted until written again whole (then
	                   * OB_RESYNC_NONE: the file is its writers' own);
	                   * a mount knows it by its error (OB_WRITE_FAILED,
	                   * OB_WRITE_CUT) */
};

/* How the error of a message one of whose writes failed begins. */
#define OB_WRITE_FAILED "a write to this message failed"
/* The error of a draft a mount found open for writing at the stop: like
 * a failed write's (OB_RESYNC_WLOST), sent only once written again. */
#define OB_WRITE_CUT "this message was open for writing when outboxfs " \
	"stopped (a crash, a kill or an unmount), so it may be incomplete: " \
	"it is not sent; write it again, whole (> truncates it), to send it"

enum ob_list_id { OB_LIST_NONE = 0, OB_LIST_SETTLE, OB_LIST_RUN,
	OB_LIST_WAIT };

/*
 * What only a message in motion needs: polled, being sent, held. Made on
 * first use (ob_live) and let go of when the message is at rest again
 * (ob_live_drop): 100,000 waiting messages carry one pointer each, not
 * this.
 */
struct ob_live {
	struct fuse_pollhandle **polls; /* poll(2)s waiting for a change */
	size_t npolls;
	struct buf cur;              /* the attempt in progress (set up by
	                              * ob_transcript_add's first line) */
	uint64_t prog_sent, prog_total;
	char *hold_err;              /* why its outcome is not recorded yet
	                              * (shown as error:), NULL: none */
	int64_t rewrite_refused;     /* wall time an open for writing was
	                              * first refused (submitted), or 0 */
	int64_t settle_at_ms;        /* monotonic deadline while settling
	                              * (in ob->settle), else 0 */
	int fd1;                     /* the message file's descriptor + 1,
	                              * left by its last writer for the
	                              * committer (ob_hold_fd), 0: none */
	int lfd1;                    /* its transcript's descriptor + 1,
	                              * made ahead with it, kept for its
	                              * first outcome (ob_take_log_fd) */
	/* A draft's bytes as its writers wrote them in order from 0 (the
	 * check of its closed record, without reading the file again):
	 * WLEN bytes, CRC-32C state WCRC, while WOK. */
	uint64_t wlen;
	uint32_t wcrc;
	uint8_t wok;
	/* Written since a sync of its file failed (resync COPY): CCK, the
	 * check of the bytes that sync was for, no longer says what the
	 * file must read; only a whole rewrite (WOK) is trusted then. */
	uint8_t rsw;
	/* The check its records carry while its file is not known to be
	 * on disk (CCK.set): a closed draft's (stamp 0), kept while it
	 * stays one (for a later record, a journal rewrite: nothing synced
	 * its file); a queued one's (its batch's stamp), kept until that
	 * batch is durable. */
	struct spool_check cck;
};

#define OB_BUSY_DROP 2     /* ob_msg.busy: see there */

struct ob_msg {
	struct spool_rec r;          /* what the spool record holds */
	uint16_t nopen, nwriters;
	uint8_t disk_state;          /* the state in the last record written
	                              * (ahead of r.state until a sync) */
	uint8_t resync;              /* enum ob_resync (in a hole: 100,000
	                              * messages, each of a malloc size
	                              * class, are 1.6 MB more for 8 bytes) */
	int16_t diridx;              /* -1 top level, else account dir */
	unsigned refs;
	uint8_t list;                /* enum ob_list_id */
	uint8_t removed;             /* no longer has a name */
	uint8_t dirty;               /* written since the last submission
	                              * check */
	uint8_t busy;                /* committer or a delivery thread has
	                              * it; OB_BUSY_DROP: a pickup made it,
	                              * and its drop waits to be removed */
	uint8_t whole;               /* arrived whole (renamed from a scratch
	                              * name): submitted without the settle
	                              * wait */
	uint8_t touched;             /* touched while sending: if deferred,
	                              * retry at once */
	uint8_t tombstoned;          /* its "removed" record is written:
	                              * nothing more is written for it */
	uint8_t shown_rw;            /* writable (0600) when the kernel last
	                              * had its attributes; 2: unknown, or
	                              * its size changed (ob_notify) */
	uint32_t rec_bytes;          /* bytes of its last record, counted
	                              * in ob->live_bytes */
	uint32_t log_len;            /* bytes in spool log/ID (its attempts,
	                              * each cut at OB_MAX_TRANSCRIPT);
	                              * OB_LOG_UNKNOWN until ob_log_len */
	uint32_t qline;              /* bytes of its .queue line counted in
	                              * ob->queue_len (0: not listed) */
	uint32_t gen;                /* changes of its status file (each
	                              * ob_notify, each transcript line), for
	                              * poll(2) and readers following it */
	uint32_t status_s;           /* wall time of the last change, in
	                              * seconds: the status file's mtime */
	uint64_t file_size;
	int64_t mtime_ns, ctime_ns;  /* wall clock, nanoseconds (ob_ts);
	                              * mtime_ns OB_STAT_UNKNOWN: all three
	                              * not looked at yet (ob_msg_stat) */

	struct ob_live *lv;          /* while in motion (ob_live), or NULL */

	struct msg *prep;            /* prepared once, kept until final or
	                              * deferred */


	struct ob_msg *id_next, *name_next;
	TAILQ_ENTRY(ob_msg) q;        /* in ob->settle, run or wait */
	struct wait_node wn;         /* in ob->due while deferred, keyed by
	                              * r.next */
};

/* Wall-clock times as a message keeps them: nanoseconds in one int64. */
static inline int64_t ob_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline struct timespec ob_ts(int64_t ns)
{
	struct timespec t = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	return t;
}

/* The message a node of ob->due is embedded in. */
static inline struct ob_msg *ob_msg_of_wait(struct wait_node *w)
{
	return (struct ob_msg *)(void *)((char *)w -
	    offsetof(struct ob_msg, wn));
}

TAILQ_HEAD(ob_mlist, ob_msg);

struct ob_list {
	struct ob_mlist q;
	size_t n;
};

/*
 * The outcome of an attempt, on its way to the spool: its transcript
 * goes to the log, its record (REC, the message's record with the
 * outcome applied) to the journal, both checked; it is shown once a sync
 * made them durable. Until then the message stays busy in `sending`;
 * an outcome that cannot be recorded is held and written again later.
 */
struct ob_pub {
	struct ob_msg *m;                /* referenced, busy */
	const struct cfg_account *a;
	enum ob_state st;
	struct spool_rec rec;            /* the new record (owned) */
	char *attempt;                   /* the attempt's transcript, for
	                                  * the log (owned) */
	size_t alen;                     /* its length */
	int stage;                       /* 0: log to write, 1: record to
	                                  * write, 2: written, to sync */
	int64_t retry_ms;                /* held: when to try again */
	int expired, local, code;
};

struct ob_corrupt {
	uint64_t id;
	char reason[160];
};

struct ob {
	pthread_mutex_t mu;
	pthread_mutex_t rmu;         /* record writes (see LOCKING RULE) */
	pthread_cond_t commit_cv;    /* committer: settle list changed */
	pthread_cond_t run_cv;       /* delivery: run/wait list changed */
	pthread_cond_t idle_cv;      /* a thread stopped */
	unsigned drop_held;          /* messages OB_BUSY_DROP (pickup.c) */
	struct spool spool;
	struct cfg *cfg;             /* borrowed; read-only after start */
	const struct cfg_account *def; /* the default account */
	char **dirs;                 /* account directory names */
	char **paused;               /* per account: why it is paused (a
	                              * refused login), or NULL */
	unsigned *cached;            /* per account: idle connections kept
	                              * open for its next message */
	int ndirs;
	unsigned settle_ms;
	unsigned connections;
	struct fuse_session *se;     /* for notifications; NULL in tests
	                              * and once the session loop ended */
	uid_t uid;                   /* the mounting user */
	gid_t gid;
	int shared;                  /* -o allow_other: other users enter;
	                              * directories are 1777 (sticky) */
	struct users_policy users;   /* who may create a message */
	int drop_group_set;          /* maildrop_group configured: */
	gid_t drop_group;            /* SPOOL/maildrop is 1730 to it */
	struct users_names names;    /* uid -> name, for status and logs */
	struct timespec start;

	struct ob_msg **by_id;       /* hash buckets */
	struct ob_msg **by_name;
	size_t nbuckets;
	size_t nmsgs;
	unsigned nfds_held;          /* descriptors kept by ob_hold_fd */
	unsigned nlfds_held;         /* transcript descriptors kept */

	struct ob_list settle, run, wait;
	struct wait_heap due;        /* the wait list ordered by r.next */
	size_t queue_len;            /* bytes of .queue's text: the sum of
	                              * every qline and the corrupt lines */
	struct ob_pub *pubs;         /* outcomes waiting for the committer's
	                              * sync, from the delivery threads */
	size_t npubs, pubcap;
	struct ob_pub *held;         /* outcomes that could not be recorded
	                              * (committer thread only) */
	size_t nheld;
	struct ob_corrupt *corrupt;
	size_t ncorrupt;

	uint64_t live_bytes;         /* journal bytes a rewrite would keep */
	uint64_t compact_min;        /* no rewrite below this size */
	int spool_retry_s;           /* a submission the spool could not
	                              * make durable is tried again after
	                              * this (OUTBOXFS_SPOOL_RETRY, 5) */
	uint64_t rewritten;          /* journal bytes after the last rewrite */
	int compact_wanted;          /* the committer rewrites the journal */
	int64_t lost_retry_ms;       /* a lost journal (spool_journal_lost):
	                              * the committer's next rewrite, at this
	                              * monotonic time */
	int stopping;
	unsigned nthreads;           /* worker threads still running */
	pthread_t *threads;          /* every worker started, joinable */
	unsigned nstarted;
	unsigned sending_now;        /* connections open */
};

/* mtime_ns of a submitted message loaded at mount whose file was not
 * looked at yet: its size and times come from a stat when first asked
 * for (its file no longer changes). */
#define OB_STAT_UNKNOWN INT64_MIN

/* Fills M's file_size, mtime_ns and ctime_ns when unknown; ob->mu held. */
void ob_msg_stat(struct ob *ob, struct ob_msg *m);

/* log_len of a message loaded at mount whose log was not looked at
 * yet: a mount does not stat 100,000 logs that nobody may read. */
#define OB_LOG_UNKNOWN UINT32_MAX

/* M's log_len, found out (a stat of its log) when unknown; ob->mu
 * held. */
uint32_t ob_log_len(struct ob *ob, struct ob_msg *m);

/* The kind of NAME in a directory (dir -1: the top level). */
enum ob_name_kind ob_name_kind(const struct ob *ob, int dir, const char *name);

/* 1 when NAME is a scratch name, by its form alone. */
int ob_is_scratch(const char *name);

/* Sets up OB with CFG (borrowed) and the spool at SPOOL_PATH. */
int ob_init(struct ob *ob, struct cfg *cfg, const char *spool_path,
    char *err, size_t errlen);
/* Frees every message and closes the spool; threads must have stopped. */
void ob_destroy(struct ob *ob);

/* Rebuilds the outbox from the spool (before the threads start). */
int ob_load(struct ob *ob, char *err, size_t errlen);

/*
 * Rewrites the spool journal with one record per live message. Wanted
 * (ob->compact_wanted, set after an append) when the journal is past
 * ob->compact_min (OB_COMPACT_MIN, or what OUTBOXFS_COMPACT_MIN says)
 * and more than twice the bytes of the live records: its size is bounded
 * by the live messages. Called by the committer; no lock held. -1 when
 * the rewrite failed (the journal stays as it is).
 */
#ifndef OB_COMPACT_MIN
#define OB_COMPACT_MIN (4u * 1024 * 1024)
#endif
int ob_compact_maybe(struct ob *ob);

/* Seconds of the wall clock (the monotonic one: util/clock.h); its
 * nanoseconds. */
int64_t ob_wall(void);
int64_t ob_now_ns(void);

/* Lookups, ob->mu held. NULL when absent. */
struct ob_msg *ob_find_name(struct ob *ob, int dir, const char *name);
struct ob_msg *ob_find_id(struct ob *ob, uint64_t id);
/* The directory index of an inode: -1 root, 0.. account dir; -2 not a
 * directory. */
int ob_dir_of_ino(const struct ob *ob, uint64_t ino);

/*
 * A new draft message with a fresh id, named NAME in DIR, inserted and
 * with one reference, its spool file and record created; *fdp the spool
 * file open O_RDWR (the caller's). UID and GID own it (recorded). A
 * message of another user than the mounting one is logged with its uid
 * and name. BUSY: it is busy from its insert on (a pickup's: no rm or
 * mv may take it before its bytes are in). ob->mu NOT held. Returns NULL
 * with errno set (EEXIST when the name is taken).
 */
struct ob_msg *ob_create(struct ob *ob, int dir, const char *name,
    uid_t uid, gid_t gid, int busy, int *fdp);

/* Takes a name-table entry out or in (ob->mu held). */
void ob_unname(struct ob *ob, struct ob_msg *m);
/* Gives M the name NAME in DIR (DIRNAME its name, NULL at the top);
 * takes both strings (ob->mu held). */
void ob_rename_take(struct ob *ob, struct ob_msg *m, int dir, char *name,
    char *dirname);

/* ob->mu held. */
void ob_ref(struct ob_msg *m);
/*
 * Drops a reference, ob->mu NOT held. Frees the message and its spool
 * files when it was the last and the message has no name.
 */
void ob_unref(struct ob *ob, struct ob_msg *m);

/*
 * Marks M removed: its name and its place in a list taken out (ob->mu
 * held). Every caller holds a reference; its ob_unref frees M.
 */
void ob_remove_locked(struct ob *ob, struct ob_msg *m);
/* Removes the spool files of M and frees it; ob->mu NOT held. */
void ob_destroy_msg(struct ob *ob, struct ob_msg *m);

/*
 * The ONLY way to change a message's state: moves it between the
 * settle, run and wait lists, wakes who waits for them and traces the
 * transition. ob->mu held.
 */
void ob_set_state(struct ob *ob, struct ob_msg *m, enum ob_state st);

/*
 * The rule of submission, in one place: a draft written since it was
 * last looked at, that nobody has open, is submitted once its settle
 * time is over (ob_settle_start). 1 when it was; ob->mu held.
 */
int ob_submit_if_ready(struct ob *ob, struct ob_msg *m);
/* Submission timing (ob->mu held): starts or cancels the settle time. */
void ob_settle_start(struct ob *ob, struct ob_msg *m);
/* The same with the deadline AT (clock_mono_ms): the settle list is in
 * deadline order. */
void ob_settle_until(struct ob *ob, struct ob_msg *m, int64_t at);
void ob_settle_cancel(struct ob *ob, struct ob_msg *m);
/* 1 when a draft M (not open, not empty, normal name) may be submitted. */
int ob_submittable(const struct ob *ob, const struct ob_msg *m);

/*
 * Writes M's record to the spool with the state its last record says
 * (disk_state; ob->rmu taken inside: neither lock held); with SYNC
 * waits until it is durable. Nothing is written for a tombstoned
 * message. -1 with errno.
 */
int ob_save(struct ob *ob, struct ob_msg *m, int sync);
/* The same, written with state ST instead of the one in memory (a state
 * that only becomes true once the record is durable). */
int ob_save_as(struct ob *ob, struct ob_msg *m, enum ob_state st,
    int sync);
/*
 * The running check of draft M's bytes (ob->mu held): ob_wcrc_reset when
 * it is made or cut to nothing, ob_wcrc_add for each write of N bytes at
 * OFF (one not at the end so far, or any other change, ends it:
 * ob_wcrc_end), ob_wcrc_take: 0 with CK set when it covers the whole
 * file, else -1 (read the file then); either way it ends (a message
 * submitted keeps no live state for it).
 */
void ob_wcrc_reset(struct ob_msg *m);
void ob_wcrc_add(struct ob_msg *m, uint64_t off, const void *buf, size_t n);
void ob_wcrc_end(struct ob_msg *m);
int ob_wcrc_take(struct ob_msg *m, struct spool_check *ck);
/* The same check, and the running check goes on (a sync that failed
 * keeps it as the check its copy must match). */
int ob_wcrc_peek(const struct ob_msg *m, struct spool_check *ck);
/* M's bytes are lost (OB_RESYNC_LOST, "lost 1" in its later records):
 * sent only once written again whole; WHY, when not NULL, is its error.
 * ob->mu held. */
void ob_set_lost(struct ob *ob, struct ob_msg *m, const char *why);
/* M lost by a write of its own that failed (OB_RESYNC_WLOST), WHY its
 * error; one whose sync failed stays OB_RESYNC_LOST. ob->mu held. */
void ob_set_write_lost(struct ob *ob, struct ob_msg *m, const char *why);
/* 1 while M is not submitted until written again whole. */
static inline int ob_is_lost(const struct ob_msg *m)
{
	return m->resync == OB_RESYNC_LOST || m->resync == OB_RESYNC_WLOST;
}

/* The largest max_size of the accounts, 0 when one has none. */
uint64_t ob_max_size(const struct ob *ob);

/* Draft files above this size are recorded closed without a check (a
 * read of more at a release or a rename would hold up a FUSE thread). */
#define OB_CHECK_MAX (1024ull * 1024 * 1024)

/* CK for draft ID's file, read through FD (-1: opened here), for a
 * record that says it is closed: -1 (CK not set) when it cannot be
 * read, is over OB_CHECK_MAX, or is too large for every account's
 * max_size (it is failed unread, never sent). */
int ob_draft_check(struct ob *ob, uint64_t id, int fd,
    struct spool_check *ck);

/* The same with CK's check line (the committer's queued record, a
 * draft's closed record). A record of a closed draft written without
 * one carries the check its closed record had (ob_kept_check). */
int ob_save_check(struct ob *ob, struct ob_msg *m, enum ob_state st,
    const struct spool_check *ck, int sync);

/*
 * The check for COPY, a record of M about to be written (ob->mu held):
 * for a closed draft CK when set, else the one kept; for a queued
 * record CK when it has a batch's stamp, else the one kept until that
 * batch is durable; CK (kept for M's later records) or NULL.
 */
const struct spool_check *ob_kept_check(struct ob_msg *m,
    const struct spool_rec *copy, const struct spool_check *ck);

/*
 * Writes M's "removed" record (ob->rmu taken inside); from then on no
 * record of M is written. With SYNC waits until it is durable.
 */
int ob_tombstone(struct ob *ob, struct ob_msg *m, int sync);
/* Appends N formatted records in one write (all or none), ob->rmu held
 * by the caller; with SYNC waits until durable. -1 with errno. */
int ob_write_recs(struct ob *ob, const char *const *texts,
    const size_t *lens, size_t n, int sync);
/*
 * Writes NR (M's record with an outcome applied) with state ST, and on
 * success makes it M's record in memory (the shown state excepted: that
 * is ob_set_state's); NR then holds the old record (caller frees).
 * ob->rmu taken inside; neither lock held. -1 with errno, nothing
 * changed.
 */
int ob_commit_rec(struct ob *ob, struct ob_msg *m, struct spool_rec *nr,
    enum ob_state st);

/* M's record stops counting as live (ob->mu NOT held; _locked: held). */
void ob_live_sub(struct ob *ob, struct ob_msg *m);
void ob_live_sub_locked(struct ob *ob, struct ob_msg *m);

/*
 * The status file of ID changed since GEN (its ob_msg gen): 1 yes, 0 no
 * and PH (when not NULL) is kept to be woken by the next ob_notify (it is
 * then the outbox's), -1 the message is gone. ob->mu NOT held.
 */
int ob_status_poll(struct ob *ob, uint64_t id, uint64_t gen,
    struct fuse_pollhandle *ph);
/* The generation of ID's status file now (0 when gone). */
uint64_t ob_status_gen(struct ob *ob, uint64_t id);

/* Tells the kernel M's status file (and M) changed, and wakes poll(2)s
 * waiting on it; ob->mu NOT held. */
void ob_notify(struct ob *ob, uint64_t id);

/*
 * Appends a line to M's current attempt transcript ("S: ..." already
 * formatted by the caller, without newline), capped at
 * OB_MAX_TRANSCRIPT. ob->mu held.
 */
/* M's live part, made when missing; NULL without memory. ob->mu held. */
struct ob_live *ob_live(struct ob_msg *m);

/* At most this many message files stay open between their last
 * writer's close and their commit (a queue of 100,000 would otherwise
 * hold as many descriptors). */
#define OB_HELD_MAX 64
/* FD, a descriptor of M's file opened for reading and writing, is kept
 * for the committer, which then reads the file without opening it
 * again: 1 (FD taken), or 0 (the caller closes it). ob->mu held. */
int ob_hold_fd(struct ob *ob, struct ob_msg *m, int fd);
/* The descriptor ob_hold_fd kept for M, now the caller's; -1: none.
 * ob->mu held. */
int ob_take_fd(struct ob *ob, struct ob_msg *m);
/* The descriptor of M's transcript the spool made ahead with its file
 * (up to OB_HELD_MAX of them are kept), now the caller's; -1: none (the
 * transcript is then opened by name). ob->mu held. */
int ob_take_log_fd(struct ob *ob, struct ob_msg *m);
/* Lets go of M's live part when nothing is left in it. ob->mu held. */
void ob_live_drop(struct ob_msg *m);
void ob_transcript_add(struct ob_msg *m, const char *line, size_t len);

/* The account M goes out with: the one recorded, else its directory's
 * (ob->mu held, or M's record stable). */
const struct cfg_account *ob_msg_account(const struct ob *ob,
    const struct ob_msg *m);
/*
 * A paused account (a refused login) starts no attempt. ob_paused: why,
 * or NULL; ob_pause: pauses A with WHY; ob_unpause: ends it and retries
 * its deferred messages now, 1 when it was paused. ob->mu held.
 */
const char *ob_paused(const struct ob *ob, const struct cfg_account *a);
void ob_pause(struct ob *ob, const struct cfg_account *a, const char *why);
int ob_unpause(struct ob *ob, const struct cfg_account *a);
/* Idle connections kept for A's next message (ob->mu held). */
int ob_cached(const struct ob *ob, const struct cfg_account *a);
void ob_cache_count(struct ob *ob, const struct cfg_account *a, int delta);

/* The account used for messages in DIR (-1: by From, else default). */
const struct cfg_account *ob_dir_account(const struct ob *ob, int dir);

/*
 * The status file's full text as of now, into *out (caller frees), and
 * in *hlen the length of its header block (the transcript follows).
 * ob->mu NOT held (it is taken inside; the finished attempts are read
 * from the spool outside it).
 */
int ob_status_text(struct ob *ob, uint64_t id, char **out, size_t *len,
    size_t *hlen);
/* Its size as getattr reports it (ob->mu held). */
uint64_t ob_status_size(struct ob *ob, struct ob_msg *m);
/* .queue's text as VIEWER sees it: with ALL every message, else only
 * those VIEWER created (and no corrupt spool files); ob->mu held. */
int ob_queue_text(struct ob *ob, uid_t viewer, int all, char **out,
    size_t *len);
/*
 * Counts M's .queue line again into ob->queue_len, which getattr shows
 * as .queue's size without rendering it. ob_set_state, renames and
 * removals do it; call it after changing what the line shows (name,
 * state, attempts, next attempt, reply, error) without a state change.
 * ob->mu held.
 */
void ob_queue_recount(struct ob *ob, struct ob_msg *m);

#endif
