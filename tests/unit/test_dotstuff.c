/*
 * test_dotstuff — the byte-level encoders: SMTP line normalisation and
 * dot-stuffing (every chunk split of tricky inputs, smuggling sequences),
 * quoted-printable (exact output, then a decode round trip over
 * pseudo-random input), RFC 2047 words and header folding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/msg.h"
#include "smtp/msg_int.h"

#define S(x) x, sizeof(x) - 1

struct ds_case {
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
};

static const struct ds_case ds_cases[] = {
	{ S(""), S("") },
	{ S("a"), S("a\r\n") },
	{ S("a\n"), S("a\r\n") },
	{ S("a\r\n"), S("a\r\n") },
	{ S("a\rb"), S("a\r\nb\r\n") },
	{ S("a\r\r\nb"), S("a\r\n\r\nb\r\n") },
	{ S("\n\r"), S("\r\n\r\n") },
	{ S("\r\n\r\n"), S("\r\n\r\n") },
	{ S(".\n"), S("..\r\n") },
	{ S("."), S("..\r\n") },
	{ S("..x\n.y"), S("...x\r\n..y\r\n") },
	{ S("x.\n.\n"), S("x.\r\n..\r\n") },
	/* the SMTP smuggling sequences (CVE-2023-51764/51765/51766) */
	{ S("a\n.\nb"), S("a\r\n..\r\nb\r\n") },
	{ S("a\r.\rb"), S("a\r\n..\r\nb\r\n") },
	{ S("a\r\n.\rb"), S("a\r\n..\r\nb\r\n") },
	{ S("a\n.\r\nb"), S("a\r\n..\r\nb\r\n") },
	{ S("a\r\n.\nb"), S("a\r\n..\r\nb\r\n") },
	{ S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"),
	    S("a\r\n..\r\nMAIL FROM:<x@y>\r\n") },
	{ S("\0.\0"), S("\0.\0\r\n") },
};

static size_t ds_run(const char *in, size_t len, size_t split, char *out)
{
	struct msg_dotstuff d;
	size_t o;

	msg_dotstuff_init(&d);
	o = msg_dotstuff(&d, in, split, out);
	o += msg_dotstuff(&d, in + split, len - split, out + o);
	o += msg_dotstuff_finish(&d, out + o);
	return o;
}

/* no CR without LF after it, no LF without CR before it */
static void assert_crlf_only(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			assert_true(i + 1 < n && s[i + 1] == '\n');
		if (s[i] == '\n')
			assert_true(i > 0 && s[i - 1] == '\r');
	}
}

static void test_dotstuff_case(void **state)
{
	const struct ds_case *c = *state;
	char out[256];

	/* every split point, including 0 and len */
	for (size_t split = 0; split <= c->inlen; split++) {
		size_t n = ds_run(c->in, c->inlen, split, out);

		if (n != c->outlen || memcmp(out, c->out, n) != 0)
			fail_msg("split at %zu: got %zu bytes, want %zu",
			    split, n, c->outlen);
		assert_crlf_only(out, n);
	}
	/* one byte at a time */
	{
		struct msg_dotstuff d;
		size_t o = 0;

		msg_dotstuff_init(&d);
		for (size_t i = 0; i < c->inlen; i++)
			o += msg_dotstuff(&d, c->in + i, 1, out + o);
		o += msg_dotstuff_finish(&d, out + o);
		assert_int_equal(o, c->outlen);
		assert_memory_equal(out, c->out, o);
	}
}

/* Every 3-way split of every string of up to 5 bytes over {a . CR LF}:
 * the output never holds CRLF.CRLF and only CRLF line ends. */
static void test_dotstuff_exhaustive(void **state)
{
	static const char alpha[] = { 'a', '.', '\r', '\n' };
	char in[8], out[64];

	(void)state;
	for (size_t len = 1; len <= 5; len++) {
		size_t total = 1;

		for (size_t i = 0; i < len; i++)
			total *= 4;
		for (size_t v = 0; v < total; v++) {
			size_t x = v;

			for (size_t i = 0; i < len; i++, x /= 4)
				in[i] = alpha[x % 4];
			for (size_t s1 = 0; s1 <= len; s1++)
				for (size_t s2 = s1; s2 <= len; s2++) {
					struct msg_dotstuff d;
					size_t o;
					char full[72];

					msg_dotstuff_init(&d);
					o = msg_dotstuff(&d, in, s1, out);
					o += msg_dotstuff(&d, in + s1, s2 - s1,
					    out + o);
					o += msg_dotstuff(&d, in + s2, len - s2,
					    out + o);
					o += msg_dotstuff_finish(&d, out + o);
					assert_true(o <= 2 * len + 2);
					assert_crlf_only(out, o);
					/* as the client will send it: after
					 * the header's blank line */
					memcpy(full, "\r\n", 2);
					memcpy(full + 2, out, o);
					assert_null(memmem(full, o + 2,
					    "\r\n.\r\n", 5));
				}
		}
	}
}

struct qp_case {
	const char *in;
	size_t inlen;
	const char *out;
};

