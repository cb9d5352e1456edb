/*
 * config — the msmtprc-compatible configuration of outboxfs.
 *
 * Parses a file (or a buffer) into plain structs the caller owns. Knows
 * nothing of FUSE, the network or the spool. Its one global state is the
 * list of passwordeval commands running now (cfg_password_kill_all).
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
#define CFG_DEFAULT_SETTLE_MS        2000u
#define CFG_DEFAULT_CACHE_MS         2000u
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
	CFG_K_CONNECTION_CACHE,
	CFG_K_MAX_QUEUE_TIME, CFG_K_RETRY_MIN, CFG_K_RETRY_MAX,
	/* msmtp's keys that change what is sent or how */
	CFG_K_ALIASES, CFG_K_MAILDOMAIN, CFG_K_AUTO_FROM,
	CFG_K_SET_FROM_HEADER, CFG_K_ALLOW_FROM_OVERRIDE,
	CFG_K_FROM_FULL_NAME, CFG_K_UNDISCLOSED_RECIPIENTS,
	CFG_K_REMOVE_BCC_HEADERS, CFG_K_SET_DATE_HEADER,
	CFG_K_SET_MSGID_HEADER, CFG_K_DSN_NOTIFY, CFG_K_DSN_RETURN,
	CFG_K_SOURCE_IP, CFG_K_TLS_HOST_OVERRIDE,
	CFG_K_TLS_MIN_DH_PRIME_BITS, CFG_K_TLS_PRIORITIES,
	CFG_K_TLS_CRL_FILE, CFG_K_PROXY_HOST, CFG_K_SOCKET,
	CFG_K_USERS, CFG_K_GROUPS, CFG_K_MAILDROP_GROUP,
	CFG_K_COUNT
};

/* set_from_header, set_date_header, set_msgid_header */
enum cfg_tri {
	CFG_TRI_AUTO = 0,   /* add the header when the message has none */
	CFG_TRI_ON,         /* always set it (set_from_header only) */
	CFG_TRI_OFF,        /* never add it */
};

/* An aliases file (msmtp's format), read once when the configuration is
 * loaded. Owned by its account. */
struct cfg_alias {
	char *local;                /* the name before ':' */
	char **addrs;               /* what it stands for, as written */
	size_t naddrs;
	unsigned line;
};

struct cfg_aliases {
	char *file;
	struct cfg_alias *v;
	size_t n;
};

/*
 * One account. Strings are owned by the struct (freed by cfg_free) and are
 * NULL when not set. File names have a leading "~" already expanded.
 */
struct cfg_account {
	char *name;
	uint64_t set;               /* CFG_BIT(key) for each keyword given */
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
	unsigned cache_ms;          /* connection_cache: an idle connection
	                             * is kept this long, 0: QUIT at once */
	unsigned connections;
	uint64_t max_size;          /* bytes; 0 = unlimited */
	unsigned max_queue_time;    /* seconds */
	unsigned retry_min;         /* seconds */
	unsigned retry_max;         /* seconds */

	char *aliases;              /* path of the aliases file */
	struct cfg_aliases *alias_tab;  /* its content (cfg_load_aliases) */
	char *maildomain;
	int auto_from;              /* 0/1 */
	int set_from_header;        /* enum cfg_tri */
	int allow_from_override;    /* 0/1; default 1 */
	char *from_full_name;
	int undisclosed_recipients; /* 0/1 */
	int remove_bcc_headers;     /* 0/1; default 1 */
	int set_date_header;        /* CFG_TRI_AUTO or CFG_TRI_OFF */
	int set_msgid_header;       /* CFG_TRI_AUTO or CFG_TRI_OFF */
	char *dsn_notify;           /* NULL (off), "NEVER" or e.g.
	                             * "SUCCESS,FAILURE" */
	char *dsn_return;           /* NULL (off), "HDRS" or "FULL" */
	char *source_ip;            /* an IPv4 or IPv6 literal */
	char *tls_host_override;
	unsigned tls_min_dh_prime_bits;   /* 0: OpenSSL's default */
	char *tls_priorities;       /* as written; cfg_tls_priorities maps */
	char *tls_crl_file;
	char *proxy_host;           /* set: the account is unusable */
	char *socket;               /* set: the account is unusable */
	/* Who may send through a shared mount (read from the default
	 * account, mount-wide): lists of user and group names or numbers
	 * separated by commas, colons or blanks; "*" in users: everybody.
	 * NULL: the mounting user alone. Resolved by the daemon. */
	char *users;
	char *groups;
	char *maildrop_group;       /* group of SPOOL/maildrop (sendmail) */
};

