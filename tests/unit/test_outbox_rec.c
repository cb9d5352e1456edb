/*
 * test_outbox_rec — what the journal says after the record verbs of
 * fs/outbox.c run in the orders the threads can run them in.
 *
 * ops_release marks a draft closed and starts its settle time under
 * ob->mu, then writes the "closed" record with ob_save after letting
 * go of the lock. The committer and a delivery thread may take the
 * message in between, so that record can land after the outcome's
 * record: it must then say what the journal already says, never the
 * state shown at that moment (which lags the journal until a sync).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fs/outbox.h"

struct fixture {
	char dir[64];
	char spool[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_outbox_rec.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void open_ob(struct fixture *f, struct ob *ob)
{
	char err[300];

	assert_int_equal(ob_init(ob, NULL, f->spool, err, sizeof(err)), 0);
	assert_int_equal(ob_load(ob, err, sizeof(err)), 0);
}

static void test_release_record_after_outcome(void **state)
{
	struct fixture *f = *state;
	struct ob ob;
	struct ob_msg *m;
	struct spool_rec nr;
	uint64_t id;
	int fd = -1;

	open_ob(f, &ob);
	m = ob_create(&ob, -1, "mail1", getuid(), getgid(), 0, &fd);
	assert_non_null(m);
	assert_int_equal(write(fd, "To: a@b\n\nhi\n", 12), 12);
	close(fd);
	id = m->r.id;

	/* ops_release: last close, settle started, closed in memory; its
	 * ob_save comes later (the thread is descheduled here) */
	pthread_mutex_lock(&ob.mu);
	m->nopen = 0;
	m->file_size = 12;
	m->r.closed = 1;
	pthread_mutex_unlock(&ob.mu);

	/* queue_commit_batch: queued, durable, shown */
	assert_int_equal(ob_save_as(&ob, m, OB_QUEUED, 1), 0);
	pthread_mutex_lock(&ob.mu);
	ob_set_state(&ob, m, OB_QUEUED);
	/* queue_pick: shown sending */
	m->busy = 1;
	ob_set_state(&ob, m, OB_SENDING);
	pthread_mutex_unlock(&ob.mu);
	/* queue_mark_sending */
	assert_int_equal(ob_save_as(&ob, m, OB_SENDING, 0), 0);
	/* the server accepted it; queue_record writes the outcome... */
	pthread_mutex_lock(&ob.mu);
	assert_int_equal(spool_rec_dup(&nr, &m->r), 0);
	pthread_mutex_unlock(&ob.mu);
	assert_int_equal(ob_commit_rec(&ob, m, &nr, OB_SENT), 0);
	spool_rec_free(&nr);

	/* ...and before its sync shows it, ops_release's ob_save runs */
	assert_int_equal(ob_save(&ob, m, 0), 0);

	assert_int_equal(spool_sync(&ob.spool), 0);
	pthread_mutex_lock(&ob.mu);
	m->busy = 0;
	ob_set_state(&ob, m, OB_SENT);
	assert_int_equal(m->disk_state, OB_SENT);
	pthread_mutex_unlock(&ob.mu);
	ob_destroy(&ob);

	/* the restart: sent, not an interrupted attempt sent again */
	open_ob(f, &ob);
	m = ob_find_id(&ob, id);
	assert_non_null(m);
	assert_string_equal(spool_state_name(m->r.state),
	    spool_state_name(OB_SENT));
	assert_int_equal(m->r.interrupted, 0);
	ob_destroy(&ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_release_record_after_outcome, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
