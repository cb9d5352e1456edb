/* config — placeholder until the parser lands; every call fails. */
#include <string.h>
#include <stdio.h>
#include "config/config.h"

int cfg_parse_file(const char *path, struct cfg *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	snprintf(err, errlen, "%s: configuration parser not built yet", path);
	return -1;
}

int cfg_parse_buffer(const char *name, const char *buf, size_t len,
    struct cfg *out, char *err, size_t errlen)
{
	(void)buf; (void)len;
	return cfg_parse_file(name, out, err, errlen);
}

const struct cfg_account *cfg_account(const struct cfg *cfg, const char *name)
{
	(void)cfg; (void)name;
	return NULL;
}

const struct cfg_account *cfg_account_for_from(const struct cfg *cfg,
    const char *addr)
{
	(void)cfg; (void)addr;
	return NULL;
}

unsigned cfg_port(const struct cfg_account *acct)
{
	return acct->port ? acct->port : 25;
}

int cfg_set(struct cfg_account *acct, const char *keyword, const char *value,
    char *err, size_t errlen)
{
	(void)acct; (void)value;
	snprintf(err, errlen, "%s: not built yet", keyword);
	return -1;
}

void cfg_free(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}
