/*
 * config — parses msmtprc-syntax configuration into struct cfg.
 *
 * One keyword table drives the file parser, inheritance and cfg_set, so a
 * keyword is validated the same way wherever it is written. Every error
 * names the place, what is wrong and what to write instead.
 *
 * Must never: print, keep global mutable state, read outside the buffer it
 * is given, echo a password into a message, or free a password without
 * wiping it first.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/buf.h"

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

#define CFG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ---------------------------------------------------- */

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
	/* A message cut by errlen is still NUL-terminated; nothing to do. */
}

static int cfg_is_space(char c)
{
	return c == ' ' || c == '\t';
}

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

static const struct cfg_kw *cfg_kw_find(const char *name)
{
	for (size_t i = 0; i < CFG_NKW; i++)
		if (strcmp(cfg_keywords[i].name, name) == 0)
			return &cfg_keywords[i];
	return NULL;
}

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

/* The known keyword nearest to WORD, or NULL if none is close. */
static const char *cfg_suggest(const char *word)
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

/*
 * Sets KW on A from VAL (already unquoted). WHERE prefixes messages
 * ("FILE:LINE" or "-o KEY"). Values are echoed in messages only for
 * keywords that cannot hold a secret.
 */
static int cfg_apply(struct cfg_account *a, const struct cfg_kw *kw,
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
static int cfg_copy_kw(struct cfg_account *dst, const struct cfg_account *src,
    const struct cfg_kw *kw)
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

static void cfg_account_defaults(struct cfg_account *a)
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

static void cfg_account_clear(struct cfg_account *a)
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

/* ---- names and sections ------------------------------------------------ */

/* NULL if NAME can be an account (and a directory) name, else why not. */
static const char *cfg_name_problem(const char *name, size_t len)
{
	static const char *const bad_ends[] = { ".status", ".swp", ".tmp" };

	if (len == 0)
		return "is empty";
	if (len > CFG_MAX_NAME)
		return "is longer than 255 bytes";
	if (name[0] == '.')
		return "starts with `.`";
	if (name[0] == '#' || name[len - 1] == '~')
		return "looks like an editor's scratch file";
	for (size_t i = 0; i < CFG_NELEM(bad_ends); i++) {
		size_t l = strlen(bad_ends[i]);
		if (len >= l && memcmp(name + len - l, bad_ends[i], l) == 0)
			return "ends like a reserved or scratch file name";
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x21 || c == 0x7f)
			return "contains a space or control character";
		if (c == '/' || c == ':' || c == ',' || c == '"' || c == '\\')
			return "contains one of / : , \" \\";
	}
	return NULL;
}

static struct cfg_account *cfg_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

/* Resolves NAME like cfg_find, also following "account default : X". */
static struct cfg_account *cfg_resolve(const struct cfg *cfg,
    const char *name)
{
	struct cfg_account *a = cfg_find(cfg, name);

	if (a == NULL && strcmp(name, "default") == 0 &&
	    cfg->default_account != NULL)
		a = cfg_find(cfg, cfg->default_account);
	return a;
}

