/*
 * test_password — passwordeval runs real commands in a process group of
 * their own, and nothing of that group outlives cfg_password: a command
 * that answers, one that leaves a background child, one that hangs, one
 * whose grandchild keeps stdout open, one that closes its output and
 * hangs, one that ignores SIGTERM, one that fails; then
 * cfg_password_kill_all while a thread waits on a hanging command, and
 * the refusal that follows it. cfg_password_kill_all cannot be undone, so
 * it has this binary to itself and its tests run last.
 *
 * A process counts as gone when kill(pid, 0) fails with ESRCH or when it
 * is a zombie: once its parent has died it waits for PID 1 to reap it,
 * and a container's PID 1 may never do that.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "unit_helpers.h"
#include "util/clock.h"

#define ERRLEN      1024
#define BOUND_MS    20000    /* "returns promptly": far above the grace */
#define GONE_MS     10000    /* how long a killed process may take to go */

struct pw_dir {
	char path[64];
	char pids[128];          /* the command writes pids here */
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int dir_setup(void **state)
{
	struct pw_dir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/outboxfs-pw-XXXXXX");
	if (mkdtemp(d->path) == NULL) {
		free(d);
		return -1;
	}
	snprintf(d->pids, sizeof(d->pids), "%s/pids", d->path);
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct pw_dir *d = *state;

	unlink(d->pids);
	rmdir(d->path);
	free(d);
	return 0;
}

/* The state letter of PID from /proc/PID/stat, or 0 when it is gone. */
static char proc_state(pid_t pid, pid_t *pgrp)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	char st = 0;
	int grp = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');          /* the name may hold spaces */
	if (p == NULL || sscanf(p + 1, " %c %*d %d", &st, &grp) != 2)
		return 0;
	if (pgrp != NULL)
		*pgrp = grp;
	return st;
}

static int pid_gone(pid_t pid)
{
	char st;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	st = proc_state(pid, NULL);
	return st == 0 || st == 'Z' || st == 'X';
}

/* 1 when no live process (zombies aside) is in process group PGID. */
static int group_gone(pid_t pgid)
{
	DIR *dir;
	struct dirent *e;
	int gone = 1;

	if (kill(-pgid, 0) != 0 && errno == ESRCH)
		return 1;
	dir = opendir("/proc");
	if (dir == NULL)
		return 0;
	while (gone && (e = readdir(dir)) != NULL) {
		pid_t grp = 0;
		char st;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		st = proc_state((pid_t)atoi(e->d_name), &grp);
		if (grp == pgid && st != 0 && st != 'Z' && st != 'X')
			gone = 0;
	}
	closedir(dir);
	return gone;
}

/* Reads the pids the command wrote, one a line; waits up to GONE_MS for
 * a first line when WAIT is set. Returns how many. */
static int read_pids(const char *file, pid_t *pids, int max, int wait)
{
	long long until = clock_mono_ms() + GONE_MS;
	int n;

	for (;;) {
		FILE *f = fopen(file, "r");
		int v;

		n = 0;
		if (f != NULL) {
			while (n < max && fscanf(f, "%d", &v) == 1)
				pids[n++] = (pid_t)v;
			fclose(f);
		}
		if (n > 0 || !wait || clock_mono_ms() > until)
			return n;
		sleep_ms(10);
	}
}

/* Every pid in the file, and the group of the first (the command, $$),
 * is gone within GONE_MS. */
static void assert_all_gone(const char *file)
{
	pid_t pids[8];
	int n = read_pids(file, pids, 8, 0);
	long long until = clock_mono_ms() + GONE_MS;

	if (n < 1)
		fail_msg("the command wrote no pid to %s", file);
	for (int i = 0; i < n; i++) {
		while (!pid_gone(pids[i]) && clock_mono_ms() < until)
			sleep_ms(10);
		if (!pid_gone(pids[i]))
			fail_msg("pid %d (line %d of %s) still runs",
			    (int)pids[i], i + 1, file);
	}
	while (!group_gone(pids[0]) && clock_mono_ms() < until)
		sleep_ms(10);
	if (!group_gone(pids[0]))
		fail_msg("process group %d still has members", (int)pids[0]);
}

