/*
 * probe — `outboxfs --probe [ACCOUNT] [--rcpt ADDR] [-o config=FILE]`:
 * the hand test of a server with telnet, automated. Connects with the
 * account's settings, runs greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL
 * FROM, RCPT TO, RSET and QUIT, prints every line as the status file
 * shows it, the TLS certificate, and what the server offers. Exit status
 * names the first step that failed (see probe_exit and outboxfs(1)).
 *
 * Must never send a message, print a secret, or go on after a failed
 * step as if it had worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "config/config.h"
#include "fs/acct.h"
#include "fs/probe.h"
#include "smtp/probe_cmds.h"
#include "smtp/smtp.h"
#include "smtp/tls.h"

/* Exit statuses, one per step (outboxfs(1) EXIT STATUS). */
enum probe_exit {
	PROBE_OK = 0,
	PROBE_USAGE = 1,
	PROBE_CONFIG = 2,
	PROBE_CONNECT = 3,
	PROBE_GREETING = 4,
	PROBE_EHLO = 5,
	PROBE_TLS = 6,
	PROBE_AUTH = 7,
	PROBE_MAIL = 8,
	PROBE_RCPT = 9,
	PROBE_RSET = 10,
};

#define PROBE_MAX_RCPTS 16

struct probe_opts {
	const char *account;
	const char *config;
	const char *rcpts[PROBE_MAX_RCPTS];
	size_t nrcpts;
};

static void probe_usage(FILE *f)
{
	fprintf(f, "usage: outboxfs --probe [ACCOUNT] [--rcpt ADDR]... "
	    "[-o config=FILE]\n"
	    "Connects to the account's server and runs greeting, EHLO, "
	    "STARTTLS, AUTH,\nMAIL FROM, RCPT TO, RSET and QUIT, printing "
	    "the conversation. Sends no mail.\n");
}

static void probe_transcript(void *tag, char dir, const char *line)
{
	(void)tag;
	printf("%c: %s\n", dir, line);
	fflush(stdout);
}

static int probe_args(int argc, char **argv, struct probe_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			probe_usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--rcpt") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(a, "--rcpt=", 7) == 0)
			v = a + 7;
		if (v != NULL) {
			if (o->nrcpts >= PROBE_MAX_RCPTS) {
				fprintf(stderr, "outboxfs --probe: at most %d "
				    "--rcpt\n", PROBE_MAX_RCPTS);
				return -1;
			}
			o->rcpts[o->nrcpts++] = v;
			continue;
		}
		if (strcmp(a, "-o") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(a, "-o", 2) == 0 && a[2] != '\0')
			v = a + 2;
		if (v != NULL) {
			if (strncmp(v, "config=", 7) != 0 || v[7] == '\0') {
				fprintf(stderr, "outboxfs --probe: only -o "
				    "config=FILE is used here, not -o %s\n", v);
				return -1;
			}
			o->config = v + 7;
			continue;
		}
		if (a[0] == '-' || o->account != NULL) {
			fprintf(stderr, "outboxfs --probe: unexpected argument "
			    "%s\n", a);
			return -1;
		}
		o->account = a;
	}
	return 0;
}

/* The configuration file, as the daemon finds it: -o config=FILE, else
 * $XDG_CONFIG_HOME/outboxfs/config, else ~/.config/outboxfs/config,
 * else ~/.msmtprc. */