/* Appends a copy of cfg->defaults named NAME (length LEN). */
static struct cfg_account *cfg_append(struct cfg *cfg, const char *name,
    size_t len, const char *where, char *err, size_t errlen)
{
	struct cfg_account *a;

	if (cfg->naccounts >= CFG_MAX_ACCOUNTS) {
		cfg_err(err, errlen, "%s: more than %u accounts; merge some of "
		    "them", where, CFG_MAX_ACCOUNTS);
		return NULL;
	}
	if ((cfg->naccounts & (cfg->naccounts - 1)) == 0) {
		/* Grow at powers of two: 0, 1, 2, 4, ... */
		size_t cap = cfg->naccounts ? cfg->naccounts * 2 : 1;
		struct cfg_account *na = realloc(cfg->accounts,
		    cap * sizeof(*na));
		if (na == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return NULL;
		}
		cfg->accounts = na;
	}
	a = &cfg->accounts[cfg->naccounts];
	cfg_account_defaults(a);
	for (size_t i = 0; i < CFG_NKW; i++) {
		if (cfg_copy_kw(a, &cfg->defaults, &cfg_keywords[i]) != 0) {
			cfg_account_clear(a);
			cfg_err(err, errlen, "%s: out of memory", where);
			return NULL;
		}
	}
	a->set = cfg->defaults.set;
	a->name = strndup(name, len);
	if (a->name == NULL) {
		cfg_account_clear(a);
		cfg_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	a->file = cfg->file;
	cfg->naccounts++;
	return a;
}

void cfg_init(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg_account_defaults(&cfg->defaults);
}

struct cfg_account *cfg_add_account(struct cfg *cfg, const char *name,
    char *err, size_t errlen)
{
	size_t len = strlen(name);
	const char *why = cfg_name_problem(name, len);

	if (why != NULL) {
		cfg_err(err, errlen, "account name `%.64s` %s; use letters, "
		    "digits, `-`, `_`, `.` or `@`", name, why);
		return NULL;
	}
	if (cfg_resolve(cfg, name) != NULL) {
		cfg_err(err, errlen, "account `%s` is already defined; give "
		    "this one another name", name);
		return NULL;
	}
	return cfg_append(cfg, name, len, "account", err, errlen);
}

void cfg_free(struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->naccounts; i++)
		cfg_account_clear(&cfg->accounts[i]);
	free(cfg->accounts);
	cfg_account_clear(&cfg->defaults);
	free(cfg->file);
	free(cfg->default_account);
	free(cfg->ignored);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- the line parser ---------------------------------------------------- */

#define CFG_NONE    ((size_t)-1)
#define CFG_DEFS    ((size_t)-2)

struct cfg_parser {
	struct cfg *cfg;
	unsigned line;
	size_t cur;                 /* index, CFG_DEFS or CFG_NONE */
	char where[320];            /* "FILE:LINE"; a long path keeps its tail */
	char *err;
	size_t errlen;

	unsigned password_line;     /* first line holding a password */
	unsigned passwordeval_line;

	/* "account default : X" waits to see whether keywords follow. */
	int alias_pending;
	int alias_touched;
	unsigned default_line;      /* line of the default choice, or 0 */

	struct buf ignored;         /* becomes cfg->ignored */
};

/* The notes of msmtp keywords read without effect: enough to make the
 * point. */
#define CFG_IGNORED_MAX (64u * 1024 - 1)

static struct cfg_account *cfg_cur(struct cfg_parser *p)
{
	if (p->cur == CFG_DEFS)
		return &p->cfg->defaults;
	if (p->cur == CFG_NONE)
		return NULL;
	return &p->cfg->accounts[p->cur];
}

/* Remembers an msmtp keyword read without effect, for the warning at
 * mount ("FILE:LINE: KEYWORD"). */
static int cfg_note_ignored(struct cfg_parser *p, const char *kw)
{
	if (buf_printf(&p->ignored, "%s: %s\n", p->where, kw) == 0)
		return 0;
	if (errno == EMSGSIZE) {
		/* past the cap: this note is left out, a shorter one may
		 * still fit */
		buf_truncate(&p->ignored, p->ignored.len);
		return 0;
	}
	cfg_err(p->err, p->errlen, "%s: out of memory", p->where);
	return -1;
}

/* Ends the section in progress: an untouched "account default : X" is
 * only a choice of default account, not an account of its own. */
static int cfg_close_section(struct cfg_parser *p)
{
	struct cfg *cfg = p->cfg;

	if (p->alias_pending && !p->alias_touched) {
		/* The account was the last one appended. */
		cfg_account_clear(&cfg->accounts[cfg->naccounts - 1]);
		cfg->naccounts--;
	} else if (p->alias_pending) {
		free(cfg->default_account);
		cfg->default_account = NULL;
	}
	p->alias_pending = 0;
	p->alias_touched = 0;
	p->cur = CFG_NONE;
	return 0;
}

static int cfg_parse_account(struct cfg_parser *p, char *arg)
{
	struct cfg *cfg = p->cfg;
	char *colon = strchr(arg, ':');
	char *name = arg, *end;
	size_t len, idx, nparents = 0;
	size_t *parent = NULL;
	const char *why;
	struct cfg_account *a, *other;
	int rc = -1;

	if (colon != NULL)
		*colon = '\0';
	end = name + strlen(name);
	while (end > name && cfg_is_space(end[-1]))
		*--end = '\0';
	len = (size_t)(end - name);
	if (len == 0) {
		cfg_err(p->err, p->errlen, "%s: `account` needs a name; write "
		    "`account NAME` or `account NAME : PARENT`", p->where);
		return -1;
	}
	why = cfg_name_problem(name, len);
	if (why != NULL) {
		cfg_err(p->err, p->errlen, "%s: account name `%.64s` %s; use "
		    "letters, digits, `-`, `_`, `.` or `@`", p->where, name,
		    why);
		return -1;
	}
	other = cfg_find(cfg, name);
	if (other != NULL ||
	    (strcmp(name, "default") == 0 && p->default_line != 0)) {
		cfg_err(p->err, p->errlen, "%s: account `%s` is already defined "
		    "at line %u; give this one another name", p->where, name,
		    other != NULL ? other->line : p->default_line);
		return -1;
	}

	if (cfg_close_section(p) != 0)
		return -1;

	/* Resolve every parent (by index: the array may move) before
	 * creating anything. */
	if (colon != NULL) {
		char *s = colon + 1;
		/* At most one parent per two bytes of the line. */
		parent = malloc((strlen(s) / 2 + 1) * sizeof(*parent));
		if (parent == NULL) {
			cfg_err(p->err, p->errlen, "%s: out of memory", p->where);
			return -1;
		}
		for (;;) {
			char *comma = strchr(s, ',');
			char *e = comma != NULL ? comma : s + strlen(s);
			const struct cfg_account *par;

			while (cfg_is_space(*s))
				s++;
			while (e > s && cfg_is_space(e[-1]))
				e--;
			*e = '\0';
			if (*s == '\0') {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "lists an empty parent; write `account %s : "
				    "PARENT[,PARENT...]`", p->where, name, name);
				goto out;
			}
			if (strcmp(s, name) == 0) {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "cannot inherit from itself; name an account "
				    "defined above it", p->where, name);
				goto out;
			}
			par = cfg_resolve(cfg, s);
			if (par == NULL) {
				cfg_err(p->err, p->errlen, "%s: account `%s` "
				    "inherits from `%.64s`, which is not defined "
				    "above this line; define `account %.64s` "
				    "first or fix the name", p->where, name, s, s);
				goto out;
			}
			parent[nparents++] = (size_t)(par - cfg->accounts);
			if (comma == NULL)
				break;
			s = comma + 1;
		}
	}

	if (strcmp(name, "default") == 0 && nparents == 1) {
		char *target = strdup(cfg->accounts[parent[0]].name);
		if (target == NULL) {
			cfg_err(p->err, p->errlen, "%s: out of memory",
			    p->where);
			goto out;
		}
		free(cfg->default_account);
		cfg->default_account = target;
		p->alias_pending = 1;
	}

	a = cfg_append(cfg, name, len, p->where, p->err, p->errlen);
	if (a == NULL)
		goto out;
	a->line = p->line;
	idx = cfg->naccounts - 1;

	for (size_t j = 0; j < nparents; j++) {
		const struct cfg_account *par = &cfg->accounts[parent[j]];
		a = &cfg->accounts[idx];
		for (size_t i = 0; i < CFG_NKW; i++) {
			const struct cfg_kw *kw = &cfg_keywords[i];
			if (!(par->set & CFG_BIT(kw->key)))
				continue;
			if (cfg_copy_kw(a, par, kw) != 0) {
				cfg_err(p->err, p->errlen, "%s: out of memory",
				    p->where);
				goto out;
			}
		}
		a->set |= par->set;
	}
	if (strcmp(name, "default") == 0)
		p->default_line = p->line;
	p->cur = idx;
	rc = 0;
