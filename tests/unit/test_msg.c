/*
 * test_msg — msg_prepare and msg_stream end to end: what is refused (with
 * the exact error text), what the header that is sent looks like byte for
 * byte, which body encoding is chosen, and the exact DATA bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtp/msg.h"

#define NOW 1795881613          /* Sat, 28 Nov 2026 16:00:13 UTC */
#define DATE "Sat, 28 Nov 2026 16:00:13 +0000"

static int mkfd(const char *s, size_t n)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);
	size_t off = 0;

	assert_true(fd >= 0);
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	return fd;
}

static const struct msg_params params_alice = {
	.from = "alice@example.com",
	.domain = "laptop.example.com",
	.now = NOW,
};

static const struct msg_params params_none = {
	.now = NOW,
};

/* The whole DATA stream, read CHUNK bytes at a time. Caller frees. */
static char *stream_all(const struct msg *m, int fd, int eightbit_ok,
    size_t chunk, size_t *len, int *is8)
{
	struct msg_stream *s;
	char err[256], *out = NULL, *buf = malloc(chunk);
	size_t n = 0;
	ssize_t r;

	assert_non_null(buf);
	assert_int_equal(msg_stream_open(m, fd, eightbit_ok, &s, err,
	    sizeof(err)), 0);
	if (is8)
		*is8 = msg_stream_8bit(s);
	while ((r = msg_stream_read(s, buf, chunk, err, sizeof(err))) > 0) {
		out = realloc(out, n + (size_t)r + 1);
		assert_non_null(out);
		memcpy(out + n, buf, (size_t)r);
		n += (size_t)r;
	}
	assert_int_equal(r, 0);
	msg_stream_free(s);
	free(buf);
	if (out == NULL)
		out = calloc(1, 1);
	out[n] = '\0';
	*len = n;
	return out;
}

/* Wire invariants every stream must keep. */
static void assert_wire_ok(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '\r')
			assert_true(i + 1 < n && w[i + 1] == '\n');
		if (w[i] == '\n')
			assert_true(i > 0 && w[i - 1] == '\r');
	}
	assert_true(n >= 2);
	assert_memory_equal(w + n - 2, "\r\n", 2);
	assert_null(memmem(w, n, "\r\n.\r\n", 5));
	assert_false(n >= 3 && memcmp(w, ".\r\n", 3) == 0);
}

/* ---- refusals ---- */

struct bad_case {
	const char *in;
	size_t inlen;
	const struct msg_params *p;
	const char *err;
};

#define S(x) x, sizeof(x) - 1

