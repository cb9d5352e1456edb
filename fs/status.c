/*
 * status — renders status headers and .queue lines from records.
 * Must never do I/O or take a lock: callers hold the outbox lock while
 * rendering, so this stays quick and pure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/status.h"

/* Where the text goes: a buffer (a failure sticks, so it is looked at
 * once at the end), or, for .queue's size, only a count. */
struct status_buf {
	struct buf *b;       /* NULL: only counted */
	size_t count;
};

static void status_add(struct status_buf *b, const char *s, size_t n)
{
	if (b->b == NULL)
		b->count += n;
	else
		(void)buf_add(b->b, s, n);
}

/* Appends S with control bytes shown as '?'. */
static void status_add_clean(struct status_buf *b, const char *s)
{
	const char *p = s, *run = s;

	for (; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			status_add(b, run, (size_t)(p - run));
			status_add(b, "?", 1);
			run = p + 1;
		}
	}
	status_add(b, run, (size_t)(p - run));
}

static void status_kv(struct status_buf *b, const char *key, const char *v)
{
	status_add(b, key, strlen(key));
	status_add(b, ": ", 2);
	status_add_clean(b, v);
	status_add(b, "\n", 1);
}

static void status_kn(struct status_buf *b, const char *key, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	status_kv(b, key, num);
}

void status_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "-");
}

int status_render(const struct status_view *v, char **out, size_t *len)
{
	const struct spool_rec *r = v->rec;
	struct buf text = BUF_INIT(BUF_NOCAP);
	struct status_buf b = { &text, 0 };
	char tbuf[40], line[96];
	size_t i;

	status_kv(&b, "state", spool_state_name(r->state));
	if (r->account)
		status_kv(&b, "account", r->account);
	if (r->message_id)
		status_kv(&b, "message-id", r->message_id);
	if (r->from)
		status_kv(&b, "from", r->from);
	if (v->user) {
		status_add(&b, "user: ", 6);
		status_add_clean(&b, v->user);
		snprintf(line, sizeof(line), " uid=%lu\n", v->uid);
		status_add(&b, line, strlen(line));
	}
	if (r->nrcpts)
		status_kn(&b, "recipients", r->nrcpts);
	status_kn(&b, "size", r->size ? r->size : v->file_size);
	if (r->queued) {
		status_time(r->queued, tbuf, sizeof(tbuf));
		status_kv(&b, "queued", tbuf);
	}
	if (r->state != OB_DRAFT)
		status_kn(&b, "attempts", r->attempts);
	if (r->state == OB_DEFERRED) {
		status_time(r->next, tbuf, sizeof(tbuf));
		status_kv(&b, "next-attempt", tbuf);
	}
	if (r->server)
		status_kv(&b, "server", r->server);
	if (r->state == OB_SENDING && v->progress_total) {
		snprintf(line, sizeof(line), "%" PRIu64 " of %" PRIu64
		    " bytes", v->progress_sent, v->progress_total);
		status_kv(&b, "progress", line);
	}
	for (i = 0; i < r->nrcpts; i++) {
		const struct spool_rcpt *rc = &r->rcpts[i];

		status_add(&b, "rcpt: ", 6);
		status_add_clean(&b, rc->addr ? rc->addr : "");
		if (rc->code) {
			snprintf(line, sizeof(line), " %d", rc->code);
			status_add(&b, line, strlen(line));
			if (rc->text && rc->text[0]) {
				status_add(&b, " ", 1);
				status_add_clean(&b, rc->text);
			}
		} else {
			status_add(&b, " pending", 8);
		}
		status_add(&b, "\n", 1);
	}
	if (r->reply)
		status_kv(&b, "reply", r->reply);
	if (v->rewrite_refused) {
		const char *more = v->hold_error ? v->hold_error : r->error;

		status_time(r->queued, tbuf, sizeof(tbuf));
		status_add(&b, "error: already submitted at ", 28);
		status_add(&b, tbuf, strlen(tbuf));
		status_add(&b, "; write a new file", 18);
		if (more) {
			status_add(&b, "; ", 2);
			status_add_clean(&b, more);
		}
		status_add(&b, "\n", 1);
	} else if (v->hold_error)
		status_kv(&b, "error", v->hold_error);
	else if (r->error)
		status_kv(&b, "error", r->error);
	if (r->dup)
		status_kv(&b, "warning", "the connection was lost after the "
		    "final dot: the server may already have this message, "
		    "which may arrive twice (RFC 1047)");
	else if (r->interrupted)
		status_kv(&b, "warning", "outboxfs stopped during an attempt: "
		    "the server may already have this message, which may "
		    "arrive twice");
	status_add(&b, "\n", 1);
	return (*out = buf_take(&text, len)) != NULL ? 0 : -1;
}

static void status_add_escaped(struct status_buf *b, const char *s)
{
	char oct[8];
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '\\') {
			snprintf(oct, sizeof(oct), "\\%03o", *p);
			status_add(b, oct, 4);
		} else {
			status_add(b, (const char *)p, 1);
		}
	}
}

static void status_queue_add(struct status_buf *b, const struct spool_rec *r,
    const char *state_word)
{
	char tbuf[40], num[32];
	const char *reply;

	if (r->dir) {
		status_add_escaped(b, r->dir);
		status_add(b, "/", 1);
	}
	status_add_escaped(b, r->name ? r->name : "?");
	status_add(b, " ", 1);
	if (state_word == NULL)
		state_word = spool_state_name(r->state);
	status_add(b, state_word, strlen(state_word));
	snprintf(num, sizeof(num), " %u ", r->attempts);
	status_add(b, num, strlen(num));
	if (r->state == OB_DEFERRED) {
		status_time(r->next, tbuf, sizeof(tbuf));
		status_add(b, tbuf, strlen(tbuf));
	} else {
		status_add(b, "-", 1);
	}
	status_add(b, " ", 1);
	reply = r->reply ? r->reply : r->error;
	status_add_clean(b, reply && reply[0] ? reply : "-");
	status_add(b, "\n", 1);
}

size_t status_queue_line_len(const struct spool_rec *r,
    const char *state_word)
{
	struct status_buf b = { NULL, 0 };

	status_queue_add(&b, r, state_word);
	return b.count;
}

int status_queue_line(struct buf *out, const struct spool_rec *r,
    const char *state_word)
{
	struct status_buf b = { out, 0 };

	status_queue_add(&b, r, state_word);
	return out->err ? -1 : 0;
}

void status_attempt_line(char *buf, size_t cap, unsigned n, int64_t t,
    const char *hostport, const char *note)
{
	char tbuf[40];
	int w;

	status_time(t, tbuf, sizeof(tbuf));
	w = snprintf(buf, cap, "--- attempt %u %s %s%s%s\n", n, tbuf, hostport,
	    note && note[0] ? " " : "", note ? note : "");
	if (w < 0 || (size_t)w >= cap) {
		/* cut: keep the line ending */
		if (cap >= 2) {
			buf[cap - 2] = '\n';
			buf[cap - 1] = '\0';
		}
	}
}
