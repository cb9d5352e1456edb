/*
 * fuzz_config — feeds arbitrary bytes to the configuration parser and
 * checks the promises of config.h: a failed parse leaves nothing behind
 * and a one-line, terminated message; a good parse yields accounts whose
 * names obey the directory rules and whose values stay within the limits
 * the keyword table allows. Then every account goes through cfg_set,
 * cfg_check and the lookups. passwordeval is never run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static void fuzz_account(const struct cfg *c, struct cfg_account *a)
{
	char err[256];
	size_t len;

	if (a->name == NULL)
		abort();
	len = strlen(a->name);
	if (len == 0 || len > CFG_MAX_NAME || a->name[0] == '.' ||
	    strchr(a->name, '/') != NULL)
		abort();
	if (cfg_account(c, a->name) == NULL)
		abort();
	if (a->port > 65535 || a->settle_ms > CFG_MAX_SETTLE_MS ||
	    a->connections < 1 || a->connections > CFG_MAX_CONNECTIONS ||
	    a->retry_min < 1 || a->max_queue_time < 1)
		abort();
	if ((a->auth == CFG_AUTH_MECH) != (a->auth_mech != NULL))
		abort();
	if (a->host != NULL && a->host[0] == '\0')
		abort();
	if (cfg_port(a) == 0)
		abort();
	if (a->from != NULL)
		(void)cfg_account_for_from(c, a->from);
	/* the msmtp keys: what the parser accepted maps without error */
	if (a->tls_priorities != NULL) {
		struct cfg_tls_prio tp;

		if (cfg_tls_priorities(a->tls_priorities, &tp, NULL, 0) != 0 ||
		    tp.min_version == 0 || tp.min_version > tp.max_version)
			abort();
	}
	if (a->from != NULL) {
		static const struct cfg_subst v = { "u", "h", "c", "m" };
		char *from = NULL;

		if (cfg_resolve_from(a, &v, &from, err, sizeof(err)) != 0 &&
		    !a->auto_from)
			abort();
		free(from);
	}
	if (a->set_from_header < CFG_TRI_AUTO ||
	    a->set_from_header > CFG_TRI_OFF || a->set_date_header ==
	    CFG_TRI_ON || a->set_msgid_header == CFG_TRI_ON)
		abort();
	if (a->host != NULL && a->host[0] == '[')
		abort();

	memset(err, 'Z', sizeof(err));
	if (cfg_check(a, err, sizeof(err)) != 0 &&
	    (memchr(err, '\0', sizeof(err)) == NULL || strchr(err, '\n')))
		abort();
	/* cfg_set must accept what the parser accepted. */
	if (cfg_set(a, "settle", "0", err, sizeof(err)) != 0 ||
	    a->settle_ms != 0)
		abort();
	if (cfg_set(a, "connections", "999", err, sizeof(err)) != -1 ||
	    a->connections > CFG_MAX_CONNECTIONS)
		abort();
}

/* The same bytes as an aliases file: a failure names the file and line
 * in one terminated line; a lookup never fails. */
static void fuzz_aliases(const uint8_t *data, size_t size)
{
	struct cfg_aliases t;
	char err[512];
	size_t n;

	memset(err, 'Z', sizeof(err));
	if (cfg_aliases_parse("al", (const char *)data, size, &t, err,
	    sizeof(err)) != 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "al:", 3) != 0 || strchr(err, '\n') != NULL)
			abort();
	} else {
		for (size_t i = 0; i < t.n; i++)
			if (cfg_alias_lookup(&t, t.v[i].local, &n) == NULL ||
			    n == 0)
				abort();
	}
	cfg_aliases_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	char err[512];

	fuzz_aliases(data, size);

	memset(err, 'Z', sizeof(err));
	if (cfg_parse_buffer("fuzz.conf", (const char *)data, size, &c, err,
	    sizeof(err)) != 0) {
		if (c.accounts != NULL || c.naccounts != 0 || c.file != NULL ||
		    c.default_account != NULL)
			abort();
		if (memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "fuzz.conf:", 10) != 0 ||
		    strchr(err, '\n') != NULL)
			abort();
		return 0;
	}
	if (c.naccounts > CFG_MAX_ACCOUNTS)
		abort();
	for (size_t i = 0; i < c.naccounts; i++)
		fuzz_account(&c, &c.accounts[i]);
	if (c.naccounts > 0 && cfg_account(&c, NULL) == NULL)
		abort();
	if (c.default_account != NULL &&
	    cfg_account(&c, c.default_account) == NULL)
		abort();
	cfg_free(&c);
	return 0;
}
