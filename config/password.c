/*
 * config/password — the secret for AUTH: `password`, or the first line a
 * `passwordeval` command prints.
 *
 * The command runs through posix_spawn (no code of ours between fork and
 * exec, so it is safe in the multi-threaded daemon) as the leader of a
 * process group of its own, with stdin on /dev/null, stdout and stderr on
 * close-on-exec pipes, the signal mask cleared and no other descriptor
 * inherited. However the call ends (answer read, failure, deadline,
 * cfg_password_kill_all), the whole group is ended (SIGTERM, a short
 * grace, SIGKILL) and the command reaped: nothing it started outlives the
 * call unless it left the group, as an agent that calls setsid does.
 * Must never print, never log the secret, never wait without a deadline.
 *
 * The one global state of config/: the registry of the groups running
 * now, so that the daemon can end them all when it stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"
#include "util/clock.h"

#define CFG_EVAL_ERRMAX   512   /* bytes of the command's stderr kept */
#define CFG_EVAL_SHOWMAX  200   /* bytes of the command shown in messages */
#define CFG_EVAL_GRACE_MS 300   /* from SIGTERM to SIGKILL for the group */
#define CFG_EVAL_SLICE_MS 20    /* exit polling where pidfd_open is missing */
#define CFG_EVAL_DRAIN_READS 64 /* reads after the leader exited, at most */

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

/* ---- the registry of running commands --------------------------------- */

/*
 * One command in flight, on its caller's stack. It is listed from before
 * the spawn until just before its leader is reaped: while listed, its
 * group id cannot be handed to another process (the leader, alive or a
 * zombie, holds the number), so cfg_password_kill_all may signal it.
 */
struct cfg_run {
	pid_t pgid;                 /* 0 until spawned */
	int killed;                 /* reached by cfg_password_kill_all */
	LIST_ENTRY(cfg_run) link;
};

static pthread_mutex_t cfg_runs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cfg_runs_cv = PTHREAD_COND_INITIALIZER;
static LIST_HEAD(, cfg_run) cfg_runs = LIST_HEAD_INITIALIZER(cfg_runs);
static int cfg_runs_closed;     /* after kill_all: nothing new starts */

static int cfg_run_enter(struct cfg_run *r)
{
	int rc = 0;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&cfg_runs_mu);
	if (cfg_runs_closed) {
		rc = -1;
	} else {
		LIST_INSERT_HEAD(&cfg_runs, r, link);
	}
	pthread_mutex_unlock(&cfg_runs_mu);
	return rc;
}

/* Records the group; 1 when kill_all came first (stop it at once). */
static int cfg_run_spawned(struct cfg_run *r, pid_t pgid)
{
	int killed;

	pthread_mutex_lock(&cfg_runs_mu);
	r->pgid = pgid;
	killed = r->killed;
	pthread_mutex_unlock(&cfg_runs_mu);
	return killed;
}

static int cfg_run_killed(struct cfg_run *r)
{
	int killed;

	pthread_mutex_lock(&cfg_runs_mu);
	killed = r->killed;
	pthread_mutex_unlock(&cfg_runs_mu);
	return killed;
}

static void cfg_run_leave(struct cfg_run *r)
{
	pthread_mutex_lock(&cfg_runs_mu);
	LIST_REMOVE(r, link);
	pthread_cond_broadcast(&cfg_runs_cv);
	pthread_mutex_unlock(&cfg_runs_mu);
}

void cfg_password_kill_all(void)
{
	struct timespec until;
	struct cfg_run *r;

	/* the condition variable's clock (default attributes) */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)CFG_EVAL_GRACE_MS * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;

	pthread_mutex_lock(&cfg_runs_mu);
	cfg_runs_closed = 1;
	LIST_FOREACH(r, &cfg_runs, link) {
		r->killed = 1;
		if (r->pgid > 0) {
			kill(-r->pgid, SIGTERM);
			kill(-r->pgid, SIGCONT);
		}
	}
	/* Each caller wakes as its leader exits, ends the rest of the group
	 * and leaves the list; a leader that ignores SIGTERM is killed. */
	while (!LIST_EMPTY(&cfg_runs)) {
		if (pthread_cond_timedwait(&cfg_runs_cv, &cfg_runs_mu,
		    &until) == ETIMEDOUT)
			break;
	}
	LIST_FOREACH(r, &cfg_runs, link)
		if (r->pgid > 0)
			kill(-r->pgid, SIGKILL);
	pthread_mutex_unlock(&cfg_runs_mu);
}

/* ---- running one command ----------------------------------------------- */