static const struct bad_case bad_cases[] = {
	{ S(""), &params_alice, "no header block: start the file with To: "
	    "and Subject: lines, then a blank line" },
	{ S("Hello Bob,\n\nhow are you?\n"), &params_alice,
	    "no header block: start the file with To: and Subject: lines, "
	    "then a blank line" },
	{ S("\nTo: bob@example.com\n"), &params_alice,
	    "no header block: start the file with To: and Subject: lines, "
	    "then a blank line" },
	{ S(" To: bob@example.com\n\n"), &params_alice,
	    "no header block: start the file with To: and Subject: lines, "
	    "then a blank line" },
	{ S("To: bob@example.com\nSubject hi\n\nbody\n"), &params_alice,
	    "line 2 is not a header (Name: value): \"Subject hi\"; put a "
	    "blank line between the headers and the body" },
	{ S("To: bob@example.com\n  \nHello Bob\n"), &params_alice,
	    "line 3 is not a header (Name: value): \"Hello Bob\"; line 2 "
	    "holds only spaces, but the line between the headers and the "
	    "body must be empty" },
	{ S("To: bob@example.com\nSub ject: hi\n\n"), &params_alice,
	    "line 2 is not a header (Name: value): \"Sub ject: hi\"; put a "
	    "blank line between the headers and the body" },
	{ S("To: bob@example.com\nSubject: hi\rBcc: evil@example.net\n\n"),
	    &params_alice, "line 2 of the header block contains a carriage "
	    "return that does not end the line (header injection?)" },
	{ S("To: bob@example.com\rSubject: x\n\n"), &params_alice,
	    "line 1 of the header block contains a carriage return that "
	    "does not end the line (header injection?)" },
	{ S("To: bob@example.com\nSubject: a\0b\n\n"), &params_alice,
	    "line 2 of the header block contains a NUL byte" },
	{ S("To: bob@example.com\nX: y\r\r\n\n"), &params_alice,
	    "line 2 of the header block contains a carriage return that "
	    "does not end the line (header injection?)" },
	{ S("Subject: hi\n\nbody\n"), &params_alice,
	    "no recipient: add a To:, Cc: or Bcc: line" },
	{ S("To:\nCc: \nSubject: hi\n\n"), &params_alice,
	    "no recipient: add a To:, Cc: or Bcc: line" },
	{ S("To: undisclosed-recipients:;\n\n"), &params_alice,
	    "no recipient: add a To:, Cc: or Bcc: line" },
	{ S("To: bob@@example.com\n\n"), &params_alice,
	    "To: bob@@example.com: two @ signs" },
	{ S("To: ok@example.com\nCc: Carol <carol@example.com\n\n"),
	    &params_alice, "Cc: Carol <carol@example.com: missing >" },
	{ S("To: bob@example.com\nBcc: <>\n\n"), &params_alice,
	    "Bcc: <>: empty address <>" },
	{ S("To: bob@example.com\n\nhi\n"), &params_none,
	    "no sender: add a From: line or set from in the configuration" },
	{ S("From: a@example.com\nFrom: b@example.com\nTo: c@example.com"
	    "\n\n"), &params_none, "more than one From: line" },
	{ S("From:\nTo: c@example.com\n\n"), &params_alice,
	    "empty From: line: write an address or remove the line" },
	{ S("From: Alice <alice@>\nTo: c@example.com\n\n"), &params_alice,
	    "From: alice@: nothing after @ (missing domain)" },
	{ S("To: c@example.com\nAttach: /etc/passwd\n\n"), &params_alice,
	    "Attach: lines are only understood when the message is "
	    "submitted through the outbox" },
	{ S("To: c@example.com\nSubject: caf\xe9\n\n"), &params_alice,
	    "header Subject: not valid UTF-8 (save the file as UTF-8)" },
	{ S("To: c@example.com\nX-Name: \xc3\n\n"), &params_alice,
	    "header X-Name: not valid UTF-8 (save the file as UTF-8)" },
	{ S("To: c@example.com\nMIME-Version: 1.0\n\nx\0y\n"), &params_alice,
	    "the body contains NUL bytes and has its own MIME headers: "
	    "encode that part as base64" },
};

static void test_bad(void **state)
{
	const struct bad_case *c = *state;
	struct msg m;
	char err[512] = "";
	int fd = mkfd(c->in, c->inlen);

	struct msg_src src = { -1, c->in, c->inlen };

	assert_int_equal(msg_prepare(fd, c->p, &m, err, sizeof(err)), -1);
	close(fd);
	if (strcmp(err, c->err) != 0)
		fail_msg("got \"%s\"\nwant \"%s\"", err, c->err);
	/* nothing to free, nothing left behind */
	assert_null(m.from);
	assert_null(m.rcpts);
	assert_null(m.header);
	msg_free(&m);
	/* the same refusal when the file's image is read instead */
	err[0] = '\0';
	assert_int_equal(msg_prepare_src(&src, c->p, &m, err, sizeof(err)),
	    -1);
	if (strcmp(err, c->err) != 0)
		fail_msg("image: got \"%s\"\nwant \"%s\"", err, c->err);
	assert_null(m.header);
	msg_free(&m);
}

static void test_bad_from_config(void **state)
{
	struct msg_params p = params_alice;
	struct msg m;
	char err[512];
	int fd = mkfd(S("To: bob@example.com\n\n"));

	(void)state;
	p.from = "alice";
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "from in the configuration (alice): no @ "
	    "sign (missing domain)");
	p.from = "alice@example.com\r\nRCPT TO:<x@y>";
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "from in the configuration "
	    "(alice@example.com??RCPT TO:<x@y>): line break in address");
	close(fd);
}

/* ---- accepted messages: the exact header sent ---- */

struct good_case {
	const char *name;
	const char *in;
	const struct msg_params *p;
	const char *header;        /* exact m->header */
	const char *rcpts;         /* joined by '|' */
	const char *from;          /* envelope sender */
	const char *subject;
	int smtputf8;
};

#define KEEP "Date: D\nMessage-ID: <i@x>\n"
#define KEEP_OUT "Date: D\r\nMessage-ID: <i@x>\r\n"

