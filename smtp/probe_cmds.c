/*
 * probe_cmds — AUTH on its own and single commands for `outboxfs
 * --probe`. See probe_cmds.h.
 *
 * Must never send message data: the probe ends every transaction with
 * RSET.
 */
#include <string.h>

#include "smtp/auth.h"
#include "smtp/chat.h"
#include "smtp/probe_cmds.h"

int smtp_probe_auth(struct smtp_session *s, struct smtp_error *err)
{
	memset(err, 0, sizeof(*err));
	if (s->p->auth_mech == NULL)
		return 0;
	smtp_state(s, SMTP_ST_AUTH);
	if (smtp_auth(s, err) < 0)
		return -1;
	smtp_state(s, SMTP_ST_READY);
	return 0;
}

int smtp_probe_cmd(struct smtp_session *s, const char *step,
    const char *line, struct smtp_error *err)
{
	int tmo;

	memset(err, 0, sizeof(*err));
	if (strncmp(line, "MAIL", 4) == 0) {
		smtp_state(s, SMTP_ST_MAIL);
		tmo = smtp_timeout_mail(s);
	} else if (strncmp(line, "RCPT", 4) == 0) {
		smtp_state(s, SMTP_ST_RCPT);
		tmo = smtp_timeout_rcpt(s);
	} else {
		smtp_state(s, SMTP_ST_RSET);
		tmo = smtp_timeout_command(s);
	}
	if (smtp_cmd(s, step, line, NULL, err) < 0 ||
	    smtp_read_reply(s, step, tmo, err) < 0)
		return -1;
	if (s->reply.code < 200 || s->reply.code > 299)
		return smtp_reply_error(s, step, err);
	return 0;
}
