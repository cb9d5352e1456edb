/*
 * test_config — the msmtprc parser: every keyword, inheritance, the
 * default account, quoting, units, and every error path with the line
 * number and the fix it must name. Hostile inputs: NUL bytes, huge lines,
 * thousands of accounts, self-inheritance, very long names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "unit_helpers.h"

#define ERRLEN 1024

static int parse(const char *text, struct cfg *c, char *err)
{
	return cfg_parse_buffer("t.conf", text, strlen(text), c, err, ERRLEN);
}

static void assert_empty_cfg(const struct cfg *c)
{
	assert_null(c->accounts);
	assert_int_equal(c->naccounts, 0);
	assert_null(c->file);
	assert_null(c->default_account);
}

/* ---- errors: each names the line, the problem and the fix ------------ */

struct err_case {
	const char *input;
	const char *want[4];
};

static const struct err_case err_cases[] = {
	{ "account a\nhots smtp.example.com\n",
	  { "t.conf:2: ", "unknown keyword `hots`", "did you mean `host`?" } },
	{ "account a\nHost x\n",
	  { "t.conf:2: ", "unknown keyword `Host`", "`host`" } },
	{ "account a\ntls_startls on\n",
	  { "t.conf:2: ", "did you mean `tls_starttls`?" } },
	{ "account a\nretry 5m\n",
	  { "t.conf:2: ", "unknown keyword `retry`", "`retry_min`" } },
	{ "account a\ntls_trust /etc/ca.pem\n",
	  { "t.conf:2: ", "did you mean `tls_trust_file`?" } },
	{ "account a\nprotocol \"lmtp\"\n",
	  { "t.conf:2: ", "SMTP only" } },
	{ "account a\nfrobnicate 1\n",
	  { "t.conf:2: ", "unknown keyword `frobnicate`", "outboxfs.conf(5)" } },
	{ "account a\nhost x\n\naccount a\n",
	  { "t.conf:4: ", "account `a` is already defined at line 1",
	    "another name" } },
	{ "account b : a\n",
	  { "t.conf:1: ", "inherits from `a`, which is not defined above",
	    "define `account a` first" } },
	{ "account b : a\naccount a\nhost x\n",
	  { "t.conf:1: ", "not defined above this line" } },
	{ "account a : a\n",
	  { "t.conf:1: ", "cannot inherit from itself" } },
	{ "account a\naccount b : a, b\n",
	  { "t.conf:2: ", "cannot inherit from itself" } },
	{ "account a\naccount b : a,\n",
	  { "t.conf:2: ", "empty parent", "account b : PARENT" } },
	{ "account a\naccount b :\n",
	  { "t.conf:2: ", "empty parent" } },
	{ "account a\naccount b : a,,a\n",
	  { "t.conf:2: ", "empty parent" } },
	{ "account\n",
	  { "t.conf:1: ", "`account` needs a name", "account NAME" } },
	{ "account : a\n",
	  { "t.conf:1: ", "needs a name" } },
	{ "account .hidden\n",
	  { "t.conf:1: ", "starts with `.`", "letters, digits" } },
	{ "account a/b\n",
	  { "t.conf:1: ", "contains one of /" } },
	{ "account x.status\n",
	  { "t.conf:1: ", "reserved or scratch" } },
	{ "account work~\n",
	  { "t.conf:1: ", "scratch" } },
	{ "account \"quoted\"\n",
	  { "t.conf:1: ", "contains one of" } },
	{ "defaults extra\n",
	  { "t.conf:1: ", "`defaults` takes no value" } },
	{ "host smtp.example.com\naccount a\n",
	  { "t.conf:1: ", "`host` comes before any `defaults` or `account` "
	    "line", "start the file with `defaults`" } },
	{ "# comment\n\nauto_from on\n",
	  { "t.conf:3: ", "comes before any" } },
	{ "account a\nport abc\n",
	  { "t.conf:2: ", "port `abc` is not a port number", "`port 587`" } },
	{ "account a\nport 0\n",
	  { "t.conf:2: ", "port `0` is out of range", "from 1 to 65535" } },
	{ "account a\nport 65536\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\nport -1\n",
	  { "t.conf:2: ", "is not a port number" } },
	{ "account a\nport 25 \"x\"\n",
	  { "t.conf:2: ", "is not a port number" } },
	{ "account a\nport\n",
	  { "t.conf:2: ", "port needs a value", "`port 587`" } },
	{ "account a\nhost\n",
	  { "t.conf:2: ", "host needs a value", "`host smtp.example.com`" } },
	{ "account a\nhost \"\"\n",
	  { "t.conf:2: ", "host needs a value" } },
	{ "defaults\nspool\n",
	  { "t.conf:2: ", "spool needs a value" } },
	{ "account a\nsettle 61s\n",
	  { "t.conf:2: ", "settle `61s` is out of range",
	    "0 to 60000 milliseconds", "`settle 300ms`" } },
	{ "account a\nsettle 1m\n",
	  { "t.conf:2: ", "is not a time in milliseconds" } },
	{ "account a\nsettle 1.5s\n",
	  { "t.conf:2: ", "is not a time in milliseconds" } },
	{ "defaults\nconnections 0\n",
	  { "t.conf:2: ", "connections `0` is out of range", "1 to 64" } },
	{ "defaults\nconnections 65\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\nmax_size 99999999999999999999999\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\nmax_size 17179869184G\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\nmax_size 10T\n",
	  { "t.conf:2: ", "is not a size in bytes", "64M" } },
	{ "account a\nretry_min 5x\n",
	  { "t.conf:2: ", "retry_min `5x` is not a time in seconds" } },
	{ "account a\nretry_min 0\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\nmax_queue_time 366d\n",
	  { "t.conf:2: ", "max_queue_time `366d` is out of range" } },
	{ "account a\ntimeout soon\n",
	  { "t.conf:2: ", "timeout `soon` is not a time in seconds" } },
	{ "account a\ntls yes\n",
	  { "t.conf:2: ", "tls `yes` is neither on nor off", "`tls on`" } },
	{ "account a\ntls_certcheck 0\n",
	  { "t.conf:2: ", "`tls_certcheck off`" } },
	{ "account a\nauth gssapi\n",
	  { "t.conf:2: ", "auth `gssapi` is not a mechanism",
	    "SCRAM-SHA-256", "`auth on`" } },
	{ "account a\ntls_fingerprint AB:CD\n",
	  { "t.conf:2: ", "not a SHA-256 fingerprint", "-sha256" } },
	{ "account a\ntls_fingerprint 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:"
	  "dd:ee:ff:00:11:22:33\n",
	  { "t.conf:2: ", "not a SHA-256 fingerprint" } },
	{ "account a\nsyslog LOG_KERN\n",
	  { "t.conf:2: ", "syslog `LOG_KERN` is not a facility",
	    "`syslog LOG_MAIL`" } },
	/* msmtp's keys: hostile and wrong values */
	{ "account a\ndsn_notify success,never\n",
	  { "t.conf:2: ", "dsn_notify `success,never`" } },
	{ "account a\ndsn_notify success,\n",
	  { "t.conf:2: ", "dsn_notify" } },
	{ "account a\ndsn_notify ,\n", { "t.conf:2: ", "dsn_notify" } },
	{ "account a\ndsn_notify sucess\n", { "t.conf:2: ", "dsn_notify" } },
	{ "account a\ndsn_return some\n",
	  { "t.conf:2: ", "dsn_return `some` is not off, headers or full" } },
	{ "account a\nsource_ip eth0\n",
	  { "t.conf:2: ", "source_ip `eth0`", "not looked up" } },
	{ "account a\nsource_ip [192.0.2.1]\n", { "t.conf:2: ", "source_ip" } },
	{ "account a\nsource_ip 999.1.1.1\n", { "t.conf:2: ", "source_ip" } },
	{ "account a\nhost [::1\n", { "t.conf:2: ", "host `[::1`" } },
	{ "account a\nhost [example.com]\n", { "t.conf:2: ", "not a host" } },
	{ "account a\nhost []\n", { "t.conf:2: ", "not a host" } },
	{ "account a\nfrom %X@example.com\n",
	  { "t.conf:2: ", "`%X` is not one of" } },
	{ "account a\nfrom alice@example.com%\n", { "t.conf:2: ", "lone `%`" } },
	{ "account a\nfrom %\n", { "t.conf:2: ", "lone `%`" } },
	{ "account a\nset_from_header maybe\n",
	  { "t.conf:2: ", "auto, on or off" } },
	{ "account a\nset_date_header on-ish\n",
	  { "t.conf:2: ", "auto or off" } },
	{ "account a\nset_msgid_header on\nset_msgid_header x\n",
	  { "t.conf:3: ", "auto or off" } },
	{ "account a\ntls_priorities NORMAL:+AES-128-GCM\n",
	  { "t.conf:2: ", "`+AES-128-GCM` has no OpenSSL equivalent" } },
	{ "account a\ntls_priorities NORMAL:+VERS-TLS1.0\n",
	  { "t.conf:2: ", "below 1.2" } },
	{ "account a\ntls_priorities NORMAL:-VERS-ALL\n",
	  { "t.conf:2: ", "no TLS version is left" } },
	{ "account a\ntls_priorities NORMAL:\n", { "t.conf:2: ", "trailing" } },
	{ "account a\ntls_priorities ::\n", { "t.conf:2: ", "empty" } },
	{ "account a\ntls_priorities NONE\n", { "t.conf:2: ", "`NONE`" } },
	{ "account a\ntls_min_dh_prime_bits 99999\n",
	  { "t.conf:2: ", "out of range" } },
	{ "account a\ntls_min_dh_prime_bits -1\n", { "t.conf:2: ", "not" } },
	{ "account a\nauto_from perhaps\n", { "t.conf:2: ", "on nor off" } },
	{ "account a\neval echo host x\n",
	  { "t.conf:2: ", "write the keywords out" } },
	{ "account a\nprotocol lmtp\n",
	  { "t.conf:2: ", "SMTP only", "`protocol smtp`" } },
	{ "account a\nuser \"abc\n",
	  { "t.conf:2: ", "no closing `\"`" } },
	{ "account a\nuser \"\n",
	  { "t.conf:2: ", "no closing" } },
	{ "account a\nuser \"ab\\\"\n",
	  { "t.conf:2: ", "no closing" } },
	{ "account a\nuser \"abc\" def\n",
	  { "t.conf:2: ", "text after the closing `\"`" } },
	{ "account a\nfrom a\x01" "b@example.com\n",
	  { "t.conf:2: ", "control character (byte 0x01)" } },
	{ "account a\nhost x\ry\n",
	  { "t.conf:2: ", "control character (byte 0x0d)" } },
	{ "account a\naccount default : a\naccount default : a\n",
	  { "t.conf:3: ", "account `default` is already defined at line 2" } },
	{ "account default\naccount a\naccount default : a\n",
	  { "t.conf:3: ", "already defined at line 1" } },
	{ "account a\naccount default : a\naccount default\n",
	  { "t.conf:3: ", "already defined at line 2" } },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *tc = &err_cases[i];
		struct cfg c;
		char err[ERRLEN];
		int rc;

		memset(err, 0, sizeof(err));
		rc = parse(tc->input, &c, err);
		if (rc != -1)
			fail_msg("case %zu: got %d, want -1 for \"%s\"", i, rc,
			    tc->input);
		assert_empty_cfg(&c);
		for (size_t j = 0; j < 4 && tc->want[j] != NULL; j++) {
			if (strstr(err, tc->want[j]) == NULL)
				fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				    err, tc->want[j]);
		}
		/* One line, as the header promises. */
		assert_null(strchr(err, '\n'));
	}
}

