/*
 * test_spool — the spool record format and the spool directory: round
 * trips, records cut short at every byte, hostile records (missing keys,
 * bad numbers, NUL bytes, huge lines, bad escapes), and the journal
 * (last whole record wins, tombstones, a tail cut short, a bad record set
 * aside, compaction) and the message and log files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <time.h>
#include <cmocka.h>

#include "fs/spool.h"

static struct spool_rcpt full_rcpts[] = {
	{ "bob@example.com", SPOOL_RCPT_OK, 250, "2.1.5 Ok" },
	{ "\"carol smith\"@example.com", SPOOL_RCPT_TEMP, 451,
	  "4.7.1 Try again 100% later" },
	{ "dave@example.com", SPOOL_RCPT_PENDING, 0, NULL },
	{ "eve@example.com", SPOOL_RCPT_PERM, 550, "5.1.1 No such user" },
};

static void fill_full(struct spool_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->id = 18446744073709551615ull;
	r->name = "a name with spaces, 100% and\na newline\t";
	r->dir = "work";
	r->state = OB_DEFERRED;
	r->account = "work";
	r->created = 1795881600;
	r->queued = 1795881601;
	r->next = 1795881901;
	r->attempts = 3;
	r->size = 412;
	r->message_id = "<20261128160000.4f2a@laptop.example.com>";
	r->from = "alice@example.com";
	r->dup = 1;
	r->interrupted = 0;
	r->rcpts = full_rcpts;
	r->nrcpts = 4;
	r->server = "smtp.example.com:587 starttls TLSv1.3 auth=plain";
	r->reply = "451 4.7.1 Try again later";
	r->error = "recipient carol@example.com deferred by server";
}

static void test_round_trip_full(void **state)
{
	struct spool_rec in, out;
	char *text, err[200];
	size_t len, i;

	(void)state;
	fill_full(&in);
	assert_int_equal(spool_rec_format(&in, &text, &len), 0);
	assert_int_equal(text[len - 1], '\n');
	assert_non_null(strstr(text, "\nend\n"));
	/* no raw control byte other than the line ends */
	for (i = 0; i < len; i++)
		assert_true(text[i] == '\n' || (unsigned char)text[i] >= 0x20);
	assert_int_equal(spool_rec_parse(text, len, &out, err, sizeof(err)),
	    0);
	assert_true(out.id == in.id);
	assert_string_equal(out.name, in.name);
	assert_string_equal(out.dir, in.dir);
	assert_int_equal(out.state, OB_DEFERRED);
	assert_string_equal(out.account, "work");
	assert_true(out.created == in.created && out.queued == in.queued &&
	    out.next == in.next);
	assert_int_equal(out.attempts, 3);
	assert_int_equal(out.size, 412);
	assert_string_equal(out.message_id, in.message_id);
	assert_string_equal(out.from, in.from);
	assert_int_equal(out.dup, 1);
	assert_int_equal(out.nrcpts, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(out.rcpts[i].addr, full_rcpts[i].addr);
		assert_int_equal(out.rcpts[i].state, full_rcpts[i].state);
		assert_int_equal(out.rcpts[i].code, full_rcpts[i].code);
		if (full_rcpts[i].text)
			assert_string_equal(out.rcpts[i].text,
			    full_rcpts[i].text);
		else
			assert_null(out.rcpts[i].text);
	}
	assert_string_equal(out.server, in.server);
	assert_string_equal(out.reply, in.reply);
	assert_string_equal(out.error, in.error);
	spool_rec_free(&out);
	free(text);
}

/* A draft's "lost" flag (its bytes were lost: sent only once written
 * again whole) survives a record; no other state writes it. */
static void test_lost_flag(void **state)
{
	static const struct {
		enum ob_state st;
		uint8_t closed, lost, want;
	} cases[] = {
		{ OB_DRAFT, 0, 1, 1 }, { OB_DRAFT, 1, 1, 1 },
		{ OB_DRAFT, 0, 0, 0 }, { OB_QUEUED, 0, 1, 0 },
		{ OB_SENT, 0, 1, 0 },
	};
	struct spool_rec in, out;
	char *text, err[200];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.id = 7;
		in.name = "m";
		in.state = cases[i].st;
		in.closed = cases[i].closed;
		in.lost = cases[i].lost;
		assert_int_equal(spool_rec_format(&in, &text, &len), 0);
		assert_int_equal(spool_rec_parse(text, len, &out, err,
		    sizeof(err)), 0);
		assert_int_equal(out.lost, cases[i].want);
		assert_int_equal(out.state, cases[i].st);
		assert_int_equal(out.closed,
		    cases[i].st == OB_DRAFT ? cases[i].closed : 0);
		spool_rec_free(&out);
		free(text);
	}
}

static void test_round_trip_minimal(void **state)
{
	struct spool_rec in = { 0 }, out;
	char *text, err[200];
	size_t len;

	(void)state;
	in.id = 1;
	in.name = "x";
	in.state = OB_DRAFT;
	in.closed = 1;
	assert_int_equal(spool_rec_format(&in, &text, &len), 0);
	assert_int_equal(spool_rec_parse(text, len, &out, err, sizeof(err)),
	    0);
	assert_string_equal(out.name, "x");
	assert_null(out.dir);
	assert_null(out.account);
	assert_int_equal(out.nrcpts, 0);
	assert_int_equal(out.closed, 1);
	assert_int_equal(out.state, OB_DRAFT);
	spool_rec_free(&out);
	free(text);
}

/* Every proper prefix of a valid record is refused: a write cut short
 * is never taken for a record. */
static void test_every_prefix_rejected(void **state)
{
	struct spool_rec in, out;
	char *text, err[200];
	size_t len, cut;

	(void)state;
	fill_full(&in);
	assert_int_equal(spool_rec_format(&in, &text, &len), 0);
	for (cut = 0; cut < len; cut++) {
		if (spool_rec_parse(text, cut, &out, err, sizeof(err)) == 0)
			fail_msg("a record cut at %zu of %zu bytes was "
			    "accepted", cut, len);
	}
	free(text);
}

struct bad_case {
	const char *name;
	const char *text;
	const char *why;      /* a word the error must contain */
};

#define HEAD "outboxfs-record 1\nid 7\nname m\nstate queued\n"

static const struct bad_case bad_cases[] = {
	{ "empty", "", "end" },
	{ "no end", HEAD, "end" },
	{ "end without newline", HEAD "end", "cut short" },
	{ "missing id", "name m\nstate queued\nend\n", "id" },
	{ "missing name", "id 7\nstate queued\nend\n", "name" },
	{ "missing state", "id 7\nname m\nend\n", "state" },
	{ "empty name", "id 7\nname \nstate queued\nend\n", "line 2" },
	{ "unknown state", "id 7\nname m\nstate lost\nend\n", "line 3" },
	{ "state too long", "id 7\nname m\nstate queuedqueuedqueued\nend\n",
	  "line 3" },
	{ "negative attempts", HEAD "attempts -1\nend\n", "line 5" },
	{ "attempts not a number", HEAD "attempts 3x\nend\n", "line 5" },
	{ "attempts empty", HEAD "attempts \nend\n", "line 5" },
	{ "id overflow", "id 184467440737095516160\nname m\nstate queued\n"
	  "end\n", "line 1" },
	{ "id negative", "id -7\nname m\nstate queued\nend\n", "line 1" },
	{ "created exponent", HEAD "created 1e9\nend\n", "line 5" },
	{ "dup 2", HEAD "dup 2\nend\n", "line 5" },
	{ "rcpt code 1000", HEAD "rcpt ok 1000 a@b\nend\n", "line 5" },
	{ "rcpt bad state", HEAD "rcpt maybe 250 a@b\nend\n", "line 5" },
	{ "rcpt no addr", HEAD "rcpt ok 250\nend\n", "line 5" },
	{ "rcpt empty addr", HEAD "rcpt ok 250  text\nend\n", "line 5" },
	{ "bad escape", HEAD "from a%ZZb\nend\n", "line 5" },
	{ "escaped NUL", HEAD "from a%00b\nend\n", "line 5" },
	{ "escape cut", HEAD "from ab%4\nend\n", "line 5" },
	{ "key without value", HEAD "from\nend\n", "line 5" },
	{ "data after end", HEAD "end\nfrom a\n", "after end" },
	{ "wrong version", "outboxfs-record 2\nid 7\nname m\nstate queued\n"
	  "end\n", "line 1" },
	{ "check stamp not a number", HEAD "check x 5 0000abcd\nend\n",
	  "line 5" },
	{ "check no crc", HEAD "check 1 5\nend\n", "line 5" },
	{ "check empty field", HEAD "check 1  0000abcd\nend\n", "line 5" },
	{ "check short crc", HEAD "check 1 5 000abcd\nend\n", "line 5" },
	{ "check long crc", HEAD "check 1 5 00000abcd\nend\n", "line 5" },
	{ "check crc not hex", HEAD "check 1 5 0000abcg\nend\n", "line 5" },
	{ "check len negative", HEAD "check 1 -5 0000abcd\nend\n", "line 5" },
	{ "check stamp overflow", HEAD "check 18446744073709551616 5 "
	  "0000abcd\nend\n", "line 5" },
	{ "check extra field", HEAD "check 1 5 0000abcd 1\nend\n", "line 5" },
};

/* A check line survives format and parse; a record without one parses
 * with none; spool_check_buf and spool_check_fd agree. */
