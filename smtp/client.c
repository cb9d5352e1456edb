/* client — placeholder until the SMTP client lands; every call fails. */
#include <stdio.h>
#include <string.h>
#include "smtp/smtp.h"

const char *smtp_fail_name(enum smtp_fail f)
{
	(void)f;
	return "local";
}

int smtp_connect(const struct smtp_params *p, struct smtp_session **out,
    struct smtp_error *err)
{
	(void)p;
	*out = NULL;
	memset(err, 0, sizeof(*err));
	err->fail = SMTP_FAIL_LOCAL;
	err->temporary = 1;
	snprintf(err->step, sizeof(err->step), "connect");
	snprintf(err->text, sizeof(err->text), "SMTP client not built yet");
	return -1;
}

void smtp_set_tag(struct smtp_session *s, void *tag) { (void)s; (void)tag; }
const struct smtp_caps *smtp_caps(const struct smtp_session *s) { (void)s; return NULL; }
const char *smtp_server_desc(const struct smtp_session *s) { (void)s; return ""; }
const char *smtp_prologue(const struct smtp_session *s) { (void)s; return ""; }

int smtp_send(struct smtp_session *s, const struct msg *m, int fd,
    const char *const *rcpts, size_t nrcpts, struct smtp_result *res,
    struct smtp_error *err)
{
	(void)s; (void)m; (void)fd; (void)rcpts; (void)nrcpts; (void)res;
	memset(err, 0, sizeof(*err));
	err->fail = SMTP_FAIL_LOCAL;
	err->temporary = 1;
	return -1;
}

void smtp_quit(struct smtp_session *s) { (void)s; }
void smtp_close(struct smtp_session *s) { (void)s; }
