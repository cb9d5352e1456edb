/*
 * users — who may use a shared outbox, and who a message belongs to.
 *
 * A mount made with -o allow_other is entered by other local users. The
 * kernel checks every permission against the modes and owners getattr
 * reports (the daemon always mounts with default_permissions); this
 * module holds what the kernel cannot know: the `users` / `groups` lists
 * of who may send at all, the names shown for a uid (status `user:` line,
 * log lines), and the permission model of the sendmail drop folder
 * SPOOL/maildrop/ (Postfix's maildrop/ with its setgid postdrop group).
 *
 * Never: print (callers log), or hold a lock of the outbox while it looks
 * up a name (NSS may be slow). The name cache has its own mutex, a leaf.
 *
 * Error convention: int functions return 0 or -1; with an err buffer it
 * says what is wrong and what to write instead, else errno is set.
 */
#ifndef OUTBOXFS_USERS_H
#define OUTBOXFS_USERS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#define USERS_MAX_LIST   1024        /* names in one users/groups list */
#define USERS_NAME_MAX   64          /* bytes of a cached user name */

/* Who may send: the mounting user always, plus the lists. */
struct users_policy {
	uid_t owner;                 /* the mounting user */
	int everybody;               /* `users *` */
	uid_t *uids;                 /* owned */
	size_t nuids;
	gid_t *gids;                 /* owned */
	size_t ngids;
};

/*
 * Resolves USERS and GROUPS (the configuration's strings, NULL: none;
 * names or numbers separated by commas, colons or blanks; "*" in USERS
 * means everybody) into P. An unknown name fails with ERR naming it.
 * P is zeroed first; free with users_policy_free.
 */
int users_policy_init(struct users_policy *p, uid_t owner, const char *users,
    const char *groups, char *err, size_t errlen);
void users_policy_free(struct users_policy *p);

/*
 * 1 when UID (primary group GID, supplementary GROUPS[0..NGROUPS)) may
 * create a message, else 0.
 */
int users_may_send(const struct users_policy *p, uid_t uid, gid_t gid,
    const gid_t *groups, size_t ngroups);

/* 1 when P admits anyone besides its owner (for a warning at mount). */
int users_policy_shared(const struct users_policy *p);

/* A cache of user names by uid; entries live until users_names_free. */
struct users_names {
	pthread_mutex_t mu;          /* a leaf */
	struct users_name_ent {
		uid_t uid;
		char name[USERS_NAME_MAX];
	} **ents;                    /* owned; never moved once added */
	size_t n, cap;
};

void users_names_init(struct users_names *c);
void users_names_free(struct users_names *c);
/*
 * The login name of UID, or its number in decimal when it has none (or
 * is longer than USERS_NAME_MAX - 1). Borrowed from C until
 * users_names_free; never NULL (a static "?" without memory).
 */
const char *users_name(struct users_names *c, uid_t uid);

/*
 * THE DROP FOLDER (for outboxfs-sendmail), after Postfix's maildrop/:
 *
 *   SPOOL           0711 daemon owner (others may only pass through)
 *   SPOOL/maildrop  1730 daemon owner, group G (the maildrop_group)
 *   a dropped file  0444 owned by the user who ran the command
 *
 * outboxfs-sendmail is installed setgid G (chgrp G; chmod 2755); no user
 * is a member of G. Run by any user, it gets write and search permission
 * on maildrop/ (group bits -wx) and nothing else: it cannot list the
 * folder (no r), and the sticky bit keeps it from removing or renaming
 * a file it does not own; others (---) cannot even pass. It creates its
 * file with a unique name (mkstemp), writes, fsyncs, and renames it to
 * its final name in the same folder; the file is owned by the real uid
 * of the user who ran it, which is how the daemon attributes the
 * message. 0444 lets the daemon (the folder's owner, reading as
 * "other") read it; nobody else can reach it. The daemon removes it
 * after taking it into the spool (the sticky bit lets the folder's owner
 * remove any file).
 *
 * Without a maildrop_group, SPOOL/maildrop is 0700: only the mounting
 * user's own commands (cron jobs, mutt) can drop mail.
 */
#define USERS_MAILDROP_DIR      "maildrop"
#define USERS_MAILDROP_MODE     01730
#define USERS_MAILDROP_PRIVATE  0700
#define USERS_SPOOL_PASS_MODE   0711
#define USERS_DROP_FILE_MODE    0444

/* The group of a maildrop_group value (a name or a number). */
int users_group_id(const char *name, gid_t *gid, char *err, size_t errlen);

/*
 * Called by the daemon at mount: creates or repairs SPOOL/maildrop in the
 * spool directory SPOOLFD (owned by the daemon's uid) with the modes
 * above: with GROUP set (HAVE_GROUP 1) 1730 daemon:GROUP and the spool
 * 0711; without, 0700 and the spool left as it is. Refuses a maildrop
 * that is a symbolic link or not a directory. Returns its fd
 * (O_DIRECTORY, caller closes) or -1 with ERR.
 */
int users_maildrop_prepare(int spoolfd, int have_group, gid_t group,
    char *err, size_t errlen);

/*
 * Called by the daemon for each file FD opened (O_RDONLY | O_NOFOLLOW |
 * O_NONBLOCK) in the drop folder: it must be a regular file with one
 * link, not writable by group or others, not set-id; then *UID is its
 * owner, the user it is attributed to, and *GID that user's primary
 * group (the file's own group is the drop folder's). The caller then checks
 * users_may_send. -1 with ERR: leave the file in place and log why.
 */
int users_maildrop_owner(int fd, uid_t *uid, gid_t *gid, char *err,
    size_t errlen);

#endif
