/*
 * outboxfs — mounts a directory that is a mail outbox.
 *
 *   outboxfs [-f] [-d] [-o config=FILE,spool=DIR,KEY=VALUE,...] MOUNTPOINT
 *   outboxfs --probe [ACCOUNT] ...
 *
 * Reads the configuration (-o config=FILE, else
 * $XDG_CONFIG_HOME/outboxfs/config, else ~/.config/outboxfs/config, else
 * ~/.msmtprc), applies -o KEY=VALUE for every outboxfs keyword to every
 * account, checks each account, rebuilds the outbox from the spool, then
 * mounts and serves until unmounted or signalled. Options it does not
 * know go to FUSE.
 *
 * Must never: mount with a configuration that failed its check, print a
 * password, or exit while a spool record is half written (records are
 * replaced atomically, so a stop at any point leaves the spool whole).
 *
 * THE PARTS OF THE DAEMON (fs/; each header says more). smtp/ and
 * config/ are reached only through their headers: smtp/smtp.h,
 * smtp/msg.h, config/config.h (and, for --probe, smtp/probe_cmds.h and
 * smtp/tls.h); util/ holds what every part shares (the monotonic clock,
 * the capped buffer).
 *
 *   main    this file: options, configuration, the spool loaded, the
 *           threads started, the FUSE session served, the stop
 *   ops     the FUSE operations: a reply or an errno, never a print,
 *           never a wait on the network or a sync
 *   outbox  the messages in memory: names, inodes, states (changed only
 *           by ob_set_state), the settle/run/wait lists, the transcript
 *           of the attempt in progress; one lock, ob->mu
 *   spool   the durable store outside the mount: the journal of
 *           records, msg/ID (the bytes as written), log/ID (finished
 *           attempts), corrupt/; group commit (spool_sync)
 *   queue   the committer thread (settled drafts prepared and queued,
 *           one sync per batch; outcomes shown once durable) and the
 *           delivery threads (due messages handed to smtp/)
 *   retry   when a deferred message is tried again (Postfix's rule)
 *   wait    the deferred messages ordered by their next attempt (a heap)
 *   status  the text of NAME.status and of .queue
 *   acct    a configured account as smtp/'s parameters
 *   users   who may use a shared mount; names for uids; the maildrop's
 *           modes
 *   drop    the maildrop file format, shared with outboxfs-sendmail
 *   pickup  the daemon's side of the maildrop: a drop becomes a message
 *   follow  waiting from outside for a final state (--wait), shared with
 *           outboxfs-sendmail
 *   probe   outboxfs --probe
 *   log     syslog or stderr lines
 *
 * HOW A MESSAGE FLOWS.
 *   1. ops_create -> ob_create: a draft with its record in the journal
 *      and an empty msg/ID; ops_write writes the user's bytes straight
 *      into msg/ID.
 *   2. ops_release of the last handle (or a rename from a scratch name)
 *      -> ob_settle_start: on the settle list, for `settle` ms unless it
 *      arrived whole.
 *   3. queue's committer: msg_prepare (smtp/msg.h) reads msg/ID; the
 *      batch's "queued" records are written and synced at once
 *      (spool_sync_msgs), then ob_set_state shows them queued (or
 *      failed, when the message itself is wrong): the run list.
 *   4. a delivery thread: acct_smtp_params, smtp_connect, smtp_send; each
 *      line of the conversation goes to the transcript (ob_transcript_add)
 *      and so to NAME.status (status.c) while it is read.
 *   5. the outcome: its record written at once, the transcript appended
 *      to log/ID by the committer, shown after the next sync: sent,
 *      partial or failed; or deferred, on the wait list and heap until
 *      retry's next attempt.
 *   outboxfs-sendmail writes a drop into SPOOL/maildrop/ (drop_write),
 *   mounted or not; pickup (at mount, then on inotify) turns it into a
 *   message "sendmail-NAME" through ob_create, its envelope in its
 *   record, submitted at once: it joins at step 3.
 */