struct run_result {
	int rc;
	char *out;
	char err[ERRLEN];
	long long ms;
};

/* Runs FMT (with the pid file's name for every %1$s) as passwordeval. */
static void run_eval(const struct pw_dir *d, unsigned timeout_ms,
    const char *fmt, struct run_result *res)
{
	struct cfg_account a;
	char cmd[1024];
	long long t0;

	/* The template names the pid file exactly once, as %s. */
	snprintf(cmd, sizeof(cmd), fmt, d->pids);
	memset(&a, 0, sizeof(a));
	a.name = (char *)"pw";
	a.passwordeval = cmd;
	res->out = NULL;
	res->err[0] = '\0';
	t0 = clock_mono_ms();
	res->rc = cfg_password_within(&a, timeout_ms, &res->out, res->err,
	    sizeof(res->err));
	res->ms = clock_mono_ms() - t0;
	if (res->ms > BOUND_MS)
		fail_msg("cfg_password took %lld ms (%s)", res->ms, res->err);
}

static void want_secret(struct run_result *res, const char *want)
{
	if (res->rc != 0)
		fail_msg("got %d (%s), want 0", res->rc, res->err);
	assert_non_null(res->out);
	assert_string_equal(res->out, want);
	explicit_bzero(res->out, strlen(res->out));
	free(res->out);
	res->out = NULL;
}

static void want_error(struct run_result *res, const char *part)
{
	if (res->rc != -1)
		fail_msg("got %d, want -1", res->rc);
	assert_null(res->out);
	assert_contains(res->err, "account pw: passwordeval `");
	assert_contains(res->err, part);
	assert_null(strchr(res->err, '\n'));
}

static void test_answers(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 60000, "echo $$ > %s; echo pw", &res);
	want_secret(&res, "pw");
	assert_all_gone(d->pids);
}

/* The command's own answer is taken; what it left behind is ended. */
static void test_background_child(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 60000, "sh -c 'sleep 300 & echo $$ $! > %s; echo pw'",
	    &res);
	want_secret(&res, "pw");
	assert_all_gone(d->pids);
}

/* A grandchild holds stdout and stderr open: the answer comes when the
 * command exits, not when the pipes close (they would not, for 300 s). */
static void test_grandchild_holds_stdout(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 60000, "(sleep 300; echo late; echo late >&2) & "
	    "echo $$ $! > %s; echo first; echo second", &res);
	want_secret(&res, "first");
	assert_all_gone(d->pids);
}

static void test_hangs(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 300, "echo 'waiting for the vault' >&2; "
	    "sleep 300 & echo $$ $! > %s; wait", &res);
	want_error(&res, "did not finish within 300 ms and was killed with "
	    "its process group: waiting for the vault; check that it runs "
	    "without asking anything");
	assert_all_gone(d->pids);
}

/* Closing its output ends the pipes' watch, not the deadline's. */
static void test_hangs_output_closed(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 300, "echo $$ > %s; exec >&- 2>&-; sleep 300", &res);
	want_error(&res, "did not finish within 300 ms");
	assert_all_gone(d->pids);
}

/* SIGTERM ignored by the whole group: SIGKILL after the grace. */
static void test_ignores_sigterm(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 200, "trap '' TERM; sleep 300 & echo $$ $! > %s; "
	    "while :; do sleep 1; done", &res);
	want_error(&res, "did not finish within 200 ms");
	assert_all_gone(d->pids);
}

/* ... and after an answer, a member that ignores SIGTERM is killed too. */
static void test_answer_member_ignores_sigterm(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 60000, "(trap '' TERM; sleep 300) & echo $$ $! > %s; "
	    "echo pw", &res);
	want_secret(&res, "pw");
	assert_all_gone(d->pids);
}