static const struct good_case good_cases[] = {
	{ "bcc removed", "To: a@x.org\nBcc: b@y.org,\n c@z.org\nSubject: s\n"
	    KEEP "\nbody\n", &params_alice,
	    "To: a@x.org\r\nSubject: s\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "a@x.org|b@y.org|c@z.org", "alice@example.com", "s", 0 },
	{ "bcc only, several", "Bcc: b@y.org\nBCC: c@z.org\n" KEEP "\n",
	    &params_alice, KEEP_OUT "From: alice@example.com\r\n",
	    "b@y.org|c@z.org", "alice@example.com", "", 0 },
	{ "duplicates", "To: A@X.org, a@x.ORG\nCc: a@x.org\nTo: B@x.org\n"
	    "Bcc: b@x.org, B@X.ORG\n" KEEP "\n", &params_alice,
	    "To: A@X.org, a@x.ORG\r\nCc: a@x.org\r\nTo: B@x.org\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "A@X.org|a@x.ORG|B@x.org|b@x.org", "alice@example.com", "", 0 },
	{ "from header is the sender", "From: Alice <alice@x.org>\n"
	    "To: b@y.org\n" KEEP "\n", &params_none,
	    "From: Alice <alice@x.org>\r\nTo: b@y.org\r\n" KEEP_OUT,
	    "b@y.org", "alice@x.org", "", 0 },
	{ "config from wins for the envelope", "From: Alias <me@x.org>\n"
	    "To: b@y.org\n" KEEP "\n", &params_alice,
	    "From: Alias <me@x.org>\r\nTo: b@y.org\r\n" KEEP_OUT,
	    "b@y.org", "alice@example.com", "", 0 },
	{ "crlf input", "To: b@y.org\r\nSubject: crlf\r\n" "Date: D\r\n"
	    "Message-ID: <i@x>\r\n\r\nbody\r\n", &params_alice,
	    "To: b@y.org\r\nSubject: crlf\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "crlf", 0 },
	{ "folded subject kept", "To: b@y.org\nSubject: one\n\ttwo\n  three"
	    "\n" KEEP "\n", &params_alice,
	    "To: b@y.org\r\nSubject: one\r\n\ttwo\r\n  three\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "one\ttwo  three", 0 },
	{ "rfc 2047 subject", "To: b@y.org\nSubject: Re: Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln !\n" KEEP "\n", &params_alice,
	    "To: b@y.org\r\nSubject: Re: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?="
	    " !\r\n" KEEP_OUT "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com",
	    "Re: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln !", 0 },
	{ "ascii word that looks encoded", "To: b@y.org\nSubject: x "
	    "=?a?b? \xc3\xa9\n" KEEP "\n", &params_alice,
	    "To: b@y.org\r\nSubject: x =?UTF-8?B?PT9hP2I/IMOp?=\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "x =?a?b? \xc3\xa9", 0 },
	{ "rfc 2047 display names", "To: J\xc3\xbcrgen M\xc3\xbcller "
	    "<j@example.de>, \"Smith, Bob\" <bob@x.org> (comment),\n"
	    " plain@x.org\n" KEEP "\n", &params_alice,
	    "To: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@example.de>, \"Smith, "
	    "Bob\" <bob@x.org>,\r\n plain@x.org\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "j@example.de|bob@x.org|plain@x.org", "alice@example.com", "", 0 },
	{ "groups", "To: undisclosed-recipients:;\nCc: team: a@x.org, "
	    "b@x.org;\nBcc: hidden@x.org\n" KEEP "\n", &params_alice,
	    "To: undisclosed-recipients:;\r\nCc: team: a@x.org, b@x.org;\r\n"
	    KEEP_OUT "From: alice@example.com\r\n",
	    "a@x.org|b@x.org|hidden@x.org", "alice@example.com", "", 0 },
	{ "quoted local part with comma", "To: \"a, b\"@x.org, \"Doe, J"
	    "\" <\"j d\"@x.org>\n" KEEP "\n", &params_alice,
	    "To: \"a, b\"@x.org, \"Doe, J\" <\"j d\"@x.org>\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "\"a, b\"@x.org|\"j d\"@x.org", "alice@example.com", "", 0 },
	{ "utf-8 address", "To: j\xc3\xbcrgen@b\xc3\xbc" "cher.de\n" KEEP
	    "\n", &params_alice,
	    "To: j\xc3\xbcrgen@b\xc3\xbc" "cher.de\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "j\xc3\xbcrgen@b\xc3\xbc" "cher.de", "alice@example.com", "", 1 },
	{ "utf-8 address in reply-to", "To: b@y.org\nReply-To: J "
	    "<j\xc3\xbc@x.de>\n" KEEP "\n", &params_alice,
	    "To: b@y.org\r\nReply-To: J <j\xc3\xbc@x.de>\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "", 1 },
	{ "header dot line and no body", "To: b@y.org\n.X-Dot: y\n" KEEP,
	    &params_alice,
	    "To: b@y.org\r\n.X-Dot: y\r\n" KEEP_OUT
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "", 0 },
	{ "last header without newline", "To: b@y.org\n" KEEP "Subject: x",
	    &params_alice,
	    "To: b@y.org\r\n" KEEP_OUT "Subject: x\r\n"
	    "From: alice@example.com\r\n",
	    "b@y.org", "alice@example.com", "x", 0 },
};

static void test_good(void **state)
{
	const struct good_case *c = *state;
	struct msg m;
	char err[512] = "", got[2048] = "";
	size_t off = 0;
	int fd = mkfd(c->in, strlen(c->in));

	if (msg_prepare(fd, c->p, &m, err, sizeof(err)) != 0)
		fail_msg("%s: %s", c->name, err);
	if (strcmp(m.header, c->header) != 0)
		fail_msg("%s: header\ngot  \"%s\"\nwant \"%s\"", c->name,
		    m.header, c->header);
	assert_int_equal(m.header_len, strlen(c->header));
	for (size_t k = 0; k < m.nrcpts; k++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s",
		    k ? "|" : "", m.rcpts[k]);
	assert_string_equal(got, c->rcpts);
	assert_string_equal(m.from, c->from);
	assert_string_equal(m.subject, c->subject);
	assert_string_equal(m.message_id, "<i@x>");
	assert_int_equal(m.smtputf8, c->smtputf8);
	msg_free(&m);
	close(fd);
}

/* Date and Message-ID added in the documented formats. */
static void test_added_fields(void **state)
{
	struct msg m;
	char err[256], want[256];
	const char *id;
	int fd = mkfd(S("To: b@y.org\nSubject: x\n\nhi\n"));

	(void)state;
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	id = m.message_id;
	assert_int_equal(strlen(id), strlen("<20261128160013.") + 16 +
	    strlen("@laptop.example.com>"));
	assert_memory_equal(id, "<20261128160013.", 16);
	for (size_t i = 16; i < 32; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
	assert_string_equal(id + 32, "@laptop.example.com>");
	snprintf(want, sizeof(want), "To: b@y.org\r\nSubject: x\r\n"
	    "From: alice@example.com\r\nDate: " DATE "\r\nMessage-ID: %s\r\n",
	    id);
	assert_string_equal(m.header, want);
	msg_free(&m);

	/* two messages never share an id; a bad domain falls back */
	{
		struct msg_params p = params_alice;
		struct msg m2;

		p.domain = "evil\r\nBcc: x@y";
		assert_int_equal(msg_prepare(fd, &p, &m2, err, sizeof(err)), 0);
		assert_non_null(strstr(m2.message_id, "@localhost>"));
		assert_int_equal(msg_prepare(fd, &params_alice, &m, err,
		    sizeof(err)), 0);
		assert_string_not_equal(m.message_id, m2.message_id);
		msg_free(&m2);
		msg_free(&m);
	}
	/* nor do 130 in a row, across refills of the random store */
	{
		static char seen[130][80];
		int i, j;

		for (i = 0; i < 130; i++) {
			assert_int_equal(msg_prepare(fd, &params_alice, &m,
			    err, sizeof(err)), 0);
			snprintf(seen[i], sizeof(seen[i]), "%s", m.message_id);
			msg_free(&m);
			for (j = 0; j < i; j++)
				assert_string_not_equal(seen[i], seen[j]);
		}
	}
	/* prepared again: the Message-ID given the first time, not a new
	 * one; a message with its own keeps its own */
	{
		struct msg_params p = params_alice;
		int fd2 = mkfd(S("To: b@y.org\nMessage-ID: <own@x>\n\nhi\n"));

		p.message_id = "<20261128160013.0123456789abcdef@laptop>";
		assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
		assert_string_equal(m.message_id, p.message_id);
		assert_non_null(strstr(m.header, "\r\nMessage-ID: "
		    "<20261128160013.0123456789abcdef@laptop>\r\n"));
		msg_free(&m);
		assert_int_equal(msg_prepare(fd2, &p, &m, err, sizeof(err)),
		    0);
		assert_string_equal(m.message_id, "<own@x>");
		assert_null(strstr(m.header, "0123456789abcdef"));
		msg_free(&m);
		close(fd2);
	}
	close(fd);
}

/* A Subject over 998 octets with spaces: folded, never cut. */
static void test_long_subject_folded(void **state)
{
	char in[4096], unf[4096];
	struct msg m;
	char err[256];
	size_t n = 0, u = 0;
	int fd;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "To: b@y.org\nSubject:");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, " w%03d", i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\n\n");
	fd = mkfd(in, n);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	/* every physical line within 78, and unfolding gives it back */
	for (const char *l = m.header; *l; ) {
		const char *e = strstr(l, "\r\n");

		assert_non_null(e);
		assert_true(e - l <= 78);
		if (strncmp(l, "Subject:", 8) == 0 || (u > 0 && (*l == ' '))) {
			memcpy(unf + u, l, (size_t)(e - l));
			u += (size_t)(e - l);
		} else if (u > 0 && *l != ' ')
			break;
		l = e + 2;
	}
	unf[u] = '\0';
	assert_int_equal(u, strlen("Subject:") + 200 * 5);
	assert_memory_equal(unf, in + strlen("To: b@y.org\n"), u);
	msg_free(&m);
	close(fd);
}

/* A 2000-octet Subject without a space: sent as encoded words. */
static void test_long_subject_encoded(void **state)
{
	char in[2100];
	struct msg m;
	char err[256];
	size_t n, words = 0;
	int fd;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "To: b@y.org\nSubject: ");
	memset(in + n, 'x', 2000);
	n += 2000;
	memcpy(in + n, "\n\n", 2);
	n += 2;
	fd = mkfd(in, n);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	for (const char *l = m.header; *l; ) {
		const char *e = strstr(l, "\r\n");

		assert_true(e - l <= 998);
		words += (size_t)(strstr(l, "=?UTF-8?B?") != NULL &&
		    strstr(l, "=?UTF-8?B?") < e);
		l = e + 2;
	}
	/* 45 bytes a word */
	assert_true(words >= 2);
	assert_non_null(strstr(m.header, "Subject: =?UTF-8?B?eHh4"));
	assert_int_equal(strlen(m.subject), 2000);
	msg_free(&m);
	close(fd);
}

static void test_structured_unfoldable(void **state)
{
	char in[1200];
	struct msg m;
	char err[256];
	size_t n;
	int fd;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "To: b@y.org\nReferences: <");
	memset(in + n, 'r', 1000);
	n += 1000;
	memcpy(in + n, "@x>\n\n", 5);
	n += 5;
	fd = mkfd(in, n);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "header References has a run of over 998 "
	    "characters without a space to fold at");
	close(fd);
}

/* 200 addresses on one 3000-octet To: line: rewritten and folded at the
 * commas, every address still there. */
static void test_long_to_folded(void **state)
{
	char in[8192];
	struct msg m;
	char err[256];
	size_t n;
	int fd, found = 0;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "To: (team) u0@x.org");
	for (int i = 1; i < 200; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, ", u%d@x.org", i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\n" KEEP "\n");
	fd = mkfd(in, n);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.nrcpts, 200);
	for (const char *l = m.header; *l; ) {
		const char *e = strstr(l, "\r\n");

		assert_true(e - l <= 78);
		for (const char *p = l; p < e; p++)
			found += *p == '@';
		l = e + 2;
	}
	assert_int_equal(found, 200 + 2);     /* + Message-ID:, From: */
	assert_memory_equal(m.header, "To: u0@x.org, u1@x.org,", 23);
	msg_free(&m);
	close(fd);
}

/* ---- bodies: the encoding chosen and the exact bytes ---- */

struct body_case {
	const char *name;
	const char *in;
	size_t inlen;
	enum msg_body body;
	int eightbit_ok;
	int is8;                   /* msg_stream_8bit */
	const char *wire;          /* after the prepared header */
	size_t wirelen;
};

#define H "To: b@y.org\n" KEEP "\n"
#define QPH "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8" \
    "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
#define B8H "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8" \
    "\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"

static const struct body_case body_cases[] = {
	{ "7bit", S(H "Hello\n.\nBye"), MSG_BODY_7BIT, 1, 0,
	    S("\r\nHello\r\n..\r\nBye\r\n") },
	{ "empty body", S(H), MSG_BODY_7BIT, 1, 0, S("\r\n") },
	{ "blank body line", S(H "\n"), MSG_BODY_7BIT, 1, 0, S("\r\n\r\n") },
	{ "bare cr is a line end", S(H "a\rb\r\r\nc"), MSG_BODY_7BIT, 1, 0,
	    S("\r\na\r\nb\r\n\r\nc\r\n") },
	{ "smuggling", S(H "x\n.\r\nMAIL FROM:<e@x>\r\n.\n\r.\r"),
	    MSG_BODY_7BIT, 1, 0,
	    S("\r\nx\r\n..\r\nMAIL FROM:<e@x>\r\n..\r\n\r\n..\r\n") },
	{ "8bit offered", S(H "caf\xc3\xa9\n"), MSG_BODY_8BIT, 1, 1,
	    S(B8H "caf\xc3\xa9\r\n") },
	{ "8bit refused: qp", S(H "caf\xc3\xa9 \n.end\n"), MSG_BODY_8BIT, 0,
	    0, S(QPH "caf=C3=A9=20\r\n..end\r\n") },
	{ "nul: qp", S(H "a\0b\n"), MSG_BODY_QP, 1, 0, S(QPH "a=00b\r\n") },
	{ "own mime: as is", S("To: b@y.org\n" KEEP "MIME-Version: 1.0\n"
	    "Content-Type: text/html; charset=utf-8\n\n<p>\xc3\xa9</p>\n.\n"),
	    MSG_BODY_ASIS, 1, 1, S("\r\n<p>\xc3\xa9</p>\r\n..\r\n") },
	/* own MIME without 8BITMIME: test_msg7.c */
};

static void test_body(void **state)
{
	const struct body_case *c = *state;
	struct msg m;
	char err[512];
	size_t n, hl;
	char *w;
	int fd = mkfd(c->in, c->inlen), is8 = -1;

	if (msg_prepare(fd, &params_alice, &m, err, sizeof(err)) != 0)
		fail_msg("%s: %s", c->name, err);
	assert_int_equal(m.body, c->body);
	for (size_t chunk = 1024; chunk <= 65536; chunk *= 64) {
		w = stream_all(&m, fd, c->eightbit_ok, chunk, &n, &is8);
		assert_wire_ok(w, n);
		assert_int_equal(is8, c->is8);
		hl = m.header_len;
		assert_memory_equal(w, m.header, hl);
		if (c->wire) {
			if (n - hl != c->wirelen ||
			    memcmp(w + hl, c->wire, c->wirelen) != 0)
				fail_msg("%s: wire\ngot  \"%s\"\nwant \"%s\"",
				    c->name, w + hl, c->wire);
		}
		/* SIZE= is the count for this server; size the larger */
		assert_int_equal(msg_size(&m, c->eightbit_ok), n);
		assert_true(m.size >= n);
		free(w);
	}
	/* Read once: prepared from the file's image, which the message
	 * keeps and sends from; fd -1, so a read of a descriptor fails.
	 * The same decisions and the same wire bytes. */
	{
		struct msg_src src = { -1, c->in, c->inlen };
		struct msg mi;
		char *img = malloc(c->inlen + 1), *wf, *wi;
		size_t nf, ni;
		int is8i = -1;

		assert_non_null(img);
		memcpy(img, c->in, c->inlen);
		if (msg_prepare_src(&src, &params_alice, &mi, err,
		    sizeof(err)) != 0)
			fail_msg("%s (image): %s", c->name, err);
		msg_keep_image(&mi, img, c->inlen);
		assert_int_equal(mi.body, m.body);
		assert_int_equal(mi.size, m.size);
		assert_int_equal(mi.body_len, m.body_len);
		wf = stream_all(&m, fd, c->eightbit_ok, 4096, &nf, &is8);
		wi = stream_all(&mi, -1, c->eightbit_ok, 4096, &ni, &is8i);
		assert_int_equal(is8i, is8);
		assert_int_equal(ni, nf);
		assert_memory_equal(wi, wf, nf);
		free(wf);
		free(wi);
		msg_free(&mi);
	}
	msg_free(&m);
	close(fd);
}

/* A 100 KB line: quoted-printable, lines <= 76, exact size. */
static void test_huge_line(void **state)
{
	size_t len = 100 * 1024, n, hl;
	char *in = malloc(len + 64), *w;
	struct msg m;
	char err[256];
	int fd;

	(void)state;
	assert_non_null(in);
	hl = (size_t)snprintf(in, 64, "To: b@y.org\n\n");
	memset(in + hl, 'q', len);
	fd = mkfd(in, hl + len);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.body, MSG_BODY_QP);
	assert_int_equal(m.body_len, len);
	w = stream_all(&m, fd, 1, 4096, &n, NULL);
	assert_wire_ok(w, n);
	assert_int_equal(m.size, n);
	assert_non_null(strstr(w, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n"));
	/* 75 q's and '=' a line */
	{
		const char *b = strstr(w, "\r\n\r\n") + 4;
		size_t lines = 0, q = 0;

		for (const char *l = b; l < w + n; ) {
			const char *e = memmem(l, (size_t)(w + n - l), "\r\n",
			    2);

			assert_true(e - l <= 76);
			for (const char *p = l; p < e; p++)
				q += *p == 'q';
			lines++;
			l = e + 2;
		}
		assert_int_equal(q, len);
		assert_int_equal(lines, (len + 74) / 75);
	}
	free(w);
	msg_free(&m);
	close(fd);
	free(in);
}

static void test_asis_long_line(void **state)
{
	size_t len = 1200, hl;
	char in[1400];
	struct msg m;
	char err[512];
	int fd;

	(void)state;
	hl = (size_t)snprintf(in, sizeof(in), "To: b@y.org\nContent-Type: "
	    "text/html\n\n");
	memset(in + hl, 'h', len);
	fd = mkfd(in, hl + len);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "the body has a line of 1200 octets (the "
	    "limit is 998) and its own MIME headers, so it cannot be "
	    "re-encoded: encode that part as quoted-printable or base64");
	close(fd);
}

/* A line of 998 that starts with '.' is 999 on the wire: QP. */
static void test_dot_line_limit(void **state)
{
	char in[1100];
	struct msg m;
	char err[256];
	size_t hl;
	int fd;

	(void)state;
	hl = (size_t)snprintf(in, sizeof(in), "To: b@y.org\n\n.");
	memset(in + hl, 'd', 997);
	fd = mkfd(in, hl + 997);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.body, MSG_BODY_QP);
	msg_free(&m);
	close(fd);
	fd = mkfd(in, hl + 996);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.body, MSG_BODY_7BIT);
	msg_free(&m);
	close(fd);
}

/* CR LF and "." straddling every read boundary of the body. */
static void test_chunk_boundaries(void **state)
{
	size_t hl, base = 16384;
	char *in = malloc(3 * 65536 + 64), *w, *want = malloc(6 * 65536);
	struct msg m;
	char err[256];

	(void)state;
	assert_non_null(in);
	assert_non_null(want);
	hl = (size_t)snprintf(in, 64, "To: b@y.org\n" KEEP "\n");
	for (size_t mult = 1; mult <= 4; mult *= 4)
		for (size_t pad = base * mult - 3; pad <= base * mult + 1;
		    pad++) {
			size_t n, len = pad, wl = 0;
			int fd;

			/* lines of 100, so the body stays 7bit */
			for (size_t i = 0; i < pad; i++) {
				in[hl + i] = i % 100 == 99 ? '\n' : 'a';
				if (in[hl + i] == '\n')
					want[wl++] = '\r';
				want[wl++] = in[hl + i];
			}
			memcpy(in + hl + pad, "\r\n.\r\n.\r", 7);
			len += 7;
			memcpy(want + wl, "\r\n..\r\n..\r\n", 10);
			wl += 10;
			fd = mkfd(in, hl + len);
			assert_int_equal(msg_prepare(fd, &params_alice, &m, err,
			    sizeof(err)), 0);
			w = stream_all(&m, fd, 1, 1500, &n, NULL);
			assert_wire_ok(w, n);
			assert_int_equal(n, m.header_len + 2 + wl);
			assert_memory_equal(w + m.header_len + 2, want, wl);
			assert_int_equal(m.size, n);
			free(w);
			msg_free(&m);
			close(fd);
		}
	free(in);
	free(want);
}

static void test_header_cap(void **state)
{
	size_t len = MSG_MAX_HEADER + 100, hl;
	char *in = malloc(len);
	struct msg m;
	char err[256];
	int fd;

	(void)state;
	assert_non_null(in);
	hl = (size_t)snprintf(in, 64, "To: b@y.org\nX-Big: ");
	memset(in + hl, 'b', len - hl);
	for (size_t i = hl + 500; i < len; i += 500)
		in[i] = ' ';
	fd = mkfd(in, len);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "header block larger than 256 KiB (is the "
	    "blank line between headers and body missing?)");
	close(fd);
	/* just under the cap: accepted, and folded where it was long */
	memcpy(in + MSG_MAX_HEADER - 4000, "\n\nbody", 6);
	fd = mkfd(in, len);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.body_off, MSG_MAX_HEADER - 3998);
	assert_true(m.header_len > MSG_MAX_HEADER - 4000);
	msg_free(&m);
	close(fd);
	free(in);
}

