/*
 * log — syslog or stderr lines for the daemon. Keeps only the settings
 * chosen at start-up (written once before any thread starts).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <paths.h>
#include <sys/stat.h>
#include <syslog.h>
#include <pthread.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fs/log.h"

static int log_to_stderr = 1;
static int log_off;             /* `syslog off` in the background */
static int log_show_debug;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char *name;
	int value;
} log_facilities[] = {
	{ "LOG_MAIL", LOG_MAIL }, { "LOG_USER", LOG_USER },
	{ "LOG_DAEMON", LOG_DAEMON },
	{ "LOG_LOCAL0", LOG_LOCAL0 }, { "LOG_LOCAL1", LOG_LOCAL1 },
	{ "LOG_LOCAL2", LOG_LOCAL2 }, { "LOG_LOCAL3", LOG_LOCAL3 },
	{ "LOG_LOCAL4", LOG_LOCAL4 }, { "LOG_LOCAL5", LOG_LOCAL5 },
	{ "LOG_LOCAL6", LOG_LOCAL6 }, { "LOG_LOCAL7", LOG_LOCAL7 },
};

int log_facility(const char *name)
{
	size_t i;

	if (name == NULL || strcasecmp(name, "on") == 0)
		return LOG_MAIL;
	if (strcasecmp(name, "off") == 0)
		return LOG_FACILITY_OFF;
	for (i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]); i++)
		if (strcasecmp(name, log_facilities[i].name) == 0 ||
		    strcasecmp(name, log_facilities[i].name + 4) == 0)
			return log_facilities[i].value;
	return -1;
}

/* In the background with no syslog socket: the lines go to this file
 * (the default account's logfile), or nowhere, as the mount warned. */
static char log_fallback[4096];

void log_init(const char *facility, int to_stderr, int debug,
    const char *logfile)
{
	int f = log_facility(facility);
	struct stat st;

	log_to_stderr = to_stderr;
	log_show_debug = debug;
	log_off = !to_stderr && f == LOG_FACILITY_OFF;
	if (to_stderr || log_off)
		return;
	if (stat(_PATH_LOG, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (logfile && strcmp(logfile, "-") != 0 &&
		    strlen(logfile) < sizeof(log_fallback)) {
			snprintf(log_fallback, sizeof(log_fallback), "%s",
			    logfile);
			fprintf(stderr, "outboxfs: no syslog socket (%s): the "
			    "log goes to %s\n", _PATH_LOG, logfile);
		} else {
			fprintf(stderr, "outboxfs: no syslog socket (%s): in "
			    "the background the log goes nowhere; set logfile "
			    "in the configuration, or run with -f\n",
			    _PATH_LOG);
		}
		return;
	}
	openlog("outboxfs", LOG_PID | LOG_NDELAY, f < 0 ? LOG_MAIL : f);
}

/*
 * One event, one line: a control byte (a file name may hold a newline)
 * is shown as '?', so no value can start a forged line of its own.
 */
static void log_clean(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

static void log_vline(int prio, const char *fmt, va_list ap, int errnum)
{
	char line[2048], ebuf[128];
	int n;

	if (log_off)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
		    strerror_r(errnum, ebuf, sizeof(ebuf)));
	log_clean(line, sizeof(line));
	if (log_to_stderr) {
		pthread_mutex_lock(&log_mu);
		fprintf(stderr, "outboxfs: %s\n", line);
		pthread_mutex_unlock(&log_mu);
	} else if (log_fallback[0]) {
		log_file(log_fallback, "outboxfs[%ld]: %s", (long)getpid(),
		    line);
	} else {
		syslog(prio, "%s", line);
	}
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_show_debug)
		return;
	va_start(ap, fmt);
	log_vline(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

/* Appends N bytes to PATH; -1 when it could not. */
static int log_append(const char *path, const char *line, size_t n)
{
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, line, n) != (ssize_t)n)
		rc = -1;
	close(fd);
	return rc;
}

void log_file(const char *path, const char *fmt, ...)
{
	char line[2048];
	struct tm tm;
	time_t now = time(NULL);
	size_t n = 0;
	va_list ap;
	int w;

	if (localtime_r(&now, &tm) != NULL)
		n = strftime(line, sizeof(line), "%b %d %H:%M:%S ", &tm);
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	n += (size_t)w < sizeof(line) - n - 1 ? (size_t)w :
	    sizeof(line) - n - 2;
	log_clean(line, n);
	line[n++] = '\n';
	if (log_append(path, line, n) < 0 && !log_fallback[0])
		log_warn("logfile %s", path);   /* never into itself */
}
