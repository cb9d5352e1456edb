/*
 * spool — durable storage: message bytes, a journal of records with end
 * markers, transcripts, and a group commit built on syncfs.
 *
 * Must never: trust a record without its end line, delete a record or a
 * message it cannot read (those go to corrupt/), or hold any lock but its
 * own journal and sync mutexes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "fs/log.h"
#include "fs/spool.h"
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

/* ---- framing ------------------------------------------------------------ */

/*
 * CRC-32C (Castagnoli, reflected 0x82F63B78), table-driven: a checksum
 * against torn and flipped bytes, not a defence against an attacker (who
 * could not place a frame anyway: values are escaped, so a line of a
 * record never starts with '%').
 */
static uint32_t spool_crc_table[256];
static pthread_once_t spool_crc_once = PTHREAD_ONCE_INIT;

static void spool_crc_init(void)
{
	uint32_t c;
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		spool_crc_table[i] = c;
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The CPU's CRC32 instruction computes the same CRC-32C, eight bytes at a
 * time (the journal is checked whole at every mount). */
__attribute__((target("sse4.2")))
static uint32_t spool_crc_hw(const unsigned char *p, size_t len, uint32_t c)
{
	uint64_t c64 = c, w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#define SPOOL_CRC_HW 1
#endif

static int spool_crc_have_hw;

static void spool_crc_setup(void)
{
	spool_crc_init();
#ifdef SPOOL_CRC_HW
	__builtin_cpu_init();
	spool_crc_have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t spool_crc_more(uint32_t c, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&spool_crc_once, spool_crc_setup);
#ifdef SPOOL_CRC_HW
	if (spool_crc_have_hw)
		return spool_crc_hw(p, len, c);
#endif
	while (len--)
		c = spool_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
	return c;
}

uint32_t spool_crc32c(const void *buf, size_t len)
{
	return spool_crc_more(0xFFFFFFFFu, buf, len) ^ 0xFFFFFFFFu;
}

void spool_check_buf(struct spool_check *ck, const void *p, size_t len)
{
	ck->len = len;
	ck->crc = spool_crc32c(p, len);
	ck->set = 1;
}

#define SPOOL_CHECK_CHUNK (64 * 1024)
#define SPOOL_CHECK_SMALL 8192

int spool_check_fd(struct spool_check *ck, int fd)
{
	char small[SPOOL_CHECK_SMALL], *buf = NULL, *p = small;
	uint32_t c = 0xFFFFFFFFu;
	uint64_t off = 0;
	size_t cap = sizeof(small);
	ssize_t n;
	int saved;

	for (;;) {
		n = pread(fd, p, cap, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		c = spool_crc_more(c, p, (size_t)n);
		off += (uint64_t)n;
		if (buf == NULL) {
			/* a message of a few KiB: one read, no allocation
			 * (a short read of a regular file is its end) */
			if ((size_t)n < cap)
				break;
			if ((buf = malloc(SPOOL_CHECK_CHUNK)) == NULL)
				goto fail;
			p = buf;
			cap = SPOOL_CHECK_CHUNK;
		}
	}
	free(buf);
	ck->len = off;
	ck->crc = c ^ 0xFFFFFFFFu;
	ck->set = 1;
	return 0;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}

void spool_sync_helpers_ok(struct spool *sp)
{
	sp->sw_ok = 1;
}

uint64_t spool_check_stamp(struct spool *sp)
{
	return sp->stamp;
}

/* The id named in a record that failed to parse, if it can be read. */
static int spool_guess_id(const char *p, size_t n, uint64_t *id)
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

int spool_frame(struct buf *out, const char *text, size_t tlen)
{
	char head[SPOOL_FRAME_HEAD];
	int n;

	uint64_t id = 0;

	/* the id twice (head and record): a damaged frame is set down to
	 * an id only where both still agree */
	if (spool_guess_id(text, tlen, &id) < 0)
		id = 0;
	n = snprintf(head, sizeof(head), "%%obx %zu %08" PRIx32 " %" PRIu64
	    "\n", tlen, spool_crc32c(text, tlen), id);
	if (n < 0 || (size_t)n >= sizeof(head) || tlen > SPOOL_MAX_RECORD) {
		errno = EINVAL;
		return -1;
	}
	/* the room first: a frame goes in whole or not at all */
	if (buf_reserve(out, (size_t)n + tlen) == NULL)
		return -1;
	(void)buf_add(out, head, (size_t)n);
	(void)buf_add(out, text, tlen);
	return 0;
}

/*
 * A new spool is marked the top of a directory tree (FS_TOPDIR_FL, what
 * chattr +T sets), and its directories are made under a name of their
 * own, then renamed: ext2/3/4 then place each in a block group picked
 * from that name (Orlov), not in the parent's nor in the one every
 * spool's msg/ would hash to. Without a journal, ext4 passes over every
 * inode of the group freed in the last minutes at each file it makes:
 * where many files were just removed (a cleaned /tmp, or the spool of
 * the last run), a new message file cost 250 us instead of 11. Only a
 * hint: a file system without the flag is left as it is, and a spool
 * that has its directories keeps them.
 */
static void spool_mark_top(struct spool *sp)
{
	int flags;

	if (faccessat(sp->dirfd, "msg", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return;
	if (ioctl(sp->dirfd, FS_IOC_GETFLAGS, &flags) < 0 ||
	    (flags & FS_TOPDIR_FL))
		return;
	flags |= FS_TOPDIR_FL;
	(void)ioctl(sp->dirfd, FS_IOC_SETFLAGS, &flags);
}

/* The made-and-renamed names (see spool_mark_top): "NAME.new-PID-NS". */
#define SPOOL_NEWDIR ".new-"

static int spool_subdir(struct spool *sp, const char *name)
{
	struct timespec ts;
	char tmp[64];

	if (faccessat(sp->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -1;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(tmp, sizeof(tmp), "%s" SPOOL_NEWDIR "%ld-%ld", name,
		    (long)getpid(), (long)ts.tv_nsec);
		/* (a file system that cannot do it gets the plain mkdir) */
		if (mkdirat(sp->dirfd, tmp, 0700) < 0 ||
		    renameat(sp->dirfd, tmp, sp->dirfd, name) < 0) {
			(void)unlinkat(sp->dirfd, tmp, AT_REMOVEDIR);
			if (mkdirat(sp->dirfd, name, 0700) < 0 &&
			    errno != EEXIST)
				return -1;
		}
	}
	return openat(sp->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A directory a crash left between its mkdir and its rename, if empty. */
static void spool_subdir_leftovers(struct spool *sp)
{
	DIR *d;
	struct dirent *e;
	int fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strstr(e->d_name, SPOOL_NEWDIR))
			(void)unlinkat(sp->dirfd, e->d_name, AT_REMOVEDIR);
	closedir(d);
}

static int spool_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

/* All N bytes of P written to FD: at OFF, or at its offset when OFF is
 * -1. */
static int spool_write_at(int fd, const char *p, size_t n, int64_t off)
{
	ssize_t w;

	while (n > 0) {
		w = off < 0 ? write(fd, p, n) : pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int spool_write_all(int fd, const char *p, size_t n)
{
	return spool_write_at(fd, p, n, -1);
}

/*
 * The spool belongs to one daemon: a write lock on SPOOL/lock, held for
 * the life of the process (fcntl locks go with the process, so a kill -9
 * leaves no stale lock). The error names the holder's pid as the kernel
 * reports it; nothing is written (a refused mount changes nothing).
 */
static int spool_lock(struct spool *sp, char *err, size_t errlen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int tries;

	sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (sp->lockfd < 0)
		return -1;
	/* A daemon just unmounted may still be closing its spool: wait
	 * for it a moment before saying the spool is in use. */
	for (tries = 0;; tries++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		fl.l_type = F_WRLCK;
		if (fcntl(sp->lockfd, F_SETLK, &fl) == 0)
			break;
		if (errno != EACCES && errno != EAGAIN)
			return -1;
		if (tries < 50) {
			nanosleep(&ts, NULL);
			continue;
		}
		fl.l_type = F_WRLCK;
		fl.l_pid = 0;
		if (fcntl(sp->lockfd, F_GETLK, &fl) < 0 ||
		    fl.l_type == F_UNLCK)
			fl.l_pid = 0;
		snprintf(err, errlen, "spool %s is in use by another outboxfs "
		    "(pid %ld): one spool belongs to one daemon; unmount that "
		    "one first or set `spool` to another directory", sp->path,
		    (long)fl.l_pid);
		errno = EBUSY;
		return -2;
	}
	return 0;
}

/* jbytes is set under jmu, atomically: spool_journal_size reads it
 * without the lock. */
static void spool_jbytes_set(struct spool *sp, uint64_t n)
{
	__atomic_store_n(&sp->jbytes, n, __ATOMIC_RELAXED);
}

static const char spool_jhead[] = "outboxfs-journal 2\n";

/*
 * The journal is written ahead in zeros: records overwrite blocks the
 * file already has, so the fdatasync of a commit finds no size or block
 * change to make durable (ext4 with its own journal: no journal commit
 * of the file system, 0.37 ms for 1.1 ms on a virtual disk). A record
 * never holds a zero byte, so the journal's end is where its zeros
 * start.
 */
#define SPOOL_JAHEAD (256 * 1024)

/* The offset after the journal FD's last byte that is not zero (FD's
 * size SIZE): where the next record goes. -1 on a read error. */
static int64_t spool_journal_end(int fd, uint64_t size)
{
	char buf[8192];
	uint64_t at = size;
	size_t want, i;
	ssize_t n;

	while (at > 0) {
		want = at < sizeof(buf) ? (size_t)at : sizeof(buf);
		n = pread(fd, buf, want, (off_t)(at - want));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if ((size_t)n != want) {
			errno = EIO;       /* shorter than fstat said */
			return -1;
		}
		for (i = want; i > 0; i--)
			if (buf[i - 1] != '\0')
				return (int64_t)(at - want + i);
		at -= want;
	}
	return 0;
}

/* Takes FD (open for reading and writing) as the journal: its end
 * found, a header written when it has none. jmu held, or not yet
 * shared. -1 leaves SP as it was. */
static int spool_journal_adopt(struct spool *sp, int fd)
{
	struct stat st;
	int64_t end;
	uint64_t alloc;
	int e;

	if (fstat(fd, &st) < 0 ||
	    (end = spool_journal_end(fd, (uint64_t)st.st_size)) < 0)
		return -1;
	alloc = (uint64_t)st.st_size;
	if (end == 0) {
		/* new, or nothing of it reached the disk: a header */
		end = (int64_t)sizeof(spool_jhead) - 1;
		if (spool_write_at(fd, spool_jhead, (size_t)end, 0) < 0) {
			e = errno;
			(void)!ftruncate(fd, 0);
			errno = e;
			return -1;
		}
		if (alloc < (uint64_t)end)
			alloc = (uint64_t)end;
	}
	sp->jfd = fd;
	sp->jalloc = alloc;
	spool_jbytes_set(sp, (uint64_t)end);
	return 0;
}

/* Opens the journal (spool_journal_adopt). */
static int spool_open_journal(struct spool *sp)
{
	int fd = openat(sp->dirfd, "journal", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);

	if (fd < 0)
		return -1;
	if (spool_journal_adopt(sp, fd) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Appends LEN bytes at the journal's end (jmu held): into its zeros,
 * which are first extended by jahead bytes when the record does not fit
 * (none when jahead is 0: OUTBOXFS_JOURNAL_AHEAD, for tests).
 * Zeros that cannot be written (a full disk) are taken back, and the
 * record extends the file itself (and so do the records after it, for a
 * quarter of jahead). A record written in part is taken back, with the
 * zeros after it, so the next append starts a whole frame; if that
 * fails too, the reader skips the torn bytes by their checksum.
 */
static int spool_jappend(struct spool *sp, const char *buf, size_t len)
{
	static const char zeros[65536];
	uint64_t end = sp->jbytes + len, want, at;
	size_t n;
	int saved;

	if (end > sp->jalloc && sp->jahead > 0 && end >= sp->jretry) {
		want = (end + sp->jahead + 4095) & ~(uint64_t)4095;
		for (at = sp->jalloc; at < want; at += n) {
			n = want - at < sizeof(zeros) ?
			    (size_t)(want - at) : sizeof(zeros);
			if (spool_write_at(sp->jfd, zeros, n, (int64_t)at) < 0)
				break;
		}
		if (at >= want) {
			sp->jalloc = want;
		} else {
			/* tried again after a quarter of it in records */
			(void)!ftruncate(sp->jfd, (off_t)sp->jalloc);
			sp->jretry = end + sp->jahead / 4;
		}
	}
	if (spool_write_at(sp->jfd, buf, len, (int64_t)sp->jbytes) < 0) {
		saved = errno;
		if (ftruncate(sp->jfd, (off_t)sp->jbytes) == 0)
			sp->jalloc = sp->jbytes;
		errno = saved;
		return -1;
	}
	spool_jbytes_set(sp, end);
	if (end > sp->jalloc)
		sp->jalloc = end;
	return 0;
}

int spool_open(struct spool *sp, const char *path, char *err, size_t errlen)
{
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->msgfd = sp->logfd = sp->corruptfd = sp->jfd = -1;
	sp->lockfd = sp->jfd_old = -1;
	pthread_mutex_init(&sp->jmu, NULL);
	pthread_mutex_init(&sp->sync_mu, NULL);
	pthread_cond_init(&sp->sync_cv, NULL);
	pthread_mutex_init(&sp->spmu, NULL);
	pthread_cond_init(&sp->spcv, NULL);
	sem_init(&sp->sw_go, 0, 0);
	sem_init(&sp->sw_done, 0, 0);
	sp->next_id = 1;
	sp->stamp = 1;
	sp->jahead = SPOOL_JAHEAD;
	if (getenv("OUTBOXFS_JOURNAL_AHEAD"))
		sp->jahead = strtoull(getenv("OUTBOXFS_JOURNAL_AHEAD"), NULL,
		    10);
	sp->path = strdup(path);
	if (sp->path == NULL)
		goto fail;
	if (spool_mkdir_p(path) < 0)
		goto fail;
	sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
		goto fail;
	rc = spool_lock(sp, err, errlen);
	if (rc == -2) {
		spool_close(sp);
		return -1;
	}
	if (rc < 0)
		goto fail;
	spool_mark_top(sp);
	spool_subdir_leftovers(sp);
	if ((sp->msgfd = spool_subdir(sp, "msg")) < 0 ||
	    (sp->logfd = spool_subdir(sp, "log")) < 0 ||
	    (sp->corruptfd = spool_subdir(sp, "corrupt")) < 0)
		goto fail;
	if (spool_open_journal(sp) < 0) {
		snprintf(err, errlen, "spool %s/journal: cannot open or read "
		    "it: %s; nothing was changed (check the disk and that "
		    "`spool` is writable, then mount again)", path,
		    strerror(errno));
		spool_close(sp);
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen, "spool %s: %s; set `spool` to a writable "
	    "directory", path, strerror(errno));
	spool_close(sp);
	return -1;
}

static void spool_idname(uint64_t id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" PRIu64, id);
}

void spool_msgdir_changed(struct spool *sp)
{
	pthread_mutex_lock(&sp->spmu);
	sp->msgdir_dirty = 1;
	pthread_mutex_unlock(&sp->spmu);
}

void spool_set_next_id(struct spool *sp, uint64_t id)
{
	pthread_mutex_lock(&sp->spmu);
	sp->next_id = id;
	pthread_mutex_unlock(&sp->spmu);
}

/* A reserved file no message took: closed (FD, and LFD unless -1) and
 * removed with its transcript. */
static void spool_spare_drop(struct spool *sp, uint64_t id, int fd, int lfd)
{
	close(fd);
	if (lfd >= 0)
		close(lfd);
	(void)spool_drop_files(sp, id);
}

/*
 * Keeps SPOOL_SPARES message files reserved: when half are taken, the
 * next ids are reserved, their files made, and the directory synced once
 * for all of them before any is given out. A file that cannot be made
 * (a full disk or descriptor table) leaves its id unused; new messages
 * then create their own files, and the thread looks again in a second.
 */
static void *spool_spare_thread(void *arg)
{
	struct spool *sp = arg;
	struct timespec ts;
	int fd[SPOOL_SPARES], lfd[SPOOL_SPARES];
	uint64_t first;
	size_t want, made, i;
	char name[32];

	(void)pthread_setname_np(pthread_self(), "outboxfs-spare");
	pthread_mutex_lock(&sp->spmu);
	while (!sp->spare_stop) {
		if (sp->nspare > SPOOL_SPARES / 2) {
			pthread_cond_wait(&sp->spcv, &sp->spmu);
			continue;
		}
		want = SPOOL_SPARES - sp->nspare;
		first = sp->next_id;
		sp->next_id += want;
		pthread_mutex_unlock(&sp->spmu);
		for (made = 0; made < want; made++) {
			spool_idname(first + made, name, sizeof(name));
			fd[made] = openat(sp->msgfd, name, O_RDWR | O_CREAT |
			    O_EXCL | O_CLOEXEC, 0600);
			if (fd[made] < 0)
				break;
			/* its transcript file too, empty: the first outcome
			 * then appends without making a file (one that cannot
			 * be made now is made then) */
			lfd[made] = openat(sp->logfd, name, O_WRONLY |
			    O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		}
		if (made > 0 && spool_sync_dir(sp, sp->msgfd, "/msg") < 0) {
			for (i = 0; i < made; i++)
				spool_spare_drop(sp, first + i, fd[i], lfd[i]);
			made = 0;
		}
		pthread_mutex_lock(&sp->spmu);
		for (i = 0; i < made; i++) {
			size_t at = (sp->spare_head + sp->nspare) %
			    SPOOL_SPARES;

			sp->spare_fd[at] = fd[i];
			sp->spare_lfd[at] = lfd[i];
			sp->spare_id[at] = first + i;
			sp->nspare++;
		}
		if (made == want)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sp->spcv, &sp->spmu, &ts);
	}
	pthread_mutex_unlock(&sp->spmu);
	return NULL;
}

int spool_spares_start(struct spool *sp)
{
	int rc;

	sp->spare_stop = 0;
	rc = pthread_create(&sp->spare_th, NULL, spool_spare_thread, sp);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	sp->spare_running = 1;
	return 0;
}

static void spool_sync_helpers_stop(struct spool *sp);

/* Stops the reserving thread and removes the files it made that no
 * message took. */
static void spool_spares_stop(struct spool *sp)
{
	if (sp->spare_running) {
		pthread_mutex_lock(&sp->spmu);
		sp->spare_stop = 1;
		pthread_cond_broadcast(&sp->spcv);
		pthread_mutex_unlock(&sp->spmu);
		pthread_join(sp->spare_th, NULL);
		sp->spare_running = 0;
	}
	while (sp->nspare > 0) {
		spool_spare_drop(sp, sp->spare_id[sp->spare_head],
		    sp->spare_fd[sp->spare_head],
		    sp->spare_lfd[sp->spare_head]);
		sp->spare_head = (sp->spare_head + 1) % SPOOL_SPARES;
		sp->nspare--;
	}
}

void spool_close(struct spool *sp)
{
	int *fds[] = { &sp->dirfd, &sp->msgfd, &sp->logfd, &sp->corruptfd,
	    &sp->jfd, &sp->lockfd, &sp->jfd_old };
	size_t i;

	if (sp->msgfd >= 0)
		spool_spares_stop(sp);
	spool_sync_helpers_stop(sp);

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	free(sp->path);
	sp->path = NULL;
	pthread_mutex_destroy(&sp->jmu);
	pthread_mutex_destroy(&sp->sync_mu);
	pthread_cond_destroy(&sp->sync_cv);
	pthread_mutex_destroy(&sp->spmu);
	pthread_cond_destroy(&sp->spcv);
	sem_destroy(&sp->sw_go);
	sem_destroy(&sp->sw_done);
}

int spool_sync_dir(struct spool *sp, int fd, const char *sub)
{
	if (fsync(fd) == 0)
		return 0;
	spool_dir_lost(sp, sub);
	return -1;
}

void spool_dir_lost(struct spool *sp, const char *sub)
{
	int saved = errno, first;

	pthread_mutex_lock(&sp->jmu);
	first = !sp->dlost;
	sp->dlost = 1;
	pthread_mutex_unlock(&sp->jmu);
	if (first)
		log_warnx("spool %s%s: the directory could not be synced "
		    "(%s): nothing more is reported durable; check the disk "
		    "and mount again", sp->path, sub, strerror(saved));
	errno = saved;
}

/*
 * One commit of the journal's own bytes: fdatasync of the journal (a dup
 * of its fd, so a rewrite may swap the journal meanwhile), and of the
 * spool directory when a rename in it is not yet durable.
 */
static int spool_commit(struct spool *sp)
{
	int fd, rc, dir, lost, saved = 0;

	/* No new descriptor (the table may be full): the journal's own,
	 * kept open by a rewrite that swaps it meanwhile (jfd_old). */
	pthread_mutex_lock(&sp->jmu);
	if (sp->jlost || sp->dlost) {
		pthread_mutex_unlock(&sp->jmu);
		errno = EIO;
		return -1;
	}
	fd = sp->jfd;
	sp->jsyncing = 1;
	dir = sp->dir_dirty;
	sp->dir_dirty = 0;
	pthread_mutex_unlock(&sp->jmu);
	rc = fdatasync(fd);
	if (rc < 0) {
		saved = errno;
		dir = 0;
	} else if (dir && spool_sync_dir(sp, sp->dirfd, "") < 0) {
		saved = errno;
		rc = -1;
	}
	pthread_mutex_lock(&sp->jmu);
	/* after a failed sync, the journal's own retry would report what
	 * it can no longer prove: only a new journal can (see jlost) */
	lost = rc < 0 && !dir && !sp->jlost;
	if (lost)
		sp->jlost = 1;
	sp->jsyncing = 0;
	if (sp->jfd_old >= 0) {
		close(sp->jfd_old);
		sp->jfd_old = -1;
	}
	pthread_mutex_unlock(&sp->jmu);
	errno = saved;
	if (lost && sp->lost_cb)
		sp->lost_cb(sp->lost_arg);
	errno = saved;
	return rc;
}

int spool_journal_lost(struct spool *sp)
{
	int lost;

	pthread_mutex_lock(&sp->jmu);
	lost = sp->jlost;
	pthread_mutex_unlock(&sp->jmu);
	return lost;
}

uint64_t spool_sync_ticket(struct spool *sp)
{
	uint64_t target;

	pthread_mutex_lock(&sp->sync_mu);
	/* A commit already running may have started before our writes:
	 * only one that starts after this point covers them. */
	target = sp->sync_started + 1;
	pthread_mutex_unlock(&sp->sync_mu);
	return target;
}

int spool_sync(struct spool *sp)
{
	return spool_sync_for(sp, spool_sync_ticket(sp));
}

int spool_sync_for(struct spool *sp, uint64_t target)
{
	uint64_t gen;
	int rc = 0;

	pthread_mutex_lock(&sp->sync_mu);
	while (sp->sync_done < target) {
		if (!sp->sync_running) {
			sp->sync_running = 1;
			gen = ++sp->sync_started;
			pthread_mutex_unlock(&sp->sync_mu);
			rc = spool_commit(sp);
			pthread_mutex_lock(&sp->sync_mu);
			sp->sync_err = rc < 0 ? (errno ? errno : EIO) : 0;
			if (rc == 0)
				sp->sync_ok = gen;
			sp->sync_done = gen;
			sp->sync_running = 0;
			pthread_cond_broadcast(&sp->sync_cv);
		} else {
			pthread_cond_wait(&sp->sync_cv, &sp->sync_mu);
		}
	}
	/* covered when a commit that started after the ticket succeeded:
	 * one that failed since (another thread's) takes nothing back */
	rc = 0;
	if (sp->sync_ok < target) {
		errno = sp->sync_err ? sp->sync_err : EIO;
		rc = -1;
	}
	pthread_mutex_unlock(&sp->sync_mu);
	return rc;
}


/* Batches of this many files or more are synced by helpers: below it,
 * waking them costs more than it saves (ext4 on a virtual disk: 2 files
 * 0.67 ms in turn, 0.74 with helpers; 4 files 0.95 and 0.87). */
#define SPOOL_SYNC_HELPED 3

/*
 * The fdatasyncs of one batch of SPOOL_SYNC_HELPED files or more, shared
 * by up to SPOOL_SYNC_HELPERS helpers that live as long as the spool
 * (made at the first such batch, not per batch) and by the committer
 * once it has synced the journal: the file system commits its journal
 * once for the syncs that wait together (ext4: 64 files in about the
 * time of 4 one by one).
 */

/* Takes and syncs files of job J until none is left (no lock held:
 * the next index is taken atomically). */
static void spool_sync_share(struct spool_syncjob *j)
{
	size_t i;
	int fd, e, none;

	while ((i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) <
	    j->n) {
		fd = j->fds[i];
		if (fd >= 0 && fdatasync(fd) < 0) {
			e = errno;
			none = 0;
			__atomic_compare_exchange_n(&j->err, &none, e, 0,
			    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		}
	}
}

static void spool_sem_wait(sem_t *s)
{
	while (sem_wait(s) < 0 && errno == EINTR)
		;
}

static void *spool_sync_helper(void *arg)
{
	struct spool *sp = arg;
	struct spool_syncjob *j;

	(void)pthread_setname_np(pthread_self(), "outboxfs-sync");
	for (;;) {
		spool_sem_wait(&sp->sw_go);
		if (__atomic_load_n(&sp->sw_stop, __ATOMIC_ACQUIRE))
			break;
		j = sp->job;
		spool_sync_share(j);
		if (__atomic_sub_fetch(&j->inside, 1, __ATOMIC_ACQ_REL) == 0)
			sem_post(&sp->sw_done);
	}
	return NULL;
}

/* Stops the helpers (spool_close): each takes one post and leaves. */
static void spool_sync_helpers_stop(struct spool *sp)
{
	int i;

	__atomic_store_n(&sp->sw_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < sp->nsw; i++)
		sem_post(&sp->sw_go);
	for (i = 0; i < sp->nsw; i++)
		pthread_join(sp->sw[i], NULL);
	sp->nsw = 0;
}

int spool_sync_fds(struct spool *sp, const int *fds, size_t n)
{
	struct spool_syncjob j = { fds, n, 0, 0, 0 };
	size_t i, sent = 0;
	int dir, rc = 0, saved = 0;
	int helped = n >= SPOOL_SYNC_HELPED && sp->sw_ok;

	/* the writeback of every file started at once: a few files' runs
	 * while the journal is synced, and their own fdatasyncs then find
	 * it mostly done (as fast as helper threads, without waking them) */
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			(void)sync_file_range(fds[i], 0, 0,
			    SYNC_FILE_RANGE_WRITE);
	if (helped) {
		/* the helpers, once: one that cannot be made leaves its
		 * share to the others (with none, this thread syncs every
		 * file after the journal) */
		while (!sp->sw_tried && sp->nsw < SPOOL_SYNC_HELPERS &&
		    pthread_create(&sp->sw[sp->nsw], NULL, spool_sync_helper,
		    sp) == 0)
			sp->nsw++;
		sp->sw_tried = 1;
		/* as many helpers sent as there are files */
		sent = n < (size_t)sp->nsw ? n : (size_t)sp->nsw;
		j.inside = (int)sent;
		sp->job = &j;
		for (i = 0; i < sent; i++)
			sem_post(&sp->sw_go);
	}
	/* Meanwhile this thread: the names of files made since the last
	 * sync (a reserved file's name was synced before it was given
	 * out), then the journal. */
	pthread_mutex_lock(&sp->spmu);
	dir = sp->msgdir_dirty;
	sp->msgdir_dirty = 0;
	pthread_mutex_unlock(&sp->spmu);
	if (dir && spool_sync_dir(sp, sp->msgfd, "/msg") < 0) {
		saved = errno;
		rc = -1;
	}
	if (spool_sync(sp) < 0 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	/* and the files no helper has taken yet */
	spool_sync_share(&j);
	if (sent)
		spool_sem_wait(&sp->sw_done);
	sp->job = NULL;
	if (rc == 0 && j.err) {
		saved = j.err;
		rc = -1;
	}
	if (rc < 0) {
		/* the next batch keeps the stamp: until one is durable, a
		 * crash leaves this one's records among those checked (its
		 * messages are submitted again, with new records), and
		 * so does every batch until a rewrite of the journal: its
		 * records may stay the last of their messages (held back
		 * for a retry) after later batches are durable */
		sp->stamp_held = 1;
		errno = saved;
		return -1;
	}
	if (!sp->stamp_held)
		sp->stamp++;
	return 0;
}

int spool_write_framed(struct spool *sp, const char *buf, size_t len)
{
	int rc, saved;

	pthread_mutex_lock(&sp->jmu);
	rc = spool_jappend(sp, buf, len);
	saved = errno;
	pthread_mutex_unlock(&sp->jmu);
	errno = saved;
	return rc;
}

int spool_write_text(struct spool *sp, const char *text, size_t len)
{
	struct buf b = BUF_INIT(BUF_NOCAP);
	int rc, saved;

	if (spool_frame(&b, text, len) < 0)
		return -1;
	rc = spool_write_framed(sp, b.p, b.len);
	saved = errno;
	buf_free(&b);
	errno = saved;
	return rc;
}

int spool_write_rec(struct spool *sp, const struct spool_rec *r)
{
	char *text = NULL;
	size_t len;
	int rc, saved;

	if (spool_rec_format(r, &text, &len) < 0)
		return -1;
	rc = spool_write_text(sp, text, len);
	saved = errno;
	free(text);
	errno = saved;
	return rc;
}

int spool_tombstone_text(uint64_t id, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "outboxfs-record 1\nid %" PRIu64
	    "\nremoved 1\nend\n", id);

	return n > 0 && (size_t)n < cap ? n : -1;
}

static int spool_tombstone(struct spool *sp, uint64_t id)
{
	char text[96];
	int n = spool_tombstone_text(id, text, sizeof(text));

	return spool_write_text(sp, text, (size_t)n);
}

/* ---- loading ----------------------------------------------------------- */

/*
 * Mounting reads the journal twice: the first pass finds each id's last
 * record and keeps only where it is (32 bytes an id), the second reads
 * and parses those alone, in id order, and hands each over at once. A
 * spool of 100,000 messages never holds its records twice.
 */
struct spool_entry {
	uint64_t id;
	uint64_t off;              /* its last record: offset in the journal
	                            * (in the whole buffer for version 1) */
	uint32_t len;              /* and length */
	uint8_t used;
	uint8_t valid;             /* the last record parsed */
	uint8_t has_msg;
	uint8_t removed;           /* its last record is a tombstone */
	uint8_t torn;              /* a later record of it was torn */
	char *bad;                 /* why the last record was refused */
	char *badtext;             /* that record's bytes */
	size_t badlen;
};

/* The entries in one array (one block: it goes back to the system as
 * a whole after the mount), found by id through an open-addressing
 * table of their indexes + 1 (0: empty). */
struct spool_map {
	struct spool_entry *e;
	size_t n, ecap;
	struct hindex idx;         /* entry number (index + 1) by id */
	const char *base;          /* the bytes being read now ... */
	uint64_t base_off;         /* ... start at this journal offset */
	uint64_t max_stamp;        /* the last batch (spool_check) */
	unsigned nbad;             /* damaged frames skipped */
	unsigned ntorn;            /* frames with zeros in them skipped */
};

struct spool_idkey {
	const struct spool_map *m;
	uint64_t id;
};

static int spool_id_eq(const void *ctx, uint32_t v)
{
	const struct spool_idkey *k = ctx;

	return k->m->e[v - 1].id == k->id;
}

static struct spool_entry *spool_map_get(struct spool_map *m, uint64_t id)
{
	struct spool_idkey key = { m, id };
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	uint32_t v = hindex_find(&m->idx, h, spool_id_eq, &key);

	if (v)
		return &m->e[v - 1];
	if (m->n == UINT32_MAX - 1)
		return NULL;
	if (m->n == m->ecap) {
		size_t ncap = m->ecap ? m->ecap * 2 : 512;
		struct spool_entry *ne = realloc(m->e, ncap * sizeof(*ne));

		if (ne == NULL)
			return NULL;
		m->e = ne;
		m->ecap = ncap;
	}
	if (hindex_add(&m->idx, h, (uint32_t)m->n + 1) < 0)
		return NULL;
	memset(&m->e[m->n], 0, sizeof(m->e[m->n]));
	m->e[m->n].used = 1;
	m->e[m->n].id = id;
	return &m->e[m->n++];
}

static void spool_entry_clear(struct spool_entry *e)
{
	e->valid = 0;
	free(e->badtext);
	e->badtext = NULL;
	free(e->bad);
	e->bad = NULL;
}

static const char spool_magic[] = "outboxfs-record 1\n";

/* The journal is read this much at a time at mount; a frame head is at
 * most this long ("%obx " LEN CRC ID "\n"). */
#define SPOOL_JWINDOW         (1024 * 1024)
#define SPOOL_FRAME_HEAD_MAX  64


/*
 * Reads the whole journal. A read error is an error, never an end: a
 * journal read half-way must not be taken for a shorter journal (the
 * start-up rewrite would then drop what follows).
 */
static int spool_read_journal(struct spool *sp, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd, saved;

	fd = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail_fd;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto fail_fd;
	while (got < (size_t)st.st_size) {
		n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;      /* shorter than fstat said: nothing more */
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Remembers the record [P, P+N) as bad, with WHY, under the id it
 * names (nothing when no id can be read). */
static int spool_mark_bad(const char *p, size_t n, const char *why,
    struct spool_map *m, uint64_t *max_id)
{
	struct spool_entry *e;
	uint64_t id;

	if (spool_guess_id(p, n, &id) < 0)
		return 0;
	if (id > *max_id)
		*max_id = id;
	e = spool_map_get(m, id);
	if (e == NULL)
		return -1;
	spool_entry_clear(e);
	e->removed = 0;
	e->bad = strdup(why);
	if (e->bad == NULL)
		return -1;
	e->badtext = malloc(n);
	if (e->badtext) {
		memcpy(e->badtext, p, n);
		e->badlen = n;
	}
	return 0;
}

/* Applies one record body (a whole "outboxfs-record 1" ... "end" text)
 * to M: parsed, or remembered as bad under the id it names. */
static int spool_apply(const char *p, size_t n, struct spool_map *m,
    uint64_t *max_id)
{
	struct spool_entry *e;
	struct spool_rec r;
	struct spool_check ck;
	char err[160];

	if (n > UINT32_MAX)
		return spool_mark_bad(p, n, "record too long", m, max_id);
	if (spool_rec_parse_check(p, n, &r, &ck, err, sizeof(err)) == 0) {
		/* where it is, not what it says: read again in pass two */
		if (r.id > *max_id)
			*max_id = r.id;
		if (ck.stamp > m->max_stamp)
			m->max_stamp = ck.stamp;
		e = spool_map_get(m, r.id);
		if (e == NULL) {
			spool_rec_free(&r);
			return -1;
		}
		spool_entry_clear(e);
		e->removed = r.removed;
		e->valid = !r.removed;
		e->torn = 0;
		e->off = m->base_off + (uint64_t)(p - m->base);
		e->len = (uint32_t)n;
		spool_rec_free(&r);
	} else {
		return spool_mark_bad(p, n, err, m, max_id);
	}
	return 0;
}

/* A damaged frame: reported under the id it names, never trusted. */
static int spool_apply_bad(const char *p, size_t n, struct spool_map *m,
    uint64_t *max_id)
{
	return spool_mark_bad(p, n, "record damaged (checksum mismatch)", m,
	    max_id);
}

/*
 * The journal of the first version: records from a "outboxfs-record 1"
 * line to an "end" line, unframed. Read once, at the first mount of a
 * new version, and then rewritten framed. A record starts only at the
 * start of a line (values are escaped, so no line of a record is the
 * magic line); one cut short and followed by another is dropped.
 */
static int spool_replay_v1(const char *buf, size_t len, struct spool_map *m,
    uint64_t *max_id)
{
	const char *p = buf, *end = buf + len, *nl, *rec = NULL;
	size_t ml = sizeof(spool_magic) - 1;

	m->base = buf;
	m->base_off = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;                 /* a last line cut short */
		if ((size_t)(nl + 1 - p) == ml && memcmp(p, spool_magic,
		    ml) == 0) {
			rec = p;               /* a (new) record starts */
		} else if (rec && nl - p == 3 && memcmp(p, "end", 3) == 0) {
			if (spool_apply(rec, (size_t)(nl + 1 - rec), m,
			    max_id) < 0)
				return -1;
			rec = NULL;
		}
		p = nl + 1;
	}
	return 0;
}

/* Parses a frame head "%obx LEN CRC ID\n" at P: its length, or 0. */
static size_t spool_frame_head(const char *p, const char *end, size_t *blen,
    uint32_t *crc, uint64_t *hid)
{
	const char *q = p + 5, *nl;
	unsigned long long v;
	char tmp[40], *e1, *e2;
	size_t n, room;

	if (end - p < 5 || memcmp(p, "%obx ", 5) != 0)
		return 0;
	room = (size_t)(end - q) < sizeof(tmp) ? (size_t)(end - q) :
	    sizeof(tmp) - 1;
	nl = memchr(q, '\n', room);
	if (nl == NULL)
		return 0;
	n = (size_t)(nl - q);
	memcpy(tmp, q, n);
	tmp[n] = '\0';
	if (tmp[0] < '0' || tmp[0] > '9')
		return 0;
	errno = 0;
	v = strtoull(tmp, &e1, 10);
	if (errno || *e1 != ' ' || v > SPOOL_MAX_RECORD)
		return 0;
	if (e1[1] == '-' || e1[1] == '+' || e1[1] == ' ')
		return 0;
	*crc = (uint32_t)strtoul(e1 + 1, &e2, 16);
	if (e2 != e1 + 9 || *e2 != ' ' || e2[1] < '0' || e2[1] > '9')
		return 0;
	errno = 0;
	*hid = strtoull(e2 + 1, &e1, 10);
	if (errno || *e1 != '\0')
		return 0;
	*blen = (size_t)v;
	return (size_t)(nl + 1 - p);
}

/*
 * The framed journal: a header line, then frames, each a head line
 * "%obx LEN CRC32C" and LEN bytes of record. A frame whose bytes do not
 * match its checksum costs that record alone (remembered as bad under
 * the id it names); the next frame is found after it or, when its
 * length was the damaged part, at the next "%obx " (no record holds one:
 * values are escaped, and '%' then only starts %XX). A last frame cut
 * short is a torn append and is dropped.
 */
static int spool_replay_v2(const char *buf, size_t len, int final,
    size_t *used, struct spool_map *m, uint64_t *max_id)
{
	const char *p = buf, *end = buf + len, *nx;
	struct spool_entry *e;
	size_t hl, bl = 0;
	uint32_t crc = 0;
	uint64_t hid = 0, bid;
	int whole;

	while (p < end) {
		/* more of the file to come: decide nothing on a part */
		if (!final && (size_t)(end - p) < SPOOL_FRAME_HEAD_MAX)
			break;
		hl = spool_frame_head(p, end, &bl, &crc, &hid);
		whole = hl && bl <= (size_t)(end - p) - hl;
		if (!final && hl && !whole)
			break;
		if (whole && spool_crc32c(p + hl, bl) == crc) {
			if (spool_apply(p + hl, bl, m, max_id) < 0)
				return -1;
			p += hl + bl;
			continue;
		}
		/* damaged or torn: the next frame starts at the next
		 * "%obx " (no record holds one: '%' only starts %XX) */
		nx = memmem(p + 1, (size_t)(end - p - 1), "%obx ", 5);
		if (nx == NULL && !final)
			break;
		if (nx == NULL && (!whole || hl == 0))
			break;             /* the torn last append */
		if (memchr(p, '\0', (size_t)((nx ? nx : end) - p))) {
			/* Zeros in it: never written whole. Records go into
			 * zeros written ahead (spool_jappend), and a stop of
			 * the system may keep any of the pages written after
			 * the last commit: a record of those, cut, was never
			 * reported durable. Its message keeps its last whole
			 * record, warned that it may arrive twice. */
			m->ntorn++;
			if (hl) {
				if ((e = spool_map_get(m, hid)) == NULL)
					return -1;
				e->torn = 1;
			}
		} else {
			/* damaged: when its bytes are there and both its ids
			 * agree, that message is reported and set aside,
			 * never sent from a record it cannot trust */
			m->nbad++;
			if (whole && (nx == NULL || nx >= p + hl + bl) &&
			    spool_guess_id(p + hl, bl, &bid) == 0 &&
			    bid == hid &&
			    spool_apply_bad(p + hl, bl, m, max_id) < 0)
				return -1;
		}
		if (nx == NULL)
			break;
		p = nx;
	}
	*used = (size_t)(p - buf);
	return 0;
}

/*
 * Replays the framed journal FD a window at a time (the window grows
 * only for a frame larger than it): mounting a spool of 100,000
 * messages never holds its whole journal. -1 with errno: a read error
 * (never taken for the end) or no memory (ENOMEM).
 */
static int spool_replay_fd(int fd, struct spool_map *m, uint64_t *max_id)
{
	size_t cap = SPOOL_JWINDOW, have = 0, used, start = 0, want;
	char *buf = malloc(cap), *nb;
	uint64_t woff = 0;             /* the journal offset of buf[0] */
	struct stat st;
	int64_t end;
	off_t off = 0;
	ssize_t n;
	int eof = 0, first = 1;

	if (buf == NULL)
		return -1;
	/* its records end where its zeros start (spool_jappend) */
	if (fstat(fd, &st) < 0 ||
	    (end = spool_journal_end(fd, (uint64_t)st.st_size)) < 0)
		goto fail;
	for (;;) {
		while (!eof && have < cap) {
			want = cap - have;
			if ((uint64_t)(end - off) < want)
				want = (size_t)(end - off);
			n = want ? pread(fd, buf + have, want, off) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				goto fail;
			if (n == 0)
				eof = 1;
			have += (size_t)n;
			off += n;
		}
		if (first && have >= sizeof(spool_jhead) - 1 &&
		    memcmp(buf, spool_jhead, sizeof(spool_jhead) - 1) == 0)
			start = sizeof(spool_jhead) - 1;
		first = 0;
		m->base = buf;
		m->base_off = woff;
		if (spool_replay_v2(buf + start, have - start, eof, &used, m,
		    max_id) < 0) {
			errno = ENOMEM;
			goto fail;
		}
		used += start;
		start = 0;
		if (eof)
			break;
		if (used == 0 && have == cap) {
			/* one frame (or damage) larger than the window */
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		woff += used;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int spool_cmp_entry(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Calls ADD for every numeric name in DIRFD; removes temp leftovers.
 * *ATT (when not NULL): set when an expansion .attID is there. */
static int spool_list(int dirfd, void (*add)(void *arg, uint64_t id),
    void *arg, int *att)
{
	DIR *d;
	struct dirent *e;
	uint64_t v;
	char *end;
	int fd = dup(dirfd);

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0) {
				int saved = errno;

				closedir(d);
				errno = saved;
				return -1;
			}
			break;
		}
		/* (.attID, an expansion, may stand for a record: removed
		 * after the records are read, spool_drop_att) */
		if (att && strncmp(e->d_name, ".att", 4) == 0)
			*att = 1;
		if (strncmp(e->d_name, ".tmp", 4) == 0 ||
		    strncmp(e->d_name, ".rs", 3) == 0 ||
		    strncmp(e->d_name, ".spare", 6) == 0) {
			unlinkat(dirfd, e->d_name, 0);
			continue;
		}
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtoull(e->d_name, &end, 10);
		if (errno == 0 && (*end == '\0' || *end == '.'))
			add(arg, v);
	}
	closedir(d);
	return 0;
}

struct spool_list_ctx {
	struct spool_map *m;
	uint64_t *max_id;
	int mark_msg;
};

static void spool_list_add(void *arg, uint64_t id)
{
	struct spool_list_ctx *c = arg;
	struct spool_entry *e;

	if (id > *c->max_id)
		*c->max_id = id;
	if (!c->mark_msg)
		return;
	e = spool_map_get(c->m, id);
	if (e)
		e->has_msg = 1;
}

/* 1 when the journal FD starts as the first version's did. */
static int spool_journal_is_v1(int fd)
{
	char head[sizeof(spool_magic)];
	ssize_t n;

	do
		n = pread(fd, head, sizeof(spool_magic) - 1, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(spool_magic) - 1 &&
	    memcmp(head, spool_magic, sizeof(spool_magic) - 1) == 0;
}

/*
 * Pass two reads the records in id order, which is mostly the order
 * they were written in: a window of the journal read ahead serves the
 * records that follow (100,000 records: a few hundred reads, not one
 * each). A record before the window is read alone; one after it (or
 * running past its end) starts a new window there: the window only
 * moves forward, so the journal is read about once through it.
 */
#define SPOOL_REREAD_WIN (256 * 1024)

struct spool_win {
	char *p;
	size_t cap;
	uint64_t off;                /* where the window starts */
	size_t len;                  /* bytes in it */
};

/* Reads up to CAP bytes at OFF into BUF (fewer only at the end of the
 * file); -1 with errno, *GOT (GOT may be NULL) then the bytes read
 * before the error. */
static ssize_t spool_pread_upto(int fd, char *buf, size_t cap, uint64_t off,
    size_t *got_out)
{
	size_t got = 0;
	ssize_t n = 0;

	while (got < cap) {
		n = pread(fd, buf + got, cap - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got_out)
		*got_out = got;
	return got < cap && n < 0 ? -1 : (ssize_t)got;
}

/*
 * Pass two for entry E: its last record read again (from V1, the whole
 * first-version journal, else from FD through the window W, or into
 * TMP) and parsed into *R. 1 when it parsed, 0 when it did not (*why
 * says why), -1 with errno: a read failed or came short (the journal is
 * ours: it does not change).
 */
static int spool_reread(int fd, const char *v1, const struct spool_entry *e,
    struct spool_win *w, struct buf *tmp, struct spool_rec *r,
    struct spool_check *ck, char *why, size_t whylen)
{
	const char *p;
	size_t want;
	ssize_t n;
	char *q;

	if (v1) {
		p = v1 + e->off;
	} else if (w->p && e->off >= w->off && e->off - w->off <= w->len &&
	    e->len <= w->len - (size_t)(e->off - w->off)) {
		p = w->p + (e->off - w->off);          /* in the window */
	} else if (w->p && e->off < w->off) {
		buf_reset(tmp);                        /* before it: alone */
		q = buf_reserve(tmp, e->len);
		if (q == NULL)
			return -1;
		n = spool_pread_upto(fd, q, e->len, e->off, NULL);
		if (n < 0)
			return -1;
		if ((size_t)n < e->len) {
			errno = EIO;   /* shorter than it was */
			return -1;
		}
		buf_commit(tmp, e->len);
		p = tmp->p;
	} else {
		want = e->len > SPOOL_REREAD_WIN ? e->len : SPOOL_REREAD_WIN;
		if (w->cap < want) {
			q = realloc(w->p, want);
			if (q == NULL)
				return -1;
			w->p = q;
			w->cap = want;
		}
		w->len = 0;                            /* a new window */
		n = spool_pread_upto(fd, w->p, want, e->off, NULL);
		if (n < 0)
			return -1;
		w->off = e->off;
		w->len = (size_t)n;
		if (w->len < e->len) {
			errno = EIO;   /* shorter than it was */
			return -1;
		}
		p = w->p;
	}
	return spool_rec_parse_check(p, e->len, r, ck, why, whylen) == 0;
}

/*
 * Whether msg/ID holds the bytes CK describes (any bytes when CK is not
 * set), made durable: 1 yes, synced; 0 no (missing, another length,
 * another CRC, unreadable, the sync failed), with the reason in WHY. A
 * mount syncs what it accepts, as the journal it writes next carries no
 * check: a power loss after it must not find the bytes short.
 */
int spool_install_msg(struct spool *sp, uint64_t id, int out,
    const char *tmp)
{
	char name[32];

	spool_idname(id, name, sizeof(name));
	if (fsync(out) < 0 || renameat(sp->msgfd, tmp, sp->msgfd, name) < 0)
		return -1;
	spool_msgdir_changed(sp);
	return 0;
}

int spool_copy_msg(struct spool *sp, uint64_t id, int fd,
    const struct spool_check *want, struct spool_check *got, int *newfd)
{
	char tmp[48], name[32], *buf;
	uint32_t c = 0xFFFFFFFFu;
	uint64_t off = 0;
	ssize_t n;
	int out, saved;

	spool_idname(id, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), ".rs%s", name);
	if ((buf = malloc(SPOOL_CHECK_CHUNK)) == NULL)
		return -1;
	out = openat(sp->msgfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (out < 0)
		goto fail_buf;
	for (;;) {
		n = pread(fd, buf, SPOOL_CHECK_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_out;
		if (n == 0)
			break;
		if (spool_write_all(out, buf, (size_t)n) < 0)
			goto fail_out;
		c = spool_crc_more(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	buf = NULL;
	got->len = off;
	got->crc = c ^ 0xFFFFFFFFu;
	got->stamp = 0;
	got->set = 1;
	if (want && want->set &&
	    (got->len != want->len || got->crc != want->crc)) {
		close(out);
		unlinkat(sp->msgfd, tmp, 0);
		return 1;
	}
	if (spool_install_msg(sp, id, out, tmp) < 0)
		goto fail_out;
	if (newfd)
		*newfd = out;
	else
		close(out);
	return 0;
fail_out:
	saved = errno;
	close(out);
	unlinkat(sp->msgfd, tmp, 0);
	errno = saved;
fail_buf:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}

/*
 * A closed draft's expansion (queue_attach): made durable, and recorded
 * with its check, before it is renamed over msg/NAME; a crash can leave
 * the record durable and the rename not. 1 when .attNAME is what CK
 * says: it is renamed over msg/NAME (synced with msg/ before the new
 * journal); else 0.
 */
static int spool_redo_att(struct spool *sp, const char *name,
    const struct spool_check *ck)
{
	struct spool_check got;
	char tmp[48];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), ".att%s", name);
	fd = openat(sp->msgfd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	ok = spool_check_fd(&got, fd) == 0 && got.len == ck->len &&
	    got.crc == ck->crc;
	close(fd);
	if (!ok || renameat(sp->msgfd, tmp, sp->msgfd, name) < 0)
		return 0;
	sp->msgdir_dirty = 1;
	return 1;
}

/* Removes the expansions no record needed (see spool_redo_att). */
static void spool_drop_att(struct spool *sp)
{
	struct dirent *e;
	DIR *d;
	int fd = openat(sp->msgfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;     /* removed at a later mount */
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".att", 4) == 0)
			unlinkat(sp->msgfd, e->d_name, 0);
	closedir(d);
}

/*
 * R's bytes, as the check CK says, made durable: copied to a new file
 * which replaces msg/ID (see spool_copy_msg), never synced in place: a
 * previous daemon may have seen a sync of that file fail, and a second
 * sync would prove nothing. 1 when they are, 0 with WHY when they are
 * not (or cannot be read); -1 with WHY when that cannot be known or the
 * copy cannot be made for a reason of the system's.
 */
static int spool_verify(struct spool *sp, uint64_t id,
    const struct spool_check *ck, char *why, size_t whylen)
{
	struct spool_check got = { 0, 0, 0, 0 };
	char name[32];
	int fd, rc = 0;

	spool_idname(id, name, sizeof(name));
	/* (a passing error, as a full descriptor table or no memory, fails
	 * the mount: taken for lost bytes, it would need the message
	 * written again) */
	fd = openat(sp->msgfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open it: %s", strerror(errno));
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	}
	if (ck->set && spool_check_fd(&got, fd) == 0 &&
	    (got.len != ck->len || got.crc != ck->crc) &&
	    spool_redo_att(sp, name, ck) == 1) {
		/* the expansion its record stands for, now in its place */
		close(fd);
		fd = openat(sp->msgfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			snprintf(why, whylen, "cannot open it: %s",
			    strerror(errno));
			return -1;
		}
		got = *ck;
	}
	if (ck->set && got.set == 0) {
		snprintf(why, whylen, "cannot read it: %s", strerror(errno));
		if (errno == ENOMEM)
			rc = -1;
	} else if (ck->set && got.len != ck->len) {
		snprintf(why, whylen, "%" PRIu64 " bytes of %" PRIu64,
		    got.len, ck->len);
	} else if (ck->set && got.crc != ck->crc) {
		snprintf(why, whylen, "its bytes differ (CRC-32C %08" PRIx32
		    ", recorded %08" PRIx32 ")", got.crc, ck->crc);
	} else {
		switch (spool_copy_msg(sp, id, fd, ck, &got, NULL)) {
		case 0:
			rc = 1;
			break;
		case 1:
			snprintf(why, whylen, "its bytes changed while they "
			    "were read");
			break;
		default:
			/* not a fault of its bytes: the mount fails,
			 * changing nothing of what the message is */
			snprintf(why, whylen, "cannot copy it to a new file: "
			    "%s", strerror(errno));
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

/*
 * R, submitted (queued by the batch a crash interrupted, or a closed
 * draft), whose bytes are not those it was submitted with: a draft
 * again, not closed (so not submitted), with the reason in its status.
 */
static void spool_unqueue(struct spool_rec *r, const char *why)
{
	char text[400];

	snprintf(text, sizeof(text), "this message was not sent: its bytes "
	    "had not all reached the disk when the system stopped (a power "
	    "loss or a crash) and are not those it was submitted with (%s); "
	    "check the file and write it again to send it", why);
	r->state = OB_DRAFT;
	r->closed = 0;
	r->queued = 0;
	r->lost = 1;
	spool_str_free(r->error);
	r->error = strdup(text);
}

/* 1 when msg/ID, which has no record, is empty and so is its
 * transcript, if any: a reserved file no message took (a message's
 * first record is written before any byte of it). */
static int spool_unused(struct spool *sp, uint64_t id)
{
	struct stat st;
	char name[32];

	spool_idname(id, name, sizeof(name));
	if (fstatat(sp->msgfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size != 0)
		return 0;
	if (fstatat(sp->logfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT;
	return S_ISREG(st.st_mode) && st.st_size == 0;
}

int spool_load(struct spool *sp, void (*fn)(void *arg, uint64_t id,
    struct spool_rec *r, const char *bad, int has_msg), void *arg,
    uint64_t *max_id, char *err, size_t errlen)
{
	struct spool_map m = { 0 };
	struct spool_list_ctx lc = { &m, max_id, 1 };
	int att = 0;
	struct buf tmp = BUF_INIT(SPOOL_MAX_RECORD);
	struct spool_win win = { NULL, 0, 0, 0 };
	struct spool_rec r;
	struct spool_check ck;
	char *buf = NULL, name[48], why[160];
	size_t len = 0, i;
	int fd, rc = 0, ok, vrc;

	*max_id = 0;
	sp->load_v1 = 0;
	sp->load_bad = 0;
	sp->load_torn = 0;
	sp->load_unsynced = 0;
	fd = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		goto read_fail;
	if (fd >= 0 && spool_journal_is_v1(fd)) {
		close(fd);
		fd = -1;
		if (spool_read_journal(sp, &buf, &len) < 0)
			goto read_fail;
		sp->load_v1 = 1;
		rc = spool_replay_v1(buf, len, &m, max_id);
	} else if (fd >= 0) {
		rc = spool_replay_fd(fd, &m, max_id);
		sp->load_bad = m.nbad;
		sp->load_torn = m.ntorn;
		if (rc < 0 && errno != ENOMEM)
			goto read_fail;
	}
	if (rc < 0) {
		snprintf(err, errlen, "spool %s/journal: out of memory while "
		    "reading it; nothing was changed", sp->path);
		goto fail;
	}
	if (spool_list(sp->msgfd, spool_list_add, &lc, &att) < 0) {
		snprintf(err, errlen, "spool %s/msg: cannot read it: %s; "
		    "nothing was changed", sp->path, strerror(errno));
		goto fail;
	}
	lc.mark_msg = 0;
	spool_list(sp->corruptfd, spool_list_add, &lc, NULL);
	/* in id order; the index is not needed any more */
	hindex_free(&m.idx);
	if (m.n)
		qsort(m.e, m.n, sizeof(*m.e), spool_cmp_entry);
	for (i = 0; i < m.n; i++) {
		struct spool_entry *e = &m.e[i];

		if (e->valid) {
			ok = spool_reread(fd, buf, e, &win, &tmp, &r, &ck, why,
			    sizeof(why));
			if (ok < 0)
				goto read_fail;
			/* queued by the last batch, which a crash may have
			 * cut before the file was durable (a batch starts
			 * after the one before it is durable), or a closed
			 * draft, whose file nothing synced */
			vrc = 1;
			if (ok && e->has_msg &&
			    ((r.state == OB_QUEUED && ck.set && ck.stamp &&
			    ck.stamp == m.max_stamp) ||
			    (r.state == OB_DRAFT && r.closed)))
				vrc = spool_verify(sp, e->id, &ck, why,
				    sizeof(why));
			if (vrc < 0) {
				spool_rec_free(&r);
				snprintf(err, errlen, "spool %s/msg/%" PRIu64
				    ": making it durable: %s; nothing was sent "
				    "or changed (free some space or check the "
				    "disk, then mount again)", sp->path, e->id,
				    why);
				goto fail;
			}
			if (vrc == 0) {
				spool_unqueue(&r, why);
				sp->load_unsynced++;
			}
			/* a later record of it torn by a stop of the system:
			 * an attempt may have been under way */
			if (ok && e->torn && (r.state == OB_QUEUED ||
			    r.state == OB_DEFERRED))
				r.interrupted = 1;
			if (ok) {
				fn(arg, e->id, &r, NULL, e->has_msg);
				spool_rec_free(&r);
				continue;
			}
			e->bad = strdup(why);     /* cannot happen: kept */
		}
		if (e->bad) {
			/* keep the bad record's bytes beside the message */
			snprintf(name, sizeof(name), "%" PRIu64 ".meta", e->id);
			rc = openat(sp->corruptfd, name, O_WRONLY | O_CREAT |
			    O_TRUNC | O_CLOEXEC, 0600);
			if (rc >= 0) {
				if (e->badtext)
					spool_write_all(rc, e->badtext,
					    e->badlen);
				close(rc);
			}
			fn(arg, e->id, NULL, e->bad, e->has_msg);
		} else if (e->has_msg && (e->removed ||
		    spool_unused(sp, e->id))) {
			/* removed, and the crash came before the unlink; or
			 * reserved, and no message took it before the stop */
			(void)spool_drop_files(sp, e->id);
		} else if (e->has_msg) {
			fn(arg, e->id, NULL, "message bytes without a record "
			    "(a crash while the file was being created)", 1);
		}
		spool_entry_clear(e);
	}
	if (att)       /* (a second pass over msg/ only then) */
		spool_drop_att(sp);
	/* the copies spool_verify made, by name, before the journal that
	 * no longer checks them replaces this one */
	if (sp->msgdir_dirty) {
		if (fsync(sp->msgfd) < 0) {
			snprintf(err, errlen, "spool %s/msg: cannot sync it: "
			    "%s (check the disk, then mount again)", sp->path,
			    strerror(errno));
			goto fail;
		}
		sp->msgdir_dirty = 0;
	}
	rc = 0;
	goto out;
read_fail:
	snprintf(err, errlen, "spool %s/journal: cannot read it: %s; "
	    "nothing was changed (check the disk, then mount again)",
	    sp->path, strerror(errno));
fail:
	rc = -1;
out:
	for (i = 0; i < m.n; i++)
		spool_entry_clear(&m.e[i]);
	free(m.e);
	hindex_free(&m.idx);
	free(buf);
	free(win.p);
	buf_free(&tmp);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A new journal.new with its header, opened for writing at its end. */
static int spool_new_journal(struct spool *sp)
{
	int fd;

	fd = openat(sp->dirfd, "journal.new", O_RDWR | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (spool_write_all(fd, spool_jhead, sizeof(spool_jhead) - 1) < 0) {
		int e = errno;

		close(fd);
		unlinkat(sp->dirfd, "journal.new", 0);
		errno = e;
		return -1;
	}
	return fd;
}

int spool_compact_begin(struct spool *sp)
{
	int fd = spool_new_journal(sp);

	if (fd < 0)
		return -1;
	pthread_mutex_lock(&sp->jmu);
	close(sp->jfd);
	sp->jfd = fd;
	spool_jbytes_set(sp, sizeof(spool_jhead) - 1);
	sp->jalloc = sp->jbytes;
	pthread_mutex_unlock(&sp->jmu);
	return 0;
}

int spool_compact_add(struct spool *sp, const struct spool_rec *r)
{
	return spool_write_rec(sp, r);
}

int spool_compact_end(struct spool *sp)
{
	int rc = 0, fd, old;

	pthread_mutex_lock(&sp->jmu);
	if (fsync(sp->jfd) < 0 ||
	    renameat(sp->dirfd, "journal.new", sp->dirfd, "journal") < 0 ||
	    fsync(sp->dirfd) < 0)
		rc = -1;
	fd = openat(sp->dirfd, "journal", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	old = sp->jfd;
	if (fd >= 0 && spool_journal_adopt(sp, fd) == 0) {
		close(old);
	} else {
		if (fd >= 0)
			close(fd);
		rc = -1;
	}
	pthread_mutex_unlock(&sp->jmu);
	return rc;
}

uint64_t spool_journal_size(struct spool *sp)
{
	/* no jmu (spool_jbytes_set): asked after every append
	 * (ob_compact_check), where the lock was contended by the next
	 * append's write(2) */
	return __atomic_load_n(&sp->jbytes, __ATOMIC_RELAXED);
}

/* Copies the journal's bytes from FROM to its end into FD (jmu held). */
static int spool_copy_tail(struct spool *sp, uint64_t from, int fd)
{
	char buf[65536];
	uint64_t off = from;
	ssize_t n;
	int in, rc = 0, saved;

	if (from >= sp->jbytes)
		return 0;
	in = openat(sp->dirfd, "journal", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	while (off < sp->jbytes) {
		size_t want = sp->jbytes - off < sizeof(buf) ?
		    (size_t)(sp->jbytes - off) : sizeof(buf);

		n = pread(in, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			rc = -1;
			break;
		}
		if (spool_write_all(fd, buf, (size_t)n) < 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
	}
	saved = errno;
	close(in);
	errno = saved;
	return rc;
}

int spool_rewrite(struct spool *sp, const char *framed, size_t len,
    uint64_t mark)
{
	struct stat st;
	int fd, saved;

	/* the snapshot, written and synced with no lock held */
	fd = spool_new_journal(sp);
	if (fd < 0)
		return -1;
	if (spool_write_all(fd, framed, len) < 0 || fdatasync(fd) < 0)
		goto fail;
	/* the records appended since the snapshot, then the swap */
	pthread_mutex_lock(&sp->jmu);
	if (spool_copy_tail(sp, mark, fd) < 0 || fdatasync(fd) < 0 ||
	    fstat(fd, &st) < 0 ||
	    renameat(sp->dirfd, "journal.new", sp->dirfd, "journal") < 0) {
		pthread_mutex_unlock(&sp->jmu);
		goto fail;
	}
	if (sp->jsyncing && sp->jfd_old < 0)
		sp->jfd_old = sp->jfd;   /* a commit is syncing it */
	else
		close(sp->jfd);
	sp->jfd = fd;
	spool_jbytes_set(sp, (uint64_t)st.st_size);
	sp->jalloc = sp->jbytes;
	sp->jlost = 0;      /* every record is in the new one, synced */
	/* the rename is made durable by the next commit, before any
	 * record appended from now on is reported durable */
	sp->dir_dirty = 1;
	/* a failed batch's records are gone with the old journal (the
	 * snapshot has its messages as drafts): stamps go on */
	if (sp->stamp_held) {
		sp->stamp_held = 0;
		sp->stamp++;
	}
	pthread_mutex_unlock(&sp->jmu);
	return 0;
fail:
	saved = errno;
	close(fd);
	unlinkat(sp->dirfd, "journal.new", 0);
	errno = saved;
	return -1;
}

int spool_create_msg(struct spool *sp, uint64_t id)
{
	char name[32];
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->msgfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd >= 0)
		spool_msgdir_changed(sp);
	return fd;
}

int spool_new_msg(struct spool *sp, uint64_t *id, int *lfd)
{
	int fd, l;

	if (lfd)
		*lfd = -1;
	pthread_mutex_lock(&sp->spmu);
	if (sp->nspare > 0) {
		fd = sp->spare_fd[sp->spare_head];
		l = sp->spare_lfd[sp->spare_head];
		if (lfd)
			*lfd = l;
		else if (l >= 0)
			close(l);
		*id = sp->spare_id[sp->spare_head];
		sp->spare_head = (sp->spare_head + 1) % SPOOL_SPARES;
		/* refilled in one go once half are taken */
		if (--sp->nspare == SPOOL_SPARES / 2)
			pthread_cond_signal(&sp->spcv);
		pthread_mutex_unlock(&sp->spmu);
		return fd;
	}
	*id = sp->next_id++;
	pthread_mutex_unlock(&sp->spmu);
	return spool_create_msg(sp, *id);
}

int spool_open_msg(struct spool *sp, uint64_t id, int flags)
{
	char name[32];

	spool_idname(id, name, sizeof(name));
	return openat(sp->msgfd, name, flags | O_CLOEXEC);
}

int spool_drop_files(struct spool *sp, uint64_t id)
{
	char name[32];
	int rc = 0;

	spool_idname(id, name, sizeof(name));
	if (unlinkat(sp->msgfd, name, 0) < 0 && errno != ENOENT)
		rc = -1;
	if (unlinkat(sp->logfd, name, 0) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int spool_remove(struct spool *sp, uint64_t id)
{
	/* The tombstone goes first: message bytes without a record are
	 * found at start-up and set aside, never resurrected. */
	if (spool_tombstone(sp, id) < 0)
		return -1;
	return spool_drop_files(sp, id);
}

int spool_set_aside(struct spool *sp, uint64_t id)
{
	char name[32], dst[48];
	int rc = 0;

	spool_idname(id, name, sizeof(name));
	snprintf(dst, sizeof(dst), "%s.msg", name);
	if (renameat(sp->msgfd, name, sp->corruptfd, dst) < 0 &&
	    errno != ENOENT)
		rc = -1;
	snprintf(dst, sizeof(dst), "%s.log", name);
	if (renameat(sp->logfd, name, sp->corruptfd, dst) < 0 &&
	    errno != ENOENT)
		rc = -1;
	if (spool_tombstone(sp, id) < 0)
		rc = -1;
	return rc;
}

int spool_append_log(struct spool *sp, uint64_t id, uint64_t at,
    const char *buf, size_t len)
{
	char name[32];
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->logfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -1;
	return spool_append_log_fd(fd, at, buf, len);
}

int spool_append_log_fd(int fd, uint64_t at, const char *buf, size_t len)
{
	int rc, saved;

	rc = spool_write_all(fd, buf, len);
	saved = errno;
	/* A part written (disk full) is taken back to AT, the length of
	 * the whole attempts before it: the status file reads the log by
	 * those lengths. */
	if (rc < 0 && ftruncate(fd, (off_t)at) < 0) {
		/* left as it is: the status then shows it cut */
	}
	if (close(fd) < 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

ssize_t spool_read_log(struct spool *sp, uint64_t id, char *buf, size_t cap)
{
	char name[32];
	size_t got = 0;
	int fd;

	spool_idname(id, name, sizeof(name));
	fd = openat(sp->logfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* a read error keeps what came before it */
	(void)spool_pread_upto(fd, buf, cap, 0, &got);
	close(fd);
	return (ssize_t)got;
}

uint64_t spool_log_size(struct spool *sp, uint64_t id)
{
	char name[32];
	struct stat st;

	spool_idname(id, name, sizeof(name));
	if (fstatat(sp->logfd, name, &st, 0) < 0)
		return 0;
	return (uint64_t)st.st_size;
}