static void cfg_sleep_ms(long long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
	    .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A descriptor that becomes readable when PID exits, or -1 where the
 * kernel has no pidfd_open (then exits are polled in slices). */
static int cfg_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);   /* close-on-exec */
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* 1 when the leader PID has exited, without reaping it (the zombie keeps
 * the group id ours); 0 when it still runs; -1 with errno. */
static int cfg_leader_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT)
	    != 0) {
		if (errno != EINTR)
			return -1;
	}
	return si.si_pid == pid;
}

/* Waits for the leader to exit until UNTIL (clock_mono_ms). 1 exited,
 * 0 not yet, -1 with errno. */
static int cfg_leader_wait(pid_t pid, int pidfd, long long until)
{
	for (;;) {
		int rc = cfg_leader_exited(pid);
		long long left;

		if (rc != 0)
			return rc;
		left = until - clock_mono_ms();
		if (left <= 0)
			return 0;
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			(void)poll(&pfd, 1, (int)left);   /* EINTR: look again */
		} else {
			cfg_sleep_ms(left > CFG_EVAL_SLICE_MS ?
			    CFG_EVAL_SLICE_MS : left);
		}
	}
}

/*
 * Ends the command and everything in its group: SIGTERM to the group,
 * up to CFG_EVAL_GRACE_MS for the leader to exit, SIGKILL to the group if
 * it did not; the leader is reaped into *status; members still there at
 * the end of the grace get SIGKILL. Signals sent while the leader is
 * unreaped cannot reach a stranger (the zombie holds the number). After
 * the reap a live member holds it; only if the last one exited in the
 * instant before a kill, and the pid space wrapped around in that
 * instant, could the number be someone else's.
 * Returns 0, or -1 with errno when the leader could not be reaped.
 */
