/*
 * probe_cmds — the few extra verbs `outboxfs --probe` needs on an open
 * SMTP session: AUTH run on its own (so the probe can show the TLS
 * details first), and one command with its reply (MAIL FROM, RCPT TO,
 * RSET) without a message.
 *
 * Error convention as in smtp.h: 0, or -1 with *err filled.
 */
#ifndef OUTBOXFS_PROBE_CMDS_H
#define OUTBOXFS_PROBE_CMDS_H

#include "smtp/smtp.h"

/*
 * Runs the AUTH exchange as smtp_connect would, with the mechanism in
 * the session's params (the caller sets p->auth_mech before; P is the
 * caller's and was borrowed by smtp_connect). 0 also when auth_mech is
 * NULL.
 */
int smtp_probe_auth(struct smtp_session *s, struct smtp_error *err);

/*
 * Sends LINE ("MAIL FROM:<a@b>", "RCPT TO:<c@d>", "RSET"; STEP names it)
 * and reads the reply within the RFC 5321 timeout of that command.
 * Returns 0 for a 2xx reply, -1 with *err filled otherwise (the reply's
 * code in err->code). The lines go to the transcript as usual.
 */
int smtp_probe_cmd(struct smtp_session *s, const char *step,
    const char *line, struct smtp_error *err);

#endif
