/*
 * spool records — one message's record in the journal as text: the
 * interned strings records share, formatting, and a parser that takes
 * nothing on trust (every journal byte may be damaged).
 *
 * Must never: accept a record without its id, name and state, or read
 * past the length it is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/spool.h"
#include "fs/spool_int.h"
#include "util/hindex.h"


static const char *const spool_states[OB_NSTATES] = {
	"draft", "queued", "sending", "deferred", "sent", "partial", "failed",
};

static const char *const spool_rcpt_states[] = {
	"pending", "ok", "temp", "perm",
};

const char *spool_state_name(enum ob_state s)
{
	return (unsigned)s < OB_NSTATES ? spool_states[s] : "unknown";
}

int spool_state_parse(const char *name)
{
	int i;

	for (i = 0; i < OB_NSTATES; i++)
		if (strcmp(name, spool_states[i]) == 0)
			return i;
	return -1;
}

/* The kept strings: blocks of text, and an open-addressing set over
 * them. */
#define SPOOL_INTERN_BLOCK (64u * 1024)

static struct {
	pthread_mutex_t mu;
	char *blocks[SPOOL_INTERN_MAX / SPOOL_INTERN_BLOCK];
	size_t nblocks, used;        /* blocks; bytes used in the last */
	char **strs;                 /* every kept string, by number - 1 */
	size_t nstrs, strcap;
	struct hindex idx;           /* their numbers by hash */
} spool_pool = { PTHREAD_MUTEX_INITIALIZER, { NULL }, 0, 0, NULL, 0, 0,
    HINDEX_INIT };

static uint64_t spool_strhash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int spool_str_eq(const void *ctx, uint32_t v)
{
	return strcmp(spool_pool.strs[v - 1], ctx) == 0;
}

/* 1 when P is one of the kept copies. */
static int spool_kept(const char *p)
{
	size_t i;
	int kept = 0;

	pthread_mutex_lock(&spool_pool.mu);
	for (i = 0; i < spool_pool.nblocks && !kept; i++)
		kept = p >= spool_pool.blocks[i] &&
		    p < spool_pool.blocks[i] + SPOOL_INTERN_BLOCK;
	pthread_mutex_unlock(&spool_pool.mu);
	return kept;
}

/* A copy of S (LEN bytes with its NUL) kept, numbered and indexed under
 * H; NULL when the pool is full or without memory. Pool locked. */
static char *spool_pool_add(const char *s, size_t len, uint64_t h)
{
	char *copy, **ns;

	if (spool_pool.nstrs == spool_pool.strcap) {
		size_t nc = spool_pool.strcap ? spool_pool.strcap * 2 : 256;

		ns = realloc(spool_pool.strs, nc * sizeof(*ns));
		if (ns == NULL)
			return NULL;
		spool_pool.strs = ns;
		spool_pool.strcap = nc;
	}
	if (spool_pool.nblocks == 0 ||
	    spool_pool.used + len > SPOOL_INTERN_BLOCK) {
		if (spool_pool.nblocks == SPOOL_INTERN_MAX / SPOOL_INTERN_BLOCK)
			return NULL;         /* full: plain copies from now */
		spool_pool.blocks[spool_pool.nblocks] =
		    malloc(SPOOL_INTERN_BLOCK);
		if (spool_pool.blocks[spool_pool.nblocks] == NULL)
			return NULL;
		spool_pool.nblocks++;
		spool_pool.used = 0;
	}
	if (hindex_add(&spool_pool.idx, h,
	    (uint32_t)spool_pool.nstrs + 1) < 0)
		return NULL;
	copy = spool_pool.blocks[spool_pool.nblocks - 1] + spool_pool.used;
	memcpy(copy, s, len);
	spool_pool.used += len;
	spool_pool.strs[spool_pool.nstrs++] = copy;
	return copy;
}

