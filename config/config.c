/*
 * config — struct cfg and its accounts: creating and freeing them, the
 * names an account may have, finding one by name (following "account
 * default : X"), by From address, or the default one, and the values
 * derived from one (its port, the spool directory, why it cannot send).
 * The keyword table is in table.c, the file syntax in parse.c.
 *
 * Must never: print, keep global mutable state, or free a password
 * without wiping it first (cfg_account_clear does).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"

void cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
	/* A message cut by errlen is still NUL-terminated; nothing to do. */
}

/* ---- names ------------------------------------------------------------ */

const char *cfg_name_problem(const char *name, size_t len)
{
	static const char *const bad_ends[] = { ".status", ".swp", ".tmp" };

	if (len == 0)
		return "is empty";
	if (len > CFG_MAX_NAME)
		return "is longer than 255 bytes";
	if (name[0] == '.')
		return "starts with `.`";
	if (name[0] == '#' || name[len - 1] == '~')
		return "looks like an editor's scratch file";
	for (size_t i = 0; i < CFG_NELEM(bad_ends); i++) {
		size_t l = strlen(bad_ends[i]);
		if (len >= l && memcmp(name + len - l, bad_ends[i], l) == 0)
			return "ends like a reserved or scratch file name";
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x21 || c == 0x7f)
			return "contains a space or control character";
		if (c == '/' || c == ':' || c == ',' || c == '"' || c == '\\')
			return "contains one of / : , \" \\";
	}
	return NULL;
}

struct cfg_account *cfg_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (strcmp(cfg->accounts[i].name, name) == 0)
			return &cfg->accounts[i];
	return NULL;
}

struct cfg_account *cfg_resolve(const struct cfg *cfg, const char *name)
{
	struct cfg_account *a = cfg_find(cfg, name);

	if (a == NULL && strcmp(name, "default") == 0 &&
	    cfg->default_account != NULL)
		a = cfg_find(cfg, cfg->default_account);
	return a;
}

/* ---- the list of accounts --------------------------------------------- */

struct cfg_account *cfg_append(struct cfg *cfg, const char *name,
    size_t len, const char *where, char *err, size_t errlen)
{
	struct cfg_account *a;

	if (cfg->naccounts >= CFG_MAX_ACCOUNTS) {
		cfg_err(err, errlen, "%s: more than %u accounts; merge some of "
		    "them", where, CFG_MAX_ACCOUNTS);
		return NULL;
	}
	if ((cfg->naccounts & (cfg->naccounts - 1)) == 0) {
		/* Grow at powers of two: 0, 1, 2, 4, ... */
		size_t cap = cfg->naccounts ? cfg->naccounts * 2 : 1;
		struct cfg_account *na = realloc(cfg->accounts,
		    cap * sizeof(*na));
		if (na == NULL) {
			cfg_err(err, errlen, "%s: out of memory", where);
			return NULL;
		}
		cfg->accounts = na;
	}
	a = &cfg->accounts[cfg->naccounts];
	cfg_account_defaults(a);
	if (cfg_copy_keys(a, &cfg->defaults, UINT64_MAX) != 0) {
		cfg_account_clear(a);
		cfg_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	a->set = cfg->defaults.set;
	a->name = strndup(name, len);
	if (a->name == NULL) {
		cfg_account_clear(a);
		cfg_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	a->file = cfg->file;
	cfg->naccounts++;
	return a;
}

void cfg_init(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg_account_defaults(&cfg->defaults);
}

struct cfg_account *cfg_add_account(struct cfg *cfg, const char *name,
    char *err, size_t errlen)
{
	size_t len = strlen(name);
	const char *why = cfg_name_problem(name, len);

	if (why != NULL) {
		cfg_err(err, errlen, "account name `%.64s` %s; use letters, "
		    "digits, `-`, `_`, `.` or `@`", name, why);
		return NULL;
	}
	if (cfg_resolve(cfg, name) != NULL) {
		cfg_err(err, errlen, "account `%s` is already defined; give "
		    "this one another name", name);
		return NULL;
	}
	return cfg_append(cfg, name, len, "account", err, errlen);
}

void cfg_free(struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->naccounts; i++)
		cfg_account_clear(&cfg->accounts[i]);
	free(cfg->accounts);
	cfg_account_clear(&cfg->defaults);
	free(cfg->file);
	free(cfg->default_account);
	free(cfg->ignored);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- choosing an account ---------------------------------------------- */

const struct cfg_account *cfg_account(const struct cfg *cfg, const char *name)
{
	const struct cfg_account *a;

	if (cfg == NULL || cfg->naccounts == 0)
		return NULL;
	if (name != NULL)
		return cfg_resolve(cfg, name);
	if (cfg->default_account != NULL &&
	    (a = cfg_find(cfg, cfg->default_account)) != NULL)
		return a;
	if ((a = cfg_find(cfg, "default")) != NULL)
		return a;
	return &cfg->accounts[0];
}

int cfg_spool_path(const struct cfg_account *def, char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (def && def->spool)
		n = snprintf(buf, cap, "%s", def->spool);
	else if (xdg && xdg[0])
		n = snprintf(buf, cap, "%s/outboxfs/spool", xdg);
	else if (home && home[0])
		n = snprintf(buf, cap, "%s/.local/share/outboxfs/spool", home);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

const struct cfg_account *cfg_account_for_from(const struct cfg *cfg,
    const char *addr)
{
	if (cfg == NULL || addr == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (cfg->accounts[i].from != NULL &&
		    strcasecmp(cfg->accounts[i].from, addr) == 0)
			return &cfg->accounts[i];
	return NULL;
}

unsigned cfg_port(const struct cfg_account *acct)
{
	if (acct->port != 0)
		return acct->port;
	if (acct->tls && !acct->tls_starttls)
		return 465;
	if (acct->tls)
		return 587;
	return 25;
}

const char *cfg_unusable(const struct cfg_account *a)
{
	if (a->proxy_host != NULL)
		return "proxy_host is set, and outboxfs cannot connect through "
		    "a SOCKS proxy: remove proxy_host from this account (or "
		    "send its mail with msmtp)";
	if (a->socket != NULL)
		return "socket is set, and outboxfs connects over TCP only: "
		    "remove socket and set host and port";
	return NULL;
}
