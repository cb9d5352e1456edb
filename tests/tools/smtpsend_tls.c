/*
 * smtpsend_tls — opens one SMTP session with the client of smtp/ (TLS and
 * AUTH as the flags say), optionally sends MAIL/RCPT/RSET through the
 * probe verbs, and prints the transcript and the outcome, so the TLS and
 * AUTH integration tests can check the failure class, whether it is
 * temporary, the step and the error text.
 *
 *   smtpsend_tls --port N [--host H] [--tls off|starttls|implicit]
 *       [--certcheck off] [--trust FILE] [--fingerprint FP]
 *       [--cert FILE --key FILE] [--auth on|MECH] [--user U]
 *       [--pass-env VAR] [--from ADDR] [--rcpt ADDR] [--timeout MS]
 *
 * The password comes from the environment variable VAR (never argv).
 * Output: "C: ..."/"S: ..." lines, then one of
 *   result: ok server=DESC
 *   result: fail class=CLASS temporary=0|1 step=STEP code=N text=TEXT
 * Exit 0 for ok, 1 for a failure, 2 for bad usage. Test use only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "smtp/probe_cmds.h"
#include "smtp/smtp.h"

static void st_transcript(void *tag, char dir, const char *line)
{
	(void)tag;
	printf("%c: %s\n", dir, line);
	fflush(stdout);
}

static int st_usage(void)
{
	fprintf(stderr, "usage: smtpsend_tls --port N [--host H] [--tls "
	    "off|starttls|implicit] [--certcheck off] [--trust FILE] "
	    "[--fingerprint FP] [--cert F --key F] [--auth on|MECH] "
	    "[--user U] [--pass-env VAR] [--from A] [--rcpt A] "
	    "[--timeout MS]\n");
	return 2;
}

static int st_fail(const struct smtp_error *e)
{
	printf("result: fail class=%s temporary=%d step=%s code=%d text=%s\n",
	    smtp_fail_name(e->fail), e->temporary, e->step, e->code, e->text);
	return 1;
}

int main(int argc, char **argv)
{
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_error e;
	const char *from = NULL, *rcpt = NULL;
	char line[600];
	int i, tmo = 10000;

	signal(SIGPIPE, SIG_IGN);
	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.tls_certcheck = 1;
	p.transcript = st_transcript;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			return st_usage();
		i++;
		if (strcmp(a, "--host") == 0)
			p.host = v;
		else if (strcmp(a, "--port") == 0)
			p.port = v;
		else if (strcmp(a, "--tls") == 0)
			p.tls = strcmp(v, "starttls") == 0 ? SMTP_TLS_STARTTLS :
			    strcmp(v, "implicit") == 0 ? SMTP_TLS_IMPLICIT :
			    SMTP_TLS_OFF;
		else if (strcmp(a, "--certcheck") == 0)
			p.tls_certcheck = strcmp(v, "off") != 0;
		else if (strcmp(a, "--trust") == 0)
			p.tls_trust_file = v;
		else if (strcmp(a, "--fingerprint") == 0)
			p.tls_fingerprint = v;
		else if (strcmp(a, "--cert") == 0)
			p.tls_cert_file = v;
		else if (strcmp(a, "--key") == 0)
			p.tls_key_file = v;
		else if (strcmp(a, "--auth") == 0)
			p.auth_mech = strcmp(v, "on") == 0 ? "" : v;
		else if (strcmp(a, "--user") == 0)
			p.user = v;
		else if (strcmp(a, "--pass-env") == 0)
			p.secret = getenv(v);
		else if (strcmp(a, "--from") == 0)
			from = v;
		else if (strcmp(a, "--rcpt") == 0)
			rcpt = v;
		else if (strcmp(a, "--timeout") == 0)
			tmo = atoi(v);
		else
			return st_usage();
	}
	if (p.port == NULL)
		return st_usage();
	p.timeouts.connect = p.timeouts.greeting = p.timeouts.command = tmo;
	p.timeouts.mail = p.timeouts.rcpt = tmo;
	if (smtp_connect(&p, &s, &e) < 0)
		return st_fail(&e);
	if (from != NULL) {
		snprintf(line, sizeof(line), "MAIL FROM:<%s>", from);
		if (smtp_probe_cmd(s, "MAIL FROM", line, &e) < 0)
			goto fail;
		if (rcpt != NULL) {
			snprintf(line, sizeof(line), "RCPT TO:<%s>", rcpt);
			if (smtp_probe_cmd(s, "RCPT TO", line, &e) < 0)
				goto fail;
		}
		if (smtp_probe_cmd(s, "RSET", "RSET", &e) < 0)
			goto fail;
	}
	printf("result: ok server=%s\n", smtp_server_desc(s));
	smtp_quit(s);
	return 0;
fail:
	smtp_quit(s);
	return st_fail(&e);
}