static int probe_config_path(const struct probe_opts *o, char *out,
    size_t outlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	if (o->config != NULL) {
		n = snprintf(out, outlen, "%s", o->config);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (xdg != NULL && xdg[0] == '/') {
		n = snprintf(out, outlen, "%s/outboxfs/config", xdg);
		if (n > 0 && (size_t)n < outlen && access(out, F_OK) == 0)
			return 0;
	}
	if (home == NULL || home[0] == '\0')
		return -1;
	n = snprintf(out, outlen, "%s/.config/outboxfs/config", home);
	if (n > 0 && (size_t)n < outlen && access(out, F_OK) == 0)
		return 0;
	n = snprintf(out, outlen, "%s/.msmtprc", home);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int probe_fail(int code, const char *step, const char *text)
{
	fprintf(stderr, "outboxfs --probe: %s failed: %s\n", step, text);
	printf("--- result: %s failed (exit %d)\n", step, code);
	return code;
}

static int probe_step_exit(const struct smtp_error *e)
{
	if (e->fail == SMTP_FAIL_TLS || strcmp(e->step, "STARTTLS") == 0 ||
	    strcmp(e->step, "TLS") == 0)
		return PROBE_TLS;
	if (strcmp(e->step, "greeting") == 0)
		return PROBE_GREETING;
	if (strcmp(e->step, "EHLO") == 0 || strcmp(e->step, "HELO") == 0)
		return PROBE_EHLO;
	return PROBE_CONNECT;
}

static void probe_tls(const struct smtp_session *s)
{
	struct tls_info t;

	if (smtp_tls_info(s, &t) < 0)
		return;
	printf("--- TLS %s %s, certificate %s\n", t.version, t.cipher,
	    t.pinned ? "matches tls_fingerprint" :
	    t.verified ? "verified" : "NOT verified (tls_certcheck off)");
	printf("    subject:     %s\n", t.subject);
	printf("    issuer:      %s\n", t.issuer);
	printf("    names:       %s\n", t.names);
	printf("    valid:       %s to %s\n", t.not_before, t.not_after);
	printf("    fingerprint: %s (SHA-256)\n", t.fingerprint);
	fflush(stdout);
}

static void probe_offers(const struct smtp_caps *c, int used_starttls)
{
	printf("--- the server offers\n");
	if (!c->esmtp) {
		printf("    no ESMTP (answered HELO only)\n");
		return;
	}
	if (c->has_size && c->size > 0)
		printf("    SIZE        %llu bytes\n",
		    (unsigned long long)c->size);
	else
		printf("    SIZE        %s\n", c->has_size ? "no limit given" :
		    "no");
	printf("    PIPELINING  %s\n", c->pipelining ? "yes" : "no");
	printf("    8BITMIME    %s\n", c->eightbitmime ? "yes" : "no");
	printf("    SMTPUTF8    %s\n", c->smtputf8 ? "yes" : "no");
	printf("    DSN         %s\n", c->dsn ? "yes" : "no");
	printf("    CHUNKING    %s\n", c->chunking ? "yes" : "no");
	printf("    STARTTLS    %s\n", c->starttls || used_starttls ? "yes" :
	    "no");
	printf("    AUTH        %s\n", c->auth[0] ? c->auth : "none");
}

/* Fills P from the account. PORT is P's port buffer. */
static void probe_params(const struct cfg_account *a, struct smtp_params *p,
    char *port, size_t portlen)
{
	acct_smtp_params(a, p, port, portlen);
	p->transcript = probe_transcript;
}

static const char *probe_tls_name(enum smtp_tls_mode m)
{
	return m == SMTP_TLS_STARTTLS ? "starttls" :
	    m == SMTP_TLS_IMPLICIT ? "tls (implicit)" : "off";
}

static int probe_session(const struct probe_opts *o,
    const struct cfg_account *a, struct smtp_params *p, const char *mech)
{
	struct smtp_session *s = NULL;
	struct smtp_error e;
	char line[600];
	size_t i;
	int n, rc = PROBE_OK;
	char hp[300];
	const char *from = a->from ? a->from : "";

	smtp_hostport(p->host, p->port, hp, sizeof(hp));
	printf("--- connect %s, tls %s%s%s\n", hp,
	    probe_tls_name(p->tls), mech ? ", auth " : "",
	    mech ? (mech[0] ? mech : "on") : "");
	fflush(stdout);
	/* AUTH runs after the TLS details are shown. */
	p->auth_mech = NULL;
	if (smtp_connect(p, &s, &e) < 0) {
		n = probe_step_exit(&e);
		return probe_fail(n, e.step, e.text);
	}
	probe_tls(s);
	p->auth_mech = mech;
	if (smtp_probe_auth(s, &e) < 0) {
		smtp_quit(s);
		return probe_fail(PROBE_AUTH, "AUTH", e.text);
	}
	/* an address without @ is completed as a message's would be */
	n = snprintf(line, sizeof(line), "MAIL FROM:<%s%s%s>", from,
	    from[0] && !strchr(from, '@') ? "@" : "",
	    from[0] && !strchr(from, '@') ? acct_qualify_domain(a) : "");
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    smtp_probe_cmd(s, "MAIL FROM", line, &e) < 0) {
		rc = probe_fail(PROBE_MAIL, "MAIL FROM", n < 0 ||
		    (size_t)n >= sizeof(line) ? "from is too long" : e.text);
		goto out;
	}
	for (i = 0; i < o->nrcpts; i++) {
		n = snprintf(line, sizeof(line), "RCPT TO:<%s>", o->rcpts[i]);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    smtp_probe_cmd(s, "RCPT TO", line, &e) < 0) {
			rc = probe_fail(PROBE_RCPT, "RCPT TO", n < 0 ||
			    (size_t)n >= sizeof(line) ? "address too long" :
			    e.text);
			goto out;
		}
	}
	if (smtp_probe_cmd(s, "RSET", "RSET", &e) < 0) {
		rc = probe_fail(PROBE_RSET, "RSET", e.text);
		goto out;
	}
out:
	if (rc == PROBE_OK || rc == PROBE_RCPT || rc == PROBE_MAIL)
		probe_offers(smtp_caps(s), p->tls == SMTP_TLS_STARTTLS);
	printf("--- server: %s\n", smtp_server_desc(s));
	smtp_quit(s);
	if (rc == PROBE_OK)
		printf("--- result: every step worked\n");
	return rc;
}

