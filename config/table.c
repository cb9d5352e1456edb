/*
 * config/table — the keyword table: every keyword of the configuration,
 * how its value is read and checked (numbers with units, on/off, hosts,
 * paths with `~`, fingerprints, DSN words, mechanisms, facilities), where
 * it is stored in struct cfg_account, and its example for messages. The
 * one table drives the file parser (parse.c), inheritance and cfg_set, so
 * a keyword is checked the same way wherever it is written. Also: the
 * msmtp keywords read without effect or refused, and "did you mean".
 *
 * Must never: print, keep global mutable state, echo a value that may be
 * a secret into a message, or free a password without wiping it first.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"

/* How a keyword's argument is read and where it is stored. */
enum cfg_type {
	CFG_T_STR,          /* char *; empty argument unsets */
	CFG_T_STR_REQ,      /* char *; argument required */
	CFG_T_PATH,         /* char *; leading ~ expanded; empty unsets */
	CFG_T_PATH_REQ,     /* char *; leading ~ expanded; required */
	CFG_T_TRUST,        /* char *; "system", a path, or empty (unset) */
	CFG_T_FPR,          /* char *; SHA-256 fingerprint or empty */
	CFG_T_SYSLOG,       /* char *; on/off/facility */
	CFG_T_BOOL,         /* int; on/off, empty = on */
	CFG_T_AUTH,         /* enum cfg_auth + auth_mech */
	CFG_T_PORT,         /* unsigned; 1..65535 */
	CFG_T_COUNT,        /* unsigned; plain number */
	CFG_T_MS,           /* unsigned; milliseconds, ms/s suffixes */
	CFG_T_SECONDS,      /* unsigned; seconds, s/m/h/d suffixes */
	CFG_T_TIMEOUT,      /* unsigned; like SECONDS, "off" = 0 */
	CFG_T_SIZE,         /* uint64_t; bytes, k/M/G suffixes */
	CFG_T_HOST,         /* char *; required; "[::1]" stored as "::1" */
	CFG_T_FROM,         /* char *; %U %H %C %M %% checked */
	CFG_T_TRI,          /* int; auto/on/off (enum cfg_tri) */
	CFG_T_AUTOOFF,      /* int; auto/off (on = auto) */
	CFG_T_ONOFF_AUTO,   /* int; msmtp's old add_missing_*: on = auto */
	CFG_T_DSN_NOTIFY,   /* char *; off, never, or success,failure,delay */
	CFG_T_DSN_RET,      /* char *; off, headers or full */
	CFG_T_IP,           /* char *; an IPv4 or IPv6 literal, or empty */
	CFG_T_PRIO,         /* char *; a GnuTLS priority string outboxfs maps */
};

struct cfg_kw {
	const char *name;
	enum cfg_key key;
	enum cfg_type type;
	size_t off;
	uint64_t min, max;
	const char *example;
};

#define CFG_OFF(f) offsetof(struct cfg_account, f)
#define CFG_DAY    (24u * 3600u)