/* "To: u0@x.org, ..., u{N-1}@x.org" plus a Cc line. Caller frees. */
static char *many_rcpts(int count, const char *cc, size_t *len)
{
	size_t cap = 64 * 1024, n;
	char *in = malloc(cap);

	assert_non_null(in);
	n = (size_t)snprintf(in, cap, "To: u0@x.org");
	for (int i = 1; i < count; i++)
		n += (size_t)snprintf(in + n, cap - n, ",\n u%d@x.org", i);
	n += (size_t)snprintf(in + n, cap - n, "\nCc: %s\n\n", cc);
	assert_true(n < cap);
	*len = n;
	return in;
}

static void test_rcpt_limit(void **state)
{
	struct msg m;
	char err[256], *in;
	size_t n;
	int fd;

	(void)state;
	/* 1000, plus repeats that do not count */
	in = many_rcpts(1000, "u0@X.ORG, u999@x.org", &n);
	fd = mkfd(in, n);
	if (msg_prepare(fd, &params_alice, &m, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(m.nrcpts, 1000);
	assert_string_equal(m.rcpts[999], "u999@x.org");
	assert_string_equal(m.rcpts[0], "u0@x.org");
	msg_free(&m);
	close(fd);
	free(in);
	/* the 1001st */
	in = many_rcpts(1000, "u1000@x.org", &n);
	fd = mkfd(in, n);
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "Cc: more than 1000 recipients: split the "
	    "message");
	close(fd);
	free(in);
}

static void test_max_size(void **state)
{
	struct msg_params p = params_alice;
	struct msg m;
	char err[256], *w;
	size_t n;
	int fd = mkfd(S("To: b@y.org\n" KEEP "\n0123456789\n"));

	(void)state;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	w = stream_all(&m, fd, 1, 1024, &n, NULL);
	free(w);
	p.max_size = n;
	msg_free(&m);
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), 0);
	msg_free(&m);
	p.max_size = n - 1;
	assert_int_equal(msg_prepare(fd, &p, &m, err, sizeof(err)), -1);
	{
		char want[128];

		snprintf(want, sizeof(want), "message too large: %zu bytes, "
		    "max_size is %zu", n, n - 1);
		assert_string_equal(err, want);
	}
	close(fd);
}