static void test_check_round_trip(void **state)
{
	struct spool_rec r = { 0 }, out;
	struct spool_check ck = { 0 }, got, viafd;
	char *text, err[200], path[] = "/tmp/test_spool_ckXXXXXX";
	size_t len;
	int fd;

	(void)state;
	r.id = 7;
	r.name = "m";
	r.state = OB_QUEUED;
	spool_check_buf(&ck, "hello", 5);
	assert_true(ck.len == 5);
	assert_true(ck.crc == spool_crc32c("hello", 5));
	assert_true(ck.set);
	ck.stamp = 18446744073709551615ull;
	assert_int_equal(spool_rec_format_check(&r, &ck, &text, &len), 0);
	assert_non_null(strstr(text, "\ncheck 18446744073709551615 5 "));
	assert_int_equal(spool_rec_parse_check(text, len, &out, &got, err,
	    sizeof(err)), 0);
	assert_true(got.stamp == ck.stamp && got.len == 5 &&
	    got.crc == ck.crc);
	spool_rec_free(&out);
	free(text);
	ck.stamp = 0;                          /* a draft's: stamp 0 */
	assert_int_equal(spool_rec_format_check(&r, &ck, &text, &len), 0);
	assert_non_null(strstr(text, "\ncheck 0 5 "));
	assert_int_equal(spool_rec_parse_check(text, len, &out, &got, err,
	    sizeof(err)), 0);
	assert_true(got.set && got.stamp == 0 && got.len == 5 &&
	    got.crc == ck.crc);
	spool_rec_free(&out);
	free(text);
	ck.set = 0;                            /* none: no line */
	assert_int_equal(spool_rec_format_check(&r, &ck, &text, &len), 0);
	assert_null(strstr(text, "check"));
	got.set = 1;
	assert_int_equal(spool_rec_parse_check(text, len, &out, &got, err,
	    sizeof(err)), 0);
	assert_true(got.set == 0);
	spool_rec_free(&out);
	free(text);
	/* read whole or in pieces: empty, around the first read's 8 KiB,
	 * three 64 KiB chunks and a bit */
	{
		static const size_t sizes[] = { 0, 1, 8191, 8192, 8193,
		    3 * 65536 + 17 };
		size_t n = 3 * 65536 + 17, k, z;
		char *big = malloc(n);

		assert_non_null(big);
		for (k = 0; k < n; k++)
			big[k] = (char)(k * 7 + k / 251);
		for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			strcpy(path, "/tmp/test_spool_ckXXXXXX");
			fd = mkstemp(path);
			assert_true(fd >= 0);
			unlink(path);
			assert_int_equal(write(fd, big, sizes[z]),
			    (ssize_t)sizes[z]);
			spool_check_buf(&ck, big, sizes[z]);
			viafd.set = 0;
			assert_int_equal(spool_check_fd(&viafd, fd), 0);
			if (!viafd.set || viafd.len != sizes[z] ||
			    viafd.crc != ck.crc)
				fail_msg("a file of %zu bytes: read as %llu "
				    "bytes, CRC %08x, not %08x", sizes[z],
				    (unsigned long long)viafd.len,
				    viafd.crc, ck.crc);
			close(fd);
		}
		free(big);
	}
	assert_int_equal(spool_check_fd(&viafd, fd), -1);   /* closed */
}

static void test_bad_records(void **state)
{
	struct spool_rec out;
	char err[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		err[0] = '\0';
		if (spool_rec_parse(c->text, strlen(c->text), &out, err,
		    sizeof(err)) == 0)
			fail_msg("%s: accepted", c->name);
		if (strstr(err, c->why) == NULL)
			fail_msg("%s: error [%s] lacks [%s]", c->name, err,
			    c->why);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = HEAD "from a\0b\nend\n";
	struct spool_rec out;
	char err[200];

	(void)state;
	assert_int_equal(spool_rec_parse(text, sizeof(text) - 1, &out, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
}

static void test_huge_line(void **state)
{
	size_t n = SPOOL_MAX_LINE + 100;
	char *text = malloc(n + 64), err[200];
	struct spool_rec out;
	size_t len;

	(void)state;
	assert_non_null(text);
	len = (size_t)snprintf(text, 64, "id 1\nname m\nstate sent\nfrom ");
	memset(text + len, 'a', n);
	len += n;
	memcpy(text + len, "\nend\n", 5);
	len += 5;
	assert_int_equal(spool_rec_parse(text, len, &out, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "too long"));
	free(text);
}

/*
 * The exact bytes a value becomes: runs of plain bytes as they are, each
 * control byte, DEL and '%' (and in an address, a space) as %XX with
 * upper-case digits, so that mixed values escape byte for byte; and
 * numbers in decimal, the extremes included.
 */
static void test_format_escapes_exact(void **state)
{
	static const struct {
		const char *value;
		const char *name_line;     /* as "name VALUE" */
		const char *rcpt_line;     /* as an address */
	} cases[] = {
		{ "plain", "name plain\n", "rcpt temp 451 plain\n" },
		{ "a b", "name a b\n", "rcpt temp 451 a%20b\n" },
		{ "100%", "name 100%25\n", "rcpt temp 451 100%25\n" },
		{ "%%", "name %25%25\n", "rcpt temp 451 %25%25\n" },
		{ "\x01x\x7fy\x1f", "name %01x%7Fy%1F\n",
		  "rcpt temp 451 %01x%7Fy%1F\n" },
		{ "tab\there\r\n", "name tab%09here%0D%0A\n",
		  "rcpt temp 451 tab%09here%0D%0A\n" },
		{ "\xc3\xa9t\xc3\xa9 ok", "name \xc3\xa9t\xc3\xa9 ok\n",
		  "rcpt temp 451 \xc3\xa9t\xc3\xa9%20ok\n" },
	};
	static const int64_t nums[] = { 0, 1, 9, 10, -1, -10,
	    1700000000123LL, INT64_MAX, INT64_MIN };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spool_rec r;
		struct spool_rcpt rc = { NULL, SPOOL_RCPT_TEMP, 451, NULL };
		char *text;
		size_t len;

		memset(&r, 0, sizeof(r));
		r.id = 7;
		r.name = (char *)cases[i].value;
		r.state = OB_DEFERRED;
		rc.addr = (char *)cases[i].value;
		r.rcpts = &rc;
		r.nrcpts = 1;
		assert_int_equal(spool_rec_format(&r, &text, &len), 0);
		if (strstr(text, cases[i].name_line) == NULL ||
		    strstr(text, cases[i].rcpt_line) == NULL)
			fail_msg("case %zu: %s", i, text);
		free(text);
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct spool_rec r;
		char *text, want[64];
		size_t len;

		memset(&r, 0, sizeof(r));
		r.id = 7;
		r.name = (char *)"m";
		r.state = OB_DEFERRED;
		r.created = nums[i];
		r.next = nums[i];
		assert_int_equal(spool_rec_format(&r, &text, &len), 0);
		snprintf(want, sizeof(want), "\ncreated %" PRId64 "\n", nums[i]);
		if (strstr(text, want) == NULL)
			fail_msg("number %" PRId64 ": %s", nums[i], text);
		snprintf(want, sizeof(want), "\nnext %" PRId64 "\n", nums[i]);
		if (strstr(text, want) == NULL)
			fail_msg("number %" PRId64 ": %s", nums[i], text);
		free(text);
	}
}

/*
 * Values whose escaped form would pass SPOOL_MAX_LINE (control bytes grow
 * threefold) are cut when formatted, so every record written parses
 * again; the cut is exact (whole escapes only).
 */
static void test_format_stays_parseable(void **state)
{
	struct {
		size_t len;
		char fill;
	} cases[] = {
		{ 1500, '\x01' }, { 1364, '%' }, { 1365, '%' }, { 4090, 'a' },
		{ 4091, 'a' }, { 9000, 'b' }, { 3000, '\n' },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spool_rec r, back;
		struct spool_rcpt rc = { NULL, SPOOL_RCPT_TEMP, 451, NULL };
		char *v = malloc(cases[i].len + 1), *text, *text2, err[200];
		size_t len, len2, line;
		const char *p;

		assert_non_null(v);
		memset(v, cases[i].fill, cases[i].len);
		v[cases[i].len] = '\0';
		memset(&r, 0, sizeof(r));
		r.id = 7;
		r.name = v;
		r.state = OB_DEFERRED;
		r.error = v;
		rc.addr = v;
		rc.text = v;
		r.rcpts = &rc;
		r.nrcpts = 1;
		assert_int_equal(spool_rec_format(&r, &text, &len), 0);
		for (p = text; p < text + len; p += line + 1) {
			line = (size_t)((const char *)memchr(p, '\n',
			    (size_t)(text + len - p)) - p);
			assert_true(line <= SPOOL_MAX_LINE);
		}
		assert_int_equal(spool_rec_parse(text, len, &back, err,
		    sizeof(err)), 0);
		assert_int_equal(back.nrcpts, 1);
		assert_true(strlen(back.name) <= cases[i].len);
		assert_memory_equal(back.name, v, strlen(back.name));
		assert_int_equal(spool_rec_format(&back, &text2, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(text2, text, len);
		free(text);
		free(text2);
		spool_rec_free(&back);
		free(v);
	}
}

static void test_huge_record(void **state)
{
	size_t len = SPOOL_MAX_RECORD + 1;
	char *text = malloc(len), err[200];
	struct spool_rec out;

	(void)state;
	assert_non_null(text);
	memset(text, '\n', len);
	assert_int_equal(spool_rec_parse(text, len, &out, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "too large"));
	free(text);
}

static void test_too_many_rcpts(void **state)
{
	size_t cap = (SPOOL_MAX_RCPTS + 2) * 32 + 100, len, i;
	char *text = malloc(cap), err[200];
	struct spool_rec out;

	(void)state;
	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "id 1\nname m\nstate sent\n");
	for (i = 0; i < SPOOL_MAX_RCPTS + 1; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "rcpt ok 250 r%zu@x\n", i);
	len += (size_t)snprintf(text + len, cap - len, "end\n");
	assert_int_equal(spool_rec_parse(text, len, &out, err, sizeof(err)),
	    -1);
	free(text);
}

static void test_unknown_key_ignored(void **state)
{
	static const char text[] = HEAD "colour blue\nend\n";
	struct spool_rec out;
	char err[200];

	(void)state;
	assert_int_equal(spool_rec_parse(text, sizeof(text) - 1, &out, err,
	    sizeof(err)), 0);
	assert_int_equal(out.state, OB_QUEUED);
	assert_true(out.id == 7);
	spool_rec_free(&out);
}

/* uid and gid: kept exactly, absent in old records, hostile refused. */
static void test_owner_keys(void **state)
{
	static const struct {
		int owned;
		unsigned long uid, gid;
	} ok[] = {
		{ 0, 0, 0 }, { 1, 0, 0 }, { 1, 1001, 1002 },
		{ 1, 65534, 65534 }, { 1, 4294967294ul, 4294967294ul },
	};
	static const char *const bad[] = {
		"uid -1\n", "uid 4294967295\n", "uid 99999999999999999999\n",
		"uid 12a\n", "uid \n", "gid -5\n", "gid 4294967295\n",
		"uid 1e3\n", "uid +7\n",
	};
	struct spool_rec in = { 0 }, out;
	char *text, err[200], buf[256];
	size_t len, i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		in.id = 5;
		in.name = "x";
		in.state = OB_QUEUED;
		in.owned = ok[i].owned;
		in.uid = (uid_t)ok[i].uid;
		in.gid = (gid_t)ok[i].gid;
		assert_int_equal(spool_rec_format(&in, &text, &len), 0);
		assert_int_equal(spool_rec_parse(text, len, &out, err,
		    sizeof(err)), 0);
		if (out.owned != ok[i].owned || (unsigned long)out.uid !=
		    (ok[i].owned ? ok[i].uid : 0) || (unsigned long)out.gid !=
		    (ok[i].owned ? ok[i].gid : 0))
			fail_msg("case %zu: got owned %d uid %lu gid %lu, want "
			    "%d %lu %lu", i, out.owned,
			    (unsigned long)out.uid, (unsigned long)out.gid,
			    ok[i].owned, ok[i].uid, ok[i].gid);
		assert_true((strstr(text, "\nuid ") != NULL) == ok[i].owned);
		spool_rec_free(&out);
		free(text);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(buf, sizeof(buf), HEAD "%send\n", bad[i]);
		assert_true(n > 0 && (size_t)n < sizeof(buf));
		if (spool_rec_parse(buf, (size_t)n, &out, err,
		    sizeof(err)) == 0) {
			spool_rec_free(&out);
			fail_msg("case \"%.*s\": accepted, want refused",
			    (int)strlen(bad[i]) - 1, bad[i]);
		}
	}
}

static void test_state_names(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < OB_NSTATES; i++)
		assert_int_equal(spool_state_parse(spool_state_name(
		    (enum ob_state)i)), i);
	assert_string_equal(spool_state_name(OB_PARTIAL), "partial");
	assert_string_equal(spool_state_name((enum ob_state)99), "unknown");
	assert_int_equal(spool_state_parse("Queued"), -1);
}

/* CRC-32C check values (RFC 3720 B.4 and the usual "123456789"), at
 * every length around the 8-byte steps of the CPU's instruction. */
static void test_crc32c(void **state)
{
	static const struct { const char *in; size_t len; uint32_t want; }
	    cases[] = {
		{ "", 0, 0x00000000u },
		{ "a", 1, 0xC1D04330u },
		{ "123456789", 9, 0xE3069283u },
		{ "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
		  "\0\0\0\0", 32, 0x8A9136AAu },
	};
	unsigned char ff[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(spool_crc32c(cases[i].in, cases[i].len),
		    cases[i].want);
	memset(ff, 0xff, sizeof(ff));
	assert_int_equal(spool_crc32c(ff, 32), 0x62A8AB43u);
}

/* ---- the directory ---------------------------------------------------- */

struct dir_fixture {
	char path[64];
	struct spool sp;
};

static int dir_setup(void **state)
{
	struct dir_fixture *f = calloc(1, sizeof(*f));
	char err[300];

	if (f == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/test_spool.XXXXXX");
	if (mkdtemp(f->path) == NULL)
		return -1;
	strncat(f->path, "/s/p", sizeof(f->path) - strlen(f->path) - 1);
	if (spool_open(&f->sp, f->path, err, sizeof(err)) < 0)
		return -1;
	*state = f;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir_fixture *f = *state;
	char cmd[128];

	spool_close(&f->sp);
	f->path[strlen(f->path) - 4] = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->path);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* What spool_load reported, one line per id: "ID:v|b|m NAME/STATE|WHY". */
struct load_log {
	char text[1024];
};

static void load_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct load_log *l = arg;
	size_t n = strlen(l->text);

	if (r)
		snprintf(l->text + n, sizeof(l->text) - n, "%llu:%s%s/%s ",
		    (unsigned long long)id, has_msg ? "m" : "-", r->name,
		    spool_state_name(r->state));
	else
		snprintf(l->text + n, sizeof(l->text) - n, "%llu:%sBAD(%.20s) ",
		    (unsigned long long)id, has_msg ? "m" : "-", bad);
}

/* Counts the valid records spool_load reports, into the text. */
static void count_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct load_log *l = arg;

	(void)id;
	(void)bad;
	(void)has_msg;
	if (r)
		snprintf(l->text, sizeof(l->text), "%d", atoi(l->text) + 1);
}

static void put_rec(struct spool *sp, uint64_t id, const char *name,
    enum ob_state st)
{
	struct spool_rec r = { 0 };

	r.id = id;
	r.name = (char *)name;
	r.state = st;
	assert_int_equal(spool_write_rec(sp, &r), 0);
}

static void append_raw(struct dir_fixture *f, const char *text)
{
	assert_int_equal(spool_write_text(&f->sp, text, strlen(text)), 0);
}

/* DIRFD/NAME made, holding TEXT. */
static void put_file(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* msg/ID exists (looked at by path: also after spool_close). */
static int has_msg_file(struct dir_fixture *f, uint64_t id)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/msg/%llu", f->path,
	    (unsigned long long)id);
	return access(path, F_OK) == 0;
}

