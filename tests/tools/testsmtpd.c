/*
 * testsmtpd — a fault-injecting SMTP server for the outboxfs tests.
 *
 * It listens on loopback only (127.0.0.1 or ::1) and refuses any other
 * address: it exists to be scripted by tests, never to receive real mail.
 * Each connection is served in its own thread. It never relays, never
 * resolves a name, and exits by itself after --idle-timeout seconds
 * without a client, so a test that forgets it does not leave it forever.
 *
 * The usage text below (also printed by --help) is the contract the
 * tests rely on: options, the reply scripting language, the spool files
 * and the log format.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

static const char tsd_usage[] =
"usage: testsmtpd [options]\n"
"\n"
"A fault-injecting SMTP server for tests, on loopback only.\n"
"\n"
"Listening and lifetime:\n"
"  -l ADDR              127.0.0.1 (default) or ::1; nothing else is allowed\n"
"  -p PORT              port, 0 (default) = ephemeral\n"
"  --port-file FILE     write the bound port (decimal + LF) once listening,\n"
"                       atomically (temp file + rename)\n"
"  --pid-file FILE      write the process id (decimal + LF)\n"
"  -d DIR               save each accepted message as DIR/N.eml + DIR/N.env\n"
"  --log FILE           log every line received (C:) and sent (S:)\n"
"  --max-conns N        accept N connections, then exit when they end\n"
"  --exit-after N       exit after the Nth accepted message (once its\n"
"                       connection ends, or 10 s later at most)\n"
"  --idle-timeout S     exit after S seconds without any client; also the\n"
"                       read timeout of a connection (default 300, 0 = none)\n"
"  --fail-connections N close the first N connections right after accept\n"
"  --hold-dot-reply MS  answer a final dot only once more input has come\n"
"                       (a client that sends the next envelope behind the\n"
"                       dot, RFC 2920), or after MS ms; logs which of the\n"
"                       two it was (plain connections only)\n"
"  --hostname NAME      name in the greeting and EHLO reply (localhost)\n"
"\n"
"Extensions (EHLO advertises PIPELINING, SIZE 104857600, 8BITMIME,\n"
"ENHANCEDSTATUSCODES, SMTPUTF8, DSN by default):\n"
"  --no-pipelining --no-8bitmime --no-smtputf8 --no-dsn\n"
"  --no-enhancedstatuscodes --no-size   leave that one out (a client\n"
"                       that pipelines anyway is logged; BODY=8BITMIME,\n"
"                       SMTPUTF8 and SIZE= then get 555)\n"
"  --size N             advertise and enforce SIZE N\n"
"  --ext TEXT           advertise one more extension line (repeatable)\n"
"  --no-ehlo            answer EHLO with 500; HELO still works\n"
"  --strict-crlf        answer 550 after the final dot when the data held\n"
"                       a bare CR or bare LF (and save nothing); without\n"
"                       it such bytes are accepted and saved as received\n"
"\n"
"TLS and AUTH:\n"
"  --cert FILE --key FILE   enable STARTTLS (advertised before TLS)\n"
"  --implicit-tls       TLS from the first byte (needs --cert/--key)\n"
"  --tls-version V      allow only TLS 1.2 or 1.3 (default: 1.2 and up)\n"
"  --client-ca FILE     ask for a client certificate and verify it\n"
"                       against FILE (PEM); its subject goes to N.env\n"
"  --require-client-cert  fail the handshake without one\n"
"  --auth 'MECHS'       mechanisms to offer, from PLAIN LOGIN CRAM-MD5\n"
"                       SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 OAUTHBEARER;\n"
"                       offered only under TLS unless --auth-plain-ok\n"
"  --auth-plain-ok      offer and accept AUTH without TLS\n"
"  --user U --pass P    the one valid login (P is the token for XOAUTH2\n"
"                       and OAUTHBEARER); without --user every AUTH fails\n"
"  --require-auth       MAIL before a successful AUTH gets 530\n"
"\n"
"Scripted replies (repeatable, first matching rule wins):\n"
"  --reply 'CMD[#N][/MATCH]=REPLY'\n"
"    CMD    GREETING EHLO HELO MAIL RCPT DATA DOT RSET NOOP QUIT STARTTLS\n"
"           AUTH (DOT = the reply after the final dot)\n"
"    #N     only the Nth command matching this rule in the server's\n"
"           lifetime (1-based, counted per rule); absent = every time\n"
"    /MATCH only when the command's argument contains MATCH\n"
"           (case-sensitive; MATCH cannot hold '=', the first '=' ends\n"
"           the rule's head), e.g. RCPT/carol@=550 5.1.1 No such user;\n"
"           for DOT, when the first 16 KB of the message contain it\n"
"           (up to a NUL byte): DOT/Subject: b=554 5.6.0 No\n"
"    REPLY  reply text; a two-character \\n (or a newline) separates\n"
"           lines of a multi-line reply: '250-a\\n250 b'. Special values:\n"
"           close          disconnect without a reply\n"
"           saveclose      (DOT) save the message, then disconnect\n"
"                          without a reply\n"
"           delay:MS:REPLY wait MS milliseconds, then REPLY\n"
"           garbage        send the line 'hello there'\n"
"           huge           send one 250 line of 100000 bytes\n"
"           many           send a 1000-line 250 reply\n"
"           cut:N          (DATA) the normal 354, then disconnect once N\n"
"                          bytes of message data have arrived\n"
"           inject:TEXT    the normal reply and then TEXT (+CRLF) in the\n"
"                          same write (STARTTLS=inject:250 ok)\n"
"  A script changes the reply only: the command's effect (a sender\n"
"  recorded, TLS started, a message saved) happens when both the normal\n"
"  reply and the scripted one are positive (2xx, or 3xx for DATA).\n"
"\n"
"Random faults, replayable:\n"
"  --chaos SEED:PERCENT  at each MAIL command, draw from a generator\n"
"                       seeded with SEED whether this transaction gets a\n"
"                       fault (PERCENT in 100) and which one (each of the\n"
"                       six equally likely):\n"
"           mail-421     MAIL gets 421 4.3.2, then disconnect\n"
"           rcpt-451     every RCPT of the transaction gets 451 4.3.0\n"
"           data-close   DATA: disconnect instead of the 354\n"
"           body-cut     DATA: the 354, then disconnect once a random\n"
"                        number of bytes below MAIL's SIZE= (else 1024)\n"
"                        has arrived, as cut:N\n"
"           dot-451      451 4.3.0 after the final dot; nothing saved\n"
"           saveclose    after the final dot: the message IS saved, then\n"
"                        disconnect without a reply, as saveclose\n"
"  One sequence for the server's lifetime, drawn in the order the MAIL\n"
"  commands arrive (whatever the connection), so the same SEED gives the\n"
"  same faults to the 1st, 2nd, ... transaction. A fault replaces only a\n"
"  positive normal reply, and a matching --reply rule wins over it.\n"
"  Each draw is logged as '# chaos N: FAULT' (N = the draw's number,\n"
"  FAULT a name above or 'none'). SEED: 0 to 2^64-1; PERCENT: 0 to 100.\n"
"\n"
"Spool files, for message N (1, 2, ... in the server's lifetime):\n"
"  DIR/N.eml  the exact bytes between DATA's 354 and the final dot,\n"
"             dot-unstuffed, line endings kept as received\n"
"  DIR/N.env  text lines, in this order:\n"
"               helo: NAME           the EHLO/HELO argument\n"
"               tls: VERSION         only when the session used TLS\n"
"               tls-client: SUBJECT  a verified client certificate\n"
"               auth: MECH USER      only after a successful AUTH\n"
"               from: <addr>         the reverse-path as sent\n"
"               params: P1 P2        MAIL FROM parameters (may be empty)\n"
"               rcpt: <addr>         one per accepted recipient\n"
"               rcpt-params: <addr> P only when RCPT had parameters\n"
"  Both are written to a temp file (DIR/.tmp-*) and renamed; N.eml is\n"
"  renamed first, so once N.env exists, N.eml is complete. A message\n"
"  is saved only when the reply after its final dot is 2xx.\n"
"\n"
"Log format (one line each, flushed at once):\n"
"  C: LINE   a command line received (also AUTH lines, as received)\n"
"  C: [N bytes of message data]   then  C: .   for the DATA content\n"
"  S: LINE   a reply line sent\n"
"  # TEXT    an event: connect, close, tls, improper pipelining\n"
"            ('# improper pipelining after CMD' when a client sent more\n"
"            before a reply it must wait for), bare CR/LF seen in data\n"
"  Nothing is logged until a client connects: an empty log means no\n"
"  connection was made. Server-wide notes go to stderr.\n";

/* Command identifiers, in the order of tsd_cmd_names. */
enum tsd_cmd {
	TSD_GREETING, TSD_EHLO, TSD_HELO, TSD_MAIL, TSD_RCPT, TSD_DATA,
	TSD_DOT, TSD_RSET, TSD_NOOP, TSD_QUIT, TSD_STARTTLS, TSD_AUTH,
	TSD_NCMD
};

static const char *const tsd_cmd_names[TSD_NCMD] = {
	"GREETING", "EHLO", "HELO", "MAIL", "RCPT", "DATA",
	"DOT", "RSET", "NOOP", "QUIT", "STARTTLS", "AUTH",
};

/* The faults of --chaos, in the order of tsd_fault_names. */
enum tsd_fault {
	TSD_F_NONE, TSD_F_MAIL421, TSD_F_RCPT451, TSD_F_DATACLOSE,
	TSD_F_BODYCUT, TSD_F_DOT451, TSD_F_SAVECLOSE, TSD_F_N
};

static const char *const tsd_fault_names[TSD_F_N] = {
	"none", "mail-421", "rcpt-451", "data-close", "body-cut", "dot-451",
	"saveclose",
};

struct tsd_rule {
	enum tsd_cmd cmd;
	long nth;               /* 0 = every time */
	const char *match;      /* NULL = any argument; borrowed from argv */
	const char *reply;      /* borrowed from argv */
	long seen;              /* guarded by tsd_lock */
};

#define TSD_MAX_RULES 64
#define TSD_MAX_EXTS 16
#define TSD_MAX_RCPT 1000
#define TSD_CMD_MAX 1000        /* command line, CRLF included */
#define TSD_AUTH_MAX 12288      /* RFC 4954 4: AUTH lines may be longer */
#define TSD_PATH_MAX 1024