static int cfg_group_stop(struct cfg_run *r, pid_t pid, int pidfd,
    int *status)
{
	long long until = clock_mono_ms() + CFG_EVAL_GRACE_MS;
	int rc, saved = 0;

	kill(-pid, SIGTERM);
	kill(-pid, SIGCONT);        /* a stopped member then sees SIGTERM */
	if (cfg_leader_wait(pid, pidfd, until) == 0)
		kill(-pid, SIGKILL);
	cfg_run_leave(r);           /* before the reap frees the group id */
	while ((rc = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		saved = errno;
	while (kill(-pid, 0) == 0 && clock_mono_ms() < until)
		cfg_sleep_ms(5);
	if (kill(-pid, 0) == 0)
		kill(-pid, SIGKILL);
	if (saved) {
		errno = saved;
		return -1;
	}
	return 0;
}

/* One read from FDS[I] (0 stdout, 1 stderr) into EV: 1 bytes taken, 0
 * none now, -1 end (EOF or error; the descriptor is closed). */
static int cfg_eval_take(int fds[2], int i, struct cfg_eval *ev, char *buf,
    size_t len)
{
	ssize_t n = read(fds[i], buf, len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(fds[i]);
		fds[i] = -1;
		return -1;
	}
	if (i == 0)
		cfg_eval_stdout(ev, buf, (size_t)n);
	else
		cfg_eval_stderr(ev, buf, (size_t)n);
	return 1;
}

/* What the leader wrote before it exited is in the pipes: take it without
 * waiting for a background member that holds them open. Bounded, in case
 * such a member keeps writing. */
static void cfg_eval_drain(int fds[2], struct cfg_eval *ev, char *buf,
    size_t len)
{
	for (int i = 0; i < 2; i++) {
		for (int n = 0; fds[i] >= 0 && n < CFG_EVAL_DRAIN_READS; n++) {
			if (cfg_eval_take(fds, i, ev, buf, len) <= 0)
				break;
			if (i == 0 && (ev->have_line || ev->too_long))
				break;
			if (i == 1 && ev->errlen == CFG_EVAL_ERRMAX)
				break;
		}
	}
}

enum cfg_end {
	CFG_END_EXITED,             /* the leader exited */
	CFG_END_DEADLINE,
	CFG_END_KILLED,             /* cfg_password_kill_all */
	CFG_END_ERROR,              /* errno set */
};

/*
 * Reads both pipes until the leader exits, the deadline passes or
 * kill_all reaches this run. The pipes' EOF is not waited for: a member
 * left in the background may hold them open.
 */
static enum cfg_end cfg_eval_read(struct cfg_run *r, pid_t pid, int pidfd,
    int fds[2], struct cfg_eval *ev, long long deadline, char *buf,
    size_t len)
{
	for (;;) {
		struct pollfd pfd[3];
		int idx[3];
		nfds_t nfd = 0;
		long long left;
		int rc, pr, wait_ms;

		if (cfg_run_killed(r))
			return CFG_END_KILLED;
		rc = cfg_leader_exited(pid);
		if (rc < 0)
			return CFG_END_ERROR;
		if (rc > 0)
			return CFG_END_EXITED;
		left = deadline - clock_mono_ms();
		if (left <= 0)
			return CFG_END_DEADLINE;
		for (int i = 0; i < 2; i++) {
			if (fds[i] < 0)
				continue;
			idx[nfd] = i;
			pfd[nfd++] = (struct pollfd){ .fd = fds[i],
			    .events = POLLIN };
		}
		if (pidfd >= 0) {
			idx[nfd] = -1;
			pfd[nfd++] = (struct pollfd){ .fd = pidfd,
			    .events = POLLIN };
		}
		wait_ms = pidfd < 0 && left > CFG_EVAL_SLICE_MS ?
		    CFG_EVAL_SLICE_MS : left > INT_MAX ? INT_MAX : (int)left;
		pr = poll(pfd, nfd, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return CFG_END_ERROR;
		for (nfds_t i = 0; i < nfd; i++) {
			if (idx[i] < 0 || !(pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			(void)cfg_eval_take(fds, idx[i], ev, buf, len);
		}
	}
}

/*
 * Runs CMD in a new process group and reads its output until the leader
 * exits, TIMEOUT_MS pass or kill_all stops it; then ends the whole group
 * (cfg_group_stop). Returns 0 with *status filled, or -1 with errno:
 * ETIMEDOUT (deadline), ECANCELED (cfg_password_kill_all, before or
 * during the run), or what failed.
 */
static int cfg_eval_run(const char *cmd, unsigned timeout_ms,
    struct cfg_eval *ev, int *status)
{
	struct cfg_run run;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, fds[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, deflt;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid;
	int rc, saved = 0, pidfd = -1;
	enum cfg_end end;
	char buf[4096];

	if (cfg_run_enter(&run) != 0) {
		errno = ECANCELED;
		return -1;
	}
	if (pipe2(outp, O_CLOEXEC) != 0) {
		saved = errno;
		goto close_all;
	}
	if (pipe2(errp, O_CLOEXEC) != 0) {
		saved = errno;
		goto close_all;
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
	/* A group of its own, with the command as leader (group id = its
	 * pid), so that what it leaves behind can be found and ended. */
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
		    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
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
	fds[0] = outp[0];
	fds[1] = errp[0];

	if (cfg_run_spawned(&run, pid)) {
		end = CFG_END_KILLED;
	} else {
		pidfd = cfg_pidfd_open(pid);
		end = cfg_eval_read(&run, pid, pidfd, fds, ev,
		    clock_mono_ms() + timeout_ms, buf, sizeof(buf));
		if (end == CFG_END_ERROR)
			saved = errno;
		else if (end == CFG_END_EXITED)
			cfg_eval_drain(fds, ev, buf, sizeof(buf));
	}
	explicit_bzero(buf, sizeof(buf));
	outp[0] = fds[0];
	errp[0] = fds[1];
	/* The run has left the registry when this returns. */
	if (cfg_group_stop(&run, pid, pidfd, status) != 0 && !saved)
		saved = errno;
	if (pidfd >= 0)
		close(pidfd);
	if (end == CFG_END_DEADLINE)
		saved = ETIMEDOUT;
	else if (end == CFG_END_KILLED)
		saved = ECANCELED;
	goto close_pipes;

close_all:
	cfg_run_leave(&run);
close_pipes:
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
	return cfg_password_within(a, CFG_EVAL_TIMEOUT_S * 1000u, out, err,
	    errlen);
}

int cfg_password_within(const struct cfg_account *a, unsigned timeout_ms,
    char **out, char *err, size_t errlen)
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

	if (cfg_eval_run(cmd, timeout_ms, &ev, &status) != 0) {
		int e = errno;

		cfg_eval_reason(&ev, reason, sizeof(reason));
		if (e == ETIMEDOUT)
			cfg_acct_err(a, err, errlen, "passwordeval `%.*s` did "
			    "not finish within %u %s and was killed with its "
			    "process group%s%s; check that it runs without "
			    "asking anything", shown, cmd,
			    timeout_ms % 1000 ? timeout_ms : timeout_ms / 1000,
			    timeout_ms % 1000 ? "ms" : "s",
			    reason[0] ? ": " : "", reason);
		else if (e == ECANCELED)
			cfg_acct_err(a, err, errlen, "passwordeval `%.*s` was "
			    "stopped with its process group because outboxfs "
			    "is stopping; it runs again at the next attempt",
			    shown, cmd);
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
