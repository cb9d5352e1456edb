/*
 * test_tls — the STARTTLS and AUTH hooks of the SMTP client against a
 * scripted server on a socket pair, and the fingerprint syntax.
 *
 * The peer thread plays the server: "<LINE" expects the client to send
 * exactly LINE, ">TEXT" sends TEXT + CRLF, "!raw TEXT" sends TEXT as is
 * (several replies in one write), "?" waits for bytes and drops them
 * (a TLS ClientHello). Anything the client sends after the
 * script is recorded, so an unexpected command fails the test. A socket
 * pair counts as a local connection, so AUTH without TLS is allowed here
 * (as on loopback); the refusal elsewhere is in the integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "smtp/auth.h"
#include "smtp/session.h"
#include "smtp/smtp.h"
#include "smtp/tls.h"
#include "unit_helpers.h"

#define PEER_TIMEOUT 3000

struct peer {
	int fd;
	const char *const *script;
	char rbuf[8192];
	size_t rlen;
	char err[512];
	char extra[512];
	pthread_t th;
};

static void peer_write(struct peer *p, const char *s, int crlf);
static int peer_line(struct peer *p, char *line, size_t cap);

/* ---- a SCRAM-SHA-256 server for the "!scram MODE" step ----
 * MODE good: proves itself; badsig: sends a wrong v=; nosig: says 235
 * without v=; refuse: answers the proof with 535. The password the
 * server knows is PEER_SCRAM_PW. */
#define PEER_SCRAM_PW "pencil"

static int peer_b64dec(const char *in, unsigned char *out, size_t cap)
{
	size_t len = strlen(in), pad = 0;
	int n;

	if (len % 4 != 0 || len / 4 * 3 > cap)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	out[n - (int)pad] = '\0';
	return n - (int)pad;
}

