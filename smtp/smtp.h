/*
 * smtp — the SMTP client of outboxfs (RFC 5321, 2920, 1870, 6152, 3207,
 * 4954, 6531).
 *
 * A session is one connection: smtp_connect (greeting, EHLO, STARTTLS,
 * AUTH), then smtp_send for each message in turn, then smtp_quit. Every
 * line sent and received goes to the transcript callback as the status
 * file shows it ("C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok"), with AUTH
 * hidden and the message body summarised. Knows nothing of FUSE or the
 * spool; the caller turns results into states.
 *
 * Error convention: int functions return 0 when the step worked, -1
 * otherwise with *err (struct smtp_error) filled. Nothing here prints.
 */
#ifndef OUTBOXFS_SMTP_H
#define OUTBOXFS_SMTP_H

#include <stddef.h>
#include <stdint.h>

struct msg;

/* The failure taxonomy; smtp_fail_name() gives "connection", ...
 * (static text). */
enum smtp_fail {
	SMTP_OK = 0,
	SMTP_FAIL_LOCAL,     /* our side: message unreadable, out of memory,
	                      * a limit of ours, SMTPUTF8 needed but absent */
	SMTP_FAIL_CONN,      /* connect, network error, timeout, lost */
	SMTP_FAIL_TLS,       /* handshake, verification, STARTTLS absent/454 */
	SMTP_FAIL_PROTO,     /* malformed reply, unexpected or injected bytes */
	SMTP_FAIL_AUTH,      /* login refused (535) or no common mechanism */
	SMTP_FAIL_TEMP,      /* the server answered 4xx (421 included) */
	SMTP_FAIL_PERM,      /* the server answered 5xx */
};

struct smtp_error {
	enum smtp_fail fail;
	int temporary;           /* 1: retry later (defer); 0: final */
	char step[24];           /* "connect", "greeting", "EHLO", "MAIL FROM",
	                          * "RCPT TO", "DATA", "end of data", ... */
	int code;                /* the server's reply code, or 0 */
	char enh[16];            /* its enhanced code, or "" */
	char text[512];          /* one sanitized line for the status file:
	                          * what happened and, when it is ours to
	                          * fix, what to do */
	int stale;               /* 1: the kept connection smtp_alive let
	                          * through was closed meanwhile (the RSET
	                          * that opened the transaction got no 250):
	                          * nothing of the message was taken; send
	                          * it again on a new connection */
};

const char *smtp_fail_name(enum smtp_fail f);

/*
 * "HOST:PORT" into BUF (CAP bytes), "[HOST]:PORT" when HOST is an IPv6
 * literal (a ':' in it), so the port can be told from the address.
 * Cut to CAP - 1 bytes when too long; always NUL-terminated.
 */
void smtp_hostport(const char *host, const char *port, char *buf,
    size_t cap);

enum smtp_tls_mode {
	SMTP_TLS_OFF = 0,
	SMTP_TLS_STARTTLS,       /* required: never falls back to plain */
	SMTP_TLS_IMPLICIT,       /* RFC 8314, port 465 */
};

/* Timeouts in milliseconds; 0 picks RFC 5321 4.5.3.2's default. */
struct smtp_timeouts {
	int connect;             /* default 30 s */
	int greeting;            /* 5 min */
	int command;             /* EHLO, STARTTLS, AUTH, RSET, QUIT: 5 min */
	int mail;                /* 5 min */
	int rcpt;                /* 5 min */
	int data;                /* DATA -> 354: 2 min */
	int block;               /* each write of message data: 3 min */
	int dot;                 /* final "." -> reply: 10 min */
};

/* Called for every transcript line (without CR LF). DIR is 'C' or 'S'.
 * LINE is borrowed for the call only. */
typedef void smtp_transcript_fn(void *tag, char dir, const char *line);

/* Called while message data is written: bytes sent of total. */
typedef void smtp_progress_fn(void *tag, uint64_t sent, uint64_t total);

/* Optional debugging trace: one line per state change of the session
 * ("MAIL -> RCPT"). LINE is borrowed for the call only. */
typedef void smtp_trace_fn(void *tag, const char *line);

