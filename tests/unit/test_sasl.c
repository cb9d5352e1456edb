/*
 * test_sasl — the SASL client mechanisms against published vectors
 * (RFC 5802 5, RFC 7677 3, RFC 2195 2, RFC 4616, RFC 7628 4) and against
 * hostile server messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/sasl.h"

static struct sasl *new_sasl(const char *mech, const char *user,
    const char *secret, const char *nonce)
{
	struct sasl_params p = { .mech = mech, .user = user, .secret = secret,
	    .host = "server.example.com", .port = "587", .test_nonce = nonce };
	struct sasl *s = NULL;
	char err[256];

	assert_int_equal(sasl_new(&p, &s, err, sizeof(err)), 0);
	assert_non_null(s);
	return s;
}

static void expect_start(struct sasl *s, const char *want, size_t wantlen)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	char err[256];

	assert_int_equal(sasl_start(s, &out, &outlen, err, sizeof(err)), 0);
	if (!want) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	sasl_wipe(out, outlen);
}

static void expect_step(struct sasl *s, const char *chal, const char *want,
    size_t wantlen)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	char err[256] = "";
	int rc = sasl_step(s, (const unsigned char *)chal, strlen(chal), &out,
	    &outlen, err, sizeof(err));

	if (rc != 0)
		fail_msg("sasl_step(%s): %s", chal, err);
	assert_non_null(out);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	sasl_wipe(out, outlen);
}

/* The step must fail and its error must contain WANT. */
static void expect_step_fails(struct sasl *s, const char *chal,
    const char *want)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	char err[256] = "";

	assert_int_equal(sasl_step(s, (const unsigned char *)chal,
	    strlen(chal), &out, &outlen, err, sizeof(err)), -1);
	assert_null(out);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

#define S(lit) lit, sizeof(lit) - 1

/* ---- published vectors ---- */

static void test_plain(void **st)
{
	struct sasl *s = new_sasl("plain", "tim", "tanstaaftanstaaf", NULL);

	(void)st;
	assert_string_equal(sasl_name(s), "PLAIN");
	expect_start(s, S("\0tim\0tanstaaftanstaaf"));
	assert_int_equal(sasl_done(s, NULL, 0), 0);
	sasl_free(s);
}

static void test_plain_empty_challenge_resends(void **st)
{
	struct sasl *s = new_sasl("PLAIN", "u", "p", NULL);

	(void)st;
	expect_start(s, S("\0u\0p"));
	expect_step(s, "", S("\0u\0p"));
	expect_step_fails(s, "", "unexpected challenge");
	sasl_free(s);
}

static void test_login(void **st)
{
	struct sasl *s = new_sasl("LOGIN", "alice@example.com", "s3cret", NULL);

	(void)st;
	expect_start(s, NULL, 0);
	expect_step(s, "Username:", S("alice@example.com"));
	expect_step(s, "Password:", S("s3cret"));
	expect_step_fails(s, "Again:", "unexpected challenge");
	sasl_free(s);
}

static void test_cram_md5_rfc2195(void **st)
{
	struct sasl *s = new_sasl("CRAM-MD5", "tim", "tanstaaftanstaaf", NULL);

	(void)st;
	expect_start(s, NULL, 0);
	expect_step(s, "<1896.697170952@postoffice.reston.mci.net>",
	    S("tim b913a602c7eda7a495b4e6e7334d3890"));
	expect_step_fails(s, "<again>", "unexpected challenge");
	sasl_free(s);
}

static void test_cram_md5_empty_challenge(void **st)
{
	struct sasl *s = new_sasl("CRAM-MD5", "tim", "x", NULL);

	(void)st;
	expect_start(s, NULL, 0);
	expect_step_fails(s, "", "empty challenge");
	sasl_free(s);
}

