/*
 * test_users — who may send (users / groups lists: names, numbers,
 * separators, hostile lists), the uid name cache, and the drop folder's
 * permission model (modes, group, links, a symbolic link in its place).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fs/users.h"

static void test_policy_cases(void **state)
{
	static const struct {
		const char *users, *groups;
		int ok;
		int everybody;
		size_t nuids, ngids;
	} c[] = {
		{ NULL, NULL, 1, 0, 0, 0 },
		{ "", "", 1, 0, 0, 0 },
		{ "root", NULL, 1, 0, 1, 0 },
		{ "root, 1001:1002 \t 7,,", NULL, 1, 0, 4, 0 },
		{ "*", NULL, 1, 1, 0, 0 },
		{ NULL, "root 4242", 1, 0, 0, 2 },
		{ "no-such-user-obx", NULL, 0, 0, 0, 0 },
		{ NULL, "no-such-group-obx", 0, 0, 0, 0 },
		{ "4294967295", NULL, 0, 0, 0, 0 },   /* (uid_t)-1: a name */
		{ "-1", NULL, 0, 0, 0, 0 },
	};
	struct users_policy p;
	char err[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc = users_policy_init(&p, 1000, c[i].users, c[i].groups,
		    err, sizeof(err));

		if ((rc == 0) != c[i].ok)
			fail_msg("case %zu: got %d (%s), want %s", i, rc,
			    rc ? err : "", c[i].ok ? "ok" : "refused");
		if (rc == 0 && (p.everybody != c[i].everybody ||
		    p.nuids != c[i].nuids || p.ngids != c[i].ngids))
			fail_msg("case %zu: got everybody %d uids %zu gids %zu",
			    i, p.everybody, p.nuids, p.ngids);
		if (rc < 0)
			assert_non_null(strstr(err, "no "));
		users_policy_free(&p);
	}
}

static void test_policy_hostile(void **state)
{
	struct users_policy p;
	char err[300], *big;
	size_t i;

	(void)state;
	big = malloc(300);
	assert_non_null(big);
	memset(big, 'a', 299);
	big[299] = '\0';
	assert_int_equal(users_policy_init(&p, 0, big, NULL, err,
	    sizeof(err)), -1);
	free(big);
	/* more names than USERS_MAX_LIST */
	big = malloc(USERS_MAX_LIST * 3 + 10);
	assert_non_null(big);
	for (i = 0; i < USERS_MAX_LIST + 2; i++)
		memcpy(big + 2 * i, "7,", 2);
	big[2 * i] = '\0';
	assert_int_equal(users_policy_init(&p, 0, big, NULL, err,
	    sizeof(err)), -1);
	free(big);
}

