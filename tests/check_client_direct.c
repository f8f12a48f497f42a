/* check_client_direct.c - the client's direct path against a real daemon. */

/*
 * A handle opened by a client with read and write on the queue maps its
 * segment (DESIGN 2.5). Each scenario runs twice, once on a direct handle
 * and once on a socket handle (CQ_CONNECT_NO_DIRECT), and asserts the same
 * results; the two paths then trade messages across processes, close wakes
 * waiters of both kinds, and direct traffic outlives a stopped or killed
 * daemon. Waiting is on state (stat polled in a bounded loop), never on
 * time.
 */

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testutil.h"

#define SETTLE_MS 20000 /* bound of a wait on state (loaded machine) */
#define NMSG      10000

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
	tu_registry_note(&D);
	atexit(cleanup);
}

/* A connection: direct handles unless socket_only. */
static cq_client *
conn(int socket_only)
{
	cq_client *c = NULL;

	ck_assert_int_eq(
	    cq_connect_flags(&c, D.sock, NULL,
	        socket_only ? CQ_CONNECT_NO_DIRECT : CQ_CONNECT_DIRECT),
	    CQ_OK);
	return c;
}

/* Open name on c and check which path it got. */
static cq_queue *
openq(cq_client *c, const char *name, int direct)
{
	cq_queue *q = NULL;

	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), direct);
	return q;
}

/* Create name with capacity cap and max_size 64 (bands 2). */
static void
mkq(cq_client *c, const char *name, uint32_t cap, int serial)
{
	cq_queue_attr a;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.max_size = 64;
	a.bands = 2;
	a.serial = serial;
	ck_assert_int_eq(cq_create(c, name, &a), CQ_OK);
}

/* Pop one message and check its text (and band). */
static void
pop_is(cq_queue *q, int64_t t, const char *want, unsigned band)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_pop(q, &m, t), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(want));
	ck_assert_mem_eq(cq_msg_data(m), want, strlen(want));
	ck_assert_uint_eq(cq_msg_band(m), band);
	ck_assert_uint_eq(cq_msg_deliveries(m), 1);
	ck_assert_uint_ne(cq_msg_id(m), 0);
	cq_msg_free(m);
}

/* Wait until q's stat says poppers/pushers wait (both paths counted). */
static void
wait_waiters(cq_queue *q, uint32_t poppers, uint32_t pushers)
{
	cq_queue_stat st;
	int64_t end = tu_now_ms() + SETTLE_MS;
	cq_status s;

	for (;;) {
		/* CQ_BUSY: the lock was held past the lock timeout (valgrind
		 * makes every holder slow); ask again. */
		s = cq_stat(q, &st);
		ck_assert_msg(s == CQ_OK || s == CQ_BUSY, "stat: %s",
		    cq_status_name(s));
		if (s == CQ_OK && st.waiting_poppers >= poppers &&
		    st.waiting_pushers >= pushers)
			return;
		ck_assert_msg(tu_now_ms() < end, "waiters never showed up");
		usleep(1000);
	}
}

/*
 * The direct path is the default: a plain connection maps, and so does
 * CQ_CONNECT_DIRECT or CONQUEUE_DIRECT=1 (the opt-ins of 0.4);
 * CQ_CONNECT_NO_DIRECT or CONQUEUE_DIRECT=0 keep handles on the socket.
 */
