/*
 * config/password — the secret for AUTH: `password`, or the first line a
 * `passwordeval` command prints.
 *
 * The command runs through posix_spawn (no code of ours between fork and
 * exec, so it is safe in the multi-threaded daemon), with stdin on
 * /dev/null, stdout and stderr on close-on-exec pipes, the signal mask
 * cleared and no other descriptor inherited. Must never print, never log
 * the secret, never wait without a deadline, and never leave the child
 * unreaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"

#define CFG_EVAL_ERRMAX   512   /* bytes of the command's stderr kept */
#define CFG_EVAL_SHOWMAX  200   /* bytes of the command shown in messages */

struct cfg_eval {
	char *out;          /* first line of stdout (so far) */
	size_t outlen;
	int have_line;      /* a newline was seen: the rest is discarded */
	int too_long;
	char errbuf[CFG_EVAL_ERRMAX + 1];
	size_t errlen;
};

/* Moves FD above 2 so that dup2 onto 0..2 in the child really copies it
 * (dup2 onto itself would keep close-on-exec). */
static int cfg_fd_high(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static long long cfg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the first line of stdout, up to CFG_MAX_PASSWORD bytes. */
static void cfg_eval_stdout(struct cfg_eval *ev, const char *buf, size_t n)
{
	const char *nl;
	size_t take;

	if (ev->have_line || ev->too_long)
		return;
	nl = memchr(buf, '\n', n);
	take = nl != NULL ? (size_t)(nl - buf) : n;
	if (ev->outlen + take > CFG_MAX_PASSWORD) {
		ev->too_long = 1;
		return;
	}
	memcpy(ev->out + ev->outlen, buf, take);
	ev->outlen += take;
	if (nl != NULL)
		ev->have_line = 1;
}

static void cfg_eval_stderr(struct cfg_eval *ev, const char *buf, size_t n)
{
	size_t room = CFG_EVAL_ERRMAX - ev->errlen;

	if (n > room)
		n = room;
	memcpy(ev->errbuf + ev->errlen, buf, n);
	ev->errlen += n;
	ev->errbuf[ev->errlen] = '\0';
}

/* The first line of the command's stderr, printable bytes only, for an
 * error message; "" when it printed nothing. */
static void cfg_eval_reason(const struct cfg_eval *ev, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < ev->errlen && o + 1 < len; i++) {
		unsigned char c = (unsigned char)ev->errbuf[i];
		if (c == '\n' && o > 0)
			break;
		if (c == '\n' || c == '\r')
			continue;
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
}

/*
 * Runs CMD, reading both pipes until the child has exited and both are
 * drained, or the deadline passes. Returns 0 with *status filled, or -1
 * with errno (ETIMEDOUT when the command was killed for taking too long).
 */
static int cfg_eval_run(const char *cmd, struct cfg_eval *ev, int *status)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, deflt;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid;
	int rc, saved = 0, exited = 0, timed_out = 0;
	long long deadline;
	char buf[4096];

	if (pipe2(outp, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(errp, O_CLOEXEC) != 0) {
		saved = errno;
		close(outp[0]);
		close(outp[1]);
		errno = saved;
		return -1;
	}
	outp[1] = cfg_fd_high(outp[1]);
	errp[1] = cfg_fd_high(errp[1]);
	if (outp[1] < 0 || errp[1] < 0) {
		saved = errno;
		goto close_all;
	}

	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		saved = rc;
		goto close_all;
	}
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		saved = rc;
		goto close_all;
	}
	sigemptyset(&none);
	sigemptyset(&deflt);
	/* Dispositions a daemon commonly ignores survive exec; reset them. */
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGCHLD);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGQUIT);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGUSR1);
	sigaddset(&deflt, SIGUSR2);
	sigaddset(&deflt, SIGALRM);
	sigaddset(&deflt, SIGTTIN);
	sigaddset(&deflt, SIGTTOU);
	sigaddset(&deflt, SIGTSTP);
	rc = posix_spawnattr_setsigmask(&attr, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&attr, &deflt);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr,
		    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		    O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