static void test_file_shrinks(void **state)
{
	char in[20000], *buf = malloc(65536);
	struct msg m;
	struct msg_stream *s;
	char err[256];
	ssize_t r;
	size_t hl;
	int fd;

	(void)state;
	assert_non_null(buf);
	hl = (size_t)snprintf(in, 64, "To: b@y.org\n\n");
	memset(in + hl, 'z', sizeof(in) - hl);
	fd = mkfd(in, sizeof(in));
	assert_int_equal(msg_prepare(fd, &params_alice, &m, err, sizeof(err)),
	    0);
	assert_int_equal(ftruncate(fd, 1000), 0);
	assert_int_equal(msg_stream_open(&m, fd, 1, &s, err, sizeof(err)), 0);
	while ((r = msg_stream_read(s, buf, 65536, err, sizeof(err))) > 0)
		;
	assert_int_equal(r, -1);
	assert_string_equal(err, "the message file became shorter while it "
	    "was sent");
	msg_stream_free(s);
	msg_free(&m);
	close(fd);
	free(buf);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_bad_from_config),
		cmocka_unit_test(test_added_fields),
		cmocka_unit_test(test_long_subject_folded),
		cmocka_unit_test(test_long_subject_encoded),
		cmocka_unit_test(test_structured_unfoldable),
		cmocka_unit_test(test_long_to_folded),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_asis_long_line),
		cmocka_unit_test(test_dot_line_limit),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_header_cap),
		cmocka_unit_test(test_rcpt_limit),
		cmocka_unit_test(test_max_size),
		cmocka_unit_test(test_file_shrinks),
	};
	size_t nb = sizeof(bad_cases) / sizeof(*bad_cases);
	size_t ng = sizeof(good_cases) / sizeof(*good_cases);
	size_t ny = sizeof(body_cases) / sizeof(*body_cases);
	size_t nf = sizeof(fixed) / sizeof(*fixed), k = 0;
	struct CMUnitTest *t = calloc(nb + ng + ny + nf, sizeof(*t));
	char (*names)[80] = calloc(nb + ng + ny, sizeof(*names));
	int rc;

	if (t == NULL || names == NULL)
		return 1;
	for (size_t i = 0; i < nb; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "refused: %.60s",
		    bad_cases[i].err);
		t[k].name = names[k];
		t[k].test_func = test_bad;
		t[k].initial_state = (void *)&bad_cases[i];
	}
	for (size_t i = 0; i < ng; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "header: %s",
		    good_cases[i].name);
		t[k].name = names[k];
		t[k].test_func = test_good;
		t[k].initial_state = (void *)&good_cases[i];
	}
	for (size_t i = 0; i < ny; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "body: %s",
		    body_cases[i].name);
		t[k].name = names[k];
		t[k].test_func = test_body;
		t[k].initial_state = (void *)&body_cases[i];
	}
	for (size_t i = 0; i < nf; i++, k++)
		t[k] = fixed[i];
	rc = _cmocka_run_group_tests("test_msg", t, k, NULL, NULL);
	free(names);
	free(t);
	return rc;
}
