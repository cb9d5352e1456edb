/*
 * acct — maps an account of the configuration onto smtp/'s parameters.
 * See acct.h. No network I/O: the canonical host name is looked up only
 * when /etc/hosts has the host name (getaddrinfo then answers from the
 * file), else the host name is used as it is.
 */
#include <ctype.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs/acct.h"

static void acct_copy(char *dst, size_t cap, const char *src)
{
	if (snprintf(dst, cap, "%s", src != NULL ? src : "") >= (int)cap)
		dst[0] = '\0';          /* too long to be a name: none */
}

/* 1 when NAME is a name (not a comment or an address) on a line of
 * /etc/hosts. */
static int acct_in_hosts(const char *name)
{
	FILE *f = fopen("/etc/hosts", "re");
	char line[1024];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *tok, *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		tok = strtok_r(line, " \t\r\n", &save);   /* the address */
		while (tok != NULL &&
		    (tok = strtok_r(NULL, " \t\r\n", &save)) != NULL)
			if (strcasecmp(tok, name) == 0)
				found = 1;
	}
	fclose(f);
	return found;
}

/* The first line of /etc/mailname when it is a plain domain name. */
static void acct_mailname(char *out, size_t cap)
{
	FILE *f = fopen("/etc/mailname", "re");
	char line[256];
	size_t n;

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)line[i]) &&
			    line[i] != '-' && line[i] != '.')
				n = 0;
		if (n > 0)
			acct_copy(out, cap, line);
	}
	fclose(f);
}

void acct_host_info(struct acct_host *h)
{
	const char *u = getenv("USER");
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	memset(h, 0, sizeof(*h));
	if (u == NULL || u[0] == '\0')
		u = getenv("LOGNAME");
	if ((u == NULL || u[0] == '\0') &&
	    getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
	    res != NULL)
		u = res->pw_name;
	acct_copy(h->user, sizeof(h->user), u);
	if (gethostname(h->host, sizeof(h->host)) != 0)
		h->host[0] = '\0';
	h->host[sizeof(h->host) - 1] = '\0';
	if (h->host[0] == '\0')
		acct_copy(h->host, sizeof(h->host), "localhost");
	acct_copy(h->canon, sizeof(h->canon), h->host);
	if (acct_in_hosts(h->host)) {
		struct addrinfo hints, *ai = NULL;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(h->host, NULL, &hints, &ai) == 0 &&
		    ai != NULL && ai->ai_canonname != NULL &&
		    ai->ai_canonname[0] != '\0')
			acct_copy(h->canon, sizeof(h->canon),
			    ai->ai_canonname);
		if (ai != NULL)
			freeaddrinfo(ai);
	}
	acct_mailname(h->mailname, sizeof(h->mailname));
	if (h->mailname[0] == '\0')
		acct_copy(h->mailname, sizeof(h->mailname), h->canon);
}

int acct_resolve_all(struct cfg *cfg, const struct acct_host *h, char *err,
    size_t errlen)
{
	struct cfg_subst v = { h->user, h->host, h->canon, h->mailname };

	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct cfg_account *a = &cfg->accounts[i];
		char *from = NULL;

		if (cfg_resolve_from(a, &v, &from, err, errlen) != 0)
			return -1;
		free(a->from);
		a->from = from;
	}
	return 0;
}

const char *acct_qualify_domain(const struct cfg_account *a)
{
	if (a != NULL && a->maildomain != NULL && a->maildomain[0] != '\0')
		return a->maildomain;
	if (a != NULL && a->domain != NULL && a->domain[0] != '\0')
		return a->domain;
	return "localhost";
}

static const char *const *acct_alias(void *ctx, const char *local, size_t *n)
{
	return cfg_alias_lookup(ctx, local, n);
}

void acct_msg_params(const struct cfg_account *a, int64_t when,
    struct msg_params *p)
{
	memset(p, 0, sizeof(*p));
	p->now = (time_t)when;
	p->qualify_domain = acct_qualify_domain(a);
	if (a == NULL)
		return;
	p->from = a->from;
	p->domain = a->domain;
	p->max_size = a->max_size;
	p->no_from_override = !a->allow_from_override;
	if (a->alias_tab != NULL) {
		p->alias = acct_alias;
		p->alias_ctx = a->alias_tab;
	}
	p->set_from = a->set_from_header == CFG_TRI_ON ? MSG_HDR_ON :
	    a->set_from_header == CFG_TRI_OFF ? MSG_HDR_OFF : MSG_HDR_AUTO;
	p->from_full_name = a->from_full_name;
	p->undisclosed = a->undisclosed_recipients;
	p->keep_bcc = !a->remove_bcc_headers;
	p->no_date = a->set_date_header == CFG_TRI_OFF;
	p->no_msgid = a->set_msgid_header == CFG_TRI_OFF;
	p->dsn_notify = a->dsn_notify;
	p->dsn_ret = a->dsn_return;
}

void acct_smtp_params(const struct cfg_account *a, struct smtp_params *p,
    char *port, size_t portlen)
{
	int t = a->timeout ? (int)(a->timeout > 86400 ? 86400 : a->timeout) *
	    1000 : 0;
	struct cfg_tls_prio tp;
	int lvl;

	memset(p, 0, sizeof(*p));
	snprintf(port, portlen, "%u", cfg_port(a));
	p->host = a->host;
	p->port = port;
	p->helo = a->domain;
	p->timeouts.connect = p->timeouts.greeting = p->timeouts.command = t;
	p->timeouts.mail = p->timeouts.rcpt = p->timeouts.data = t;
	p->timeouts.block = p->timeouts.dot = t;
	p->tls = !a->tls ? SMTP_TLS_OFF : a->tls_starttls ? SMTP_TLS_STARTTLS :
	    SMTP_TLS_IMPLICIT;
	p->tls_certcheck = a->tls_certcheck;
	p->tls_trust_file = a->tls_trust_file &&
	    strcmp(a->tls_trust_file, "system") != 0 ? a->tls_trust_file : NULL;
	p->tls_fingerprint = a->tls_fingerprint;
	p->tls_cert_file = a->tls_cert_file;
	p->tls_key_file = a->tls_key_file;
	p->tls_host = a->tls_host_override;
	p->tls_crl_file = a->tls_crl_file;
	/* checked when the file was read: cannot fail here */
	if (a->tls_priorities != NULL &&
	    cfg_tls_priorities(a->tls_priorities, &tp, NULL, 0) == 0) {
		p->tls_min_version = tp.min_version;
		p->tls_max_version = tp.max_version;
		p->tls_seclevel = tp.seclevel;
		p->tls_no_tickets = tp.no_tickets;
	}
	lvl = cfg_dh_seclevel(a->tls_min_dh_prime_bits);
	if (lvl > p->tls_seclevel)
		p->tls_seclevel = lvl;
	p->source_ip = a->source_ip;
	p->refuse = cfg_unusable(a);
	p->auth_mech = a->auth == CFG_AUTH_OFF ? NULL :
	    a->auth == CFG_AUTH_ON ? "" : a->auth_mech;
	p->user = a->user;
}

void acct_hostport(const struct cfg_account *a, char *buf, size_t cap)
{
	char port[16];

	snprintf(port, sizeof(port), "%u", cfg_port(a));
	smtp_hostport(a->host != NULL ? a->host : "?", port, buf, cap);
}