static void test_password_not_echoed(void **state)
{
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse("account a\npassword \"hunter2\n", &c, err), -1);
	assert_contains(err, "t.conf:2: ");
	assert_null(strstr(err, "hunter2"));
}

/* ---- what a good file yields ------------------------------------------ */

static void test_builtin_defaults(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse("account a\n", &c, err), 0);
	assert_int_equal(c.naccounts, 1);
	a = &c.accounts[0];
	assert_string_equal(a->name, "a");
	assert_string_equal(a->file, "t.conf");
	assert_int_equal(a->line, 1);
	assert_int_equal(a->set, 0);
	assert_null(a->host);
	assert_int_equal(a->port, 0);
	assert_int_equal(a->tls, 0);
	assert_int_equal(a->tls_starttls, 1);
	assert_int_equal(a->tls_certcheck, 1);
	assert_int_equal(a->auth, CFG_AUTH_OFF);
	assert_null(a->auth_mech);
	assert_int_equal(a->settle_ms, CFG_DEFAULT_SETTLE_MS);
	assert_int_equal(a->connections, CFG_DEFAULT_CONNECTIONS);
	assert_true(a->max_size == CFG_DEFAULT_MAX_SIZE);
	assert_int_equal(a->max_queue_time, CFG_DEFAULT_MAX_QUEUE_TIME);
	assert_int_equal(a->retry_min, CFG_DEFAULT_RETRY_MIN);
	assert_int_equal(a->retry_max, CFG_DEFAULT_RETRY_MAX);
	assert_int_equal(cfg_port(a), 25);
	cfg_free(&c);
	assert_empty_cfg(&c);
}

