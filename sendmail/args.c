/*
 * args — outboxfs-sendmail's command line (see args.h).
 *
 * Must never: take a flag it does not know as a recipient, or accept a
 * flag whose meaning it would silently drop (only those listed in
 * outboxfs-sendmail(8) as ignored are).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/drop.h"
#include "sendmail/args.h"

void sm_opts_free(struct sm_opts *o)
{
	free(o->rcpts);
	o->rcpts = NULL;
	o->nrcpts = 0;
}

/* The -o options callers pass blindly: -oi is -i, the rest is ignored
 * (error mode e*, delivery mode d*, queue directory Q*, me too m,
 * old headers o, log level L*). */
static int sm_o_ok(const char *v)
{
	return v[0] != '\0' && strchr("edQmoL", v[0]) != NULL;
}

/* Lowercases V into BUF (cap CAP); -1 when too long. */
static int sm_lower(const char *v, char *buf, size_t cap)
{
	size_t i, n = strlen(v);

	if (n >= cap)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)v[i]);
	buf[n] = '\0';
	return 0;
}

static int sm_wait_value(const char *v, struct sm_opts *o, char *err,
    size_t errlen)
{
	char *end;
	long long s;

	o->wait = 1;
	o->wait_s = -1;
	if (v == NULL)
		return 0;
	errno = 0;
	s = strtoll(v, &end, 10);
	if (errno || end == v || *end != '\0' || s < 0 || s > 100000000) {
		snprintf(err, errlen, "--wait=%s: give a number of seconds "
		    "(0 to 100000000)", v);
		return -1;
	}
	o->wait_s = s;
	return 0;
}

/* A long option ARG ("--..."); -1 with err. */
static int sm_long(const char *arg, struct sm_opts *o, char *err,
    size_t errlen)
{
	if (strcmp(arg, "--wait") == 0)
		return sm_wait_value(NULL, o, err, errlen);
	if (strncmp(arg, "--wait=", 7) == 0)
		return sm_wait_value(arg + 7, o, err, errlen);
	if (strcmp(arg, "--help") == 0) {
		o->mode = SM_HELP;
		return 0;
	}
	if (strcmp(arg, "--version") == 0) {
		o->mode = SM_VERSION;
		return 0;
	}
	snprintf(err, errlen, "unknown option %.100s", arg);
	return -1;
}

/* The value of option letter C at ARGV[*i] + POS: attached, else the
 * next argument. NULL with err when there is none. */
static const char *sm_value(int argc, char **argv, int *i, const char *p,
    char c, char *err, size_t errlen)
{
	if (p[0] != '\0')
		return p;
	if (*i + 1 < argc) {
		(*i)++;
		return argv[*i];
	}
	snprintf(err, errlen, "option -%c needs a value", c);
	return NULL;
}

static int sm_mode_set(struct sm_opts *o, enum sm_mode m, char *err,
    size_t errlen)
{
	if (o->mode != SM_SEND && o->mode != m) {
		snprintf(err, errlen, "-bp and -q cannot be combined");
		return -1;
	}
	o->mode = m;
	return 0;
}

