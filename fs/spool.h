/*
 * spool — the durable storage of outboxfs, outside the mount:
 *
 *   SPOOL/journal      every record written, appended one after another
 *   SPOOL/msg/ID       the message bytes exactly as the user wrote them
 *   SPOOL/log/ID       the transcript of every finished attempt
 *   SPOOL/corrupt/     records and messages that could not be read, set
 *                      aside and kept
 *
 * A record is text, one "key value" line each, from "outboxfs-record 1"
 * to a last line "end". The journal starts with the line
 * "outboxfs-journal 2"; each record in it is framed: a head line
 * "%obx LEN CRC32C ID" (decimal length, 8 hex digits, the record's id)
 * and the LEN bytes of the record. Values are escaped (%XX for control bytes and '%'), so
 * "%obx " never occurs inside a record and framing cannot be confused
 * with content. A frame cut short at the end is a torn append and is dropped;
 * a frame whose checksum fails costs that record alone (when the id in
 * its head and the one in its bytes agree, that message is set aside
 * and reported; otherwise the frame is skipped and counted). The last whole
 * record of an id wins; a "removed" record ends it. A journal of the
 * first version (unframed records) is read and rewritten framed at the
 * first mount.
 *
 * WHAT A RESTART CONCLUDES, for each last record of an id:
 *   draft, closed 0     a draft (still being written at the stop)
 *   draft, closed 1     its last handle was closed: submitted at once
 *   queued / deferred   queued / deferred (retried at its next attempt)
 *   sending             an attempt was cut off: queued again, and its
 *                       status warns that the message may arrive twice
 *   sent/partial/failed final, shown as it was
 *   removed             gone; message bytes left by a crash are deleted
 *   no record, msg/ID   set aside in corrupt/ (a crash during creation)
 *   damaged record      set aside in corrupt/, listed in .queue
 * A journal that cannot be read fails the mount and nothing is changed.
 *
 * Durability: spool_sync is a group commit (one fdatasync of the journal
 * for every writer waiting at the time, and an fsync of the directory
 * after a journal rewrite): it costs only the spool's own bytes.
 * spool_sync_fds also makes message files durable (the committer's
 * batch), with no syncfs(2). The journal is rewritten while the daemon runs (spool_rewrite)
 * without stopping appends for longer than the copy of its newest tail.
 *
 * One spool belongs to one daemon: SPOOL/lock is locked (fcntl) for the
 * life of the process.
 *
 * Knows nothing of FUSE or SMTP; takes only its own mutexes (both leaves).
 *
 * Error convention: int functions return 0 or -1 with errno set (parse:
 * -1 with a reason in err).
 */
#ifndef OUTBOXFS_SPOOL_H
#define OUTBOXFS_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>

#include "util/buf.h"

#define SPOOL_MAX_RECORD   (4u * 1024 * 1024)   /* bytes of one record */
#define SPOOL_MAX_LINE     4096                 /* bytes of one line */
#define SPOOL_MAX_RCPTS    1000
#define SPOOL_SPARES       16      /* empty message files kept ready */
#define SPOOL_SYNC_HELPERS 7       /* threads that fdatasync beside the
                                    * committer */
#define SPOOL_FRAME_HEAD   48                   /* bytes of a frame head */

/* Message states; spool_state_name() gives the status file's word. */
enum ob_state {
	OB_DRAFT = 0,
	OB_QUEUED,
	OB_SENDING,
	OB_DEFERRED,
	OB_SENT,
	OB_PARTIAL,
	OB_FAILED,
	OB_NSTATES
};

const char *spool_state_name(enum ob_state s);
/* -1 when NAME is not a state word. */
int spool_state_parse(const char *name);

/* Recipient results: the smtp_rcpt_state values. */
enum spool_rcpt_state {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_OK,
	SPOOL_RCPT_TEMP,
	SPOOL_RCPT_PERM,
};

struct spool_rcpt {
	char *addr;
	int state;                /* enum spool_rcpt_state */
	int code;                 /* last reply code, 0: none */
	char *text;               /* last reply text ("2.1.5 Ok"), or NULL */
};

/* One record. Every string is owned (spool_rec_free) and may be NULL.
 * (Fields by size: 100,000 of them are in memory for a big queue.) */
