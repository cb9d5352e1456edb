/*
 * auth — the SMTP AUTH exchange (RFC 4954) of a session: picks the
 * mechanism, runs the SASL steps of sasl.c over the connection, and
 * turns the outcome into an smtp_error. The session hook smtp_auth of
 * auth.h; talks to the server only through chat.h.
 *
 * Must never: send credentials over a connection that is neither TLS
 * with a verified certificate nor to a loopback address, show a
 * response the client sends in the transcript or in an error, or keep
 * a secret in memory it frees.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "smtp/auth.h"
#include "smtp/chat.h"
#include "smtp/sasl.h"
#include "smtp/tls.h"

#define AUTH_MAX_ROUNDS  8
#define AUTH_SHOWN       "[credentials hidden]"

int smtp_addr_is_local(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_UNIX)
		return 1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0xff, 0xff };

		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return 1;
		return memcmp(a->sin6_addr.s6_addr, v4mapped, 12) == 0 &&
		    a->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

/* 1 when the socket's peer is a loopback address (or a local socket):
 * the address connected to, not the name, decides. */
static int auth_peer_is_local(const struct smtp_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(io_fd(s->io), (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return smtp_addr_is_local((const struct sockaddr *)&ss);
}

/* The reply text after "334 " of the last line, or "". */
static const char *auth_challenge(const struct smtp_session *s)
{
	const char *l = s->reply.nlines ?
	    reply_line(&s->reply, s->reply.nlines - 1) : NULL;

	if (l == NULL || strlen(l) < 4)
		return "";
	return l + 4;
}

static const char *auth_last_line(const struct smtp_session *s)
{
	return s->reply.nlines ?
	    reply_line(&s->reply, s->reply.nlines - 1) : "";
}

/* Sends "*" to abandon the exchange (RFC 4954 4) and reads the answer
 * (a 421 there retires the session); then fills *err. */
static int auth_cancel(struct smtp_session *s, enum smtp_fail fail,
    int temporary, const char *why, struct smtp_error *err)
{
	struct smtp_error ignored;

	if (smtp_cmd(s, "AUTH", "*", NULL, &ignored) == 0 &&
	    smtp_read_reply(s, "AUTH", smtp_timeout_command(s),
	    &ignored) == 0 && s->reply.code == 421)
		smtp_state(s, SMTP_ST_BROKEN);
	return smtp_fail(err, fail, temporary, "AUTH", "%s", why);
}

/* Sends one response (RESP, LEN bytes) base64-encoded, hidden. */
static int auth_send(struct smtp_session *s, const char *prefix,
    const unsigned char *resp, size_t len, struct smtp_error *err)
{
	char *b64 = NULL, *line;
	size_t n;
	int rc, w;

	if (sasl_b64_encode(resp, len, &b64) != 0)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "AUTH",
		    "AUTH: out of memory");
	/* RFC 4954 4: an empty initial response is sent as "=" (so one
	 * byte more than the base64 text: prefix, ' ', "=", NUL) */
	n = strlen(prefix) + strlen(b64) + 3;
	line = malloc(n);
	if (line == NULL) {
		sasl_wipe((unsigned char *)b64, strlen(b64));
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "AUTH",
		    "AUTH: out of memory");
	}
	if (prefix[0] != '\0')
		w = snprintf(line, n, "%s %s", prefix, b64[0] ? b64 : "=");
	else
		w = snprintf(line, n, "%s", b64);
	if (w < 0 || (size_t)w >= n) {
		sasl_wipe((unsigned char *)line, n);
		sasl_wipe((unsigned char *)b64, strlen(b64));
		return smtp_fail(err, SMTP_FAIL_LOCAL, 1, "AUTH",
		    "AUTH: response too long");
	}
	if (prefix[0] != '\0') {
		char shown[96];

		snprintf(shown, sizeof(shown), "%s %s", prefix, AUTH_SHOWN);
		rc = smtp_cmd(s, "AUTH", line, shown, err);
	} else {
		rc = smtp_cmd(s, "AUTH", line, AUTH_SHOWN, err);
	}
	sasl_wipe((unsigned char *)line, strlen(line));
	sasl_wipe((unsigned char *)b64, strlen(b64));
	return rc;
}

/* Chooses the mechanism; NULL with *err filled when there is none. */
static const char *auth_choose(struct smtp_session *s,
    struct smtp_error *err)
{
	const char *want = s->p->auth_mech;
	const char *offer = s->caps.auth;
	const char *m;

	if (offer[0] == '\0') {
		smtp_fail(err, SMTP_FAIL_AUTH, 0, "AUTH", "the server offers "
		    "no authentication (no AUTH in its EHLO reply)%s",
		    s->tls_desc[0] ? "" : "; it may offer it only over TLS");
		return NULL;
	}
	if (want[0] == '\0') {
		m = sasl_pick(offer);
		if (m == NULL)
			smtp_fail(err, SMTP_FAIL_AUTH, 0, "AUTH", "no "
			    "authentication mechanism in common: the server "
			    "offers %s; outboxfs has SCRAM-SHA-256 SCRAM-SHA-1 "
			    "CRAM-MD5 PLAIN LOGIN (XOAUTH2 OAUTHBEARER when "
			    "named)", offer);
		return m;
	}
	if (!sasl_supported(want)) {
		smtp_fail(err, SMTP_FAIL_LOCAL, 0, "AUTH", "auth %s: unknown "
		    "mechanism; use on, scram-sha-256, scram-sha-1, cram-md5, "
		    "plain, login, xoauth2 or oauthbearer", want);
		return NULL;
	}
	if (!sasl_offered(offer, want)) {
		smtp_fail(err, SMTP_FAIL_AUTH, 0, "AUTH", "the server does "
		    "not offer %s: it offers %s", want, offer);
		return NULL;
	}
	return want;
}

