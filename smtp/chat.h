/*
 * chat — the command/reply layer of an SMTP session: one command out,
 * one reply in, each line to the transcript callback, a failure turned
 * into an smtp_error, the session's state and timeouts. Every file of
 * smtp/ that talks to the server (client.c, client_send.c, tls.c,
 * auth.c, probe_cmds.c) goes through it; it calls only io.c and reply.c,
 * never back up into them (see the layers in session.h).
 *
 * Error convention as in smtp.h: 0, or -1 with *err filled; a failure
 * that leaves the connection out of step also marks the session broken.
 */
#ifndef OUTBOXFS_SMTP_CHAT_H
#define OUTBOXFS_SMTP_CHAT_H

#include "smtp/session.h"

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

/* smtp_timeout_connect before there is a session: of P. */
int smtp_connect_timeout(const struct smtp_params *p);

/* Sends one transcript line (DIR 'C' or 'S') to the callback and, while
 * in the prologue, to s->prologue. LINE borrowed. While s->ahead_hold is
 * set the line is kept instead, for smtp_ahead_replay. */
void smtp_log(struct smtp_session *s, char dir, const char *line);
/* The lines kept while s->ahead_hold was set, logged now (to the
 * session's tag at this moment), and forgotten. */
void smtp_ahead_replay(struct smtp_session *s);

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

#endif
