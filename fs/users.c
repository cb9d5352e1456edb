/*
 * users — the `users` / `groups` policy of a shared outbox, the names of
 * uids, and the permission model of the sendmail drop folder.
 *
 * Must never print or log (the callers do), nor be called with an outbox
 * lock held when it may look a name up.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/users.h"

#define USERS_PWBUF 16384

/* A number, when S is all digits and fits an id. */
static int users_number(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v >= (unsigned long)UINT_MAX)
		return -1;
	*out = v;
	return 0;
}

/* NAME (a number, or a user's or with GROUP a group's name) as an id
 * into *ID. -1 when there is no such user or group. */
static int users_lookup(const char *name, int group, unsigned long *id)
{
	struct passwd pw, *pres = NULL;
	struct group gr, *gres = NULL;
	char *buf;
	int rc;

	if (users_number(name, id) == 0)
		return 0;
	buf = malloc(USERS_PWBUF);
	if (buf == NULL)
		return -1;
	if (group) {
		rc = getgrnam_r(name, &gr, buf, USERS_PWBUF, &gres);
		if (rc == 0 && gres)
			*id = gr.gr_gid;
	} else {
		rc = getpwnam_r(name, &pw, buf, USERS_PWBUF, &pres);
		if (rc == 0 && pres)
			*id = pw.pw_uid;
	}
	free(buf);
	return rc == 0 && (gres || pres) ? 0 : -1;
}

int users_group_id(const char *name, gid_t *gid, char *err, size_t errlen)
{
	unsigned long id;

	if (name == NULL || name[0] == '\0' ||
	    users_lookup(name, 1, &id) < 0) {
		snprintf(err, errlen, "maildrop_group: no group named "
		    "`%.64s`; create it (groupadd) or write an existing group",
		    name ? name : "");
		return -1;
	}
	*gid = (gid_t)id;
	return 0;
}

/*
 * Splits LIST at commas, colons and blanks and calls ADD with each word
 * (NUL-terminated, at most 255 bytes). -1 when a word is too long, there
 * are too many, or ADD fails (ERR filled).
 */
static int users_each(const char *key, const char *list,
    int (*add)(struct users_policy *, const char *, const char *, char *,
    size_t), struct users_policy *p, char *err, size_t errlen)
{
	const char *s = list, *e;
	char word[256];
	size_t n, count = 0;

	while (*s) {
		while (*s && strchr(",: \t", *s))
			s++;
		if (*s == '\0')
			break;
		e = s;
		while (*e && !strchr(",: \t", *e))
			e++;
		n = (size_t)(e - s);
		if (n >= sizeof(word) || ++count > USERS_MAX_LIST) {
			snprintf(err, errlen, "%s: a name longer than 255 bytes "
			    "or more than %d names", key, USERS_MAX_LIST);
			return -1;
		}
		memcpy(word, s, n);
		word[n] = '\0';
		if (add(p, key, word, err, errlen) < 0)
			return -1;
		s = e;
	}
	return 0;
}

static int users_add_user(struct users_policy *p, const char *key,
    const char *word, char *err, size_t errlen)
{
	unsigned long uid;
	uid_t *nu;

	if (strcmp(word, "*") == 0) {
		p->everybody = 1;
		return 0;
	}
	if (users_lookup(word, 0, &uid) < 0) {
		snprintf(err, errlen, "%s: no user named `%.64s`; write login "
		    "names or numbers, or `*` for everybody", key, word);
		return -1;
	}
	nu = realloc(p->uids, (p->nuids + 1) * sizeof(*nu));
	if (nu == NULL) {
		snprintf(err, errlen, "%s: out of memory", key);
		return -1;
	}
	p->uids = nu;
	p->uids[p->nuids++] = (uid_t)uid;
	return 0;
}

static int users_add_group(struct users_policy *p, const char *key,
    const char *word, char *err, size_t errlen)
{
	unsigned long gid;
	gid_t *ng;

	if (users_lookup(word, 1, &gid) < 0) {
		snprintf(err, errlen, "%s: no group named `%.64s`; write group "
		    "names or numbers", key, word);
		return -1;
	}
	ng = realloc(p->gids, (p->ngids + 1) * sizeof(*ng));
	if (ng == NULL) {
		snprintf(err, errlen, "%s: out of memory", key);
		return -1;
	}
	p->gids = ng;
	p->gids[p->ngids++] = (gid_t)gid;
	return 0;
}

int users_policy_init(struct users_policy *p, uid_t owner, const char *users,
    const char *groups, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->owner = owner;
	if ((users && users_each("users", users, users_add_user, p, err,
	    errlen) < 0) || (groups && users_each("groups", groups,
	    users_add_group, p, err, errlen) < 0)) {
		users_policy_free(p);
		return -1;
	}
	return 0;
}

void users_policy_free(struct users_policy *p)
{
	free(p->uids);
	free(p->gids);
	memset(p, 0, sizeof(*p));
}

int users_policy_shared(const struct users_policy *p)
{
	size_t i;

	if (p->everybody || p->ngids)
		return 1;
	for (i = 0; i < p->nuids; i++)
		if (p->uids[i] != p->owner)
			return 1;
	return 0;
}

int users_may_send(const struct users_policy *p, uid_t uid, gid_t gid,
    const gid_t *groups, size_t ngroups)
{
	size_t i, j;

	if (uid == p->owner || p->everybody)
		return 1;
	for (i = 0; i < p->nuids; i++)
		if (p->uids[i] == uid)
			return 1;
	for (i = 0; i < p->ngids; i++) {
		if (p->gids[i] == gid)
			return 1;
		for (j = 0; j < ngroups; j++)
			if (p->gids[i] == groups[j])
				return 1;
	}
	return 0;
}