static void peer_b64enc(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static void peer_scram(struct peer *p, const char *mode)
{
	static const unsigned char salt[] = "0123456789abcdef";
	const EVP_MD *md = EVP_sha256();
	unsigned char dec[2048], salted[32], ckey[32], stored[32], csig[32];
	unsigned char skey[32], ssig[32], proof[32];
	char line[4096], first[1024], sfirst[1024], am[4096], b64[4096];
	char out[4200];
	const char *r, *pp;
	unsigned int ml;
	int n, i;

	if (peer_line(p, line, sizeof(line)) < 0 ||
	    strncmp(line, "AUTH SCRAM-SHA-256 ", 19) != 0 ||
	    (n = peer_b64dec(line + 19, dec, sizeof(dec) - 1)) < 0 ||
	    strncmp((char *)dec, "n,,n=alice,r=", 13) != 0) {
		snprintf(p->err, sizeof(p->err), "bad SCRAM client-first");
		return;
	}
	snprintf(first, sizeof(first), "%.1000s", (char *)dec + 3);
	r = strstr(first, ",r=") + 3;
	snprintf(sfirst, sizeof(sfirst), "r=%.900sSRVNONCE,s=", r);
	peer_b64enc(salt, 16, sfirst + strlen(sfirst));
	snprintf(sfirst + strlen(sfirst), sizeof(sfirst) - strlen(sfirst),
	    ",i=4096");
	peer_b64enc((unsigned char *)sfirst, strlen(sfirst), b64);
	snprintf(out, sizeof(out), "334 %s", b64);
	peer_write(p, out, 1);
	if (peer_line(p, line, sizeof(line)) < 0 ||
	    (n = peer_b64dec(line, dec, sizeof(dec) - 1)) < 0 ||
	    (pp = strstr((char *)dec, ",p=")) == NULL) {
		snprintf(p->err, sizeof(p->err), "bad SCRAM client-final");
		return;
	}
	if (pp - (char *)dec > 1900) {
		snprintf(p->err, sizeof(p->err), "SCRAM client-final too long");
		return;
	}
	snprintf(am, sizeof(am), "%.1000s,%.1100s,%.*s", first, sfirst,
	    (int)(pp - (char *)dec), (char *)dec);
	PKCS5_PBKDF2_HMAC(PEER_SCRAM_PW, 6, salt, 16, 4096, md, 32, salted);
	HMAC(md, salted, 32, (const unsigned char *)"Client Key", 10, ckey,
	    &ml);
	EVP_Digest(ckey, 32, stored, NULL, md, NULL);
	HMAC(md, stored, 32, (unsigned char *)am, strlen(am), csig, &ml);
	HMAC(md, salted, 32, (const unsigned char *)"Server Key", 10, skey,
	    &ml);
	HMAC(md, skey, 32, (unsigned char *)am, strlen(am), ssig, &ml);
	{
		unsigned char raw[64];

		if (peer_b64dec(pp + 3, raw, sizeof(raw) - 1) != 32) {
			snprintf(p->err, sizeof(p->err), "bad SCRAM proof");
			return;
		}
		memcpy(proof, raw, 32);
	}
	for (i = 0; i < 32; i++)
		proof[i] ^= csig[i];        /* = the client's ClientKey */
	EVP_Digest(proof, 32, proof, NULL, md, NULL);
	if (strcmp(mode, "refuse") == 0 ||
	    CRYPTO_memcmp(proof, stored, 32) != 0) {
		peer_write(p, "535 5.7.8 Authentication failed", 1);
		return;
	}
	if (strcmp(mode, "nosig") == 0) {
		peer_write(p, "235 2.7.0 ok", 1);
		return;
	}
	if (strcmp(mode, "badsig") == 0)
		ssig[0] ^= 1;
	memcpy(out, "v=", 2);
	peer_b64enc(ssig, 32, out + 2);
	peer_b64enc((unsigned char *)out, strlen(out), b64);
	snprintf(out, sizeof(out), "334 %s", b64);
	peer_write(p, out, 1);
	if (strcmp(mode, "badsig") == 0)
		return;         /* the client must cancel: the script has "<*" */
	if (peer_line(p, line, sizeof(line)) < 0 || line[0] != '\0') {
		snprintf(p->err, sizeof(p->err), "no empty SCRAM response");
		return;
	}
	peer_write(p, "235 2.7.0 ok", 1);
}

static int peer_line(struct peer *p, char *line, size_t cap)
{
	return peer_read_line(p->fd, p->rbuf, sizeof(p->rbuf), &p->rlen,
	    line, cap, PEER_TIMEOUT);
}

static void peer_write(struct peer *p, const char *s, int crlf)
{
	if (peer_write_text(p->fd, s, crlf) < 0)
		snprintf(p->err, sizeof(p->err), "cannot send %s", s);
}

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	const char *const *st;
	char line[4096];

	for (st = p->script; *st != NULL && p->err[0] == '\0'; st++) {
		if ((*st)[0] == '<') {
			if (peer_line(p, line, sizeof(line)) < 0)
				snprintf(p->err, sizeof(p->err),
				    "expected \"%s\", got nothing", *st + 1);
			else if (strcmp(line, *st + 1) != 0)
				snprintf(p->err, sizeof(p->err),
				    "expected \"%.200s\", got \"%.200s\"", *st + 1,
				    line);
		} else if ((*st)[0] == '>') {
			peer_write(p, *st + 1, 1);
		} else if (strncmp(*st, "!raw ", 5) == 0) {
			peer_write(p, *st + 5, 0);
		} else if (strncmp(*st, "!scram ", 7) == 0) {
			peer_scram(p, *st + 7);
		} else if (strcmp(*st, "?") == 0) {
			/* wait for bytes (a ClientHello) and drop them */
			struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

			if (poll(&pfd, 1, PEER_TIMEOUT) <= 0 ||
			    read(p->fd, p->rbuf, sizeof(p->rbuf)) <= 0)
				snprintf(p->err, sizeof(p->err),
				    "no TLS hello");
			p->rlen = 0;
		}
	}
	/* whatever comes after the script */
	while (peer_line(p, line, sizeof(line)) == 0) {
		size_t have = strlen(p->extra);

		snprintf(p->extra + have, sizeof(p->extra) - have, "%.200s|",
		    line);
	}
	close(p->fd);
	return NULL;
}