/* 3.12: the loop configuration object (3.14 warns about the old one). */
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "fs/acct.h"
#include "fs/follow.h"
#include "fs/log.h"
#include "fs/ops.h"
#include "fs/outbox.h"
#include "fs/pickup.h"
#include "fs/probe.h"
#include "fs/queue.h"
#include "fs/users.h"
#include "util/clock.h"

#define MAIN_MAX_OVERRIDES 64

struct main_opts {
	char *config;
	char *mountpoint;
	int nonopts;
	char *keys[MAIN_MAX_OVERRIDES];
	char *values[MAIN_MAX_OVERRIDES];
	int noverrides;
	int too_many;
	char *bad_key;              /* a misspelt -o KEY, for "did you mean" */
	int check;                  /* --check: no mount */
	int allow_other;          /* other users may enter the mount */
	int nonempty;             /* -o nonempty: mount over files */
};

enum { MAIN_KEY_ALLOW_OTHER = 1 };

static const struct fuse_opt main_opt_spec[] = {
	{ "config=%s", offsetof(struct main_opts, config), 0 },
	{ "nonempty", offsetof(struct main_opts, nonempty), 1 },
	/* noted and passed on to FUSE */
	FUSE_OPT_KEY("allow_other", MAIN_KEY_ALLOW_OTHER),
	FUSE_OPT_END
};

/* libfuse's own -o options (mount and session): never taken for a
 * misspelt keyword of ours. */
static const char *const main_fuse_opts[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"fsname", "subtype", "max_read", "blkdev", "blksize", "ro", "rw",
	"suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync",
	"atime", "noatime", "diratime", "nodiratime", "lazytime",
	"nolazytime", "relatime", "norelatime", "strictatime", "dirsync",
	"context", "fscontext", "defcontext", "rootcontext", "max_write",
	"max_readahead", "max_background", "congestion_threshold",
	"async_read", "sync_read", "atomic_o_trunc", "no_remote_lock",
	"no_remote_flock", "no_remote_posix_lock", "splice_write",
	"no_splice_write", "splice_move", "no_splice_move", "splice_read",
	"no_splice_read", "auto_inval_data", "no_auto_inval_data",
	"readdirplus", "async_dio", "no_async_dio", "writeback_cache",
	"no_writeback_cache", "time_gran", "clone_fd", "max_idle_threads",
	"max_threads", "nonempty", "debug", "user", "users", "nofail",
	"noauto", "auto", "_netdev", "defaults", "x-systemd", "comment",
	NULL,
};

static int main_is_keyword(const char *arg, size_t klen)
{
	char k[64];

	if (klen >= sizeof(k))
		return 0;
	memcpy(k, arg, klen);
	k[klen] = '\0';
	return cfg_is_keyword(k);
}

/* A -o KEY that is neither ours nor FUSE's but close to one of ours. */
static int main_is_misspelt(const char *arg, size_t klen)
{
	char k[64];

	if (klen >= sizeof(k) || klen == 0)
		return 0;
	memcpy(k, arg, klen);
	k[klen] = '\0';
	for (size_t i = 0; main_fuse_opts[i]; i++)
		if (strcmp(main_fuse_opts[i], k) == 0 ||
		    (strncmp(k, main_fuse_opts[i], strlen(main_fuse_opts[i]))
		    == 0 && k[strlen(main_fuse_opts[i])] == '='))
			return 0;
	return cfg_suggest_keyword(k) != NULL;
}

static int main_opt_proc(void *data, const char *arg, int key,
    struct fuse_args *outargs)
{
	struct main_opts *o = data;
	const char *eq;