static void test_journal_last_record_wins(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[200];
	int fd;

	put_rec(&f->sp, 1, "one", OB_QUEUED);
	put_rec(&f->sp, 2, "two", OB_QUEUED);
	put_rec(&f->sp, 3, "three", OB_QUEUED);
	put_rec(&f->sp, 3, "three", OB_DEFERRED);
	put_rec(&f->sp, 1, "one", OB_SENT);
	fd = spool_create_msg(&f->sp, 1);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_create_msg(&f->sp, 1), -1);   /* exclusive */
	fd = spool_create_msg(&f->sp, 3);
	close(fd);
	fd = spool_create_msg(&f->sp, 9);                   /* no record */
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	fd = spool_create_msg(&f->sp, 10);     /* empty, no record: unused */
	close(fd);
	fd = spool_create_msg(&f->sp, 2);
	close(fd);
	assert_int_equal(spool_remove(&f->sp, 2), 0);       /* tombstone */
	assert_int_equal(spool_sync(&f->sp), 0);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "1:mone/sent 3:mthree/deferred "
	    "9:mBAD(message bytes withou) ");
	assert_true(max == 10);
	assert_false(has_msg_file(f, 10));
}

/* A record in state ST (a draft: CLOSED) with a check for ID, whose
 * message was TEXT; no check when TEXT is NULL. */
static void put_rec_check(struct dir_fixture *f, uint64_t id,
    enum ob_state st, int closed, uint64_t stamp, const char *text)
{
	struct spool_rec r = { 0 };
	struct spool_check ck = { 0, 0, 0, 0 };
	char *rec, name[16];
	size_t len;

	r.id = id;
	snprintf(name, sizeof(name), "m%llu", (unsigned long long)id);
	r.name = name;
	r.state = st;
	r.closed = (uint8_t)closed;
	if (text)
		spool_check_buf(&ck, text, strlen(text));
	ck.stamp = stamp;
	assert_int_equal(spool_rec_format_check(&r, &ck, &rec, &len), 0);
	assert_int_equal(spool_write_text(&f->sp, rec, len), 0);
	free(rec);
}

/* A queued record with a check for ID, whose message was TEXT. */
static void put_checked(struct dir_fixture *f, uint64_t id, uint64_t stamp,
    const char *text)
{
	put_rec_check(f, id, OB_QUEUED, 0, stamp, text);
}

/* What error_cb saw: "ID:state:closed:WHY " per record, WHY the reason
 * in an error "... submitted with (WHY); ...", or the error's first
 * word. */
static void error_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct load_log *l = arg;
	size_t n = strlen(l->text);
	const char *e, *w;
	int wl;

	(void)bad;
	if (r == NULL)
		return;
	e = r->error ? r->error : "";
	w = strstr(e, "submitted with (");
	if (w) {
		w += strlen("submitted with (");
		wl = (int)strcspn(w, ")");
	} else {
		w = e;
		wl = (int)strcspn(w, " ");
	}
	snprintf(l->text + n, sizeof(l->text) - n, "%llu:%s%s:%d:%.*s ",
	    (unsigned long long)id, has_msg ? "m" : "-",
	    spool_state_name(r->state), r->closed, wl, w);
}

/*
 * A crash of the system may leave a queued record of the committer's
 * last batch without its message's bytes (the file and the journal are
 * synced at the same time), or a closed draft's record without them
 * (nothing syncs a draft). The mount checks the messages of the last
 * batch only (a batch starts once the one before is durable), and every
 * closed draft with a check: one whose bytes are not those recorded is a
 * draft again, not closed (not submitted), with the reason; the rest
 * load as they were.
 */
static void test_journal_check_last_batch(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[300], name[16], zeros[64];
	const char *body = "To: a@b\n\nthe whole message\n";
	int fd;

	put_checked(f, 1, 1, body);     /* earlier batch: not looked at */
	put_file(f->sp.msgfd, "1", "To: a@b\n\nthe wh");
	put_checked(f, 2, 2, body);     /* last batch, whole */
	put_file(f->sp.msgfd, "2", body);
	put_checked(f, 3, 2, body);     /* last batch, cut short */
	put_file(f->sp.msgfd, "3", "To: a@b\n\nthe wh");
	put_checked(f, 4, 2, body);     /* last batch, same length, other
	                                 * bytes (a block never written) */
	strcpy(zeros, body);
	memset(zeros + 9, 0, 8);
	fd = openat(f->sp.msgfd, "4", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zeros, strlen(body)),
	    (ssize_t)strlen(body));
	close(fd);
	put_checked(f, 5, 2, body);     /* attempted since: not looked at */
	put_rec(&f->sp, 5, "m5", OB_DEFERRED);
	put_file(f->sp.msgfd, "5", "cut");
	put_checked(f, 6, 2, body);     /* no file: the loader's to judge */
	/* closed drafts (submitted at the mount; nothing synced their
	 * files): always looked at, whatever the batches */
	put_rec_check(f, 7, OB_DRAFT, 1, 0, body);        /* whole */
	put_file(f->sp.msgfd, "7", body);
	put_rec_check(f, 8, OB_DRAFT, 1, 0, body);        /* cut short */
	put_file(f->sp.msgfd, "8", "To: a@b\n");
	put_rec_check(f, 9, OB_DRAFT, 1, 0, NULL);    /* no check (older) */
	put_file(f->sp.msgfd, "9", "To: a@b\n");
	put_rec_check(f, 10, OB_DRAFT, 0, 0, body);   /* open: not looked at */
	put_file(f->sp.msgfd, "10", "To: a@b\n");
	assert_int_equal(spool_sync(&f->sp), 0);
	assert_int_equal(spool_load(&f->sp, error_cb, &l, &max, err,
	    sizeof(err)), 0);
	snprintf(name, sizeof(name), "%u", f->sp.load_unsynced);
	assert_string_equal(name, "3");
	assert_string_equal(l.text, "1:mqueued:0: 2:mqueued:0: "
	    "3:mdraft:0:15 bytes of 27 "
	    "4:mdraft:0:its bytes differ (CRC-32C 9c35f0b3, recorded 9283cd7c "
	    "5:mdeferred:0: 6:-queued:0: 7:mdraft:1: "
	    "8:mdraft:0:8 bytes of 27 9:mdraft:1: 10:mdraft:0: ");
}