struct tx {
	char buf[8192];
	size_t len;
};

static void tx_line(void *tag, char dir, const char *line)
{
	struct tx *t = tag;
	int n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%c: %s\n",
	    dir, line);

	if (n > 0 && (size_t)n < sizeof(t->buf) - t->len)
		t->len += (size_t)n;
}

/* Runs smtp_connect_fd with P against SCRIPT. Returns its result; the
 * session, if any, is quit (its QUIT must be in the script). */
static int run(struct smtp_params *p, const char *const *script,
    struct smtp_error *err, struct tx *tx, char *desc, size_t desclen,
    const char *extra)
{
	struct peer *peer = calloc(1, sizeof(*peer));
	struct smtp_session *s = NULL;
	int sv[2], rc;

	assert_non_null(peer);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	peer->fd = sv[1];
	peer->script = script;
	memset(tx, 0, sizeof(*tx));
	p->transcript = tx_line;
	p->tag = tx;
	p->host = "mail.example.com";
	p->port = "587";
	p->timeouts.greeting = p->timeouts.command = 3000;
	p->timeouts.connect = 3000;
	assert_int_equal(pthread_create(&peer->th, NULL, peer_run, peer), 0);
	rc = smtp_connect_fd(p, sv[0], &s, err);
	if (rc == 0) {
		snprintf(desc, desclen, "%s", smtp_server_desc(s));
		smtp_quit(s);
	}
	pthread_join(peer->th, NULL);
	if (peer->err[0] != '\0')
		fail_msg("peer: %s\ntranscript:\n%s", peer->err, tx->buf);
	if (strcmp(peer->extra, extra ? extra : "") != 0)
		fail_msg("after the script the client sent \"%s\", want "
		    "\"%s\"", peer->extra, extra ? extra : "");
	free(peer);
	return rc;
}

#define EHLO_AUTH(mechs) \
	">220 mail.example.com ESMTP", "<EHLO localhost", \
	">250-mail.example.com", ">250 AUTH " mechs

static void expect_text(const struct smtp_error *e, const char *want)
{
	if (strstr(e->text, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", e->text, want);
}

/* ---- fingerprints ---- */

static void test_fingerprint_norm(void **st)
{
	static const char want[] = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
	    "45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
	static const struct { const char *in; int ok; } cases[] = {
		{ "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
		  "01:23:45:67:89:AB:CD:EF:01:23:45:67:89", 1 },
		{ "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:"
		  "01:23:45:67:89:ab:cd:ef:01:23:45:67:89", 1 },
		{ "abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		  "0123456789", 1 },
		/* SHA-1 length: refused */
		{ "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
		  0 },
		{ "", 0 },
		{ "AB:CD", 0 },
		{ "XY:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
		  "01:23:45:67:89:AB:CD:EF:01:23:45:67:89", 0 },
		/* one hex digit too many */
		{ "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
		  "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:0", 0 },
	};
	char out[128];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = tls_fingerprint_norm(cases[i].in, out, sizeof(out));

		if (rc != (cases[i].ok ? 0 : -1))
			fail_msg("case %zu (%s): got %d", i, cases[i].in, rc);
		if (cases[i].ok)
			assert_string_equal(out, want);
	}
	assert_int_equal(tls_fingerprint_norm(NULL, out, sizeof(out)), -1);
	assert_int_equal(tls_fingerprint_norm(cases[0].in, out, 50), -1);
}

/* ---- where credentials may go without verified TLS ---- */

static void test_addr_is_local(void **st)
{
	static const struct { const char *addr; int local; } cases[] = {
		{ "127.0.0.1", 1 }, { "127.255.3.4", 1 }, { "128.0.0.1", 0 },
		{ "126.255.255.255", 0 }, { "10.0.0.1", 0 },
		{ "192.168.1.10", 0 }, { "0.0.0.0", 0 },
		{ "::1", 1 }, { "::ffff:127.0.0.1", 1 }, { "::ffff:10.0.0.1", 0 },
		{ "::", 0 }, { "2001:db8::1", 0 }, { "fe80::1", 0 },
		{ "::2", 0 }, { "::127.0.0.1", 0 },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		int got;

		memset(&ss, 0, sizeof(ss));
		if (strchr(cases[i].addr, ':')) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			a->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, cases[i].addr,
			    &a->sin6_addr), 1);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			a->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, cases[i].addr,
			    &a->sin_addr), 1);
		}
		got = smtp_addr_is_local((struct sockaddr *)&ss);
		if (got != cases[i].local)
			fail_msg("%s: got %d, want %d", cases[i].addr, got,
			    cases[i].local);
	}
	{
		struct sockaddr_un un = { .sun_family = AF_UNIX };

		assert_int_equal(smtp_addr_is_local((struct sockaddr *)&un), 1);
	}
}

