/*
 * smtpsend — sends one message file through the outboxfs SMTP client and
 * prints the transcript, for the transcript tests and for debugging:
 *
 *   smtpsend -h HOST -p PORT [-f FROM] [--helo NAME] [-n COUNT]
 *            [--timeout MS] [-v] FILE
 *
 * The file is prepared with msg_prepare (FROM is the account's from:
 * envelope sender and From: when missing) and sent COUNT times (default
 * 1) on one connection to the recipients of its To/Cc/Bcc lines, then
 * QUIT. Plain TCP only, and only to a loopback address: it is a test
 * tool. stdout gets every transcript line ("S: ..."/"C: ..."), one
 * "rcpt: ADDR STATE CODE TEXT" line per recipient per message, and last
 *
 *   result: sent 250 2.0.0 Ok            every recipient accepted
 *   result: partial 250 ...              some refused (see rcpt: lines)
 *   result: error KIND temporary|permanent STEP: TEXT
 *
 * With -v, each state change goes to stderr as "# EHLO -> READY".
 *
 * Exit status: 0 sent, 1 partial or error, 2 usage or a message that
 * cannot be prepared. Never sends anywhere but 127.0.0.1 or ::1.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtp/msg.h"
#include "smtp/smtp.h"

static void smtpsend_line(void *tag, char dir, const char *line)
{
	(void)tag;
	printf("%c: %s\n", dir, line);
}

static void smtpsend_trace(void *tag, const char *line)
{
	(void)tag;
	fprintf(stderr, "# %s\n", line);
}

static const char *smtpsend_state(enum smtp_rcpt_state st)
{
	switch (st) {
	case SMTP_RCPT_PENDING: return "pending";
	case SMTP_RCPT_OK:      return "ok";
	case SMTP_RCPT_TEMP:    return "temp";
	case SMTP_RCPT_PERM:    return "perm";
	}
	return "?";
}

static void smtpsend_usage(void)
{
	fprintf(stderr, "usage: smtpsend -h HOST -p PORT [-f FROM] "
	    "[--helo NAME] [-n COUNT] [--timeout MS] [-v] FILE\n");
	exit(2);
}

static void smtpsend_error(const struct smtp_error *err)
{
	printf("result: error %s %s %s: %s\n", smtp_fail_name(err->fail),
	    err->temporary ? "temporary" : "permanent", err->step, err->text);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "helo", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct smtp_params p;
	struct msg_params mp;
	struct msg m;
	struct smtp_session *s;
	struct smtp_error err;
	struct smtp_result res;
	struct smtp_rcpt_result *rr;
	char ebuf[256];
	long count = 1, i, tmo = 0;
	size_t k;
	int c, fd, status = 0, rc, all_ok;

	memset(&p, 0, sizeof(p));
	memset(&mp, 0, sizeof(mp));
	while ((c = getopt_long(argc, argv, "h:p:f:n:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': p.host = optarg; break;
		case 'p': p.port = optarg; break;
		case 'f': mp.from = optarg; break;
		case 'H': p.helo = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 't': tmo = strtol(optarg, NULL, 10); break;
		case 'v': p.trace = smtpsend_trace; break;
		default: smtpsend_usage();
		}
	}
	if (optind != argc - 1 || p.host == NULL || p.port == NULL ||
	    count < 1 || count > 100000 || tmo < 0 || tmo > 3600000)
		smtpsend_usage();
	if (strcmp(p.host, "127.0.0.1") != 0 && strcmp(p.host, "::1") != 0) {
		fprintf(stderr, "smtpsend: only 127.0.0.1 or ::1\n");
		return 2;
	}
	p.timeouts = (struct smtp_timeouts){ (int)tmo, (int)tmo, (int)tmo,
	    (int)tmo, (int)tmo, (int)tmo, (int)tmo, (int)tmo };
	p.transcript = smtpsend_line;
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[optind]);
		return 2;
	}
	mp.domain = "localhost";
	mp.now = time(NULL);
	if (msg_prepare(fd, &mp, &m, ebuf, sizeof(ebuf)) < 0) {
		printf("result: error local permanent prepare: %s\n", ebuf);
		close(fd);
		return 2;
	}
	rr = calloc(m.nrcpts, sizeof(*rr));
	if (rr == NULL) {
		perror("calloc");
		return 2;
	}
	res.rcpts = rr;
	if (smtp_connect(&p, &s, &err) < 0) {
		smtpsend_error(&err);
		status = 1;
		goto out;
	}
	for (i = 0; i < count; i++) {
		rc = smtp_send(s, &m, fd, (const char *const *)m.rcpts,
		    m.nrcpts, &res, &err);
		all_ok = 1;
		for (k = 0; k < res.nrcpts; k++) {
			printf("rcpt: %s %s %d %s%s%s\n", rr[k].addr,
			    smtpsend_state(rr[k].state), rr[k].code,
			    rr[k].enh, rr[k].enh[0] ? " " : "", rr[k].text);
			if (rr[k].state != SMTP_RCPT_OK)
				all_ok = 0;
		}
		if (rc < 0) {
			if (res.maybe_delivered)
				printf("maybe-delivered: yes\n");
			smtpsend_error(&err);
			status = 1;
			break;
		}
		printf("result: %s %s\n", all_ok ? "sent" : "partial",
		    res.reply);
		if (!all_ok)
			status = 1;
	}
	if (s != NULL && res.reusable)
		smtp_quit(s);
	else
		smtp_close(s);
out:
	free(rr);
	msg_free(&m);
	close(fd);
	return status;
}