#endif
	if (rc == 0)
		rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		saved = rc;
		goto close_all;
	}
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);

	deadline = cfg_now_ms() + (long long)CFG_EVAL_TIMEOUT_S * 1000;
	/*
	 * Read until both pipes reach EOF. A command may leave a background
	 * process holding the pipes open (an agent it started), so once the
	 * child itself has exited, stop at the first quiet moment.
	 */
	while (outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[2];
		nfds_t nfd = 0;
		long long left = deadline - cfg_now_ms();
		int wait_ms, pr;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (outp[0] >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = outp[0],
			    .events = POLLIN };
		if (errp[0] >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = errp[0],
			    .events = POLLIN };
		/* Poll in slices only to notice a child that exited while a
		 * grandchild holds the pipe. */
		wait_ms = left > 200 ? 200 : (int)left;
		pr = poll(pfd, nfd, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			saved = errno;
			timed_out = 1;      /* kill and reap below */
			break;
		}
		if (pr == 0) {
			if (exited)
				break;
			rc = waitpid(pid, status, WNOHANG);
			if (rc == pid)
				exited = 1;
			else if (rc < 0 && errno != EINTR) {
				saved = errno;
				exited = -1;
				break;
			}
			continue;
		}
		for (nfds_t i = 0; i < nfd; i++) {
			int *fdp;
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			fdp = pfd[i].fd == outp[0] ? &outp[0] : &errp[0];
			r = read(*fdp, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				close(*fdp);
				*fdp = -1;
				continue;
			}
			if (fdp == &outp[0])
				cfg_eval_stdout(ev, buf, (size_t)r);
			else
				cfg_eval_stderr(ev, buf, (size_t)r);
		}
	}
	explicit_bzero(buf, sizeof(buf));

	if (timed_out && !exited)
		kill(pid, SIGKILL);     /* our own child, by its pid */
	if (exited == 0) {
		while ((rc = waitpid(pid, status, 0)) < 0 && errno == EINTR)
			;
		if (rc < 0 && !saved)
			saved = errno;
	}
	if (timed_out && !saved)
		saved = ETIMEDOUT;

close_all:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (saved) {
		errno = saved;
		return -1;
	}
	return 0;
}

int cfg_password(const struct cfg_account *a, char **out, char *err,
    size_t errlen)
{
	struct cfg_eval ev;
	char reason[CFG_EVAL_ERRMAX + 1];
	char ebuf[128];
	const char *cmd = a->passwordeval;
	int status = 0, shown;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (a->password != NULL) {
		*out = strdup(a->password);
		if (*out == NULL) {
			cfg_acct_err(a, err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if (cmd == NULL)
		return 1;

	memset(&ev, 0, sizeof(ev));
	ev.out = malloc(CFG_MAX_PASSWORD + 1);
	if (ev.out == NULL) {
		cfg_acct_err(a, err, errlen, "out of memory");
		return -1;
	}
	shown = strlen(cmd) > CFG_EVAL_SHOWMAX ? CFG_EVAL_SHOWMAX
	    : (int)strlen(cmd);

	if (cfg_eval_run(cmd, &ev, &status) != 0) {
		int e = errno;
		if (e == ETIMEDOUT)
			cfg_acct_err(a, err, errlen, "passwordeval `%.*s` did "
			    "not finish within %u s and was stopped; check "
			    "that it runs without asking anything", shown, cmd,
			    CFG_EVAL_TIMEOUT_S);
		else
			cfg_acct_err(a, err, errlen, "cannot run passwordeval "
			    "`%.*s`: %s", shown, cmd,
			    strerror_r(e, ebuf, sizeof(ebuf)));
		goto fail;
	}
	cfg_eval_reason(&ev, reason, sizeof(reason));
	if (WIFSIGNALED(status)) {
		cfg_acct_err(a, err, errlen, "passwordeval `%.*s` was killed "
		    "by signal %d%s%s; run it in a shell to see why", shown,
		    cmd, WTERMSIG(status), reason[0] ? ": " : "", reason);
		goto fail;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cfg_acct_err(a, err, errlen, "passwordeval `%.*s` exited with "
		    "status %d%s%s; run it in a shell to see why", shown, cmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		    reason[0] ? ": " : "", reason);
		goto fail;
	}
	if (ev.too_long) {
		cfg_acct_err(a, err, errlen, "passwordeval `%.*s` printed a "
		    "first line longer than %d bytes; it must print the "
		    "password alone on its first line", shown, cmd,
		    CFG_MAX_PASSWORD);
		goto fail;
	}
	if (ev.outlen > 0 && ev.out[ev.outlen - 1] == '\r')
		ev.outlen--;
	if (ev.outlen == 0) {
		cfg_acct_err(a, err, errlen, "passwordeval `%.*s` printed "
		    "nothing; it must print the password on its first line",
		    shown, cmd);
		goto fail;
	}
	*out = strndup(ev.out, ev.outlen);
	explicit_bzero(ev.out, CFG_MAX_PASSWORD + 1);
	free(ev.out);
	if (*out == NULL) {
		cfg_acct_err(a, err, errlen, "out of memory");
		return -1;
	}
	return 0;

fail:
	explicit_bzero(ev.out, CFG_MAX_PASSWORD + 1);
	free(ev.out);
	return -1;
}