/*
 * spool_sync_fds over batches of every size, alone and with the helpers
 * (three files or more), again and again: each call returns once every
 * file is synced, a failure of any file is the call's, a good batch
 * gives the next check stamp, a failed one holds it until the journal
 * is rewritten, and a failure leaves nothing behind for the next batch
 * (no helper still on it).
 */
static void test_sync_fds_batches(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 4, 8, 9, 40 };
	struct dir_fixture *f = *state;
	int fds[40], pfd[2];
	uint64_t stamp = spool_check_stamp(&f->sp);
	size_t i, k, round;

	for (i = 0; i < 40; i++) {
		fds[i] = spool_create_msg(&f->sp, 1000 + i);
		assert_true(fds[i] >= 0);
		assert_int_equal(write(fds[i], "x", 1), 1);
	}
	close(fds[5]);
	fds[5] = -1;                          /* skipped */
	for (round = 0; round < 20; round++) {
		/* no helper thread before the daemon says so (a fork
		 * would lose it), then helpers for batches of three up */
		if (round == 10) {
			assert_int_equal(f->sp.nsw, 0);
			spool_sync_helpers_ok(&f->sp);
		}
		for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			assert_int_equal(spool_sync_fds(&f->sp, fds,
			    sizes[k]), 0);
			assert_true(spool_check_stamp(&f->sp) == ++stamp);
		}
	}
	assert_true(f->sp.nsw > 0);
	/* a file that cannot be synced (a pipe: EINVAL), first, in the
	 * middle, last, of a small and of a helped batch */
	assert_int_equal(pipe(pfd), 0);
	for (k = 0; k < 6; k++) {
		size_t n = k < 3 ? 2 : 12, at = k % 3 == 0 ? 0 :
		    k % 3 == 1 ? n / 2 : n - 1;
		int saved = fds[at];

		fds[at] = pfd[0];
		errno = 0;
		assert_int_equal(spool_sync_fds(&f->sp, fds, n), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(spool_check_stamp(&f->sp) == stamp);
		fds[at] = saved;
		/* held: the failed batch's records may stay the last of
		 * their messages, so later batches share its stamp */
		assert_int_equal(spool_sync_fds(&f->sp, fds, n), 0);
		assert_true(spool_check_stamp(&f->sp) == stamp);
		assert_int_equal(spool_sync_fds(&f->sp, fds, n), 0);
		assert_true(spool_check_stamp(&f->sp) == stamp);
		/* until the journal is rewritten: then on from the next */
		assert_int_equal(spool_rewrite(&f->sp, "", 0,
		    spool_journal_size(&f->sp)), 0);
		assert_true(spool_check_stamp(&f->sp) == ++stamp);
		assert_int_equal(spool_sync_fds(&f->sp, fds, n), 0);
		assert_true(spool_check_stamp(&f->sp) == ++stamp);
	}
	close(pfd[0]);
	close(pfd[1]);
	for (i = 0; i < 40; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int count_names(struct dir_fixture *f, const char *prefix);

/*
 * spool_copy_msg: the copy of a file whose sync may have failed. A copy
 * whose bytes are the check's replaces msg/ID (a new inode, the same
 * bytes); one that is not leaves msg/ID as it was; a read that fails
 * leaves it too; no .rsID is ever left behind.
 */
static void test_copy_msg(void **state)
{
	static const struct {
		size_t size;
		int want;     /* 0: no check, 1: its own, 2: length off,
		               * 3: CRC off */
		int rc;
	} cases[] = {
		{ 0, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, 3, 1 },
		{ 8191, 1, 0 }, { 65536, 1, 0 }, { 65536, 2, 1 },
		{ 65537, 3, 1 }, { 200003, 0, 0 }, { 200003, 1, 0 },
		{ 200003, 2, 1 },
	};
	struct dir_fixture *f = *state;
	struct spool_check want, got;
	struct stat before, after;
	char name[32], *buf, *back;
	size_t i, k;
	int fd, nfd, rc;

	buf = malloc(200003);
	back = malloc(200003 + 1);
	assert_non_null(buf);
	assert_non_null(back);
	for (k = 0; k < 200003; k++)
		buf[k] = (char)('a' + k % 23);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t id = 500 + i;

		fd = spool_create_msg(&f->sp, id);
		assert_true(fd >= 0);
		assert_int_equal(spool_write_all(fd, buf, cases[i].size), 0);
		assert_int_equal(fstat(fd, &before), 0);
		memset(&want, 0, sizeof(want));
		if (cases[i].want) {
			spool_check_buf(&want, buf, cases[i].size);
			if (cases[i].want == 2)
				want.len++;
			if (cases[i].want == 3)
				want.crc ^= 1;
		}
		nfd = -1;
		rc = spool_copy_msg(&f->sp, id, fd, &want, &got, &nfd);
		assert_int_equal(rc, cases[i].rc);
		assert_true(got.set);
		assert_true(got.len == cases[i].size);
		assert_false(count_names(f, ".rs"));
		snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
		assert_int_equal(fstatat(f->sp.msgfd, name, &after, 0), 0);
		assert_true(after.st_size == (off_t)cases[i].size);
		if (rc == 0) {
			/* a new file, its bytes the same, read through NFD */
			assert_true(after.st_ino != before.st_ino);
			assert_true(nfd >= 0);
			assert_int_equal(fstat(nfd, &before), 0);
			assert_true(before.st_ino == after.st_ino);
			assert_true(pread(nfd, back, cases[i].size + 1, 0) ==
			    (ssize_t)cases[i].size);
			assert_memory_equal(back, buf, cases[i].size);
			close(nfd);
		} else {
			assert_true(after.st_ino == before.st_ino);
			assert_int_equal(nfd, -1);
		}
		close(fd);
	}
	/* a descriptor that cannot be read: -1, nothing replaced or left */
	fd = spool_create_msg(&f->sp, 600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "kept", 4), 4);
	close(fd);
	fd = open(f->path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(spool_copy_msg(&f->sp, 600, fd, NULL, &got, NULL),
	    -1);
	assert_int_equal(errno, EISDIR);
	assert_false(count_names(f, ".rs"));
	close(fd);
	assert_int_equal(fstatat(f->sp.msgfd, "600", &after, 0), 0);
	assert_true(after.st_size == 4);
	free(buf);
	free(back);
}

/*
 * A ticket taken after an append is covered by the next commit that
 * starts, whoever runs it: spool_sync_for then runs none of its own (the
 * count of commits done stays); a ticket taken after that commit needs
 * one more. A ticket covered by a commit that succeeded stays covered
 * when a later commit fails; one covered only by a failed commit fails.
 */
static void test_sync_ticket(void **state)
{
	struct dir_fixture *f = *state;
	int fds[1];
	uint64_t t1, t2, done;

	fds[0] = spool_create_msg(&f->sp, 710);
	assert_true(fds[0] >= 0);
	put_rec(&f->sp, 710, "ticket", OB_QUEUED);
	t1 = spool_sync_ticket(&f->sp);
	assert_int_equal(spool_sync_fds(&f->sp, fds, 1), 0);
	done = f->sp.sync_done;
	assert_true(done >= t1);
	assert_int_equal(spool_sync_for(&f->sp, t1), 0);
	assert_true(f->sp.sync_done == done);       /* none of its own */
	put_rec(&f->sp, 710, "ticket", OB_SENT);
	t2 = spool_sync_ticket(&f->sp);
	assert_true(t2 > done);
	assert_int_equal(spool_sync_for(&f->sp, t2), 0);
	assert_true(f->sp.sync_done == done + 1);   /* one more */

	/* covered by a commit that succeeded: another thread's commit
	 * that fails afterwards takes nothing back */
	put_rec(&f->sp, 710, "ticket", OB_SENT);
	t1 = spool_sync_ticket(&f->sp);
	assert_int_equal(spool_sync(&f->sp), 0);
	f->sp.jlost = 1;
	put_rec(&f->sp, 710, "ticket", OB_SENT);
	assert_int_equal(spool_sync(&f->sp), -1);
	assert_int_equal(spool_sync_for(&f->sp, t1), 0);
	/* ... and one covered by a failed commit fails */
	t2 = spool_sync_ticket(&f->sp);
	assert_int_equal(spool_sync(&f->sp), -1);
	errno = 0;
	assert_int_equal(spool_sync_for(&f->sp, t2), -1);
	assert_int_equal(errno, EIO);
	f->sp.jlost = 0;
	close(fds[0]);
}

/*
 * After a failed commit of the journal (jlost) every sync fails, until
 * a rewrite writes a new journal; after a failed sync of a directory
 * (dlost), every sync fails, and a rewrite does not change that. (The
 * failures themselves are made by the fault shim in fault_sync_retry.)
 */
static void test_sync_after_loss(void **state)
{
	struct dir_fixture *f = *state;
	int fds[1];

	fds[0] = spool_create_msg(&f->sp, 700);
	assert_true(fds[0] >= 0);
	put_rec(&f->sp, 700, "lost", OB_QUEUED);
	assert_int_equal(spool_sync(&f->sp), 0);
	assert_false(spool_journal_lost(&f->sp));

	f->sp.jlost = 1;
	errno = 0;
	assert_int_equal(spool_sync(&f->sp), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(spool_sync_fds(&f->sp, fds, 1), -1);
	assert_true(spool_journal_lost(&f->sp));
	assert_int_equal(spool_rewrite(&f->sp, "", 0,
	    spool_journal_size(&f->sp)), 0);
	assert_false(spool_journal_lost(&f->sp));
	assert_int_equal(spool_sync(&f->sp), 0);
	assert_int_equal(spool_sync_fds(&f->sp, fds, 1), 0);

	errno = EIO;
	spool_dir_lost(&f->sp, "/msg");
	assert_int_equal(spool_sync(&f->sp), -1);
	assert_int_equal(spool_sync_fds(&f->sp, fds, 1), -1);
	assert_int_equal(spool_rewrite(&f->sp, "", 0,
	    spool_journal_size(&f->sp)), 0);
	errno = 0;
	assert_int_equal(spool_sync(&f->sp), -1);
	assert_int_equal(errno, EIO);
	close(fds[0]);
}

/* What owner_cb saw: "ID:uid/gid " or "ID:-" per record. */
static void owner_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct load_log *l = arg;
	size_t n = strlen(l->text);

	(void)bad;
	(void)has_msg;
	if (r && r->owned)
		snprintf(l->text + n, sizeof(l->text) - n, "%llu:%lu/%lu ",
		    (unsigned long long)id, (unsigned long)r->uid,
		    (unsigned long)r->gid);
	else if (r)
		snprintf(l->text + n, sizeof(l->text) - n, "%llu:- ",
		    (unsigned long long)id);
}

/* The owner of each message survives a remount (close, open, load),
 * also through a journal compaction; a record of the format before the
 * keys existed loads as not owned (the mounting user's). */
static void test_journal_owner_kept(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	struct spool_rec r = { 0 };
	uint64_t max = 0;
	char err[300];

	r.id = 1;
	r.name = "bobs";
	r.state = OB_QUEUED;
	r.owned = 1;
	r.uid = 1001;
	r.gid = 1002;
	assert_int_equal(spool_write_rec(&f->sp, &r), 0);
	r.id = 2;
	r.name = "roots";
	r.uid = 0;
	r.gid = 0;
	assert_int_equal(spool_write_rec(&f->sp, &r), 0);
	put_rec(&f->sp, 3, "old", OB_DEFERRED);        /* no uid/gid keys */
	r.id = 1;
	r.state = OB_SENT;                              /* later record */
	r.uid = 1001;
	r.gid = 1002;
	r.name = "bobs";
	assert_int_equal(spool_write_rec(&f->sp, &r), 0);
	assert_int_equal(spool_sync(&f->sp), 0);
	spool_close(&f->sp);
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	assert_int_equal(spool_load(&f->sp, owner_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "1:1001/1002 2:0/0 3:- ");

	/* A rewrite keeps them too. */
	assert_int_equal(spool_compact_begin(&f->sp), 0);
	r.id = 1;
	r.uid = 1001;
	r.gid = 1002;
	assert_int_equal(spool_compact_add(&f->sp, &r), 0);
	assert_int_equal(spool_compact_end(&f->sp), 0);
	spool_close(&f->sp);
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	l.text[0] = '\0';
	assert_int_equal(spool_load(&f->sp, owner_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "1:1001/1002 ");
}

/* One framed record of ID NAME in STATE, for raw writes. */
static size_t framed(char *out, size_t cap, uint64_t id, const char *name,
    const char *state)
{
	char body[256];
	struct buf b = BUF_INIT(BUF_NOCAP);
	size_t len;
	int n;

	n = snprintf(body, sizeof(body), "outboxfs-record 1\nid %llu\nname "
	    "%s\nstate %s\nend\n", (unsigned long long)id, name, state);
	assert_int_equal(spool_frame(&b, body, (size_t)n), 0);
	len = b.len;
	assert_true(len < cap);
	memcpy(out, b.p, len);
	buf_free(&b);
	return len;
}

static void test_journal_cut_short(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[200], fr[512];
	size_t n;

	put_rec(&f->sp, 4, "four", OB_QUEUED);
	/* a crash in the middle of the next append of 4 */
	n = framed(fr, sizeof(fr), 4, "four", "sent");
	assert_int_equal(spool_write_framed(&f->sp, fr, n - 7), 0);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "4:-four/queued ");
	assert_int_equal(f->sp.load_bad, 0);
	/* then more appends after the torn one: the torn record is not
	 * glued to the next, and costs nothing else */
	n = framed(fr, sizeof(fr), 5, "five", "queued");
	assert_int_equal(spool_write_framed(&f->sp, fr, n), 0);
	l.text[0] = '\0';
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "4:-four/queued 5:-five/queued ");
	assert_true(max == 5);
}

/* Values that hold the framing and record markers of either format stay
 * values: a reply, a name, an error. */
static void test_journal_hostile_values(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	struct spool_rec r = { 0 };
	uint64_t max = 0;
	char err[200];

	r.id = 1;
	r.name = "x outboxfs-record 1";
	r.state = OB_SENT;
	r.reply = "250 ok outboxfs-record 1\nend\n%obx 5 00000000\n";
	r.error = "\nend\noutboxfs-record 1\nid 2\nname y\nstate queued\nend\n";
	assert_int_equal(spool_write_rec(&f->sp, &r), 0);
	r.id = 3;
	r.name = ".draft outboxfs-record 1";
	r.state = OB_DRAFT;
	r.reply = NULL;
	r.error = "%obx 60 12345678\n";
	assert_int_equal(spool_write_rec(&f->sp, &r), 0);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "1:-x outboxfs-record 1/sent "
	    "3:-.draft outboxfs-record 1/draft ");
	assert_int_equal(f->sp.load_bad, 0);
}