static const struct cfg_kw cfg_keywords[] = {
	{ "host", CFG_K_HOST, CFG_T_HOST, CFG_OFF(host), 0, 0,
	  "host smtp.example.com" },
	{ "port", CFG_K_PORT, CFG_T_PORT, CFG_OFF(port), 1, 65535,
	  "port 587" },
	{ "from", CFG_K_FROM, CFG_T_FROM, CFG_OFF(from), 0, 0,
	  "from alice@example.com" },
	{ "domain", CFG_K_DOMAIN, CFG_T_STR, CFG_OFF(domain), 0, 0,
	  "domain laptop.example.com" },
	{ "timeout", CFG_K_TIMEOUT, CFG_T_TIMEOUT, CFG_OFF(timeout), 0, CFG_DAY,
	  "timeout 60" },
	{ "user", CFG_K_USER, CFG_T_STR, CFG_OFF(user), 0, 0,
	  "user alice" },
	{ "password", CFG_K_PASSWORD, CFG_T_STR, CFG_OFF(password), 0, 0,
	  "password SECRET" },
	{ "passwordeval", CFG_K_PASSWORDEVAL, CFG_T_STR, CFG_OFF(passwordeval),
	  0, 0, "passwordeval \"pass show mail/alice\"" },
	{ "auth", CFG_K_AUTH, CFG_T_AUTH, CFG_OFF(auth), 0, 0,
	  "auth on" },
	{ "tls", CFG_K_TLS, CFG_T_BOOL, CFG_OFF(tls), 0, 1,
	  "tls on" },
	{ "tls_starttls", CFG_K_TLS_STARTTLS, CFG_T_BOOL, CFG_OFF(tls_starttls),
	  0, 1, "tls_starttls on" },
	{ "tls_trust_file", CFG_K_TLS_TRUST_FILE, CFG_T_TRUST,
	  CFG_OFF(tls_trust_file), 0, 0, "tls_trust_file system" },
	{ "tls_fingerprint", CFG_K_TLS_FINGERPRINT, CFG_T_FPR,
	  CFG_OFF(tls_fingerprint), 0, 0, "tls_fingerprint 3B:0F:...:9A" },
	{ "tls_certcheck", CFG_K_TLS_CERTCHECK, CFG_T_BOOL,
	  CFG_OFF(tls_certcheck), 0, 1, "tls_certcheck on" },
	{ "tls_cert_file", CFG_K_TLS_CERT_FILE, CFG_T_PATH,
	  CFG_OFF(tls_cert_file), 0, 0, "tls_cert_file ~/.certs/client.pem" },
	{ "tls_key_file", CFG_K_TLS_KEY_FILE, CFG_T_PATH,
	  CFG_OFF(tls_key_file), 0, 0, "tls_key_file ~/.certs/client.key" },
	{ "logfile", CFG_K_LOGFILE, CFG_T_PATH, CFG_OFF(logfile), 0, 0,
	  "logfile ~/.outboxfs.log" },
	{ "syslog", CFG_K_SYSLOG, CFG_T_SYSLOG, CFG_OFF(syslog), 0, 0,
	  "syslog LOG_MAIL" },
	{ "spool", CFG_K_SPOOL, CFG_T_PATH_REQ, CFG_OFF(spool), 0, 0,
	  "spool ~/.local/state/outboxfs" },
	{ "settle", CFG_K_SETTLE, CFG_T_MS, CFG_OFF(settle_ms), 0,
	  CFG_MAX_SETTLE_MS, "settle 300ms" },
	{ "connections", CFG_K_CONNECTIONS, CFG_T_COUNT, CFG_OFF(connections),
	  1, CFG_MAX_CONNECTIONS, "connections 2" },
	{ "connection_cache", CFG_K_CONNECTION_CACHE, CFG_T_MS,
	  CFG_OFF(cache_ms), 0, CFG_MAX_SETTLE_MS, "connection_cache 2s" },
	{ "max_size", CFG_K_MAX_SIZE, CFG_T_SIZE, CFG_OFF(max_size), 0,
	  UINT64_MAX, "max_size 64M" },
	{ "max_queue_time", CFG_K_MAX_QUEUE_TIME, CFG_T_SECONDS,
	  CFG_OFF(max_queue_time), 1, 365u * CFG_DAY, "max_queue_time 5d" },
	{ "retry_min", CFG_K_RETRY_MIN, CFG_T_SECONDS, CFG_OFF(retry_min), 1,
	  CFG_DAY, "retry_min 5m" },
	{ "retry_max", CFG_K_RETRY_MAX, CFG_T_SECONDS, CFG_OFF(retry_max), 1,
	  7u * CFG_DAY, "retry_max 67m" },
	{ "aliases", CFG_K_ALIASES, CFG_T_PATH, CFG_OFF(aliases), 0, 0,
	  "aliases /etc/aliases" },
	{ "maildomain", CFG_K_MAILDOMAIN, CFG_T_STR, CFG_OFF(maildomain), 0, 0,
	  "maildomain example.com" },
	{ "auto_from", CFG_K_AUTO_FROM, CFG_T_BOOL, CFG_OFF(auto_from), 0, 1,
	  "auto_from on" },
	{ "set_from_header", CFG_K_SET_FROM_HEADER, CFG_T_TRI,
	  CFG_OFF(set_from_header), 0, 0, "set_from_header auto" },
	{ "add_missing_from_header", CFG_K_SET_FROM_HEADER, CFG_T_ONOFF_AUTO,
	  CFG_OFF(set_from_header), 0, 0, "add_missing_from_header on" },
	{ "allow_from_override", CFG_K_ALLOW_FROM_OVERRIDE, CFG_T_BOOL,
	  CFG_OFF(allow_from_override), 0, 1, "allow_from_override on" },
	{ "from_full_name", CFG_K_FROM_FULL_NAME, CFG_T_STR,
	  CFG_OFF(from_full_name), 0, 0, "from_full_name \"Alice Smith\"" },
	{ "undisclosed_recipients", CFG_K_UNDISCLOSED_RECIPIENTS, CFG_T_BOOL,
	  CFG_OFF(undisclosed_recipients), 0, 1, "undisclosed_recipients on" },
	{ "remove_bcc_headers", CFG_K_REMOVE_BCC_HEADERS, CFG_T_BOOL,
	  CFG_OFF(remove_bcc_headers), 0, 1, "remove_bcc_headers on" },
	{ "set_date_header", CFG_K_SET_DATE_HEADER, CFG_T_AUTOOFF,
	  CFG_OFF(set_date_header), 0, 0, "set_date_header auto" },
	{ "add_missing_date_header", CFG_K_SET_DATE_HEADER, CFG_T_ONOFF_AUTO,
	  CFG_OFF(set_date_header), 0, 0, "add_missing_date_header on" },
	{ "set_msgid_header", CFG_K_SET_MSGID_HEADER, CFG_T_AUTOOFF,
	  CFG_OFF(set_msgid_header), 0, 0, "set_msgid_header auto" },
	{ "dsn_notify", CFG_K_DSN_NOTIFY, CFG_T_DSN_NOTIFY, CFG_OFF(dsn_notify),
	  0, 0, "dsn_notify failure,delay" },
	{ "dsn_return", CFG_K_DSN_RETURN, CFG_T_DSN_RET, CFG_OFF(dsn_return),
	  0, 0, "dsn_return headers" },
	{ "source_ip", CFG_K_SOURCE_IP, CFG_T_IP, CFG_OFF(source_ip), 0, 0,
	  "source_ip 192.0.2.10" },
	{ "tls_host_override", CFG_K_TLS_HOST_OVERRIDE, CFG_T_STR,
	  CFG_OFF(tls_host_override), 0, 0,
	  "tls_host_override mail.example.com" },
	{ "tls_min_dh_prime_bits", CFG_K_TLS_MIN_DH_PRIME_BITS, CFG_T_COUNT,
	  CFG_OFF(tls_min_dh_prime_bits), 0, 16384,
	  "tls_min_dh_prime_bits 2048" },
	{ "tls_priorities", CFG_K_TLS_PRIORITIES, CFG_T_PRIO,
	  CFG_OFF(tls_priorities), 0, 0, "tls_priorities NORMAL:-VERS-TLS1.2" },
	{ "tls_crl_file", CFG_K_TLS_CRL_FILE, CFG_T_PATH, CFG_OFF(tls_crl_file),
	  0, 0, "tls_crl_file ~/.certs/crl.pem" },
	{ "proxy_host", CFG_K_PROXY_HOST, CFG_T_STR, CFG_OFF(proxy_host), 0, 0,
	  "proxy_host 127.0.0.1" },
	{ "socket", CFG_K_SOCKET, CFG_T_STR, CFG_OFF(socket), 0, 0,
	  "socket /run/smtp.sock" },
	{ "users", CFG_K_USERS, CFG_T_STR, CFG_OFF(users), 0, 0,
	  "users alice, bob" },
	{ "groups", CFG_K_GROUPS, CFG_T_STR, CFG_OFF(groups), 0, 0,
	  "groups staff" },
	{ "maildrop_group", CFG_K_MAILDROP_GROUP, CFG_T_STR,
	  CFG_OFF(maildrop_group), 0, 0, "maildrop_group outboxdrop" },
};