	(void)outargs;
	if (key == MAIN_KEY_ALLOW_OTHER) {
		o->allow_other = 1;
		return 1;
	}
	if (key == FUSE_OPT_KEY_NONOPT) {
		/* mount(8) passes "SOURCE MOUNTPOINT": the last one wins. */
		free(o->mountpoint);
		o->mountpoint = strdup(arg);
		o->nonopts++;
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	eq = strchr(arg, '=');
	if (eq == NULL || !main_is_keyword(arg, (size_t)(eq - arg))) {
		size_t kl = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

		if (o->bad_key == NULL && main_is_misspelt(arg, kl)) {
			o->bad_key = strndup(arg, kl);
			return 0;
		}
		return 1;     /* FUSE's */
	}
	if (o->noverrides >= MAIN_MAX_OVERRIDES) {
		o->too_many = 1;
		return 0;
	}
	o->keys[o->noverrides] = strndup(arg, (size_t)(eq - arg));
	o->values[o->noverrides] = strdup(eq + 1);
	o->noverrides++;
	return 0;
}

/*
 * Refuses a mount point that would surprise: not a directory, an outboxfs
 * already mounted there (or one whose daemon is gone), or a directory
 * with files in it, which the mount would hide (unless NONEMPTY). 0 or -1
 * after a line on stderr that says what to do.
 */
static int main_check_mountpoint(const char *path, int nonempty)
{
	struct stat st;
	struct dirent *e;
	char *abs, line[8192], mnt[4096], type[256];
	FILE *f;
	DIR *d;
	int found = 0, files = 0;

	if (stat(path, &st) < 0) {
		if (errno == ENOTCONN)
			fprintf(stderr, "outboxfs: %s is a mount whose daemon "
			    "is gone: fusermount3 -u %s, then mount again\n",
			    path, path);
		else
			fprintf(stderr, "outboxfs: mount point %s: %s\n", path,
			    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outboxfs: mount point %s is not a directory\n",
		    path);
		return -1;
	}
	abs = realpath(path, NULL);
	f = fopen("/proc/self/mountinfo", "r");
	while (abs && f && !found && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - TYPE ... */
		char *dash = strstr(line, " - ");

		if (dash && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
		    sscanf(dash + 3, "%255s", type) == 1 &&
		    strcmp(mnt, abs) == 0 && strcmp(type, "fuse.outboxfs") == 0)
			found = 1;
	}
	if (f)
		fclose(f);
	if (found) {
		fprintf(stderr, "outboxfs: an outboxfs is already mounted on %s "
		    "(fusermount3 -u %s to unmount it)\n", abs, abs);
		free(abs);
		return -1;
	}
	free(abs);
	if (nonempty)
		return 0;
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			files++;
	if (d)
		closedir(d);
	if (files) {
		fprintf(stderr, "outboxfs: %s is not empty: the mount would hide "
		    "its %d file%s; empty it, or pass -o nonempty\n", path, files,
		    files == 1 ? "" : "s");
		return -1;
	}
	return 0;
}

/* The configuration file to read: *path owned by the caller. */
static int main_config_path(const struct main_opts *o, char **path)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char buf[4096];
	struct stat st;

	if (o->config) {
		*path = strdup(o->config);
		return *path ? 0 : -1;
	}
	if (xdg && xdg[0]) {
		snprintf(buf, sizeof(buf), "%s/outboxfs/config", xdg);
		if (stat(buf, &st) == 0)
			goto found;
	}
	if (home && home[0]) {
		snprintf(buf, sizeof(buf), "%s/.config/outboxfs/config", home);
		if (stat(buf, &st) == 0)
			goto found;
		snprintf(buf, sizeof(buf), "%s/.msmtprc", home);
		if (stat(buf, &st) == 0)
			goto found;
	}
	return -1;
found:
	*path = strdup(buf);
	return *path ? 0 : -1;
}

/*
 * Reads the configuration, applies -o KEY=VALUE to every account, reads
 * the aliases files, resolves `from` (%U %H %C %M, auto_from) and checks
 * every account. Prints what is wrong to stderr; -1 then.
 */
