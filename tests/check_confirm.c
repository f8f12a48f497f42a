/* check_confirm.c - a message handed to the caller is confirmed at once. */

/*
 * The library confirms a plain pop's messages to the daemon with a one-way
 * receipt as soon as it hands them over, not on its next request. So a
 * program that exits (or is killed) without cq_disconnect right after a
 * pop does not get the message redelivered, and an idle consumer does not
 * keep it in flight. Each test watches the daemon's figures from a second
 * connection and waits on state (stat polled in a bounded loop).
 */

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* How long a figure may take to settle: generous for a loaded machine. */
#define SETTLE_MS 20000

/* Each test (a forked child) gets a private daemon. */
static void
setup(void)
{
	tc_setup();
	tu_registry_note(&tc_d);
}

/* Create queue name and push the n messages "m0".."m<n-1>" to it. */
static void
fill(cq_client *c, const char *name, int n)
{
	cq_queue *q;
	char buf[16];
	int i;

	ck_assert_int_eq(cq_create(c, name, NULL), CQ_OK);
	q = tc_openq(c, name);
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		ck_assert_int_eq(cq_push(q, buf, strlen(buf), 0), CQ_OK);
	}
	cq_queue_free(q);
}

/*
 * Poll q's stat until nothing is in flight (the watcher's own calls never
 * confirm anything for the consumer under test); fails past SETTLE_MS.
 */
static cq_queue_stat
settle(cq_queue *q)
{
	cq_queue_stat st;
	int64_t until = tu_now_ms() + SETTLE_MS;

	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.in_flight == 0)
			return st;
		ck_assert_msg(tu_now_ms() < until,
		    "in_flight still %llu after %d ms",
		    (unsigned long long)st.in_flight, SETTLE_MS);
		poll(NULL, 0, 5);
	}
}

/* After settle: the queue is empty and nothing comes back. */
static void
assert_gone(cq_queue *q, uint64_t popped)
{
	cq_queue_stat st = settle(q);
	cq_msg *m = NULL;

	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.total_popped, popped);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_ptr_null(m);
}

/*
 * In a child: pop one message from "dq", write its id to fd, then either
 * _exit(0) at once (no cq_disconnect) or wait to be killed.
 */
static void
child_pop(int fd, int wait_for_kill)
{
	cq_client *c;
	cq_queue *q;
	cq_msg *m;
	uint64_t id;

	if (cq_connect(&c, tc_d.sock) != CQ_OK ||
	    cq_open(c, "dq", &q) != CQ_OK || cq_pop(q, &m, CQ_FOREVER) != CQ_OK)
		_exit(3);
	id = cq_msg_id(m);
	if (write(fd, &id, sizeof id) != (ssize_t)sizeof id)
		_exit(4);
	if (wait_for_kill)
		for (;;)
			pause();
	_exit(0);
}

/* Fork a consumer that pops one message and ends as told; its id. */
static uint64_t
pop_in_child(int kill_it)
{
	int fds[2], ws;
	uint64_t id = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		close(fds[0]);
		child_pop(fds[1], kill_it);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &id, sizeof id), (ssize_t)sizeof id);
	close(fds[0]);
	if (kill_it)
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	if (kill_it)
		ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	else
		ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	return id;
}

START_TEST(test_pop_then_exit_without_disconnect_is_not_redelivered)
{
	cq_client *c = tc_conn();
	cq_queue *q;
	cq_msg *m = NULL;
	uint64_t id;

	fill(c, "dq", 2);
	q = tc_openq(c, "dq");
	id = pop_in_child(0);
	/* Exactly the second message is left, delivered once. */
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	ck_assert_uint_ne(cq_msg_id(m), id);
	ck_assert_str_eq((const char *)cq_msg_data(m), "m1");
	ck_assert_uint_eq(cq_msg_deliveries(m), 1);
	cq_msg_free(m);
	assert_gone(q, 2);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_pop_then_killed_while_processing_is_not_redelivered)
{
	cq_client *c = tc_conn();
	cq_queue *q;

	fill(c, "dq", 1);
	q = tc_openq(c, "dq");
	/* Killed after cq_pop returned, before any other call. */
	pop_in_child(1);
	assert_gone(q, 1);
	cq_queue_free(q);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_idle_consumer_keeps_nothing_in_flight)
{
	cq_client *c = tc_conn(), *w = tc_conn();
	cq_queue *q, *wq;
	cq_msg *m = NULL, *ms[4] = {NULL};
	size_t n = 0, i;

	fill(w, "iq", 4);
	wq = tc_openq(w, "iq");
	q = tc_openq(c, "iq");
	/* try_pop, then the consumer idles: no further call on c. */
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	ck_assert_str_eq((const char *)cq_msg_data(m), "m0");
	ck_assert_uint_eq(settle(wq).length, 3);
	/* pop_many: one receipt confirms the whole batch. */
	ck_assert_int_eq(cq_pop_many(q, ms, 4, &n, 0), CQ_OK);
	ck_assert_uint_eq(n, 3);
	assert_gone(wq, 4);
	for (i = 0; i < n; i++)
		cq_msg_free(ms[i]);
	cq_msg_free(m);
	cq_queue_free(wq);
	cq_queue_free(q);
	cq_disconnect(w);
	cq_disconnect(c);
}
END_TEST

/* Async pop callback: keep the message. */
static void
keep_cb(cq_status st, cq_msg *m, void *arg)
{
	cq_msg **out = arg;

	ck_assert_int_eq(st, CQ_OK);
	*out = m;
}

START_TEST(test_async_pop_confirmed_when_its_callback_ran)
{
	cq_client *c = tc_conn(), *w = tc_conn();
	cq_queue *q, *wq;
	cq_msg *m1 = NULL, *m2 = NULL;

	fill(w, "aq", 2);
	wq = tc_openq(w, "aq");
	q = tc_openq(c, "aq");
	/* Both callbacks run inside the blocking ping (their replies come
	 * first); after it the consumer idles. */
	ck_assert_int_eq(
	    cq_pop_async(q, CQ_FOREVER, keep_cb, &m1, NULL), CQ_OK);
	ck_assert_int_eq(
	    cq_pop_async(q, CQ_FOREVER, keep_cb, &m2, NULL), CQ_OK);
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	ck_assert_ptr_nonnull(m1);
	ck_assert_ptr_nonnull(m2);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	assert_gone(wq, 2);
	cq_msg_free(m1);
	cq_msg_free(m2);
	cq_queue_free(wq);
	cq_queue_free(q);
	cq_disconnect(w);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
confirm_suite(void)
{
	Suite *s = suite_create("confirm");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(
	    tc, test_pop_then_exit_without_disconnect_is_not_redelivered);
	tcase_add_test(
	    tc, test_pop_then_killed_while_processing_is_not_redelivered);
	tcase_add_test(tc, test_idle_consumer_keeps_nothing_in_flight);
	tcase_add_test(tc, test_async_pop_confirmed_when_its_callback_ran);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then sweep what failed tests left behind. */
int
main(void)
{
	SRunner *sr = srunner_create(confirm_suite());
	int failed;

	tu_registry_open("confirm");
	srunner_run_all(sr, CK_NORMAL);
	tu_registry_sweep();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