out:
	free(parent);
	return rc;
}

/*
 * Removes the double quotes around an argument. Inside them, \" stands
 * for " and \\ for \; any other backslash is kept as written.
 */
static int cfg_unquote(struct cfg_parser *p, const char *kwname, char *arg)
{
	size_t n = strlen(arg), o = 0, i = 1;

	if (n == 0 || arg[0] != '"')
		return 0;
	while (i < n) {
		if (arg[i] == '\\' && i + 1 < n &&
		    (arg[i + 1] == '"' || arg[i + 1] == '\\')) {
			arg[o++] = arg[i + 1];
			i += 2;
			continue;
		}
		if (arg[i] == '"')
			break;
		arg[o++] = arg[i++];
	}
	if (i >= n) {
		cfg_err(p->err, p->errlen, "%s: the value of %s has no closing "
		    "`\"`; end it with `\"` (write `\\\"` for a quote inside)",
		    p->where, kwname);
		return -1;
	}
	if (i != n - 1) {
		cfg_err(p->err, p->errlen, "%s: text after the closing `\"` of "
		    "%s; put the whole value inside the quotes", p->where,
		    kwname);
		return -1;
	}
	arg[o] = '\0';
	return 0;
}

static int cfg_line(struct cfg_parser *p, char *s)
{
	char *e, *kw, *arg;
	const struct cfg_kw *k;
	struct cfg_account *a;

	while (cfg_is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && cfg_is_space(e[-1]))
		*--e = '\0';
	if (*s == '\0' || *s == '#')
		return 0;

	kw = s;
	while (*s != '\0' && !cfg_is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	while (cfg_is_space(*s))
		s++;
	arg = s;

	if (strcmp(kw, "defaults") == 0) {
		if (*arg != '\0') {
			cfg_err(p->err, p->errlen, "%s: `defaults` takes no "
			    "value; write `defaults` alone on its line, or "
			    "`account NAME` to start an account", p->where);
			return -1;
		}
		if (cfg_close_section(p) != 0)
			return -1;
		p->cur = CFG_DEFS;
		return 0;
	}
	if (strcmp(kw, "account") == 0)
		return cfg_parse_account(p, arg);

	k = cfg_kw_find(kw);
	if (k == NULL) {
		size_t i;
		for (i = 0; i < CFG_NELEM(cfg_refused); i++) {
			if (strcmp(kw, cfg_refused[i].name) == 0) {
				cfg_err(p->err, p->errlen, "%s: %s: %s",
				    p->where, kw, cfg_refused[i].why);
				return -1;
			}
		}
		if (strcmp(kw, "protocol") == 0 && cfg_unquote(p, kw, arg) != 0)
			return -1;
		if (strcmp(kw, "protocol") == 0 && strcmp(arg, "smtp") != 0) {
			cfg_err(p->err, p->errlen, "%s: outboxfs speaks SMTP "
			    "only; write `protocol smtp` or remove the line",
			    p->where);
			return -1;
		}
		for (i = 0; i < CFG_NELEM(cfg_ignored); i++)
			if (strcmp(kw, cfg_ignored[i]) == 0)
				break;
		if (i < CFG_NELEM(cfg_ignored) || strcmp(kw, "protocol") == 0) {
			if (cfg_cur(p) == NULL)
				goto no_section;
			if (i < CFG_NELEM(cfg_ignored))
				return cfg_note_ignored(p, kw);
			return 0;
		}
		{
			const char *near = cfg_suggest(kw);
			if (near != NULL)
				cfg_err(p->err, p->errlen, "%s: unknown keyword "
				    "`%.64s`; did you mean `%s`?", p->where, kw,
				    near);
			else
				cfg_err(p->err, p->errlen, "%s: unknown keyword "
				    "`%.64s`; outboxfs.conf(5) lists the "
				    "keywords", p->where, kw);
		}
		return -1;
	}
	a = cfg_cur(p);
	if (a == NULL)
		goto no_section;
	if (cfg_unquote(p, kw, arg) != 0)
		return -1;
	if (k->key == CFG_K_PASSWORD && arg[0] != '\0' && !p->password_line)
		p->password_line = p->line;
	if (k->key == CFG_K_PASSWORDEVAL && arg[0] != '\0' &&
	    !p->passwordeval_line)
		p->passwordeval_line = p->line;
	if (p->alias_pending)
		p->alias_touched = 1;
	return cfg_apply(a, k, arg, p->where, p->err, p->errlen);

no_section:
	cfg_err(p->err, p->errlen, "%s: `%.64s` comes before any `defaults` "
	    "or `account` line; start the file with `defaults` or "
	    "`account NAME`", p->where, kw);
	return -1;
}

static void cfg_set_where(struct cfg_parser *p)
{
	const char *f = p->cfg->file;
	size_t lf = strlen(f);
	int n;

	/* Keep the tail of a long path: it is the part that tells files
	 * apart. */
	if (lf > 256)
		n = snprintf(p->where, sizeof(p->where), "...%s:%u",
		    f + lf - 253, p->line);
	else
		n = snprintf(p->where, sizeof(p->where), "%s:%u", f, p->line);
	if (n < 0 || (size_t)n >= sizeof(p->where))
		p->where[sizeof(p->where) - 1] = '\0';
}

static int cfg_parse(const char *name, const char *buf, size_t len,
    struct cfg *out, struct cfg_parser *p, char *err, size_t errlen)
{
	char line[CFG_MAX_LINE + 1];
	size_t pos = 0;
	int rc = 0;

	cfg_init(out);
	memset(p, 0, sizeof(*p));
	p->cfg = out;
	p->cur = CFG_NONE;
	p->err = err;
	p->errlen = errlen;
	buf_init(&p->ignored, CFG_IGNORED_MAX);
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	out->file = strdup(name != NULL ? name : "(config)");
	if (out->file == NULL) {
		cfg_err(err, errlen, "%s: out of memory", name);
		return -1;
	}
	out->defaults.file = out->file;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;        /* a UTF-8 byte order mark from an editor */

	while (pos < len) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - start) : len - pos;

		pos += n + (nl != NULL);
		p->line++;
		cfg_set_where(p);
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > CFG_MAX_LINE) {
			cfg_err(err, errlen, "%s: the line is longer than %u "
			    "bytes; shorten it (a long password belongs in "
			    "passwordeval)", p->where, CFG_MAX_LINE);
			rc = -1;
			break;
		}
		if (memchr(start, '\0', n) != NULL) {
			cfg_err(err, errlen, "%s: the line contains a NUL byte; "
			    "the configuration must be plain text", p->where);
			rc = -1;
			break;
		}
		memcpy(line, start, n);
		line[n] = '\0';
		rc = cfg_line(p, line);
		if (rc != 0)
			break;
	}
	explicit_bzero(line, sizeof(line));
	if (rc == 0)
		rc = cfg_close_section(p);
	if (rc == 0 && p->ignored.len > 0)
		out->ignored = buf_take(&p->ignored, NULL);
	buf_free(&p->ignored);
	if (rc != 0)
		cfg_free(out);
	return rc;
}