/* ---- STARTTLS refusals ---- */

static void test_starttls_not_offered(void **st)
{
	static const char *const script[] = {
		">220 mail.example.com ESMTP", "<EHLO localhost",
		">250-mail.example.com", ">250 PIPELINING",
		"<QUIT", ">221 bye", NULL };
	struct smtp_params p = { .tls = SMTP_TLS_STARTTLS, .tls_certcheck = 1 };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    -1);
	assert_int_equal(e.fail, SMTP_FAIL_TLS);
	assert_int_equal(e.temporary, 1);
	assert_string_equal(e.step, "STARTTLS");
	expect_text(&e, "does not offer STARTTLS; not sending in plain text");
	assert_null(strstr(tx.buf, "C: STARTTLS"));
}

static void test_starttls_454(void **st)
{
	static const char *const script[] = {
		">220 mail.example.com ESMTP", "<EHLO localhost",
		">250-mail.example.com", ">250 STARTTLS",
		"<STARTTLS", ">454 4.7.0 TLS not available",
		"<QUIT", ">221 bye", NULL };
	struct smtp_params p = { .tls = SMTP_TLS_STARTTLS, .tls_certcheck = 1 };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    -1);
	assert_int_equal(e.fail, SMTP_FAIL_TLS);
	assert_int_equal(e.temporary, 1);
	assert_int_equal(e.code, 454);
	assert_string_equal(e.enh, "4.7.0");
	expect_text(&e, "server answered STARTTLS with 454 4.7.0 TLS not "
	    "available; not sending in plain text");
}

static void test_starttls_injection(void **st)
{
	/* the 220 and a forged reply in one write: nothing more is sent,
	 * not even QUIT (the stream cannot be trusted) */
	static const char *const script[] = {
		">220 mail.example.com ESMTP", "<EHLO localhost",
		">250-mail.example.com", ">250 STARTTLS",
		"<STARTTLS", "!raw 220 go ahead\r\n250-forged\r\n250 AUTH PLAIN\r\n",
		NULL };
	struct smtp_params p = { .tls = SMTP_TLS_STARTTLS, .tls_certcheck = 1 };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    -1);
	assert_int_equal(e.fail, SMTP_FAIL_PROTO);
	assert_string_equal(e.step, "STARTTLS");
	expect_text(&e, "response injection");
	assert_null(strstr(tx.buf, "forged"));
}

static void test_starttls_no_tls_server(void **st)
{
	/* the server says go, then answers the ClientHello in plain text */
	static const char *const script[] = {
		">220 mail.example.com ESMTP", "<EHLO localhost",
		">250-mail.example.com", ">250 STARTTLS",
		"<STARTTLS", ">220 go ahead", "?",
		"!raw 500 5.5.1 what is this\r\n", NULL };
	struct smtp_params p = { .tls = SMTP_TLS_STARTTLS, .tls_certcheck = 1 };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    -1);
	assert_int_equal(e.fail, SMTP_FAIL_TLS);
	assert_int_equal(e.temporary, 1);
	assert_string_equal(e.step, "STARTTLS");
	expect_text(&e, "TLS handshake with mail.example.com failed");
	assert_null(strstr(tx.buf, "500 5.5.1"));
}