char *spool_intern(const char *s)
{
	uint64_t h;
	uint32_t v;
	size_t len;
	char *copy = NULL;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	h = spool_strhash(s);
	pthread_mutex_lock(&spool_pool.mu);
	v = hindex_find(&spool_pool.idx, h, spool_str_eq, s);
	if (v)
		copy = spool_pool.strs[v - 1];
	else if (len <= 256)         /* a long one: a plain copy */
		copy = spool_pool_add(s, len, h);
	pthread_mutex_unlock(&spool_pool.mu);
	return copy ? copy : strdup(s);
}

void spool_str_free(char *p)
{
	if (p && !spool_kept(p))
		free(p);
}

/* *P replaced by its kept copy (kept as it is without memory). */
static void spool_intern_field(char **p)
{
	char *k;

	if (*p == NULL || spool_kept(*p))
		return;
	k = spool_intern(*p);
	if (k == NULL)
		return;
	free(*p);
	*p = k;
}

void spool_rec_intern(struct spool_rec *r)
{
	size_t i;

	spool_intern_field(&r->account);
	spool_intern_field(&r->from);
	spool_intern_field(&r->server);
	spool_intern_field(&r->error);
	for (i = 0; i < r->nrcpts; i++) {
		spool_intern_field(&r->rcpts[i].addr);
		spool_intern_field(&r->rcpts[i].text);
	}
}

void spool_rec_free(struct spool_rec *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->name);
	free(r->dir);
	spool_str_free(r->account);
	free(r->message_id);
	spool_str_free(r->from);
	for (i = 0; i < r->nrcpts; i++) {
		spool_str_free(r->rcpts[i].addr);
		spool_str_free(r->rcpts[i].text);
	}
	free(r->rcpts);
	spool_str_free(r->server);
	spool_str_free(r->reply);
	spool_str_free(r->error);
	free(r->dsn);
	memset(r, 0, sizeof(*r));
}

/* A kept copy stays shared; anything else is copied. */
static int spool_dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = spool_kept(src) ? (char *)src : strdup(src);
	return *dst ? 0 : -1;
}