START_TEST(test_direct_by_default_and_opt_outs)
{
	cq_client *c = conn(0), *s = conn(1), *e, *bad = NULL;
	cq_queue *q;

	mkq(c, "dq", 8, 0);
	q = openq(c, "dq", 1);
	cq_queue_free(q);
	q = openq(s, "dq", 0);
	cq_queue_free(q);
	ck_assert_int_eq(cq_connect(&e, D.sock), CQ_OK);
	q = openq(e, "dq", 1);
	cq_queue_free(q);
	cq_disconnect(e);
	setenv("CONQUEUE_DIRECT", "1", 1);
	ck_assert_int_eq(cq_connect(&e, D.sock), CQ_OK);
	q = openq(e, "dq", 1);
	cq_queue_free(q);
	cq_disconnect(e);
	ck_assert_int_eq(
	    cq_connect_flags(&e, D.sock, NULL, CQ_CONNECT_NO_DIRECT), CQ_OK);
	q = openq(e, "dq", 0);
	cq_queue_free(q);
	cq_disconnect(e);
	setenv("CONQUEUE_DIRECT", "0", 1);
	e = conn(0);
	q = openq(e, "dq", 0);
	cq_queue_free(q);
	cq_disconnect(e);
	ck_assert_int_eq(cq_connect(&e, D.sock), CQ_OK);
	q = openq(e, "dq", 0);
	cq_queue_free(q);
	cq_disconnect(e);
	unsetenv("CONQUEUE_DIRECT");
	ck_assert_int_eq(
	    cq_connect_flags(&bad, D.sock, NULL, 0x80u), CQ_INVALID);
	ck_assert_ptr_null(bad);
	/* Serial queues need the daemon for every pop. */
	mkq(c, "ser", 8, 1);
	q = openq(c, "ser", 0);
	cq_queue_free(q);
	ck_assert_int_eq(cq_queue_direct(NULL), 0);
	cq_disconnect(s);
	cq_disconnect(c);
}
END_TEST

/* The same scenarios give the same results on both paths (_i: socket). */
START_TEST(test_same_results_on_both_paths)
{
	cq_client *c = conn(_i);
	cq_queue *q;
	cq_queue_stat st;
	cq_msg *ms[8] = {NULL};
	const void *bufs[5] = {"a", "b", "c", "d", "e"};
	size_t lens[5] = {1, 1, 1, 1, 1}, n = 0, i;
	char big[65];
	int64_t len;
	int closed = -1;

	mkq(c, "t", 4, 0);
	q = openq(c, "t", !_i);
	/* Empty: try and timed pops. */
	ck_assert_int_eq(cq_try_pop(q, &ms[0]), CQ_EMPTY);
	ck_assert_ptr_null(ms[0]);
	ck_assert_int_eq(cq_pop(q, &ms[0], 20), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 0);
	/* Too big, bad band, batch over capacity. */
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(cq_push(q, big, 65, 0), CQ_TOOBIG);
	ck_assert_int_eq(cq_push(q, big, 64, 0), CQ_OK);
	pop_is(q, 0,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    0);
	ck_assert_int_eq(cq_push_band(q, "z", 1, 2, 0), CQ_INVALID);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 5, 0, 0), CQ_INVALID);
	/* Order: bands first, push_front at the head of its band. */
	ck_assert_int_eq(cq_push(q, "1", 1, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_push_band(q, "h", 1, 1, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_push_front(q, "0", 1, 0, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "2", 1), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "3", 1), CQ_FULL);
	ck_assert_int_eq(cq_push(q, "3", 1, 20), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 4);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_str_eq(st.name, "t");
	ck_assert_uint_eq(st.capacity, 4);
	ck_assert_uint_eq(st.max_size, 64);
	ck_assert_uint_eq(st.length, 4);
	ck_assert_uint_eq(st.total_pushed, 5);
	ck_assert_uint_eq(st.total_popped, 1);
	ck_assert_int_eq(st.closed, 0);
	pop_is(q, CQ_FOREVER, "h", 1);
	pop_is(q, 0, "0", 0);
	/* push_many: all or nothing (2 free, 3 asked). */
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 3, 0, 0), CQ_FULL);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 2, 0, 0), CQ_OK);
	ck_assert_int_eq(cq_pop_many(q, ms, 8, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(cq_msg_data(ms[0]), "1", 1);
	ck_assert_mem_eq(cq_msg_data(ms[1]), "2", 1);
	ck_assert_mem_eq(cq_msg_data(ms[2]), "a", 1);
	ck_assert_mem_eq(cq_msg_data(ms[3]), "b", 1);
	for (i = 0; i < n; i++)
		cq_msg_free(ms[i]);
	/* Paused: pops find nothing, pushes go on. */
	ck_assert_int_eq(cq_pause(q), CQ_OK);
	ck_assert_int_eq(cq_push(q, "p", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_try_pop(q, &ms[0]), CQ_EMPTY);
	ck_assert_int_eq(cq_pop(q, &ms[0], 20), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_resume(q), CQ_OK);
	/* Closed: pushes refused, pops drain, then CQ_CLOSED. */
	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 0);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_is_closed(q, &closed), CQ_OK);
	ck_assert_int_eq(closed, 1);
	ck_assert_int_eq(cq_push(q, "x", 1, CQ_FOREVER), CQ_CLOSED);
	ck_assert_int_eq(cq_push_many(q, bufs, lens, 2, 0, 0), CQ_CLOSED);
	pop_is(q, CQ_FOREVER, "p", 0);
	ck_assert_int_eq(cq_pop(q, &ms[0], CQ_FOREVER), CQ_CLOSED);
	ck_assert_int_eq(cq_try_pop(q, &ms[0]), CQ_CLOSED);
	ck_assert_int_eq(cq_pop_many(q, ms, 8, &n, 0), CQ_CLOSED);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.closed, 1);
	/* Reservations still work on a direct handle (through the daemon). */
	mkq(c, "r", 4, 0);
	cq_queue_free(q);
	q = openq(c, "r", !_i);
	ck_assert_int_eq(cq_push(q, "r", 1, 0), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &ms[0], 0, 10000), CQ_OK);
	ck_assert_int_eq(cq_ack(q, cq_msg_id(ms[0])), CQ_OK);
	cq_msg_free(ms[0]);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/*
 * A forked producer on one path and a consumer on the other move NMSG
 * messages in order; the consumer starts first, so the first pop blocks
 * and is served by the other path's push. _i: 0 direct producer, 1 socket.
 */