static int main_load(const struct main_opts *o, struct cfg *cfg,
    char **cfgpath, int *have_cfg)
{
	struct acct_host h;
	char err[1024];
	size_t k;
	int i;

	if (o->bad_key != NULL) {
		fprintf(stderr, "outboxfs: -o %s: unknown option `%s`; did you "
		    "mean `%s`?\n", o->bad_key, o->bad_key,
		    cfg_suggest_keyword(o->bad_key));
		return -1;
	}
	if (main_config_path(o, cfgpath) < 0) {
		fprintf(stderr, "outboxfs: no configuration: write "
		    "~/.config/outboxfs/config (msmtprc syntax) or pass "
		    "-o config=FILE\n");
		return -1;
	}
	if (cfg_parse_file(*cfgpath, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "outboxfs: %s\n", err);
		return -1;
	}
	*have_cfg = 1;
	for (i = 0; i < o->noverrides; i++) {
		if (o->keys[i] == NULL || o->values[i] == NULL)
			return -1;
		for (k = 0; k < cfg->naccounts; k++)
			if (cfg_set(&cfg->accounts[k], o->keys[i], o->values[i],
			    err, sizeof(err)) < 0) {
				fprintf(stderr, "outboxfs: %s\n", err);
				return -1;
			}
	}
	if (cfg->naccounts == 0) {
		fprintf(stderr, "outboxfs: %s: no account: add \"account "
		    "default\" with host and from\n", *cfgpath);
		return -1;
	}
	if (cfg_load_aliases(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "outboxfs: %s\n", err);
		return -1;
	}
	acct_host_info(&h);
	if (acct_resolve_all(cfg, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "outboxfs: %s\n", err);
		return -1;
	}
	for (k = 0; k < cfg->naccounts; k++)
		if (cfg_check(&cfg->accounts[k], err, sizeof(err)) < 0) {
			fprintf(stderr, "outboxfs: %s\n", err);
			return -1;
		}
	return 0;
}

/* The mount-time warnings: keywords read without effect, accounts that
 * cannot send. PUT prints one line. */
static void main_warnings(const struct cfg *cfg,
    void (*put)(const char *line))
{
	char line[700];
	const char *p = cfg->ignored, *nl;

	while (p != NULL && (nl = strchr(p, '\n')) != NULL) {
		snprintf(line, sizeof(line), "%.*s: this msmtp keyword is "
		    "read but has no effect in outboxfs", (int)(nl - p), p);
		put(line);
		p = nl + 1;
	}
	for (size_t k = 0; k < cfg->naccounts; k++) {
		const struct cfg_account *a = &cfg->accounts[k];

		if (cfg_unusable(a) == NULL)
			continue;
		snprintf(line, sizeof(line), "%s:%u: account %s cannot send: "
		    "%s; its messages fail", a->file ? a->file : "?", a->line,
		    a->name, cfg_unusable(a));
		put(line);
	}
}

static void main_put_log(const char *line)
{
	log_warnx("%s", line);
}

static void main_put_stdout(const char *line)
{
	printf("warning: %s\n", line);
}

static const char *main_tls_text(const struct cfg_account *a)
{
	if (!a->tls)
		return "off (plain SMTP)";
	return a->tls_starttls ? "starttls" : "tls (implicit, from the first "
	    "byte)";
}

/* outboxfs --check: every account as resolved; no connection. */
static int main_check(const struct main_opts *o)
{
	struct cfg cfg;
	char *cfgpath = NULL, hp[320];
	int have = 0, rc = 1;

	memset(&cfg, 0, sizeof(cfg));
	if (main_load(o, &cfg, &cfgpath, &have) < 0)
		goto out;
	printf("config: %s\n", cfgpath);
	for (size_t k = 0; k < cfg.naccounts; k++) {
		const struct cfg_account *a = &cfg.accounts[k];
		const char *pw;

		printf("\naccount %s%s (%s:%u)\n", a->name,
		    a == cfg_account(&cfg, NULL) ? " (default)" : "",
		    a->file ? a->file : "?", a->line);
		if (cfg_unusable(a) != NULL) {
			printf("    unusable    %s\n", cfg_unusable(a));
			continue;
		}
		acct_hostport(a, hp, sizeof(hp));
		printf("    server      %s\n", hp);
		printf("    host        %s\n", a->host);
		printf("    port        %u\n", cfg_port(a));
		printf("    tls         %s\n", main_tls_text(a));
		if (a->tls)
			printf("    certificate %s\n", a->tls_fingerprint ?
			    "pinned by tls_fingerprint" : !a->tls_certcheck ?
			    "NOT checked (tls_certcheck off)" :
			    a->tls_trust_file && strcmp(a->tls_trust_file,
			    "system") != 0 ? a->tls_trust_file :
			    "checked against the system store");
		if (a->auth == CFG_AUTH_OFF)
			printf("    auth        off\n");
		else
			printf("    auth        %s, user %s\n",
			    a->auth == CFG_AUTH_ON ? "on (strongest offered)" :
			    a->auth_mech, a->user ? a->user : "-");
		pw = a->password ? "password (in the configuration file)" :
		    a->passwordeval ? "passwordeval" : "none";
		printf("    password    %s%s%s\n", pw,
		    a->passwordeval && !a->password ? ": " : "",
		    a->passwordeval && !a->password ? a->passwordeval : "");
		printf("    from        %s\n", a->from ? a->from :
		    "(none: the From: line of each message)");
		printf("    domain      %s (EHLO); addresses without @ get "
		    "@%s\n", a->domain ? a->domain : "localhost",
		    acct_qualify_domain(a));
		if (a->aliases)
			printf("    aliases     %s (%zu entries)\n", a->aliases,
			    a->alias_tab ? a->alias_tab->n : 0);
		if (a->dsn_notify || a->dsn_return)
			printf("    dsn         NOTIFY=%s RET=%s\n",
			    a->dsn_notify ? a->dsn_notify : "-",
			    a->dsn_return ? a->dsn_return : "-");
		if (a->source_ip)
			printf("    source_ip   %s\n", a->source_ip);
	}
	main_warnings(&cfg, main_put_stdout);
	printf("\nconfiguration OK (nothing was connected to)\n");
	rc = 0;
out:
	if (have)
		cfg_free(&cfg);
	free(cfgpath);
	return rc;
}

