/*
 * config/check — the mount-time sanity checks of one account.
 *
 * Catches, before any mail is queued, the settings that could only fail
 * later (no host) or that would be unsafe (a password over plain TCP to a
 * remote host). Must never print and never resolve host names: loopback
 * is recognised from the literal only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"

int cfg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[INET6_ADDRSTRLEN + 1];
	size_t len;

	if (host == NULL)
		return 0;
	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(buf))
			return 0;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

void cfg_acct_err(const struct cfg_account *a, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	if (a->file != NULL)
		n = snprintf(err, errlen, "%s:%u: account %s: ", a->file,
		    a->line, a->name != NULL ? a->name : "(unnamed)");
	else
		n = snprintf(err, errlen, "account %s: ",
		    a->name != NULL ? a->name : "(unnamed)");
	if (n < 0) {
		err[0] = '\0';
		n = 0;
	}
	if ((size_t)n >= errlen)
		return;         /* the prefix filled it; still terminated */
	va_start(ap, fmt);
	if (vsnprintf(err + n, errlen - (size_t)n, fmt, ap) < 0)
		err[n] = '\0';
	va_end(ap);
}

int cfg_check(const struct cfg_account *a, char *err, size_t errlen)
{
	/* proxy_host, socket: the account cannot send, and its messages
	 * fail with cfg_unusable's reason; the others still work. */
	if (cfg_unusable(a) != NULL)
		return 0;
	if (a->host == NULL || a->host[0] == '\0') {
		cfg_acct_err(a, err, errlen, "no host is set; add `host "
		    "smtp.example.com` to the account or to `defaults`");
		return -1;
	}
	if (a->auth != CFG_AUTH_OFF && !a->tls && !cfg_is_loopback(a->host)) {
		cfg_acct_err(a, err, errlen, "auth is on but tls is off, so "
		    "the credentials would travel unencrypted to %s; add `tls "
		    "on` (or `auth off` if the server needs no login)",
		    a->host);
		return -1;
	}
	if (a->auth != CFG_AUTH_OFF && a->tls && !a->tls_certcheck &&
	    a->tls_fingerprint == NULL && !cfg_is_loopback(a->host)) {
		cfg_acct_err(a, err, errlen, "auth is on but tls_certcheck is "
		    "off, so the credentials would go to whoever answers for "
		    "%s; pin the server with `tls_fingerprint` or write "
		    "`tls_certcheck on`", a->host);
		return -1;
	}
	if (a->auth != CFG_AUTH_OFF && (a->user == NULL || a->user[0] == '\0')) {
		cfg_acct_err(a, err, errlen, "auth is on but no user is set; "
		    "add `user NAME` (or `auth off`)");
		return -1;
	}
	if (a->auth != CFG_AUTH_OFF && a->password == NULL &&
	    a->passwordeval == NULL) {
		cfg_acct_err(a, err, errlen, "auth is on but neither password "
		    "nor passwordeval is set, and outboxfs cannot ask; add "
		    "`passwordeval \"pass show mail\"` (or `password` in a "
		    "file of mode 600)");
		return -1;
	}
	if (a->tls_cert_file != NULL && a->tls_key_file == NULL) {
		cfg_acct_err(a, err, errlen, "tls_cert_file is set without "
		    "tls_key_file; add `tls_key_file FILE` with the client "
		    "certificate's private key");
		return -1;
	}
	if (a->tls_key_file != NULL && a->tls_cert_file == NULL) {
		cfg_acct_err(a, err, errlen, "tls_key_file is set without "
		    "tls_cert_file; add `tls_cert_file FILE` with the client "
		    "certificate");
		return -1;
	}
	if (a->retry_min > a->retry_max) {
		cfg_acct_err(a, err, errlen, "retry_min (%us) is larger than "
		    "retry_max (%us); make retry_min at most retry_max",
		    a->retry_min, a->retry_max);
		return -1;
	}
	if (a->connections == 0 || a->connections > CFG_MAX_CONNECTIONS) {
		cfg_acct_err(a, err, errlen, "connections is %u; write a "
		    "number from 1 to %u", a->connections, CFG_MAX_CONNECTIONS);
		return -1;
	}
	if (a->settle_ms > CFG_MAX_SETTLE_MS) {
		cfg_acct_err(a, err, errlen, "settle is %u ms, more than a "
		    "minute; write e.g. `settle 300ms`", a->settle_ms);
		return -1;
	}
	return 0;
}