/* A connection must not use up OpenSSL's process-wide BIO type
 * numbers: a daemon makes thousands (128 are available). */
static void test_tls_no_bio_index_per_connection(void **st)
{
	static const char *const script[] = {
		">220 mail.example.com ESMTP", "<EHLO localhost",
		">250-mail.example.com", ">250 STARTTLS",
		"<STARTTLS", ">220 go ahead", "?",
		"!raw 500 5.5.1 what is this\r\n", NULL };
	struct smtp_params p = { .tls = SMTP_TLS_STARTTLS, .tls_certcheck = 1 };
	struct smtp_error e;
	struct tx tx;
	char desc[256];
	int before, after, i;

	(void)st;
	before = BIO_get_new_index();
	for (i = 0; i < 3; i++)
		assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc),
		    NULL), -1);
	expect_text(&e, "TLS handshake with mail.example.com failed");
	after = BIO_get_new_index();
	assert_true(before > 0);
	assert_int_equal(after, before + 1);
}

/* ---- AUTH ---- */

static void test_auth_plain(void **st)
{
	static const char *const script[] = {
		EHLO_AUTH("LOGIN PLAIN"),
		"<AUTH PLAIN AGFsaWNlAHMzY3JldA==", ">235 2.7.0 ok",
		"<QUIT", ">221 bye", NULL };
	struct smtp_params p = { .auth_mech = "", .user = "alice",
	    .secret = "s3cret" };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    0);
	assert_non_null(strstr(tx.buf, "C: AUTH PLAIN [credentials hidden]\n"
	    "S: 235 2.7.0 ok\n"));
	assert_null(strstr(tx.buf, "AGFsaWNl"));
	assert_null(strstr(tx.buf, "s3cret"));
	assert_string_equal(desc, "mail.example.com:587 plain auth=plain");
}

static void test_auth_login(void **st)
{
	static const char *const script[] = {
		EHLO_AUTH("LOGIN"),
		"<AUTH LOGIN", ">334 VXNlcm5hbWU6", "<YWxpY2U=",
		">334 UGFzc3dvcmQ6", "<czNjcmV0", ">235 2.7.0 ok",
		"<QUIT", ">221 bye", NULL };
	struct smtp_params p = { .auth_mech = "", .user = "alice",
	    .secret = "s3cret" };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    0);
	assert_non_null(strstr(tx.buf, "C: AUTH LOGIN\n"
	    "S: 334 VXNlcm5hbWU6\nC: [credentials hidden]\n"
	    "S: 334 UGFzc3dvcmQ6\nC: [credentials hidden]\n"
	    "S: 235 2.7.0 ok\n"));
	assert_null(strstr(tx.buf, "czNjcmV0"));
	assert_null(strstr(tx.buf, "YWxpY2U="));
}

static void test_auth_cram_md5_rfc2195(void **st)
{
	static const char *const script[] = {
		EHLO_AUTH("PLAIN CRAM-MD5"),
		"<AUTH CRAM-MD5",
		">334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
		"<dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
		">235 2.7.0 ok", "<QUIT", ">221 bye", NULL };
	struct smtp_params p = { .auth_mech = "", .user = "tim",
	    .secret = "tanstaaftanstaaf" };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run(&p, script, &e, &tx, desc, sizeof(desc), NULL),
	    0);
	assert_non_null(strstr(desc, "auth=cram-md5"));
}

static int run_scram(const char *const *script, const char *pw,
    struct smtp_error *e, struct tx *tx, char *desc, size_t desclen)
{
	struct smtp_params p = { .auth_mech = "", .user = "alice",
	    .secret = pw };

	return run(&p, script, e, tx, desc, desclen, NULL);
}