struct spool_rec {
	uint64_t id;
	char *name;               /* the file name in its directory */
	char *dir;                /* account subdirectory, NULL: top level */
	char *account;            /* account used, NULL: not decided yet */
	int64_t created;          /* seconds since the epoch */
	int64_t queued;           /* 0: never submitted */
	int64_t next;             /* next attempt (deferred) */
	uint64_t size;            /* bytes on the wire (after prepare) */
	char *message_id;
	char *from;
	char *dsn;                /* the DSN request given with it
	                           * ("NOTIFY=.. RET=.. ENVID=.."), stored,
	                           * not sent; NULL: none */
	struct spool_rcpt *rcpts;
	size_t nrcpts;
	char *server;
	char *reply;
	char *error;
	uid_t uid;                /* who created the message */
	gid_t gid;                /* and the group it is read with */
	enum ob_state state;
	unsigned attempts;
	uint8_t dup;              /* the server may already have it */
	uint8_t interrupted;      /* an attempt was cut off by a stop */
	uint8_t removed;          /* a tombstone: the message is gone */
	uint8_t closed;           /* draft: its last writer had closed it */
	uint8_t owned;            /* uid and gid were recorded (records
	                           * from before they were have none: the
	                           * mounting user's) */
	uint8_t envelope;         /* from and rcpts were given by the
	                           * submitter (outboxfs-sendmail), not read
	                           * from the headers; see fs/pickup.h */
	uint8_t lost;             /* draft: its bytes were lost (a failed
	                           * sync, or found cut short by a mount):
	                           * sent only once written again whole */
};

void spool_rec_free(struct spool_rec *r);

/*
 * The strings many records share (an account, a sender, a recipient, a
 * server, an error such as "Connection refused"): one copy each, kept
 * for the life of the process, so a queue of 100,000 messages holds
 * them once. The copies are never written to or freed: a record's
 * string is released with spool_str_free, which knows them. Past
 * SPOOL_INTERN_MAX bytes of them, spool_intern makes plain copies.
 * NULL for NULL, or without memory.
 */
#define SPOOL_INTERN_MAX (4u * 1024 * 1024)
char *spool_intern(const char *s);
void spool_str_free(char *p);
/* R's shared strings replaced by their kept copies. */
void spool_rec_intern(struct spool_rec *r);
/* A deep copy of SRC into DST (spool_rec_free). -1 with ENOMEM, DST
 * then holds nothing. */
int spool_rec_dup(struct spool_rec *dst, const struct spool_rec *src);

/*
 * Renders R as a record ending in "end\n". Control bytes and '%' in
 * values are written as %XX; a value whose line would pass
 * SPOOL_MAX_LINE is cut (whole escapes only), so the record always parses
 * again. *out owned by caller (free). -1 only without memory.
 */
int spool_rec_format(const struct spool_rec *r, char **out, size_t *len);

/*
 * What a record that submits a message says of its bytes, so that a
 * mount can tell whether they reached the disk. The committer writes a
 * queued record and syncs the message files and the journal at the same
 * time, not one after the other; a draft's last writer writes a "closed"
 * record (submitted at the next mount) without syncing the file at all.
 * A crash of the system (a power loss) may leave either record on disk
 * without the bytes. STAMP numbers the committer's batches (one process:
 * a mount rewrites the journal without checks); of queued records only
 * those of the last batch need looking at, since a batch starts after
 * the one before it was durable. STAMP 0: a closed draft's, always
 * looked at. Written as the line "check STAMP LEN CRC32C" before "end".
 */
struct spool_check {
	uint64_t stamp;           /* the committer's batch, 0: a draft's */
	uint64_t len;             /* the file's length */
	uint32_t crc;             /* CRC-32C of its bytes */
	uint8_t set;              /* 0: no check */
};

/* spool_rec_format with CK's line (none when CK is NULL or not set). */
int spool_rec_format_check(const struct spool_rec *r,
    const struct spool_check *ck, char **out, size_t *len);
/* CK for the LEN bytes at P, set (STAMP set by the caller). */
void spool_check_buf(struct spool_check *ck, const void *p, size_t len);
/* CK for the whole file FD, read in pieces from offset 0 (memory stays
 * flat), set. 0, or -1 with errno (CK not set). */
int spool_check_fd(struct spool_check *ck, int fd);

/*
 * Parses LEN bytes of BUF (need not be NUL-terminated). Fills *r (zeroed
 * first; on error nothing to free). Rejects a record without its end
 * line, with a NUL byte, a line over SPOOL_MAX_LINE, a bad number, or
 * without id, name and state (a tombstone needs only its id).
 */
int spool_rec_parse(const char *buf, size_t len, struct spool_rec *r,
    char *err, size_t errlen);
