/*
 * args — the command line of outboxfs-sendmail, the one cron, mutt,
 * git send-email and mail(1) pass to /usr/sbin/sendmail.
 *
 * Options and recipients may come in any order until "--" (as GNU
 * getopt, msmtp and Postfix's sendmail take them); an option's value is
 * attached (-fme@x) or the next argument (-f me@x). The flags callers
 * pass blindly are accepted and ignored; every other flag is refused
 * with a message naming it (the caller exits EX_USAGE).
 *
 * No I/O, no allocation but the recipient array: pointers in sm_opts
 * borrow from argv. Error convention: 0, or -1 with a one-line reason in
 * err.
 */
#ifndef OUTBOXFS_SM_ARGS_H
#define OUTBOXFS_SM_ARGS_H

#include <stddef.h>
#include <stdint.h>

enum sm_mode {
	SM_SEND = 0,              /* -bm, the default */
	SM_LIST,                  /* -bp: mailq */
	SM_RETRY,                 /* -q: retry deferred mail now */
	SM_HELP,                  /* --help */
	SM_VERSION,               /* --version */
};

struct sm_opts {
	enum sm_mode mode;
	const char *config;       /* -C */
	int read_rcpts;           /* -t */
	int dot_is_data;          /* -i, -oi */
	const char *sender;       /* -f, -r; "<a@b>" as given */
	const char *fullname;     /* -F */
	char notify[32];          /* -N, lowercased; "" none */
	char ret[8];              /* -R, lowercased; "" none */
	const char *envid;        /* -V */
	int verbose;              /* -v */
	int wait;                 /* --wait */
	int64_t wait_s;           /* --wait=S; -1: no limit */
	const char **rcpts;       /* borrowed from argv; array owned */
	size_t nrcpts;
	unsigned ignored;         /* flags accepted and ignored */
};

int sm_parse_args(int argc, char **argv, struct sm_opts *o, char *err,
    size_t errlen);
void sm_opts_free(struct sm_opts *o);

#endif
