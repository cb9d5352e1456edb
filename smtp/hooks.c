/*
 * hooks — stand-ins for the TLS and AUTH hooks of session.h until TLS
 * and SASL support land. DELETE THIS FILE in the same commit that adds
 * smtp_tls_connect, smtp_starttls and smtp_auth (tls.c / auth.c),
 * otherwise the link has duplicate symbols.
 *
 * Each refuses clearly: a session asking for TLS or AUTH must never go
 * on in plain text or without the login it was configured for.
 */
#include "smtp/session.h"

int smtp_tls_connect(struct smtp_session *s, struct smtp_error *err)
{
	(void)s;
	return smtp_fail(err, SMTP_FAIL_TLS, 1, "TLS",
	    "TLS is not supported by this build: set tls off");
}

int smtp_starttls(struct smtp_session *s, struct smtp_error *err)
{
	(void)s;
	return smtp_fail(err, SMTP_FAIL_TLS, 1, "STARTTLS",
	    "STARTTLS is not supported by this build: set tls off");
}

int smtp_auth(struct smtp_session *s, struct smtp_error *err)
{
	(void)s;
	return smtp_fail(err, SMTP_FAIL_AUTH, 1, "AUTH",
	    "AUTH is not supported by this build: set auth off");
}