static const char every_keyword[] =
    "# every keyword once\n"
    "account full\n"
    "host smtp.example.com\n"
    "port 2525\n"
    "from alice@example.com\n"
    "domain laptop.example.com\n"
    "timeout 45\n"
    "user alice\n"
    "password pa ss#word\n"
    "passwordeval pass show mail\n"
    "auth scram-sha-256\n"
    "tls on\n"
    "tls_starttls off\n"
    "tls_trust_file /etc/ssl/certs/ca-certificates.crt\n"
    "tls_fingerprint 3B:0F:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
    "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77\n"
    "tls_certcheck off\n"
    "tls_cert_file /c.pem\n"
    "tls_key_file /k.pem\n"
    "logfile /var/log/outboxfs.log\n"
    "syslog LOG_LOCAL3\n"
    "spool /var/spool/outboxfs\n"
    "settle 2s\n"
    "connections 8\n"
    "connection_cache 500ms\n"
    "max_size 10M\n"
    "max_queue_time 2d\n"
    "retry_min 1m\n"
    "retry_max 2h\n"
    "users alice, bob\n"
    "groups staff\n"
    "maildrop_group outboxdrop\n";

static void test_every_keyword(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse(every_keyword, &c, err), 0);
	assert_int_equal(c.naccounts, 1);
	a = &c.accounts[0];
	assert_int_equal(a->line, 2);
	assert_string_equal(a->host, "smtp.example.com");
	assert_int_equal(a->port, 2525);
	assert_int_equal(cfg_port(a), 2525);
	assert_string_equal(a->from, "alice@example.com");
	assert_string_equal(a->domain, "laptop.example.com");
	assert_int_equal(a->timeout, 45);
	assert_string_equal(a->user, "alice");
	assert_string_equal(a->password, "pa ss#word");
	assert_string_equal(a->passwordeval, "pass show mail");
	assert_int_equal(a->auth, CFG_AUTH_MECH);
	assert_string_equal(a->auth_mech, "SCRAM-SHA-256");
	assert_int_equal(a->tls, 1);
	assert_int_equal(a->tls_starttls, 0);
	assert_string_equal(a->tls_trust_file,
	    "/etc/ssl/certs/ca-certificates.crt");
	assert_non_null(a->tls_fingerprint);
	assert_int_equal(strlen(a->tls_fingerprint), 95);
	assert_int_equal(a->tls_certcheck, 0);
	assert_string_equal(a->tls_cert_file, "/c.pem");
	assert_string_equal(a->tls_key_file, "/k.pem");
	assert_string_equal(a->logfile, "/var/log/outboxfs.log");
	assert_string_equal(a->syslog, "LOG_LOCAL3");
	assert_string_equal(a->spool, "/var/spool/outboxfs");
	assert_int_equal(a->settle_ms, 2000);
	assert_int_equal(a->connections, 8);
	assert_int_equal(a->cache_ms, 500);
	assert_true(a->max_size == 10ull * 1024 * 1024);
	assert_int_equal(a->max_queue_time, 2 * 86400);
	assert_int_equal(a->retry_min, 60);
	assert_int_equal(a->retry_max, 7200);
	assert_string_equal(a->users, "alice, bob");
	assert_string_equal(a->groups, "staff");
	assert_string_equal(a->maildrop_group, "outboxdrop");
	assert_true((a->set & (CFG_BIT(CFG_K_RETRY_MAX + 1) - 1)) ==
	    CFG_BIT(CFG_K_RETRY_MAX + 1) - 1);
	assert_true(a->set & CFG_BIT(CFG_K_USERS));
	assert_true(a->set & CFG_BIT(CFG_K_GROUPS));
	assert_true(a->set & CFG_BIT(CFG_K_MAILDROP_GROUP));
	cfg_free(&c);
}

