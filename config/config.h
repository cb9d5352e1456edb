/*
 * config — the msmtprc-compatible configuration of outboxfs.
 *
 * Parses a file (or a buffer) into plain structs the caller owns. Knows
 * nothing of FUSE, the network or the spool, and keeps no global state.
 *
 * Error convention: functions returning int return 0 on success and -1 on
 * error; on error they write one line "FILE:LINE: what is wrong; what to
 * write instead" into err (at most errlen bytes, always NUL-terminated).
 */
#ifndef OUTBOXFS_CONFIG_H
#define OUTBOXFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Defaults of outboxfs's own keywords (msmtp's keep msmtp's defaults). */
#define CFG_DEFAULT_SETTLE_MS        300u
#define CFG_DEFAULT_CONNECTIONS      2u
#define CFG_DEFAULT_MAX_SIZE         (64ull * 1024 * 1024)
#define CFG_DEFAULT_MAX_QUEUE_TIME   (5u * 24 * 3600)   /* seconds */
#define CFG_DEFAULT_RETRY_MIN        300u               /* seconds */
#define CFG_DEFAULT_RETRY_MAX        4000u              /* seconds */

enum cfg_auth {
	CFG_AUTH_OFF = 0,   /* "off" or not set */
	CFG_AUTH_ON,        /* "on": strongest mechanism both sides have */
	CFG_AUTH_MECH,      /* a named mechanism, in cfg_account.auth_mech */
};

/*
 * Bits of cfg_account.set: which keywords were given explicitly (in the
 * account itself, a parent, or `defaults`). Used for inheritance and so
 * the daemon can tell "tls off" written from "tls" never mentioned.
 */
enum cfg_key {
	CFG_K_HOST, CFG_K_PORT, CFG_K_FROM, CFG_K_DOMAIN, CFG_K_TIMEOUT,
	CFG_K_USER, CFG_K_PASSWORD, CFG_K_PASSWORDEVAL, CFG_K_AUTH,
	CFG_K_TLS, CFG_K_TLS_STARTTLS, CFG_K_TLS_TRUST_FILE,
	CFG_K_TLS_FINGERPRINT, CFG_K_TLS_CERTCHECK, CFG_K_TLS_CERT_FILE,
	CFG_K_TLS_KEY_FILE, CFG_K_LOGFILE, CFG_K_SYSLOG,
	CFG_K_SPOOL, CFG_K_SETTLE, CFG_K_CONNECTIONS, CFG_K_MAX_SIZE,
	CFG_K_MAX_QUEUE_TIME, CFG_K_RETRY_MIN, CFG_K_RETRY_MAX,
	CFG_K_COUNT
};

/*
 * One account. Strings are owned by the struct (freed by cfg_free) and are
 * NULL when not set. File names have a leading "~" already expanded.
 */
struct cfg_account {
	char *name;
	uint32_t set;               /* 1u << enum cfg_key for each keyword given */
	const char *file;           /* borrowed from struct cfg: where defined */
	unsigned line;              /* line of the "account" command */

	char *host;
	unsigned port;              /* 0: 25, 587 (starttls) or 465 (tls) */
	char *from;                 /* envelope sender and default From: */
	char *domain;               /* EHLO argument; NULL: "localhost" */
	unsigned timeout;           /* seconds; 0: RFC 5321 per-command defaults */

	char *user;
	char *password;             /* wiped with explicit_bzero by cfg_free */
	char *passwordeval;
	enum cfg_auth auth;
	char *auth_mech;            /* upper case, when auth == CFG_AUTH_MECH */

	int tls;                    /* 0/1 */
	int tls_starttls;           /* 0/1; default 1 */
	char *tls_trust_file;       /* NULL or "system" */
	char *tls_fingerprint;      /* as written: AB:CD:... */
	int tls_certcheck;          /* 0/1; default 1 */
	char *tls_cert_file;
	char *tls_key_file;

	char *logfile;
	char *syslog;               /* NULL: off; "on" → "LOG_MAIL"; else facility */

	char *spool;
	unsigned settle_ms;
	unsigned connections;
	uint64_t max_size;          /* bytes; 0 = unlimited */
	unsigned max_queue_time;    /* seconds */
	unsigned retry_min;         /* seconds */
	unsigned retry_max;         /* seconds */
};

struct cfg {
	char *file;                 /* the file parsed, for messages */
	struct cfg_account *accounts;
	size_t naccounts;
	struct cfg_account defaults;   /* what `defaults` set (name "defaults") */
	char *default_account;      /* name from "account default : NAME", or NULL */
};

/*
 * Parses PATH into *out (zeroed first). Refuses a file that holds a
 * password and is readable by group or others. On error *out is left
 * empty (nothing to free).
 */
int cfg_parse_file(const char *path, struct cfg *out, char *err, size_t errlen);

/*
 * Parses LEN bytes of BUF as if read from a file named NAME (used for
 * messages). No permission check. Never reads outside BUF; BUF need not be
 * NUL-terminated.
 */
int cfg_parse_buffer(const char *name, const char *buf, size_t len,
    struct cfg *out, char *err, size_t errlen);

/*
 * The account NAME, or with NAME NULL the default account: the one named
 * by "account default : X", else an account called "default", else the
 * first account. Borrowed from CFG. NULL when there is none.
 */
const struct cfg_account *cfg_account(const struct cfg *cfg, const char *name);

/* The first account whose `from` equals ADDR (case-insensitive), or NULL. */
const struct cfg_account *cfg_account_for_from(const struct cfg *cfg,
    const char *addr);

/* The port to connect to: port if set, else 465 for implicit TLS, else 587
 * for STARTTLS, else 25. */
unsigned cfg_port(const struct cfg_account *acct);

/*
 * Sets one keyword on ACCT from a "keyword value" pair, as a line of the
 * file would (used for mount options such as -o settle=100). Returns -1
 * with err filled for an unknown keyword or a bad value.
 */
int cfg_set(struct cfg_account *acct, const char *keyword, const char *value,
    char *err, size_t errlen);

/* Frees everything in CFG and wipes passwords; CFG may then be reused. */
void cfg_free(struct cfg *cfg);

#endif
