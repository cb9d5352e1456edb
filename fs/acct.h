/*
 * acct — from a configured account to what smtp/ needs: the parameters
 * of a connection, of message preparation, and the %U %H %C %M values
 * of `from`, found once at mount.
 *
 * The one place that maps config/ onto smtp/, so the queue, --probe and
 * --check read an account the same way. Must never touch the network:
 * the canonical host name comes from /etc/hosts (through getaddrinfo)
 * or is the host name itself.
 */
#ifndef OUTBOXFS_ACCT_H
#define OUTBOXFS_ACCT_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "smtp/msg.h"
#include "smtp/smtp.h"

/* The values of %U %H %C %M. */
struct acct_host {
	char user[256];             /* $USER, $LOGNAME, else the passwd name */
	char host[256];             /* gethostname */
	char canon[256];            /* canonical name, else host */
	char mailname[256];         /* /etc/mailname, else canon */
};

/* Fills H; never fails (missing parts fall back as described). */
void acct_host_info(struct acct_host *h);

/*
 * Replaces each account's `from` with its resolved value (auto_from,
 * %U %H %C %M). -1 with err naming the account when one cannot be.
 */
int acct_resolve_all(struct cfg *cfg, const struct acct_host *h,
    char *err, size_t errlen);

/* The domain that completes an address without '@': maildomain, else
 * domain, else "localhost" (msmtp's default domain). Borrowed. */
const char *acct_qualify_domain(const struct cfg_account *a);

/* P for msg_prepare (A may be NULL: no account, defaults). */
void acct_msg_params(const struct cfg_account *a, int64_t when,
    struct msg_params *p);

/* P for smtp_connect; PORT (PORTLEN bytes) holds the port text. The
 * callbacks are left NULL for the caller. */
void acct_smtp_params(const struct cfg_account *a, struct smtp_params *p,
    char *port, size_t portlen);

/* "host:port" ("[::1]:25" for IPv6) of A into BUF. */
void acct_hostport(const struct cfg_account *a, char *buf, size_t cap);

#endif
