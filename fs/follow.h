/*
 * follow — waiting for a message to reach a final state, from outside
 * the daemon, by reading its NAME.status through the mount; the exit
 * codes of `outboxfs --wait` and `outboxfs-sendmail --wait`
 * (sysexits.h):
 *
 *   0   EX_OK           sent
 *   67  EX_NOUSER       partial: some recipients refused permanently
 *   65  EX_DATAERR      failed before any connection (the message
 *                       itself: no recipient, a bad address, too large)
 *   69  EX_UNAVAILABLE  failed: refused by the server, or expired;
 *                       or removed from a mount that is still there
 *   75  EX_TEMPFAIL     not final when the wait ended (deferred,
 *                       queued, still sending, its outbox unmounted)
 *   66  EX_NOINPUT      no such message (no NAME.status)
 *
 * The status file is read again every FOLLOW_POLL_MS .. 1 s (a reader
 * outside the daemon cannot use inotify on a FUSE mount: the daemon's
 * own changes make no events).
 *
 * Knows nothing of FUSE or the spool: plain reads of a file.
 * Error convention: the functions return an exit code; a reason goes
 * to err.
 */
#ifndef OUTBOXFS_FOLLOW_H
#define OUTBOXFS_FOLLOW_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FOLLOW_EX_OK          0
#define FOLLOW_EX_DATAERR     65
#define FOLLOW_EX_NOINPUT     66
#define FOLLOW_EX_PARTIAL     67     /* EX_NOUSER */
#define FOLLOW_EX_UNAVAILABLE 69
#define FOLLOW_EX_TEMPFAIL    75
#define FOLLOW_POLL_MS        50
#define FOLLOW_UNMOUNTED      (-1)   /* not an exit code: see follow */
#define FOLLOW_MAX_TEXT       (16u * 1024 * 1024)

/*
 * The exit code the status text TEXT (LEN bytes) stands for; *final
 * 1 when its state is final. A text without a state line: 75, not
 * final.
 */
int follow_code(const char *text, size_t len, int *final);

/*
 * One wait: what the caller sets (deadline_ms, out, stop; the rest 0)
 * and what follow_wait leaves for the next call on the same message.
 *
 *   deadline_ms  CLOCK_MONOTONIC milliseconds, -1: none
 *   out          where the transcript (after the header's blank line)
 *                is written as it grows, or NULL
 *   stop         NULL, or signals the caller keeps blocked that end the
 *                wait when one is pending or arrives (it is taken:
 *                sigtimedwait); the code is then 75 and signo says which
 *   shown        transcript bytes written to out so far
 *   unmount_returns  1: when the mount goes away, return
 *                FOLLOW_UNMOUNTED at once (the caller finds the next
 *                mount itself); 0: wait for PATH to show again
 *   signo        out: the signal that ended the wait, else 0
 */
struct follow {
	int64_t deadline_ms;
	FILE *out;
	const sigset_t *stop;
	int unmount_returns;
	size_t shown;
	int signo;
};

/*
 * Waits until the status file PATH shows a final state, F's deadline
 * passes or one of its stop signals comes. Returns the exit code; err
 * says why for 66 and I/O errors.
 *
 * The status file gone after it was read is a removal (69) only while
 * its directory is still on a live outboxfs mount. When the mount went
 * away (unmounted, its daemon killed) the message is still in the
 * spool and the next mount shows it: the wait goes on until PATH shows
 * again (or returns FOLLOW_UNMOUNTED, see unmount_returns), and ends
 * 75 at the deadline.
 */
int follow_wait(struct follow *f, const char *path, char *err,
    size_t errlen);

/*
 * Sleeps MS milliseconds, less when F's deadline comes first. Returns 1
 * when one of F's stop signals was pending or came (f->signo set), else
 * 0.
 */
int follow_sleep(struct follow *f, int64_t ms);

/* The most telling of two codes (for several messages): 75, then 69,
 * 65, 66, 67, then 0. */
int follow_worse(int a, int b);

#endif