struct smtp_params {
	const char *host;
	const char *port;            /* "25" */
	const char *helo;            /* EHLO argument; NULL: "localhost" */
	struct smtp_timeouts timeouts;

	/* TLS (see tls.h); ignored with SMTP_TLS_OFF */
	enum smtp_tls_mode tls;
	int tls_certcheck;           /* 1 unless the user wrote off */
	const char *tls_trust_file;  /* NULL: the system store */
	const char *tls_fingerprint; /* SHA-256 "AB:CD:..", pins instead */
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_host;        /* name for SNI and the certificate
	                              * check; NULL: host */
	const char *tls_crl_file;    /* PEM CRLs: checked for the whole
	                              * chain; NULL: none */
	int tls_min_version;         /* 0: TLS 1.2; else 0x0303/0x0304 */
	int tls_max_version;         /* 0: the newest */
	int tls_seclevel;            /* 0: OpenSSL's; else raised to it */
	int tls_no_tickets;

	const char *source_ip;       /* bind to it before connecting */
	/* Set: the account cannot send (proxy_host, socket): smtp_connect
	 * fails at once, permanently, with this text. */
	const char *refuse;

	/* AUTH: auth_mech NULL = off, "" = strongest both sides have,
	 * else that mechanism. secret is borrowed and never copied into a
	 * transcript or an error. */
	const char *auth_mech;
	const char *user;
	const char *secret;

	smtp_transcript_fn *transcript;
	smtp_progress_fn *progress;
	void *tag;                   /* passed to the callbacks */
	smtp_trace_fn *trace;        /* NULL: no trace */
};

/* What the server offered in its last EHLO (reset after STARTTLS). */
struct smtp_caps {
	int esmtp;                   /* EHLO worked (0: fell back to HELO) */
	uint64_t size;               /* SIZE limit; 0: none announced */
	int has_size;
	int pipelining, eightbitmime, smtputf8, starttls;
	int enhancedstatuscodes, chunking, dsn;
	char auth[256];              /* mechanisms, space-separated, upper */
};

struct smtp_session;

/*
 * Connects and runs greeting, EHLO (HELO after 500/502), STARTTLS and
 * AUTH as P asks. P and the strings in it are borrowed for the life of
 * the session. *out owned by the caller: smtp_quit or smtp_close.
 */
int smtp_connect(const struct smtp_params *p, struct smtp_session **out,
    struct smtp_error *err);

/* Redirects the transcript and progress callbacks (one per message when
 * a connection is reused). */
void smtp_set_tag(struct smtp_session *s, void *tag);

/* What the server offered in its last EHLO. Borrowed from S. */
const struct smtp_caps *smtp_caps(const struct smtp_session *s);

/*
 * One line describing the connection for the status "server:" line:
 * "mail.example.com:587 starttls TLSv1.3 TLS_AES_256_GCM_SHA384
 * verified auth=plain" or "127.0.0.1:25 plain". Borrowed from S and
 * rebuilt in place by each call: copy it before calling again.
 */
const char *smtp_server_desc(const struct smtp_session *s);

/*
 * The transcript lines of the connection's opening (greeting, EHLO,
 * STARTTLS, AUTH), so a later message on a reused connection can show
 * them. Each "S: ..."/"C: ..." line ends in '\n'. Borrowed from S.
 */
const char *smtp_prologue(const struct smtp_session *s);

enum smtp_rcpt_state {
	SMTP_RCPT_PENDING = 0,   /* not tried (session failed before it) */
	SMTP_RCPT_OK,            /* accepted and the message delivered */
	SMTP_RCPT_TEMP,          /* 4xx (to RCPT, or to the data): retry */
	SMTP_RCPT_PERM,          /* 5xx: failed for good */
};

struct smtp_rcpt_result {
	const char *addr;        /* borrowed: the caller's list */
	enum smtp_rcpt_state state;
	int code;                /* RCPT TO reply, or the data's final reply */
	char enh[16];
	char text[256];          /* sanitized reply text */
};