/*
 * outboxfs --wait [--timeout S] PATH...: waits, without mounting, until
 * every message (NAME or NAME.status in a mount) is final; exits with
 * the most telling code of fs/follow.h.
 */
static int main_wait(int argc, char **argv)
{
	int64_t deadline = -1;
	struct follow f;
	char path[4200], err[4400], *end;
	long long s;
	int i = 2, code = 0, c, n, any = 0;
	size_t len;

	while (i < argc) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--timeout") != 0)
			break;
		errno = 0;
		s = i + 1 < argc ? strtoll(argv[i + 1], &end, 10) : -1;
		if (i + 1 >= argc || errno || end == argv[i + 1] || *end ||
		    s < 0 || s > 100000000) {
			fprintf(stderr, "outboxfs: --timeout takes a number of "
			    "seconds\n");
			return 64;
		}
		deadline = clock_mono_ms() + s * 1000;
		i += 2;
	}
	for (; i < argc; i++) {
		len = strlen(argv[i]);
		n = snprintf(path, sizeof(path), "%s%s", argv[i],
		    len > 7 && strcmp(argv[i] + len - 7, ".status") == 0 ?
		    "" : ".status");
		if (n < 0 || (size_t)n >= sizeof(path)) {
			fprintf(stderr, "outboxfs: %s: name too long\n",
			    argv[i]);
			code = follow_worse(code, FOLLOW_EX_NOINPUT);
			continue;
		}
		any = 1;
		memset(&f, 0, sizeof(f));
		f.deadline_ms = deadline;
		c = follow_wait(&f, path, err, sizeof(err));
		if (err[0])
			fprintf(stderr, "outboxfs: %s\n", err);
		else if (c != 0)
			fprintf(stderr, "outboxfs: %s: %s\n", argv[i],
			    c == FOLLOW_EX_TEMPFAIL ? "not final when the "
			    "wait ended" : c == FOLLOW_EX_PARTIAL ? "partial" :
			    "failed");
		code = follow_worse(code, c);
	}
	if (!any) {
		fprintf(stderr, "usage: outboxfs --wait [--timeout S] "
		    "PATH...\n");
		return 64;
	}
	return code;
}

static void main_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o config=FILE,spool=DIR,KEY=VALUE,...] "
	    "MOUNTPOINT\n"
	    "       %s --probe [ACCOUNT] [--rcpt ADDR] [-o config=FILE]\n"
	    "       %s --check [-o config=FILE]\n"
	    "       %s --wait [--timeout S] PATH...\n\n"
	    "outboxfs options:\n"
	    "    -o config=FILE       configuration (msmtprc syntax)\n"
	    "    -o spool=DIR         where queued mail is kept\n"
	    "    -o KEYWORD=VALUE     any configuration keyword, for every "
	    "account\n\n", prog, prog, prog, prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo;
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 12)
	struct fuse_loop_config *lc;