int probe_main(int argc, char **argv)
{
	struct probe_opts o;
	struct cfg cfg;
	const struct cfg_account *a;
	struct smtp_params p;
	char path[4096], port[16], err[1024];
	char *secret = NULL;
	const char *mech = NULL;
	int rc;

	/* OpenSSL and the socket code never raise it, but a failed write in
	 * a library we do not control must not kill the probe silently. */
	signal(SIGPIPE, SIG_IGN);
	if (probe_args(argc, argv, &o) < 0) {
		probe_usage(stderr);
		return PROBE_USAGE;
	}
	if (probe_config_path(&o, path, sizeof(path)) < 0)
		return probe_fail(PROBE_CONFIG, "config",
		    "no configuration file: use -o config=FILE");
	if (cfg_parse_file(path, &cfg, err, sizeof(err)) < 0)
		return probe_fail(PROBE_CONFIG, "config", err);
	a = cfg_account(&cfg, o.account);
	if (a == NULL) {
		fprintf(stderr, "outboxfs --probe: config failed: %s: no "
		    "account %s\n", path, o.account ? o.account : "(default)");
		cfg_free(&cfg);
		return PROBE_CONFIG;
	}
	if (cfg_check(a, err, sizeof(err)) < 0) {
		cfg_free(&cfg);
		return probe_fail(PROBE_CONFIG, "config", err);
	}
	{
		struct acct_host h;

		acct_host_info(&h);
		if (acct_resolve_all(&cfg, &h, err, sizeof(err)) < 0) {
			cfg_free(&cfg);
			return probe_fail(PROBE_CONFIG, "config", err);
		}
	}
	if (cfg_unusable(a) != NULL) {
		char why[400];

		snprintf(why, sizeof(why), "account %s: %s", a->name,
		    cfg_unusable(a));
		cfg_free(&cfg);
		return probe_fail(PROBE_CONFIG, "config", why);
	}
	printf("--- account %s from %s\n", a->name, path);
	probe_params(a, &p, port, sizeof(port));
	if (a->auth != CFG_AUTH_OFF) {
		mech = a->auth == CFG_AUTH_MECH && a->auth_mech ?
		    a->auth_mech : "";
		rc = cfg_password(a, &secret, err, sizeof(err));
		if (rc != 0) {
			cfg_free(&cfg);
			return probe_fail(PROBE_CONFIG, "config", rc > 0 ?
			    "auth is on but neither password nor "
			    "passwordeval is set" : err);
		}
		p.secret = secret;
	}
	rc = probe_session(&o, a, &p, mech);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	cfg_free(&cfg);
	fflush(stdout);
	return rc;
}