int users_may_send_uid(const struct users_policy *p, uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	gid_t *groups = NULL, *ng;
	char *buf;
	int n = 64, ok = 0, tries;

	if (users_may_send(p, uid, gid, NULL, 0))
		return 1;
	if (p->ngids == 0)
		return 0;
	buf = malloc(USERS_PWBUF);
	if (buf == NULL || getpwuid_r(uid, &pw, buf, USERS_PWBUF, &res) != 0 ||
	    res == NULL)
		goto out;
	for (tries = 0; tries < 4; tries++) {
		int want = n;

		ng = realloc(groups, (size_t)n * sizeof(*ng));
		if (ng == NULL)
			goto out;
		groups = ng;
		if (getgrouplist(pw.pw_name, gid, groups, &n) >= 0) {
			ok = users_may_send(p, uid, gid, groups, (size_t)n);
			break;
		}
		if (n <= want)         /* no growth asked: give up */
			break;
	}
out:
	free(groups);
	free(buf);
	return ok;
}

void users_names_init(struct users_names *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
}

void users_names_free(struct users_names *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->ents[i]);
	free(c->ents);
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof(*c));
}

const char *users_name(struct users_names *c, uid_t uid)
{
	struct users_name_ent *e, **ne;
	struct passwd pw, *res = NULL;
	char *buf;
	const char *name = NULL;
	size_t i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->n; i++)
		if (c->ents[i]->uid == uid) {
			name = c->ents[i]->name;
			goto out;
		}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		goto out;
	e->uid = uid;
	buf = malloc(USERS_PWBUF);
	if (buf && getpwuid_r(uid, &pw, buf, USERS_PWBUF, &res) == 0 && res &&
	    strlen(pw.pw_name) < sizeof(e->name) && pw.pw_name[0])
		memcpy(e->name, pw.pw_name, strlen(pw.pw_name) + 1);
	else
		snprintf(e->name, sizeof(e->name), "%lu", (unsigned long)uid);
	free(buf);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;

		ne = realloc(c->ents, cap * sizeof(*ne));
		if (ne == NULL) {
			free(e);
			goto out;
		}
		c->ents = ne;
		c->cap = cap;
	}
	c->ents[c->n++] = e;
	name = e->name;
out:
	pthread_mutex_unlock(&c->mu);
	return name ? name : "?";
}

int users_maildrop_prepare(int spoolfd, int have_group, gid_t group,
    char *err, size_t errlen)
{
	mode_t want = have_group ? USERS_MAILDROP_MODE : USERS_MAILDROP_PRIVATE;
	struct stat st;
	int fd;

	if (mkdirat(spoolfd, USERS_MAILDROP_DIR, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "spool/%s: cannot create: %s",
		    USERS_MAILDROP_DIR, strerror(errno));
		return -1;
	}
	fd = openat(spoolfd, USERS_MAILDROP_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "spool/%s: cannot open (%s); it must be "
		    "a directory, not a link", USERS_MAILDROP_DIR,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		snprintf(err, errlen, "spool/%s: not owned by uid %lu, who "
		    "runs outboxfs; remove it", USERS_MAILDROP_DIR,
		    (unsigned long)geteuid());
		goto fail;
	}
	/* The group first, the mode last: never a moment with the group
	 * bits open to the wrong group (fchown clears set-id bits). */
	if (have_group && st.st_gid != group && fchown(fd, (uid_t)-1,
	    group) < 0) {
		snprintf(err, errlen, "spool/%s: cannot give it group %lu: %s",
		    USERS_MAILDROP_DIR, (unsigned long)group, strerror(errno));
		goto fail;
	}
	if ((st.st_mode & 07777) != want && fchmod(fd, want) < 0) {
		snprintf(err, errlen, "spool/%s: cannot set mode %o: %s",
		    USERS_MAILDROP_DIR, (unsigned)want, strerror(errno));
		goto fail;
	}
	/* Without a group (now 0700), a group left from an earlier mount
	 * goes back to the daemon's own, so that ls -l shows no stale
	 * group; best effort: 0700 gives a group nothing. */
	if (!have_group && st.st_gid != getegid() && fchown(fd, (uid_t)-1,
	    getegid()) < 0) {
		/* nothing: see above */
	}
	/* The group's commands must pass through the spool; everything
	 * else in it stays 0700 / 0600. */
	if (have_group && (fstat(spoolfd, &st) < 0 ||
	    ((st.st_mode & 07777) != USERS_SPOOL_PASS_MODE &&
	    fchmod(spoolfd, USERS_SPOOL_PASS_MODE) < 0))) {
		snprintf(err, errlen, "spool: cannot set mode %o: %s",
		    (unsigned)USERS_SPOOL_PASS_MODE, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int users_primary_group(uid_t uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char *buf = malloc(USERS_PWBUF);
	int ok;

	if (buf == NULL)
		return -1;
	ok = getpwuid_r(uid, &pw, buf, USERS_PWBUF, &res) == 0 && res;
	if (ok)
		*gid = pw.pw_gid;
	free(buf);
	return ok ? 0 : -1;
}

int users_maildrop_owner(int fd, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -1;
	}
	if (st.st_nlink != 1) {
		/* a hard link could lend someone else's file and name */
		snprintf(err, errlen, "has %lu links, not 1",
		    (unsigned long)st.st_nlink);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_ISUID | S_ISGID)) {
		snprintf(err, errlen, "mode %o: writable by others or set-id",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	/* The file's group is the drop folder's (the command is setgid
	 * to it): the message gets the user's own primary group. */
	if (users_primary_group(st.st_uid, gid) < 0) {
		snprintf(err, errlen, "owner uid %lu has no passwd entry",
		    (unsigned long)st.st_uid);
		return -1;
	}
	*uid = st.st_uid;
	return 0;
}