START_TEST(test_cross_path_exchange_in_order)
{
	cq_client *c = conn(0);
	cq_queue *q;
	pid_t pid;
	char buf[32];
	cq_msg *m;
	int i, st;

	mkq(c, "x", 64, 0);
	cq_disconnect(c);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The producer: waits until the consumer is parked. */
		c = conn(_i);
		q = openq(c, "x", !_i);
		wait_waiters(q, 1, 0);
		for (i = 0; i < NMSG; i++) {
			snprintf(buf, sizeof buf, "m%d", i);
			if (cq_push(q, buf, strlen(buf), CQ_FOREVER) != CQ_OK)
				_exit(1);
		}
		cq_disconnect(c);
		_exit(0);
	}
	c = conn(!_i);
	q = openq(c, "x", _i);
	for (i = 0; i < NMSG; i++) {
		ck_assert_int_eq(cq_pop(q, &m, CQ_FOREVER), CQ_OK);
		snprintf(buf, sizeof buf, "m%d", i);
		ck_assert_uint_eq(cq_msg_len(m), strlen(buf));
		ck_assert_mem_eq(cq_msg_data(m), buf, strlen(buf));
		cq_msg_free(m);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cq_disconnect(c);
}
END_TEST

/* A pusher blocked on a full queue is freed by a pop on the other path
 * (_i: 0 direct pusher, 1 socket pusher). */
START_TEST(test_blocked_push_freed_by_other_path)
{
	cq_client *c = conn(!_i);
	cq_queue *q;
	pid_t pid;
	int st;

	mkq(c, "one", 1, 0);
	q = openq(c, "one", _i);
	ck_assert_int_eq(cq_push(q, "a", 1, 0), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cq_client *pc = conn(_i);
		cq_queue *pq;

		if (cq_open(pc, "one", &pq) != CQ_OK ||
		    cq_queue_direct(pq) != !_i)
			_exit(100);
		_exit((int)cq_push(pq, "b", 1, CQ_FOREVER));
	}
	wait_waiters(q, 0, 1);
	pop_is(q, CQ_FOREVER, "a", 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), CQ_OK);
	pop_is(q, CQ_FOREVER, "b", 0);
	cq_disconnect(c);
}
END_TEST

