/*
 * fuzz_journal — feeds arbitrary bytes to the journal reader as a whole
 * journal file (either format), then checks what a load must hold: it
 * succeeds (a damaged journal costs records, never the mount), every
 * record it reports formats and parses again, and ids come in
 * ascending order.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct spool fz_sp;
static int fz_ready;

struct fz_ctx {
	uint64_t last;
	int any;
};

static void fz_cb(void *arg, uint64_t id, struct spool_rec *r,
    const char *bad, int has_msg)
{
	struct fz_ctx *c = arg;
	struct spool_rec back;
	char *text, err[200];
	size_t len;

	(void)has_msg;
	if (c->any && id <= c->last)
		abort();
	c->any = 1;
	c->last = id;
	if (r == NULL) {
		if (bad == NULL || bad[0] == '\0')
			abort();
		return;
	}
	if (r->id != id || spool_rec_format(r, &text, &len) != 0)
		abort();
	if (spool_rec_parse(text, len, &back, err, sizeof(err)) != 0)
		abort();
	spool_rec_free(&back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_ctx c = { 0, 0 };
	char err[400], dir[] = "/tmp/fuzz_journal.XXXXXX";
	uint64_t max;
	int fd;

	if (!fz_ready) {
		if (mkdtemp(dir) == NULL ||
		    spool_open(&fz_sp, dir, err, sizeof(err)) < 0)
			abort();
		fz_ready = 1;
	}
	fd = openat(fz_sp.dirfd, "journal", O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (spool_load(&fz_sp, fz_cb, &c, &max, err, sizeof(err)) != 0)
		abort();
	return 0;
}