static void test_auth_scram_verified(void **st)
{
	static const char *const script[] = {
		EHLO_AUTH("PLAIN SCRAM-SHA-256"), "!scram good",
		"<QUIT", ">221 bye", NULL };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	(void)st;
	assert_int_equal(run_scram(script, PEER_SCRAM_PW, &e, &tx, desc,
	    sizeof(desc)), 0);
	assert_string_equal(desc, "mail.example.com:587 plain "
	    "auth=scram-sha-256");
	assert_non_null(strstr(tx.buf, "C: AUTH SCRAM-SHA-256 [credentials "
	    "hidden]\nS: 334 "));
	/* two hidden responses: the proof and the empty final one */
	assert_non_null(strstr(tx.buf, "C: [credentials hidden]\nS: 334 "));
	assert_non_null(strstr(tx.buf, "C: [credentials hidden]\nS: 235 "));
}

/* ---- AUTH that must fail: one row a case, one cmocka test a row ---- */

struct auth_fail_case {
	const char *name;
	const char *const *script;
	const char *mech;        /* auth_mech */
	const char *user;        /* NULL: not set */
	const char *secret;
	enum smtp_fail fail;
	int temporary;           /* -1: not checked */
	int code;                /* 0: not checked */
	const char *enh;         /* NULL: not checked */
	const char *text;        /* in the error text; NULL: not checked */
	const char *not_text;    /* never in the error text; NULL: no check */
	const char *tx_has;      /* in the transcript; NULL: no check */
};

