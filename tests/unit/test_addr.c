/*
 * test_addr — RFC 5321 mailbox checks and RFC 5322 address lists:
 * valid forms, hostile forms, and the exact reason each refusal gives.
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

struct addr_case {
	const char *addr;
	const char *err;           /* NULL: valid; else the exact reason */
};

static const struct addr_case addr_cases[] = {
	{ "bob@example.com", NULL },
	{ "Bob.Smith+tag@sub.example.co.uk", NULL },
	{ "a@b", NULL },
	{ "x!#$%&'*+-/=?^_`{|}~@example.com", NULL },
	{ "\"john doe\"@example.com", NULL },
	{ "\"a,b\"@example.com", NULL },
	{ "\"a\\\"b\"@example.com", NULL },
	{ "\"\"@example.com", NULL },
	{ "root@[127.0.0.1]", NULL },
	{ "root@[IPv6:::1]", NULL },
	{ "j\xc3\xbcrgen@b\xc3\xbc" "cher.de", NULL },
	{ "bob@xn--bcher-kva.example", NULL },
	{ "", "empty address" },
	{ "bob", "no @ sign (missing domain)" },
	{ "bob@@example.com", "two @ signs" },
	{ "a@b@c", "two @ signs" },
	{ "@example.com", "nothing before @" },
	{ "bob@", "nothing after @ (missing domain)" },
	{ ".bob@example.com", "local part starts with a dot" },
	{ "bob.@example.com", "local part ends with a dot" },
	{ "bo..b@example.com", "two dots in a row in the local part" },
	{ "bob@.example.com", "domain starts with a dot" },
	{ "bob@example.com.", "domain ends with a dot" },
	{ "bob@example..com", "two dots in a row in the domain" },
	{ "bob@-example.com", "domain label starts with '-'" },
	{ "bob@example-.com", "domain label ends with '-'" },
	{ "bob@exa_mple.com", "character '_' not allowed in the domain" },
	{ "bob smith@example.com", "space in address" },
	{ "bob,x@example.com", "character ',' not allowed in the local part "
	    "(quote it)" },
	{ "bob@exa mple.com", "space in address" },
	{ "bo<b@example.com", "< or > inside the address" },
	{ "bob@example.com>", "< or > inside the address" },
	{ "bob@example.com\r\nRCPT TO:<x@y>", "line break in address" },
	{ "bob@example.com\n", "line break in address" },
	{ "bob\x01@example.com", "control character in address" },
	{ "bob\x7f@example.com", "control character in address" },
	{ "bob@[127.0.0.256]", "bad address literal (use [192.0.2.1] or "
	    "[IPv6:2001:db8::1])" },
	{ "bob@[foo:bar]", "bad address literal (use [192.0.2.1] or "
	    "[IPv6:2001:db8::1])" },
	{ "\"bob@example.com", "unterminated quoted local part" },
	{ "\"bob\"x@example.com", "text between the closing quote and @" },
	{ "\"bob\"", "no @ sign (missing domain)" },
	{ "bob@\xc3\x28.com", "not valid UTF-8" },
	{ "\xff@example.com", "not valid UTF-8" },
};

static void test_check_addr(void **state)
{
	const struct addr_case *c = *state;
	char err[256] = "";
	int rc = msg_check_addr(c->addr, err, sizeof(err));

	if (c->err == NULL) {
		if (rc != 0)
			fail_msg("\"%s\": got error \"%s\", want valid",
			    c->addr, err);
	} else {
		if (rc != -1)
			fail_msg("\"%s\": got valid, want \"%s\"", c->addr,
			    c->err);
		if (strcmp(err, c->err) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", c->addr,
			    err, c->err);
	}
}

static void test_check_addr_lengths(void **state)
{
	char a[600], err[256];

	(void)state;
	/* 64-octet local part: fine; 65: refused */
	memset(a, 'l', 64);
	memcpy(a + 64, "@example.com", 13);
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), 0);
	memset(a, 'l', 65);
	memcpy(a + 65, "@example.com", 13);
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), -1);
	assert_string_equal(err, "local part longer than 64 octets");
	/* 63-octet label fine, 64 refused */
	memcpy(a, "b@", 2);
	memset(a + 2, 'd', 63);
	memcpy(a + 65, ".com", 5);
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), 0);
	memset(a + 2, 'd', 64);
	memcpy(a + 66, ".com", 5);
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), -1);
	assert_string_equal(err, "domain label longer than 63 octets");
	/* a 256-octet domain of short labels */
	memcpy(a, "b@", 2);
	for (int i = 0; i < 128; i++)
		memcpy(a + 2 + 2 * i, "d.", 2);
	memcpy(a + 2 + 256, "c", 2);
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), -1);
	assert_string_equal(err, "domain longer than 255 octets");
	/* far too long overall */
	memset(a, 'x', 500);
	a[500] = '\0';
	assert_int_equal(msg_check_addr(a, err, sizeof(err)), -1);
	assert_string_equal(err, "longer than 320 octets");
}