struct unit_case {
	const char *line;
	enum cfg_key key;
	uint64_t want;
};

static const struct unit_case unit_cases[] = {
	{ "settle 0", CFG_K_SETTLE, 0 },
	{ "settle 40", CFG_K_SETTLE, 40 },
	{ "settle 150ms", CFG_K_SETTLE, 150 },
	{ "settle 60s", CFG_K_SETTLE, 60000 },
	{ "settle 60000", CFG_K_SETTLE, 60000 },
	{ "max_size 0", CFG_K_MAX_SIZE, 0 },
	{ "max_size 100", CFG_K_MAX_SIZE, 100 },
	{ "max_size 512k", CFG_K_MAX_SIZE, 512 * 1024 },
	{ "max_size 512K", CFG_K_MAX_SIZE, 512 * 1024 },
	{ "max_size 64M", CFG_K_MAX_SIZE, 64ull << 20 },
	{ "max_size 3G", CFG_K_MAX_SIZE, 3ull << 30 },
	{ "max_size 17179869183G", CFG_K_MAX_SIZE, 17179869183ull << 30 },
	{ "max_queue_time 90", CFG_K_MAX_QUEUE_TIME, 90 },
	{ "max_queue_time 90s", CFG_K_MAX_QUEUE_TIME, 90 },
	{ "max_queue_time 5m", CFG_K_MAX_QUEUE_TIME, 300 },
	{ "max_queue_time 3h", CFG_K_MAX_QUEUE_TIME, 10800 },
	{ "max_queue_time 365d", CFG_K_MAX_QUEUE_TIME, 365u * 86400 },
	{ "retry_min 1", CFG_K_RETRY_MIN, 1 },
	{ "retry_max 7d", CFG_K_RETRY_MAX, 7 * 86400 },
	{ "timeout off", CFG_K_TIMEOUT, 0 },
	{ "timeout 2m", CFG_K_TIMEOUT, 120 },
	{ "port 1", CFG_K_PORT, 1 },
	{ "port 65535", CFG_K_PORT, 65535 },
	{ "port 000025", CFG_K_PORT, 25 },
	{ "connections 64", CFG_K_CONNECTIONS, 64 },
};

static uint64_t unit_value(const struct cfg_account *a, enum cfg_key k)
{
	switch (k) {
	case CFG_K_SETTLE: return a->settle_ms;
	case CFG_K_MAX_SIZE: return a->max_size;
	case CFG_K_MAX_QUEUE_TIME: return a->max_queue_time;
	case CFG_K_RETRY_MIN: return a->retry_min;
	case CFG_K_RETRY_MAX: return a->retry_max;
	case CFG_K_TIMEOUT: return a->timeout;
	case CFG_K_PORT: return a->port;
	case CFG_K_CONNECTIONS: return a->connections;
	default: return UINT64_MAX;
	}
}

static void test_units(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		char text[256], err[ERRLEN];
		struct cfg c;
		uint64_t got;

		snprintf(text, sizeof(text), "account a\n%s\n", unit_cases[i].line);
		if (parse(text, &c, err) != 0)
			fail_msg("case %zu (%s): %s", i, unit_cases[i].line, err);
		got = unit_value(&c.accounts[0], unit_cases[i].key);
		if (got != unit_cases[i].want)
			fail_msg("case %zu (%s): got %llu, want %llu", i,
			    unit_cases[i].line, (unsigned long long)got,
			    (unsigned long long)unit_cases[i].want);
		assert_true(c.accounts[0].set & CFG_BIT(unit_cases[i].key));
		cfg_free(&c);
	}
}

static void test_on_off(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse("account a\ntls\ntls_starttls Off\n"
	    "tls_certcheck ON\nauth\nsyslog\n", &c, err), 0);
	a = &c.accounts[0];
	assert_int_equal(a->tls, 1);
	assert_int_equal(a->tls_starttls, 0);
	assert_int_equal(a->tls_certcheck, 1);
	assert_int_equal(a->auth, CFG_AUTH_ON);
	assert_string_equal(a->syslog, "LOG_MAIL");
	assert_int_equal(cfg_port(a), 465);
	cfg_free(&c);

	/* A mechanism, then off: the mechanism is forgotten. */
	assert_int_equal(parse("account a\nauth plain\nauth off\nsyslog on\n"
	    "syslog off\ntls on\ntls off\n", &c, err), 0);
	a = &c.accounts[0];
	assert_int_equal(a->auth, CFG_AUTH_OFF);
	assert_null(a->auth_mech);
	assert_null(a->syslog);
	assert_int_equal(a->tls, 0);
	/* Written off is still "set", so the daemon can tell. */
	assert_true(a->set & CFG_BIT(CFG_K_TLS));
	assert_true(a->set & CFG_BIT(CFG_K_SYSLOG));
	cfg_free(&c);
}