static const struct auth_fail_case auth_fail_cases[] = {
	{ .name = "test_auth_535_defers",
	  .script = (const char *const[]){ EHLO_AUTH("PLAIN"),
	      "<AUTH PLAIN AGFsaWNlAHdyb25n",
	      ">535 5.7.8 Authentication credentials invalid",
	      "<QUIT", ">221 bye", NULL },
	  .mech = "PLAIN", .user = "alice", .secret = "wrong",
	  .fail = SMTP_FAIL_AUTH, .temporary = 1, .code = 535,
	  .enh = "5.7.8", .text = "login refused", .not_text = "wrong" },
	{ .name = "test_auth_no_common_mechanism",
	  .script = (const char *const[]){ EHLO_AUTH("GSSAPI NTLM XOAUTH2"),
	      "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = "pw",
	  .fail = SMTP_FAIL_AUTH, .temporary = 0,
	  .text = "the server offers GSSAPI NTLM XOAUTH2" },
	{ .name = "test_auth_bad_base64_cancels",
	  .script = (const char *const[]){ EHLO_AUTH("LOGIN"),
	      "<AUTH LOGIN", ">334 VXNlc!!!", "<*",
	      ">501 5.7.0 cancelled", "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = "pw",
	  .fail = SMTP_FAIL_PROTO, .temporary = -1,
	  .text = "not valid base64" },
	/* The server closes (421) instead of answering the "*": no QUIT. */
	{ .name = "test_auth_cancel_421",
	  .script = (const char *const[]){ EHLO_AUTH("LOGIN"),
	      "<AUTH LOGIN", ">334 VXNlc!!!", "<*",
	      ">421 4.3.2 shutting down", NULL },
	  .mech = "", .user = "alice", .secret = "pw",
	  .fail = SMTP_FAIL_PROTO, .temporary = -1,
	  .text = "not valid base64" },
	{ .name = "test_auth_extra_challenge_cancels",
	  .script = (const char *const[]){ EHLO_AUTH("LOGIN"),
	      "<AUTH LOGIN", ">334 VXNlcm5hbWU6", "<YWxpY2U=",
	      ">334 UGFzc3dvcmQ6", "<cHc=", ">334 QWdhaW46",
	      "<*", ">501 5.7.0 cancelled", "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = "pw",
	  .fail = SMTP_FAIL_AUTH, .temporary = -1,
	  .text = "unexpected challenge" },
	/* user=alice^Aauth=Bearer tok^A^A */
	{ .name = "test_auth_xoauth2_error",
	  .script = (const char *const[]){ EHLO_AUTH("XOAUTH2"),
	      "<AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sBAQ==",
	      ">334 eyJzdGF0dXMiOiI0MDEifQ==", "<",
	      ">535 5.7.8 Username and Password not accepted",
	      "<QUIT", ">221 bye", NULL },
	  .mech = "XOAUTH2", .user = "alice", .secret = "tok",
	  .fail = SMTP_FAIL_AUTH, .temporary = 1,
	  .text = "server said {\"status\":\"401\"}",
	  .tx_has = "C: AUTH XOAUTH2 [credentials hidden]\n"
	      "S: 334 eyJzdGF0dXMiOiI0MDEifQ==\nC: [credentials hidden]\n" },
	{ .name = "test_auth_scram_wrong_password",
	  .script = (const char *const[]){ EHLO_AUTH("SCRAM-SHA-256"),
	      "!scram good", "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = "crayon",
	  .fail = SMTP_FAIL_AUTH, .temporary = 1, .code = 535 },
	/* the server's signature is wrong: the client cancels, even though
	 * the server would have let it in */
	{ .name = "test_auth_scram_impostor",
	  .script = (const char *const[]){ EHLO_AUTH("SCRAM-SHA-256"),
	      "!scram badsig", "<*", ">501 5.7.0 cancelled",
	      "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = PEER_SCRAM_PW,
	  .fail = SMTP_FAIL_AUTH, .temporary = -1,
	  .text = "wrong server signature" },
	/* 235 without the server ever proving it knows the password */
	{ .name = "test_auth_scram_no_signature",
	  .script = (const char *const[]){ EHLO_AUTH("SCRAM-SHA-256"),
	      "!scram nosig", "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = "alice", .secret = PEER_SCRAM_PW,
	  .fail = SMTP_FAIL_AUTH, .temporary = -1,
	  .text = "no server signature" },
	{ .name = "test_auth_missing_user",
	  .script = (const char *const[]){ EHLO_AUTH("PLAIN"),
	      "<QUIT", ">221 bye", NULL },
	  .mech = "", .user = NULL, .secret = "pw",
	  .fail = SMTP_FAIL_LOCAL, .temporary = 0,
	  .text = "user is not set" },
};

#define N_AUTH_FAIL (sizeof(auth_fail_cases) / sizeof(auth_fail_cases[0]))

/* *st is the row of auth_fail_cases to run. */
static void test_auth_fails(void **st)
{
	const struct auth_fail_case *c = *st;
	struct smtp_params p = { .auth_mech = c->mech, .user = c->user,
	    .secret = c->secret };
	struct smtp_error e;
	struct tx tx;
	char desc[256];

	assert_int_equal(run(&p, c->script, &e, &tx, desc, sizeof(desc),
	    NULL), -1);
	assert_int_equal(e.fail, c->fail);
	if (c->temporary >= 0)
		assert_int_equal(e.temporary, c->temporary);
	if (c->code != 0)
		assert_int_equal(e.code, c->code);
	if (c->enh != NULL)
		assert_string_equal(e.enh, c->enh);
	if (c->text != NULL)
		expect_text(&e, c->text);
	if (c->not_text != NULL)
		assert_null(strstr(e.text, c->not_text));
	if (c->tx_has != NULL)
		assert_non_null(strstr(tx.buf, c->tx_has));
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_fingerprint_norm),
		cmocka_unit_test(test_addr_is_local),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_starttls_454),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_no_tls_server),
		cmocka_unit_test(test_tls_no_bio_index_per_connection),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_auth_login),
		cmocka_unit_test(test_auth_cram_md5_rfc2195),
		cmocka_unit_test(test_auth_scram_verified),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct CMUnitTest tests[N_FIXED + N_AUTH_FAIL];
	size_t i;

	for (i = 0; i < N_FIXED; i++)
		tests[i] = fixed[i];
	for (i = 0; i < N_AUTH_FAIL; i++) {
		tests[N_FIXED + i] = (struct CMUnitTest)
		    cmocka_unit_test_prestate(test_auth_fails,
		    (void *)&auth_fail_cases[i]);
		tests[N_FIXED + i].name = auth_fail_cases[i].name;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
