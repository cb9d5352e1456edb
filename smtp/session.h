/*
 * session — the inside of an SMTP session, shared by the files of smtp/
 * only (client*.c, tls.c, sasl.c, auth.c). Nothing outside smtp/ and its
 * unit tests includes this header.
 *
 * The protocol code (client.c) owns the session and its state machine;
 * TLS and AUTH plug in through three hooks it calls at fixed points:
 *
 *   smtp_tls_connect(s, err)  right after TCP connect when p->tls is
 *                             SMTP_TLS_IMPLICIT, before the greeting;
 *   smtp_starttls(s, err)     after the first EHLO when p->tls is
 *                             SMTP_TLS_STARTTLS: checks s->caps.starttls,
 *                             sends STARTTLS, reads 220, refuses pending
 *                             bytes, handshakes, io_set_transport. The
 *                             caller then runs smtp_ehlo() again (caps
 *                             reset); the hook must not;
 *   smtp_auth(s, err)         after EHLO (and STARTTLS) when p->auth_mech
 *                             is not NULL: the whole AUTH exchange, using
 *                             smtp_cmd(..., shown) to hide secrets.
 *
 * Each returns 0, or -1 with *err filled (SMTP_FAIL_TLS / SMTP_FAIL_AUTH,
 * or what smtp_cmd/smtp_read_reply filled). They may set s->tls_desc
 * ("starttls TLSv1.3 TLS_AES_256_GCM_SHA384 verified") and s->auth_desc
 * ("auth=plain"); smtp_server_desc() joins them. tls.c provides the two
 * TLS hooks, auth.c smtp_auth.
 *
 * Error convention as in smtp.h: 0, or -1 with *err filled; a failure
 * that leaves the connection out of step also marks the session broken.
 */
#ifndef OUTBOXFS_SMTP_SESSION_H
#define OUTBOXFS_SMTP_SESSION_H

#include "smtp/io.h"
#include "smtp/reply.h"
#include "smtp/smtp.h"

/* The states of a session; only smtp_state() changes s->state. */
enum smtp_state {
	SMTP_ST_INIT = 0,
	SMTP_ST_CONNECT,
	SMTP_ST_TLS,            /* implicit TLS handshake */
	SMTP_ST_GREETING,
	SMTP_ST_EHLO,
	SMTP_ST_HELO,
	SMTP_ST_STARTTLS,
	SMTP_ST_AUTH,
	SMTP_ST_READY,          /* between transactions */
	SMTP_ST_MAIL,
	SMTP_ST_RCPT,
	SMTP_ST_DATA,
	SMTP_ST_BODY,
	SMTP_ST_DOT,
	SMTP_ST_RSET,
	SMTP_ST_NOOP,           /* checking a kept connection */
	SMTP_ST_QUIT,
	SMTP_ST_BROKEN,         /* out of step or closed by the server */
	SMTP_ST_COUNT
};

#define SMTP_PROLOGUE_MAX  (64 * 1024)
#define SMTP_LINE_MAX      4096         /* longest reply line read */

struct smtp_session {
	const struct smtp_params *p;    /* borrowed for the session's life */
	struct io *io;                  /* owned */
	enum smtp_state state;
	struct smtp_caps caps;
	struct smtp_reply reply;        /* the last reply read */
	void *tag;                      /* for the callbacks */

	/* Transcript of the opening, "S: ...\n" lines, kept for
	 * smtp_prologue while in_prologue is set. Owned. */
	char *prologue;
	size_t prologue_len, prologue_cap;
	int in_prologue;

	char tls_desc[160];             /* set by the TLS hooks, or "" */
	char auth_desc[48];             /* set by the AUTH hook, or "" */
	char desc[256];                 /* smtp_server_desc's buffer */
	char line[SMTP_LINE_MAX];       /* read buffer */
};

/* The ONLY way to change s->state. */
void smtp_state(struct smtp_session *s, enum smtp_state st);

/* "READY", "MAIL", ... for any state. */
const char *smtp_state_name(enum smtp_state st);

/* The effective timeout for a field of struct smtp_timeouts: the value
 * set, or RFC 5321's default when 0. */
int smtp_timeout_connect(const struct smtp_session *s);
int smtp_timeout_greeting(const struct smtp_session *s);
int smtp_timeout_command(const struct smtp_session *s);
int smtp_timeout_mail(const struct smtp_session *s);
int smtp_timeout_rcpt(const struct smtp_session *s);
int smtp_timeout_data(const struct smtp_session *s);
int smtp_timeout_block(const struct smtp_session *s);
int smtp_timeout_dot(const struct smtp_session *s);

/* Sends one transcript line (DIR 'C' or 'S') to the callback and, while
 * in the prologue, to s->prologue. LINE borrowed. */
void smtp_log(struct smtp_session *s, char dir, const char *line);

/*
 * Buffers the command LINE (without CR LF) for sending; it goes out at
 * the next smtp_read_reply or io_flush. The transcript shows SHOWN
 * instead when it is not NULL ("AUTH PLAIN [credentials hidden]").
 * Refuses a LINE with CR, LF or NUL (SMTP_FAIL_LOCAL). STEP names the
 * command in errors ("AUTH"). LINE may be a secret: it is not copied
 * anywhere but the write buffer.
 */
int smtp_cmd(struct smtp_session *s, const char *step, const char *line,
    const char *shown, struct smtp_error *err);

/*
 * Flushes what is buffered, then reads one whole reply into s->reply
 * within timeout_ms, logging each line as "S: ...". Fails (and marks the
 * session broken) on a network error, timeout, or malformed reply
 * (SMTP_FAIL_CONN / SMTP_FAIL_PROTO). A 421 is returned as a reply, not
 * a failure: see smtp_reply_error.
 */
int smtp_read_reply(struct smtp_session *s, const char *step, int timeout_ms,
    struct smtp_error *err);

/*
 * Fills *err from s->reply as the answer to STEP: SMTP_FAIL_TEMP for 4xx
 * (421 also marks the session broken), SMTP_FAIL_PERM for 5xx, and
 * SMTP_FAIL_PROTO (session broken) for a 2xx/3xx the step cannot take.
 * Always returns -1.
 */
int smtp_reply_error(struct smtp_session *s, const char *step,
    struct smtp_error *err);

/* Fills *err with FAIL, TEMPORARY, STEP and a printf-style text; marks
 * nothing. Always returns -1. */
int smtp_fail(struct smtp_error *err, enum smtp_fail fail, int temporary,
    const char *step, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Resets s->caps and runs EHLO (HELO after 500/502), parsing the
 * capabilities. Used at connect and again after STARTTLS. */
int smtp_ehlo(struct smtp_session *s, struct smtp_error *err);

/* Parses one EHLO keyword line ("SIZE 1000", "AUTH=PLAIN LOGIN") into
 * CAPS. Exposed for unit tests. */
void smtp_caps_parse_line(struct smtp_caps *caps, const char *line);

/*
 * Like smtp_connect, over an already-connected socket FD (unit tests:
 * one end of a socketpair). The session owns FD from the call on, also
 * when it fails.
 */
int smtp_connect_fd(const struct smtp_params *p, int fd,
    struct smtp_session **out, struct smtp_error *err);

/* The hooks (see the top of this file). */
int smtp_tls_connect(struct smtp_session *s, struct smtp_error *err);
int smtp_starttls(struct smtp_session *s, struct smtp_error *err);
int smtp_auth(struct smtp_session *s, struct smtp_error *err);

#endif