static void test_scram_sha1_rfc5802(void **st)
{
	struct sasl *s = new_sasl("SCRAM-SHA-1", "user", "pencil",
	    "fyko+d2lbbFgONRv9qkxdawL");
	char err[256];

	(void)st;
	expect_start(s, S("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
	expect_step(s,
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096",
	    S("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
	assert_int_equal(sasl_done(s, err, sizeof(err)), -1);
	expect_step(s, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", S(""));
	assert_int_equal(sasl_done(s, err, sizeof(err)), 0);
	sasl_free(s);
}

static void test_scram_sha256_rfc7677(void **st)
{
	struct sasl *s = new_sasl("scram-sha-256", "user", "pencil",
	    "rOprNGfwEbeRWgbNEkqO");
	char err[256];

	(void)st;
	assert_string_equal(sasl_name(s), "SCRAM-SHA-256");
	expect_start(s, S("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
	expect_step(s,
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    S("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
	expect_step(s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	    S(""));
	assert_int_equal(sasl_done(s, err, sizeof(err)), 0);
	sasl_free(s);
}

static void test_scram_username_escaped(void **st)
{
	struct sasl *s = new_sasl("SCRAM-SHA-256", "a,b=c", "p", "NONCE");

	(void)st;
	expect_start(s, S("n,,n=a=2Cb=3Dc,r=NONCE"));
	sasl_free(s);
}

static void test_scram_random_nonce(void **st)
{
	struct sasl *a = new_sasl("SCRAM-SHA-1", "u", "p", NULL);
	struct sasl *b = new_sasl("SCRAM-SHA-1", "u", "p", NULL);
	unsigned char *oa, *ob;
	size_t la, lb;
	char err[256];

	(void)st;
	assert_int_equal(sasl_start(a, &oa, &la, err, sizeof(err)), 0);
	assert_int_equal(sasl_start(b, &ob, &lb, err, sizeof(err)), 0);
	/* "n,,n=u,r=" + 32 base64 characters of 24 random bytes */
	assert_int_equal(la, 9 + 32);
	assert_memory_equal(oa, "n,,n=u,r=", 9);
	assert_null(memchr(oa + 9, ',', la - 9));
	assert_true(la != lb || memcmp(oa, ob, la) != 0);
	sasl_wipe(oa, la);
	sasl_wipe(ob, lb);
	sasl_free(a);
	sasl_free(b);
}

static void test_xoauth2(void **st)
{
	struct sasl *s = new_sasl("XOAUTH2", "someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", NULL);

	(void)st;
	expect_start(s, S("user=someuser@example.com\001auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001"));
	/* an error challenge is answered with an empty line */
	expect_step(s, "{\"status\":\"401\",\"schemes\":\"Bearer\"}", S(""));
	assert_string_equal(sasl_server_error(s),
	    "{\"status\":\"401\",\"schemes\":\"Bearer\"}");
	assert_int_equal(sasl_done(s, NULL, 0), -1);
	sasl_free(s);
}

static void test_oauthbearer_rfc7628(void **st)
{
	struct sasl_params p = { .mech = "OAUTHBEARER",
	    .user = "user@example.com", .secret =
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	    .host = "server.example.com", .port = "143" };
	struct sasl *s;
	char err[256];

	(void)st;
	assert_int_equal(sasl_new(&p, &s, err, sizeof(err)), 0);
	expect_start(s, S("n,a=user@example.com,\001host=server.example.com"
	    "\001port=143\001auth=Bearer "
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001"));
	expect_step(s, "{\"status\":\"invalid_token\"}", S("\001"));
	sasl_free(s);
}

static void test_pick(void **st)
{
	static const struct { const char *offer, *want; } cases[] = {
		{ "PLAIN LOGIN", "PLAIN" },
		{ "LOGIN PLAIN CRAM-MD5", "CRAM-MD5" },
		{ "plain scram-sha-1 SCRAM-SHA-256", "SCRAM-SHA-256" },
		{ "SCRAM-SHA-1 PLAIN", "SCRAM-SHA-1" },
		{ "SCRAM-SHA-1-PLUS PLAIN", "PLAIN" },
		{ "LOGIN", "LOGIN" },
		{ "XOAUTH2 OAUTHBEARER", NULL },
		{ "GSSAPI NTLM", NULL },
		{ "", NULL },
		{ "  PLAINX  XPLAIN ", NULL },
		{ "  LOGIN  ", "LOGIN" },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = sasl_pick(cases[i].offer);

		if (!cases[i].want ? got != NULL :
		    !got || strcmp(got, cases[i].want) != 0)
			fail_msg("pick(\"%s\"): got %s, want %s",
			    cases[i].offer, got ? got : "NULL",
			    cases[i].want ? cases[i].want : "NULL");
	}
	assert_true(sasl_offered("PLAIN XOAUTH2", "xoauth2"));
	assert_false(sasl_offered(NULL, "PLAIN"));
	assert_true(sasl_supported("oauthbearer"));
	assert_false(sasl_supported("GSSAPI"));
}

static void test_new_refuses(void **st)
{
	static const struct sasl_params cases[] = {
		{ .mech = "GSSAPI", .user = "u", .secret = "p" },
		{ .mech = NULL, .user = "u", .secret = "p" },
		{ .mech = "PLAIN", .user = "", .secret = "p" },
		{ .mech = "PLAIN", .user = NULL, .secret = "p" },
		{ .mech = "PLAIN", .user = "u", .secret = NULL },
		{ .mech = "XOAUTH2", .user = "u\001auth=x", .secret = "t" },
		{ .mech = "OAUTHBEARER", .user = "u", .secret = "t\001" },
		{ .mech = "LOGIN", .user = "u\r\nQUIT", .secret = "p" },
		{ .mech = "CRAM-MD5", .user = "a b", .secret = "p" },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sasl *s = (struct sasl *)1;
		char err[256] = "";

		assert_int_equal(sasl_new(&cases[i], &s, err, sizeof(err)), -1);
		assert_null(s);
		assert_true(err[0] != '\0');
		if (cases[i].secret && strstr(err, cases[i].secret) &&
		    strlen(cases[i].secret) > 1)
			fail_msg("error shows the secret: %s", err);
	}
}

static void test_long_secret_refused(void **st)
{
	char *big = malloc(SASL_MAX_FIELD + 2);
	struct sasl_params p = { .mech = "PLAIN", .user = "u" };
	struct sasl *s;
	char err[256];

	(void)st;
	assert_non_null(big);
	memset(big, 'a', SASL_MAX_FIELD + 1);
	big[SASL_MAX_FIELD + 1] = '\0';
	p.secret = big;
	assert_int_equal(sasl_new(&p, &s, err, sizeof(err)), -1);
	free(big);
}

/* ---- hostile SCRAM servers ---- */

static struct sasl *scram_started(void)
{
	struct sasl *s = new_sasl("SCRAM-SHA-256", "user", "pencil",
	    "rOprNGfwEbeRWgbNEkqO");

	expect_start(s, S("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
	return s;
}

static void test_scram_hostile_first(void **st)
{
	static const struct { const char *msg, *want; } cases[] = {
		{ "r=XXXXNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		  "nonce does not start with ours" },
		{ "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		  "nonce does not start with ours" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,i=4096", "lacks the salt" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==",
		  "lacks the iteration count" },
		{ "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not start with r=" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		  "0 iterations" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100001",
		  "100001 iterations" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
		  "i=99999999999999", "bad iteration count" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
		  "bad iteration count" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
		  "bad iteration count" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22Z!J0S,i=4096",
		  "salt is not valid base64" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		  "salt is not valid base64" },
		{ "r=rOprNGfwEbeRWgbNEkqOab,s=,i=4096",
		  "salt is not valid base64" },
		{ "m=ext,r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
		  "i=4096", "extension" },
		{ "e=unknown-user", "the server refused: unknown-user" },
		{ "", "empty or not printable" },
		{ "r=rOprNGfwEbeRWgbNEkqOab s=x", "empty or not printable" },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sasl *s = scram_started();

		expect_step_fails(s, cases[i].msg, cases[i].want);
		sasl_free(s);
	}
}

static void test_scram_hostile_final(void **st)
{
	static const struct { const char *msg, *want; } cases[] = {
		/* one bit changed in the RFC 7677 signature */
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=",
		  "wrong server signature" },
		{ "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		  "wrong server signature" },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		  "not valid base64" },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4A",
		  "wrong server signature" },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4!",
		  "not valid base64" },
		{ "v=AAAA", "wrong server signature" },
		{ "v=", "wrong server signature" },
		{ "e=invalid-proof", "the server refused: invalid-proof" },
		{ "x=1", "no signature" },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sasl *s = scram_started();
		char err[256];

		expect_step(s,
		    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		    S("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
		    "hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
		expect_step_fails(s, cases[i].msg, cases[i].want);
		assert_int_equal(sasl_done(s, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "no server signature"));
		sasl_free(s);
	}
}

static void test_scram_third_challenge(void **st)
{
	struct sasl *s = new_sasl("SCRAM-SHA-1", "user", "pencil",
	    "fyko+d2lbbFgONRv9qkxdawL");

	(void)st;
	expect_start(s, S("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
	expect_step(s,
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096",
	    S("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
	expect_step(s, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", S(""));
	expect_step_fails(s, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	    "unexpected challenge");
	sasl_free(s);
}

static void test_step_before_start(void **st)
{
	struct sasl *s = new_sasl("PLAIN", "u", "p", NULL);

	(void)st;
	expect_step_fails(s, "", "before the start");
	sasl_free(s);
}

/* ---- base64 ---- */

static void test_b64_roundtrip(void **st)
{
	static const struct { const char *raw, *enc; } cases[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *enc;
		unsigned char *dec;
		size_t declen;

		assert_int_equal(sasl_b64_encode((const unsigned char *)
		    cases[i].raw, strlen(cases[i].raw), &enc), 0);
		assert_string_equal(enc, cases[i].enc);
		sasl_wipe((unsigned char *)enc, strlen(enc));
		assert_int_equal(sasl_b64_decode(cases[i].enc,
		    strlen(cases[i].enc), &dec, &declen), 0);
		assert_int_equal(declen, strlen(cases[i].raw));
		assert_memory_equal(dec, cases[i].raw, declen);
		sasl_wipe(dec, declen);
	}
}

static void test_b64_binary(void **st)
{
	unsigned char *dec;
	size_t declen;

	(void)st;
	/* "\0u\0p" must keep its NUL bytes */
	assert_int_equal(sasl_b64_decode("AHUAcA==", 8, &dec, &declen), 0);
	assert_int_equal(declen, 4);
	assert_memory_equal(dec, "\0u\0p", 4);
	sasl_wipe(dec, declen);
}

static void test_b64_bad(void **st)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "Zm9v=", "Zm=v", "Zm9v YmFy", "Zm9v\n",
		"Zm9*", "=Zm9", "Zg==Zg==", "\x80\x80\x80\x80", "Zm9\0",
	};
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *dec = (unsigned char *)1;
		size_t declen = 7;
		size_t len = i == 11 ? 4 : strlen(bad[i]);

		if (sasl_b64_decode(bad[i], len, &dec, &declen) != -1)
			fail_msg("accepted bad base64 #%zu", i);
		assert_null(dec);
		assert_int_equal(declen, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_empty_challenge_resends),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_cram_md5_rfc2195),
		cmocka_unit_test(test_cram_md5_empty_challenge),
		cmocka_unit_test(test_scram_sha1_rfc5802),
		cmocka_unit_test(test_scram_sha256_rfc7677),
		cmocka_unit_test(test_scram_username_escaped),
		cmocka_unit_test(test_scram_random_nonce),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer_rfc7628),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_new_refuses),
		cmocka_unit_test(test_long_secret_refused),
		cmocka_unit_test(test_scram_hostile_first),
		cmocka_unit_test(test_scram_hostile_final),
		cmocka_unit_test(test_scram_third_challenge),
		cmocka_unit_test(test_step_before_start),
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_b64_binary),
		cmocka_unit_test(test_b64_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