static void test_may_send(void **state)
{
	struct users_policy p;
	char err[300];
	gid_t sup[] = { 5, 4242, 9 };

	(void)state;
	/* the default: the mounting user alone */
	assert_int_equal(users_policy_init(&p, 1000, NULL, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(users_may_send(&p, 1000, 1000, NULL, 0), 1);
	assert_int_equal(users_may_send(&p, 1001, 1000, NULL, 0), 0);
	assert_int_equal(users_may_send(&p, 0, 0, NULL, 0), 0);
	assert_int_equal(users_policy_shared(&p), 0);
	users_policy_free(&p);

	assert_int_equal(users_policy_init(&p, 1000, "1001 1000", "4242",
	    err, sizeof(err)), 0);
	assert_int_equal(users_may_send(&p, 1001, 1, NULL, 0), 1);
	assert_int_equal(users_may_send(&p, 1002, 4242, NULL, 0), 1);
	assert_int_equal(users_may_send(&p, 1003, 1, sup, 3), 1);
	assert_int_equal(users_may_send(&p, 1003, 1, sup, 1), 0);
	assert_int_equal(users_may_send(&p, 1003, 1, NULL, 0), 0);
	assert_int_equal(users_policy_shared(&p), 1);
	users_policy_free(&p);

	assert_int_equal(users_policy_init(&p, 1000, "*", NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(users_may_send(&p, 65534, 65534, NULL, 0), 1);
	users_policy_free(&p);

	/* listing only the owner shares nothing */
	assert_int_equal(users_policy_init(&p, 1000, "1000", NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(users_policy_shared(&p), 0);
	users_policy_free(&p);
}

static void test_names(void **state)
{
	struct users_names c;
	const char *a, *b;

	(void)state;
	users_names_init(&c);
	a = users_name(&c, 0);
	assert_string_equal(a, "root");
	b = users_name(&c, 4000000000u);
	assert_string_equal(b, "4000000000");
	/* cached: the same pointer, still valid after more entries */
	for (unsigned u = 3000000000u; u < 3000000040u; u++)
		users_name(&c, u);
	assert_ptr_equal(users_name(&c, 0), a);
	assert_string_equal(a, "root");
	users_names_free(&c);
}

struct md_fixture {
	char path[64];
	int fd;
};

static int md_setup(void **state)
{
	struct md_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/test_users.XXXXXX");
	if (mkdtemp(f->path) == NULL)
		return -1;
	f->fd = open(f->path, O_RDONLY | O_DIRECTORY);
	if (f->fd < 0)
		return -1;
	*state = f;
	return 0;
}

static int md_teardown(void **state)
{
	struct md_fixture *f = *state;
	char cmd[128];

	close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->path);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void test_maildrop_modes(void **state)
{
	struct md_fixture *f = *state;
	struct stat st;
	char err[300];
	int fd;

	/* private: 0700, the spool untouched */
	assert_int_equal(fchmod(f->fd, 0700), 0);
	fd = users_maildrop_prepare(f->fd, 0, 0, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, USERS_MAILDROP_PRIVATE);
	close(fd);
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	if (geteuid() != 0) {
		skip();   /* giving a directory a group needs root */
		return;
	}
	/* shared: 1730 with the group, the spool passable (0711) */
	fd = users_maildrop_prepare(f->fd, 1, 4242, err, sizeof(err));
	if (fd < 0)
		fail_msg("prepare: %s", err);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, USERS_MAILDROP_MODE);
	assert_int_equal(st.st_gid, 4242);
	close(fd);
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, USERS_SPOOL_PASS_MODE);
	/* back to private: the mode is repaired */
	fd = users_maildrop_prepare(f->fd, 0, 0, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, USERS_MAILDROP_PRIVATE);
	close(fd);
}

static void test_maildrop_symlink_refused(void **state)
{
	struct md_fixture *f = *state;
	char err[300];

	assert_int_equal(symlinkat("/etc", f->fd, USERS_MAILDROP_DIR), 0);
	assert_int_equal(users_maildrop_prepare(f->fd, 0, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "link"));
}

static void test_maildrop_owner(void **state)
{
	struct md_fixture *f = *state;
	uid_t uid = 77;
	gid_t gid = 77;
	char err[300];
	int fd;

	fd = openat(f->fd, "ok", O_CREAT | O_RDWR, 0444);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0444), 0);
	assert_int_equal(users_maildrop_owner(fd, &uid, &gid, err,
	    sizeof(err)), 0);
	assert_int_equal(uid, geteuid());
	/* a second link: someone else's file could be lent */
	assert_int_equal(linkat(f->fd, "ok", f->fd, "ok2", 0), 0);
	assert_int_equal(users_maildrop_owner(fd, &uid, &gid, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "links"));
	assert_int_equal(unlinkat(f->fd, "ok2", 0), 0);
	/* writable by others, set-id */
	assert_int_equal(fchmod(fd, 0446), 0);
	assert_int_equal(users_maildrop_owner(fd, &uid, &gid, err,
	    sizeof(err)), -1);
	assert_int_equal(fchmod(fd, 02444), 0);
	assert_int_equal(users_maildrop_owner(fd, &uid, &gid, err,
	    sizeof(err)), -1);
	close(fd);
	/* not a regular file */
	fd = openat(f->fd, ".", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(users_maildrop_owner(fd, &uid, &gid, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "regular"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_cases),
		cmocka_unit_test(test_policy_hostile),
		cmocka_unit_test(test_may_send),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_maildrop_modes,
		    md_setup, md_teardown),
		cmocka_unit_test_setup_teardown(test_maildrop_symlink_refused,
		    md_setup, md_teardown),
		cmocka_unit_test_setup_teardown(test_maildrop_owner,
		    md_setup, md_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