#define CFG_NKW (sizeof(cfg_keywords) / sizeof(cfg_keywords[0]))

/*
 * msmtp keywords outboxfs reads without acting on them, so that an
 * existing ~/.msmtprc keeps working. Listed in outboxfs.conf(5).
 */
static const char *const cfg_ignored[] = {
	"logfile_time_format", "ntlmdomain", "proxy_port",
};

/* msmtp keywords whose meaning outboxfs cannot honour: silently ignoring
 * them would send mail somewhere or somehow the user did not ask for. */
static const struct {
	const char *name;
	const char *why;
} cfg_refused[] = {
	{ "eval", "outboxfs does not run commands to build its configuration; "
	  "write the keywords out" },
};

static const char *const cfg_mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
	"XOAUTH2", "OAUTHBEARER",
};

static const char *const cfg_facilities[] = {
	"LOG_USER", "LOG_MAIL", "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2",
	"LOG_LOCAL3", "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7",
};

/* ---- lookups and fields ----------------------------------------------- */

static char **cfg_str_field(struct cfg_account *a, const struct cfg_kw *kw)
{
	return (char **)(void *)((char *)a + kw->off);
}

static char *const *cfg_str_cfield(const struct cfg_account *a,
    const struct cfg_kw *kw)
{
	return (char *const *)(const void *)((const char *)a + kw->off);
}

static int cfg_kw_is_str(const struct cfg_kw *kw)
{
	switch (kw->type) {
	case CFG_T_STR: case CFG_T_STR_REQ: case CFG_T_PATH:
	case CFG_T_PATH_REQ: case CFG_T_TRUST: case CFG_T_FPR:
	case CFG_T_SYSLOG: case CFG_T_HOST: case CFG_T_FROM:
	case CFG_T_DSN_NOTIFY: case CFG_T_DSN_RET: case CFG_T_IP:
	case CFG_T_PRIO:
		return 1;
	default:
		return 0;
	}
}