/* One option argument ARGV[*i] (starting with '-', not "--..."). */
static int sm_short(int argc, char **argv, int *i, struct sm_opts *o,
    char *err, size_t errlen)
{
	const char *p = argv[*i] + 1, *v;
	char c;

	while ((c = *p++) != '\0') {
		switch (c) {
		case 't':
			o->read_rcpts = 1;
			continue;
		case 'i':
			o->dot_is_data = 1;
			continue;
		case 'v':
			o->verbose = 1;
			continue;
		case 'm':       /* me too: always so */
		case 'n':       /* no aliasing */
		case 'U':       /* initial user submission */
			o->ignored++;
			continue;
		case 'e':       /* -em, -ep, -eq, -ew, -ee: error mode */
		case 'A':       /* -Am, -Ac: which configuration */
			if (*p == '\0') {
				snprintf(err, errlen, "option -%c needs a value "
				    "attached (as in -%cm)", c, c);
				return -1;
			}
			o->ignored++;
			return 0;
		case 'o':
			if ((v = sm_value(argc, argv, i, p, c, err,
			    errlen)) == NULL)
				return -1;
			if (strcmp(v, "i") == 0) {
				o->dot_is_data = 1;
			} else if (sm_o_ok(v)) {
				o->ignored++;
			} else {
				snprintf(err, errlen, "option -o%.40s is not "
				    "supported", v);
				return -1;
			}
			return 0;
		case 'B':       /* body type: 8BITMIME, 7BIT */
		case 'L':       /* syslog label */
		case 'h':       /* hop count */
			if (sm_value(argc, argv, i, p, c, err, errlen) == NULL)
				return -1;
			o->ignored++;
			return 0;
		case 'b':
			if ((v = sm_value(argc, argv, i, p, c, err,
			    errlen)) == NULL)
				return -1;
			if (strcmp(v, "m") == 0)
				return sm_mode_set(o, SM_SEND, err, errlen);
			if (strcmp(v, "p") == 0)
				return sm_mode_set(o, SM_LIST, err, errlen);
			snprintf(err, errlen, "option -b%.40s is not supported "
			    "(only -bm, send, and -bp, list the queue)", v);
			return -1;
		case 'q':
			if (*p != '\0') {
				snprintf(err, errlen, "option -q%.40s is not "
				    "supported: outboxfs retries by itself; -q "
				    "alone retries deferred mail now", p);
				return -1;
			}
			return sm_mode_set(o, SM_RETRY, err, errlen);
		case 'C':
		case 'f':
		case 'r':
		case 'F':
		case 'N':
		case 'R':
		case 'V':
			if ((v = sm_value(argc, argv, i, p, c, err,
			    errlen)) == NULL)
				return -1;
			if (c == 'C') {
				o->config = v;
			} else if (c == 'f' || c == 'r') {
				o->sender = v;
			} else if (c == 'F') {
				o->fullname = v;
			} else if (c == 'N') {
				if (sm_lower(v, o->notify, sizeof(o->notify)) < 0 ||
				    drop_check_notify(o->notify, err,
				    errlen) < 0) {
					snprintf(err, errlen, "-N takes never, or "
					    "a list of success, failure and "
					    "delay");
					return -1;
				}
			} else if (c == 'R') {
				if (sm_lower(v, o->ret, sizeof(o->ret)) < 0 ||
				    drop_check_ret(o->ret, err, errlen) < 0) {
					snprintf(err, errlen, "-R takes full or "
					    "hdrs");
					return -1;
				}
			} else {
				if (drop_check_envid(v, err, errlen) < 0)
					return -1;
				o->envid = v;
			}
			return 0;
		default:
			if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
				snprintf(err, errlen, "unknown option (a control "
				    "or non-ASCII byte)");
			else
				snprintf(err, errlen, "option -%c is not "
				    "supported (see outboxfs-sendmail(8))", c);
			return -1;
		}
	}
	return 0;
}

int sm_parse_args(int argc, char **argv, struct sm_opts *o, char *err,
    size_t errlen)
{
	int i, opts = 1;

	memset(o, 0, sizeof(*o));
	o->wait_s = -1;
	if (argc < 1)
		return 0;
	o->rcpts = calloc((size_t)argc, sizeof(*o->rcpts));
	if (o->rcpts == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && a[0] == '-' && a[1] == '-') {
			if (sm_long(a, o, err, errlen) < 0)
				goto fail;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			if (sm_short(argc, argv, &i, o, err, errlen) < 0)
				goto fail;
		} else {
			o->rcpts[o->nrcpts++] = a;
		}
	}
	if (o->mode != SM_SEND && o->mode != SM_HELP &&
	    o->mode != SM_VERSION && o->nrcpts) {
		snprintf(err, errlen, "%s takes no recipient", o->mode ==
		    SM_LIST ? "-bp" : "-q");
		goto fail;
	}
	return 0;
fail:
	sm_opts_free(o);
	return -1;
}