static void test_ports(void **state)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{ "account a\n", 25 },
		{ "account a\ntls on\n", 587 },
		{ "account a\ntls on\ntls_starttls off\n", 465 },
		{ "account a\ntls off\ntls_starttls off\n", 25 },
		{ "account a\ntls on\nport 2465\n", 2465 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg c;
		char err[ERRLEN];
		assert_int_equal(parse(cases[i].text, &c, err), 0);
		if (cfg_port(&c.accounts[0]) != cases[i].want)
			fail_msg("case %zu: got %u, want %u", i,
			    cfg_port(&c.accounts[0]), cases[i].want);
		cfg_free(&c);
	}
}

static void test_defaults_apply_forward(void **state)
{
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse(
	    "account early\n"
	    "defaults\n"
	    "host smtp.example.com\n"
	    "settle 1s\n"
	    "account late\n"
	    "defaults\n"
	    "tls on\n"
	    "account later\n"
	    "host other.example.com\n", &c, err), 0);
	assert_int_equal(c.naccounts, 3);
	assert_null(c.accounts[0].host);
	assert_int_equal(c.accounts[0].settle_ms, CFG_DEFAULT_SETTLE_MS);
	assert_int_equal(c.accounts[0].set, 0);
	assert_string_equal(c.accounts[1].host, "smtp.example.com");
	assert_int_equal(c.accounts[1].settle_ms, 1000);
	assert_int_equal(c.accounts[1].tls, 0);
	assert_true(c.accounts[1].set & CFG_BIT(CFG_K_HOST));
	assert_false(c.accounts[1].set & CFG_BIT(CFG_K_TLS));
	/* Defaults accumulate across `defaults` sections. */
	assert_string_equal(c.accounts[2].host, "other.example.com");
	assert_int_equal(c.accounts[2].settle_ms, 1000);
	assert_int_equal(c.accounts[2].tls, 1);
	assert_string_equal(c.defaults.host, "smtp.example.com");
	cfg_free(&c);
}

static void test_inheritance(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *child, *multi, *p1;

	(void)state;
	assert_int_equal(parse(
	    "defaults\n"
	    "from d@example.com\n"
	    "account p1\n"
	    "host h1\n"
	    "user u1\n"
	    "password secret1\n"
	    "auth login\n"
	    "account p2\n"
	    "host h2\n"
	    "settle 5\n"
	    "account child : p1\n"
	    "user override\n"
	    "account multi : p1 , p2\n"
	    "account multi2 : p2,p1\n", &c, err), 0);
	assert_int_equal(c.naccounts, 5);
	p1 = cfg_account(&c, "p1");
	child = cfg_account(&c, "child");
	assert_non_null(child);
	assert_string_equal(child->host, "h1");
	assert_string_equal(child->user, "override");
	assert_string_equal(child->password, "secret1");
	assert_string_equal(child->from, "d@example.com");
	assert_int_equal(child->auth, CFG_AUTH_MECH);
	assert_string_equal(child->auth_mech, "LOGIN");
	/* A deep copy: the parent keeps its own value. */
	assert_string_equal(p1->user, "u1");
	assert_ptr_not_equal(p1->password, child->password);

	/* Later parents win; what only the first set survives. */
	multi = cfg_account(&c, "multi");
	assert_string_equal(multi->host, "h2");
	assert_string_equal(multi->user, "u1");
	assert_int_equal(multi->settle_ms, 5);
	assert_true(multi->set & CFG_BIT(CFG_K_PASSWORD));
	multi = cfg_account(&c, "multi2");
	assert_string_equal(multi->host, "h1");
	assert_int_equal(multi->settle_ms, 5);
	cfg_free(&c);
}

static void test_parent_unset_does_not_clobber(void **state)
{
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	/* p was defined before `defaults` set port: p never set port, so
	 * inheriting from p keeps the defaults' port. */
	assert_int_equal(parse(
	    "account p\nhost h\n"
	    "defaults\nport 2525\n"
	    "account c : p\n", &c, err), 0);
	assert_int_equal(c.accounts[1].port, 2525);
	assert_string_equal(c.accounts[1].host, "h");
	cfg_free(&c);

	/* An empty value in the child unsets what the parent set. */
	assert_int_equal(parse(
	    "account p\nuser u\npassword pw\n"
	    "account c : p\nuser\npassword \"\"\n", &c, err), 0);
	assert_null(c.accounts[1].user);
	assert_null(c.accounts[1].password);
	assert_string_equal(c.accounts[0].password, "pw");
	cfg_free(&c);
}

