/*
 * queue — the threads that move messages forward, apart from the FUSE
 * callbacks (which never wait on the network or on a sync):
 *
 *   the committer   turns settled drafts into queued messages: prepares
 *                   them, writes their records, one spool_sync for the
 *                   whole batch (group commit), then marks them queued;
 *                   and shows delivery outcomes once they are durable;
 *   delivery        `connections` threads; each takes a due message,
 *                   connects with its account and keeps the connection
 *                   for every further due message of that account. An
 *                   outcome is written to the spool at once and handed
 *                   to the committer, which writes its transcript to
 *                   the log and shows it after its next sync (outcomes
 *                   as soon as they come, one commit for all that came
 *                   while the last one ran): no connection waits
 *                   for a sync or a log file. A message that went
 *                   through retries the account's deferred ones.
 *
 * A reused connection's later messages start their transcript with
 * "--- attempt N TIME HOST:PORT (connection reused; it opened with:)",
 * the connection's opening lines (smtp_prologue) and "[...]".
 *
 * Waiting is on condition variables with CLOCK_MONOTONIC deadlines:
 * an idle daemon uses no CPU.
 */
#ifndef OUTBOXFS_QUEUE_H
#define OUTBOXFS_QUEUE_H

#include "fs/outbox.h"

/*
 * Submits, in the calling thread, every draft waiting for its settle time
 * (used at start-up for drafts closed before a stop, so they are queued
 * before the mount appears).
 */
void queue_submit_pending(struct ob *ob);

/* Starts the threads. -1 with errno when one could not start (those
 * started are stopped again). */
int queue_start(struct ob *ob);

/*
 * Asks every thread to stop (drafts whose settle time is running are
 * submitted first), waits up to WAIT_MS for them. Returns the number of
 * threads still running (stuck in a network call; they hold nothing the
 * spool needs, so exiting is safe).
 */
unsigned queue_stop(struct ob *ob, int wait_ms);

#endif