#else
	struct fuse_loop_config lc;
#endif
	struct main_opts o;
	struct fuse_session *se = NULL;
	struct cfg cfg;
	struct ob ob;
	char err[1024], spool[4096];
	char *cfgpath = NULL, *mnt_abs = NULL;
	struct pickup *pk = NULL;
	int rc = 1, i, ob_ready = 0, have_cfg = 0;
	unsigned left = 0;

	if (argc >= 2 && strcmp(argv[1], "--probe") == 0)
		return probe_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "--wait") == 0)
		return main_wait(argc, argv);

	/*
	 * A daemon that may hold 100,000 messages for days: big buffers
	 * (a journal window, a directory listing, a .queue text) are
	 * mapped and go back to the system when freed (glibc would
	 * otherwise raise this threshold after the first and keep them in
	 * its heap); the buffers of one message (a 256 KiB header block)
	 * stay below it, and the heap is not trimmed for them each time;
	 * the FUSE and delivery threads share two arenas, not one each.
	 */
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_ARENA_MAX, 2);
	memset(&o, 0, sizeof(o));
	memset(&cfg, 0, sizeof(cfg));
	if (argc >= 2 && strcmp(argv[1], "--check") == 0) {
		/* the same options, no mount point, no FUSE */
		args.argv[1] = (char *)"-f";
		o.check = 1;
	}
	if (fuse_opt_parse(&args, &o, main_opt_spec, main_opt_proc) < 0)
		goto out;
	if (o.check) {
		if (o.mountpoint != NULL) {
			fprintf(stderr, "outboxfs --check: unexpected argument "
			    "%s; usage: outboxfs --check [-o config=FILE]\n",
			    o.mountpoint);
			goto out;
		}
		rc = main_check(&o);
		goto out;
	}
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out;
	if (fo.show_help) {
		main_usage(argv[0]);
		rc = 0;
		goto out_fo;
	}
	if (fo.show_version) {
		printf("outboxfs 0.1\n");
		fuse_lowlevel_version();
		rc = 0;
		goto out_fo;
	}
	if (o.mountpoint == NULL) {
		fprintf(stderr, "outboxfs: no mount point; usage: outboxfs "
		    "[-f] [-o config=FILE] MOUNTPOINT\n");
		goto out_fo;
	}
	if (o.too_many) {
		fprintf(stderr, "outboxfs: more than %d keyword options\n",
		    MAIN_MAX_OVERRIDES);
		goto out_fo;
	}
	if (main_check_mountpoint(o.mountpoint, o.nonempty) < 0)
		goto out_fo;

	/* Configuration. */
	if (main_load(&o, &cfg, &cfgpath, &have_cfg) < 0)
		goto out_fo;
	if (cfg_spool_path(cfg_account(&cfg, NULL), spool,
	    sizeof(spool)) < 0) {
		fprintf(stderr, "outboxfs: no spool directory: set HOME or "
		    "-o spool=DIR\n");
		goto out_fo;
	}

	{
		/* syslog unset: LOG_MAIL (a daemon needs a log); `syslog off`
		 * written: none. */
		const struct cfg_account *d = cfg_account(&cfg, NULL);
		const char *fac = d->syslog;

		if (fac == NULL && (d->set & CFG_BIT(CFG_K_SYSLOG)))
			fac = "off";
		log_init(fac, fo.foreground, fo.debug, d->logfile);
	}
	main_warnings(&cfg, main_put_log);
	if (ob_init(&ob, &cfg, spool, err, sizeof(err)) < 0) {
		fprintf(stderr, "outboxfs: %s\n", err);
		goto out_fo;
	}
	ob_ready = 1;
	ob.shared = o.allow_other;
	if (users_policy_shared(&ob.users) && !o.allow_other)
		log_warnx("users/groups admit other users, but without -o "
		    "allow_other nobody else can enter %s", o.mountpoint);
	if (ob_load(&ob, err, sizeof(err)) < 0) {
		fprintf(stderr, "outboxfs: %s\n", err);
		goto out_ob;
	}

	pickup_at_mount(&ob);        /* outboxfs-sendmail's drops */
	queue_submit_pending(&ob);   /* drafts closed before the last stop */
	mnt_abs = realpath(o.mountpoint, NULL);   /* before daemonizing */

	/*
	 * default_permissions, whatever the options: the kernel checks every
	 * access against the owners and modes getattr reports (ops.c makes
	 * them exact), so what ls -l shows is what holds, with supplementary
	 * groups, capabilities and the sticky bit as POSIX has them.
	 */
	if (fuse_opt_add_arg(&args, "-ofsname=outboxfs,subtype=outboxfs,"
	    "default_permissions") < 0)
		goto out_ob;
	se = fuse_session_new(&args, &ops_ops, sizeof(ops_ops), &ob);
	if (se == NULL)
		goto out_ob;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_sig;
	/* Threads start after the fork of daemonizing. */
	if (fuse_daemonize(fo.foreground) != 0)
		goto out_unmount;
	ob.se = se;
	spool_sync_helpers_ok(&ob.spool);
	if (queue_start(&ob) < 0) {
		log_warn("cannot start the queue threads");
		goto out_unmount;
	}
	/* without it, each new message creates its spool file itself */
	if (spool_spares_start(&ob.spool) < 0)
		log_warn("cannot start the spare-file thread");
	pk = pickup_start(&ob, mnt_abs);
	log_info("mounted %s (spool %s)", o.mountpoint, spool);
	if (fo.singlethread) {
		rc = fuse_session_loop(se);
	} else {
#if FUSE_USE_VERSION >= FUSE_MAKE_VERSION(3, 12)
		lc = fuse_loop_cfg_create();
		if (lc == NULL)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)fo.clone_fd);
		if (fo.max_idle_threads != (unsigned)-1)   /* -1: not given */
			fuse_loop_cfg_set_idle_threads(lc,
			    fo.max_idle_threads);
		fuse_loop_cfg_set_max_threads(lc, fo.max_threads > 0 &&
		    fo.max_threads <= 100000 ? fo.max_threads : 10);
		rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