/* Fork a child that runs one blocking op on q's path; exits with it. */
static pid_t
waiter(int socket_only, int push)
{
	pid_t pid = fork();
	cq_client *c;
	cq_queue *q;
	cq_msg *m = NULL;
	cq_status st;

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	c = conn(socket_only);
	q = openq(c, push ? "full" : "empty", !socket_only);
	if (push)
		st = cq_push(q, "w", 1, CQ_FOREVER);
	else
		st = cq_pop(q, &m, CQ_FOREVER);
	_exit((int)st);
}

/* Close through the socket wakes direct and socket waiters: CQ_CLOSED. */
START_TEST(test_close_wakes_waiters_of_both_paths)
{
	cq_client *c = conn(1);
	cq_queue *e, *f;
	pid_t pids[8];
	int i, st, n = 0;

	mkq(c, "empty", 4, 0);
	mkq(c, "full", 1, 0);
	e = openq(c, "empty", 0);
	f = openq(c, "full", 0);
	ck_assert_int_eq(cq_push(f, "f", 1, 0), CQ_OK);
	for (i = 0; i < 2; i++) {
		pids[n++] = waiter(i, 0);
		pids[n++] = waiter(i, 1);
	}
	wait_waiters(e, 2, 0);
	wait_waiters(f, 0, 2);
	ck_assert_int_eq(cq_close(e), CQ_OK);
	ck_assert_int_eq(cq_close(f), CQ_OK);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), CQ_CLOSED);
	}
	cq_disconnect(c);
}
END_TEST

/* Direct traffic goes on while the daemon is stopped, killed, restarted. */
START_TEST(test_direct_outlives_the_daemon)
{
	cq_client *c = conn(0);
	cq_queue *q;
	int i;

	mkq(c, "live", 16, 0);
	q = openq(c, "live", 1);
	ck_assert_int_eq(kill(D.pid, SIGSTOP), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(cq_push(q, "s", 1, CQ_FOREVER), CQ_OK);
		pop_is(q, CQ_FOREVER, "s", 0);
	}
	ck_assert_int_eq(kill(D.pid, SIGCONT), 0);
	tu_daemon_kill(&D);
	ck_assert_int_eq(cq_push(q, "k", 1, CQ_FOREVER), CQ_OK);
	pop_is(q, CQ_FOREVER, "k", 0);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	ck_assert_int_eq(cq_push(q, "r", 1, CQ_FOREVER), CQ_OK);
	pop_is(q, CQ_FOREVER, "r", 0);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

/* Entries in /proc/self/fd. */
static int
nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* 100 open/free cycles and a disconnect leave no fd behind. */
START_TEST(test_no_fd_leak)
{
	cq_client *c;
	cq_queue *q;
	int before, i;

	c = conn(0);
	mkq(c, "leak", 4, 0);
	cq_disconnect(c);
	before = nfds();
	c = conn(0);
	for (i = 0; i < 100; i++) {
		q = openq(c, "leak", 1);
		ck_assert_int_eq(cq_push(q, "l", 1, 0), CQ_OK);
		pop_is(q, 0, "l", 0);
		cq_queue_free(q);
	}
	/* Handles left to cq_disconnect are released too. */
	for (i = 0; i < 3; i++)
		(void)openq(c, "leak", 1);
	cq_disconnect(c);
	ck_assert_int_eq(nfds(), before);
}
END_TEST

/* The suite. */
static Suite *
direct_suite(void)
{
	Suite *s = suite_create("client_direct");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, cleanup);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_direct_by_default_and_opt_outs);
	tcase_add_loop_test(tc, test_same_results_on_both_paths, 0, 2);
	tcase_add_loop_test(tc, test_cross_path_exchange_in_order, 0, 2);
	tcase_add_loop_test(tc, test_blocked_push_freed_by_other_path, 0, 2);
	tcase_add_test(tc, test_close_wakes_waiters_of_both_paths);
	tcase_add_test(tc, test_direct_outlives_the_daemon);
	tcase_add_test(tc, test_no_fd_leak);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then sweep what failed tests left behind. */
int
main(void)
{
	SRunner *sr = srunner_create(direct_suite());
	int failed;

	tu_registry_open("client_direct");
	srunner_run_all(sr, CK_NORMAL);
	tu_registry_sweep();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
