/*
 * test_msg7 — 8-bit data under the user's own MIME headers and a server
 * without 8BITMIME: what is converted (the exact DATA bytes, 7-bit, the
 * SIZE= count equal to them, whatever the read size), what is refused
 * (the exact error, from msg_check_7bit and msg_stream_open alike), and
 * that with 8BITMIME the same messages go out unchanged.
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

#define S(x) x, sizeof(x) - 1

static const struct msg_params params = {
	.from = "alice@example.com",
	.domain = "example.com",
	.now = 1795881613,
};

static int mkfd(const char *s, size_t n)
{
	int fd = memfd_create("msg7", MFD_CLOEXEC);
	size_t off = 0;

	assert_true(fd >= 0);
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
	return fd;
}

/* The whole DATA stream, CHUNK bytes per read. Caller frees. */
static char *stream_all(const struct msg *m, int fd, int eightbit_ok,
    size_t chunk, size_t *len, int *is8)
{
	struct msg_stream *s;
	char err[512], *out = NULL, *buf = malloc(chunk);
	size_t n = 0;
	ssize_t r;

	assert_non_null(buf);
	if (msg_stream_open(m, fd, eightbit_ok, &s, err, sizeof(err)) != 0)
		fail_msg("msg_stream_open: %s", err);
	*is8 = msg_stream_8bit(s);
	while ((r = msg_stream_read(s, buf, chunk, err, sizeof(err))) > 0) {
		out = realloc(out, n + (size_t)r + 1);
		assert_non_null(out);
		memcpy(out + n, buf, (size_t)r);
		n += (size_t)r;
	}
	if (r != 0)
		fail_msg("msg_stream_read: %s", err);
	msg_stream_free(s);
	free(buf);
	if (out == NULL)
		out = calloc(1, 1);
	out[n] = '\0';
	*len = n;
	return out;
}

static void assert_7bit(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)w[i] >= 0x80)
			fail_msg("8-bit byte 0x%02x at %zu", (unsigned char)w[i],
			    i);
}

/* LF line ends made CRLF: the same message as a Windows editor saves it. */
static char *crlf(const char *in, size_t n, size_t *outn)
{
	char *o = malloc(2 * n + 1);
	size_t k = 0;

	assert_non_null(o);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n')
			o[k++] = '\r';
		o[k++] = in[i];
	}
	*outn = k;
	return o;
}

/* ---- converted ---- */

#define HEAD "From: alice@example.com\nTo: b@y.org\nDate: D\n" \
    "Message-ID: <i@x>\nMIME-Version: 1.0\n"
#define HEAD_OUT "From: alice@example.com\r\nTo: b@y.org\r\nDate: D\r\n" \
    "Message-ID: <i@x>\r\nMIME-Version: 1.0\r\n"

struct conv_case {
	const char *name;
	const char *in;
	size_t inlen;
	const char *wire;          /* without 8BITMIME, the whole DATA */
	size_t wirelen;
};