static void test_fails(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;

	run_eval(d, 60000, "sleep 300 & echo $$ $! > %s; echo pw; "
	    "echo 'vault locked' >&2; exit 4", &res);
	want_error(&res, "exited with status 4: vault locked; run it in a "
	    "shell to see why");
	assert_all_gone(d->pids);
}

struct hang_thread {
	const char *cmd;
	struct run_result res;
};

static void *hang_thread_run(void *arg)
{
	struct hang_thread *h = arg;
	struct cfg_account a;

	memset(&a, 0, sizeof(a));
	a.name = (char *)"pw";
	a.passwordeval = (char *)h->cmd;
	h->res.ms = clock_mono_ms();
	h->res.rc = cfg_password_within(&a, 120000, &h->res.out, h->res.err,
	    sizeof(h->res.err));
	h->res.ms = clock_mono_ms() - h->res.ms;
	return NULL;
}

/* What the daemon does at unmount while a delivery thread waits on a
 * command: the thread is released, with an error that says why. Two
 * threads: one whose command ends on SIGTERM, one whose ignores it. */
static void test_kill_all(void **state)
{
	struct pw_dir *d = *state;
	struct hang_thread h[2];
	char cmd[2][512], file2[160];
	pthread_t th[2];
	pid_t pids[8];
	long long t0;

	snprintf(file2, sizeof(file2), "%s.2", d->pids);
	snprintf(cmd[0], sizeof(cmd[0]), "sleep 300 & echo $$ $! > %s; wait",
	    d->pids);
	snprintf(cmd[1], sizeof(cmd[1]), "trap '' TERM; sleep 300 & "
	    "echo $$ $! > %s; while :; do sleep 1; done", file2);
	for (int i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].cmd = cmd[i];
		assert_int_equal(pthread_create(&th[i], NULL, hang_thread_run,
		    &h[i]), 0);
	}
	/* both commands are running when their pids are written */
	assert_true(read_pids(d->pids, pids, 8, 1) == 2);
	assert_true(read_pids(file2, pids, 8, 1) == 2);

	t0 = clock_mono_ms();
	cfg_password_kill_all();
	if (clock_mono_ms() - t0 > BOUND_MS)
		fail_msg("cfg_password_kill_all took %lld ms",
		    (long long)(clock_mono_ms() - t0));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (h[i].res.ms > BOUND_MS)
			fail_msg("thread %d took %lld ms", i, h[i].res.ms);
		want_error(&h[i].res, "was stopped with its process group "
		    "because outboxfs is stopping; it runs again at the next "
		    "attempt");
	}
	assert_all_gone(d->pids);
	assert_all_gone(file2);
	unlink(file2);
}

/* After kill_all nothing starts; a plain `password` is still given. */
static void test_after_kill_all(void **state)
{
	struct pw_dir *d = *state;
	struct run_result res;
	struct cfg_account a;
	char err[ERRLEN];
	char *out = NULL;

	run_eval(d, 60000, "echo $$ > %s; echo pw", &res);
	want_error(&res, "because outboxfs is stopping");
	assert_true(access(d->pids, F_OK) != 0);   /* never ran */

	memset(&a, 0, sizeof(a));
	a.name = (char *)"direct";
	a.password = (char *)"direct-secret";
	a.passwordeval = (char *)"echo ignored";
	assert_int_equal(cfg_password(&a, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "direct-secret");
	free(out);
}

#define PW_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PW_TEST(test_answers),
		PW_TEST(test_background_child),
		PW_TEST(test_grandchild_holds_stdout),
		PW_TEST(test_hangs),
		PW_TEST(test_hangs_output_closed),
		PW_TEST(test_ignores_sigterm),
		PW_TEST(test_answer_member_ignores_sigterm),
		PW_TEST(test_fails),
		/* last: kill_all closes the door for this process */
		PW_TEST(test_kill_all),
		PW_TEST(test_after_kill_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