static void test_default_alias(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse(
	    "account first\nhost h1\n"
	    "account work\nhost h2\n"
	    "account default : work\n"
	    "account more : default\n", &c, err), 0);
	/* Only a choice, not an account of its own. */
	assert_int_equal(c.naccounts, 3);
	assert_string_equal(c.default_account, "work");
	a = cfg_account(&c, NULL);
	assert_non_null(a);
	assert_string_equal(a->name, "work");
	assert_ptr_equal(cfg_account(&c, "default"), a);
	assert_string_equal(cfg_account(&c, "more")->host, "h2");
	assert_null(cfg_account(&c, "nosuch"));
	cfg_free(&c);

	/* Keywords after it make it a real account, as in msmtp. */
	assert_int_equal(parse(
	    "account work\nhost h2\n"
	    "account default : work\nfrom x@example.com\n", &c, err), 0);
	assert_int_equal(c.naccounts, 2);
	assert_null(c.default_account);
	a = cfg_account(&c, NULL);
	assert_string_equal(a->name, "default");
	assert_string_equal(a->host, "h2");
	assert_string_equal(a->from, "x@example.com");
	cfg_free(&c);

	/* Without any: an account called default, else the first. */
	assert_int_equal(parse("account a\naccount default\naccount b\n", &c,
	    err), 0);
	assert_string_equal(cfg_account(&c, NULL)->name, "default");
	cfg_free(&c);
	assert_int_equal(parse("account a\naccount b\n", &c, err), 0);
	assert_string_equal(cfg_account(&c, NULL)->name, "a");
	cfg_free(&c);
}

static void test_comments_and_hash_in_values(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse(
	    "# a comment\n"
	    "   # an indented comment\n"
	    "\t#host nope\n"
	    "account a\n"
	    "#host commented.example.com\n"
	    "host smtp.example.com # not a comment\n"
	    "password abc#def\n"
	    "user #user\n", &c, err), 0);
	a = &c.accounts[0];
	assert_string_equal(a->host, "smtp.example.com # not a comment");
	assert_string_equal(a->password, "abc#def");
	assert_string_equal(a->user, "#user");
	cfg_free(&c);
}

static void test_quotes(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_int_equal(parse(
	    "account a\n"
	    "password \"  two words \\\"q\\\" back\\\\slash \"\n"
	    "user \"\"\n"
	    "from \"x@example.com\"\n"
	    "domain a\"b\"\n"
	    "passwordeval \"pass show 'mail/a b'\\n\"\n", &c, err), 0);
	a = &c.accounts[0];
	assert_string_equal(a->password, "  two words \"q\" back\\slash ");
	assert_null(a->user);
	assert_true(a->set & CFG_BIT(CFG_K_USER));
	assert_string_equal(a->from, "x@example.com");
	/* Quotes only count around the whole value. */
	assert_string_equal(a->domain, "a\"b\"");
	/* Other backslashes are kept as written. */
	assert_string_equal(a->passwordeval, "pass show 'mail/a b'\\n");
	cfg_free(&c);
}

static void test_tilde(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;
	char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	(void)state;
	setenv("HOME", "/home/tester", 1);
	assert_int_equal(parse(
	    "account a\n"
	    "tls_trust_file ~/ca.pem\n"
	    "tls_cert_file ~\n"
	    "tls_key_file ~other/key.pem\n"
	    "logfile \"~/log file\"\n"
	    "spool ~/spool\n"
	    "passwordeval ~/bin/pw\n"
	    "user ~me\n", &c, err), 0);
	a = &c.accounts[0];
	assert_string_equal(a->tls_trust_file, "/home/tester/ca.pem");
	assert_string_equal(a->tls_cert_file, "/home/tester");
	assert_string_equal(a->tls_key_file, "~other/key.pem");
	assert_string_equal(a->logfile, "/home/tester/log file");
	assert_string_equal(a->spool, "/home/tester/spool");
	/* Not file names: left alone (the shell expands passwordeval). */
	assert_string_equal(a->passwordeval, "~/bin/pw");
	assert_string_equal(a->user, "~me");
	cfg_free(&c);

	assert_int_equal(parse("account a\ntls_trust_file system\n"
	    "tls_trust_file\n", &c, err), 0);
	assert_null(c.accounts[0].tls_trust_file);
	cfg_free(&c);
	assert_int_equal(parse("account a\ntls_trust_file system\n", &c, err),
	    0);
	assert_string_equal(c.accounts[0].tls_trust_file, "system");
	cfg_free(&c);

	if (old != NULL) {
		setenv("HOME", old, 1);
		free(old);
	} else {
		unsetenv("HOME");
	}
}

static void test_line_ends_and_space(void **state)
{
	struct cfg c;
	char err[ERRLEN];
	static const char bom[] = "\xef\xbb\xbf" "account a\nhost h\n";

	(void)state;
	assert_int_equal(parse("account a\r\nhost smtp.example.com\r\n"
	    "port 587\r\n\r\n# c\r\n", &c, err), 0);
	assert_string_equal(c.accounts[0].host, "smtp.example.com");
	assert_int_equal(c.accounts[0].port, 587);
	cfg_free(&c);

	assert_int_equal(parse("  \taccount \t a \t\n\t host \t h h \t\n"
	    "port 25", &c, err), 0);   /* no final newline */
	assert_string_equal(c.accounts[0].name, "a");
	assert_string_equal(c.accounts[0].host, "h h");
	assert_int_equal(c.accounts[0].port, 25);
	cfg_free(&c);

	assert_int_equal(parse(bom, &c, err), 0);
	assert_string_equal(c.accounts[0].host, "h");
	cfg_free(&c);
}

