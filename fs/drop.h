/*
 * drop — the maildrop: how outboxfs-sendmail hands a message to the
 * daemon, mounted or not (Postfix's postdrop and pickup, nullmailer's
 * queue).
 *
 *   SPOOL/maildrop/NAME          a message waiting for pickup
 *   SPOOL/maildrop/.tmp-NAME     one being written (never picked up)
 *   SPOOL/maildrop/retry.NAME    a trigger: retry deferred mail now
 *
 * NAME is "YYYYmmddTHHMMSS-XXXXXXXX": the UTC time of the drop and 32
 * random bits in hex. A drop file is an envelope block, then the message
 * exactly as the caller gave it:
 *
 *   outboxfs-drop 1
 *   uid 1000                     who dropped it (must own the file)
 *   sender alice@example.com     -f, absent when not given
 *   rcpt bob@example.com         one line per envelope recipient (>= 1)
 *   notify success,failure       -N, -R, -V: DSN asked for, absent when
 *   ret hdrs                       not given (stored with the message,
 *   envid QQ314159                 not sent: see outboxfs-sendmail(8))
 *   size 412                     bytes of message after the end line
 *   end
 *   <size bytes>
 *
 * A value is the rest of its line: bytes 0x20..0x7e and >= 0x80, no
 * control byte. The block ends with a required "end" line and the file
 * must hold exactly SIZE bytes after it, so a cut file is told from a
 * whole one (Postfix's REC_TYPE_END). Unknown keys, repeated keys, a
 * missing uid, size or rcpt are refused: a reader never guesses.
 *
 * Written as a temp file, fsync'd, renamed (never over an existing
 * name), then the directory fsync'd: a name in maildrop/ is always a
 * whole, durable drop.
 *
 * Knows nothing of FUSE, the outbox or SMTP. Error convention: 0 or -1
 * with a one-line reason in err (and errno kept for I/O failures).
 */
#ifndef OUTBOXFS_DROP_H
#define OUTBOXFS_DROP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DROP_DIR        "maildrop"
#define DROP_MAX_HEAD   (512u * 1024)   /* bytes of the envelope block */
#define DROP_MAX_LINE   1024            /* bytes of one of its lines */
#define DROP_MAX_RCPTS  1000
#define DROP_NAME_LEN   24              /* YYYYmmddTHHMMSS-XXXXXXXX */
#define DROP_MAX_ENVID  100

struct drop_env {
	uid_t uid;
	char *sender;             /* NULL: not given */
	char **rcpts;
	size_t nrcpts;
	char *notify;             /* "never" or a list of success, failure,
	                           * delay; NULL: not given */
	char *ret;                /* "full" or "hdrs"; NULL */
	char *envid;              /* xtext-safe, <= DROP_MAX_ENVID; NULL */
	uint64_t size;            /* bytes of message after the block */
};

void drop_env_free(struct drop_env *e);

/* 1 when NAME has the form of a drop's name; 1 for a trigger's name
 * with drop_is_trigger. */
int drop_name_ok(const char *name);
int drop_is_trigger(const char *name);

/* Checks of single values, shared by the parser and the sendmail
 * command: 0 or -1 with err. */
int drop_check_value(const char *v, size_t n, char *err, size_t errlen);
int drop_check_notify(const char *v, char *err, size_t errlen);
int drop_check_ret(const char *v, char *err, size_t errlen);
int drop_check_envid(const char *v, char *err, size_t errlen);

/* The envelope block of E (E->size included), "end\n" last; *out owned
 * by the caller. -1 with err for a value the format cannot hold. */
int drop_format(const struct drop_env *e, char **out, size_t *len,
    char *err, size_t errlen);

/*
 * Parses the envelope block at the start of the LEN bytes of BUF (which
 * may go on with the message; need not be NUL-terminated). Fills *e
 * (zeroed first; nothing to free on error) and *head, the block's
 * length.
 */
int drop_parse(const char *buf, size_t len, struct drop_env *e,
    size_t *head, char *err, size_t errlen);

/*
 * Writes a drop into the directory DIRFD: E's block, the PRELEN bytes
 * of PRE (lines put before the message, may be 0), then the rest of
 * E->size bytes read from BODY_FD at offset 0. Temp file, fsync, rename
 * to a fresh name (copied to NAME, NAMECAP >= DROP_NAME_LEN + 1), fsync
 * of the directory. On failure nothing is left behind.
 */
int drop_write(int dirfd, const struct drop_env *e, const char *pre,
    size_t prelen, int body_fd, char *name, size_t namecap, char *err,
    size_t errlen);

/* Creates a retry trigger in DIRFD. */
int drop_trigger(int dirfd, char *err, size_t errlen);

/* The DSN request of E as one line ("NOTIFY=.. RET=.. ENVID=..") into
 * BUF; "" when none was asked. */
void drop_dsn_text(const struct drop_env *e, char *buf, size_t cap);

#endif