/* The journal file's bytes up to its last one that is not zero (the
 * zeros after are written ahead for records to come) into BUF; with
 * CAP 0, only their count. */
static size_t read_journal(struct dir_fixture *f, char *buf, size_t cap)
{
	int fd = openat(f->sp.dirfd, "journal", O_RDONLY);
	struct stat st;
	char *all;
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	all = malloc((size_t)st.st_size + 1);
	assert_non_null(all);
	n = read(fd, all, (size_t)st.st_size);
	close(fd);
	assert_true(n == st.st_size);
	while (n > 0 && all[n - 1] == '\0')
		n--;
	assert_true(n > 0 && (cap == 0 || (size_t)n < cap));
	if (cap)
		memcpy(buf, all, (size_t)n);
	free(all);
	return (size_t)n;
}

static void write_journal(struct dir_fixture *f, const char *buf, size_t n)
{
	int fd = openat(f->sp.dirfd, "journal", O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

/* 20 records, ids 1..20, "m1".."m20", queued. Returns the journal. */
static size_t twenty(struct dir_fixture *f, char *buf, size_t cap,
    size_t *starts)
{
	char name[16];
	int i;

	for (i = 1; i <= 20; i++) {
		starts[i] = (size_t)spool_journal_size(&f->sp);
		snprintf(name, sizeof(name), "m%d", i);
		put_rec(&f->sp, (uint64_t)i, name, OB_QUEUED);
	}
	starts[21] = (size_t)spool_journal_size(&f->sp);
	return read_journal(f, buf, cap);
}

/* Every bit of record K flipped, one at a time: every other record is
 * read intact; K is never read with a changed value. */
static void test_journal_bit_flips(void **state)
{
	struct dir_fixture *f = *state;
	static char orig[8192], buf[8192];
	size_t starts[22], n, pos;
	uint64_t max;
	char err[200], want[1024], w[32];
	int k = 7, bit, i;

	n = twenty(f, orig, sizeof(orig), starts);
	for (pos = starts[k]; pos < starts[k + 1]; pos++) {
		for (bit = 0; bit < 8; bit += 3) {
			struct load_log l = { "" };
			char *kpos;

			memcpy(buf, orig, n);
			buf[pos] ^= (char)(1 << bit);
			write_journal(f, buf, n);
			assert_int_equal(spool_load(&f->sp, load_cb, &l, &max,
			    err, sizeof(err)), 0);
			want[0] = '\0';
			for (i = 1; i <= 20; i++) {
				if (i == k)
					continue;
				snprintf(w, sizeof(w), "%d:-m%d/queued ", i, i);
				if (strstr(l.text, w) == NULL)
					print_error("flip at %zu bit %d: %s\n",
					    pos - starts[k], bit, l.text);
				assert_non_null(strstr(l.text, w));
			}
			/* K: absent, or reported bad, never altered */
			kpos = strncmp(l.text, "7:-", 3) == 0 ? l.text :
			    strstr(l.text, " 7:-");
			if (kpos && *kpos == ' ')
				kpos++;
			if (kpos)
				assert_true(strncmp(kpos, "7:-m7/queued ", 13) ==
				    0 || strncmp(kpos, "7:-BAD", 6) == 0);
			(void)want;
		}
	}
}

/* Cut at every byte: every record whose frame is whole is read. */
static void test_journal_truncated(void **state)
{
	struct dir_fixture *f = *state;
	static char orig[8192];
	size_t starts[22], n, cut;
	uint64_t max;
	char err[200], w[32];
	int i;

	n = twenty(f, orig, sizeof(orig), starts);
	for (cut = 0; cut <= n; cut += 3) {
		struct load_log l = { "" };

		write_journal(f, orig, cut);
		assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
		    sizeof(err)), 0);
		for (i = 1; i <= 20; i++) {
			snprintf(w, sizeof(w), "%d:-m%d/queued ", i, i);
			if (starts[i + 1] <= cut)
				assert_non_null(strstr(l.text, w));
			else
				assert_null(strstr(l.text, w));
		}
		assert_int_equal(f->sp.load_bad, 0);
	}
}

/* Shared strings: one copy each, never freed, bounded; a record's
 * strings are released whatever kind they are. */
static void test_spool_intern(void **state)
{
	static const struct {
		const char *a, *b;
		int same;              /* one kept copy for both */
	} rows[] = {
		{ "default", "default", 1 },
		{ "alice@example.com", "alice@example.com", 1 },
		{ "", "", 1 },
		{ "connect to 127.0.0.1:9: refused", "connect to 127.0.0.1:9: refused", 1 },
		{ "Bob@example.com", "bob@example.com", 0 },
		{ "a", "a ", 0 },
	};
	struct spool_rec r = { 0 }, d;
	char big[300], name[32], *k, *again, *first = NULL;
	size_t i, plain = 0;

	(void)state;
	assert_null(spool_intern(NULL));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *x = spool_intern(rows[i].a), *y = spool_intern(rows[i].b);

		assert_non_null(x);
		assert_string_equal(x, rows[i].a);
		assert_string_equal(y, rows[i].b);
		assert_int_equal(x == y, rows[i].same);
		spool_str_free(x);     /* kept: not freed (ASan would say) */
		spool_str_free(y);
		assert_string_equal(spool_intern(rows[i].a), rows[i].a);
	}
	/* a long string is never kept: a plain copy, freed */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	k = spool_intern(big);
	first = spool_intern(big);
	assert_string_equal(k, big);
	assert_true(k != first);
	spool_str_free(k);
	spool_str_free(first);
	first = NULL;
	/* a record: its kept strings shared by a copy, the rest copied */
	r.name = strdup("m1");
	r.account = spool_intern("default");
	r.error = strdup("Connection refused");
	spool_rec_intern(&r);
	assert_true(r.error == spool_intern("Connection refused"));
	assert_int_equal(spool_rec_dup(&d, &r), 0);
	assert_true(d.account == r.account && d.error == r.error);
	assert_true(d.name != r.name);
	spool_rec_free(&d);
	spool_rec_free(&r);
	/* past SPOOL_INTERN_MAX bytes: plain copies, still correct */
	for (i = 0; i < SPOOL_INTERN_MAX / 4; i++) {
		snprintf(name, sizeof(name), "n%zu", i);
		k = spool_intern(name);
		assert_non_null(k);
		assert_string_equal(k, name);
		if (first == NULL)
			first = k;
		again = spool_intern(name);
		if (k != again) {
			plain++;
			spool_str_free(k);
			spool_str_free(again);
		}
	}
	assert_true(plain > 0);
	assert_string_equal(first, "n0");
}