static void test_empty_inputs(void **state)
{
	static const char *const inputs[] = {
		"", "\n", "   \n\t\n  ", "# only a comment", "\r\n\r\n",
		"defaults\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct cfg c;
		char err[ERRLEN];
		assert_int_equal(parse(inputs[i], &c, err), 0);
		assert_int_equal(c.naccounts, 0);
		assert_null(cfg_account(&c, NULL));
		assert_null(cfg_account_for_from(&c, "a@b"));
		cfg_free(&c);
	}
	{
		struct cfg c;
		char err[ERRLEN];
		assert_int_equal(cfg_parse_buffer("n", NULL, 0, &c, err,
		    sizeof(err)), 0);
		assert_int_equal(c.naccounts, 0);
		assert_string_equal(c.file, "n");
		cfg_free(&c);
	}
}

static void test_msmtp_keywords_ignored(void **state)
{
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse(
	    "defaults\n"
	    "auto_from on\n"
	    "maildomain example.com\n"
	    "logfile_time_format %Y\n"
	    "account a\n"
	    "protocol smtp\n"
	    "protocol \"smtp\"\n"
	    "tls_host_override mail.example.com\n"
	    "aliases /etc/aliases\n"
	    "host h\n", &c, err), 0);
	assert_int_equal(c.naccounts, 1);
	assert_string_equal(c.accounts[0].host, "h");
	cfg_free(&c);
}

static void test_for_from(void **state)
{
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse(
	    "account a\nfrom alice@example.com\n"
	    "account b\nfrom Bob@Example.com\n"
	    "account c\n", &c, err), 0);
	assert_string_equal(cfg_account_for_from(&c, "ALICE@example.COM")->name,
	    "a");
	assert_string_equal(cfg_account_for_from(&c, "bob@example.com")->name,
	    "b");
	assert_null(cfg_account_for_from(&c, "carol@example.com"));
	assert_null(cfg_account_for_from(&c, ""));
	cfg_free(&c);
}

/* ---- hostile inputs ---------------------------------------------------- */