#define CFG_BIT(k) (1ull << (k))

struct cfg {
	char *file;                 /* the file parsed, for messages */
	struct cfg_account *accounts;
	size_t naccounts;
	struct cfg_account defaults;   /* what `defaults` set (name "defaults") */
	char *default_account;      /* name from "account default : NAME", or NULL */
	/* msmtp keywords read but not acted on: "FILE:LINE: KEYWORD", one
	 * per line, for the warning at mount; NULL when there were none. */
	char *ignored;
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

/*
 * The spool directory into BUF: DEF's `spool`, else
 * $XDG_DATA_HOME/outboxfs/spool, else ~/.local/share/outboxfs/spool (the
 * daemon and outboxfs-sendmail must agree). -1 when none can be named or
 * it does not fit.
 */
int cfg_spool_path(const struct cfg_account *def, char *buf, size_t cap);

/* The first account whose `from` equals ADDR (case-insensitive), or NULL.
 * Borrowed from CFG. */
const struct cfg_account *cfg_account_for_from(const struct cfg *cfg,
    const char *addr);

/* The port to connect to: port if set, else 465 for implicit TLS, else 587
 * for STARTTLS, else 25. */
unsigned cfg_port(const struct cfg_account *acct);

/*
 * Sets one keyword on ACCT from a "keyword value" pair, as a line of the
 * file would (used for mount options such as -o settle=100; VALUE NULL
 * is an empty value). Returns -1 with err filled ("-o KEYWORD: ...") for
 * an unknown keyword, a bad value, or `password`, which a command line
 * would show to every user in ps(1).
 */
int cfg_set(struct cfg_account *acct, const char *keyword, const char *value,
    char *err, size_t errlen);

/*
 * Reads the aliases file of every account that names one (again when
 * the path changed, e.g. by -o aliases=FILE). cfg_parse_file calls it;
 * cfg_parse_buffer does not (it reads no file but the one given).
 * Errors name FILE:LINE of the aliases file.
 */
int cfg_load_aliases(struct cfg *cfg, char *err, size_t errlen);

/*
 * Parses LEN bytes of BUF as an aliases file named NAME into *out
 * (zeroed first; free with cfg_aliases_free, also after an error).
 * Format (msmtp's): "local: addr[, addr...]" a line, '#' starts a
 * comment, blank lines ignored; "default" catches every other local
 * name. An address is taken as written (at most 320 bytes, no
 * whitespace, control character, quote, comma, '<' or '>').
 */
int cfg_aliases_parse(const char *name, const char *buf, size_t len,
    struct cfg_aliases *out, char *err, size_t errlen);
void cfg_aliases_free(struct cfg_aliases *t);

/* What LOCAL (a name without '@', compared without case) stands for:
 * its own line, else the `default` line, else NULL. *n set. Borrowed
 * from T. */
const char *const *cfg_alias_lookup(const struct cfg_aliases *t,
    const char *local, size_t *n);

/* The values of msmtp's substitutions in `from` (borrowed strings; the
 * caller finds them: config/ does no lookup). */
struct cfg_subst {
	const char *user;           /* %U */
	const char *host;           /* %H */
	const char *canon;          /* %C */
	const char *mailname;       /* %M */
};

/*
 * Expands %U %H %C %M and %% in TMPL into OUT (OUTLEN bytes). -1 with err
 * for an unknown %x, a lone '%' at the end, a missing value or an
 * expansion longer than OUTLEN - 1.
 */
int cfg_subst(const char *tmpl, const struct cfg_subst *v, char *out,
    size_t outlen, char *err, size_t errlen);

/*
 * The `from` to use for account A: with auto_from on, "%U@maildomain"
 * (just "%U" without maildomain, completed later like any address
 * without '@'); else `from`. Substituted with V; *out NULL when there is
 * none. Caller frees *out.
 */
int cfg_resolve_from(const struct cfg_account *a, const struct cfg_subst *v,
    char **out, char *err, size_t errlen);

/* What tls_priorities maps to in OpenSSL terms. */
struct cfg_tls_prio {
	int min_version;            /* 0 (default), 0x0303 TLS 1.2, 0x0304 */
	int max_version;            /* 0 (any), 0x0303 or 0x0304 */
	int seclevel;               /* 0: unchanged; else OpenSSL's level */
	int no_tickets;             /* %NO_TICKETS */
};

/*
 * Maps a GnuTLS priority string (msmtp's tls_priorities) to OpenSSL:
 * NORMAL, PFS, PERFORMANCE, SECURE128/SECURE/SECURE192/SECURE256 (a
 * security level), +VERS-/-VERS- for TLS 1.2 and 1.3, -VERS-ALL,
 * -VERS-TLS1.0/1.1/SSL3.0, %COMPAT (no-op) and %NO_TICKETS. -1 with err
 * naming the element that has no equivalent.
 */
int cfg_tls_priorities(const char *s, struct cfg_tls_prio *out, char *err,
    size_t errlen);

/* OpenSSL's security level for tls_min_dh_prime_bits BITS (rounded up:
 * 1024 -> 1, 2048 -> 2, 3072 -> 3, 7680 -> 4, more -> 5), 0 for 0. */
int cfg_dh_seclevel(unsigned bits);

/* Why account A cannot send (proxy_host, socket), or NULL. Static text. */
const char *cfg_unusable(const struct cfg_account *a);

/* The known keyword nearest to WORD (for "did you mean"), or NULL. */
const char *cfg_suggest_keyword(const char *word);

/* 1 when WORD is a keyword cfg_set accepts. */
int cfg_is_keyword(const char *word);

/* Frees everything in CFG and wipes passwords; CFG may then be reused. */
void cfg_free(struct cfg *cfg);

/* Hard caps on what the parser accepts (bytes unless said otherwise). */
#define CFG_MAX_FILE        (1024 * 1024)
#define CFG_MAX_LINE        4096u
#define CFG_MAX_NAME        255u       /* account names become directories */
#define CFG_MAX_ACCOUNTS    10000u
#define CFG_MAX_CONNECTIONS 64u
#define CFG_MAX_SETTLE_MS   60000u
#define CFG_MAX_PASSWORD    (64 * 1024)  /* first line of passwordeval */
#define CFG_EVAL_TIMEOUT_S  120u         /* passwordeval may wait for pinentry */

/*
 * Sets CFG to an empty configuration whose `defaults` hold the built-in
 * defaults. Use it before cfg_add_account when there is no file.
 */
void cfg_init(struct cfg *cfg);

/*
 * Appends an account NAME built from CFG->defaults, as an "account NAME"
 * line would. Returns it (borrowed from CFG, valid until the next
 * cfg_add_account or cfg_free) or NULL with err filled (bad or duplicate
 * name, too many accounts, out of memory).
 */
struct cfg_account *cfg_add_account(struct cfg *cfg, const char *name,
    char *err, size_t errlen);

/*
 * Mount-time validation of one account: host set; no `auth` over a
 * connection without TLS, or over TLS with tls_certcheck off and no
 * tls_fingerprint, unless the host is loopback; auth has a user and
 * a password source; tls_cert_file and tls_key_file come together;
 * retry_min <= retry_max; 1 <= connections <= 64; settle <= 60 s.
 * Returns 0 or -1 with err filled. Never prints.
 */
int cfg_check(const struct cfg_account *a, char *err, size_t errlen);

/*
 * The secret for AUTH: `password` if set, else the first line printed by
 * `passwordeval` (run afresh with /bin/sh -c on each call; safe in a
 * multi-threaded process; stdin is /dev/null; at most CFG_MAX_PASSWORD
 * bytes). The command leads a process group of its own; when the call
 * returns, that group has been ended (SIGTERM, then SIGKILL after a short
 * grace) and the command reaped, whether it answered, failed, passed
 * CFG_EVAL_TIMEOUT_S or was stopped by cfg_password_kill_all. Returns 0
 * with *out set (caller frees it after explicit_bzero), 1 with *out NULL
 * when neither keyword is set, -1 with err filled (command failed, timed
 * out, printed nothing, or was stopped). Never prints.
 */
int cfg_password(const struct cfg_account *a, char **out, char *err,
    size_t errlen);

/* cfg_password with a deadline of TIMEOUT_MS instead of
 * CFG_EVAL_TIMEOUT_S. */
int cfg_password_within(const struct cfg_account *a, unsigned timeout_ms,
    char **out, char *err, size_t errlen);

/*
 * Ends the process group of every passwordeval running now (SIGTERM,
 * SIGKILL after a short grace) and makes every later call fail at once:
 * for a daemon that is stopping, so that no delivery thread stays inside
 * a command and no command outlives the daemon. The callers return -1
 * with an error saying so. Returns within about half a second; safe from
 * any thread, not from a signal handler.
 */
void cfg_password_kill_all(void);

/* 1 when HOST is "localhost", an IPv4 literal in 127.0.0.0/8 or ::1
 * (optionally in brackets); no name lookup is done. */
int cfg_is_loopback(const char *host);

#endif