struct smtp_result {
	/* One entry per recipient tried, in the order given; the caller
	 * allocates nrcpts entries. */
	struct smtp_rcpt_result *rcpts;
	size_t nrcpts;
	/* The final reply to the data ("250 2.0.0 Ok: queued as 4Q2X"), or
	 * the reply that ended the transaction. */
	int code;
	char enh[16];
	char reply[512];
	/* The connection was lost after the final "." and before a reply:
	 * the server may have the message (RFC 1047); it will be sent again. */
	int maybe_delivered;
	/* The session can carry another message (smtp_send again). */
	int reusable;
};

/*
 * Sends message M (prepared by msg_prepare; its body read again from FD)
 * to the recipients RCPTS (a subset of m->rcpts: those not yet done).
 * Returns 0 when the transaction ran to its end, whatever each recipient
 * got (look at res->rcpts); -1 with *err when it could not (connection,
 * protocol, 421, MAIL FROM refused, no recipient accepted, data refused):
 * then every recipient not SMTP_RCPT_PERM is to be retried or failed as
 * err->temporary says. Recipients the server answered carry their own
 * state; err->temporary is 1 whenever one of them is SMTP_RCPT_TEMP,
 * even with err->fail SMTP_FAIL_PERM (a 452 to one RCPT, a 554 to the
 * data of the others).
 */
int smtp_send(struct smtp_session *s, const struct msg *m, int fd,
    const char *const *rcpts, size_t nrcpts, struct smtp_result *res,
    struct smtp_error *err);

/*
 * smtp_send in two halves, so that the caller can get the next message
 * ready while the server takes this one's data: smtp_send_begin returns
 * 1 once the final "." has gone out, its reply not yet read (FD is no
 * longer needed; M, RCPTS, RES and ERR stay borrowed), and then
 * smtp_send_end must be the next call on S: it reads the reply and
 * returns what smtp_send would have. Otherwise smtp_send_begin returns
 * smtp_send's 0 or -1 (the transaction ended before the ".").
 */
int smtp_send_begin(struct smtp_session *s, const struct msg *m, int fd,
    const char *const *rcpts, size_t nrcpts, struct smtp_result *res,
    struct smtp_error *err);
int smtp_send_end(struct smtp_session *s);
/*
 * smtp_send_end that first sends the envelope (MAIL, RCPTs, DATA) of
 * the next message M to RCPTS[0..NRCPTS) behind the ".", so that its
 * replies come with the "."'s (RFC 2920: message content may open a
 * command group): one round trip per message, not two, on a server
 * that offers PIPELINING. The next call on S must then be
 * smtp_send_begin for the same M and NRCPTS (and recipients) when the
 * session can carry it (res->reusable); smtp_quit and smtp_close drop
 * it. RCPTS is used during the call only. An envelope that fails a local
 * check, or a server without PIPELINING: only smtp_send_end.
 */
int smtp_send_next(struct smtp_session *s, const struct msg *m,
    const char *const *rcpts, size_t nrcpts);
/*
 * smtp_send_next that calls FN(ARG) once the "." and that envelope are
 * out, before the reply is read: what the caller does there (getting the
 * message after M ready) overlaps the server's work instead of adding to
 * each round trip. FN is not called when they did not both go out (then
 * this is smtp_send_next); FN must not use S.
 */
int smtp_send_next_while(struct smtp_session *s, const struct msg *m,
    const char *const *rcpts, size_t nrcpts, void (*fn)(void *), void *arg);

/*
 * 1 when the idle session S can carry another message: the server has
 * not closed it (nothing to read) and, without PIPELINING, answers NOOP
 * with 250. With PIPELINING the next transaction checks it instead, at
 * no round trip of its own: an RSET opens its group (RFC 2920 lets RSET
 * stand anywhere in one), and when that gets no 250 the transaction
 * fails with err->stale set. 0 when it cannot: close it (smtp_close)
 * and connect anew.
 */
int smtp_alive(struct smtp_session *s);

/* Sends QUIT, waits briefly for 221, closes and frees S. */
void smtp_quit(struct smtp_session *s);

/* Closes without QUIT and frees S. NULL is fine. */
void smtp_close(struct smtp_session *s);

#endif