/* Names in the spool's msg/ that start with PREFIX. */
static int count_names(struct dir_fixture *f, const char *prefix)
{
	char path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/msg", f->path);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* log/ID exists. */
static int has_log_file(struct dir_fixture *f, uint64_t id)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/log/%llu", f->path,
	    (unsigned long long)id);
	return access(path, F_OK) == 0;
}

/* At least N reserved files given out to nobody yet (made, synced and
 * published), waited for up to 5 s. */
static int wait_spares(struct dir_fixture *f, size_t n)
{
	size_t have = 0;
	int i;

	for (i = 0; i < 500; i++) {
		pthread_mutex_lock(&f->sp.spmu);
		have = f->sp.nspare;
		pthread_mutex_unlock(&f->sp.spmu);
		if (have >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Files present for ids FIRST..FIRST+N-1, waited for up to 5 s. */
static int wait_msg_files(struct dir_fixture *f, uint64_t first, int n)
{
	int i, k, all = 0;

	for (i = 0; i < 500 && !all; i++) {
		for (k = 0, all = 1; k < n && all; k++)
			all = has_msg_file(f, first + (uint64_t)k);
		if (!all)
			usleep(10000);
	}
	return all;
}

/* Reserved files: made ahead under the next ids, their names synced
 * before any is given out, given out in id order and refilled when half
 * are taken; without one a new message makes its own file, whose name
 * the next sync makes durable. Unused ones are removed at close, and a
 * crash's leftovers (empty, no record, no transcript) by the next load,
 * while a file with bytes and no record is still set aside. */
static void test_spool_spares(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max, id;
	char err[200];
	int fd, i, dirty;

	spool_set_next_id(&f->sp, 5);
	assert_int_equal(spool_spares_start(&f->sp), 0);
	assert_true(wait_spares(f, SPOOL_SPARES));
	assert_true(wait_msg_files(f, 5, SPOOL_SPARES));
	assert_false(has_msg_file(f, 5 + SPOOL_SPARES));
	/* each with its transcript file, made before the name is given */
	assert_true(has_log_file(f, 5));
	assert_true(has_log_file(f, 4 + SPOOL_SPARES));
	for (i = 0; i <= SPOOL_SPARES / 2; i++) {
		fd = spool_new_msg(&f->sp, &id, NULL);
		assert_true(fd >= 0);
		assert_int_equal(id, 5 + i);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	/* the next one with its transcript open for appending */
	{
		char path[160], got[32] = "";
		int lfd, rfd;

		fd = spool_new_msg(&f->sp, &id, &lfd);
		assert_true(fd >= 0);
		assert_int_equal(id, 5 + SPOOL_SPARES / 2 + 1);
		assert_int_equal(write(fd, "y", 1), 1);
		close(fd);
		assert_true(lfd >= 0);
		assert_int_equal(spool_append_log_fd(lfd, 0, "S: 250\n", 7),
		    0);
		snprintf(path, sizeof(path), "%s/log/%llu", f->path,
		    (unsigned long long)id);
		rfd = open(path, O_RDONLY);
		assert_true(rfd >= 0);
		assert_int_equal(read(rfd, got, sizeof(got)), 7);
		assert_string_equal(got, "S: 250\n");
		close(rfd);
	}
	/* taken files cost no sync of the directory */
	pthread_mutex_lock(&f->sp.spmu);
	dirty = f->sp.msgdir_dirty;
	pthread_mutex_unlock(&f->sp.spmu);
	assert_int_equal(dirty, 0);
	/* the refill: at least half a pool, the ids after the first */
	assert_true(wait_msg_files(f, 5, SPOOL_SPARES + SPOOL_SPARES / 2));
	/* a file made directly marks the directory, a sync clears it */
	fd = spool_create_msg(&f->sp, 100);
	assert_true(fd >= 0);
	pthread_mutex_lock(&f->sp.spmu);
	dirty = f->sp.msgdir_dirty;
	pthread_mutex_unlock(&f->sp.spmu);
	assert_int_equal(dirty, 1);
	assert_int_equal(spool_sync_fds(&f->sp, &fd, 1), 0);
	close(fd);
	pthread_mutex_lock(&f->sp.spmu);
	dirty = f->sp.msgdir_dirty;
	pthread_mutex_unlock(&f->sp.spmu);
	assert_int_equal(dirty, 0);
	assert_int_equal(spool_create_msg(&f->sp, 100), -1);   /* exclusive */
	assert_int_equal(errno, EEXIST);
	spool_close(&f->sp);
	/* unused ones removed: the taken ones and 100 stay */
	for (i = 0; i <= SPOOL_SPARES / 2 + 1; i++)
		assert_true(has_msg_file(f, 5 + (uint64_t)i));
	assert_false(has_msg_file(f, 5 + SPOOL_SPARES / 2 + 2));
	assert_false(has_log_file(f, 5 + SPOOL_SPARES / 2 + 2));
	assert_false(has_msg_file(f, 4 + 2 * SPOOL_SPARES));
	assert_true(has_log_file(f, 5));
	assert_true(has_msg_file(f, 100));
	/* a crash's leftovers: an unused reserved file, an old spare, a
	 * file with bytes and no record */
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	put_file(f->sp.msgfd, "200", "");
	put_file(f->sp.logfd, "200", "");
	/* empty, but with a transcript: a message's, set aside */
	put_file(f->sp.msgfd, "202", "");
	put_file(f->sp.logfd, "202", "S: 250\n");
	put_file(f->sp.msgfd, ".spare999", "");
	put_file(f->sp.msgfd, "201", "To: x\n");
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(count_names(f, ".spare"), 0);
	assert_false(has_msg_file(f, 200));
	assert_false(has_log_file(f, 200));
	assert_true(has_msg_file(f, 201));
	assert_non_null(strstr(l.text, "202:mBAD("));
	assert_non_null(strstr(l.text, "201:mBAD(message bytes"));
	assert_null(strstr(l.text, "200:"));
	assert_true(max >= 201);
	/* the empty files of ids 5.. had no record either: with no byte
	 * written they would have gone too; these hold one each */
	assert_non_null(strstr(l.text, "5:mBAD("));
}

/* What win_cb saw: valid records, and the big one's recipients. */
struct win_log {
	size_t valid;
	size_t big_rcpts;
	uint64_t big_id;
};

static void win_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct win_log *l = arg;

	(void)bad;
	(void)has_msg;
	if (r == NULL)
		return;
	l->valid++;
	if (id == l->big_id)
		l->big_rcpts = r->nrcpts;
}

/*
 * A journal of several read windows (mount reads it a window at a
 * time): a frame damaged across each window boundary costs that record
 * alone, a record larger than a window is read whole, a torn last frame
 * is dropped, and everything else is read.
 */
static void test_journal_windowed(void **state)
{
	struct dir_fixture *f = *state;
	enum { N = 9000, BIG_AT = 4000 };
	size_t *starts = calloc(N + 3, sizeof(*starts)), n, cap = 8u << 20;
	char *buf = malloc(cap), name[400], err[200];
	struct win_log l = { 0, 0, N + 1 };
	struct spool_rec r = { 0 };
	size_t damaged = 0, k, b, i;
	uint64_t max = 0, id = 0;

	assert_non_null(starts);
	assert_non_null(buf);
	memset(name, 'x', 300);
	for (i = 0; i <= N; i++) {
		starts[i] = (size_t)spool_journal_size(&f->sp);
		if (i == BIG_AT) {
			/* 1,000 recipients of 1,500 bytes: a 1.5 MB frame */
			static char addr[1600];

			memset(addr, 'a', 1500);
			strcpy(addr + 1500, "@example.com");
			r.id = N + 1;
			r.name = "big";
			r.state = OB_QUEUED;
			r.nrcpts = 1000;
			r.rcpts = calloc(1000, sizeof(*r.rcpts));
			assert_non_null(r.rcpts);
			for (k = 0; k < 1000; k++)
				r.rcpts[k].addr = addr;
			assert_int_equal(spool_write_rec(&f->sp, &r), 0);
			free(r.rcpts);
			continue;
		}
		id++;
		snprintf(name + 300, sizeof(name) - 300, "%zu", i);
		put_rec(&f->sp, id, name, OB_QUEUED);
	}
	starts[N + 1] = (size_t)spool_journal_size(&f->sp);
	n = read_journal(f, buf, cap);
	assert_true(n == starts[N + 1] && n > (3u << 20));
	/* a byte changed in the frame that spans each 1 MiB boundary */
	for (b = 1u << 20; b < n; b += 1u << 20) {
		for (i = 0; starts[i + 1] <= b; i++)
			;
		if (i == BIG_AT)
			continue;
		buf[b] ^= 0x20;
		damaged++;
	}
	assert_true(damaged >= 2);
	/* the last frame torn */
	write_journal(f, buf, n - 10);
	assert_int_equal(spool_load(&f->sp, win_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(l.big_rcpts, 1000);
	assert_int_equal(l.valid, (size_t)N + 1 - damaged - 1);
	assert_int_equal(f->sp.load_bad, damaged);
	free(buf);
	free(starts);
}

/* What reread_cb saw: records, and those that were not the last one
 * written for their id. */
struct reread_log {
	size_t n, wrong;
	const unsigned *last;        /* per id: the version written last */
};

static void reread_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct reread_log *l = arg;
	char want[48];

	(void)bad;
	(void)has_msg;
	if (r == NULL)
		return;
	l->n++;
	snprintf(want, sizeof(want), "-%llu-v%u", (unsigned long long)id,
	    l->last[id]);
	if (strlen(r->name) < strlen(want) ||
	    strcmp(r->name + strlen(r->name) - strlen(want), want) != 0)
		l->wrong++;
}

/*
 * Mount's second pass reads each id's last record in id order through a
 * window read ahead; here the last records lie in another order (ids
 * written in a shuffled order, some not written again): jumps forward
 * and back across the window, records running past its end. Every id
 * gets exactly the record written last for it.
 */
static void test_journal_reread_order(void **state)
{
	struct dir_fixture *f = *state;
	enum { N = 4000, ROUNDS = 3 };
	unsigned *last = calloc(N + 1, sizeof(*last));
	unsigned *perm = calloc(N, sizeof(*perm)), x = 12345, t, v;
	struct reread_log l = { 0, 0, last };
	char name[400], err[200];
	uint64_t max = 0;
	size_t i, j;

	assert_non_null(last);
	assert_non_null(perm);
	memset(name, 'x', 300);
	for (i = 0; i < N; i++)
		perm[i] = (unsigned)i + 1;
	for (v = 1; v <= ROUNDS; v++) {
		for (i = N - 1; i > 0; i--) {   /* a fixed shuffle */
			x = x * 1103515245u + 12345u;
			j = (x >> 8) % (i + 1);
			t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		for (i = 0; i < N; i++) {
			/* after round 1, a third of the ids stay behind */
			if (v > 1 && perm[i] % 3 == v % 3)
				continue;
			snprintf(name + 300, sizeof(name) - 300, "-%u-v%u",
			    perm[i], v);
			put_rec(&f->sp, perm[i], name, OB_DEFERRED);
			last[perm[i]] = v;
		}
	}
	assert_true(spool_journal_size(&f->sp) > (2u << 20));
	assert_int_equal(spool_load(&f->sp, reread_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(l.n, N);
	assert_int_equal(l.wrong, 0);
	assert_int_equal(max, N);
	free(perm);
	free(last);
}

/* Any bytes in every string field survive the journal (property test,
 * seeded: the seed is printed). */
static void test_journal_any_bytes(void **state)
{
	struct dir_fixture *f = *state;
	unsigned seed = (unsigned)time(NULL), round;
	char *fields[6];
	char err[200];
	int i, k;

	printf("# test_journal_any_bytes seed %u\n", seed);
	srand(seed);
	for (round = 0; round < 200; round++) {
		struct spool_rec r = { 0 };
		struct spool_rcpt rc = { 0 };
		char *text;
		size_t len;
		struct spool_rec back;

		for (k = 0; k < 6; k++) {
			int n = 1 + rand() % 200;

			fields[k] = malloc((size_t)n + 1);
			for (i = 0; i < n; i++) {
				char c = (char)(rand() % 255 + 1);

				fields[k][i] = c;
			}
			fields[k][n] = '\0';
		}
		r.id = (uint64_t)round + 1;
		r.name = fields[0];
		r.state = (enum ob_state)(rand() % OB_NSTATES);
		r.reply = fields[1];
		r.error = fields[2];
		r.server = fields[3];
		r.message_id = fields[4];
		rc.addr = fields[5];
		rc.text = fields[1];
		rc.code = 250;
		rc.state = SPOOL_RCPT_OK;
		r.rcpts = &rc;
		r.nrcpts = 1;
		assert_int_equal(spool_rec_format(&r, &text, &len), 0);
		assert_int_equal(spool_rec_parse(text, len, &back, err,
		    sizeof(err)), 0);
		assert_string_equal(back.name, r.name);
		assert_string_equal(back.reply, r.reply);
		assert_string_equal(back.error, r.error);
		assert_string_equal(back.server, r.server);
		assert_string_equal(back.message_id, r.message_id);
		assert_string_equal(back.rcpts[0].addr, rc.addr);
		assert_int_equal(spool_write_text(&f->sp, text, len), 0);
		spool_rec_free(&back);
		free(text);
		for (k = 0; k < 6; k++)
			free(fields[k]);
	}
	{
		struct load_log l = { "" };
		uint64_t max;

		assert_int_equal(spool_load(&f->sp, count_cb, &l, &max,
		    err, sizeof(err)), 0);
		assert_int_equal(atoi(l.text), 200);
		assert_int_equal(f->sp.load_bad, 0);
	}
}

/* A journal written by the first version (unframed) is read, with a
 * marker inside a value taken for a value, and a torn record dropped. */
static void test_journal_v1(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[200];
	static const char v1[] =
	    "outboxfs-record 1\nid 1\nname one\nstate queued\nend\n"
	    "outboxfs-record 1\nid 1\nname one\nstate sent\n"
	    "reply 250 ok outboxfs-record 1\nend\n"
	    "outboxfs-record 1\nid 2\nname x outboxfs-record 1\n"
	    "state deferred\nend\n"
	    "outboxfs-record 1\nid 3\nname three\nstate queued\nend\n"
	    "outboxfs-record 1\nid 3\nname three\nsta"
	    "outboxfs-record 1\nid 4\nname four\nstate draft\nend\n"
	    "outboxfs-record 1\nid 5\nname five\nstate que";

	write_journal(f, v1, sizeof(v1) - 1);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(f->sp.load_v1, 1);
	assert_string_equal(l.text, "1:-one/sent 2:-x outboxfs-record 1/"
	    "deferred 3:-three/queued 4:-four/draft ");
}

/* The running daemon's rewrite: the snapshot as of MARK, then what was
 * appended after MARK is kept. */
static void test_journal_rewrite_live(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0, mark;
	char err[200], fr[512];
	size_t n;

	put_rec(&f->sp, 11, "eleven", OB_QUEUED);
	put_rec(&f->sp, 12, "twelve", OB_DRAFT);
	mark = spool_journal_size(&f->sp);
	put_rec(&f->sp, 12, "twelve", OB_SENT);    /* after the mark */
	n = framed(fr, sizeof(fr), 12, "twelve", "queued");
	assert_int_equal(spool_rewrite(&f->sp, fr, n, mark), 0);
	put_rec(&f->sp, 13, "thirteen", OB_QUEUED); /* into the new one */
	assert_int_equal(spool_sync(&f->sp), 0);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "12:-twelve/sent 13:-thirteen/queued ");
	assert_int_equal(faccessat(f->sp.dirfd, "journal.new", F_OK, 0), -1);
}

/* One spool, one daemon: a second process cannot open it, and is told
 * the pid of the first. */
static void test_spool_locked(void **state)
{
	struct dir_fixture *f = *state;
	char err[400], want[64];
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct spool sp2;
		int rc = spool_open(&sp2, f->path, err, sizeof(err));

		if (rc == 0)
			_exit(3);
		(void)!write(pipefd[1], err, strlen(err));
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], err, sizeof(err) - 1);
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(n > 0);
	err[n] = '\0';
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, f->path));
}

/* A new spool is marked the top of its tree (chattr +T) where the file
 * system has the flag; a spool that already has msg/ is left alone, and
 * a directory a crash left between its mkdir and its rename goes. */
static void test_spool_top_dir(void **state)
{
	struct dir_fixture *f = *state;
	struct spool sp2;
	char old[80], sub[96], err[300];
	int fd, flags = 0, kept = 0;

	/* where the file system cannot keep the flag (tmpfs, which has
	 * FS_IOC_GETFLAGS but refuses T), there is nothing to check */
	snprintf(old, sizeof(old), "%.*s/probe", (int)strlen(f->path) - 4,
	    f->path);
	assert_int_equal(mkdir(old, 0700), 0);
	fd = open(old, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_TOPDIR_FL;
		kept = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
	}
	close(fd);
	if (!kept)
		skip();

	fd = open(f->path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	close(fd);
	assert_true(flags & FS_TOPDIR_FL);

	/* an old spool: msg/ there, log/ not yet, a leftover of a crash */
	snprintf(old, sizeof(old), "%.*s/old", (int)strlen(f->path) - 4,
	    f->path);
	assert_int_equal(mkdir(old, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/msg", old);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/log.new-1-2", old);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(spool_open(&sp2, old, err, sizeof(err)), 0);
	spool_close(&sp2);
	assert_int_equal(access(sub, F_OK), -1);
	snprintf(sub, sizeof(sub), "%s/log", old);
	assert_int_equal(access(sub, F_OK), 0);
	fd = open(old, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	close(fd);
	assert_false(flags & FS_TOPDIR_FL);
}

static void test_journal_bad_record_set_aside(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[200], buf[256];
	ssize_t n;
	int fd;

	put_rec(&f->sp, 6, "six", OB_QUEUED);
	append_raw(f, "outboxfs-record 1\nid 6\nname six\nstate queued\n"
	    "attempts -3\nend\n");
	put_rec(&f->sp, 7, "seven", OB_DRAFT);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "6:-BAD(line 5: bad value) "
	    "7:-seven/draft ");
	fd = openat(f->sp.corruptfd, "6.meta", O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "attempts -3\nend\n"));
}

static void test_journal_compact(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	struct spool_rec r = { 0 };
	uint64_t max = 0;
	char err[200];
	size_t n1, n2;
	int i;

	for (i = 0; i < 50; i++)
		put_rec(&f->sp, 8, "eight", OB_DEFERRED);
	n1 = read_journal(f, NULL, 0);
	r.id = 8;
	r.name = "eight";
	r.state = OB_SENT;
	assert_int_equal(spool_compact_begin(&f->sp), 0);
	assert_int_equal(spool_compact_add(&f->sp, &r), 0);
	assert_int_equal(spool_compact_end(&f->sp), 0);
	n2 = read_journal(f, NULL, 0);
	assert_true(n2 * 10 < n1);
	/* appends go on into the new journal */
	put_rec(&f->sp, 10, "ten", OB_QUEUED);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "8:-eight/sent 10:-ten/queued ");
	assert_int_equal(faccessat(f->sp.dirfd, "journal.new", F_OK, 0), -1);
}

/* The journal's file size; 1 when bytes FROM..its end are all zero. */
static off_t journal_file(struct dir_fixture *f, off_t from, int *zero)
{
	int fd = openat(f->sp.dirfd, "journal", O_RDONLY);
	struct stat st;
	char c;
	off_t o;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*zero = 1;
	for (o = from; o < st.st_size && *zero; o++) {
		assert_int_equal(pread(fd, &c, 1, o), 1);
		*zero = c == '\0';
	}
	close(fd);
	return st.st_size;
}

/*
 * Records go into zeros written ahead: the file's size does not change
 * from one append to the next (a commit has no size to make durable);
 * a journal opened again appends right after its last record, not
 * after the zeros, and every record is read back with none damaged.
 */
static void test_journal_ahead(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0, used;
	char err[200];
	off_t size, size2;
	int zero, i;

	put_rec(&f->sp, 1, "one", OB_QUEUED);
	used = spool_journal_size(&f->sp);
	size = journal_file(f, (off_t)used, &zero);
	assert_true(size >= (off_t)used + 64 * 1024);
	assert_true(zero);
	for (i = 2; i <= 20; i++)
		put_rec(&f->sp, (uint64_t)i, "more", OB_QUEUED);
	used = spool_journal_size(&f->sp);
	size2 = journal_file(f, (off_t)used, &zero);
	assert_true(size2 == size);
	assert_true(zero);
	assert_int_equal(read_journal(f, NULL, 0), used);

	spool_close(&f->sp);
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	assert_int_equal(spool_journal_size(&f->sp), used);
	put_rec(&f->sp, 21, "after", OB_SENT);
	assert_true(spool_journal_size(&f->sp) > used);
	assert_int_equal(read_journal(f, NULL, 0), spool_journal_size(&f->sp));
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(max, 21);
	assert_non_null(strstr(l.text, "1:-one/queued 2:-more/queued "));
	assert_non_null(strstr(l.text, " 20:-more/queued 21:-after/sent "));
	assert_int_equal(f->sp.load_bad, 0);
}

/* A journal of zeros alone (its header never reached the disk) is a
 * new journal: it gets its header, and records after it are read. */
static void test_journal_only_zeros(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	static const char z[4096];
	uint64_t max = 0;
	char err[200], jpath[128];
	int fd;

	spool_close(&f->sp);
	snprintf(jpath, sizeof(jpath), "%s/journal", f->path);
	fd = open(jpath, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, z, sizeof(z)), (ssize_t)sizeof(z));
	close(fd);
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	put_rec(&f->sp, 3, "three", OB_QUEUED);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "3:-three/queued ");
	assert_int_equal(f->sp.load_bad, 0);
	assert_int_equal(f->sp.load_v1, 0);
}