static const struct qp_case qp_cases[] = {
	{ S("hello"), "hello" },
	{ S("caf\xc3\xa9"), "caf=C3=A9" },
	{ S("a=b"), "a=3Db" },
	{ S("trailing \n"), "trailing=20\r\n" },
	{ S("tab\t\r\n"), "tab=09\r\n" },
	{ S("end "), "end=20" },
	{ S("a b\tc"), "a b\tc" },
	{ S("a  \n b"), "a =20\r\n b" },
	{ S("a\rb"), "a\r\nb" },
	{ S("x\0y\x7f"), "x=00y=7F" },
	{ S("~!"), "~!" },
	{ S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaa"),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaa" },
	{ S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaab"),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaa=\r\nb" },
	{ S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaa\xc3\xa9"),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaa=\r\n=C3=A9" },
};

static void test_qp_case(void **state)
{
	const struct qp_case *c = *state;
	char out[MSG_QP_OUT(128)];
	size_t want = strlen(c->out);

	for (size_t split = 0; split <= c->inlen; split++) {
		struct msg_qp q;
		size_t o;

		msg_qp_init(&q);
		o = msg_qp(&q, c->in, split, out);
		o += msg_qp(&q, c->in + split, c->inlen - split, out + o);
		o += msg_qp_finish(&q, out + o);
		if (o != want || memcmp(out, c->out, o) != 0)
			fail_msg("split %zu: got \"%.*s\", want \"%s\"",
			    split, (int)o, out, c->out);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A strict decoder for the round trip: also checks line lengths and
 * that no line ends in a space or tab. */
static size_t qp_decode(const char *s, size_t n, char *out)
{
	size_t o = 0, linestart = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < n && s[i + 1] == '\n');
			assert_true(i - linestart <= 76);
			assert_true(i == linestart || (s[i - 1] != ' ' &&
			    s[i - 1] != '\t'));
			out[o++] = '\n';
			i++;
			linestart = i + 1;
		} else if (s[i] == '=') {
			assert_true(i + 2 < n);
			if (s[i + 1] == '\r') {
				assert_true(s[i + 2] == '\n');
				assert_true(i + 1 - linestart <= 76);
				i += 2;
				linestart = i + 1;
				continue;
			}
			assert_true(hexval(s[i + 1]) >= 0);
			assert_true(hexval(s[i + 2]) >= 0);
			out[o++] = (char)(hexval(s[i + 1]) * 16 +
			    hexval(s[i + 2]));
			i += 2;
		} else {
			unsigned char c = (unsigned char)s[i];

			assert_true(c == ' ' || c == '\t' ||
			    (c >= 33 && c <= 126));
			out[o++] = s[i];
		}
	}
	assert_true(n - linestart <= 76);
	assert_true(n == linestart || (s[n - 1] != ' ' && s[n - 1] != '\t'));
	return o;
}

/* Normalise line ends to LF, for comparing with the decoded text. */
static size_t to_lf(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			out[o++] = '\n';
			if (i + 1 < n && s[i + 1] == '\n')
				i++;
		} else
			out[o++] = s[i];
	}
	return o;
}

static void test_qp_roundtrip(void **state)
{
	static const char pick[] = "ab =.\t\r\n\xc3\xa9\x00\xff~";
	uint32_t seed = 12345;
	char in[400], enc[MSG_QP_OUT(400)], dec[800], norm[400];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(round % 397), o = 0, split, dn, nn;
		struct msg_qp q;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* mostly letters, so long lines happen */
			in[i] = (seed >> 16) % 4 ? 'x' :
			    pick[(seed >> 20) % (sizeof(pick) - 1)];
		}
		split = len ? (seed >> 8) % len : 0;
		msg_qp_init(&q);
		o = msg_qp(&q, in, split, enc);
		o += msg_qp(&q, in + split, len - split, enc + o);
		o += msg_qp_finish(&q, enc + o);
		assert_true(o <= MSG_QP_OUT(len));
		dn = qp_decode(enc, o, dec);
		nn = to_lf(in, len, norm);
		assert_int_equal(dn, nn);
		assert_memory_equal(dec, norm, dn);
	}
}

struct w_case {
	const char *in;
	const char *out;
};

static const struct w_case w_cases[] = {
	{ "\xc3\xa9", "=?UTF-8?B?w6k=?=" },
	{ "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln",
	    "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=" },
	/* 44 'a' + e-acute: the cut at 45 would split the character */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
	    "=?UTF-8?B?YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhY"
	    "WFhYWE=?= =?UTF-8?B?w6k=?=" },
	{ "", "" },
};

static void test_rfc2047_case(void **state)
{
	const struct w_case *c = *state;
	struct buf b = BUF_INIT(4096);

	assert_int_equal(msg_rfc2047(&b, c->in, strlen(c->in)), 0);
	assert_string_equal(b.p ? b.p : "", c->out);
	buf_free(&b);
}

/* Long non-ASCII text: every word at most 75 characters and each one
 * decodes to whole UTF-8 characters. */