/* Turns a final non-235 reply into *err. */
static int auth_refused(struct smtp_session *s, const struct sasl *x,
    struct smtp_error *err)
{
	int c = s->reply.code;
	const char *oauth = sasl_server_error(x);

	if (c >= 400 && c < 500)
		return smtp_reply_error(s, "AUTH", err);
	if (c == 535)
		smtp_fail(err, SMTP_FAIL_AUTH, 1, "AUTH", "login refused "
		    "(%s): check user and password%s%s", auth_last_line(s),
		    oauth[0] ? "; server said " : "", oauth);
	else
		smtp_fail(err, SMTP_FAIL_AUTH, 0, "AUTH", "server answered "
		    "AUTH %s with %s", sasl_name(x), auth_last_line(s));
	err->code = c;
	snprintf(err->enh, sizeof(err->enh), "%s", s->reply.enh);
	return -1;
}

static int auth_run(struct smtp_session *s, struct sasl *x,
    struct smtp_error *err)
{
	unsigned char *resp = NULL, *chal = NULL;
	size_t resplen = 0, challen = 0;
	char why[300], prefix[48];
	const char *c64;
	int round, rc;

	snprintf(prefix, sizeof(prefix), "AUTH %s", sasl_name(x));
	if (sasl_start(x, &resp, &resplen, why, sizeof(why)) < 0)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "AUTH", "%s", why);
	if (resp != NULL) {
		rc = auth_send(s, prefix, resp, resplen, err);
		sasl_wipe(resp, resplen);
	} else {
		rc = smtp_cmd(s, "AUTH", prefix, NULL, err);
	}
	if (rc < 0)
		return -1;
	for (round = 0;; round++) {
		if (smtp_read_reply(s, "AUTH", smtp_timeout_command(s),
		    err) < 0)
			return -1;
		if (s->reply.code == 235)
			break;
		if (s->reply.code != 334)
			return auth_refused(s, x, err);
		if (round >= AUTH_MAX_ROUNDS)
			return auth_cancel(s, SMTP_FAIL_PROTO, 1, "AUTH: the "
			    "server keeps sending challenges", err);
		c64 = auth_challenge(s);
		if (sasl_b64_decode(c64, strlen(c64), &chal, &challen) < 0)
			return auth_cancel(s, SMTP_FAIL_PROTO, 1, "AUTH: the "
			    "server's challenge is not valid base64", err);
		rc = sasl_step(x, chal, challen, &resp, &resplen, why,
		    sizeof(why));
		sasl_wipe(chal, challen);
		if (rc < 0)
			return auth_cancel(s, SMTP_FAIL_AUTH, 1, why, err);
		rc = auth_send(s, "", resp, resplen, err);
		sasl_wipe(resp, resplen);
		if (rc < 0)
			return -1;
	}
	if (sasl_done(x, why, sizeof(why)) < 0)
		return smtp_fail(err, SMTP_FAIL_AUTH, 1, "AUTH", "%s", why);
	return 0;
}

int smtp_auth(struct smtp_session *s, struct smtp_error *err)
{
	const struct smtp_params *p = s->p;
	struct tls_info info;
	struct sasl_params sp;
	struct sasl *x = NULL;
	const char *mech;
	char why[300];
	size_t i, n;
	int rc;

	if (p->auth_mech == NULL)
		return 0;
	if (p->user == NULL || p->user[0] == '\0' || p->secret == NULL)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "AUTH", "auth is on "
		    "but %s is not set", p->user == NULL || !p->user[0] ?
		    "user" : "password (or passwordeval)");
	/* Credentials only inside verified TLS, or to this machine. */
	if ((smtp_tls_info(s, &info) < 0 || !info.verified) &&
	    !auth_peer_is_local(s))
		return smtp_fail(err, SMTP_FAIL_AUTH, 1, "AUTH", "not sending "
		    "credentials to %s over a connection that is %s: set tls "
		    "on%s", p->host ? p->host : "the server",
		    smtp_tls_info(s, &info) < 0 ? "not encrypted" :
		    "encrypted but unverified (tls_certcheck off)",
		    smtp_tls_info(s, &info) < 0 ? "" :
		    ", and tls_certcheck on or tls_fingerprint");
	mech = auth_choose(s, err);
	if (mech == NULL)
		return -1;
	memset(&sp, 0, sizeof(sp));
	sp.mech = mech;
	sp.user = p->user;
	sp.secret = p->secret;
	sp.host = p->host;
	sp.port = p->port;
	if (sasl_new(&sp, &x, why, sizeof(why)) < 0)
		return smtp_fail(err, SMTP_FAIL_LOCAL, 0, "AUTH", "%s", why);
	rc = auth_run(s, x, err);
	if (rc == 0) {
		n = (size_t)snprintf(s->auth_desc, sizeof(s->auth_desc),
		    "auth=%s", sasl_name(x));
		for (i = 5; i < n && i < sizeof(s->auth_desc); i++)
			s->auth_desc[i] = (char)tolower(
			    (unsigned char)s->auth_desc[i]);
	}
	sasl_free(x);
	return rc;
}
