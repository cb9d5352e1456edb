/*
 * test_keys — msmtp's keys beyond the basic ones: the aliases file
 * parser, the %U %H %C %M substitutions, tls_priorities mapped onto
 * OpenSSL, the values of the new keywords, and what each changes in the
 * message that is sent (envelope and header), table-driven with hostile
 * inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "fs/acct.h"
#include "smtp/msg.h"

#define ERRLEN 512

/* ---- the aliases file ---------------------------------------------------- */

struct alias_bad {
	const char *text;
	const char *want;           /* in the error */
};

static const struct alias_bad alias_bad[] = {
	{ "root\n", "a:2: no `:`" },
	{ ": bob@x\n", "a:1: nothing before `:`" },
	{ "root: \n", "a:1: an empty address" },
	{ "root: a@x,\n", "a:1: an empty address" },
	{ "root: a@x,,b@x\n", "a:1: an empty address" },
	{ "root: a b@x\n", "a:1: a space" },
	{ "root: <a@x>\n", "a:1: one of <" },
	{ "root: a@x\r\nroot: b@x\n", "a:2: `root` is already defined at "
	  "line 1" },
	{ "Root: a@x\nroot: b@x\n", "a:2: `Root` is already defined" },
	{ "ro ot: a@x\n", "a:1: a name with a space" },
	{ "root@x: a@x\n", "a:1: a name with a space" },
	{ "root: @x\n", "a:1: an address that starts or ends with @" },
	{ "root: a@\n", "a:1: an address that starts or ends with @" },
	{ "root: a\x01@x\n", "a:1: a space or control character" },
	{ "root: \"a\"@x\n", "a:1: one of <" },
	{ "root: a@x:b\n", "a:1: one of <" },
};