static void cfg_free_str(char **p, int secret)
{
	if (*p == NULL)
		return;
	if (secret)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

const struct cfg_kw *cfg_kw_find(const char *name)
{
	for (size_t i = 0; i < CFG_NKW; i++)
		if (strcmp(cfg_keywords[i].name, name) == 0)
			return &cfg_keywords[i];
	return NULL;
}

enum cfg_key cfg_kw_key(const struct cfg_kw *kw)
{
	return kw->key;
}

const char *cfg_kw_refused(const char *name)
{
	for (size_t i = 0; i < CFG_NELEM(cfg_refused); i++)
		if (strcmp(name, cfg_refused[i].name) == 0)
			return cfg_refused[i].why;
	return NULL;
}

int cfg_kw_ignored(const char *name)
{
	for (size_t i = 0; i < CFG_NELEM(cfg_ignored); i++)
		if (strcmp(name, cfg_ignored[i]) == 0)
			return 1;
	return 0;
}

/* ---- "did you mean" --------------------------------------------------- */

/* Edit distance with adjacent transpositions, case-insensitive; capped
 * inputs keep the table small. Returns a large value for long words. */
static size_t cfg_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[33][33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 &&
			    ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

const char *cfg_suggest(const char *word)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;
	size_t len = strlen(word);
	size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	static const char *const extra[] = { "account", "defaults" };

	for (size_t i = 0; i < CFG_NKW + CFG_NELEM(extra); i++) {
		const char *k = i < CFG_NKW ? cfg_keywords[i].name
		    : extra[i - CFG_NKW];
		size_t d = cfg_distance(word, k);
		if (d < bestd) {
			bestd = d;
			best = k;
		}
	}
	if (bestd <= limit)
		return best;
	/* "retry" for retry_min, "tls_trust" for tls_trust_file. */
	for (size_t i = 0; i < CFG_NKW && len > 2; i++)
		if (strncasecmp(cfg_keywords[i].name, word, len) == 0 &&
		    cfg_keywords[i].name[len] == '_')
			return cfg_keywords[i].name;
	return NULL;
}

/* ---- values ----------------------------------------------------------- */

/* Copies V with ~ or ~/... expanded to $HOME. NULL with err filled. */
static char *cfg_expand(const char *where, const char *v, char *err,
    size_t errlen)
{
	const char *home;
	char pwbuf[4096];
	struct passwd pw, *res = NULL;
	char *out;
	size_t lh, lv;

	if (v[0] != '~' || (v[1] != '\0' && v[1] != '/')) {
		out = strdup(v);
		if (out == NULL)
			cfg_err(err, errlen, "%s: out of memory", where);
		return out;
	}
	home = getenv("HOME");
	if (home == NULL || home[0] == '\0') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) != 0
		    || res == NULL || res->pw_dir == NULL ||
		    res->pw_dir[0] == '\0') {
			cfg_err(err, errlen, "%s: cannot expand `~`: HOME is not "
			    "set; write the full path instead", where);
			return NULL;
		}
		home = res->pw_dir;
	}
	lh = strlen(home);
	lv = strlen(v + 1);
	if (lh + lv >= PATH_MAX) {
		cfg_err(err, errlen, "%s: the path is longer than %d bytes once "
		    "`~` is expanded; write a shorter path", where, PATH_MAX);
		return NULL;
	}
	out = malloc(lh + lv + 1);
	if (out == NULL) {
		cfg_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	memcpy(out, home, lh);
	memcpy(out + lh, v + 1, lv + 1);
	return out;
}

/*
 * Reads a decimal number with an optional unit suffix. UNITS is a list of
 * suffix/multiplier pairs ending with a NULL suffix; the empty suffix must
 * be listed if a bare number is allowed. Returns 0, or -1 for a syntax
 * error, -2 for overflow.
 */
struct cfg_unit {
	const char *suffix;
	uint64_t mult;
};

