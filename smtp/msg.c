/* msg — placeholder until message preparation lands; every call fails. */
#include <stdio.h>
#include <string.h>
#include "smtp/msg.h"

int msg_prepare(int fd, const struct msg_params *p, struct msg *m,
    char *err, size_t errlen)
{
	(void)fd; (void)p;
	memset(m, 0, sizeof(*m));
	snprintf(err, errlen, "message preparation not built yet");
	return -1;
}

void msg_free(struct msg *m) { memset(m, 0, sizeof(*m)); }

int msg_parse_addrlist(const char *value, size_t len, char ***list,
    size_t *n, char *err, size_t errlen)
{
	(void)value; (void)len; (void)list; (void)n;
	snprintf(err, errlen, "not built yet");
	return -1;
}

int msg_check_addr(const char *addr, char *err, size_t errlen)
{
	(void)addr;
	snprintf(err, errlen, "not built yet");
	return -1;
}

int msg_stream_open(const struct msg *m, int fd, int eightbit_ok,
    struct msg_stream **out, char *err, size_t errlen)
{
	(void)m; (void)fd; (void)eightbit_ok;
	*out = NULL;
	snprintf(err, errlen, "not built yet");
	return -1;
}

int msg_stream_8bit(const struct msg_stream *s) { (void)s; return 0; }

ssize_t msg_stream_read(struct msg_stream *s, char *buf, size_t cap,
    char *err, size_t errlen)
{
	(void)s; (void)buf; (void)cap;
	snprintf(err, errlen, "not built yet");
	return -1;
}

void msg_stream_free(struct msg_stream *s) { (void)s; }

void msg_dotstuff_init(struct msg_dotstuff *d) { memset(d, 0, sizeof(*d)); }

size_t msg_dotstuff(struct msg_dotstuff *d, const char *in, size_t len,
    char *out)
{
	(void)d; (void)in; (void)len; (void)out;
	return 0;
}

size_t msg_dotstuff_finish(struct msg_dotstuff *d, char *out)
{
	(void)d; (void)out;
	return 0;
}
