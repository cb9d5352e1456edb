/*
 * session — the inside of an SMTP session, shared by the files of smtp/
 * only. Nothing outside smtp/ and its unit tests includes this header.
 *
 * The files of smtp/ are layers. Each calls only the layers below it,
 * never one that calls it back:
 *
 *   client.c  client_send.c  probe_cmds.c
 *                     the verbs of smtp.h and probe_cmds.h: the session,
 *                     one mail transaction, the probe's extra commands
 *   auth.c            the AUTH hook smtp_auth (auth.h)
 *   tls.c             the TLS hooks smtp_tls_connect, smtp_starttls
 *                     (tls.h) and the TLS transport
 *   chat.c            state, timeouts, failures, the transcript, and
 *                     smtp_cmd / smtp_read_reply / smtp_reply_error
 *                     (chat.h): every command and reply passes here
 *   io.c  reply.c  sasl.c  msg*.c
 *                     bytes, reply parsing, SASL arithmetic, messages
 *
 * client.c calls auth.c and tls.c (the hooks) and chat.c; client_send.c
 * chat.c and msg.c; probe_cmds.c auth.c and chat.c; auth.c tls.c (what
 * the handshake verified), sasl.c and chat.c; tls.c chat.c; chat.c io.c
 * and reply.c.
 *
 * client.c makes the session and drives its opening (chat.c keeps its
 * state); TLS and AUTH plug in through three hooks it calls at fixed
 * points:
 *
 *   smtp_tls_connect(s, err)  right after TCP connect when p->tls is
 *                             SMTP_TLS_IMPLICIT, before the greeting;
 *   smtp_starttls(s, err)     after the first EHLO when p->tls is
 *                             SMTP_TLS_STARTTLS: checks s->caps.starttls,
 *                             sends STARTTLS, reads 220, refuses pending
 *                             bytes, handshakes, io_set_transport. The
 *                             caller then runs EHLO again (caps reset);
 *                             the hook must not;
 *   smtp_auth(s, err)         after EHLO (and STARTTLS) when p->auth_mech
 *                             is not NULL: the whole AUTH exchange, using
 *                             smtp_cmd(..., shown) to hide secrets.
 *
 * Each returns 0, or -1 with *err filled (SMTP_FAIL_TLS / SMTP_FAIL_AUTH,
 * or what smtp_cmd/smtp_read_reply filled). They may set s->tls_desc
 * ("starttls TLSv1.3 TLS_AES_256_GCM_SHA384 verified") and s->auth_desc
 * ("auth=plain"); smtp_server_desc() joins them.
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

/* One mail transaction (client_send.c). */
struct smtp_tx {
	struct smtp_session *s;
	const struct msg *m;
	const char *const *rcpts;
	size_t nrcpts;
	struct smtp_result *res;
	struct smtp_error *err;
	size_t naccepted;
	int dot_sent;           /* the transaction ended with "." */
	int dsn;                /* DSN parameters go on MAIL and RCPT */
	int ahead;              /* its envelope goes out behind the "." of
	                         * the one before (smtp_send_next): the
	                         * session's state is that one's */
};

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
	/* smtp_send_begin left the transaction's "." sent and its reply
	 * unread: smtp_send_end reads it */
	struct smtp_tx pend;
	int has_pend;
	size_t dot_end;                 /* its "." is buffered: the bytes
	                                 * buffered up to its end */
	/* smtp_send_next sent the next transaction's MAIL, RCPTs and DATA
	 * behind that "." (RFC 2920 lets message content open a group);
	 * their replies are unread, and smtp_send_begin for AHEAD_M reads
	 * them. The lines they logged wait in AHEAD_LOG (AHEAD_HOLD set
	 * while they are written) and go to that transaction's tag then,
	 * so each message's transcript reads as if sent in turn. */
	const struct msg *ahead_m;
	size_t ahead_nrcpts;
	int ahead_dsn, ahead_hold;
	char *ahead_log;                /* "D line\n" each, owned */
	size_t ahead_len, ahead_cap;
	/* smtp_alive let the kept session through unchecked: the next
	 * pipelined transaction opens with RSET (smtp_error.stale) */
	int check_first;
};

/* ---- client.c, for unit tests and the fuzzer ---- */

/* Parses one EHLO keyword line ("SIZE 1000", "AUTH=PLAIN LOGIN") into
 * CAPS. */
void smtp_caps_parse_line(struct smtp_caps *caps, const char *line);

/*
 * Like smtp_connect, over an already-connected socket FD (unit tests:
 * one end of a socketpair). The session owns FD from the call on, also
 * when it fails.
 */
int smtp_connect_fd(const struct smtp_params *p, int fd,
    struct smtp_session **out, struct smtp_error *err);

#endif