struct tsd_config {
	const char *addr;
	int port;
	const char *port_file, *pid_file, *spool, *log_path, *hostname;
	long max_conns, exit_after, idle_timeout, fail_conns;
	long hold_dot_ms;           /* --hold-dot-reply */
	int pipelining, eightbit, smtputf8, enhanced, dsn, ehlo_ok, size_on;
	unsigned long long size;
	int strict_crlf;
	const char *exts[TSD_MAX_EXTS];
	int n_exts;
	const char *cert, *key;
	int implicit_tls;
	const char *client_ca;
	int require_client_cert;
	int tls_pin;                /* 0, or the one TLS version allowed */
	const char *mechs;
	int auth_plain_ok, require_auth;
	const char *user, *pass;
	struct tsd_rule rules[TSD_MAX_RULES];
	int n_rules;
	int chaos;                  /* --chaos given */
	unsigned chaos_pct;
};

/* Read-only once the server listens. */
static struct tsd_config tsd_cfg;
static SSL_CTX *tsd_ssl_ctx;

/* Shared between connection threads: all guarded by tsd_lock. */
static pthread_mutex_t tsd_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *tsd_logf;
static long tsd_msgs, tsd_conns, tsd_active;
static uint64_t tsd_chaos_state;    /* --chaos generator (splitmix64) */
static long tsd_chaos_draws;
static time_t tsd_idle_since;
static int tsd_wake[2] = { -1, -1 };

struct tsd_conn {
	int fd;
	long id;
	SSL *ssl;
	const char *tls_version;      /* static string from OpenSSL */
	char tls_client[256];         /* verified client certificate subject */
	int dead;                     /* peer gone or write failed */
	unsigned char in[65536];
	size_t ipos, ilen;
	char *out;
	size_t olen, ocap;
	/* session */
	int greeted;                  /* EHLO or HELO accepted */
	int esmtp;
	char helo[256];
	int authed;
	char auth_desc[300];
	int in_tx, tx_utf8;
	char from[TSD_CMD_MAX + 1];
	char params[TSD_CMD_MAX + 1];
	char *rcpts;                  /* "rcpt: ...\n" lines */
	size_t rlen, rcap;
	size_t nrcpt;
	enum tsd_fault fault;         /* --chaos: this transaction's fault */
	uint64_t fault_arg;           /* its random number (body-cut) */
};

/* ---- logging ---------------------------------------------------------- */

static void tsd_log_bytes(const char *prefix, const char *s, size_t n)
{
	pthread_mutex_lock(&tsd_lock);
	if (tsd_logf) {
		fputs(prefix, tsd_logf);
		fwrite(s, 1, n, tsd_logf);
		fputc('\n', tsd_logf);
		fflush(tsd_logf);
	}
	pthread_mutex_unlock(&tsd_lock);
}

__attribute__((format(printf, 1, 2)))
static void tsd_event(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = (int)sizeof buf - 1;
	tsd_log_bytes("# ", buf, (size_t)n);
}

/* Server-wide notes go to stderr: the log holds connections only, so an
 * empty log means nobody connected. */