/* The same, and its check line into *CK (zeroed first; CK may be NULL). */
int spool_rec_parse_check(const char *buf, size_t len, struct spool_rec *r,
    struct spool_check *ck, char *err, size_t errlen);

struct spool {
	char *path;
	int dirfd, msgfd, logfd, corruptfd;
	int lockfd;               /* SPOOL/lock, write-locked */
	int jfd;                  /* the journal: records, then zeros */
	pthread_mutex_t jmu;      /* one append at a time (a leaf lock) */
	uint64_t jbytes;          /* bytes in the journal: written under
	                           * jmu, atomically, so that
	                           * spool_journal_size can read it
	                           * without */
	uint64_t jalloc;          /* the journal's size: zeros from jbytes
	                           * to here (jmu) */
	uint64_t jahead;          /* zeros written ahead of the records */
	uint64_t jretry;          /* no zeros until the records reach this
	                           * (after zeros that could not be written;
	                           * jmu) */
	int dir_dirty;            /* a journal rename not yet synced (jmu) */
	int jsyncing;             /* a commit is syncing jfd (jmu) */
	int jfd_old;              /* a swapped journal it syncs, or -1 */
	int load_v1;              /* spool_load read a first-version journal */
	unsigned load_bad;        /* damaged frames spool_load skipped */
	unsigned load_torn;       /* frames not written whole it skipped */
	unsigned load_unsynced;   /* submitted messages spool_load found
	                           * without their bytes (a draft again) */
	/* group commit */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	uint64_t sync_started, sync_done;
	int sync_running;
	int sync_err;
	uint64_t sync_ok;              /* the last commit that succeeded */
	/* reserved message files: msg/ID, empty, for the next ids, made
	 * ahead by a thread of their own (spool_spares_start) with one sync
	 * of the directory for a batch: a new message then costs neither the
	 * file system's search for a free inode nor a sync of the directory
	 * at its commit. A ring, given out in id order. */
	pthread_mutex_t spmu;
	pthread_cond_t spcv;
	int spare_fd[SPOOL_SPARES];
	int spare_lfd[SPOOL_SPARES];  /* its log/ID, open; -1: none */
	uint64_t spare_id[SPOOL_SPARES];
	size_t spare_head, nspare;
	uint64_t next_id;          /* the next id never given out (spmu) */
	int msgdir_dirty;          /* a name in msg/ not yet synced (spmu) */
	int spare_stop, spare_running;
	pthread_t spare_th;
	/* the helpers of spool_sync_fds, made at its first batch of three
	 * files or more, stopped by spool_close; one job at a time: each
	 * post of sw_go sends one helper to it, and the last one out posts
	 * sw_done (no lock: the committer alone hands out jobs) */
	sem_t sw_go, sw_done;
	pthread_t sw[SPOOL_SYNC_HELPERS];
	int nsw, sw_tried, sw_stop;
	int sw_ok;                /* helpers may be made (spool_sync_helpers_ok:
	                           * after the daemon's fork, which threads
	                           * made before it would not survive) */
	struct spool_syncjob *job;
	uint64_t stamp;           /* the committer's batch (spool_check) */
	int stamp_held;           /* a batch failed: its records stay among
	                           * the last batch's until a rewrite */
	/* A commit of the journal failed: its pages were marked clean, so
	 * a later sync that succeeds proves nothing of the records written
	 * before it. Every sync fails until spool_rewrite writes a new
	 * journal from memory (jmu). LOST_CB(LOST_ARG) is called, no lock
	 * held, when it is set. */
	int jlost;
	int dlost;                /* a sync of a spool directory failed:
	                           * every sync fails until a new mount
	                           * (jmu) */
	void (*lost_cb)(void *);
	void *lost_arg;
};

/* One batch of spool_sync_fds. */
struct spool_syncjob {
	const int *fds;
	size_t n;
	size_t next;              /* the next index to take (atomic) */
	int err;                  /* the first errno, 0: none (atomic) */
	int inside;               /* helpers sent to it, not out yet
	                           * (atomic) */
};

/*
 * Opens (creating as needed, mode 0700) the spool at PATH and locks it;
 * a spool locked by another process fails with its pid in ERR.
 */
int spool_open(struct spool *sp, const char *path, char *err, size_t errlen);
void spool_close(struct spool *sp);

/* Starts the thread that keeps SPOOL_SPARES reserved message files
 * ready for spool_new_msg (the daemon, once it runs, after
 * spool_set_next_id; spool_close stops it and removes the unused ones).
 * -1 with errno when it cannot start. */