static void test_nul_bytes(void **state)
{
	static const char buf[] = "account a\nhost h\0ost\nport 25\n";
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(cfg_parse_buffer("t.conf", buf, sizeof(buf) - 1, &c,
	    err, sizeof(err)), -1);
	assert_contains(err, "t.conf:2: ");
	assert_contains(err, "NUL byte");
	assert_empty_cfg(&c);

	/* The length is obeyed: stopping before the NUL parses fine. */
	assert_int_equal(cfg_parse_buffer("t.conf", buf, 16, &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.accounts[0].host, "h");
	cfg_free(&c);
}

static void test_huge_line(void **state)
{
	size_t n = 100 * 1024;
	char *buf = malloc(n + 64);
	struct cfg c;
	char err[ERRLEN];
	size_t len;

	(void)state;
	assert_non_null(buf);
	len = (size_t)snprintf(buf, 64, "account a\nhost ");
	memset(buf + len, 'x', n);
	len += n;
	buf[len++] = '\n';
	assert_int_equal(cfg_parse_buffer("t.conf", buf, len, &c, err,
	    sizeof(err)), -1);
	assert_contains(err, "t.conf:2: ");
	assert_contains(err, "longer than 4096 bytes");
	assert_empty_cfg(&c);

	/* Exactly at the cap is fine. */
	len = (size_t)snprintf(buf, 64, "account a\nhost ");
	memset(buf + len, 'y', CFG_MAX_LINE - 5);
	len += CFG_MAX_LINE - 5;
	assert_int_equal(cfg_parse_buffer("t.conf", buf, len, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(c.accounts[0].host), CFG_MAX_LINE - 5);
	cfg_free(&c);
	free(buf);
}

static void test_many_accounts(void **state)
{
	size_t n = 3000, cap = n * 40 + 64, len = 0;
	char *buf = malloc(cap);
	struct cfg c;
	char err[ERRLEN];
	const struct cfg_account *a;

	(void)state;
	assert_non_null(buf);
	len += (size_t)snprintf(buf + len, cap - len, "account a0\nhost h0\n");
	for (size_t i = 1; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len,
		    "account a%zu : a%zu\nport %zu\n", i, i - 1, i % 65535 + 1);
	assert_true(len < cap);
	assert_int_equal(cfg_parse_buffer("t.conf", buf, len, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.naccounts, n);
	a = cfg_account(&c, "a2999");
	assert_non_null(a);
	assert_string_equal(a->host, "h0");
	assert_int_equal(a->port, 3000);
	assert_int_equal(a->line, 2 * 2999 + 1);
	cfg_free(&c);
	free(buf);
}

static void test_too_many_accounts(void **state)
{
	size_t n = CFG_MAX_ACCOUNTS + 1, cap = n * 16 + 64, len = 0;
	char *buf = malloc(cap);
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "account %zu\n", i);
	assert_int_equal(cfg_parse_buffer("t.conf", buf, len, &c, err,
	    sizeof(err)), -1);
	assert_contains(err, "t.conf:10001: ");
	assert_contains(err, "more than 10000 accounts");
	assert_empty_cfg(&c);
	free(buf);
}

static void test_long_names(void **state)
{
	char buf[1024], name[300];
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(buf, sizeof(buf), "account %s\naccount b : %s\n", name, name);
	assert_int_equal(parse(buf, &c, err), 0);
	assert_int_equal(strlen(c.accounts[0].name), 255);
	cfg_free(&c);

	memset(name, 'n', 256);
	name[256] = '\0';
	snprintf(buf, sizeof(buf), "account %s\n", name);
	assert_int_equal(parse(buf, &c, err), -1);
	assert_contains(err, "t.conf:1: ");
	assert_contains(err, "longer than 255 bytes");
	/* The message quotes the name, but not all of it. */
	assert_true(strlen(err) < 400);
}

static void test_long_file_name(void **state)
{
	char name[2048];
	struct cfg c;
	char err[ERRLEN];

	(void)state;
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name + sizeof(name) - 8, "/x.conf", 8);
	assert_int_equal(cfg_parse_buffer(name, "bogus\n", 6, &c, err,
	    sizeof(err)), -1);
	assert_contains(err, "/x.conf:1: ");
	assert_contains(err, "unknown keyword");

	/* A tiny err buffer is still terminated and never overrun. */
	{
		char small[8];
		memset(small, 'Z', sizeof(small));
		assert_int_equal(cfg_parse_buffer("t.conf", "bogus\n", 6, &c,
		    small, 6), -1);
		assert_int_equal(small[5], '\0');
		assert_int_equal(small[6], 'Z');
	}
}

/* ---- cfg_set and cfg_add_account --------------------------------------- */

struct set_case {
	const char *key, *value;
	int rc;
	const char *want_err;
};

static const struct set_case set_cases[] = {
	{ "settle", "100", 0, NULL },
	{ "settle", "2s", 0, NULL },
	{ "connections", "65", -1, "-o connections: connections `65` is out "
	    "of range" },
	{ "setle", "100", -1, "did you mean `settle`?" },
	{ "bogus_option", "1", -1, "unknown option `bogus_option`" },
	{ "password", "x", -1, "visible to every user in ps(1)" },
	{ "host", "", -1, "host needs a value" },
	{ "host", "smtp.example.com", 0, NULL },
	{ "tls", NULL, 0, NULL },
	{ "tls", "maybe", -1, "`tls on` or `tls off`" },
	{ "spool", "/tmp/spool", 0, NULL },
	{ "max_size", "1G", 0, NULL },
	{ "retry_max", "1w", -1, "is not a time in seconds" },
	{ "passwordeval", "echo x", 0, NULL },
	{ "auth", "xoauth2", 0, NULL },
};

static void test_cfg_set(void **state)
{
	struct cfg c;
	struct cfg_account *a;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse("account a\nsettle 5\n", &c, err), 0);
	a = &c.accounts[0];
	for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct set_case *tc = &set_cases[i];
		int rc;
		err[0] = '\0';
		rc = cfg_set(a, tc->key, tc->value, err, sizeof(err));
		if (rc != tc->rc)
			fail_msg("case %zu (%s=%s): got %d, want %d (%s)", i,
			    tc->key, tc->value ? tc->value : "(null)", rc,
			    tc->rc, err);
		if (tc->want_err != NULL && strstr(err, tc->want_err) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    tc->want_err);
	}
	assert_int_equal(a->settle_ms, 2000);
	assert_int_equal(a->connections, CFG_DEFAULT_CONNECTIONS);
	assert_string_equal(a->host, "smtp.example.com");
	assert_int_equal(a->tls, 1);
	assert_string_equal(a->spool, "/tmp/spool");
	assert_true(a->max_size == 1ull << 30);
	assert_null(a->password);
	assert_string_equal(a->auth_mech, "XOAUTH2");
	assert_true(a->set & CFG_BIT(CFG_K_SPOOL));
	cfg_free(&c);
}

static void test_add_account(void **state)
{
	struct cfg c;
	struct cfg_account *a;
	char err[ERRLEN];

	(void)state;
	cfg_init(&c);
	assert_int_equal(cfg_set(&c.defaults, "host", "127.0.0.1", err,
	    sizeof(err)), 0);
	a = cfg_add_account(&c, "mount", err, sizeof(err));
	assert_non_null(a);
	assert_string_equal(a->host, "127.0.0.1");
	assert_int_equal(a->tls_certcheck, 1);
	assert_int_equal(cfg_set(a, "port", "2525", err, sizeof(err)), 0);
	assert_null(cfg_add_account(&c, "mount", err, sizeof(err)));
	assert_contains(err, "already defined");
	assert_null(cfg_add_account(&c, "../x", err, sizeof(err)));
	assert_contains(err, "starts with `.`");
	assert_int_equal(cfg_port(cfg_account(&c, NULL)), 2525);
	cfg_free(&c);
	assert_empty_cfg(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_password_not_echoed),
		cmocka_unit_test(test_builtin_defaults),
		cmocka_unit_test(test_every_keyword),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_on_off),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_defaults_apply_forward),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_parent_unset_does_not_clobber),
		cmocka_unit_test(test_default_alias),
		cmocka_unit_test(test_comments_and_hash_in_values),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_tilde),
		cmocka_unit_test(test_line_ends_and_space),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_msmtp_keywords_ignored),
		cmocka_unit_test(test_for_from),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_many_accounts),
		cmocka_unit_test(test_too_many_accounts),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_long_file_name),
		cmocka_unit_test(test_cfg_set),
		cmocka_unit_test(test_add_account),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