struct list_case {
	const char *value;
	const char *want;          /* addresses joined by '|'; NULL: error */
	const char *err;           /* exact error when want is NULL */
};

static const struct list_case list_cases[] = {
	{ "bob@example.com", "bob@example.com", NULL },
	{ "Bob <bob@example.com>", "bob@example.com", NULL },
	{ "\"Smith, Bob\" <bob@example.com>, carol@example.org",
	    "bob@example.com|carol@example.org", NULL },
	{ "\"a,b\"@example.com, c@d", "\"a,b\"@example.com|c@d", NULL },
	{ "bob@example.com (Bob Smith), (x) carol@example.org (y)",
	    "bob@example.com|carol@example.org", NULL },
	{ "(nested (comment)) bob@example.com", "bob@example.com", NULL },
	{ "undisclosed-recipients:;", "", NULL },
	{ "team: a@x, b@y;, c@z", "a@x|b@y|c@z", NULL },
	{ "team: a@x, \"B, Y\" <b@y>;", "a@x|b@y", NULL },
	{ "team: a@x", "a@x", NULL },
	{ "a@x,,b@y,", "a@x|b@y", NULL },
	{ "", "", NULL },
	{ "   ", "", NULL },
	{ "<@relay.example,@r2.example:bob@example.com>",
	    "bob@example.com", NULL },
	{ "J. Smith <j@example.com>", "j@example.com", NULL },
	{ "bob@example.com <bob@example.com>", "bob@example.com", NULL },
	{ "bob @ example . com", "bob@example.com", NULL },
	{ "=?UTF-8?B?w6k=?= <e@example.com>", "e@example.com", NULL },
	{ "J\xc3\xbcrgen <j@example.de>", "j@example.de", NULL },
	{ "<root@[127.0.0.1]>", "root@[127.0.0.1]", NULL },
	{ "<>", NULL, "<>: empty address <>" },
	{ "Bob <>", NULL, "Bob <>: empty address <>" },
	{ "bob@@example.com", NULL, "bob@@example.com: two @ signs" },
	{ "ok@x, bob@@example.com", NULL, "bob@@example.com: two @ signs" },
	{ "Bob Smith bob@example.com", NULL,
	    "Bob Smith bob@example.com: a name must be followed by "
	    "<address>" },
	{ "Bob <bob@example.com", NULL, "Bob <bob@example.com: missing >" },
	{ "Bob <bob@example.com> x", NULL,
	    "Bob <bob@example.com> x: text after >" },
	{ "<a@b<>c@d>", NULL, "<a@b<>c@d>: < or > inside the address" },
	{ "bob@example.com>", NULL, "bob@example.com>: > without <" },
	{ "\"unterminated <a@b>", NULL,
	    "\"unterminated <a@b>: unterminated quoted string" },
	{ "(open bob@example.com", NULL,
	    "(open bob@example.com: unbalanced parenthesis" },
	{ "bob@example.com)", NULL,
	    "bob@example.com): unbalanced parenthesis" },
	{ "a@b;", NULL, "a@b;: ; outside a group" },
	{ "g: h: a@b;;", NULL, "h: a@b;;: a group inside a group" },
	{ "nodomain", NULL, "nodomain: no @ sign (missing domain)" },
	{ "<bob@example.com\r\nRCPT TO:<evil@x>>", NULL,
	    "<bob@example.com??RCPT TO:<evil@x>>: line break in address" },
	{ "bob@example.com\nBcc: x@y", NULL,
	    "bob@example.com?Bcc: x@y: line break in address" },
	{ "\"a\x01\"@b", NULL, "\"a?\"@b: control character in address" },
	{ "bob\\@x", NULL, "bob\\@x: backslash outside quotes" },
	{ "<bob smith@x>", NULL, "<bob smith@x>: space inside <...>" },
	{ "<bob @x>", "bob@x", NULL },
	{ "<a@b>, <a@[1.2.3.4>", NULL,
	    "<a@[1.2.3.4>: unterminated [address literal]" },
};