/* "# comment\n" then LINE put at line 2 for the first case */
static void test_aliases_bad(void **state)
{
	struct cfg_aliases t;
	char err[ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(alias_bad) / sizeof(alias_bad[0]); i++) {
		char buf[256];
		const char *text = alias_bad[i].text;

		if (i == 0) {
			snprintf(buf, sizeof(buf), "# first\n%s", text);
			text = buf;
		}
		err[0] = '\0';
		if (cfg_aliases_parse("a", text, strlen(text), &t, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu: got 0, want -1 for %s", i, text);
		if (strstr(err, alias_bad[i].want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    alias_bad[i].want);
		cfg_aliases_free(&t);
	}
}

static void test_aliases_good(void **state)
{
	static const char text[] =
	    "\xef# aliases\n"                 /* a stray byte in a comment */
	    "\n"
	    "   # indented comment\n"
	    "root: alice@example.com, bob@example.com # the admins\n"
	    "postmaster:carol\r\n"
	    "default: catchall@example.com\n"
	    "no-newline-at-end: x@y";
	struct cfg_aliases t;
	const char *const *v;
	char err[ERRLEN];
	size_t n;

	(void)state;
	/* the first line is a comment only from '#': "\xef" is no name */
	assert_int_equal(cfg_aliases_parse("a", text + 1, strlen(text + 1),
	    &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 4);
	v = cfg_alias_lookup(&t, "ROOT", &n);
	assert_non_null(v);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "alice@example.com");
	assert_string_equal(v[1], "bob@example.com");
	v = cfg_alias_lookup(&t, "postmaster", &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "carol");
	v = cfg_alias_lookup(&t, "nobody", &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "catchall@example.com");
	v = cfg_alias_lookup(&t, "no-newline-at-end", &n);
	assert_string_equal(v[0], "x@y");
	cfg_aliases_free(&t);

	/* no default: an unknown name stays as it is */
	assert_int_equal(cfg_aliases_parse("a", "root: a@x\n", 10, &t, err,
	    sizeof(err)), 0);
	assert_null(cfg_alias_lookup(&t, "bob", &n));
	assert_int_equal(n, 0);
	cfg_aliases_free(&t);

	/* empty, NULL, only comments */
	assert_int_equal(cfg_aliases_parse("a", NULL, 0, &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	cfg_aliases_free(&t);
	assert_null(cfg_alias_lookup(NULL, "root", &n));
}

static void test_aliases_hostile(void **state)
{
	struct cfg_aliases t;
	char err[ERRLEN], *big;
	size_t n = 5000;

	(void)state;
	/* a line over the cap, a NUL, a huge list */
	big = malloc(n + 16);
	assert_non_null(big);
	memcpy(big, "root: ", 6);
	memset(big + 6, 'a', n);
	big[n + 6] = '\n';
	assert_int_equal(cfg_aliases_parse("a", big, n + 7, &t, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "a:1: the line is longer"));
	cfg_aliases_free(&t);
	assert_int_equal(cfg_aliases_parse("a", "root: a\0@x\n", 11, &t, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	cfg_aliases_free(&t);
	/* 400 bytes of one address */
	memcpy(big, "root: ", 6);
	memset(big + 6, 'b', 400);
	memcpy(big + 406, "@x\n", 3);
	assert_int_equal(cfg_aliases_parse("a", big, 409, &t, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 320"));
	cfg_aliases_free(&t);
	free(big);
}

static void test_aliases_file(void **state)
{
	char dir[] = "/tmp/test_keys.XXXXXX", path[300], conf[600];
	struct cfg c;
	char err[ERRLEN];
	FILE *f;
	int n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/aliases", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("root: admin@example.com\nbroken line\n", f);
	fclose(f);
	n = snprintf(conf, sizeof(conf), "%s/conf", dir);
	assert_true(n > 0);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "defaults\naliases %s\naccount a\nhost h\n", path);
	fclose(f);
	/* the error names the aliases file and its line */
	assert_int_equal(cfg_parse_file(conf, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/aliases:2: no `:`"));

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("root: admin@example.com\n", f);
	fclose(f);
	assert_int_equal(cfg_parse_file(conf, &c, err, sizeof(err)), 0);
	assert_non_null(c.accounts[0].alias_tab);
	assert_int_equal(c.accounts[0].alias_tab->n, 1);
	/* -o aliases=MISSING: read again, and the error says which */
	assert_int_equal(cfg_set(&c.accounts[0], "aliases", "/nonexistent/al",
	    err, sizeof(err)), 0);
	assert_int_equal(cfg_load_aliases(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/al: cannot open"));
	cfg_free(&c);
	unlink(path);
	unlink(conf);
	rmdir(dir);
}

/* ---- %U %H %C %M ---------------------------------------------------------- */

struct subst_case {
	const char *tmpl;
	const char *want;           /* NULL: an error containing err */
	const char *err;
};

static const struct subst_case subst_cases[] = {
	{ "%U@%H", "alice@laptop", NULL },
	{ "cron@%C", "cron@laptop.example.com", NULL },
	{ "%U@%M", "alice@example.com", NULL },
	{ "100%%@x", "100%@x", NULL },
	{ "%%U", "%U", NULL },
	{ "plain@example.com", "plain@example.com", NULL },
	{ "", "", NULL },
	{ "%", NULL, "lone `%`" },
	{ "a%", NULL, "lone `%`" },
	{ "%u", NULL, "`%u` is not one of" },
	{ "%\x01", NULL, "`%?` is not one of" },
	{ "%\xff", NULL, "`%?` is not one of" },
	{ "%n%s%s%s", NULL, "`%n` is not one of" },
};

static void test_subst(void **state)
{
	const struct cfg_subst v = { "alice", "laptop", "laptop.example.com",
	    "example.com" };
	const struct cfg_subst none = { NULL, "", NULL, NULL };
	char out[64], err[ERRLEN], big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(subst_cases) / sizeof(subst_cases[0]);
	    i++) {
		const struct subst_case *c = &subst_cases[i];
		int rc = cfg_subst(c->tmpl, &v, out, sizeof(out), err,
		    sizeof(err));

		if (c->want != NULL) {
			if (rc != 0 || strcmp(out, c->want) != 0)
				fail_msg("case %zu: got %d \"%s\", want \"%s\"",
				    i, rc, rc == 0 ? out : err, c->want);
		} else if (rc != -1 || strstr(err, c->err) == NULL) {
			fail_msg("case %zu: got %d \"%s\", want error \"%s\"",
			    i, rc, rc == 0 ? out : err, c->err);
		}
	}
	/* a missing value, an expansion that does not fit */
	assert_int_equal(cfg_subst("%U", &none, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no value"));
	assert_int_equal(cfg_subst("%H", &none, out, sizeof(out), err,
	    sizeof(err)), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cfg_subst(big, &v, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 63"));
	assert_int_equal(cfg_subst("%C%C%C%C", &v, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_int_equal(cfg_subst("ab", &v, out, 3, err, sizeof(err)), 0);
	assert_int_equal(cfg_subst("abc", &v, out, 3, err, sizeof(err)), -1);
}

static void test_resolve_from(void **state)
{
	const struct cfg_subst v = { "alice", "laptop", "laptop.example.com",
	    "example.com" };
	struct cfg c;
	char err[ERRLEN], *from;
	static const char text[] = "account a\nfrom cron@%H\n"
	    "account b\nauto_from on\nmaildomain example.org\nfrom x@y\n"
	    "account c\nauto_from on\naccount d\n";

	(void)state;
	assert_int_equal(cfg_parse_buffer("t", text, sizeof(text) - 1, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(cfg_resolve_from(&c.accounts[0], &v, &from, err,
	    sizeof(err)), 0);
	assert_string_equal(from, "cron@laptop");
	free(from);
	/* msmtp: auto_from wins over from */
	assert_int_equal(cfg_resolve_from(&c.accounts[1], &v, &from, err,
	    sizeof(err)), 0);
	assert_string_equal(from, "alice@example.org");
	free(from);
	/* without maildomain: the user alone (completed later) */
	assert_int_equal(cfg_resolve_from(&c.accounts[2], &v, &from, err,
	    sizeof(err)), 0);
	assert_string_equal(from, "alice");
	free(from);
	assert_int_equal(cfg_resolve_from(&c.accounts[3], &v, &from, err,
	    sizeof(err)), 0);
	assert_null(from);
	cfg_free(&c);
}

/* ---- tls_priorities, tls_min_dh_prime_bits ------------------------------- */

struct prio_case {
	const char *s;
	int rc, min, max, level, notick;
};

static const struct prio_case prio_cases[] = {
	{ "NORMAL", 0, 0x0303, 0x0304, 0, 0 },
	{ "NORMAL:-VERS-TLS1.2", 0, 0x0304, 0x0304, 0, 0 },
	{ "SECURE256:-VERS-ALL:+VERS-TLS1.2", 0, 0x0303, 0x0303, 5, 0 },
	{ "SECURE128:%COMPAT", 0, 0x0303, 0x0304, 3, 0 },
	{ "PFS:%NO_TICKETS:-VERS-TLS1.0:-VERS-TLS1.1", 0, 0x0303, 0x0304, 0,
	  1 },
	{ "SECURE192", 0, 0x0303, 0x0304, 4, 0 },
	{ "NORMAL:SECURE256", -1, 0, 0, 0, 0 },     /* base only first */
	{ "NORMAL:-VERS-TLS1.3:-VERS-TLS1.2", -1, 0, 0, 0, 0 },
	{ "NORMAL:+VERS-SSL3.0", -1, 0, 0, 0, 0 },
	{ "NORMAL:+ECDHE-RSA", -1, 0, 0, 0, 0 },
	{ "NORMAL:%SERVER_PRECEDENCE", -1, 0, 0, 0, 0 },
	{ "normal", -1, 0, 0, 0, 0 },
	{ ":", -1, 0, 0, 0, 0 },
	{ "NORMAL::", -1, 0, 0, 0, 0 },
	{ "NORMAL:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	  "XXXXXXXXXXXX", -1, 0, 0, 0, 0 },
};

static void test_priorities(void **state)
{
	struct cfg_tls_prio p;
	char err[ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(prio_cases) / sizeof(prio_cases[0]);
	    i++) {
		const struct prio_case *c = &prio_cases[i];
		int rc = cfg_tls_priorities(c->s, &p, err, sizeof(err));

		if (rc != c->rc)
			fail_msg("case %zu (%s): got %d, want %d (%s)", i, c->s,
			    rc, c->rc, err);
		if (rc != 0)
			continue;
		assert_int_equal(p.min_version, c->min);
		assert_int_equal(p.max_version, c->max);
		assert_int_equal(p.seclevel, c->level);
		assert_int_equal(p.no_tickets, c->notick);
	}
	assert_int_equal(cfg_dh_seclevel(0), 0);
	assert_int_equal(cfg_dh_seclevel(512), 1);
	assert_int_equal(cfg_dh_seclevel(1024), 1);
	assert_int_equal(cfg_dh_seclevel(1025), 2);
	assert_int_equal(cfg_dh_seclevel(2048), 2);
	assert_int_equal(cfg_dh_seclevel(3072), 3);
	assert_int_equal(cfg_dh_seclevel(4096), 4);
	assert_int_equal(cfg_dh_seclevel(16384), 5);
}

/* ---- the keywords' values ------------------------------------------------- */

static void test_key_values(void **state)
{
	static const char text[] =
	    "defaults\n"
	    "dsn_notify Failure, delay ,SUCCESS\n"
	    "dsn_return headers\n"
	    "account a\n"
	    "host [::1]\n"
	    "set_from_header on\n"
	    "set_date_header off\n"
	    "add_missing_from_header off\n"
	    "set_msgid_header auto\n"
	    "allow_from_override off\n"
	    "remove_bcc_headers off\n"
	    "undisclosed_recipients\n"
	    "from_full_name \"Cron Daemon\"\n"
	    "source_ip [2001:db8::7]\n"
	    "tls_host_override mx.example.com\n"
	    "tls_min_dh_prime_bits 2048\n"
	    "tls_priorities NORMAL:-VERS-TLS1.2\n"
	    "ntlmdomain X\n"
	    "account b : a\n"
	    "dsn_notify never\n"
	    "dsn_return off\n"
	    "add_missing_date_header on\n"
	    "account p\n"
	    "proxy_host 127.0.0.1\n"
	    "account s\n"
	    "socket /run/smtp\n";
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a, *b;

	(void)state;
	assert_int_equal(cfg_parse_buffer("t.conf", text, sizeof(text) - 1, &c,
	    err, sizeof(err)), 0);
	a = cfg_account(&c, "a");
	b = cfg_account(&c, "b");
	assert_string_equal(a->host, "::1");
	assert_string_equal(a->dsn_notify, "SUCCESS,FAILURE,DELAY");
	assert_string_equal(a->dsn_return, "HDRS");
	assert_int_equal(a->set_from_header, CFG_TRI_OFF);   /* last wins */
	assert_int_equal(a->set_date_header, CFG_TRI_OFF);
	assert_int_equal(a->set_msgid_header, CFG_TRI_AUTO);
	assert_int_equal(a->allow_from_override, 0);
	assert_int_equal(a->remove_bcc_headers, 0);
	assert_int_equal(a->undisclosed_recipients, 1);
	assert_string_equal(a->from_full_name, "Cron Daemon");
	assert_string_equal(a->source_ip, "2001:db8::7");
	assert_string_equal(a->tls_host_override, "mx.example.com");
	assert_int_equal(a->tls_min_dh_prime_bits, 2048);
	assert_null(cfg_unusable(a));
	assert_string_equal(b->dsn_notify, "NEVER");
	assert_null(b->dsn_return);
	assert_int_equal(b->set_date_header, CFG_TRI_AUTO);
	assert_string_equal(b->source_ip, "2001:db8::7");
	assert_non_null(strstr(cfg_unusable(cfg_account(&c, "p")), "SOCKS"));
	assert_non_null(strstr(cfg_unusable(cfg_account(&c, "s")), "TCP"));
	/* an unusable account passes the mount check (no host needed) */
	assert_int_equal(cfg_check(cfg_account(&c, "s"), err, sizeof(err)), 0);
	/* the one keyword still ignored is named with its place */
	assert_non_null(c.ignored);
	assert_string_equal(c.ignored, "t.conf:18: ntlmdomain\n");
	/* defaults: msmtp's */
	assert_int_equal(c.defaults.allow_from_override, 1);
	assert_int_equal(c.defaults.remove_bcc_headers, 1);
	cfg_free(&c);

	/* -o and the "did you mean" of a misspelt one */
	assert_string_equal(cfg_suggest_keyword("setle"), "settle");
	assert_string_equal(cfg_suggest_keyword("dsn_notfy"), "dsn_notify");
	assert_null(cfg_suggest_keyword("allow_other"));
	assert_true(cfg_is_keyword("tls_crl_file"));
	assert_false(cfg_is_keyword("eval"));
}

static void test_smtp_params(void **state)
{
	static const char text[] =
	    "account a\nhost [::1]\nport 2525\ntls on\n"
	    "tls_priorities SECURE128:-VERS-TLS1.3\n"
	    "tls_min_dh_prime_bits 4096\nsource_ip 127.0.0.2\n"
	    "tls_crl_file /c.pem\ntls_host_override mx.example.com\n"
	    "account p\nhost h\nproxy_host 127.0.0.1\n";
	struct cfg c;
	struct smtp_params p;
	char err[ERRLEN], port[16], hp[64];

	(void)state;
	assert_int_equal(cfg_parse_buffer("t", text, sizeof(text) - 1, &c, err,
	    sizeof(err)), 0);
	acct_smtp_params(&c.accounts[0], &p, port, sizeof(port));
	assert_string_equal(p.host, "::1");
	assert_string_equal(p.port, "2525");
	assert_int_equal(p.tls_min_version, 0x0303);
	assert_int_equal(p.tls_max_version, 0x0303);
	assert_int_equal(p.tls_seclevel, 4);       /* the higher of the two */
	assert_string_equal(p.source_ip, "127.0.0.2");
	assert_string_equal(p.tls_crl_file, "/c.pem");
	assert_string_equal(p.tls_host, "mx.example.com");
	assert_null(p.refuse);
	acct_hostport(&c.accounts[0], hp, sizeof(hp));
	assert_string_equal(hp, "[::1]:2525");
	acct_smtp_params(&c.accounts[1], &p, port, sizeof(port));
	assert_non_null(p.refuse);
	acct_hostport(&c.accounts[1], hp, sizeof(hp));
	assert_string_equal(hp, "h:25");
	smtp_hostport("127.0.0.1", "25", hp, sizeof(hp));
	assert_string_equal(hp, "127.0.0.1:25");
	smtp_hostport("[::1]", "25", hp, sizeof(hp));
	assert_string_equal(hp, "[::1]:25");
	smtp_hostport("fe80::1%eth0", "25", hp, 8);
	assert_int_equal(strlen(hp), 7);
	cfg_free(&c);
}

/* ---- what the keys change in the message ----------------------------------- */

#define NOW 1795881613          /* Sat, 28 Nov 2026 16:00:13 UTC */

static int mkfd(const char *s)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);
	size_t n = strlen(s), off = 0;

	assert_true(fd >= 0);
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	return fd;
}

static const char *const *test_alias_fn(void *ctx, const char *local,
    size_t *n)
{
	return cfg_alias_lookup(ctx, local, n);
}

struct msg_case {
	const char *name;
	const char *text;
	/* the params beyond the account's from "alice@example.com" */
	const char *qualify;
	int use_aliases;
	enum msg_hdr_mode set_from;
	const char *full_name;
	int undisclosed, keep_bcc, no_date, no_msgid;
	const char *sender;
	int no_override;
	const char *from;           /* NULL: alice@example.com; "" none */
	/* expected */
	const char *err;            /* NULL: success */
	const char *env_from;
	const char *rcpts;          /* space-separated */
	const char *hdr_has[4];
	const char *hdr_lacks[3];
};

static const struct msg_case msg_cases[] = {
	{ "cron's From: root (Cron Daemon), To: root", 
	  "From: root (Cron Daemon)\nTo: root\nSubject: cron\n\nbody\n",
	  "example.com", 1, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, "",
	  NULL, "root@example.com", "admin@example.com ops@example.com",
	  { "From: root@example.com (Cron Daemon)\r\n",
	    "To: root@example.com\r\n" }, { NULL } },
	{ "aliases: default catches the rest, qualified target",
	  "To: bob, carol@other.org\nSubject: x\n\nb\n",
	  "example.com", 1, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com",
	  "fallback@example.com carol@other.org",
	  { "To: bob@example.com, carol@other.org\r\n" }, { NULL } },
	{ "no qualify domain: no @ is an error as before",
	  "To: root\nSubject: x\n\nb\n",
	  NULL, 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  "To: root: no @ sign", NULL, NULL, { NULL }, { NULL } },
	{ "display name and angle brackets kept",
	  "To: \"Root, the\" <root>, Bob <bob@x.org>\nSubject: x\n\nb\n",
	  "h.example", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "root@h.example bob@x.org",
	  { "To: \"Root, the\" <root@h.example>, Bob <bob@x.org>\r\n" },
	  { NULL } },
	{ "quoted local part completed",
	  "To: \"a b\"\nSubject: x\n\nb\n",
	  "h.example", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "\"a b\"@h.example", { NULL }, { NULL } },
	{ "set_from_header on replaces From, with the full name",
	  "From: someone@else.org\nTo: b@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_ON, "Cron Daemon", 0, 0, 0, 0, NULL, 0,
	  NULL, NULL, "alice@example.com", "b@x.org",
	  { "From: Cron Daemon <alice@example.com>\r\n" },
	  { "someone@else.org" } },
	{ "set_from_header off leaves the message's From",
	  "From: Me <me@mine.org>\nTo: b@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_OFF, "Ignored", 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "b@x.org",
	  { "From: Me <me@mine.org>\r\n" }, { "alice@example.com>", "Ignored" } },
	{ "set_from_header off adds none",
	  "To: b@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_OFF, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "b@x.org", { NULL }, { "From:" } },
	{ "auto adds From with a non-ASCII full name encoded",
	  "To: b@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, "J\xc3\xb6rg", 0, 0, 0, 0, NULL, 0,
	  NULL, NULL, "alice@example.com", "b@x.org",
	  { "From: =?UTF-8?B?SsO2cmc=?= <alice@example.com>\r\n" }, { NULL } },
	{ "two From lines are fine when set_from_header on drops them",
	  "From: a@x.org\nFrom: b@x.org\nTo: b@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_ON, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "b@x.org",
	  { "From: alice@example.com\r\n" }, { "From: a@x.org" } },
	{ "undisclosed_recipients",
	  "To: a@x.org\nCc: b@x.org\nBcc: c@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 1, 1, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "a@x.org b@x.org c@x.org",
	  { "To: undisclosed-recipients:;\r\n" },
	  { "a@x.org", "Cc:", "Bcc:" } },
	{ "remove_bcc_headers off keeps Bcc",
	  "To: a@x.org\nBcc: c@x.org, d\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 0, 1, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "a@x.org c@x.org d@example.com",
	  { "Bcc: c@x.org, d@example.com\r\n" }, { NULL } },
	{ "set_date_header and set_msgid_header off",
	  "To: a@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 0, 0, 1, 1, NULL, 0, NULL,
	  NULL, "alice@example.com", "a@x.org", { NULL },
	  { "Date:", "Message-ID:" } },
	{ "the sender asked for overrides from",
	  "To: a@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, "bounce", 0, NULL,
	  NULL, "bounce@example.com", "a@x.org",
	  { "From: bounce@example.com\r\n" }, { NULL } },
	{ "allow_from_override off: from wins",
	  "To: a@x.org\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, "bounce@x.org", 1,
	  NULL, NULL, "alice@example.com", "a@x.org", { NULL },
	  { "bounce" } },
	{ "from without @ (auto_from, no maildomain) is completed",
	  "To: a@x.org\nSubject: x\n\nb\n",
	  "laptop.example.com", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0,
	  "alice", NULL, "alice@laptop.example.com", "a@x.org",
	  { "From: alice@laptop.example.com\r\n" }, { NULL } },
	{ "an alias to a bad address fails with the alias named",
	  "To: broken\nSubject: x\n\nb\n",
	  "example.com", 1, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  "alias broken", NULL, NULL, { NULL }, { NULL } },
	{ "a completed address too long",
	  "To: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "\nSubject: x\n\nb\n",
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	  0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  "longer than 320", NULL, NULL, { NULL }, { NULL } },
	{ "a group of local names",
	  "To: admins: root, bob;\nSubject: x\n\nb\n",
	  "example.com", 0, MSG_HDR_AUTO, NULL, 0, 0, 0, 0, NULL, 0, NULL,
	  NULL, "alice@example.com", "root@example.com bob@example.com",
	  { "To: admins: root@example.com, bob@example.com;\r\n" }, { NULL } },
};

static void test_msg_keys(void **state)
{
	static const char aliases[] =
	    "root: admin@example.com, ops\n"
	    "broken: a@@b\n"
	    "default: fallback\n";
	struct cfg_aliases t;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(cfg_aliases_parse("al", aliases, sizeof(aliases) - 1,
	    &t, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		struct msg_params p = {
			.from = c->from == NULL ? "alice@example.com" :
			    c->from[0] ? c->from : NULL,
			.domain = "laptop.example.com",
			.now = NOW,
			.qualify_domain = c->qualify,
			.alias = c->use_aliases ? test_alias_fn : NULL,
			.alias_ctx = &t,
			.set_from = c->set_from,
			.from_full_name = c->full_name,
			.undisclosed = c->undisclosed,
			.keep_bcc = c->keep_bcc,
			.no_date = c->no_date,
			.no_msgid = c->no_msgid,
			.env_from = c->sender,
			.no_from_override = c->no_override,
		};
		struct msg m;
		char rc_list[1024] = "";
		int fd = mkfd(c->text), rc;

		err[0] = '\0';
		rc = msg_prepare(fd, &p, &m, err, sizeof(err));
		close(fd);
		if (c->err != NULL) {
			if (rc != -1 || strstr(err, c->err) == NULL)
				fail_msg("%s: got %d \"%s\", want error \"%s\"",
				    c->name, rc, err, c->err);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: failed: %s", c->name, err);
		if (strcmp(m.from, c->env_from) != 0)
			fail_msg("%s: envelope from %s, want %s", c->name,
			    m.from, c->env_from);
		for (size_t k = 0; k < m.nrcpts; k++) {
			strncat(rc_list, k ? " " : "", sizeof(rc_list) -
			    strlen(rc_list) - 1);
			strncat(rc_list, m.rcpts[k], sizeof(rc_list) -
			    strlen(rc_list) - 1);
		}
		if (strcmp(rc_list, c->rcpts) != 0)
			fail_msg("%s: rcpts \"%s\", want \"%s\"", c->name,
			    rc_list, c->rcpts);
		for (size_t k = 0; k < 4 && c->hdr_has[k]; k++)
			if (strstr(m.header, c->hdr_has[k]) == NULL)
				fail_msg("%s: header lacks \"%s\":\n%s", c->name,
				    c->hdr_has[k], m.header);
		for (size_t k = 0; k < 3 && c->hdr_lacks[k]; k++)
			if (strstr(m.header, c->hdr_lacks[k]) != NULL)
				fail_msg("%s: header has \"%s\":\n%s", c->name,
				    c->hdr_lacks[k], m.header);
		if (c->no_msgid)
			assert_null(m.message_id);
		msg_free(&m);
	}
	cfg_aliases_free(&t);
}

/* outboxfs-sendmail's argument recipients: aliased and completed like
 * an address in To:, and its -f weighed against from */
static void test_msg_env_rcpts(void **state)
{
	static const char aliases[] = "root: admin@example.com, ops\n";
	static const char *const rcpts[] = { "root", "bob", "c@x.org" };
	struct cfg_aliases t;
	struct msg_params p = { .from = "alice@example.com", .now = NOW,
	    .qualify_domain = "example.net", .alias = test_alias_fn,
	    .env_from = "cron", .env_rcpts = rcpts, .env_nrcpts = 3 };
	struct msg m;
	char err[ERRLEN];
	int fd = mkfd("To: someone@else.org\nSubject: x\n\nb\n");

	(void)state;
	assert_int_equal(cfg_aliases_parse("al", aliases, sizeof(aliases) - 1,
	    &t, err, sizeof(err)), 0);
	p.alias_ctx = &t;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	assert_string_equal(m.from, "cron@example.net");
	assert_int_equal(m.nrcpts, 4);
	assert_string_equal(m.rcpts[0], "admin@example.com");
	assert_string_equal(m.rcpts[1], "ops@example.net");
	assert_string_equal(m.rcpts[2], "bob@example.net");
	assert_string_equal(m.rcpts[3], "c@x.org");
	msg_free(&m);
	p.no_from_override = 1;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	assert_string_equal(m.from, "alice@example.com");
	msg_free(&m);
	close(fd);
	cfg_aliases_free(&t);
}

static void test_msg_dsn(void **state)
{
	struct msg_params p = { .from = "a@x.org", .now = NOW,
	    .dsn_notify = "SUCCESS,FAILURE", .dsn_ret = "HDRS" };
	struct msg m;
	char err[ERRLEN];
	int fd = mkfd("To: b@x.org\nMessage-ID: <1+2=3@x.org>\n\nb\n");

	(void)state;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	assert_string_equal(m.dsn_notify, "SUCCESS,FAILURE");
	assert_string_equal(m.dsn_ret, "HDRS");
	assert_string_equal(m.dsn_envid, "<1+2B2+3D3@x.org>");
	msg_free(&m);
	/* an injected parameter is refused */
	p.dsn_notify = "SUCCESS ORCPT=x";
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad DSN request"));
	p.dsn_notify = NULL;
	p.dsn_ret = "FULL\r\nRSET";
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), -1);
	/* no DSN asked: nothing */
	p.dsn_ret = NULL;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	assert_null(m.dsn_notify);
	assert_null(m.dsn_envid);
	msg_free(&m);
	close(fd);
}

static void test_msg_params_of_account(void **state)
{
	static const char text[] =
	    "account a\nhost h\nfrom alice@example.com\nmaildomain m.org\n"
	    "domain d.org\nset_from_header on\nremove_bcc_headers off\n"
	    "dsn_notify delay\naccount b\nhost h\ndomain d.org\n"
	    "account c\nhost h\n";
	struct cfg c;
	struct msg_params p;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(cfg_parse_buffer("t", text, sizeof(text) - 1, &c, err,
	    sizeof(err)), 0);
	acct_msg_params(&c.accounts[0], NOW, &p);
	assert_string_equal(p.qualify_domain, "m.org");
	assert_int_equal(p.set_from, MSG_HDR_ON);
	assert_int_equal(p.keep_bcc, 1);
	assert_string_equal(p.dsn_notify, "DELAY");
	acct_msg_params(&c.accounts[1], NOW, &p);
	assert_string_equal(p.qualify_domain, "d.org");
	assert_int_equal(p.keep_bcc, 0);
	acct_msg_params(&c.accounts[2], NOW, &p);
	assert_string_equal(p.qualify_domain, "localhost");
	acct_msg_params(NULL, NOW, &p);
	assert_null(p.from);
	cfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aliases_bad),
		cmocka_unit_test(test_aliases_good),
		cmocka_unit_test(test_aliases_hostile),
		cmocka_unit_test(test_aliases_file),
		cmocka_unit_test(test_subst),
		cmocka_unit_test(test_resolve_from),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_key_values),
		cmocka_unit_test(test_smtp_params),
		cmocka_unit_test(test_msg_keys),
		cmocka_unit_test(test_msg_env_rcpts),
		cmocka_unit_test(test_msg_dsn),
		cmocka_unit_test(test_msg_params_of_account),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
