/*
 * log — the daemon's log: one line per event, to syslog or (with -f) to
 * stderr. log_warn appends strerror(errno); log_warnx does not.
 *
 * Never logs a password or an AUTH exchange: callers pass only what a
 * status file may show. Safe to call from any thread.
 */
#ifndef OUTBOXFS_LOG_H
#define OUTBOXFS_LOG_H

/*
 * FACILITY: a syslog facility name ("LOG_MAIL", "LOG_USER", "LOG_LOCAL0"
 * .. "LOG_LOCAL7"), NULL for LOG_MAIL, or "off" for no log at all in the
 * background (`syslog off` written in the configuration). TO_STDERR:
 * write to stderr instead of syslog. DEBUG: log_debug lines are shown.
 */
/* LOGFILE: where the lines go in the background when there is no syslog
 * socket (NULL: nowhere, and a warning on stderr says so). */
void log_init(const char *facility, int to_stderr, int debug,
    const char *logfile);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Appends one line, prefixed with the local time as msmtp does
 * ("Nov 28 16:00:00 "), to the file PATH (an account's `logfile`;
 * created 0600 when missing). Failures are reported with log_warn.
 */
void log_file(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_FACILITY_OFF (-2)

/* A syslog facility value from its name; LOG_FACILITY_OFF for "off";
 * -1 when unknown. */
int log_facility(const char *name);

#endif
