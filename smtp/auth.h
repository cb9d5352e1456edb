/*
 * auth — the SMTP AUTH exchange of a session (RFC 4954): the session
 * hook smtp_auth (see session.h), which picks the mechanism, runs the
 * SASL steps of sasl.h over chat.h, and refuses to send credentials
 * where they could be read.
 *
 * Error convention as in smtp.h: 0, or -1 with *err filled.
 */
#ifndef OUTBOXFS_SMTP_AUTH_H
#define OUTBOXFS_SMTP_AUTH_H

struct smtp_error;
struct smtp_session;
struct sockaddr;

/*
 * The whole AUTH exchange with the mechanism of s->p->auth_mech ("" =
 * the strongest both sides have); 0 at once when it is NULL. Sets
 * s->auth_desc ("auth=plain") on success.
 */
int smtp_auth(struct smtp_session *s, struct smtp_error *err);

/*
 * 1 when SA (a peer address) is loopback: 127.0.0.0/8, ::1, an
 * IPv4-mapped 127.x, or a local (AF_UNIX) socket. The one place AUTH
 * may go without verified TLS.
 */
int smtp_addr_is_local(const struct sockaddr *sa);

#endif
