/*
 * fuzz_msg — arbitrary message files through msg_prepare and msg_stream.
 * Whatever the input, an accepted message must stream to CRLF-only,
 * dot-stuffed DATA with no early "CRLF.CRLF", no line over 999 octets,
 * a final CRLF, and exactly the bytes SIZE= announces for that server;
 * every envelope address must pass msg_check_addr. Without 8BITMIME
 * (data[0] & 1 clear) the stream opens exactly when msg_check_7bit says
 * the message can be sent, and then never yields a byte >= 0x80. Any
 * violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp/msg.h"

static int fuzz_fd = -1;

static void fuzz_check_addr(const char *a)
{
	char err[256];

	if (msg_check_addr(a, err, sizeof(err)) != 0)
		abort();
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_params p = { .from = NULL, .domain = "fuzz.example",
	    .now = 1795881613 };
	struct msg m;
	struct msg_stream *s;
	char err[512], buf[1500];
	uint64_t total = 0;
	size_t line = 0, chunk;
	int eightbit_ok, prev_cr = 0, at_start = 1;
	ssize_t r;
	/* the last 5 wire bytes seen, to find CRLF.CRLF across reads */
	char tail[5] = { '\r', '\n', 0, 0, 0 };
	size_t tl = 2;

	if (size < 1)
		return 0;
	eightbit_ok = data[0] & 1;
	if (data[0] & 2)
		p.from = "sender@example.com";
	chunk = 1024 + (data[0] >> 2);
	data++;
	size--;
	if (fuzz_fd < 0)
		fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fuzz_fd < 0 || ftruncate(fuzz_fd, 0) != 0 ||
	    pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (msg_prepare(fuzz_fd, &p, &m, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || memchr(err, '\n', strlen(err)))
			abort();
		return 0;
	}
	fuzz_check_addr(m.from);
	if (m.nrcpts == 0 || m.nrcpts > MSG_MAX_RCPTS)
		abort();
	for (size_t i = 0; i < m.nrcpts; i++)
		fuzz_check_addr(m.rcpts[i]);
	if (!eightbit_ok && msg_check_7bit(&m, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || memchr(err, '\n', strlen(err)) ||
		    msg_stream_open(&m, fuzz_fd, 0, &s, err, sizeof(err)) == 0)
			abort();
		msg_free(&m);
		return 0;
	}
	if (msg_stream_open(&m, fuzz_fd, eightbit_ok, &s, err,
	    sizeof(err)) != 0)
		abort();
	while ((r = msg_stream_read(s, buf, chunk, err, sizeof(err))) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			char c = buf[i];

			if (!eightbit_ok && (unsigned char)c >= 0x80)
				abort();        /* 8-bit without 8BITMIME */
			if (prev_cr && c != '\n')
				abort();        /* bare CR */
			if (c == '\n' && !prev_cr)
				abort();        /* bare LF */
			prev_cr = c == '\r';
			if (c == '\r' || c == '\n') {
				if (c == '\n')
					line = 0;
			} else if (++line > 999)
				abort();
			if (at_start && i == 0 && c == '.' && r > 1 &&
			    buf[1] == '\r')
				abort();
			if (tl == 5)
				memmove(tail, tail + 1, --tl);
			tail[tl++] = c;
			if (tl == 5 && memcmp(tail, "\r\n.\r\n", 5) == 0)
				abort();
		}
		at_start = 0;
		total += (uint64_t)r;
	}
	if (r != 0 || prev_cr || line != 0 || total < 2)
		abort();
	if (total != msg_size(&m, eightbit_ok) || total > m.size)
		abort();
	msg_stream_free(s);
	msg_free(&m);
	return 0;
}