static const struct conv_case conv_cases[] = {
	{ "text/plain 8bit",
	    S(HEAD "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 \n-- \nsig\n"),
	    S(HEAD_OUT "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=C3=A9=20\r\n--=20\r\nsig\r\n") },
	{ "no Content-Type, no CTE: one is added",
	    S(HEAD "\n\xc3\xa9t\xc3\xa9\n.\n"),
	    S(HEAD_OUT "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9t=C3=A9\r\n..\r\n") },
	{ "folded CTE, odd case, comment",
	    S(HEAD "Content-Transfer-Encoding:\n  8BIT (raw)\n"
	    "Content-Type: TEXT/html\n\n<b>\xe2\x82\xac</b>"),
	    S(HEAD_OUT "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Content-Type: TEXT/html\r\n\r\n<b>=E2=82=AC</b>\r\n") },
	{ "7bit that lies",
	    S(HEAD "Content-Transfer-Encoding: 7bit\n\nx=\xff\n"),
	    S(HEAD_OUT "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "x=3D=FF\r\n") },
	{ "multipart, nested, mixed parts",
	    S(HEAD "Content-Type: multipart/mixed; boundary=\"outer b\"\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "preamble\n"
	    "--outer b\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "caf\xc3\xa9 = ok   \n"
	    "--outer bx is not a boundary\n"
	    ".dot line\n"
	    "--outer b  \n"
	    "Content-Type: multipart/alternative;\n boundary=inner\n\n"
	    "--inner\n"
	    "Content-Type: text/html; charset=utf-8\n\n"
	    "<p>cr\xc3\xa8me</p>\n"
	    "--inner\n"
	    "Content-Type: text/plain\n\n"
	    "ascii only\n"
	    "--inner--\n"
	    "--outer b\n"
	    "Content-Type: application/octet-stream\n"
	    "Content-Transfer-Encoding: base64\n\n"
	    "AAEC\n"
	    "--outer b--\n"
	    "epilogue\n"),
	    S(HEAD_OUT "Content-Type: multipart/mixed; boundary=\"outer b\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "preamble\r\n"
	    "--outer b\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=C3=A9 =3D ok  =20\r\n"
	    "=2D-outer bx is not a boundary\r\n"
	    "..dot line\r\n"
	    "--outer b  \r\n"
	    "Content-Type: multipart/alternative;\r\n boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "<p>cr=C3=A8me</p>\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain\r\n\r\n"
	    "ascii only\r\n"
	    "--inner--\r\n"
	    "--outer b\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "AAEC\r\n"
	    "--outer b--\r\n"
	    "epilogue\r\n") },
	{ "multipart: part without headers, empty part, no final line end",
	    S(HEAD "Content-Type: multipart/mixed; boundary=b\n\n"
	    "--b\n\n\xc3\xa9\n--b\nContent-Type: text/plain\n\n--b--"),
	    S(HEAD_OUT "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9\r\n--b\r\nContent-Type: text/plain\r\n\r\n--b--\r\n") },
	{ "multipart: a long 8-bit line is soft-broken, no line starts --",
	    S(HEAD "Content-Type: multipart/mixed; boundary=bb\n\n--bb\n\n"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9xyz--bb--\n--bb--\n"),
	    S(HEAD_OUT "Content-Type: multipart/mixed; boundary=bb\r\n\r\n"
	    "--bb\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9"
	    "=C3=A9=C3=A9xyz=\r\n=2D-bb--\r\n--bb--\r\n") },
};

static void test_conv(void **state)
{
	const struct conv_case *c = *state;

	/* form 0: LF, 1: CRLF, read from the file; 2: LF, from the file's
	 * image, kept for sending (no descriptor to read: fd -1) */
	for (int form = 0; form < 3; form++) {
		size_t inlen = c->inlen, n;
		char *in = form == 1 ? crlf(c->in, c->inlen, &inlen) : NULL, *w;
		struct msg m;
		char err[512];
		int fd = form == 2 ? -1 : mkfd(in ? in : c->in, inlen), is8;

		if (form == 2) {
			struct msg_src src = { -1, c->in, inlen };
			char *img = malloc(inlen);

			assert_non_null(img);
			memcpy(img, c->in, inlen);
			if (msg_prepare_src(&src, &params, &m, err,
			    sizeof(err)) != 0)
				fail_msg("%s (image): %s", c->name, err);
			msg_keep_image(&m, img, inlen);
		} else if (msg_prepare(fd, &params, &m, err, sizeof(err)) != 0)
			fail_msg("%s: %s", c->name, err);
		assert_int_equal(m.body, MSG_BODY_ASIS);
		assert_int_equal(msg_check_7bit(&m, err, sizeof(err)), 0);
		for (size_t chunk = 1024; chunk <= 65536; chunk *= 8) {
			w = stream_all(&m, fd, 0, chunk, &n, &is8);
			assert_int_equal(is8, 0);
			assert_7bit(w, n);
			if (n != c->wirelen || memcmp(w, c->wire, n) != 0)
				fail_msg("%s (%s): wire\ngot  \"%s\"\nwant \"%s\"",
				    c->name, form == 1 ? "CRLF" : form ? "image" :
				    "LF", w, c->wire);
			assert_int_equal(msg_size(&m, 0), n);
			assert_true(m.size >= n);
			free(w);

			/* with 8BITMIME: as written, BODY=8BITMIME */
			w = stream_all(&m, fd, 1, chunk, &n, &is8);
			assert_int_equal(is8, 1);
			assert_int_equal(msg_size(&m, 1), n);
			assert_memory_equal(w, m.header, m.header_len);
			assert_non_null(memmem(w, n, "\xc3", 1) ?
			    w : memmem(w, n, "\xe2", 1) ? w :
			    memmem(w, n, "\xff", 1));
			free(w);
		}
		msg_free(&m);
		if (fd >= 0)
			close(fd);
		free(in);
	}
}

/* ---- refused ---- */

#define PFX "the message has 8-bit data outboxfs cannot convert and the " \
    "server does not offer 8BITMIME: "
#define SFX ", or use a server with 8BITMIME"
#define MP(b) "Content-Type: multipart/mixed; boundary=" b "\n\n"

struct refuse_case {
	const char *name;
	const char *in;
	size_t inlen;
	const char *err;           /* exact, or a prefix when it ends in ... */
};

static const struct refuse_case refuse_cases[] = {
	{ "not text", S(HEAD "Content-Type: application/octet-stream\n\n"
	    "\x01\xff\n"), PFX "the body (application/octet-stream) is not "
	    "text: encode it as base64" SFX },
	{ "message/rfc822", S(HEAD "Content-Type: message/rfc822\n\n"
	    "Subject: \xc3\xa9\n\nx\n"), PFX "the body (message/rfc822) is not "
	    "text: encode it as base64" SFX },
	{ "unreadable Content-Type", S(HEAD "Content-Type: text\n\n\xc3\xa9\n"),
	    PFX "the body (unreadable/type) is not text: encode it as "
	    "base64" SFX },
	{ "binary", S(HEAD "Content-Transfer-Encoding: binary\n\n\xc3\xa9\n"),
	    PFX "the body has Content-Transfer-Encoding: binary: encode it "
	    "as base64 or quoted-printable" SFX },
	{ "base64 with raw 8-bit",
	    S(HEAD "Content-Transfer-Encoding: base64\n\n\xc3\xa9\n"),
	    PFX "the body is declared base64 but holds raw 8-bit bytes: "
	    "encode it as it says" SFX },
	{ "quoted-printable with raw 8-bit",
	    S(HEAD "Content-Transfer-Encoding: Quoted-Printable\n\n\xc3\xa9\n"),
	    PFX "the body is declared quoted-printable but holds raw 8-bit "
	    "bytes: encode it as it says" SFX },
	{ "unknown CTE", S(HEAD "Content-Transfer-Encoding: x-uue\n\n\xc3\n"),
	    PFX "the body has an unknown Content-Transfer-Encoding: use "
	    "8bit, quoted-printable or base64" SFX },
	{ "two CTE lines", S(HEAD "Content-Transfer-Encoding: 8bit\n"
	    "Content-Transfer-Encoding: base64\n\n\xc3\xa9\n"),
	    PFX "the message has two Content-Transfer-Encoding lines: keep "
	    "one" SFX },
	{ "two Content-Type lines", S(HEAD "Content-Type: text/plain\n"
	    "Content-Type: multipart/mixed; boundary=x\n\n\xc3\xa9\n"),
	    PFX "the message has two Content-Type lines: keep one" SFX },
	{ "8-bit in a structured header", S("To: b@y.org\nMessage-ID: "
	    "<\xc3\xa9@x>\nMIME-Version: 1.0\n\nascii\n"),
	    PFX "the header has 8-bit bytes (in an address or in a field "
	    "outboxfs does not encode): write it in ASCII" SFX },
	{ "8-bit in a header, body without MIME", S("To: b@y.org\n"
	    "Content-Disposition: inline; filename=\xc3\xa9.txt\n\nascii\n"),
	    PFX "the header has 8-bit bytes (in an address or in a field "
	    "outboxfs does not encode): write it in ASCII" SFX },
	{ "multipart: no boundary", S(HEAD "Content-Type: multipart/mixed\n\n"
	    "\xc3\xa9\n"), PFX "the body is a multipart without a valid "
	    "boundary: fix its Content-Type" SFX },
	{ "multipart: boundary of 71", S(HEAD MP("\"0123456789012345678901234"
	    "5678901234567890123456789012345678901234567890\"") "\xc3\xa9\n"),
	    PFX "the body is a multipart without a valid boundary: fix its "
	    "Content-Type" SFX },
	{ "multipart: two boundaries", S(HEAD "Content-Type: multipart/mixed;"
	    " boundary=a; boundary=b\n\n--a\n\n\xc3\xa9\n--a--\n"),
	    PFX "the body is a multipart without a valid boundary: fix its "
	    "Content-Type" SFX },
	{ "multipart: unterminated quoted boundary", S(HEAD "Content-Type: "
	    "multipart/mixed; boundary=\"ab\n\n--ab\n\n\xc3\xa9\n--ab--\n"),
	    PFX "the body (unreadable/type) is not text: encode it as "
	    "base64" SFX },
	{ "multipart: base64", S(HEAD "Content-Transfer-Encoding: base64\n"
	    MP("b") "--b\n\n\xc3\xa9\n--b--\n"), PFX "the body is a multipart "
	    "with Content-Transfer-Encoding: base64: use 7bit" SFX },
	{ "multipart: no closing boundary", S(HEAD MP("b") "--b\n\n\xc3\xa9\n"),
	    PFX "the multipart body ends without its closing boundary "
	    "(--b--): fix the boundaries" SFX },
	{ "multipart: no boundary line at all", S(HEAD MP("b") "\xc3\xa9\n"),
	    PFX "8-bit text outside any MIME part (before the first or after "
	    "the last boundary): remove it" SFX },
	{ "multipart: 8-bit epilogue", S(HEAD MP("b") "--b\n\nx\n--b--\n"
	    "\xc3\xa9\n"), PFX "8-bit text outside any MIME part (before the "
	    "first or after the last boundary): remove it" SFX },
	{ "multipart: image with 8-bit", S(HEAD MP("b") "--b\n\nhi\n--b\n"
	    "Content-Type: image/png\n\n\x89PNG\n--b--\n"),
	    PFX "MIME part 2 (image/png) is not text: encode it as base64" SFX },
	{ "multipart: binary part", S(HEAD MP("b") "--b\n"
	    "Content-Transfer-Encoding: binary\n\n\xc3\xa9\n--b--\n"),
	    PFX "MIME part 1 has Content-Transfer-Encoding: binary: encode it "
	    "as base64 or quoted-printable" SFX },
	{ "multipart: 8-bit part header", S(HEAD MP("b") "--b\n"
	    "Content-Type: text/plain; name=\"\xc3\xa9.txt\"\n\n\xc3\xa9\n"
	    "--b--\n"), PFX "MIME part 1 has 8-bit bytes in its headers: "
	    "encode them (RFC 2047)" SFX },
	{ "multipart: unreadable part header", S(HEAD MP("b") "--b\n"
	    "no colon here\n\n\xc3\xa9\n--b--\n"), PFX "the headers of MIME "
	    "part 1 cannot be read (..." },
	{ "multipart: part headers never end", S(HEAD MP("b") "--b\n"
	    "Content-Type: text/plain\n--b--\n\xc3\xa9\n"), PFX "the multipart "
	    "body ends without its closing boundary (--b--): fix the "
	    "boundaries" SFX },
	{ "multipart: two CTE in a part", S(HEAD MP("b") "--b\n"
	    "Content-Transfer-Encoding: 8bit\nContent-Transfer-Encoding: 7bit"
	    "\n\n\xc3\xa9\n--b--\n"), PFX "MIME part 1 has two "
	    "Content-Transfer-Encoding lines: keep one" SFX },
	{ "multipart: inner without close", S(HEAD MP("b") "--b\n"
	    "Content-Type: multipart/mixed; boundary=c\n\n--c\n\n\xc3\xa9\n"
	    "--b--\n"), PFX "a multipart inside MIME part 2 has no closing "
	    "boundary: fix the boundaries" SFX },
	{ "multipart: inner without boundary", S(HEAD MP("b") "--b\n"
	    "Content-Type: multipart/mixed\n\n\xc3\xa9\n--b--\n"),
	    PFX "MIME part 1 is a multipart without a valid boundary: fix its "
	    "Content-Type" SFX },
	{ "multipart: inner quoted-printable multipart", S(HEAD MP("b") "--b\n"
	    "Content-Type: multipart/mixed; boundary=c\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n--c\n\n\xc3\xa9\n"
	    "--c--\n--b--\n"), PFX "MIME part 1 is a multipart with "
	    "Content-Transfer-Encoding: quoted-printable: use 7bit" SFX },
	{ "multipart/digest: parts are messages", S(HEAD
	    "Content-Type: multipart/digest; boundary=d\n\n--d\n\n"
	    "Subject: x\n\n\xc3\xa9\n--d--\n"), PFX "MIME part 1 "
	    "(message/rfc822) is not text: encode it as base64" SFX },
};

static void test_refuse(void **state)
{
	const struct refuse_case *c = *state;
	struct msg m;
	struct msg_stream *s = NULL;
	char err[512], err2[512];
	size_t n, elen = strlen(c->err);
	int fd = mkfd(c->in, c->inlen), is8;
	char *w;

	if (msg_prepare(fd, &params, &m, err, sizeof(err)) != 0)
		fail_msg("%s: prepare: %s", c->name, err);
	assert_int_equal(msg_check_7bit(&m, err, sizeof(err)), -1);
	if (elen > 3 && strcmp(c->err + elen - 3, "...") == 0) {
		if (strncmp(err, c->err, elen - 3) != 0)
			fail_msg("%s:\ngot  \"%s\"\nwant \"%s\"", c->name, err,
			    c->err);
	} else if (strcmp(err, c->err) != 0)
		fail_msg("%s:\ngot  \"%s\"\nwant \"%s\"", c->name, err, c->err);
	assert_null(memchr(err, '\n', strlen(err)));
	assert_int_equal(msg_stream_open(&m, fd, 0, &s, err2, sizeof(err2)),
	    -1);
	assert_null(s);
	assert_string_equal(err, err2);
	/* a server with 8BITMIME gets it as written */
	w = stream_all(&m, fd, 1, 4096, &n, &is8);
	assert_int_equal(msg_size(&m, 1), n);
	assert_memory_equal(w, m.header, m.header_len);
	free(w);
	msg_free(&m);
	close(fd);
}

/* ---- limits and the plain cases ---- */

/* A body without MIME lines: converted by the existing path, never
 * refused; a 7-bit body under own MIME lines: nothing to do. */
static void test_nothing_to_refuse(void **state)
{
	static const char *const ins[] = {
		"To: b@y.org\n\ncaf\xc3\xa9\n",
		("To: b@y.org\nContent-Type: image/png\n"
		    "Content-Transfer-Encoding: base64\n\nAAEC\n"),
		"To: b@y.org\nContent-Type: multipart/mixed\n\nno boundary\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		struct msg m;
		char err[512], *w;
		size_t n;
		int fd = mkfd(ins[i], strlen(ins[i])), is8;

		assert_int_equal(msg_prepare(fd, &params, &m, err,
		    sizeof(err)), 0);
		assert_null(m.to7);
		assert_int_equal(msg_check_7bit(&m, err, sizeof(err)), 0);
		w = stream_all(&m, fd, 0, 2048, &n, &is8);
		assert_7bit(w, n);
		assert_int_equal(msg_size(&m, 0), n);
		free(w);
		msg_free(&m);
		close(fd);
	}
}

/* Nesting: 16 levels convert, 17 are refused. */
static void test_depth(void **state)
{
	(void)state;
	for (int depth = 15; depth <= 16; depth++) {
		char in[8192], err[512], *w;
		size_t len, n;
		struct msg m;
		int fd, is8;

		len = (size_t)snprintf(in, sizeof(in), HEAD MP("b0"));
		for (int i = 1; i <= depth; i++)
			len += (size_t)snprintf(in + len, sizeof(in) - len,
			    "--b%d\nContent-Type: multipart/mixed; "
			    "boundary=b%d\n\n", i - 1, i);
		len += (size_t)snprintf(in + len, sizeof(in) - len,
		    "--b%d\n\n\xc3\xa9\n", depth);
		for (int i = depth; i >= 0; i--)
			len += (size_t)snprintf(in + len, sizeof(in) - len,
			    "--b%d--\n", i);
		fd = mkfd(in, len);
		assert_int_equal(msg_prepare(fd, &params, &m, err,
		    sizeof(err)), 0);
		if (depth == 15) {
			assert_int_equal(msg_check_7bit(&m, err, sizeof(err)),
			    0);
			w = stream_all(&m, fd, 0, 1024, &n, &is8);
			assert_7bit(w, n);
			assert_int_equal(msg_size(&m, 0), n);
			assert_non_null(strstr(w, "\r\n=C3=A9\r\n--b15--"));
			free(w);
		} else {
			assert_int_equal(msg_check_7bit(&m, err, sizeof(err)),
			    -1);
			assert_string_equal(err, PFX "MIME parts nested more "
			    "than 16 deep" SFX);
		}
		msg_free(&m);
		close(fd);
	}
}

/* 4096 parts convert, one more is refused. */
static void test_part_limit(void **state)
{
	(void)state;
	for (int parts = 4096; parts <= 4097; parts++) {
		size_t cap = (size_t)parts * 16 + 512, len, n;
		char *in = malloc(cap), err[512], *w;
		struct msg m;
		int fd, is8;

		assert_non_null(in);
		len = (size_t)snprintf(in, cap, HEAD MP("b"));
		for (int i = 0; i < parts; i++)
			len += (size_t)snprintf(in + len, cap - len,
			    "--b\n\n\xc3\xa9%d\n", i % 10);
		len += (size_t)snprintf(in + len, cap - len, "--b--\n");
		fd = mkfd(in, len);
		assert_int_equal(msg_prepare(fd, &params, &m, err,
		    sizeof(err)), 0);
		if (parts == 4096) {
			assert_int_equal(msg_check_7bit(&m, err, sizeof(err)),
			    0);
			w = stream_all(&m, fd, 0, 65536, &n, &is8);
			assert_7bit(w, n);
			assert_int_equal(msg_size(&m, 0), n);
			free(w);
		} else {
			assert_int_equal(msg_check_7bit(&m, err, sizeof(err)),
			    -1);
			assert_string_equal(err, PFX "more than 4096 MIME "
			    "parts" SFX);
		}
		msg_free(&m);
		close(fd);
		free(in);
	}
}

/* A part header block over 8 KiB is refused; one just under converts. */
static void test_part_header_cap(void **state)
{
	(void)state;
	for (size_t fill = 8000; fill <= 8300; fill += 300) {
		size_t cap = fill + 1024, len, n;
		char *in = malloc(cap), err[512], *w;
		struct msg m;
		int fd, is8;

		assert_non_null(in);
		len = (size_t)snprintf(in, cap, HEAD MP("b") "--b\nX-Pad: ");
		memset(in + len, 'p', fill);
		/* folded: lines stay under 998 octets */
		for (size_t i = 900; i + 2 < fill; i += 900) {
			in[len + i] = '\n';
			in[len + i + 1] = ' ';
		}
		len += fill;
		len += (size_t)snprintf(in + len, cap - len,
		    "\n\n\xc3\xa9\n--b--\n");
		fd = mkfd(in, len);
		assert_int_equal(msg_prepare(fd, &params, &m, err,
		    sizeof(err)), 0);
		if (fill == 8000) {
			if (msg_check_7bit(&m, err, sizeof(err)) != 0)
				fail_msg("%s", err);
			w = stream_all(&m, fd, 0, 1024, &n, &is8);
			assert_7bit(w, n);
			assert_int_equal(msg_size(&m, 0), n);
			free(w);
		} else {
			assert_int_equal(msg_check_7bit(&m, err, sizeof(err)),
			    -1);
			assert_string_equal(err, PFX "the headers of MIME part "
			    "1 are over 8 KiB" SFX);
		}
		msg_free(&m);
		close(fd);
		free(in);
	}
}

/* A big 8-bit text part: exact size, 7-bit, every read size. */
static void test_big_part(void **state)
{
	size_t body = 3 * 1024 * 1024, cap = body + 1024, len, n;
	char *in = malloc(cap), err[512], *w;
	struct msg m;
	int fd, is8, dashes;

	(void)state;
	assert_non_null(in);
	len = (size_t)snprintf(in, cap, HEAD MP("b") "--b\n"
	    "Content-Type: text/plain; charset=utf-8\n\n");
	for (size_t i = 0; i < body; i++)
		in[len + i] = i % 97 == 96 ? '\n' : i % 5 == 0 ? '\xc3' :
		    i % 5 == 1 ? '\xa9' : i % 31 == 0 ? '.' : '-';
	len += body;
	len += (size_t)snprintf(in + len, cap - len, "\n--b--\n");
	fd = mkfd(in, len);
	assert_int_equal(msg_prepare(fd, &params, &m, err, sizeof(err)), 0);
	for (size_t chunk = 1024; chunk <= 65536; chunk *= 64) {
		w = stream_all(&m, fd, 0, chunk, &n, &is8);
		assert_7bit(w, n);
		assert_int_equal(msg_size(&m, 0), n);
		/* only the two real boundary lines start with "--" */
		dashes = 0;
		for (const char *p = w; (p = memmem(p, (size_t)(w + n - p),
		    "\r\n-", 3)) != NULL; p++)
			dashes++;
		assert_int_equal(dashes, 2);
		for (const char *l = w; l < w + n; ) {
			const char *e = memmem(l, (size_t)(w + n - l), "\r\n",
			    2);

			assert_non_null(e);
			assert_true(e - l <= 78);
			l = e + 2;
		}
		free(w);
	}
	msg_free(&m);
	close(fd);
	free(in);
}

#define CASES(arr, fn) \
	for (size_t i = 0; i < sizeof(arr) / sizeof(arr[0]); i++) { \
		t[nt].name = arr[i].name; \
		t[nt].test_func = fn; \
		t[nt].initial_state = (void *)&arr[i]; \
		nt++; \
	}

int main(void)
{
	struct CMUnitTest t[64] = {
		cmocka_unit_test(test_nothing_to_refuse),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_part_limit),
		cmocka_unit_test(test_part_header_cap),
		cmocka_unit_test(test_big_part),
	};
	size_t nt = 5;

	CASES(conv_cases, test_conv);
	CASES(refuse_cases, test_refuse);
	return _cmocka_run_group_tests("msg7", t, nt, NULL, NULL);
}