/*
 * The zeros cannot be written (the file may grow no more: a full disk,
 * here a file size limit): the record still goes in, at the journal's
 * end, and nothing of the failed zeros stays after it. A record that
 * cannot be written either fails and leaves the journal as it was.
 */
struct ids_seen {
	enum ob_state st[128];
	int n[128];
	int interrupted[128];
};

static void ids_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct ids_seen *v = arg;

	(void)bad;
	(void)has_msg;
	if (r && id < 128) {
		v->st[id] = r->state;
		v->n[id]++;
		v->interrupted[id] = r->interrupted;
	}
}

static void test_journal_ahead_refused(void **state)
{
	struct dir_fixture *f = *state;
	struct ids_seen v;
	uint64_t max = 0, used;
	char err[200], name[3000];
	struct rlimit lim;
	off_t size;
	int zero, ws;
	pid_t pid;

	put_rec(&f->sp, 1, "one", OB_QUEUED);
	size = journal_file(f, 0, &zero);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	/* in a child: the limit and SIGXFSZ stay there */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		if (getrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(5);
		lim.rlim_cur = (rlim_t)size + 8192;
		if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
			_exit(5);
		/* the zeros filled; the next record goes past them */
		while (spool_journal_size(&f->sp) + sizeof(name) <
		    (uint64_t)size)
			put_rec(&f->sp, 2, name, OB_QUEUED);
		put_rec(&f->sp, 3, name, OB_QUEUED);
		put_rec(&f->sp, 4, "past", OB_SENT);
		used = spool_journal_size(&f->sp);
		if (used <= (uint64_t)size)
			_exit(6);      /* did not go past the zeros */
		if (journal_file(f, 0, &zero) != (off_t)used)
			_exit(2);      /* zeros left after the records */
		/* up to the limit, then one that does not fit */
		while (spool_journal_size(&f->sp) + sizeof(name) <
		    (uint64_t)size + 8192)
			put_rec(&f->sp, 5, name, OB_QUEUED);
		used = spool_journal_size(&f->sp);
		{
			struct spool_rec r = { 0 };

			r.id = 6;
			r.name = name;
			r.state = OB_QUEUED;
			if (spool_write_rec(&f->sp, &r) == 0)
				_exit(3);
		}
		if (spool_journal_size(&f->sp) != used ||
		    journal_file(f, 0, &zero) != (off_t)used)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	spool_close(&f->sp);
	assert_int_equal(spool_open(&f->sp, f->path, err, sizeof(err)), 0);
	memset(&v, 0, sizeof(v));
	assert_int_equal(spool_load(&f->sp, ids_cb, &v, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(v.n[3], 1);
	assert_int_equal(v.st[4], OB_SENT);
	assert_int_equal(v.n[5], 1);
	assert_int_equal(v.n[6], 0);
	assert_int_equal(f->sp.load_bad, 0);
}

/*
 * A stop of the system with records written into the journal's zeros
 * after its last commit may keep any of their pages: a record whose
 * middle is zeros was never written whole, and never reported durable.
 * Its message keeps its last whole record, warned (queued or deferred:
 * an attempt may have been under way), and is not set aside; a record of
 * it written whole after the torn one wins as usual. Zeros where a frame
 * should start are skipped the same way. Damage without zeros is still
 * damage.
 */
static void test_journal_torn_in_zeros(void **state)
{
	struct dir_fixture *f = *state;
	struct ids_seen v;
	uint64_t max = 0;
	char err[200], j[8192], fr[512];
	size_t n = 0, k;

	memcpy(j, "outboxfs-journal 2\n", 19);
	n = 19;
	n += framed(j + n, sizeof(j) - n, 1, "one", "queued");
	n += framed(j + n, sizeof(j) - n, 4, "four", "deferred");
	n += framed(j + n, sizeof(j) - n, 5, "five", "queued");
	/* zeros where a frame starts */
	memset(j + n, 0, 100);
	n += 100;
	/* 1 and 4: a newer record, its middle zeros */
	k = framed(fr, sizeof(fr), 1, "one", "sent");
	memset(fr + k / 2, 0, 8);
	memcpy(j + n, fr, k);
	n += k;
	k = framed(fr, sizeof(fr), 4, "four", "sending");
	memset(fr + k - 12, 0, 4);
	memcpy(j + n, fr, k);
	n += k;
	n += framed(j + n, sizeof(j) - n, 2, "two", "queued");
	/* 5: torn, then written whole again */
	k = framed(fr, sizeof(fr), 5, "five", "deferred");
	memset(fr + k / 2, 0, 3);
	memcpy(j + n, fr, k);
	n += k;
	n += framed(j + n, sizeof(j) - n, 5, "five", "sent");
	/* 3: damaged without zeros: set aside as before */
	n += framed(j + n, sizeof(j) - n, 3, "three", "queued");
	k = framed(fr, sizeof(fr), 3, "three", "sent");
	fr[k - 6] ^= 0x20;
	memcpy(j + n, fr, k);
	n += k;
	n += framed(j + n, sizeof(j) - n, 6, "six", "queued");
	write_journal(f, j, n);
	memset(&v, 0, sizeof(v));
	assert_int_equal(spool_load(&f->sp, ids_cb, &v, &max, err,
	    sizeof(err)), 0);
	assert_int_equal(v.st[1], OB_QUEUED);
	assert_int_equal(v.interrupted[1], 1);
	assert_int_equal(v.st[4], OB_DEFERRED);
	assert_int_equal(v.interrupted[4], 1);
	assert_int_equal(v.st[2], OB_QUEUED);
	assert_int_equal(v.interrupted[2], 0);
	assert_int_equal(v.st[5], OB_SENT);
	assert_int_equal(v.interrupted[5], 0);
	assert_int_equal(v.n[3], 0);          /* set aside */
	assert_int_equal(v.st[6], OB_QUEUED);
	assert_int_equal(f->sp.load_torn, 4);
	assert_int_equal(f->sp.load_bad, 1);
}

static void test_dir_logs_and_set_aside(void **state)
{
	struct dir_fixture *f = *state;
	struct load_log l = { "" };
	uint64_t max = 0;
	char err[200], buf[32];
	int fd;

	put_rec(&f->sp, 5, "m", OB_QUEUED);
	fd = spool_create_msg(&f->sp, 5);
	close(fd);
	assert_int_equal(spool_append_log(&f->sp, 5, 0, "S: 220\n", 7), 0);
	assert_int_equal(spool_append_log(&f->sp, 5, 7, "C: EHLO\n", 8), 0);
	assert_int_equal(spool_log_size(&f->sp, 5), 15);
	assert_int_equal(spool_read_log(&f->sp, 5, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "S: 220\nC: EHLO\n", 15);
	assert_int_equal(spool_read_log(&f->sp, 77, buf, sizeof(buf)), 0);
	assert_int_equal(spool_set_aside(&f->sp, 5), 0);
	assert_int_equal(faccessat(f->sp.corruptfd, "5.msg", F_OK, 0), 0);
	assert_int_equal(faccessat(f->sp.corruptfd, "5.log", F_OK, 0), 0);
	/* a temp file left by a crash is removed at load */
	fd = openat(f->sp.msgfd, ".att12", O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(spool_load(&f->sp, load_cb, &l, &max, err,
	    sizeof(err)), 0);
	assert_string_equal(l.text, "");
	assert_true(max == 5);                /* from corrupt/ */
	assert_int_equal(faccessat(f->sp.msgfd, ".att12", F_OK, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_full),
		cmocka_unit_test(test_round_trip_minimal),
		cmocka_unit_test(test_every_prefix_rejected),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_check_round_trip),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_huge_line),
		cmocka_unit_test(test_format_escapes_exact),
		cmocka_unit_test(test_format_stays_parseable),
		cmocka_unit_test(test_huge_record),
		cmocka_unit_test(test_too_many_rcpts),
		cmocka_unit_test(test_unknown_key_ignored),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_spool_intern),
		cmocka_unit_test(test_owner_keys),
		cmocka_unit_test_setup_teardown(test_journal_owner_kept,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_last_record_wins,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_check_last_batch,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_sync_fds_batches,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_cut_short,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
		    test_journal_bad_record_set_aside, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_ahead,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_only_zeros,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_ahead_refused,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_torn_in_zeros,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_compact,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_rewrite_live,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_hostile_values,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_bit_flips,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_truncated,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_reread_order,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_windowed,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_spool_spares,
		    dir_setup, dir_teardown),
		cmocka_unit_test(test_lost_flag),
		cmocka_unit_test_setup_teardown(test_copy_msg,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_sync_ticket,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_sync_after_loss,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_any_bytes,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_journal_v1,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_spool_top_dir,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_spool_locked,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_logs_and_set_aside,
		    dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
