/*
 * fuzz_client — the whole client against arbitrary server bytes. The
 * input is what "the server" says, queued on one end of a socket pair
 * before the client starts, then the end is shut: the client reads it
 * all and meets EOF, so nothing waits for a timeout. It connects, sends
 * a small message twice, and quits. Checks: nothing that reaches a
 * transcript, an error or a result holds a byte outside printable ASCII,
 * and a transaction that returns 0 leaves no recipient pending.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp/msg.h"
#include "smtp/session.h"
#include "smtp/smtp.h"

static int fuzz_msgfd = -1;
static struct msg fuzz_msg;

static void fuzz_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

static void fuzz_line(void *tag, char dir, const char *line)
{
	(void)tag;
	if (dir != 'C' && dir != 'S')
		abort();
	fuzz_printable(line);
}

static void fuzz_init(void)
{
	static const char text[] = "From: a@example.com\nTo: b@example.com, "
	    "c@example.com\nSubject: f\n\nbody\n.dot\n";
	struct msg_params mp = { .from = "a@example.com", .now = 1 };
	char err[256];

	fuzz_msgfd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fuzz_msgfd < 0 ||
	    write(fuzz_msgfd, text, sizeof(text) - 1) != sizeof(text) - 1 ||
	    msg_prepare(fuzz_msgfd, &mp, &fuzz_msg, err, sizeof(err)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_params p;
	struct smtp_session *s;
	struct smtp_error err;
	struct smtp_rcpt_result rr[2];
	struct smtp_result res = { .rcpts = rr };
	const char *rcpts[2] = { "b@example.com", "c@example.com" };
	int sv[2], i, rc;
	size_t k;
	ssize_t n;

	if (fuzz_msgfd < 0)
		fuzz_init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* what does not fit in the socket buffer is dropped */
	n = size > 0 ? write(sv[1], data, size) : 0;
	(void)n;
	shutdown(sv[1], SHUT_WR);

	memset(&p, 0, sizeof(p));
	p.host = "127.0.0.1";
	p.port = "25";
	p.transcript = fuzz_line;
	p.timeouts = (struct smtp_timeouts){ 50, 50, 50, 50, 50, 50, 50, 50 };
	if (smtp_connect_fd(&p, sv[0], &s, &err) < 0) {
		fuzz_printable(err.text);
		close(sv[1]);
		return 0;
	}
	for (const char *q = smtp_prologue(s); *q != '\0'; q++)
		if (*q != '\n' && ((unsigned char)*q < 0x20 ||
		    (unsigned char)*q > 0x7e))
			abort();
	for (i = 0; i < 2; i++) {
		rc = smtp_send(s, &fuzz_msg, fuzz_msgfd, rcpts, 2, &res, &err);
		fuzz_printable(res.reply);
		for (k = 0; k < res.nrcpts; k++) {
			fuzz_printable(rr[k].text);
			if (rc == 0 && rr[k].state == SMTP_RCPT_PENDING)
				abort();
		}
		if (rc < 0) {
			fuzz_printable(err.text);
			if (!res.reusable)
				break;
		}
	}
	smtp_quit(s);
	close(sv[1]);
	return 0;
}