int spool_rec_dup(struct spool_rec *dst, const struct spool_rec *src)
{
	size_t i;
	int bad = 0;

	*dst = *src;
	dst->rcpts = NULL;
	dst->nrcpts = 0;
	bad |= spool_dup_str(&dst->name, src->name);
	bad |= spool_dup_str(&dst->dir, src->dir);
	bad |= spool_dup_str(&dst->account, src->account);
	bad |= spool_dup_str(&dst->message_id, src->message_id);
	bad |= spool_dup_str(&dst->from, src->from);
	bad |= spool_dup_str(&dst->server, src->server);
	bad |= spool_dup_str(&dst->reply, src->reply);
	bad |= spool_dup_str(&dst->error, src->error);
	bad |= spool_dup_str(&dst->dsn, src->dsn);
	if (!bad && src->nrcpts) {
		dst->rcpts = calloc(src->nrcpts, sizeof(*dst->rcpts));
		bad = dst->rcpts == NULL;
		for (i = 0; !bad && i < src->nrcpts; i++) {
			dst->rcpts[i] = src->rcpts[i];
			dst->nrcpts = i + 1;
			bad |= spool_dup_str(&dst->rcpts[i].addr,
			    src->rcpts[i].addr);
			bad |= spool_dup_str(&dst->rcpts[i].text,
			    src->rcpts[i].text);
		}
	}
	if (bad) {
		spool_rec_free(dst);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* A record is built in a buffer of cap SPOOL_MAX_RECORD - 1 (and its
 * NUL): appended to without looking, since a failure sticks (util/buf). */
static void spool_buf_add(struct buf *b, const char *s, size_t n)
{
	(void)buf_add(b, s, n);
}

static void spool_buf_str(struct buf *b, const char *s)
{
	(void)buf_adds(b, s);
}

/*
 * Appends S with control bytes, '%' (and with SPACE, ' ') as %XX, at most
 * MAX bytes of output, so every line written stays within SPOOL_MAX_LINE
 * and parses again (no value the daemon keeps comes near the cap: names
 * are at most 248 bytes, replies 512). Returns the bytes appended.
 */
static size_t spool_buf_enc(struct buf *b, const char *s, int space,
    size_t max)
{
	static const char xd[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s, *run;
	char hex[3];
	size_t used = 0, n;

	while (*p) {
		/* a run of bytes that go as they are, in one append */
		for (run = p; *p && !(*p < 0x20 || *p == 0x7f || *p == '%' ||
		    (space && *p == ' ')); p++)
			;
		n = (size_t)(p - run);
		if (n > max - used)
			n = max - used;
		spool_buf_add(b, (const char *)run, n);
		used += n;
		if (run + n != p || *p == '\0' || used + 3 > max)
			break;
		hex[0] = '%';
		hex[1] = xd[*p >> 4];
		hex[2] = xd[*p & 15];
		spool_buf_add(b, hex, 3);
		used += 3;
		p++;
	}
	return used;
}

static void spool_buf_kv(struct buf *b, const char *key, const char *v)
{
	if (v == NULL)
		return;
	spool_buf_str(b, key);
	spool_buf_add(b, " ", 1);
	spool_buf_enc(b, v, 0, SPOOL_MAX_LINE - strlen(key) - 1);
	spool_buf_add(b, "\n", 1);
}

static void spool_buf_num(struct buf *b, const char *key, int64_t v)
{
	char d[24], *e = d + sizeof(d), *q = e;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	/* the digits by hand: a record has a dozen numbers, and it is
	 * written for every change of every message */
	*--q = '\n';
	do
		*--q = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--q = '-';
	spool_buf_str(b, key);
	spool_buf_add(b, " ", 1);
	spool_buf_add(b, q, (size_t)(e - q));
}

int spool_rec_format(const struct spool_rec *r, char **out, size_t *len)
{
	return spool_rec_format_check(r, NULL, out, len);
}

int spool_rec_format_check(const struct spool_rec *r,
    const struct spool_check *ck, char **out, size_t *len)
{
	struct buf b = BUF_INIT(SPOOL_MAX_RECORD - 1);
	char num[64];
	size_t i, used;

	/* room for a usual record at once, not six doublings from 64 */
	if (buf_reserve(&b, 1024) != NULL)
		buf_commit(&b, 0);
	spool_buf_str(&b, "outboxfs-record 1\n");
	snprintf(num, sizeof(num), "id %" PRIu64 "\n", r->id);
	spool_buf_str(&b, num);
	spool_buf_kv(&b, "name", r->name);
	spool_buf_kv(&b, "dir", r->dir);
	spool_buf_kv(&b, "state", spool_state_name(r->state));
	spool_buf_kv(&b, "account", r->account);
	spool_buf_num(&b, "created", r->created);
	spool_buf_num(&b, "queued", r->queued);
	spool_buf_num(&b, "next", r->next);
	spool_buf_num(&b, "attempts", r->attempts);
	snprintf(num, sizeof(num), "size %" PRIu64 "\n", r->size);
	spool_buf_str(&b, num);
	spool_buf_kv(&b, "message-id", r->message_id);
	spool_buf_kv(&b, "from", r->from);
	spool_buf_num(&b, "dup", r->dup);
	spool_buf_num(&b, "interrupted", r->interrupted);
	if (r->state == OB_DRAFT)
		spool_buf_num(&b, "closed", r->closed);
	if (r->state == OB_DRAFT && r->lost)
		spool_buf_num(&b, "lost", r->lost);
	if (r->owned) {
		spool_buf_num(&b, "uid", (int64_t)r->uid);
		spool_buf_num(&b, "gid", (int64_t)r->gid);
	}
	if (r->envelope)
		spool_buf_num(&b, "envelope", r->envelope);
	spool_buf_kv(&b, "dsn", r->dsn);
	for (i = 0; i < r->nrcpts; i++) {
		const struct spool_rcpt *rc = &r->rcpts[i];
		int st = rc->state >= 0 && rc->state <= SPOOL_RCPT_PERM ?
		    rc->state : 0;

		snprintf(num, sizeof(num), "rcpt %s %d ",
		    spool_rcpt_states[st], rc->code);
		spool_buf_str(&b, num);
		used = strlen(num) + spool_buf_enc(&b, rc->addr ? rc->addr : "",
		    1, SPOOL_MAX_LINE / 2);
		if (rc->text) {
			spool_buf_add(&b, " ", 1);
			spool_buf_enc(&b, rc->text, 0, SPOOL_MAX_LINE - used - 1);
		}
		spool_buf_add(&b, "\n", 1);
	}
	spool_buf_kv(&b, "server", r->server);
	spool_buf_kv(&b, "reply", r->reply);
	spool_buf_kv(&b, "error", r->error);
	if (ck && ck->set) {
		snprintf(num, sizeof(num), "check %" PRIu64 " %" PRIu64
		    " %08" PRIx32 "\n", ck->stamp, ck->len, ck->crc);
		spool_buf_str(&b, num);
	}
	spool_buf_str(&b, "end\n");
	if ((*out = buf_take(&b, len)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int spool_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes %XX in [S, S+N) into a new string; NULL on a bad escape, a NUL
 * or no memory. */
static char *spool_dec(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o;
	size_t i;
	int hi, lo;

	if (out == NULL)
		return NULL;
	o = out;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = spool_hexval(s[i + 1]);
			lo = spool_hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int spool_num(const char *s, size_t n, int64_t min, int64_t max,
    int64_t *out)
{
	char tmp[32];
	char *end;
	long long v;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int spool_unum(const char *s, size_t n, uint64_t *out)
{
	char tmp[32];
	char *end;
	unsigned long long v;

	if (n == 0 || n >= sizeof(tmp) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtoull(tmp, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int spool_set_str(char **dst, const char *v, size_t n)
{
	char *s = spool_dec(v, n);

	if (s == NULL)
		return -1;
	spool_str_free(*dst);
	*dst = s;
	return 0;
}

/* A decoded string many records share, as its kept copy. */
static char *spool_dec_shared(const char *v, size_t n)
{
	char *s = spool_dec(v, n), *k;

	if (s == NULL)
		return NULL;
	k = spool_intern(s);
	free(s);
	return k;
}

static int spool_set_shared(char **dst, const char *v, size_t n)
{
	char *s = spool_dec_shared(v, n);

	if (s == NULL)
		return -1;
	spool_str_free(*dst);
	*dst = s;
	return 0;
}

static int spool_parse_rcpt(struct spool_rec *r, const char *v, size_t n)
{
	const char *sp1, *sp2, *sp3, *end = v + n;
	struct spool_rcpt rc = { 0 }, *nr;
	int64_t code;
	int st;

	if (r->nrcpts >= SPOOL_MAX_RCPTS)
		return -1;
	sp1 = memchr(v, ' ', n);
	if (sp1 == NULL)
		return -1;
	for (st = 0; st <= SPOOL_RCPT_PERM; st++)
		if ((size_t)(sp1 - v) == strlen(spool_rcpt_states[st]) &&
		    memcmp(v, spool_rcpt_states[st], (size_t)(sp1 - v)) == 0)
			break;
	if (st > SPOOL_RCPT_PERM)
		return -1;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL ||
	    spool_num(sp1 + 1, (size_t)(sp2 - sp1 - 1), 0, 999, &code) < 0)
		return -1;
	sp3 = memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1));
	if (sp3 == NULL)
		sp3 = end;
	if (sp3 == sp2 + 1)
		return -1;
	rc.state = st;
	rc.code = (int)code;
	rc.addr = spool_dec_shared(sp2 + 1, (size_t)(sp3 - sp2 - 1));
	if (rc.addr == NULL)
		return -1;
	if (sp3 < end) {
		rc.text = spool_dec_shared(sp3 + 1, (size_t)(end - sp3 - 1));
		if (rc.text == NULL) {
			spool_str_free(rc.addr);
			return -1;
		}
	}
	nr = realloc(r->rcpts, (r->nrcpts + 1) * sizeof(*nr));
	if (nr == NULL) {
		spool_str_free(rc.addr);
		spool_str_free(rc.text);
		return -1;
	}
	r->rcpts = nr;
	r->rcpts[r->nrcpts++] = rc;
	return 0;
}

/* A 0/1 value. */
static int spool_flag(const char *v, size_t n, uint8_t *out)
{
	int64_t x;

	if (spool_num(v, n, 0, 1, &x) < 0)
		return -1;
	*out = (uint8_t)x;
	return 0;
}

#define SPOOL_KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)

/* "STAMP LEN CRC" of a check line into *CK. */
static int spool_parse_check(const char *v, size_t n, struct spool_check *ck)
{
	const char *a = memchr(v, ' ', n), *b;
	uint64_t crc;

	if (a == NULL || (b = memchr(a + 1, ' ', n - (size_t)(a - v) - 1)) ==
	    NULL || v + n - (b + 1) != 8)
		return -1;
	if (spool_unum(v, (size_t)(a - v), &ck->stamp) < 0 ||
	    spool_unum(a + 1, (size_t)(b - a - 1), &ck->len) < 0)
		return -1;
	crc = 0;
	for (v = b + 1; v < b + 9; v++) {
		int h = spool_hexval(*v);

		if (h < 0)
			return -1;
		crc = crc << 4 | (uint64_t)h;
	}
	ck->crc = (uint32_t)crc;
	ck->set = 1;
	return 0;
}

static int spool_parse_line(struct spool_rec *r, struct spool_check *ck,
    const char *line, size_t len, unsigned *seen)
{
	const char *sp = memchr(line, ' ', len);
	const char *v;
	size_t klen, vlen;
	int64_t n;
	uint64_t u;
	int st;

	if (sp == NULL)
		return -1;
	klen = (size_t)(sp - line);
	v = sp + 1;
	vlen = len - klen - 1;
	if (SPOOL_KEY("outboxfs-record"))
		return vlen == 1 && v[0] == '1' ? 0 : -1;
	if (SPOOL_KEY("id")) {
		if (spool_unum(v, vlen, &u) < 0)
			return -1;
		r->id = u;
		*seen |= 1;
		return 0;
	}
	if (SPOOL_KEY("name")) {
		*seen |= 2;
		return vlen == 0 ? -1 : spool_set_str(&r->name, v, vlen);
	}
	if (SPOOL_KEY("state")) {
		char word[16];

		if (vlen == 0 || vlen >= sizeof(word))
			return -1;
		memcpy(word, v, vlen);
		word[vlen] = '\0';
		st = spool_state_parse(word);
		if (st < 0)
			return -1;
		r->state = (enum ob_state)st;
		*seen |= 4;
		return 0;
	}
	if (SPOOL_KEY("dir"))
		return spool_set_str(&r->dir, v, vlen);
	if (SPOOL_KEY("check")) {
		struct spool_check c;

		if (spool_parse_check(v, vlen, &c) < 0)
			return -1;
		if (ck)
			*ck = c;
		return 0;
	}
	if (SPOOL_KEY("account"))
		return spool_set_shared(&r->account, v, vlen);
	if (SPOOL_KEY("message-id"))
		return spool_set_str(&r->message_id, v, vlen);
	if (SPOOL_KEY("from"))
		return spool_set_shared(&r->from, v, vlen);
	if (SPOOL_KEY("server"))
		return spool_set_shared(&r->server, v, vlen);
	if (SPOOL_KEY("reply"))
		return spool_set_str(&r->reply, v, vlen);
	if (SPOOL_KEY("error"))
		return spool_set_shared(&r->error, v, vlen);
	if (SPOOL_KEY("rcpt"))
		return spool_parse_rcpt(r, v, vlen);
	if (SPOOL_KEY("size"))
		return spool_unum(v, vlen, &r->size);
	if (SPOOL_KEY("created"))
		return spool_num(v, vlen, 0, INT64_MAX / 2, &r->created);
	if (SPOOL_KEY("queued"))
		return spool_num(v, vlen, 0, INT64_MAX / 2, &r->queued);
	if (SPOOL_KEY("next"))
		return spool_num(v, vlen, 0, INT64_MAX / 2, &r->next);
	if (SPOOL_KEY("attempts")) {
		if (spool_num(v, vlen, 0, 1000000, &n) < 0)
			return -1;
		r->attempts = (unsigned)n;
		return 0;
	}
	if (SPOOL_KEY("dup"))
		return spool_flag(v, vlen, &r->dup);
	if (SPOOL_KEY("removed")) {
		*seen |= 8;
		return spool_flag(v, vlen, &r->removed);
	}
	if (SPOOL_KEY("closed"))
		return spool_flag(v, vlen, &r->closed);
	if (SPOOL_KEY("lost"))
		return spool_flag(v, vlen, &r->lost);
	if (SPOOL_KEY("envelope"))
		return spool_flag(v, vlen, &r->envelope);
	if (SPOOL_KEY("dsn"))
		return spool_set_str(&r->dsn, v, vlen);
	if (SPOOL_KEY("interrupted"))
		return spool_flag(v, vlen, &r->interrupted);
	if (SPOOL_KEY("uid") || SPOOL_KEY("gid")) {
		/* (uid_t)-1 is no one's: refused */
		if (spool_num(v, vlen, 0, (int64_t)UINT32_MAX - 1, &n) < 0)
			return -1;
		if (line[0] == 'u') {
			r->uid = (uid_t)n;
			r->owned = 1;
		} else {
			r->gid = (gid_t)n;
		}
		return 0;
	}
	return 0;   /* a key from a later version: ignored */
}

int spool_rec_parse(const char *buf, size_t len, struct spool_rec *r,
    char *err, size_t errlen)
{
	return spool_rec_parse_check(buf, len, r, NULL, err, errlen);
}

int spool_rec_parse_check(const char *buf, size_t len, struct spool_rec *r,
    struct spool_check *ck, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *nl;
	unsigned seen = 0, lineno = 0;
	int ended = 0;

	memset(r, 0, sizeof(*r));
	if (ck)
		memset(ck, 0, sizeof(*ck));
	if (len > SPOOL_MAX_RECORD) {
		snprintf(err, errlen, "record too large (%zu bytes)", len);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "record holds a NUL byte");
		return -1;
	}
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		lineno++;
		if (nl == NULL) {
			snprintf(err, errlen, "line %u: cut short", lineno);
			goto fail;
		}
		if ((size_t)(nl - p) > SPOOL_MAX_LINE) {
			snprintf(err, errlen, "line %u: too long", lineno);
			goto fail;
		}
		if (ended) {
			snprintf(err, errlen, "line %u: data after end",
			    lineno);
			goto fail;
		}
		if (nl - p == 3 && memcmp(p, "end", 3) == 0) {
			ended = 1;
		} else if (spool_parse_line(r, ck, p, (size_t)(nl - p),
		    &seen) < 0) {
			snprintf(err, errlen, "line %u: bad value", lineno);
			goto fail;
		}
		p = nl + 1;
	}
	if (!ended) {
		snprintf(err, errlen, "no end line: the record was cut short");
		goto fail;
	}
	if ((seen & 8) && r->removed && (seen & 1))
		return 0;     /* a tombstone */
	if ((seen & 7) != 7) {
		snprintf(err, errlen, "missing %s",
		    !(seen & 1) ? "id" : !(seen & 2) ? "name" : "state");
		goto fail;
	}
	return 0;
fail:
	spool_rec_free(r);
	return -1;
}

/* The id named in a record that failed to parse, if it can be read. */
int spool_guess_id(const char *p, size_t n, uint64_t *id)
{
	const char *q = p, *end = p + n, *nl;

	while (q < end) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL)
			nl = end;
		if (nl - q > 3 && memcmp(q, "id ", 3) == 0)
			return spool_unum(q + 3, (size_t)(nl - q - 3), id);
		q = nl + 1;
	}
	return -1;
}