static void test_rfc2047_long(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	char in[3000];
	size_t n = 0;

	(void)state;
	while (n + 3 < sizeof(in)) {
		memcpy(in + n, "\xe2\x82\xac", 3);     /* euro sign */
		n += 3;
	}
	assert_int_equal(msg_rfc2047(&b, in, n), 0);
	for (char *w = b.p; w; ) {
		char *sp = strchr(w, ' ');
		size_t wl = sp ? (size_t)(sp - w) : strlen(w);

		assert_true(wl <= 75);
		assert_memory_equal(w, "=?UTF-8?B?", 10);
		/* 45 bytes = 15 euro signs: whole characters per word */
		assert_true((wl - 12) % 4 == 0);
		w = sp ? sp + 1 : NULL;
	}
	buf_free(&b);
}

static void test_fold(void **state)
{
	struct buf b = BUF_INIT(1 << 16);
	char line[3000];
	int k = 0;

	(void)state;
	assert_int_equal(msg_fold(&b, S("Subject: short  ")), 0);
	assert_string_equal(b.p, "Subject: short\r\n");
	b.len = 0;
	/* words of 9 + space: breaks at the last space within 78 */
	k = snprintf(line, sizeof(line), "Subject:");
	for (int i = 0; i < 20; i++)
		k += snprintf(line + k, sizeof(line) - (size_t)k, " word%04d",
		    i);
	assert_int_equal(msg_fold(&b, line, (size_t)k), 0);
	assert_string_equal(b.p,
	    "Subject: word0000 word0001 word0002 word0003 word0004 word0005 "
	    "word0006\r\n"
	    " word0007 word0008 word0009 word0010 word0011 word0012 word0013 "
	    "word0014\r\n"
	    " word0015 word0016 word0017 word0018 word0019\r\n");
	/* a 990-character run: one line, over 78 but legal */
	b.len = 0;
	memcpy(line, "X-Long: ", 8);
	memset(line + 8, 'z', 990);
	assert_int_equal(msg_fold(&b, line, 998), 0);
	assert_int_equal(b.len, 1000);
	/* 991: the line would be 999 octets: refused, nothing appended */
	b.len = 0;
	memset(line + 8, 'z', 991);
	assert_int_equal(msg_fold(&b, line, 999), -1);
	assert_int_equal(b.len, 0);
	/* a long run after a space goes on its own line */
	memcpy(line, "X-Long: a ", 10);
	memset(line + 10, 'z', 990);
	assert_int_equal(msg_fold(&b, line, 1000), 0);
	assert_int_equal(b.len, 9 + 2 + 991 + 2);
	assert_memory_equal(b.p, "X-Long: a\r\n zzz", 15);
	buf_free(&b);
}

static void test_buf_cap(void **state)
{
	struct buf b = BUF_INIT(10);

	(void)state;
	assert_int_equal(buf_add(&b, "0123456789", 10), 0);
	assert_int_equal(buf_add(&b, "x", 1), -1);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_add(&b, "x", SIZE_MAX), -1);
	buf_free(&b);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(msg_utf8_valid(S("plain")));
	assert_true(msg_utf8_valid(S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
	assert_false(msg_utf8_valid(S("\xc3")));
	assert_false(msg_utf8_valid(S("\xc0\xaf")));         /* overlong */
	assert_false(msg_utf8_valid(S("\xed\xa0\x80")));     /* surrogate */
	assert_false(msg_utf8_valid(S("\xf4\x90\x80\x80"))); /* > 10FFFF */
	assert_false(msg_utf8_valid(S("\xe2\x82")));
	assert_false(msg_utf8_valid(S("\x80")));
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_dotstuff_exhaustive),
		cmocka_unit_test(test_qp_roundtrip),
		cmocka_unit_test(test_rfc2047_long),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_utf8),
	};
	size_t nd = sizeof(ds_cases) / sizeof(*ds_cases);
	size_t nq = sizeof(qp_cases) / sizeof(*qp_cases);
	size_t nw = sizeof(w_cases) / sizeof(*w_cases);
	size_t nf = sizeof(fixed) / sizeof(*fixed), k = 0;
	struct CMUnitTest *t = calloc(nd + nq + nw + nf, sizeof(*t));
	char (*names)[48] = calloc(nd + nq + nw, sizeof(*names));
	int rc;

	if (t == NULL || names == NULL)
		return 1;
	for (size_t i = 0; i < nd; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "dotstuff case %zu", i);
		t[k].name = names[k];
		t[k].test_func = test_dotstuff_case;
		t[k].initial_state = (void *)&ds_cases[i];
	}
	for (size_t i = 0; i < nq; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "qp case %zu", i);
		t[k].name = names[k];
		t[k].test_func = test_qp_case;
		t[k].initial_state = (void *)&qp_cases[i];
	}
	for (size_t i = 0; i < nw; i++, k++) {
		snprintf(names[k], sizeof(names[k]), "rfc2047 case %zu", i);
		t[k].name = names[k];
		t[k].test_func = test_rfc2047_case;
		t[k].initial_state = (void *)&w_cases[i];
	}
	for (size_t i = 0; i < nf; i++, k++)
		t[k] = fixed[i];
	rc = _cmocka_run_group_tests("test_dotstuff", t, k, NULL, NULL);
	free(names);
	free(t);
	return rc;
}
