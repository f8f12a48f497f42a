/* check_client_sigbus.c - a direct client whose segment is cut short lives. */

/*
 * Anyone holding a queue's segment fd can truncate the file; every access
 * of another mapper past the new end then raises SIGBUS. The library
 * holds core's SIGBUS guard (core_guard_hold) while it maps a segment:
 * the op that faults returns a status, the handle drops its mapping and
 * goes on through the daemon (which quarantines the queue). The handler
 * is there only while direct handles are, and faults that are not in a
 * mapping of ours go to whatever handler was there before.
 *
 * The test plays the truncating mapper itself: it runs as the daemon's
 * user, so it opens the segment file in the daemon's directory.
 */

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testutil.h"

static struct tu_daemon D;
static int d_started;

/* Stop the daemon and remove what it left. */
static void
cleanup(void)
{
	if (d_started) {
		d_started = 0;
		tu_daemon_cleanup(&D);
	}
}

/* Each test (a forked child) gets a private daemon. */
static void
setup(void)
{
	unsetenv("CONQUEUE_DIRECT");
	ck_assert_int_eq(tu_daemon_start(&D, NULL), 0);
	d_started = 1;
	atexit(cleanup);
}

/* A direct handle on a new queue name: 64 slots of 1 KiB, so that a cut
 * at 4096 bytes keeps the header and loses the slots. */
static cq_queue *
direct_queue(cq_client **cp, const char *name)
{
	cq_queue_attr a;
	cq_queue *q = NULL;

	ck_assert_int_eq(
	    cq_connect_flags(cp, D.sock, NULL, CQ_CONNECT_DIRECT), CQ_OK);
	memset(&a, 0, sizeof a);
	a.capacity = 64;
	a.max_size = 1024;
	ck_assert_int_eq(cq_create(*cp, name, &a), CQ_OK);
	ck_assert_int_eq(cq_open(*cp, name, &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), 1);
	return q;
}

/* Cut the one segment file of D (one queue exists) to len bytes. */
static void
cut_segment(off_t len)
{
	char dir[256], path[600];
	struct dirent *de;
	DIR *d;
	int fd, n = 0;

	snprintf(dir, sizeof dir, "/dev/shm/conqueue-%s", D.instance);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.') != NULL)
			continue; /* N.bell: the doorbell */
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, len), 0);
		close(fd);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 1);
}

/*
 * After the cut, the next op of each kind gets a status (the process
 * would die of SIGBUS without the guard); _i picks the op that meets the
 * cut first. The handle then serves through the daemon, which sees the
 * queue quarantined; other queues work.
 */
START_TEST(test_cut_segment_gives_a_status)
{
	cq_client *c = NULL;
	cq_queue *q = direct_queue(&c, "cut"), *o;
	const void *bufs[2] = {"a", "b"};
	size_t lens[2] = {1, 1}, n = 0;
	cq_queue_stat st;
	cq_msg *m = NULL, *ms[2];
	cq_status s = CQ_OK;
	int64_t len;
	int closed;

	ck_assert_int_eq(cq_push(q, "x", 1, 0), CQ_OK);
	cut_segment(_i % 2 == 0 ? 0 : 4096);
	switch (_i / 2) {
	case 0:
		s = cq_push(q, "y", 1, CQ_FOREVER);
		break;
	case 1:
		s = cq_pop(q, &m, CQ_FOREVER);
		break;
	case 2:
		s = cq_push_many(q, bufs, lens, 2, 0, 0);
		break;
	case 3:
		s = cq_pop_many(q, ms, 2, &n, 0);
		break;
	case 4:
		s = cq_length(q, &len);
		break;
	case 5:
		s = cq_is_closed(q, &closed);
		break;
	case 6:
		s = cq_stat(q, &st);
		break;
	}
	/* What the daemon says of the queue: quarantined (length, is_closed
	 * and stat answer from its handle without a status). */
	ck_assert_int_eq(s, _i / 2 >= 4 ? CQ_OK : CQ_CORRUPT);
	ck_assert_ptr_null(m);
	/* Cut at 4096, those three read only the header, which is left. */
	if (_i % 2 == 0 || _i / 2 < 4)
		ck_assert_int_eq(cq_queue_direct(q), 0);
	ck_assert_int_eq(cq_try_push(q, "z", 1), CQ_CORRUPT);
	ck_assert_int_eq(cq_queue_direct(q), 0);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_CORRUPT);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.quarantined, 1);
	cq_queue_free(q);
	cq_disconnect(c);
	/* The daemon lives, a new queue goes direct and works. */
	q = direct_queue(&c, "other");
	ck_assert_int_eq(cq_push(q, "k", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_open(c, "other", &o), CQ_OK);
	ck_assert_int_eq(cq_pop(o, &m, CQ_FOREVER), CQ_OK);
	ck_assert_mem_eq(cq_msg_data(m), "k", 1);
	cq_msg_free(m);
	cq_queue_free(o);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

static volatile sig_atomic_t app_got;

/* The application's own SIGBUS handler. */
static void
app_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	app_got++;
}

/* Whether SIGBUS's disposition now is the one in *sa. */
static int
same_disposition(const struct sigaction *sa)
{
	struct sigaction cur;

	ck_assert_int_eq(sigaction(SIGBUS, NULL, &cur), 0);
	if ((cur.sa_flags & SA_SIGINFO) != (sa->sa_flags & SA_SIGINFO))
		return 0;
	return (cur.sa_flags & SA_SIGINFO) != 0
	           ? cur.sa_sigaction == sa->sa_sigaction
	           : cur.sa_handler == sa->sa_handler;
}

/*
 * The handler is in place while direct handles exist, and only then:
 * the last one freed gives SIGBUS back. A SIGBUS that is not in a mapping
 * of ours reaches the handler that was there before (_i 1: the
 * application's; _i 0: whatever the process started with, not tested by
 * raising it).
 */
START_TEST(test_handler_only_while_mapped)
{
	struct sigaction before, app;
	cq_client *c = NULL;
	cq_queue *q, *q2;

	if (_i == 1) {
		memset(&app, 0, sizeof app);
		app.sa_sigaction = app_handler;
		app.sa_flags = SA_SIGINFO;
		sigemptyset(&app.sa_mask);
		ck_assert_int_eq(sigaction(SIGBUS, &app, NULL), 0);
	}
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &before), 0);
	q = direct_queue(&c, "h");
	ck_assert(!same_disposition(&before));
	ck_assert_int_eq(cq_open(c, "h", &q2), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q2), 1);
	if (_i == 1) {
		ck_assert_int_eq(raise(SIGBUS), 0);
		ck_assert_int_eq(app_got, 1);
	}
	cq_queue_free(q);
	ck_assert(!same_disposition(&before));
	ck_assert_int_eq(cq_push(q2, "s", 1, 0), CQ_OK);
	cq_queue_free(q2);
	ck_assert(same_disposition(&before));
	/* Socket handles hold nothing. */
	cq_disconnect(c);
	ck_assert_int_eq(
	    cq_connect_flags(&c, D.sock, NULL, CQ_CONNECT_NO_DIRECT), CQ_OK);
	ck_assert_int_eq(cq_open(c, "h", &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), 0);
	ck_assert(same_disposition(&before));
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
sigbus_suite(void)
{
	Suite *s = suite_create("client_sigbus");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, cleanup);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_cut_segment_gives_a_status, 0, 14);
	tcase_add_loop_test(tc, test_handler_only_while_mapped, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite (a registry sweeps what failed tests left behind). */
int
main(void)
{
	return tu_run(sigbus_suite(), "client_sigbus");
}
