/*
 * follow — waiting on a status file (see follow.h).
 *
 * Must never: take a state for final that the status file does not
 * show, or read more than FOLLOW_MAX_TEXT bytes of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fs/follow.h"
#include "util/buf.h"
#include "util/clock.h"

/* The value of header KEY in TEXT (up to the blank line), or NULL;
 * *n its length. */
static const char *follow_key(const char *text, size_t len, const char *key,
    size_t *n)
{
	const char *p = text, *end = text + len, *nl;
	size_t k = strlen(key);

	while (p < end && *p != '\n') {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > k + 1 && memcmp(p, key, k) == 0 &&
		    p[k] == ':' && p[k + 1] == ' ') {
			*n = (size_t)(nl - p) - k - 2;
			return p + k + 2;
		}
		p = nl + 1;
	}
	return NULL;
}

static int follow_is(const char *v, size_t n, const char *word)
{
	return v && n == strlen(word) && memcmp(v, word, n) == 0;
}

int follow_code(const char *text, size_t len, int *final)
{
	const char *st, *att;
	size_t n, an = 0;

	*final = 1;
	st = follow_key(text, len, "state", &n);
	if (follow_is(st, n, "sent"))
		return FOLLOW_EX_OK;
	if (follow_is(st, n, "partial"))
		return FOLLOW_EX_PARTIAL;
	if (follow_is(st, n, "failed")) {
		/* never connected: the message itself was refused */
		att = follow_key(text, len, "attempts", &an);
		if (follow_key(text, len, "server", &n) == NULL &&
		    (att == NULL || follow_is(att, an, "0")))
			return FOLLOW_EX_DATAERR;
		return FOLLOW_EX_UNAVAILABLE;
	}
	*final = 0;
	return FOLLOW_EX_TEMPFAIL;
}

int follow_worse(int a, int b)
{
	static const int order[] = { FOLLOW_EX_TEMPFAIL,
		FOLLOW_EX_UNAVAILABLE, FOLLOW_EX_DATAERR, FOLLOW_EX_NOINPUT,
		FOLLOW_EX_PARTIAL };
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return a ? a : b;
}

/* Reads the file PATH into B (emptied first): its first FOLLOW_MAX_TEXT
 * bytes, B's cap. */
static int follow_read(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc, saved;

	if (fd < 0)
		return -1;
	buf_reset(b);
	rc = buf_read_fd(b, fd);
	saved = errno;
	close(fd);
	if (rc < 0 && saved == EMSGSIZE)
		rc = 0;                 /* longer: its head is enough */
	errno = saved;
	return rc;
}

/* Writes the transcript bytes of TEXT past *shown to OUT. */
static int follow_print(const char *text, size_t len, size_t *shown,
    FILE *out)
{
	const char *t = NULL;
	size_t i, tlen;

	for (i = 0; i + 1 < len; i++)
		if (text[i] == '\n' && text[i + 1] == '\n') {
			t = text + i + 2;
			break;
		}
	if (t == NULL)
		return 0;
	tlen = len - (size_t)(t - text);
	if (tlen > *shown) {
		if (fwrite(t + *shown, 1, tlen - *shown, out) !=
		    tlen - *shown || fflush(out) != 0)
			return -1;
		*shown = tlen;
	}
	return 0;
}

/*
 * 1 when the directory of the status file PATH is on a live outboxfs
 * mount: it can be stat'd (a daemon killed without an unmount gives
 * ENOTCONN) and its device is that of a fuse.outboxfs line of
 * /proc/self/mountinfo. 0 when the mount went away: the path is the
 * directory under it again, or dead.
 */
static int follow_on_outbox(const char *path)
{
	char dir[4200], line[8192], want[64], *sep;
	const char *slash = strrchr(path, '/');
	struct stat st;
	FILE *mi;
	int found = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) < 0)
		return 0;
	snprintf(want, sizeof(want), " %u:%u ", major(st.st_dev),
	    minor(st.st_dev));
	mi = fopen("/proc/self/mountinfo", "re");
	if (mi == NULL)
		return 1;               /* cannot tell: as before */
	while (!found && fgets(line, sizeof(line), mi)) {
		/* ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS] - TYPE ... */
		sep = strstr(line, " - ");
		found = sep && strstr(line, want) != NULL &&
		    strstr(line, want) < sep &&
		    strncmp(sep + 3, "fuse.outboxfs ", 14) == 0;
	}
	fclose(mi);
	return found;
}

int follow_sleep(struct follow *f, int64_t ms)
{
	struct timespec ts;
	int64_t now = clock_mono_ms();
	int sig;

	if (f->deadline_ms >= 0 && now + ms > f->deadline_ms)
		ms = f->deadline_ms > now ? f->deadline_ms - now : 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	if (f->stop == NULL) {
		nanosleep(&ts, NULL);
		return 0;
	}
	/* The stop signals are blocked: one that came before the call is
	 * pending and taken at once; EINTR (another signal) or EAGAIN
	 * (the time) is no stop. */
	sig = sigtimedwait(f->stop, NULL, &ts);
	if (sig <= 0)
		return 0;
	f->signo = sig;
	return 1;
}

int follow_wait(struct follow *f, const char *path, char *err,
    size_t errlen)
{
	struct buf text = BUF_INIT(FOLLOW_MAX_TEXT);
	int code = FOLLOW_EX_TEMPFAIL, final = 0, seen = 0, gone = 0;
	int64_t pause = FOLLOW_POLL_MS;

	err[0] = '\0';
	f->signo = 0;
	for (;;) {
		if (follow_read(path, &text) < 0) {
			int e = errno;

			if (seen && !follow_on_outbox(path)) {
				/* The mount went away (unmounted, its
				 * daemon killed), not the message: it is
				 * in the spool and the next mount shows
				 * it. Not final. */
				code = FOLLOW_EX_TEMPFAIL;
				if (f->unmount_returns) {
					code = FOLLOW_UNMOUNTED;
					break;
				}
				gone = 1;
				goto next;
			}
			if (e == ENOENT && seen) {
				snprintf(err, errlen, "%s: removed before it "
				    "was sent", path);
				code = FOLLOW_EX_UNAVAILABLE;
			} else if (e == ENOENT) {
				snprintf(err, errlen, "%s: no such message",
				    path);
				code = FOLLOW_EX_NOINPUT;
			} else {
				snprintf(err, errlen, "%s: %s", path,
				    strerror(e));
				code = FOLLOW_EX_TEMPFAIL;
			}
			break;
		}
		seen = 1;
		gone = 0;
		code = follow_code(text.p, text.len, &final);
		if (f->out && follow_print(text.p, text.len, &f->shown,
		    f->out) < 0) {
			snprintf(err, errlen, "writing the transcript: %s",
			    strerror(errno));
			break;
		}
		if (final)
			break;
next:
		if (f->deadline_ms >= 0 && clock_mono_ms() >= f->deadline_ms)
			break;
		if (follow_sleep(f, pause)) {
			code = FOLLOW_EX_TEMPFAIL;
			break;
		}
		pause = pause * 2 > 1000 ? 1000 : pause * 2;
	}
	if (gone && code == FOLLOW_EX_TEMPFAIL && !f->signo)
		snprintf(err, errlen, "%s: its outbox was unmounted and is "
		    "not mounted again; the message is queued, not final when "
		    "the wait ended", path);
	buf_free(&text);
	return code;
}