int spool_spares_start(struct spool *sp);

/*
 * Makes every journal append done before the call durable: joins the
 * group commit. -1 with errno when the commit failed.
 */
int spool_sync(struct spool *sp);
/*
 * spool_sync in two steps: the ticket of the appends made so far (take
 * it after them), then the wait for a commit that covers it. When one
 * has run meanwhile (another thread's, or a spool_sync_fds), no new one
 * runs: the committer writes its outcomes' records, commits a batch of
 * new messages, and the batch's commit covers both. 0 when a commit
 * that started after the ticket succeeded, whatever failed since (the
 * commit of another thread); else -1 with the last commit's error.
 * (After a failed commit (jlost) none succeeds until the journal is
 * rewritten from memory, which has the records written before.)
 */
uint64_t spool_sync_ticket(struct spool *sp);
int spool_sync_for(struct spool *sp, uint64_t ticket);
/*
 * The same, and the message files open as FDS[0..N) (-1 entries are
 * skipped) with their names. The cost is outboxfs's own bytes only,
 * never the rest of the file system's (no syncfs): the writeback of
 * every file is started first (sync_file_range); the calling thread
 * syncs the directory and the journal meanwhile, and the files are
 * fdatasync'd (three or more by up to 7 helper threads at once, which
 * start at once: the file system commits once for the syncs that wait
 * together; one or two by the calling thread, after the journal, when
 * their writeback is mostly done). Nothing orders the journal after the
 * files: a queued record written before the call carries its file's
 * spool_check, stamped with spool_check_stamp; the next stamp is given
 * once the call succeeded. After a failed call the stamp is held until
 * spool_rewrite replaces the journal: that batch's queued records stay
 * the last batch's (checked at a mount) while its messages wait to be
 * submitted again. The committer's thread only.
 */
int spool_sync_fds(struct spool *sp, const int *fds, size_t n);
/* The stamp for the committer's next batch. */
uint64_t spool_check_stamp(struct spool *sp);
/* From now on spool_sync_fds may start its helper threads (before, the
 * calling thread syncs every file itself). */
void spool_sync_helpers_ok(struct spool *sp);

/* Writes all N bytes of P to FD (a write cut short goes on; EINTR is
 * retried). 0, or -1 with errno. */
int spool_write_all(int fd, const char *p, size_t n);

/* CRC-32C of LEN bytes. */
uint32_t spool_crc32c(const void *buf, size_t len);
/* The CRC-32C state C (0xFFFFFFFF at the start; the CRC is the state
 * inverted) after LEN more bytes. */
uint32_t spool_crc_more(uint32_t c, const void *buf, size_t len);
/* Appends TEXT (a formatted record) framed to OUT, whole or not at all.
 * -1 with errno (util/buf's). */
int spool_frame(struct buf *out, const char *text, size_t tlen);
/* Appends already framed bytes in one write; a part written (disk full)
 * is taken back. Durable after spool_sync. */
int spool_write_framed(struct spool *sp, const char *buf, size_t len);
/* Appends a formatted record (ending in "end\n"), framed. */
int spool_write_text(struct spool *sp, const char *text, size_t len);
/* Appends R to the journal. */
int spool_write_rec(struct spool *sp, const struct spool_rec *r);
/* The tombstone record of ID into BUF; its length, -1 when too small. */
int spool_tombstone_text(uint64_t id, char *buf, size_t cap);

/*
 * Reads the journal and the message directory and calls FN once per id,
 * in ascending order:
 *   R set      the last whole record of the id (FN may take what it
 *              points to and zero it; what is left is freed after FN);
 *   R NULL     BAD says why: every record of the id was bad, or there
 *              are message bytes without a record.
 * HAS_MSG: msg/ID exists. *max_id: the highest id ever used (also in
 * tombstones and corrupt/). Bad records are copied to corrupt/ID.meta.
 */
int spool_load(struct spool *sp, void (*fn)(void *arg, uint64_t id,
    struct spool_rec *r, const char *bad, int has_msg), void *arg,
    uint64_t *max_id, char *err, size_t errlen);

/*
 * Rewrites the journal from scratch: spool_compact_begin, one
 * spool_compact_add per live record, spool_compact_end (fsync, rename,
 * fsync of the directory). Only before the threads start.
 */
int spool_compact_begin(struct spool *sp);
int spool_compact_add(struct spool *sp, const struct spool_rec *r);
int spool_compact_end(struct spool *sp);