static int cfg_number(const char *s, const struct cfg_unit *units,
    uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	for (; isdigit((unsigned char)s[i]); i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	for (; units->suffix != NULL; units++) {
		if (strcmp(s + i, units->suffix) != 0)
			continue;
		if (units->mult != 0 && v > UINT64_MAX / units->mult)
			return -2;
		*out = v * units->mult;
		return 0;
	}
	return -1;
}

static const struct cfg_unit cfg_units_plain[] = {
	{ "", 1 }, { NULL, 0 } };
static const struct cfg_unit cfg_units_ms[] = {
	{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { NULL, 0 } };
static const struct cfg_unit cfg_units_s[] = {
	{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", CFG_DAY },
	{ NULL, 0 } };
static const struct cfg_unit cfg_units_size[] = {
	{ "", 1 }, { "k", 1024 }, { "K", 1024 }, { "m", 1024 * 1024 },
	{ "M", 1024 * 1024 }, { "g", 1024 * 1024 * 1024 },
	{ "G", 1024 * 1024 * 1024 }, { NULL, 0 } };

static int cfg_is_on(const char *v, int *out)
{
	if (v[0] == '\0' || strcasecmp(v, "on") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(v, "off") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* A copy of host V, "[2001:db8::1]" without its brackets; NULL for a
 * bracketed value that is not an IPv6 address, or without memory. */
static char *cfg_host_dup(const char *v)
{
	size_t n = strlen(v);
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (v[0] != '[')
		return strdup(v);
	if (n < 3 || v[n - 1] != ']' || n - 2 >= sizeof(buf))
		return NULL;
	memcpy(buf, v + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return NULL;
	return strdup(buf);
}

/* A copy of V when it is an IPv4 or IPv6 literal (brackets allowed). */
static char *cfg_ip_dup(const char *v)
{
	unsigned char a[sizeof(struct in6_addr)];
	char *h = cfg_host_dup(v);

	if (h != NULL && inet_pton(AF_INET, h, a) != 1 &&
	    inet_pton(AF_INET6, h, a) != 1) {
		free(h);
		h = NULL;
	}
	return h;
}

/* dsn_notify: off/empty -> NULL; "never"; or a list of success, failure,
 * delay -> upper case, in that order, each once. */
static int cfg_dsn_notify(const char *v, char **out)
{
	static const char *const words[] = { "success", "failure", "delay" };
	int seen[3] = { 0, 0, 0 }, never = 0;
	const char *p = v;
	char buf[64] = "";

	*out = NULL;
	if (v[0] == '\0' || strcasecmp(v, "off") == 0)
		return 0;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		size_t i;

		while (n > 0 && cfg_is_space(*p)) {
			p++;
			n--;
		}
		while (n > 0 && cfg_is_space(p[n - 1]))
			n--;
		if (n == 5 && strncasecmp(p, "never", 5) == 0) {
			never = 1;
		} else {
			for (i = 0; i < 3; i++)
				if (strlen(words[i]) == n &&
				    strncasecmp(p, words[i], n) == 0)
					break;
			if (i == 3)
				return -1;
			seen[i] = 1;
		}
		if (e == NULL)
			break;
		p = e + 1;
		if (*p == '\0')
			return -1;      /* a trailing comma */
	}
	if (never && (seen[0] || seen[1] || seen[2]))
		return -1;
	if (!never && !(seen[0] || seen[1] || seen[2]))
		return -1;
	if (never)
		snprintf(buf, sizeof(buf), "NEVER");
	else
		snprintf(buf, sizeof(buf), "%s%s%s%s%s",
		    seen[0] ? "SUCCESS" : "",
		    seen[0] && (seen[1] || seen[2]) ? "," : "",
		    seen[1] ? "FAILURE" : "", seen[1] && seen[2] ? "," : "",
		    seen[2] ? "DELAY" : "");
	*out = strdup(buf);
	return *out != NULL ? 0 : -1;
}

static int cfg_fingerprint_ok(const char *v)
{
	/* 32 bytes: "XX:" * 31 + "XX" = 95 characters. */
	if (strlen(v) != 95)
		return 0;
	for (size_t i = 0; i < 95; i++) {
		if (i % 3 == 2) {
			if (v[i] != ':')
				return 0;
		} else if (!isxdigit((unsigned char)v[i])) {
			return 0;
		}
	}
	return 1;
}

/* ---- applying one keyword --------------------------------------------- */

int cfg_apply(struct cfg_account *a, const struct cfg_kw *kw,
    const char *val, const char *where, char *err, size_t errlen)
{
	char *s = NULL;
	uint64_t n = 0;
	int b, rc;
	const struct cfg_unit *units = NULL;
	const char *what = NULL;

	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
			cfg_err(err, errlen, "%s: the value of %s contains a "
			    "control character (byte 0x%02x); remove it",
			    where, kw->name, *p);
			return -1;
		}
	}

	switch (kw->type) {
	case CFG_T_HOST:
		if (val[0] == '\0') {
			cfg_err(err, errlen, "%s: %s needs a value; write e.g. "
			    "`%s`", where, kw->name, kw->example);
			return -1;
		}
		if ((s = cfg_host_dup(val)) == NULL) {
			cfg_err(err, errlen, "%s: host `%.64s` is not a host "
			    "name or an address; write e.g. `host "
			    "smtp.example.com`, `host 192.0.2.1` or `host "
			    "[2001:db8::1]`", where, val);
			return -1;
		}
		break;
	case CFG_T_FROM:
		if (val[0] != '\0') {
			char tmp[CFG_MAX_LINE + 1], why[160];
			static const struct cfg_subst probe = { "u", "h", "c",
			    "m" };

			if (cfg_subst(val, &probe, tmp, sizeof(tmp), why,
			    sizeof(why)) != 0) {
				cfg_err(err, errlen, "%s: from `%.100s`: %s; "
				    "write e.g. `from %%U@example.com`", where,
				    val, why);
				return -1;
			}
		}
		if (val[0] != '\0' && (s = strdup(val)) == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return -1;
		}
		break;
	case CFG_T_TRI:
	case CFG_T_AUTOOFF:
	case CFG_T_ONOFF_AUTO:
		if (kw->type != CFG_T_ONOFF_AUTO && strcasecmp(val, "auto") == 0)
			b = CFG_TRI_AUTO;
		else if (kw->type == CFG_T_TRI && strcasecmp(val, "on") == 0)
			b = CFG_TRI_ON;
		else if (kw->type != CFG_T_TRI && (val[0] == '\0' ||
		    strcasecmp(val, "on") == 0))
			b = CFG_TRI_AUTO;
		else if (strcasecmp(val, "off") == 0)
			b = CFG_TRI_OFF;
		else {
			cfg_err(err, errlen, "%s: %s `%.64s` is not %s; write "
			    "e.g. `%s`", where, kw->name, val,
			    kw->type == CFG_T_TRI ? "auto, on or off" :
			    kw->type == CFG_T_AUTOOFF ? "auto or off" :
			    "on or off", kw->example);
			return -1;
		}
		*(int *)(void *)((char *)a + kw->off) = b;
		a->set |= CFG_BIT(kw->key);
		return 0;
	case CFG_T_DSN_NOTIFY:
		if (cfg_dsn_notify(val, &s) != 0) {
			cfg_err(err, errlen, "%s: dsn_notify `%.64s` is not off, "
			    "never, or a comma-separated list of success, "
			    "failure and delay; write e.g. `%s`", where, val,
			    kw->example);
			return -1;
		}
		break;
	case CFG_T_DSN_RET:
		if (val[0] == '\0' || strcasecmp(val, "off") == 0)
			s = NULL;
		else if (strcasecmp(val, "headers") == 0 ||
		    strcasecmp(val, "hdrs") == 0)
			s = strdup("HDRS");
		else if (strcasecmp(val, "full") == 0)
			s = strdup("FULL");
		else {
			cfg_err(err, errlen, "%s: dsn_return `%.64s` is not off, "
			    "headers or full; write e.g. `%s`", where, val,
			    kw->example);
			return -1;
		}
		if (val[0] != '\0' && strcasecmp(val, "off") != 0 && s == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return -1;
		}
		break;
	case CFG_T_IP:
		if (val[0] != '\0' && (s = cfg_ip_dup(val)) == NULL) {
			cfg_err(err, errlen, "%s: source_ip `%.64s` is not an "
			    "IPv4 or IPv6 address of this machine; write e.g. "
			    "`%s` (a name is not looked up)", where, val,
			    kw->example);
			return -1;
		}
		break;
	case CFG_T_PRIO:
		if (val[0] != '\0') {
			struct cfg_tls_prio tp;
			char why[200];

			if (cfg_tls_priorities(val, &tp, why, sizeof(why)) != 0) {
				cfg_err(err, errlen, "%s: tls_priorities: %s",
				    where, why);
				return -1;
			}
			if ((s = strdup(val)) == NULL) {
				cfg_err(err, errlen, "%s: out of memory", where);
				return -1;
			}
		}
		break;
	case CFG_T_STR_REQ:
	case CFG_T_PATH_REQ:
		if (val[0] == '\0') {
			cfg_err(err, errlen, "%s: %s needs a value; write e.g. "
			    "`%s`", where, kw->name, kw->example);
			return -1;
		}
		/* fall through */
	case CFG_T_STR:
	case CFG_T_PATH:
	case CFG_T_TRUST:
		if (val[0] == '\0') {
			s = NULL;
		} else if (kw->type == CFG_T_STR || kw->type == CFG_T_STR_REQ ||
		    (kw->type == CFG_T_TRUST && strcmp(val, "system") == 0)) {
			s = strdup(val);
			if (s == NULL) {
				cfg_err(err, errlen, "%s: out of memory", where);
				return -1;
			}
		} else {
			s = cfg_expand(where, val, err, errlen);
			if (s == NULL)
				return -1;
		}
		break;
	case CFG_T_FPR:
		if (val[0] != '\0' && !cfg_fingerprint_ok(val)) {
			cfg_err(err, errlen, "%s: tls_fingerprint `%.100s` is not a "
			    "SHA-256 fingerprint (32 hex pairs joined by `:`); get "
			    "it with `openssl x509 -noout -fingerprint -sha256`",
			    where, val);
			return -1;
		}
		if (val[0] != '\0' && (s = strdup(val)) == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return -1;
		}
		break;
	case CFG_T_SYSLOG:
		if (val[0] == '\0' || strcasecmp(val, "on") == 0) {
			val = "LOG_MAIL";
		} else if (strcasecmp(val, "off") == 0) {
			val = NULL;
		} else {
			size_t i;
			for (i = 0; i < CFG_NELEM(cfg_facilities); i++)
				if (strcmp(val, cfg_facilities[i]) == 0)
					break;
			if (i == CFG_NELEM(cfg_facilities)) {
				cfg_err(err, errlen, "%s: syslog `%.64s` is not a "
				    "facility; write `syslog on`, `syslog off`, "
				    "`syslog LOG_USER`, `syslog LOG_MAIL` or "
				    "`syslog LOG_LOCAL0` .. `LOG_LOCAL7`",
				    where, val);
				return -1;
			}
		}
		if (val != NULL && (s = strdup(val)) == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return -1;
		}
		break;
	case CFG_T_BOOL:
		if (cfg_is_on(val, &b) != 0) {
			cfg_err(err, errlen, "%s: %s `%.64s` is neither on nor off; "
			    "write `%s on` or `%s off`", where, kw->name, val,
			    kw->name, kw->name);
			return -1;
		}
		*(int *)(void *)((char *)a + kw->off) = b;
		a->set |= CFG_BIT(kw->key);
		return 0;
	case CFG_T_AUTH:
		if (cfg_is_on(val, &b) == 0) {
			cfg_free_str(&a->auth_mech, 0);
			a->auth = b ? CFG_AUTH_ON : CFG_AUTH_OFF;
			a->set |= CFG_BIT(kw->key);
			return 0;
		}
		for (size_t i = 0; i < CFG_NELEM(cfg_mechs); i++) {
			if (strcasecmp(val, cfg_mechs[i]) != 0)
				continue;
			s = strdup(cfg_mechs[i]);
			if (s == NULL) {
				cfg_err(err, errlen, "%s: out of memory", where);
				return -1;
			}
			cfg_free_str(&a->auth_mech, 0);
			a->auth_mech = s;
			a->auth = CFG_AUTH_MECH;
			a->set |= CFG_BIT(kw->key);
			return 0;
		}
		cfg_err(err, errlen, "%s: auth `%.64s` is not a mechanism outboxfs "
		    "knows; write `auth on` (the strongest one the server "
		    "offers), `auth off`, or one of PLAIN, LOGIN, CRAM-MD5, "
		    "SCRAM-SHA-1, SCRAM-SHA-256, XOAUTH2, OAUTHBEARER",
		    where, val);
		return -1;
	case CFG_T_PORT:
		units = cfg_units_plain;
		what = "a port number from 1 to 65535";
		break;
	case CFG_T_COUNT:
		units = cfg_units_plain;
		what = "a whole number";
		break;
	case CFG_T_MS:
		units = cfg_units_ms;
		what = "a time in milliseconds (300, 300ms or 2s)";
		break;
	case CFG_T_TIMEOUT:
		if (strcasecmp(val, "off") == 0) {
			*(unsigned *)(void *)((char *)a + kw->off) = 0;
			a->set |= CFG_BIT(kw->key);
			return 0;
		}
		/* fall through */
	case CFG_T_SECONDS:
		units = cfg_units_s;
		what = "a time in seconds (90, 90s, 5m, 2h or 5d)";
		break;
	case CFG_T_SIZE:
		units = cfg_units_size;
		what = "a size in bytes (1048576, 512k, 64M or 1G)";
		break;
	}

	if (units != NULL) {
		if (val[0] == '\0') {
			cfg_err(err, errlen, "%s: %s needs a value; write e.g. "
			    "`%s`", where, kw->name, kw->example);
			return -1;
		}
		rc = cfg_number(val, units, &n);
		if (rc == -1) {
			cfg_err(err, errlen, "%s: %s `%.64s` is not %s; write e.g. "
			    "`%s`", where, kw->name, val, what, kw->example);
			return -1;
		}
		if (rc == -2 || n < kw->min || n > kw->max) {
			cfg_err(err, errlen, "%s: %s `%.64s` is out of range: it "
			    "must be from %llu to %llu%s; write e.g. `%s`", where,
			    kw->name, val, (unsigned long long)kw->min,
			    (unsigned long long)kw->max,
			    kw->type == CFG_T_MS ? " milliseconds" :
			    kw->type == CFG_T_SECONDS || kw->type == CFG_T_TIMEOUT
			    ? " seconds" : kw->type == CFG_T_SIZE ? " bytes" : "",
			    kw->example);
			return -1;
		}
		if (kw->type == CFG_T_SIZE)
			*(uint64_t *)(void *)((char *)a + kw->off) = n;
		else
			*(unsigned *)(void *)((char *)a + kw->off) = (unsigned)n;
		a->set |= CFG_BIT(kw->key);
		return 0;
	}

	/* String-valued keywords end here: replace, wiping a password. */
	{
		char **field = cfg_str_field(a, kw);
		cfg_free_str(field, kw->key == CFG_K_PASSWORD);
		*field = s;
		a->set |= CFG_BIT(kw->key);
	}
	return 0;
}

/* Copies keyword KW's value from SRC to DST (deep). */
static int cfg_copy_kw(struct cfg_account *dst,
    const struct cfg_account *src, const struct cfg_kw *kw)
{
	if (kw->type == CFG_T_AUTH) {
		char *m = NULL;
		if (src->auth_mech != NULL &&
		    (m = strdup(src->auth_mech)) == NULL)
			return -1;
		cfg_free_str(&dst->auth_mech, 0);
		dst->auth_mech = m;
		dst->auth = src->auth;
	} else if (cfg_kw_is_str(kw)) {
		char *const *from = cfg_str_cfield(src, kw);
		char **to = cfg_str_field(dst, kw);
		char *c = NULL;
		if (*from != NULL && (c = strdup(*from)) == NULL)
			return -1;
		cfg_free_str(to, kw->key == CFG_K_PASSWORD);
		*to = c;
	} else if (kw->type == CFG_T_BOOL || kw->type == CFG_T_TRI ||
	    kw->type == CFG_T_AUTOOFF || kw->type == CFG_T_ONOFF_AUTO) {
		memcpy((char *)dst + kw->off, (const char *)src + kw->off,
		    sizeof(int));
	} else if (kw->type == CFG_T_SIZE) {
		memcpy((char *)dst + kw->off, (const char *)src + kw->off,
		    sizeof(uint64_t));
	} else {
		memcpy((char *)dst + kw->off, (const char *)src + kw->off,
		    sizeof(unsigned));
	}
	return 0;
}

int cfg_copy_keys(struct cfg_account *dst, const struct cfg_account *src,
    uint64_t mask)
{
	for (size_t i = 0; i < CFG_NKW; i++)
		if ((mask & CFG_BIT(cfg_keywords[i].key)) &&
		    cfg_copy_kw(dst, src, &cfg_keywords[i]) != 0)
			return -1;
	return 0;
}

/* ---- accounts' fields ------------------------------------------------- */

void cfg_account_defaults(struct cfg_account *a)
{
	memset(a, 0, sizeof(*a));
	a->auth = CFG_AUTH_OFF;
	a->tls_starttls = 1;
	a->tls_certcheck = 1;
	a->settle_ms = CFG_DEFAULT_SETTLE_MS;
	a->cache_ms = CFG_DEFAULT_CACHE_MS;
	a->connections = CFG_DEFAULT_CONNECTIONS;
	a->max_size = CFG_DEFAULT_MAX_SIZE;
	a->max_queue_time = CFG_DEFAULT_MAX_QUEUE_TIME;
	a->retry_min = CFG_DEFAULT_RETRY_MIN;
	a->retry_max = CFG_DEFAULT_RETRY_MAX;
	a->allow_from_override = 1;
	a->remove_bcc_headers = 1;
}

void cfg_account_clear(struct cfg_account *a)
{
	for (size_t i = 0; i < CFG_NKW; i++)
		if (cfg_kw_is_str(&cfg_keywords[i]))
			cfg_free_str(cfg_str_field(a, &cfg_keywords[i]),
			    cfg_keywords[i].key == CFG_K_PASSWORD);
	cfg_free_str(&a->auth_mech, 0);
	cfg_free_str(&a->name, 0);
	if (a->alias_tab != NULL) {
		cfg_aliases_free(a->alias_tab);
		free(a->alias_tab);
	}
	memset(a, 0, sizeof(*a));
}

/* ---- the keywords from outside the file ------------------------------- */

int cfg_set(struct cfg_account *acct, const char *keyword, const char *value,
    char *err, size_t errlen)
{
	const struct cfg_kw *kw = cfg_kw_find(keyword);
	char where[80];
	int n;

	n = snprintf(where, sizeof(where), "-o %.64s", keyword);
	if (n < 0 || (size_t)n >= sizeof(where))
		where[sizeof(where) - 1] = '\0';
	if (kw == NULL) {
		const char *near = cfg_suggest(keyword);
		if (near != NULL)
			cfg_err(err, errlen, "%s: unknown option `%.64s`; did "
			    "you mean `%s`?", where, keyword, near);
		else
			cfg_err(err, errlen, "%s: unknown option `%.64s`; "
			    "outboxfs.conf(5) lists the keywords", where,
			    keyword);
		return -1;
	}
	if (kw->key == CFG_K_PASSWORD) {
		cfg_err(err, errlen, "%s: a password on the command line is "
		    "visible to every user in ps(1); put it in the "
		    "configuration file (mode 600) or use passwordeval", where);
		return -1;
	}
	return cfg_apply(acct, kw, value != NULL ? value : "", where, err,
	    errlen);
}

const char *cfg_suggest_keyword(const char *word)
{
	if (word == NULL)
		return NULL;
	return cfg_suggest(word);
}

int cfg_is_keyword(const char *word)
{
	return word != NULL && cfg_kw_find(word) != NULL;
}