static void test_addrlist(void **state)
{
	const struct list_case *c = *state;
	char **list = NULL, err[256] = "", got[1024] = "";
	size_t n = 0, off = 0;
	int rc = msg_parse_addrlist(c->value, strlen(c->value), &list, &n,
	    err, sizeof(err));

	for (size_t k = 0; k < n; k++) {
		int w = snprintf(got + off, sizeof(got) - off, "%s%s",
		    k ? "|" : "", list[k]);

		assert_true(w > 0 && (size_t)w < sizeof(got) - off);
		off += (size_t)w;
		free(list[k]);
	}
	free(list);
	if (c->want) {
		if (rc != 0)
			fail_msg("\"%s\": error \"%s\"", c->value, err);
		if (strcmp(got, c->want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", c->value,
			    got, c->want);
	} else {
		if (rc != -1)
			fail_msg("\"%s\": accepted as \"%s\"", c->value, got);
		assert_int_equal(n, 0);
		if (strcmp(err, c->err) != 0)
			fail_msg("got \"%s\", want \"%s\"", err, c->err);
	}
}

/* An embedded NUL must not end the parse early and let the rest pass. */
static void test_addrlist_nul(void **state)
{
	static const char v[] = "a@b\0, evil@x";
	char **list = NULL, err[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(msg_parse_addrlist(v, sizeof(v) - 1, &list, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(n, 0);
	assert_string_equal(err, "a@b?: NUL byte in address");
	free(list);
}

/* On error, entries appended by earlier calls stay; new ones go. */
static void test_addrlist_keeps_earlier(void **state)
{
	char **list = NULL, err[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(msg_parse_addrlist("a@b, c@d", 8, &list, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(msg_parse_addrlist("e@f, x", 6, &list, &n, err,
	    sizeof(err)), -1);
	assert_int_equal(n, 2);
	assert_string_equal(list[1], "c@d");
	free(list[0]);
	free(list[1]);
	free(list);
}

/* A long hostile list: only a bounded error text comes back. */
static void test_addrlist_long_garbage(void **state)
{
	size_t len = 100000;
	char *v = malloc(len), **list = NULL, err[256];
	size_t n = 0;

	(void)state;
	assert_non_null(v);
	memset(v, '(', len);
	assert_int_equal(msg_parse_addrlist(v, len, &list, &n, err,
	    sizeof(err)), -1);
	assert_true(strlen(err) < 120);
	assert_non_null(strstr(err, "...: unbalanced parenthesis"));
	memset(v, 'a', len);
	assert_int_equal(msg_parse_addrlist(v, len, &list, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "address longer than 320 octets"));
	free(v);
	free(list);
}

/* One cmocka test per table row, named after its input. */
static char *case_name(const char *prefix, const char *s)
{
	char *n = malloc(96);
	size_t o;

	assert_non_null(n);
	o = (size_t)snprintf(n, 96, "%s ", prefix);
	for (; *s && o < 90; s++)
		n[o++] = ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
		    ? '?' : *s;
	n[o] = '\0';
	return n;
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_check_addr_lengths),
		cmocka_unit_test(test_addrlist_nul),
		cmocka_unit_test(test_addrlist_keeps_earlier),
		cmocka_unit_test(test_addrlist_long_garbage),
	};
	size_t na = sizeof(addr_cases) / sizeof(*addr_cases);
	size_t nl = sizeof(list_cases) / sizeof(*list_cases);
	size_t nf = sizeof(fixed) / sizeof(*fixed), k = 0;
	struct CMUnitTest *t = calloc(na + nl + nf, sizeof(*t));
	int rc;

	if (t == NULL)
		return 1;
	for (size_t i = 0; i < na; i++, k++) {
		t[k].name = case_name("addr", addr_cases[i].addr);
		t[k].test_func = test_check_addr;
		t[k].initial_state = (void *)&addr_cases[i];
	}
	for (size_t i = 0; i < nl; i++, k++) {
		t[k].name = case_name("list", list_cases[i].value);
		t[k].test_func = test_addrlist;
		t[k].initial_state = (void *)&list_cases[i];
	}
	for (size_t i = 0; i < nf; i++, k++)
		t[k] = fixed[i];
	rc = _cmocka_run_group_tests("test_addr", t, k, NULL, NULL);
	for (size_t i = 0; i < na + nl; i++)
		free((char *)t[i].name);
	free(t);
	return rc;
}