__attribute__((format(printf, 1, 0)))
static void tsd_vnote(const char *fmt, va_list ap)
{
	fputs("testsmtpd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void tsd_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsd_vnote(fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2), noreturn))
static void tsd_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsd_vnote(fmt, ap);
	va_end(ap);
	exit(2);
}

/* ---- connection I/O ----------------------------------------------------- */

static int tsd_out_add(struct tsd_conn *c, const void *p, size_t n)
{
	if (c->olen + n > c->ocap) {
		size_t cap = c->ocap ? c->ocap : 4096;
		char *q;

		while (cap < c->olen + n)
			cap *= 2;
		q = realloc(c->out, cap);
		if (!q)
			return -1;
		c->out = q;
		c->ocap = cap;
	}
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
	return 0;
}

static int tsd_flush(struct tsd_conn *c)
{
	size_t off = 0;

	while (!c->dead && off < c->olen) {
		if (c->ssl) {
			size_t chunk = c->olen - off;
			int r;

			if (chunk > INT_MAX)
				chunk = INT_MAX;
			r = SSL_write(c->ssl, c->out + off, (int)chunk);
			if (r <= 0) {
				c->dead = 1;
				break;
			}
			off += (size_t)r;
		} else {
			ssize_t r = send(c->fd, c->out + off, c->olen - off,
			    MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				c->dead = 1;
				break;
			}
			off += (size_t)r;
		}
	}
	c->olen = 0;
	return c->dead ? -1 : 0;
}

/*
 * Reads more bytes into the input buffer, flushing pending replies first
 * (so replies to pipelined commands go out together, as real servers do).
 * Returns the number of bytes added, 0 at end of input or on error.
 */
static size_t tsd_fill(struct tsd_conn *c)
{
	ssize_t r;

	if (tsd_flush(c) < 0)
		return 0;
	if (c->ipos > 0) {
		memmove(c->in, c->in + c->ipos, c->ilen - c->ipos);
		c->ilen -= c->ipos;
		c->ipos = 0;
	}
	if (c->ilen == sizeof c->in)
		return 0;
	for (;;) {
		if (c->ssl) {
			int n = SSL_read(c->ssl, c->in + c->ilen,
			    (int)(sizeof c->in - c->ilen));
			r = n > 0 ? n : -1;
		} else {
			r = recv(c->fd, c->in + c->ilen, sizeof c->in - c->ilen, 0);
			if (r < 0 && errno == EINTR)
				continue;
		}
		break;
	}
	if (r <= 0) {
		c->dead = 1;
		return 0;
	}
	c->ilen += (size_t)r;
	return (size_t)r;
}

static size_t tsd_avail(const struct tsd_conn *c)
{
	return c->ilen - c->ipos;
}

/*
 * Reads one line ending in LF into BUF (CR LF or LF removed, NUL added).
 * A line of more than MAX bytes (line end included) is read to its end
 * and discarded, and *TOOLONG set. Returns the length, or -1 at end.
 */
static long tsd_getline(struct tsd_conn *c, char *buf, size_t max,
    int *toolong)
{
	size_t len = 0;

	*toolong = 0;
	for (;;) {
		unsigned char *start = c->in + c->ipos;
		unsigned char *lf = memchr(start, '\n', tsd_avail(c));
		size_t take = lf ? (size_t)(lf - start) + 1 : tsd_avail(c);

		if (!*toolong && len + take <= max) {
			memcpy(buf + len, start, take);
			len += take;
		} else {
			*toolong = 1;
		}
		c->ipos += take;
		if (lf)
			break;
		if (tsd_fill(c) == 0)
			return -1;
	}
	if (*toolong)
		return 0;
	len--;                                  /* the LF */
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (long)len;
}

/* ---- replies ------------------------------------------------------------ */

/* Appends TEXT as reply lines: "\n" (two chars) or a newline splits. */
static void tsd_put_lines(struct tsd_conn *c, const char *text)
{
	const char *p = text;

	for (;;) {
		const char *e = p;

		while (*e && *e != '\n' && !(e[0] == '\\' && e[1] == 'n'))
			e++;
		tsd_log_bytes("S: ", p, (size_t)(e - p));
		tsd_out_add(c, p, (size_t)(e - p));
		tsd_out_add(c, "\r\n", 2);
		if (!*e)
			break;
		p = e + (*e == '\n' ? 1 : 2);
	}
}

enum tsd_kind { TSD_K_TEXT, TSD_K_CLOSE, TSD_K_GARBAGE, TSD_K_HUGE,
	TSD_K_MANY };

struct tsd_plan {
	enum tsd_kind kind;
	int cls;                /* '2'..'5', or 0 when no valid reply */
	long delay_ms;
	const char *text;       /* reply text (TEXT kind) */
	const char *inject;     /* extra text after the reply, or NULL */
	long long cut_after;    /* DATA: drop the connection after this many
	                         * bytes of message data; -1 = never */
	int close_after;        /* disconnect once the reply is sent */
};

static void tsd_plan_spec(struct tsd_plan *pl, const char *spec,
    const char *dflt)
{
	pl->kind = TSD_K_TEXT;
	pl->text = spec;
	pl->inject = NULL;
	while (strncmp(spec, "delay:", 6) == 0) {
		char *end;
		long ms = strtol(spec + 6, &end, 10);

		if (*end != ':' || ms < 0)
			break;
		pl->delay_ms += ms;
		spec = end + 1;
		pl->text = spec;
	}
	if (strcmp(spec, "close") == 0) {
		pl->kind = TSD_K_CLOSE;
		pl->cls = 0;
	} else if (strcmp(spec, "saveclose") == 0) {
		pl->kind = TSD_K_CLOSE;
		pl->cls = '2';
	} else if (strcmp(spec, "garbage") == 0) {
		pl->kind = TSD_K_GARBAGE;
		pl->cls = 0;
	} else if (strcmp(spec, "huge") == 0) {
		pl->kind = TSD_K_HUGE;
		pl->cls = '2';
	} else if (strcmp(spec, "many") == 0) {
		pl->kind = TSD_K_MANY;
		pl->cls = '2';
	} else if (strncmp(spec, "cut:", 4) == 0) {
		pl->text = dflt;
		pl->cut_after = strtoll(spec + 4, NULL, 10);
		pl->cls = dflt[0];
	} else if (strncmp(spec, "inject:", 7) == 0) {
		pl->text = dflt;
		pl->inject = spec + 7;
		pl->cls = dflt[0];
	} else {
		pl->cls = (spec[0] >= '2' && spec[0] <= '5') ? spec[0] : 0;
	}
}

/*
 * Decides the reply to command CMD with argument ARG: the first matching
 * --reply rule, else DFLT. Counts the command for every matching rule.
 * Returns 1 when a rule decided, 0 when the reply is DFLT.
 */
static int tsd_plan(struct tsd_plan *pl, enum tsd_cmd cmd, const char *arg,
    const char *dflt)
{
	const char *spec = NULL;
	int i;

	memset(pl, 0, sizeof *pl);
	pl->cut_after = -1;
	pthread_mutex_lock(&tsd_lock);
	for (i = 0; i < tsd_cfg.n_rules; i++) {
		struct tsd_rule *r = &tsd_cfg.rules[i];

		if (r->cmd != cmd)
			continue;
		if (r->match && !strstr(arg, r->match))
			continue;
		r->seen++;
		if (!spec && (r->nth == 0 || r->seen == r->nth))
			spec = r->reply;
	}
	pthread_mutex_unlock(&tsd_lock);
	if (spec) {
		tsd_plan_spec(pl, spec, dflt);
		return 1;
	}
	pl->kind = TSD_K_TEXT;
	pl->text = dflt;
	pl->cls = dflt[0];
	return 0;
}

/* splitmix64 (Steele, Lea, Flood 2014): small, and the same everywhere. */
static uint64_t tsd_chaos_next(void)
{
	uint64_t z = (tsd_chaos_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * At a MAIL command: draws the fault of the transaction it starts. Three
 * numbers per draw whatever the outcome, so draw N depends on N only.
 */
static void tsd_chaos_draw(struct tsd_conn *c)
{
	uint64_t hit, which, arg;
	long n;

	c->fault = TSD_F_NONE;
	if (!tsd_cfg.chaos)
		return;
	pthread_mutex_lock(&tsd_lock);
	n = ++tsd_chaos_draws;
	hit = tsd_chaos_next();
	which = tsd_chaos_next();
	arg = tsd_chaos_next();
	pthread_mutex_unlock(&tsd_lock);
	if (hit % 100 < tsd_cfg.chaos_pct)
		c->fault = (enum tsd_fault)(1 + which % (TSD_F_N - 1));
	c->fault_arg = arg;
	tsd_event("chaos %ld: %s", n, tsd_fault_names[c->fault]);
}

static const char *tsd_param(const char *params, const char *key);

/*
 * Replaces the plan of a positive normal reply DFLT to CMD by the fault
 * of the connection's transaction, when that fault is for CMD.
 */
static void tsd_chaos_plan(struct tsd_conn *c, struct tsd_plan *pl,
    enum tsd_cmd cmd, const char *dflt)
{
	enum tsd_fault f = c->fault;

	if (f == TSD_F_NONE || (dflt[0] != '2' && dflt[0] != '3'))
		return;
	if (cmd == TSD_MAIL && f == TSD_F_MAIL421) {
		pl->text = "421 4.3.2 chaos: closing the connection";
		pl->cls = '4';
		pl->close_after = 1;
	} else if (cmd == TSD_RCPT && f == TSD_F_RCPT451) {
		pl->text = "451 4.3.0 chaos: try again later";
		pl->cls = '4';
	} else if (cmd == TSD_DATA && f == TSD_F_DATACLOSE) {
		pl->kind = TSD_K_CLOSE;
		pl->cls = 0;
	} else if (cmd == TSD_DATA && f == TSD_F_BODYCUT) {
		const char *sz = tsd_param(c->params, "SIZE");
		unsigned long long hint = sz && *sz == '=' ?
		    strtoull(sz + 1, NULL, 10) : 0;

		if (hint == 0 || hint > 104857600ULL)
			hint = 1024;
		pl->cut_after = (long long)(c->fault_arg % hint);
	} else if (cmd == TSD_DOT && f == TSD_F_DOT451) {
		pl->text = "451 4.3.0 chaos: message not accepted";
		pl->cls = '4';
	} else if (cmd == TSD_DOT && f == TSD_F_SAVECLOSE) {
		pl->kind = TSD_K_CLOSE;
		pl->cls = '2';
	}
}

/* Sends the planned reply. Returns -1 when the connection is to close. */
static int tsd_emit(struct tsd_conn *c, const struct tsd_plan *pl)
{
	if (pl->delay_ms > 0) {
		struct timespec ts;

		if (tsd_flush(c) < 0)
			return -1;
		ts.tv_sec = pl->delay_ms / 1000;
		ts.tv_nsec = (pl->delay_ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	switch (pl->kind) {
	case TSD_K_CLOSE:
		tsd_flush(c);
		tsd_event("close %ld (scripted)", c->id);
		c->dead = 1;
		return -1;
	case TSD_K_GARBAGE:
		tsd_put_lines(c, "hello there");
		break;
	case TSD_K_HUGE: {
		static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
		size_t left = 100000 - 4;

		tsd_out_add(c, "250 ", 4);
		while (left > 0) {
			size_t n = left < sizeof xs - 1 ? left : sizeof xs - 1;

			tsd_out_add(c, xs, n);
			left -= n;
		}
		tsd_out_add(c, "\r\n", 2);
		tsd_event("sent a 100000-byte reply line");
		break;
	}
	case TSD_K_MANY: {
		char line[64];
		int i;

		for (i = 1; i <= 1000; i++) {
			int n = snprintf(line, sizeof line, "250%cline %d\r\n",
			    i < 1000 ? '-' : ' ', i);

			tsd_out_add(c, line, (size_t)n);
		}
		tsd_event("sent a 1000-line reply");
		break;
	}
	case TSD_K_TEXT:
		tsd_put_lines(c, pl->text);
		break;
	}
	if (pl->inject)
		tsd_put_lines(c, pl->inject);
	if (pl->close_after) {
		tsd_flush(c);
		tsd_event("close %ld (chaos)", c->id);
		c->dead = 1;
		return -1;
	}
	return 0;
}

/* Plans and sends in one step; returns the reply class, or -1 to close. */
static int tsd_answer(struct tsd_conn *c, enum tsd_cmd cmd, const char *arg,
    const char *dflt)
{
	struct tsd_plan pl;

	if (!tsd_plan(&pl, cmd, arg, dflt))
		tsd_chaos_plan(c, &pl, cmd, dflt);
	if (tsd_emit(c, &pl) < 0)
		return -1;
	return pl.cls;
}

/* Plain reply, not scriptable (syntax errors, AUTH steps). */
static void tsd_say(struct tsd_conn *c, const char *text)
{
	tsd_put_lines(c, text);
}

/* ---- base64 and SASL ----------------------------------------------------- */

/* Returns the decoded length, or -1 if IN is not valid base64 or too big. */
static long tsd_b64dec(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in), pad = 0;
	int r;

	if (n % 4 != 0 || n / 4 * 3 > cap || n > INT_MAX)
		return -1;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad++;
	if (n >= 2 && in[n - 2] == '=')
		pad++;
	r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (r < 0 || (size_t)r < pad)
		return -1;
	return (long)((size_t)r - pad);
}

/* Encodes N bytes into OUT (cap >= 4*ceil(n/3)+1); returns 0 or -1. */
static int tsd_b64enc(const void *in, size_t n, char *out, size_t cap)
{
	if (n > INT_MAX / 2 || (n + 2) / 3 * 4 + 1 > cap)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return 0;
}

static int tsd_creds_ok(const char *user, size_t ulen, const char *pass,
    size_t plen)
{
	if (!tsd_cfg.user || !tsd_cfg.pass)
		return 0;
	return ulen == strlen(tsd_cfg.user) &&
	    memcmp(user, tsd_cfg.user, ulen) == 0 &&
	    plen == strlen(tsd_cfg.pass) &&
	    CRYPTO_memcmp(pass, tsd_cfg.pass, plen) == 0;
}

/*
 * Reads one client line of an AUTH exchange into BUF. Returns 0, or -1
 * when the connection ended, or -2 when the client cancelled ("*") or
 * sent a line that is too long (both already answered).
 */
static int tsd_auth_read(struct tsd_conn *c, char *buf, size_t cap)
{
	int toolong;
	long n = tsd_getline(c, buf, cap - 1, &toolong);

	if (n < 0)
		return -1;
	if (toolong) {
		tsd_log_bytes("C: ", "[line too long]", 15);
		tsd_say(c, "500 5.5.6 Authentication exchange line too long");
		return -2;
	}
	tsd_log_bytes("C: ", buf, (size_t)n);
	if (strcmp(buf, "*") == 0) {
		tsd_say(c, "501 5.7.0 Authentication cancelled");
		return -2;
	}
	return 0;
}

/* Sends "334 " + base64(DATA). */
static void tsd_challenge(struct tsd_conn *c, const void *data, size_t n)
{
	char line[1024] = "334 ";

	if (tsd_b64enc(data, n, line + 4, sizeof line - 4) < 0)
		line[4] = '\0';
	tsd_say(c, line);
}

/*
 * Gets the client's first response: the initial response on the AUTH
 * line if any ("=" means empty), else after an empty 334. Decoded into
 * OUT. Returns its length, or -1 (end), -2 (answered: cancel or bad).
 */
static long tsd_auth_first(struct tsd_conn *c, const char *initial,
    unsigned char *out, size_t cap, char *line, size_t lcap)
{
	long n;

	if (initial && *initial) {
		if (strcmp(initial, "=") == 0)
			return 0;
		snprintf(line, lcap, "%s", initial);
	} else {
		int r;

		tsd_say(c, "334 ");
		r = tsd_auth_read(c, line, lcap);
		if (r < 0)
			return r;
	}
	n = tsd_b64dec(line, out, cap - 1);
	if (n < 0) {
		tsd_say(c, "501 5.5.2 Invalid base64 data");
		return -2;
	}
	out[n] = '\0';
	return n;
}

static int tsd_auth_plain(struct tsd_conn *c, const char *initial)
{
	char line[TSD_AUTH_MAX + 1];
	unsigned char dec[TSD_AUTH_MAX];
	long n = tsd_auth_first(c, initial, dec, sizeof dec, line, sizeof line);
	const unsigned char *u, *p;

	if (n < 0)
		return (int)n;
	u = memchr(dec, '\0', (size_t)n);          /* end of authzid */
	if (!u)
		return 0;
	u++;
	p = memchr(u, '\0', (size_t)n - (size_t)(u - dec));
	if (!p)
		return 0;
	p++;
	return tsd_creds_ok((const char *)u, (size_t)(p - 1 - u),
	    (const char *)p, (size_t)n - (size_t)(p - dec));
}

static int tsd_auth_login(struct tsd_conn *c, const char *initial)
{
	char line[TSD_AUTH_MAX + 1];
	unsigned char user[TSD_AUTH_MAX], pass[TSD_AUTH_MAX];
	long un, pn;
	int r;

	if (initial && *initial) {
		un = tsd_b64dec(initial, user, sizeof user - 1);
	} else {
		tsd_say(c, "334 VXNlcm5hbWU6");
		r = tsd_auth_read(c, line, sizeof line);
		if (r < 0)
			return r;
		un = tsd_b64dec(line, user, sizeof user - 1);
	}
	if (un < 0) {
		tsd_say(c, "501 5.5.2 Invalid base64 data");
		return -2;
	}
	tsd_say(c, "334 UGFzc3dvcmQ6");
	r = tsd_auth_read(c, line, sizeof line);
	if (r < 0)
		return r;
	pn = tsd_b64dec(line, pass, sizeof pass - 1);
	if (pn < 0) {
		tsd_say(c, "501 5.5.2 Invalid base64 data");
		return -2;
	}
	r = tsd_creds_ok((char *)user, (size_t)un, (char *)pass, (size_t)pn);
	OPENSSL_cleanse(pass, sizeof pass);
	return r;
}

static void tsd_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int tsd_auth_cram(struct tsd_conn *c)
{
	char chal[128], line[TSD_AUTH_MAX + 1], want[2 * EVP_MAX_MD_SIZE + 1];
	unsigned char rnd[8], dec[TSD_AUTH_MAX], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char rhex[17];
	const char *sp;
	long n;
	int r;

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return 0;
	tsd_hex(rnd, sizeof rnd, rhex);
	n = snprintf(chal, sizeof chal, "<%s.%ld@%s>", rhex, (long)time(NULL),
	    tsd_cfg.hostname);
	if (n < 0 || (size_t)n >= sizeof chal)
		return 0;
	tsd_challenge(c, chal, (size_t)n);
	r = tsd_auth_read(c, line, sizeof line);
	if (r < 0)
		return r;
	n = tsd_b64dec(line, dec, sizeof dec - 1);
	if (n < 0) {
		tsd_say(c, "501 5.5.2 Invalid base64 data");
		return -2;
	}
	dec[n] = '\0';
	sp = strrchr((char *)dec, ' ');
	if (!sp || !tsd_cfg.user || !tsd_cfg.pass)
		return 0;
	if (!HMAC(EVP_md5(), tsd_cfg.pass, (int)strlen(tsd_cfg.pass),
	    (unsigned char *)chal, strlen(chal), mac, &maclen))
		return 0;
	tsd_hex(mac, maclen, want);
	return (size_t)(sp - (char *)dec) == strlen(tsd_cfg.user) &&
	    memcmp(dec, tsd_cfg.user, strlen(tsd_cfg.user)) == 0 &&
	    strcmp(sp + 1, want) == 0;
}

/* Unescapes a SCRAM saslname (=2C, =3D) in place; -1 if malformed. */
static int tsd_scram_unescape(char *s)
{
	char *w = s;

	while (*s) {
		if (*s == '=') {
			if (strncmp(s, "=2C", 3) == 0)
				*w++ = ',';
			else if (strncmp(s, "=3D", 3) == 0)
				*w++ = '=';
			else
				return -1;
			s += 3;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
	return 0;
}

static int tsd_auth_scram(struct tsd_conn *c, const char *initial,
    const EVP_MD *md)
{
	char line[TSD_AUTH_MAX + 1], cfirst[TSD_AUTH_MAX], sfirst[512];
	char cfinal[TSD_AUTH_MAX], authmsg[3 * TSD_AUTH_MAX];
	char snonce_b64[64], salt_b64[64], user[TSD_AUTH_MAX], gs2[TSD_AUTH_MAX];
	char cbind_b64[TSD_AUTH_MAX], sig_b64[128], vline[160];
	unsigned char snonce[18], salt[16], dec[TSD_AUTH_MAX];
	unsigned char salted[EVP_MAX_MD_SIZE], ckey[EVP_MAX_MD_SIZE];
	unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
	unsigned char proof[TSD_AUTH_MAX], skey[EVP_MAX_MD_SIZE];
	unsigned char ssig[EVP_MAX_MD_SIZE], check[EVP_MAX_MD_SIZE];
	unsigned int dl = (unsigned int)EVP_MD_get_size(md), l;
	const int iter = 4096;
	char *bare, *cnonce, *p, *pf;
	long n;
	size_t i, gs2len;
	int r, ok;

	n = tsd_auth_first(c, initial, dec, sizeof dec, line, sizeof line);
	if (n < 0)
		return (int)n;
	snprintf(cfirst, sizeof cfirst, "%s", (char *)dec);
	/* gs2-header: ("n" / "y") "," [ "a=" authzid ] "," ; "p=" refused */
	if ((cfirst[0] != 'n' && cfirst[0] != 'y') || cfirst[1] != ',')
		return 0;
	p = strchr(cfirst + 2, ',');
	if (!p)
		return 0;
	bare = p + 1;
	gs2len = (size_t)(bare - cfirst);
	memcpy(gs2, cfirst, gs2len);
	gs2[gs2len] = '\0';
	if (strncmp(bare, "n=", 2) != 0)
		return 0;
	p = strchr(bare + 2, ',');
	if (!p || strncmp(p, ",r=", 3) != 0)
		return 0;
	memcpy(user, bare + 2, (size_t)(p - bare - 2));
	user[p - bare - 2] = '\0';
	if (tsd_scram_unescape(user) < 0)
		return 0;
	cnonce = p + 3;
	if (!*cnonce)
		return 0;

	if (RAND_bytes(snonce, sizeof snonce) != 1 ||
	    RAND_bytes(salt, sizeof salt) != 1)
		return 0;
	tsd_b64enc(snonce, sizeof snonce, snonce_b64, sizeof snonce_b64);
	tsd_b64enc(salt, sizeof salt, salt_b64, sizeof salt_b64);
	{
		size_t cl = strcspn(cnonce, ",");

		n = snprintf(sfirst, sizeof sfirst, "r=%.*s%s,s=%s,i=%d",
		    (int)cl, cnonce, snonce_b64, salt_b64, iter);
		if (n < 0 || (size_t)n >= sizeof sfirst)
			return 0;
	}
	tsd_challenge(c, sfirst, strlen(sfirst));

	r = tsd_auth_read(c, line, sizeof line);
	if (r < 0)
		return r;
	n = tsd_b64dec(line, dec, sizeof dec - 1);
	if (n < 0) {
		tsd_say(c, "501 5.5.2 Invalid base64 data");
		return -2;
	}
	dec[n] = '\0';
	snprintf(cfinal, sizeof cfinal, "%s", (char *)dec);
	/* c=base64(gs2),r=nonce[,ext],p=proof */
	pf = strstr(cfinal, ",p=");
	if (strncmp(cfinal, "c=", 2) != 0 || !pf)
		return 0;
	*pf = '\0';
	pf += 3;
	p = strchr(cfinal, ',');
	if (!p || strncmp(p, ",r=", 3) != 0)
		return 0;
	memcpy(cbind_b64, cfinal + 2, (size_t)(p - cfinal - 2));
	cbind_b64[p - cfinal - 2] = '\0';
	n = tsd_b64dec(cbind_b64, dec, sizeof dec - 1);
	if (n < 0 || (size_t)n != gs2len || memcmp(dec, gs2, gs2len) != 0)
		return 0;
	{
		/* the nonce echoed must be ours: sfirst starts "r=NONCE," */
		size_t nl = strcspn(sfirst + 2, ",");
		size_t el = strcspn(p + 3, ",");

		if (nl != el || memcmp(sfirst + 2, p + 3, nl) != 0)
			return 0;
	}
	n = snprintf(authmsg, sizeof authmsg, "%s,%s,%s", bare, sfirst, cfinal);
	if (n < 0 || (size_t)n >= sizeof authmsg)
		return 0;
	n = tsd_b64dec(pf, proof, sizeof proof);
	if (n < 0 || (size_t)n != dl || !tsd_cfg.user || !tsd_cfg.pass ||
	    strcmp(user, tsd_cfg.user) != 0)
		return 0;

	if (PKCS5_PBKDF2_HMAC(tsd_cfg.pass, (int)strlen(tsd_cfg.pass), salt,
	    sizeof salt, iter, md, (int)dl, salted) != 1)
		return 0;
	if (!HMAC(md, salted, (int)dl, (const unsigned char *)"Client Key", 10,
	    ckey, &l) ||
	    EVP_Digest(ckey, dl, stored, NULL, md, NULL) != 1 ||
	    !HMAC(md, stored, (int)dl, (unsigned char *)authmsg, strlen(authmsg),
	    csig, &l))
		return 0;
	/* ClientKey = ClientProof XOR ClientSignature; H(ClientKey) = Stored */
	for (i = 0; i < dl; i++)
		check[i] = proof[i] ^ csig[i];
	if (EVP_Digest(check, dl, check, NULL, md, NULL) != 1)
		return 0;
	ok = CRYPTO_memcmp(check, stored, dl) == 0;
	if (!ok)
		return 0;
	if (!HMAC(md, salted, (int)dl, (const unsigned char *)"Server Key", 10,
	    skey, &l) ||
	    !HMAC(md, skey, (int)dl, (unsigned char *)authmsg, strlen(authmsg),
	    ssig, &l))
		return 0;
	tsd_b64enc(ssig, dl, sig_b64, sizeof sig_b64);
	n = snprintf(vline, sizeof vline, "v=%s", sig_b64);
	if (n < 0 || (size_t)n >= sizeof vline)
		return 0;
	tsd_challenge(c, vline, (size_t)n);
	r = tsd_auth_read(c, line, sizeof line);
	if (r < 0)
		return r;
	OPENSSL_cleanse(salted, sizeof salted);
	return 1;
}

/*
 * XOAUTH2 ("user=U^Aauth=Bearer T^A^A") and OAUTHBEARER
 * ("n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A"). On a wrong token the
 * server sends a JSON error as a 334 challenge and fails after the
 * client's (empty, or ^A) answer.
 */
static int tsd_auth_oauth(struct tsd_conn *c, const char *initial,
    int bearer)
{
	static const char xo_err[] = "{\"status\":\"400\",\"schemes\":"
	    "\"Bearer\",\"scope\":\"https://mail.google.com/\"}";
	static const char ob_err[] = "{\"status\":\"invalid_token\","
	    "\"scope\":\"mail\"}";
	char line[TSD_AUTH_MAX + 1], user[TSD_AUTH_MAX] = "";
	unsigned char dec[TSD_AUTH_MAX];
	const char *token = NULL;
	char *f, *save = NULL;
	long n;
	int r, ok;

	n = tsd_auth_first(c, initial, dec, sizeof dec, line, sizeof line);
	if (n < 0)
		return (int)n;
	if (bearer) {
		char *a, *e;

		/* gs2 header up to the first ^A: n,a=USER, */
		e = memchr(dec, '\001', (size_t)n);
		if (!e)
			goto fail;
		*e = '\0';
		a = strstr((char *)dec, "a=");
		if (a) {
			size_t ul = strcspn(a + 2, ",");

			memcpy(user, a + 2, ul);
			user[ul] = '\0';
		}
		f = strtok_r(e + 1, "\001", &save);
	} else {
		f = strtok_r((char *)dec, "\001", &save);
	}
	for (; f; f = strtok_r(NULL, "\001", &save)) {
		if (strncmp(f, "user=", 5) == 0)
			snprintf(user, sizeof user, "%s", f + 5);
		else if (strncasecmp(f, "auth=Bearer ", 12) == 0)
			token = f + 12;
	}
	ok = token && tsd_cfg.user && tsd_cfg.pass &&
	    strcmp(user, tsd_cfg.user) == 0 &&
	    strlen(token) == strlen(tsd_cfg.pass) &&
	    CRYPTO_memcmp(token, tsd_cfg.pass, strlen(token)) == 0;
	if (ok)
		return 1;
fail:
	if (bearer)
		tsd_challenge(c, ob_err, sizeof ob_err - 1);
	else
		tsd_challenge(c, xo_err, sizeof xo_err - 1);
	r = tsd_auth_read(c, line, sizeof line);
	if (r == -1)
		return -1;
	if (r == -2)
		return -2;
	return 0;
}

static int tsd_mech_offered(const char *mech)
{
	const char *p = tsd_cfg.mechs;
	size_t ml = strlen(mech);

	while (p && *p) {
		size_t l;

		p += strspn(p, " ,");
		l = strcspn(p, " ,");
		if (l == ml && l > 0 && strncasecmp(p, mech, l) == 0)
			return 1;
		p += l;
	}
	return 0;
}

static int tsd_auth_visible(const struct tsd_conn *c)
{
	return tsd_cfg.mechs && *tsd_cfg.mechs &&
	    (c->ssl || tsd_cfg.auth_plain_ok);
}

static void tsd_cmd_auth(struct tsd_conn *c, const char *arg)
{
	char mech[64];
	const char *initial;
	size_t ml = strcspn(arg, " ");
	struct tsd_plan pl;
	int ok;

	if (!tsd_cfg.mechs || !*tsd_cfg.mechs) {
		tsd_say(c, "502 5.5.1 AUTH not available");
		return;
	}
	if (!c->ssl && !tsd_cfg.auth_plain_ok) {
		tsd_say(c, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (!c->greeted || !c->esmtp) {
		tsd_say(c, "503 5.5.1 Send EHLO first");
		return;
	}
	if (c->authed || c->in_tx) {
		tsd_say(c, "503 5.5.1 Bad sequence of commands");
		return;
	}
	if (ml == 0 || ml >= sizeof mech) {
		tsd_say(c, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, ml);
	mech[ml] = '\0';
	initial = arg[ml] ? arg + ml + 1 : NULL;

	/* a scripted AUTH reply replaces the whole exchange */
	tsd_plan(&pl, TSD_AUTH, arg, "");
	if (pl.text && *pl.text) {
		if (tsd_emit(c, &pl) < 0)
			return;
		if (pl.cls == '2') {
			c->authed = 1;
			snprintf(c->auth_desc, sizeof c->auth_desc,
			    "%s (scripted)", mech);
		}
		return;
	}
	if (!tsd_mech_offered(mech)) {
		tsd_say(c, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (strcasecmp(mech, "PLAIN") == 0)
		ok = tsd_auth_plain(c, initial);
	else if (strcasecmp(mech, "LOGIN") == 0)
		ok = tsd_auth_login(c, initial);
	else if (strcasecmp(mech, "CRAM-MD5") == 0)
		ok = tsd_auth_cram(c);
	else if (strcasecmp(mech, "SCRAM-SHA-1") == 0)
		ok = tsd_auth_scram(c, initial, EVP_sha1());
	else if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
		ok = tsd_auth_scram(c, initial, EVP_sha256());
	else if (strcasecmp(mech, "XOAUTH2") == 0)
		ok = tsd_auth_oauth(c, initial, 0);
	else if (strcasecmp(mech, "OAUTHBEARER") == 0)
		ok = tsd_auth_oauth(c, initial, 1);
	else {
		tsd_say(c, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (ok == -1 || ok == -2)
		return;
	if (ok == 1) {
		c->authed = 1;
		snprintf(c->auth_desc, sizeof c->auth_desc, "%s %s", mech,
		    tsd_cfg.user);
		tsd_say(c, "235 2.7.0 Authentication successful");
	} else {
		tsd_say(c, "535 5.7.8 Authentication credentials invalid");
	}
}

/* ---- SMTP commands ------------------------------------------------------- */

static void tsd_reset_tx(struct tsd_conn *c)
{
	c->in_tx = 0;
	c->tx_utf8 = 0;
	c->from[0] = '\0';
	c->params[0] = '\0';
	c->rlen = 0;
	c->nrcpt = 0;
}

static void tsd_ehlo_reply(struct tsd_conn *c, char *buf, size_t cap)
{
	size_t len = 0;
	int n, i;

#define TSD_ADD(...) do { \
	n = snprintf(buf + len, cap - len, __VA_ARGS__); \
	if (n < 0 || (size_t)n >= cap - len) return; \
	len += (size_t)n; } while (0)
	TSD_ADD("250-%s", tsd_cfg.hostname);
	if (tsd_cfg.pipelining)
		TSD_ADD("\n250-PIPELINING");
	if (tsd_cfg.size_on)
		TSD_ADD("\n250-SIZE %llu", tsd_cfg.size);
	if (tsd_cfg.eightbit)
		TSD_ADD("\n250-8BITMIME");
	if (tsd_cfg.enhanced)
		TSD_ADD("\n250-ENHANCEDSTATUSCODES");
	if (tsd_cfg.smtputf8)
		TSD_ADD("\n250-SMTPUTF8");
	if (tsd_cfg.dsn)
		TSD_ADD("\n250-DSN");
	if (tsd_ssl_ctx && !c->ssl)
		TSD_ADD("\n250-STARTTLS");
	if (tsd_auth_visible(c))
		TSD_ADD("\n250-AUTH %s", tsd_cfg.mechs);
	for (i = 0; i < tsd_cfg.n_exts; i++)
		TSD_ADD("\n250-%s", tsd_cfg.exts[i]);
#undef TSD_ADD
	/* the last line uses a space: "250-X" becomes "250 X" */
	{
		char *last = strrchr(buf, '\n');

		last = last ? last + 1 : buf;
		last[3] = ' ';
	}
}

static void tsd_cmd_helo(struct tsd_conn *c, enum tsd_cmd cmd,
    const char *arg)
{
	char reply[2048];
	int cls;

	if (cmd == TSD_EHLO && !tsd_cfg.ehlo_ok) {
		tsd_answer(c, cmd, arg, "500 5.5.1 Command unrecognized");
		return;
	}
	if (!*arg) {
		tsd_answer(c, cmd, arg, "501 5.5.4 Syntax: EHLO hostname");
		return;
	}
	if (cmd == TSD_EHLO)
		tsd_ehlo_reply(c, reply, sizeof reply);
	else
		snprintf(reply, sizeof reply, "250 %s", tsd_cfg.hostname);
	cls = tsd_answer(c, cmd, arg, reply);
	if (cls == '2') {
		tsd_reset_tx(c);
		c->greeted = 1;
		c->esmtp = cmd == TSD_EHLO;
		snprintf(c->helo, sizeof c->helo, "%s", arg);
	}
}

static int tsd_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Splits "FROM:<path> params" (KEY "FROM:" or "TO:") into PATH and
 * PARAMS. Returns 0, or -1 on a syntax error.
 */
static int tsd_split_path(const char *arg, const char *key, char *path,
    size_t pcap, char *params, size_t ccap)
{
	size_t kl = strlen(key), i = 0;
	const char *p;
	int quoted = 0;

	if (strncasecmp(arg, key, kl) != 0)
		return -1;
	p = arg + kl;
	while (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	for (i = 1; p[i]; i++) {
		if (p[i] == '\\' && quoted && p[i + 1])
			i++;
		else if (p[i] == '"')
			quoted = !quoted;
		else if (p[i] == '>' && !quoted)
			break;
	}
	if (p[i] != '>' || i + 2 > pcap)
		return -1;
	memcpy(path, p, i + 1);
	path[i + 1] = '\0';
	p += i + 1;
	if (*p && *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	snprintf(params, ccap, "%s", p);
	return 0;
}

/* Finds KEY=value (or KEY alone) among space-separated PARAMS. */
static const char *tsd_param(const char *params, const char *key)
{
	size_t kl = strlen(key);
	const char *p = params;

	while (*p) {
		size_t l = strcspn(p, " ");

		if (l >= kl && strncasecmp(p, key, kl) == 0 &&
		    (p[kl] == '=' || p[kl] == ' ' || p[kl] == '\0'))
			return p + kl;
		p += l;
		p += strspn(p, " ");
	}
	return NULL;
}

static void tsd_cmd_mail(struct tsd_conn *c, const char *arg)
{
	char path[TSD_CMD_MAX + 1], params[TSD_CMD_MAX + 1];
	const char *dflt = "250 2.1.0 Ok";
	const char *sz, *body;
	int utf8 = 0;

	if (!c->greeted)
		dflt = "503 5.5.1 Send HELO/EHLO first";
	else if (c->in_tx)
		dflt = "503 5.5.1 Nested MAIL command";
	else if (tsd_cfg.require_auth && !c->authed)
		dflt = "530 5.7.0 Authentication required";
	else if (tsd_split_path(arg, "FROM:", path, sizeof path, params,
	    sizeof params) < 0)
		dflt = "501 5.5.4 Syntax: MAIL FROM:<address>";
	else {
		sz = tsd_param(params, "SIZE");
		body = tsd_param(params, "BODY");
		utf8 = tsd_param(params, "SMTPUTF8") != NULL;
		if (*params && !c->esmtp)
			dflt = "555 5.5.4 Parameters need EHLO";
		else if (sz && (!tsd_cfg.size_on || *sz != '='))
			dflt = "555 5.5.4 SIZE not supported";
		else if (sz && tsd_cfg.size && strtoull(sz + 1, NULL, 10) >
		    tsd_cfg.size)
			dflt = "552 5.3.4 Message size exceeds fixed limit";
		else if (body && (!tsd_cfg.eightbit ||
		    (strncasecmp(body, "=8BITMIME", 9) != 0 &&
		    strncasecmp(body, "=7BIT", 5) != 0)))
			dflt = "555 5.5.4 Unsupported BODY parameter";
		else if (utf8 && !tsd_cfg.smtputf8)
			dflt = "555 5.5.4 SMTPUTF8 not supported";
		else if (tsd_has_8bit(path, strlen(path)) && !utf8)
			dflt = "553 5.6.7 Non-ASCII address needs SMTPUTF8";
	}
	tsd_chaos_draw(c);
	if (tsd_answer(c, TSD_MAIL, arg, dflt) == '2' && dflt[0] == '2') {
		tsd_reset_tx(c);
		c->in_tx = 1;
		c->tx_utf8 = utf8;
		snprintf(c->from, sizeof c->from, "%s", path);
		snprintf(c->params, sizeof c->params, "%s", params);
	}
}

static int tsd_rcpt_add(struct tsd_conn *c, const char *line)
{
	size_t n = strlen(line);

	if (c->rlen + n + 1 > c->rcap) {
		size_t cap = c->rcap ? c->rcap * 2 : 1024;
		char *q;

		while (cap < c->rlen + n + 1)
			cap *= 2;
		q = realloc(c->rcpts, cap);
		if (!q)
			return -1;
		c->rcpts = q;
		c->rcap = cap;
	}
	memcpy(c->rcpts + c->rlen, line, n);
	c->rlen += n;
	c->rcpts[c->rlen] = '\0';
	return 0;
}

static void tsd_cmd_rcpt(struct tsd_conn *c, const char *arg)
{
	char path[TSD_CMD_MAX + 1], params[TSD_CMD_MAX + 1];
	char line[2 * TSD_CMD_MAX + 64];
	const char *dflt = "250 2.1.5 Ok";

	if (!c->in_tx)
		dflt = "503 5.5.1 Need MAIL before RCPT";
	else if (tsd_split_path(arg, "TO:", path, sizeof path, params,
	    sizeof params) < 0 || strcmp(path, "<>") == 0)
		dflt = "501 5.5.4 Syntax: RCPT TO:<address>";
	else if (*params && !c->esmtp)
		dflt = "555 5.5.4 Parameters need EHLO";
	else if (tsd_has_8bit(path, strlen(path)) && !c->tx_utf8)
		dflt = "553 5.6.7 Non-ASCII address needs SMTPUTF8";
	else if (c->nrcpt >= TSD_MAX_RCPT)
		dflt = "452 4.5.3 Too many recipients";
	if (tsd_answer(c, TSD_RCPT, arg, dflt) == '2' && dflt[0] == '2') {
		snprintf(line, sizeof line, "rcpt: %s\n", path);
		if (tsd_rcpt_add(c, line) < 0)
			return;
		if (*params) {
			snprintf(line, sizeof line, "rcpt-params: %s %s\n", path,
			    params);
			if (tsd_rcpt_add(c, line) < 0)
				return;
		}
		c->nrcpt++;
	}
}

/* Writes LEN bytes to DIR/NAME through a temp file and a rename. */
static int tsd_write_file(const char *name, const char *data, size_t len)
{
	char tmp[TSD_PATH_MAX], dst[TSD_PATH_MAX];
	int fd, n;
	FILE *f;

	n = snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", tsd_cfg.spool, name);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	n = snprintf(dst, sizeof dst, "%s/%s", tsd_cfg.spool, name);
	if (n < 0 || (size_t)n >= sizeof dst)
		return -1;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	fchmod(fd, 0644);
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0 ||
	    rename(tmp, dst) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Reads the message data after 354 up to CRLF.CRLF, dot-unstuffing,
 * into F (may be NULL: data discarded). Returns the byte count, or -1
 * if the connection ended first. *BARE set when a bare CR or LF was seen.
 */
static long long tsd_read_data(struct tsd_conn *c, FILE *f, int *bare,
    char *head, size_t hcap, long long cut_after)
{
	enum { LS, MID, CR, DOT, DOTCR } st = LS;
	long long total = 0;
	unsigned char ob[8192];
	size_t on = 0, hn = 0;

#define TSD_PUT(b) do { ob[on++] = (unsigned char)(b); total++; \
	if (hn + 1 < hcap) { head[hn++] = (char)(b); head[hn] = '\0'; } \
	if (on == sizeof ob) { if (f) fwrite(ob, 1, on, f); on = 0; } } while (0)
	*bare = 0;
	head[0] = '\0';
	for (;;) {
		int ch;

		if ((tsd_avail(c) == 0 && tsd_fill(c) == 0) ||
		    (cut_after >= 0 && total >= cut_after)) {
			if (f && on)
				fwrite(ob, 1, on, f);
			return -1;
		}
		ch = c->in[c->ipos++];
	again:
		switch (st) {
		case LS:
			if (ch == '.') {
				st = DOT;
				break;
			}
			st = MID;
			goto again;
		case MID:
			if (ch == '\r') {
				st = CR;
			} else {
				if (ch == '\n')
					*bare = 1;
				TSD_PUT(ch);
			}
			break;
		case CR:
			TSD_PUT('\r');
			if (ch == '\n') {
				TSD_PUT('\n');
				st = LS;
			} else {
				*bare = 1;
				st = MID;
				goto again;
			}
			break;
		case DOT:
			if (ch == '\r') {
				st = DOTCR;
			} else {
				/* a stuffed dot: drop it */
				st = MID;
				goto again;
			}
			break;
		case DOTCR:
			if (ch == '\n') {
				if (f && on)
					fwrite(ob, 1, on, f);
				return total;
			}
			/* "." CR X: drop the dot, keep the bare CR */
			st = CR;
			goto again;
		}
	}
#undef TSD_PUT
}

static void tsd_cmd_data(struct tsd_conn *c, const char *arg)
{
	const char *dflt = "354 End data with <CR><LF>.<CR><LF>";
	char tmp[TSD_PATH_MAX], name[64], envbuf[4 * TSD_CMD_MAX + 1024];
	char reply[128], head[16384];
	struct tsd_plan pl;
	FILE *f = NULL;
	long long size;
	long num = 0;
	int bare, fd = -1, saved = 0;
	size_t el;

	if (!c->in_tx)
		dflt = "503 5.5.1 Need MAIL command";
	else if (c->nrcpt == 0)
		dflt = "503 5.5.1 Need RCPT command (no valid recipients)";
	else if (*arg)
		dflt = "501 5.5.4 Syntax: DATA";
	if (!tsd_plan(&pl, TSD_DATA, arg, dflt))
		tsd_chaos_plan(c, &pl, TSD_DATA, dflt);
	if (tsd_emit(c, &pl) < 0 || pl.cls != '3' || dflt[0] != '3')
		return;
	if (tsd_avail(c) > 0)
		tsd_event("improper pipelining after DATA");
	if (tsd_cfg.spool) {
		int n = snprintf(tmp, sizeof tmp, "%s/.tmp-data-XXXXXX",
		    tsd_cfg.spool);

		if (n > 0 && (size_t)n < sizeof tmp)
			fd = mkstemp(tmp);
		if (fd >= 0) {
			fchmod(fd, 0644);
			f = fdopen(fd, "w");
			if (!f) {
				close(fd);
				unlink(tmp);
			}
		}
	}
	size = tsd_read_data(c, f, &bare, head, sizeof head, pl.cut_after);
	if (size < 0) {
		if (f) {
			fclose(f);
			unlink(tmp);
		}
		if (c->dead) {
			tsd_event("connection %ld ended inside DATA", c->id);
		} else {
			tsd_event("connection %ld cut inside DATA (scripted)",
			    c->id);
			c->dead = 1;
		}
		return;
	}
	{
		char note[64];
		int n = snprintf(note, sizeof note, "[%lld bytes of message data]",
		    size);

		tsd_log_bytes("C: ", note, (size_t)n);
		tsd_log_bytes("C: ", ".", 1);
	}
	if (bare)
		tsd_event("bare CR or LF in message data");
	if (tsd_cfg.spool && !f)
		dflt = "451 4.3.0 Cannot create spool file";
	else if (tsd_cfg.strict_crlf && bare)
		dflt = "550 5.6.0 Bare CR or LF in message data";
	else if (tsd_cfg.size_on && tsd_cfg.size &&
	    (unsigned long long)size > tsd_cfg.size)
		dflt = "552 5.3.4 Message size exceeds fixed limit";
	else
		dflt = "250 2.0.0 Ok";
	if (f && fflush(f) != 0)
		dflt = "451 4.3.0 Cannot write spool file";
	if (!tsd_plan(&pl, TSD_DOT, head, dflt))
		tsd_chaos_plan(c, &pl, TSD_DOT, dflt);
	c->fault = TSD_F_NONE;
	if (pl.cls == '2' && dflt[0] == '2') {
		pthread_mutex_lock(&tsd_lock);
		num = ++tsd_msgs;
		pthread_mutex_unlock(&tsd_lock);
		snprintf(reply, sizeof reply, "250 2.0.0 Ok: queued as %ld", num);
		if (pl.text == dflt)
			pl.text = reply;
		if (f) {
			char dst[TSD_PATH_MAX];
			int n = snprintf(dst, sizeof dst, "%s/%ld.eml",
			    tsd_cfg.spool, num);

			saved = fclose(f) == 0 && n > 0 &&
			    (size_t)n < sizeof dst && rename(tmp, dst) == 0;
			f = NULL;
		}
		if (saved) {
			int n = snprintf(envbuf, sizeof envbuf,
			    "helo: %s\n%s%s%s%s%s%s%s%s%s" "from: %s\nparams: %s\n",
			    c->helo,
			    c->ssl ? "tls: " : "", c->ssl ? c->tls_version : "",
			    c->ssl ? "\n" : "",
			    c->tls_client[0] ? "tls-client: " : "", c->tls_client,
			    c->tls_client[0] ? "\n" : "",
			    c->authed ? "auth: " : "",
			    c->authed ? c->auth_desc : "",
			    c->authed ? "\n" : "",
			    c->from, c->params);

			el = n > 0 && (size_t)n < sizeof envbuf ? (size_t)n : 0;
			snprintf(name, sizeof name, "%ld.env", num);
			if (el == 0 || tsd_rcpt_add(c, "") < 0)
				saved = 0;
			else {
				char *all = malloc(el + c->rlen + 1);

				if (!all) {
					saved = 0;
				} else {
					memcpy(all, envbuf, el);
					memcpy(all + el, c->rcpts, c->rlen);
					saved = tsd_write_file(name, all,
					    el + c->rlen) == 0;
					free(all);
				}
			}
			if (!saved)
				tsd_event("could not save message %ld", num);
		}
		if (tsd_wake[1] >= 0 && write(tsd_wake[1], "m", 1) < 0)
			tsd_event("wake pipe: %s", strerror(errno));
	}
	if (f) {
		fclose(f);
		unlink(tmp);
	}
	tsd_reset_tx(c);
	if (tsd_cfg.hold_dot_ms && !c->ssl) {
		struct pollfd pf = { c->fd, POLLIN, 0 };

		if (tsd_avail(c) > 0 || poll(&pf, 1,
		    (int)tsd_cfg.hold_dot_ms) > 0)
			tsd_event("dot reply held: more input came behind the "
			    "dot");
		else
			tsd_event("dot reply held: nothing came behind the dot "
			    "in %ld ms", tsd_cfg.hold_dot_ms);
	}
	tsd_emit(c, &pl);
}

static void tsd_tls_start(struct tsd_conn *c)
{
	if (tsd_flush(c) < 0)
		return;
	if (tsd_avail(c) > 0) {
		tsd_event("discarded %zu bytes received before the TLS "
		    "handshake", tsd_avail(c));
		c->ipos = c->ilen = 0;
	}
	c->ssl = SSL_new(tsd_ssl_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_accept(c->ssl) != 1) {
		unsigned long e = ERR_get_error();
		char eb[256];

		ERR_error_string_n(e, eb, sizeof eb);
		tsd_event("TLS handshake failed on %ld: %s", c->id, eb);
		ERR_clear_error();
		if (c->ssl) {
			SSL_free(c->ssl);
			c->ssl = NULL;
		}
		c->dead = 1;
		return;
	}
	c->tls_version = SSL_get_version(c->ssl);
	tsd_event("tls %ld %s %s", c->id, c->tls_version,
	    SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
	{
		X509 *peer = SSL_get1_peer_certificate(c->ssl);

		if (peer && SSL_get_verify_result(c->ssl) == X509_V_OK) {
			X509_NAME_oneline(X509_get_subject_name(peer),
			    c->tls_client, (int)sizeof c->tls_client);
			tsd_event("tls %ld client certificate %s", c->id,
			    c->tls_client);
		}
		X509_free(peer);
	}
}

static void tsd_cmd_starttls(struct tsd_conn *c, const char *arg)
{
	const char *dflt = "220 2.0.0 Ready to start TLS";

	if (!tsd_ssl_ctx)
		dflt = "502 5.5.1 STARTTLS not available";
	else if (c->ssl)
		dflt = "503 5.5.1 TLS already active";
	else if (*arg)
		dflt = "501 5.5.4 Syntax: STARTTLS";
	if (tsd_answer(c, TSD_STARTTLS, arg, dflt) != '2' || dflt[0] != '2')
		return;
	tsd_tls_start(c);
	if (c->dead)
		return;
	/* RFC 3207 4.2: forget everything learnt before TLS */
	tsd_reset_tx(c);
	c->greeted = 0;
	c->esmtp = 0;
	c->helo[0] = '\0';
	c->authed = 0;
}

static enum tsd_cmd tsd_verb(const char *v, int *known)
{
	int i;

	*known = 1;
	for (i = 0; i < TSD_NCMD; i++)
		if (i != TSD_GREETING && i != TSD_DOT &&
		    strcasecmp(v, tsd_cmd_names[i]) == 0)
			return (enum tsd_cmd)i;
	*known = 0;
	return TSD_NOOP;
}

static void tsd_session(struct tsd_conn *c)
{
	char line[TSD_AUTH_MAX + 3], greet[300];
	int toolong;

	if (tsd_cfg.implicit_tls) {
		tsd_tls_start(c);
		if (c->dead)
			return;
	}
	snprintf(greet, sizeof greet, "220 %s ESMTP testsmtpd", tsd_cfg.hostname);
	if (tsd_answer(c, TSD_GREETING, "", greet) < 0)
		return;
	while (!c->dead) {
		char verb[16];
		const char *arg;
		size_t vl;
		long n = tsd_getline(c, line, sizeof line - 1, &toolong);
		enum tsd_cmd cmd;
		int known;

		if (n < 0)
			break;
		if (toolong) {
			tsd_log_bytes("C: ", "[line too long]", 15);
			tsd_say(c, "500 5.5.2 Line too long");
			continue;
		}
		tsd_log_bytes("C: ", line, (size_t)n);
		vl = strcspn(line, " ");
		if ((size_t)n + 2 > TSD_CMD_MAX &&
		    !(vl == 4 && strncasecmp(line, "AUTH", 4) == 0)) {
			tsd_say(c, "500 5.5.2 Line too long");
			continue;
		}
		if (vl >= sizeof verb) {
			tsd_say(c, "500 5.5.2 Command unrecognized");
			continue;
		}
		memcpy(verb, line, vl);
		verb[vl] = '\0';
		arg = line[vl] ? line + vl + 1 : "";
		cmd = tsd_verb(verb, &known);
		if (!known) {
			if (strcasecmp(verb, "VRFY") == 0)
				tsd_say(c, "252 2.5.2 Cannot VRFY user");
			else if (strcasecmp(verb, "HELP") == 0)
				tsd_say(c, "214 2.0.0 See RFC 5321");
			else
				tsd_say(c, "500 5.5.2 Command unrecognized");
			continue;
		}
		switch (cmd) {
		case TSD_EHLO:
		case TSD_HELO:
			tsd_cmd_helo(c, cmd, arg);
			break;
		case TSD_MAIL:
			tsd_cmd_mail(c, arg);
			break;
		case TSD_RCPT:
			tsd_cmd_rcpt(c, arg);
			break;
		case TSD_DATA:
			tsd_cmd_data(c, arg);
			break;
		case TSD_RSET:
			if (tsd_answer(c, cmd, arg, "250 2.0.0 Ok") == '2')
				tsd_reset_tx(c);
			break;
		case TSD_NOOP:
			tsd_answer(c, cmd, arg, "250 2.0.0 Ok");
			break;
		case TSD_QUIT:
			tsd_answer(c, cmd, arg, "221 2.0.0 Bye");
			tsd_flush(c);
			c->dead = 1;
			break;
		case TSD_STARTTLS:
			tsd_cmd_starttls(c, arg);
			break;
		case TSD_AUTH:
			tsd_cmd_auth(c, arg);
			break;
		default:
			tsd_say(c, "500 5.5.2 Command unrecognized");
			break;
		}
		if (!c->dead && tsd_avail(c) > 0 && cmd != TSD_DATA &&
		    (!tsd_cfg.pipelining || cmd == TSD_EHLO ||
		    cmd == TSD_HELO || cmd == TSD_STARTTLS ||
		    cmd == TSD_AUTH))
			tsd_event("improper pipelining after %s",
			    tsd_cmd_names[cmd]);
	}
	tsd_flush(c);
}

static void *tsd_thread(void *arg)
{
	struct tsd_conn *c = arg;

	tsd_session(c);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	tsd_event("close %ld", c->id);
	free(c->out);
	free(c->rcpts);
	free(c);
	pthread_mutex_lock(&tsd_lock);
	if (--tsd_active == 0)
		tsd_idle_since = time(NULL);
	pthread_mutex_unlock(&tsd_lock);
	if (write(tsd_wake[1], "c", 1) < 0)
		return NULL;
	return NULL;
}

/* ---- startup ------------------------------------------------------------- */

static long tsd_num(const char *opt, const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min)
		tsd_die("bad number for %s: %s", opt, s);
	return v;
}

static void tsd_add_rule(const char *s)
{
	struct tsd_rule *r;
	const char *eq = strchr(s, '=');
	char head[256];
	char *p, *slash;
	size_t hl;
	int i;

	if (!eq || tsd_cfg.n_rules >= TSD_MAX_RULES)
		tsd_die("bad or too many --reply rules: %s", s);
	hl = (size_t)(eq - s);
	if (hl >= sizeof head)
		tsd_die("--reply rule head too long: %s", s);
	memcpy(head, s, hl);
	head[hl] = '\0';
	r = &tsd_cfg.rules[tsd_cfg.n_rules];
	memset(r, 0, sizeof *r);
	r->reply = eq + 1;
	slash = strchr(head, '/');
	if (slash) {
		char *m = strdup(slash + 1);    /* kept for the lifetime */

		if (!m)
			tsd_die("out of memory");
		*slash = '\0';
		r->match = m;
	}
	p = strchr(head, '#');
	if (p) {
		*p = '\0';
		r->nth = tsd_num("--reply #N", p + 1, 1);
	}
	for (i = 0; i < TSD_NCMD; i++)
		if (strcasecmp(head, tsd_cmd_names[i]) == 0)
			break;
	if (i == TSD_NCMD)
		tsd_die("unknown command in --reply: %s", head);
	r->cmd = (enum tsd_cmd)i;
	tsd_cfg.n_rules++;
}

/* --chaos SEED:PERCENT */
static void tsd_parse_chaos(const char *v)
{
	char *end;
	unsigned long long seed;

	errno = 0;
	seed = strtoull(v, &end, 10);
	if (errno || end == v || *end != ':' || *v == '-')
		tsd_die("--chaos wants SEED:PERCENT, e.g. 42:30: %s", v);
	tsd_cfg.chaos_pct = (unsigned)tsd_num("--chaos PERCENT", end + 1, 0);
	if (tsd_cfg.chaos_pct > 100)
		tsd_die("--chaos PERCENT is 0 to 100: %s", v);
	tsd_cfg.chaos = 1;
	tsd_chaos_state = seed;
}

static void tsd_write_small(const char *path, long value)
{
	char tmp[TSD_PATH_MAX], buf[32];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int len = snprintf(buf, sizeof buf, "%ld\n", value);
	int fd;

	if (n < 0 || (size_t)n >= sizeof tmp)
		tsd_die("path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)len) != len || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		tsd_die("cannot write %s: %s", path, strerror(errno));
}

static void tsd_parse(int argc, char **argv)
{
	int i;

	tsd_cfg.addr = "127.0.0.1";
	tsd_cfg.hostname = "localhost";
	tsd_cfg.idle_timeout = 300;
	tsd_cfg.pipelining = tsd_cfg.eightbit = tsd_cfg.smtputf8 = 1;
	tsd_cfg.enhanced = tsd_cfg.dsn = tsd_cfg.ehlo_ok = tsd_cfg.size_on = 1;
	tsd_cfg.size = 104857600ULL;
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			fputs(tsd_usage, stdout);
			exit(0);
		}
#define TSD_FLAG(name, field, val) \
		if (!strcmp(o, name)) { tsd_cfg.field = val; continue; }
		TSD_FLAG("--no-pipelining", pipelining, 0)
		TSD_FLAG("--no-8bitmime", eightbit, 0)
		TSD_FLAG("--no-smtputf8", smtputf8, 0)
		TSD_FLAG("--no-dsn", dsn, 0)
		TSD_FLAG("--no-enhancedstatuscodes", enhanced, 0)
		TSD_FLAG("--no-size", size_on, 0)
		TSD_FLAG("--no-ehlo", ehlo_ok, 0)
		TSD_FLAG("--strict-crlf", strict_crlf, 1)
		TSD_FLAG("--implicit-tls", implicit_tls, 1)
		TSD_FLAG("--require-client-cert", require_client_cert, 1)
		TSD_FLAG("--auth-plain-ok", auth_plain_ok, 1)
		TSD_FLAG("--require-auth", require_auth, 1)
#undef TSD_FLAG
		if (!v)
			tsd_die("%s needs a value (see --help)", o);
		if (!strcmp(o, "-l"))
			tsd_cfg.addr = v;
		else if (!strcmp(o, "-p"))
			tsd_cfg.port = (int)tsd_num(o, v, 0);
		else if (!strcmp(o, "--port-file"))
			tsd_cfg.port_file = v;
		else if (!strcmp(o, "--pid-file"))
			tsd_cfg.pid_file = v;
		else if (!strcmp(o, "-d"))
			tsd_cfg.spool = v;
		else if (!strcmp(o, "--log"))
			tsd_cfg.log_path = v;
		else if (!strcmp(o, "--hostname"))
			tsd_cfg.hostname = v;
		else if (!strcmp(o, "--max-conns"))
			tsd_cfg.max_conns = tsd_num(o, v, 1);
		else if (!strcmp(o, "--exit-after"))
			tsd_cfg.exit_after = tsd_num(o, v, 1);
		else if (!strcmp(o, "--hold-dot-reply"))
			tsd_cfg.hold_dot_ms = tsd_num(o, v, 1);
		else if (!strcmp(o, "--idle-timeout"))
			tsd_cfg.idle_timeout = tsd_num(o, v, 0);
		else if (!strcmp(o, "--fail-connections"))
			tsd_cfg.fail_conns = tsd_num(o, v, 0);
		else if (!strcmp(o, "--size")) {
			tsd_cfg.size = (unsigned long long)tsd_num(o, v, 0);
			tsd_cfg.size_on = 1;
		} else if (!strcmp(o, "--ext")) {
			if (tsd_cfg.n_exts >= TSD_MAX_EXTS)
				tsd_die("too many --ext");
			tsd_cfg.exts[tsd_cfg.n_exts++] = v;
		} else if (!strcmp(o, "--reply"))
			tsd_add_rule(v);
		else if (!strcmp(o, "--chaos"))
			tsd_parse_chaos(v);
		else if (!strcmp(o, "--cert"))
			tsd_cfg.cert = v;
		else if (!strcmp(o, "--key"))
			tsd_cfg.key = v;
		else if (!strcmp(o, "--client-ca"))
			tsd_cfg.client_ca = v;
		else if (!strcmp(o, "--tls-version")) {
			if (!strcmp(v, "1.2"))
				tsd_cfg.tls_pin = TLS1_2_VERSION;
			else if (!strcmp(v, "1.3"))
				tsd_cfg.tls_pin = TLS1_3_VERSION;
			else
				tsd_die("--tls-version: 1.2 or 1.3");
		}
		else if (!strcmp(o, "--auth"))
			tsd_cfg.mechs = v;
		else if (!strcmp(o, "--user"))
			tsd_cfg.user = v;
		else if (!strcmp(o, "--pass"))
			tsd_cfg.pass = v;
		else
			tsd_die("unknown option %s (see --help)", o);
		i++;
	}
	if (strcmp(tsd_cfg.addr, "127.0.0.1") != 0 &&
	    strcmp(tsd_cfg.addr, "::1") != 0)
		tsd_die("refusing to listen on %s: only 127.0.0.1 or ::1",
		    tsd_cfg.addr);
	if ((tsd_cfg.cert != NULL) != (tsd_cfg.key != NULL))
		tsd_die("--cert and --key go together");
	if (tsd_cfg.implicit_tls && !tsd_cfg.cert)
		tsd_die("--implicit-tls needs --cert and --key");
	if ((tsd_cfg.client_ca || tsd_cfg.tls_pin) && !tsd_cfg.cert)
		tsd_die("--client-ca and --tls-version need --cert and --key");
	if (tsd_cfg.require_client_cert && !tsd_cfg.client_ca)
		tsd_die("--require-client-cert needs --client-ca");
	if (strlen(tsd_cfg.hostname) > 200)
		tsd_die("--hostname too long");
	if (tsd_cfg.mechs && strlen(tsd_cfg.mechs) > 400)
		tsd_die("--auth list too long");
}

static void tsd_tls_init(void)
{
	if (!tsd_cfg.cert)
		return;
	tsd_ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (!tsd_ssl_ctx ||
	    SSL_CTX_use_certificate_chain_file(tsd_ssl_ctx, tsd_cfg.cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(tsd_ssl_ctx, tsd_cfg.key,
	    SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(tsd_ssl_ctx) != 1) {
		char eb[256];

		ERR_error_string_n(ERR_get_error(), eb, sizeof eb);
		tsd_die("cannot load %s / %s: %s", tsd_cfg.cert, tsd_cfg.key, eb);
	}
	SSL_CTX_set_min_proto_version(tsd_ssl_ctx,
	    tsd_cfg.tls_pin ? tsd_cfg.tls_pin : TLS1_2_VERSION);
	if (tsd_cfg.tls_pin)
		SSL_CTX_set_max_proto_version(tsd_ssl_ctx, tsd_cfg.tls_pin);
	if (tsd_cfg.client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(
		    tsd_cfg.client_ca);

		if (!names || SSL_CTX_load_verify_locations(tsd_ssl_ctx,
		    tsd_cfg.client_ca, NULL) != 1)
			tsd_die("cannot load --client-ca %s", tsd_cfg.client_ca);
		SSL_CTX_set_client_CA_list(tsd_ssl_ctx, names);
		SSL_CTX_set_verify(tsd_ssl_ctx, SSL_VERIFY_PEER |
		    (tsd_cfg.require_client_cert ?
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}
}

static int tsd_listen(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, port;

	memset(&ss, 0, sizeof ss);
	if (strcmp(tsd_cfg.addr, "::1") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)tsd_cfg.port);
		sl = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons((uint16_t)tsd_cfg.port);
		sl = sizeof *s4;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		tsd_die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		tsd_die("bind %s port %d: %s", tsd_cfg.addr, tsd_cfg.port,
		    strerror(errno));
	if (listen(fd, 64) < 0)
		tsd_die("listen: %s", strerror(errno));
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		tsd_die("getsockname: %s", strerror(errno));
	port = ss.ss_family == AF_INET6 ?
	    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
	    ntohs(((struct sockaddr_in *)&ss)->sin_port);
	tsd_cfg.port = port;
	return fd;
}

static void tsd_accept_one(int lfd)
{
	struct tsd_conn *c;
	pthread_t th;
	pthread_attr_t attr;
	long id;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;

	if (fd < 0)
		return;
	pthread_mutex_lock(&tsd_lock);
	id = ++tsd_conns;
	pthread_mutex_unlock(&tsd_lock);
	if (id <= tsd_cfg.fail_conns) {
		tsd_event("connect %ld closed at once (--fail-connections)", id);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (tsd_cfg.idle_timeout > 0) {
		struct timeval tv = { .tv_sec = tsd_cfg.idle_timeout };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->id = id;
	tsd_event("connect %ld", id);
	pthread_mutex_lock(&tsd_lock);
	tsd_active++;
	pthread_mutex_unlock(&tsd_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, tsd_thread, c) != 0) {
		close(fd);
		free(c);
		pthread_mutex_lock(&tsd_lock);
		tsd_active--;
		pthread_mutex_unlock(&tsd_lock);
	}
	pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
	int lfd;
	time_t limit_at = 0;

	tsd_parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	tsd_tls_init();
	if (tsd_cfg.log_path) {
		tsd_logf = fopen(tsd_cfg.log_path, "a");
		if (!tsd_logf)
			tsd_die("cannot open %s: %s", tsd_cfg.log_path,
			    strerror(errno));
	}
	if (tsd_cfg.spool) {
		struct stat st;

		if (stat(tsd_cfg.spool, &st) < 0 || !S_ISDIR(st.st_mode))
			tsd_die("-d %s: not a directory", tsd_cfg.spool);
	}
	if (pipe2(tsd_wake, O_CLOEXEC | O_NONBLOCK) < 0)
		tsd_die("pipe: %s", strerror(errno));
	lfd = tsd_listen();
	if (tsd_cfg.pid_file)
		tsd_write_small(tsd_cfg.pid_file, (long)getpid());
	if (tsd_cfg.port_file)
		tsd_write_small(tsd_cfg.port_file, tsd_cfg.port);
	tsd_note("listening on %s port %d", tsd_cfg.addr, tsd_cfg.port);
	tsd_idle_since = time(NULL);

	for (;;) {
		struct pollfd pfd[2];
		long active, conns, msgs;
		time_t idle_since, now = time(NULL);
		int limit, timeout_ms = -1, nfds = 1;
		char junk[64];

		pthread_mutex_lock(&tsd_lock);
		active = tsd_active;
		conns = tsd_conns;
		msgs = tsd_msgs;
		idle_since = tsd_idle_since;
		pthread_mutex_unlock(&tsd_lock);

		limit = (tsd_cfg.max_conns && conns >= tsd_cfg.max_conns) ||
		    (tsd_cfg.exit_after && msgs >= tsd_cfg.exit_after);
		if (limit) {
			if (lfd >= 0) {
				close(lfd);
				lfd = -1;
				limit_at = now;
				tsd_note("limit reached: no more connections");
			}
			if (active == 0)
				break;
			if (tsd_cfg.exit_after && msgs >= tsd_cfg.exit_after) {
				if (now - limit_at >= 10)
					break;
				timeout_ms = 1000;
			}
		} else if (active == 0 && tsd_cfg.idle_timeout > 0) {
			time_t left = idle_since + tsd_cfg.idle_timeout - now;

			if (left <= 0) {
				tsd_note("idle for %ld s: exiting",
				    tsd_cfg.idle_timeout);
				break;
			}
			timeout_ms = (int)(left * 1000);
		}
		pfd[0].fd = tsd_wake[0];
		pfd[0].events = POLLIN;
		if (lfd >= 0) {
			pfd[1].fd = lfd;
			pfd[1].events = POLLIN;
			nfds = 2;
		}
		if (poll(pfd, (nfds_t)nfds, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			tsd_die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents & POLLIN)
			while (read(tsd_wake[0], junk, sizeof junk) > 0)
				;
		if (nfds == 2 && (pfd[1].revents & POLLIN))
			tsd_accept_one(lfd);
	}
	tsd_note("exiting");
	pthread_mutex_lock(&tsd_lock);
	if (tsd_logf)
		fflush(tsd_logf);
	pthread_mutex_unlock(&tsd_lock);
	return 0;
}