/* Bytes in the journal now. */
uint64_t spool_journal_size(struct spool *sp);

/*
 * Rewrites the journal while the daemon runs: FRAMED (LEN bytes of
 * framed records) is the snapshot of every live record as the journal
 * stood at MARK bytes (spool_journal_size, read while nothing could
 * append a record the snapshot lacks). It is written and synced with no
 * lock held; then, with appends stopped only for that, the records
 * appended since MARK are copied after it and the new journal renamed
 * over the old. -1 with errno: the old journal stays in use.
 */
int spool_rewrite(struct spool *sp, const char *framed, size_t len,
    uint64_t mark);

/* The first id spool_new_msg may give (the highest ever used + 1). */
void spool_set_next_id(struct spool *sp, uint64_t id);

/* A new message file: a reserved one (its name already durable), else
 * msg/ID created now for the next id. Sets *ID; returns its fd, opened
 * O_RDWR, empty, mode 0600; -1 with errno. *LFD (LFD may be NULL): its
 * empty log/ID made ahead, open for appending, or -1. */
int spool_new_msg(struct spool *sp, uint64_t *id, int *lfd);

/* Creates msg/ID empty (exclusive). Returns its fd, opened O_RDWR. Its
 * name is synced by the next spool_sync_fds. */
int spool_create_msg(struct spool *sp, uint64_t id);

/* A name in msg/ was made or replaced (a rename into it): the next
 * spool_sync_fds syncs the directory. */
void spool_msgdir_changed(struct spool *sp);

/*
 * OUT, a whole new file for msg/ID written as msg/TMP, synced and renamed
 * over msg/ID (the name made durable by the next sync of msg/). -1 with
 * errno: the caller closes OUT and removes TMP.
 */
int spool_install_msg(struct spool *sp, uint64_t id, int out,
    const char *tmp);

/*
 * Copies msg/ID's bytes, read through FD, to a new file, synced, which
 * replaces msg/ID (its name made durable by the next sync of msg/): the
 * way to make durable a file whose sync may have failed (a second sync
 * of it would prove nothing). *GOT is the copy's check; when it is not
 * WANT (set), nothing is replaced and it returns 1. *NEWFD (NULL: it is
 * closed) is the new file's, open for reading and writing. 0, or -1
 * with errno.
 */
int spool_copy_msg(struct spool *sp, uint64_t id, int fd,
    const struct spool_check *want, struct spool_check *got, int *newfd);

/*
 * A sync of one of the spool's directories (SUB: "" or "/msg") failed
 * (errno kept). A directory cannot be written again like a file, and a
 * retried sync would prove nothing (see jlost): every sync fails from
 * now on, until the spool is mounted again; logged once.
 */
void spool_dir_lost(struct spool *sp, const char *sub);
/* fsync of directory FD (SUB, as spool_dir_lost names it): 0, or -1
 * with errno after spool_dir_lost. */
int spool_sync_dir(struct spool *sp, int fd, const char *sub);

/* 1 when a commit of the journal failed and no rewrite has replaced it
 * since (spool_sync fails meanwhile: see jlost). */
int spool_journal_lost(struct spool *sp);

/* Opens msg/ID with FLAGS (O_RDONLY, O_RDWR, ...). Returns the fd. */
int spool_open_msg(struct spool *sp, uint64_t id, int flags);

/* Appends a tombstone for ID, removes msg/ID and log/ID. */
int spool_remove(struct spool *sp, uint64_t id);
/* Removes msg/ID and log/ID (the tombstone was written before). */
int spool_drop_files(struct spool *sp, uint64_t id);

/* Moves msg/ID and log/ID into corrupt/ (never deletes) and appends a
 * tombstone. */
int spool_set_aside(struct spool *sp, uint64_t id);

/* Appends LEN bytes to log/ID, which holds AT bytes (the attempts
 * before): a write that fails is taken back to AT. */
int spool_append_log(struct spool *sp, uint64_t id, uint64_t at,
    const char *buf, size_t len);

/* The same through FD, log/ID's descriptor (spool_new_msg's *LFD),
 * which it closes. */
int spool_append_log_fd(int fd, uint64_t at, const char *buf, size_t len);

/* Reads up to CAP bytes from log/ID at 0 into BUF; returns bytes read. */
ssize_t spool_read_log(struct spool *sp, uint64_t id, char *buf, size_t cap);

/* Size of log/ID, 0 when absent. */
uint64_t spool_log_size(struct spool *sp, uint64_t id);

#endif