#else
		memset(&lc, 0, sizeof(lc));
		lc.clone_fd = fo.clone_fd;
		lc.max_idle_threads = fo.max_idle_threads;
		rc = fuse_session_loop_mt(se, &lc);
#endif
	}
	/* libfuse reports the signal that ended the loop: a clean stop */
	rc = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
	pthread_mutex_lock(&ob.mu);   /* read by the queue threads */
	ob.se = NULL;
	pthread_mutex_unlock(&ob.mu);
	cfg_password_kill_all();   /* releases a thread inside passwordeval */
	pickup_stop(pk);
	pk = NULL;
	left = queue_stop(&ob, 10000);
	if (left)
		log_warnx("%u delivery threads still in a network call at "
		    "exit; their messages are retried at the next mount",
		    left);
	log_info("unmounted %s", o.mountpoint);
out_unmount:
	pickup_stop(pk);
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	if (left == 0)
		fuse_session_destroy(se);
out_ob:
	if (ob_ready && left == 0)
		ob_destroy(&ob);
out_fo:
	free(fo.mountpoint);
out:
	if (have_cfg && left == 0)
		cfg_free(&cfg);
	free(cfgpath);
	free(mnt_abs);
	free(o.config);
	free(o.mountpoint);
	free(o.bad_key);
	for (i = 0; i < o.noverrides; i++) {
		free(o.keys[i]);
		if (o.values[i])
			explicit_bzero(o.values[i], strlen(o.values[i]));
		free(o.values[i]);
	}
	fuse_opt_free_args(&args);
	if (left) {
		/*
		 * A delivery thread is still inside a network call and uses
		 * the configuration, the outbox and OpenSSL: skip the exit
		 * handlers (OpenSSL's frees what that thread is using).
		 * Every state shown was synced first; the attempt in flight
		 * is retried at the next mount.
		 */
		fflush(NULL);
		_exit(rc);
	}
	return rc;
}