int cfg_parse_buffer(const char *name, const char *buf, size_t len,
    struct cfg *out, char *err, size_t errlen)
{
	struct cfg_parser p;

	if (buf == NULL)
		len = 0;
	return cfg_parse(name, buf != NULL ? buf : "", len, out, &p, err,
	    errlen);
}

/* The whole file into B, a secret buffer of cap CFG_MAX_FILE; EFBIG
 * when it is longer. */
static int cfg_read_all(int fd, struct buf *b)
{
	if (buf_read_fd(b, fd) == 0)
		return 0;
	if (errno == EMSGSIZE)
		errno = EFBIG;
	return -1;
}

int cfg_parse_file(const char *path, struct cfg *out, char *err,
    size_t errlen)
{
	struct cfg_parser p;
	struct stat st;
	struct buf text = BUF_INIT_SECRET(CFG_MAX_FILE);
	char ebuf[128];
	int fd, rc, saved;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		saved = errno;
		cfg_err(err, errlen, "%s: cannot open: %s; check the path, or "
		    "create the file (mode 600)", path,
		    strerror_r(saved, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		cfg_err(err, errlen, "%s: not a regular file; point -o config= "
		    "at the configuration file itself", path);
		return -1;
	}
	if (st.st_size > CFG_MAX_FILE || cfg_read_all(fd, &text) != 0) {
		saved = st.st_size > CFG_MAX_FILE ? EFBIG : errno;
		buf_free(&text);
		close(fd);
		if (saved == EFBIG)
			cfg_err(err, errlen, "%s: larger than %d bytes; a "
			    "configuration file is a few lines", path,
			    CFG_MAX_FILE);
		else
			cfg_err(err, errlen, "%s: cannot read: %s", path,
			    strerror_r(saved, ebuf, sizeof(ebuf)));
		return -1;
	}
	close(fd);

	rc = cfg_parse(path, text.p, text.len, out, &p, err, errlen);
	buf_free(&text);
	if (rc != 0)
		return rc;

	/* msmtp's rule: a secret lives only in a file no one else can use. */
	if (p.password_line != 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		cfg_err(err, errlen, "%s:%u: this file holds a password but "
		    "group or others have access to it (mode %04o); run "
		    "`chmod 600 %s`", path, p.password_line,
		    (unsigned)(st.st_mode & 07777), path);
		cfg_free(out);
		return -1;
	}
	if (p.password_line != 0 && st.st_uid != geteuid()) {
		cfg_err(err, errlen, "%s:%u: this file holds a password but "
		    "belongs to uid %u, not to you; copy it to a file of your "
		    "own and run `chmod 600` on it", path, p.password_line,
		    (unsigned)st.st_uid);
		cfg_free(out);
		return -1;
	}
	if (p.passwordeval_line != 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		cfg_err(err, errlen, "%s:%u: this file runs a passwordeval "
		    "command but group or others may change it (mode %04o); "
		    "run `chmod go-w %s`", path, p.passwordeval_line,
		    (unsigned)(st.st_mode & 07777), path);
		cfg_free(out);
		return -1;
	}
	if (cfg_load_aliases(out, err, errlen) != 0) {
		cfg_free(out);
		return -1;
	}
	return 0;
}

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

const struct cfg_account *cfg_account(const struct cfg *cfg, const char *name)
{
	const struct cfg_account *a;

	if (cfg == NULL || cfg->naccounts == 0)
		return NULL;
	if (name != NULL)
		return cfg_resolve(cfg, name);
	if (cfg->default_account != NULL &&
	    (a = cfg_find(cfg, cfg->default_account)) != NULL)
		return a;
	if ((a = cfg_find(cfg, "default")) != NULL)
		return a;
	return &cfg->accounts[0];
}

int cfg_spool_path(const struct cfg_account *def, char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (def && def->spool)
		n = snprintf(buf, cap, "%s", def->spool);
	else if (xdg && xdg[0])
		n = snprintf(buf, cap, "%s/outboxfs/spool", xdg);
	else if (home && home[0])
		n = snprintf(buf, cap, "%s/.local/share/outboxfs/spool", home);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

const struct cfg_account *cfg_account_for_from(const struct cfg *cfg,
    const char *addr)
{
	if (cfg == NULL || addr == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (cfg->accounts[i].from != NULL &&
		    strcasecmp(cfg->accounts[i].from, addr) == 0)
			return &cfg->accounts[i];
	return NULL;
}

unsigned cfg_port(const struct cfg_account *acct)
{
	if (acct->port != 0)
		return acct->port;
	if (acct->tls && !acct->tls_starttls)
		return 465;
	if (acct->tls)
		return 587;
	return 25;
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

const char *cfg_unusable(const struct cfg_account *a)
{
	if (a->proxy_host != NULL)
		return "proxy_host is set, and outboxfs cannot connect through "
		    "a SOCKS proxy: remove proxy_host from this account (or "
		    "send its mail with msmtp)";
	if (a->socket != NULL)
		return "socket is set, and outboxfs connects over TCP only: "
		    "remove socket and set host and port";
	return NULL;
}
