/*
 * pickup — the daemon's side of the maildrop (fs/drop.h): turns each
 * drop that outboxfs-sendmail left in SPOOL/maildrop/ into a message of
 * the outbox named "sendmail-NAME" with its status file, submitted at
 * once (it arrived whole: no settle time), its envelope (sender,
 * recipients, DSN request) in its record ("envelope 1"), used instead of
 * the headers when it is prepared.
 *
 * Drops are picked up at mount, before the mount appears
 * (pickup_at_mount, next to queue_submit_pending), and while mounted by
 * a thread of its own woken by inotify on maildrop/ (pickup_start); it
 * never holds ob->mu or ob->rmu across I/O.
 *
 * A "retry.NAME" trigger (outboxfs-sendmail -q) retries every deferred
 * message now and ends the pause of every account, as a touch does.
 *
 * The daemon writes its mount point to SPOOL/mountpoint while it runs
 * (advisory: the sendmail command trusts it only while SPOOL/lock is
 * held), so that -bp and --wait find the mount.
 *
 * Error convention: see each function; failures are logged, a drop that
 * could not be taken stays where it is and is tried again.
 */
#ifndef OUTBOXFS_PICKUP_H
#define OUTBOXFS_PICKUP_H

#include <stddef.h>

#include "fs/outbox.h"
#include "smtp/msg.h"

#define PICKUP_PREFIX     "sendmail-"
#define PICKUP_RETRY_MS   5000    /* a drop that failed is tried again */
#define PICKUP_MOUNTPOINT "mountpoint"

/* A message's submitter envelope, copied out of its record. */
struct pickup_env {
	int set;                  /* the record has "envelope 1" */
	char *from;               /* NULL: the account's from */
	char **rcpts;
	size_t nrcpts;
	char *dsn_notify;         /* -N, -R, -V of outboxfs-sendmail, or */
	char *dsn_ret;            /* NULL: the account's dsn_notify and */
	char *dsn_envid;          /* dsn_return */
};

/* Copies M's envelope (ob->mu NOT held; taken inside). -1 without
 * memory. pickup_env_free releases it. */
int pickup_env_get(struct ob *ob, struct ob_msg *m, struct pickup_env *e);
void pickup_env_free(struct pickup_env *e);
/* Puts E (may be NULL or unset: nothing) into P; E borrowed while P is
 * used. */
void pickup_env_apply(const struct pickup_env *e, struct msg_params *p);

/* Picks up every drop now, in the calling thread (at mount, before the
 * threads start). */
void pickup_at_mount(struct ob *ob);

struct pickup;

/*
 * Starts the pickup thread (ob->mu NOT held) and writes MOUNTPOINT
 * (absolute, may be NULL) to SPOOL/mountpoint. NULL with errno when it
 * could not start (the daemon then still picks drops up at each mount).
 */
struct pickup *pickup_start(struct ob *ob, const char *mountpoint);
/* Stops and joins the thread, removes SPOOL/mountpoint; PK may be NULL. */
void pickup_stop(struct pickup *pk);

#endif
