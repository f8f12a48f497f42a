/* check_client_browse.c - peek, purge, remove, pop_any through the library. */

/*
 * Issue 18: each goes through the daemon (also on a direct handle) as one
 * operation under the queue's lock; a direct client's next operation sees
 * the result, and a purge or remove that makes room serves parked pushers.
 */

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* Each test (a forked child) gets a private daemon. */
static void
setup(void)
{
	unsetenv("CONQUEUE_DIRECT");
	tc_setup();
	tu_registry_note(&tc_d);
}

/* Create name: capacity cap, 2 bands. */
static void
mkq(cq_client *c, const char *name, uint32_t cap)
{
	cq_queue_attr a;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.max_size = 64;
	a.bands = 2;
	ck_assert_int_eq(cq_create(c, name, &a), CQ_OK);
}

/* Push text to band of q; its id, read back with a peek of everything. */
static void
push(cq_queue *q, const char *text, unsigned band)
{
	ck_assert_int_eq(
	    cq_push_band(q, text, strlen(text), band, CQ_FOREVER), CQ_OK);
}

/* Peek up to 16 messages of q: their texts joined by spaces in buf. */
static cq_status
peek_texts(cq_queue *q, char *buf, size_t len, uint64_t *ids)
{
	cq_msg *m[16];
	size_t n = 99, i, l;
	cq_status st;

	buf[0] = '\0';
	st = cq_peek(q, m, 16, &n);
	if (st != CQ_OK)
		ck_assert_uint_eq(n, 0);
	for (i = 0; st == CQ_OK && i < n; i++) {
		l = strlen(buf);
		snprintf(buf + l, len - l, "%s%.*s", l ? " " : "",
		    (int)cq_msg_len(m[i]), (const char *)cq_msg_data(m[i]));
		ck_assert_uint_eq(cq_msg_deliveries(m[i]), 0);
		if (ids != NULL)
			ids[i] = cq_msg_id(m[i]);
		cq_msg_free(m[i]);
	}
	return st;
}

START_TEST(test_peek_purge_remove_through_the_daemon)
{
	cq_client *c = tc_conn();
	cq_queue *q;
	cq_queue_stat st;
	cq_msg *m[4], *pm = NULL;
	uint64_t ids[16], count = 99;
	size_t n = 99;
	char buf[256];

	mkq(c, "b", 8);
	q = tc_openq(c, "b");
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, NULL), CQ_EMPTY);
	push(q, "a", 0);
	push(q, "b", 0);
	push(q, "c", 0);
	push(q, "z", 1);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, ids), CQ_OK);
	ck_assert_str_eq(buf, "z a b c");
	ck_assert_int_eq(cq_peek(q, m, 2, &n), CQ_OK);
	ck_assert_uint_eq(n, 2);
	cq_msg_free(m[0]);
	cq_msg_free(m[1]);
	ck_assert_int_eq(cq_peek(q, m, 0, &n), CQ_INVALID);
	ck_assert_int_eq(cq_peek(NULL, m, 1, &n), CQ_INVALID);

	/* Remove by id; a gone id and one in flight are not queued. */
	ck_assert_int_eq(cq_remove(q, ids[2]), CQ_OK);
	ck_assert_int_eq(cq_remove(q, ids[2]), CQ_NOTFOUND);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, NULL), CQ_OK);
	ck_assert_str_eq(buf, "z a c");
	ck_assert_int_eq(cq_reserve(q, &pm, 0, 0), CQ_OK);
	ck_assert_int_eq(cq_remove(q, cq_msg_id(pm)), CQ_NOTFOUND);

	/* Purge takes the queued ones only. */
	ck_assert_int_eq(cq_purge(q, &count), CQ_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, NULL), CQ_EMPTY);
	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_int_eq(cq_ack(q, cq_msg_id(pm)), CQ_OK);
	cq_msg_free(pm);
	ck_assert_int_eq(cq_purge_by_name(c, "b", &count), CQ_OK);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(cq_purge_by_name(c, "nonesuch", &count), CQ_NOTFOUND);
	ck_assert_int_eq(cq_purge_by_name(c, "bad/name", NULL), CQ_INVALID);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, NULL), CQ_CLOSED);
	cq_disconnect(c);
}
END_TEST

/* cq_push_cb: count completions with their status. */
static int pushed_ok, pushed_done;
static void
pushed(cq_status st, void *arg)
{
	(void)arg;
	pushed_ok += st == CQ_OK;
	pushed_done++;
}

/* _i: 0 purge, 1 remove makes the room a parked pusher waits for. */
START_TEST(test_room_made_serves_parked_pushers)
{
	cq_client *c = tc_conn(), *c2 = tc_conn();
	cq_queue *q, *q2;
	cq_queue_stat st;
	uint64_t ids[16];
	char buf[256];
	int64_t end;

	mkq(c, "full", 2);
	q = tc_openq(c, "full");
	q2 = tc_openq(c2, "full");
	push(q, "one", 0);
	push(q, "two", 0);
	ck_assert_int_eq(
	    cq_push_async(q2, "three", 5, 0, CQ_FOREVER, pushed, NULL, NULL),
	    CQ_OK);
	/* Wait until the daemon has it parked (stat counts it). */
	end = tu_now_ms() + 20000;
	do {
		tc_run_until(c2, &pushed_done, 0);
		cq_client_process(c2);
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		ck_assert_msg(tu_now_ms() < end, "pusher never parked");
		if (st.waiting_pushers == 0)
			poll(NULL, 0, 2);
	} while (st.waiting_pushers == 0);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, ids), CQ_OK);
	if (_i == 0)
		ck_assert_int_eq(cq_purge(q, NULL), CQ_OK);
	else
		ck_assert_int_eq(cq_remove(q, ids[0]), CQ_OK);
	tc_run_until(c2, &pushed_done, 1);
	ck_assert_int_eq(pushed_ok, 1);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, NULL), CQ_OK);
	ck_assert_str_eq(buf, _i == 0 ? "three" : "two three");
	cq_disconnect(c2);
	cq_disconnect(c);
}
END_TEST

/* A direct handle's next operations see a purge and a remove at once. */
START_TEST(test_direct_client_sees_the_effect)
{
	cq_client *c = NULL;
	cq_queue *q;
	cq_msg *m = NULL;
	uint64_t ids[16], count = 0;
	char buf[256];
	int i;

	ck_assert_int_eq(
	    cq_connect_flags(&c, tc_d.sock, NULL, CQ_CONNECT_DIRECT), CQ_OK);
	mkq(c, "d", 4);
	q = tc_openq(c, "d");
	ck_assert_int_eq(cq_queue_direct(q), 1);
	push(q, "a", 0);
	push(q, "b", 0);
	push(q, "c", 0);
	ck_assert_int_eq(peek_texts(q, buf, sizeof buf, ids), CQ_OK);
	ck_assert_str_eq(buf, "a b c");
	ck_assert_int_eq(cq_remove(q, ids[0]), CQ_OK);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	ck_assert_mem_eq(cq_msg_data(m), "b", 1);
	cq_msg_free(m);
	ck_assert_int_eq(cq_purge(q, &count), CQ_OK);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	/* Every slot is free again for the direct pusher. */
	for (i = 0; i < 4; i++)
		push(q, "f", 1);
	ck_assert_int_eq(cq_try_push(q, "g", 1), CQ_FULL);
	cq_disconnect(c);
}
END_TEST


/* Pop-any callback: record status, index and the message's text. */
struct anyres {
	int done;
	cq_status st;
	size_t index;
	char text[32];
};

static void
any_cb(cq_status st, size_t index, cq_msg *m, void *arg)
{
	struct anyres *r = arg;

	r->st = st;
	r->index = index;
	r->text[0] = '\0';
	if (m != NULL) {
		snprintf(r->text, sizeof r->text, "%.*s", (int)cq_msg_len(m),
		    (const char *)cq_msg_data(m));
		cq_msg_free(m);
	}
	r->done = 1;
}

/* Wait until queue name counts poppers waiting (parked in the daemon). */
static void
wait_poppers(cq_client *c, const char *name, uint32_t want)
{
	cq_queue_stat st;
	int64_t end = tu_now_ms() + 20000;

	for (;;) {
		ck_assert_int_eq(cq_stat_by_name(c, name, &st, sizeof st), CQ_OK);
		if (st.waiting_poppers == want)
			return;
		ck_assert_msg(tu_now_ms() < end, "%s: %u poppers, want %u",
		    name, st.waiting_poppers, want);
		poll(NULL, 0, 2);
	}
}

/* Queued messages of name. */
static uint64_t
qlen(cq_client *c, const char *name)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat_by_name(c, name, &st, sizeof st), CQ_OK);
	return st.length;
}

static const char *const three[] = {"q1", "q2", "q3"};

START_TEST(test_pop_any_takes_the_first_in_order)
{
	cq_client *c = tc_conn();
	cq_queue *q2, *q3;
	const char *bad[] = {"q1", "nonesuch"};
	cq_msg *m = NULL;
	size_t index = 99;
	int i;

	for (i = 0; i < 3; i++)
		mkq(c, three[i], 4);
	q2 = tc_openq(c, "q2");
	q3 = tc_openq(c, "q3");
	ck_assert_int_eq(cq_try_pop_any(c, three, 3, &index, &m), CQ_EMPTY);
	ck_assert_ptr_null(m);
	push(q3, "c", 0);
	push(q2, "b", 0);
	ck_assert_int_eq(cq_pop_any(c, three, 3, &index, &m, 0), CQ_OK);
	ck_assert_uint_eq(index, 1);
	ck_assert_mem_eq(cq_msg_data(m), "b", 1);
	cq_msg_free(m);
	ck_assert_int_eq(cq_try_pop_any(c, three, 3, &index, &m), CQ_OK);
	ck_assert_uint_eq(index, 2);
	cq_msg_free(m);
	/* Bad arguments and names take nothing. */
	push(q2, "x", 0);
	ck_assert_int_eq(cq_try_pop_any(c, bad, 2, &index, &m), CQ_NOTFOUND);
	ck_assert_int_eq(cq_try_pop_any(c, three, 0, &index, &m), CQ_INVALID);
	ck_assert_int_eq(cq_try_pop_any(c, three, CQ_POP_ANY_MAX + 1, &index,
	                     &m),
	    CQ_INVALID);
	ck_assert_int_eq(cq_try_pop_any(c, three, 3, NULL, &m), CQ_INVALID);
	ck_assert_uint_eq(qlen(c, "q2"), 1);
	/* The message handed over is confirmed: nothing stays in flight. */
	ck_assert_int_eq(cq_pop_any(c, three, 3, &index, &m, 0), CQ_OK);
	cq_msg_free(m);
	cq_disconnect(c);
	c = tc_conn();
	ck_assert_uint_eq(qlen(c, "q2"), 0);
	cq_disconnect(c);
}
END_TEST

/*
 * Parked on three queues; pushes to two of them arrive together: the pop
 * takes one message (from the first push), the other stays, and the pop
 * leaves every line. _i: 0 socket pushes, 1 direct pushes (the doorbell).
 */
START_TEST(test_pop_any_parked_takes_one_of_several)
{
	cq_client *c = tc_conn(), *c2 = NULL;
	cq_queue *q2, *q3;
	struct anyres r;
	int i;

	for (i = 0; i < 3; i++)
		mkq(c, three[i], 4);
	ck_assert_int_eq(cq_connect_flags(&c2, tc_d.sock, NULL,
	                     _i ? CQ_CONNECT_DIRECT : CQ_CONNECT_NO_DIRECT),
	    CQ_OK);
	q2 = tc_openq(c2, "q2");
	q3 = tc_openq(c2, "q3");
	ck_assert_int_eq(cq_queue_direct(q3), _i);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(
	    cq_pop_any_async(c, three, 3, CQ_FOREVER, any_cb, &r, NULL), CQ_OK);
	for (i = 0; i < 3; i++) {
		cq_client_process(c);
		wait_poppers(c2, three[i], 1);
	}
	push(q3, "c", 0);
	push(q2, "b", 0);
	tc_run_until(c, &r.done, 1);
	ck_assert_int_eq(r.st, CQ_OK);
	ck_assert_uint_eq(r.index, 2);
	ck_assert_str_eq(r.text, "c");
	for (i = 0; i < 3; i++)
		wait_poppers(c2, three[i], 0);
	ck_assert_uint_eq(qlen(c2, "q2"), 1);
	ck_assert_uint_eq(qlen(c2, "q3"), 0);
	cq_disconnect(c2);
	cq_disconnect(c);
}
END_TEST

/* Deadline, cancel, close of every queue, delete of one. */
START_TEST(test_pop_any_ends_by_timeout_cancel_close_delete)
{
	cq_client *c = tc_conn(), *c2 = tc_conn();
	const char *two[] = {"q1", "q2"};
	struct anyres r;
	cq_msg *m = NULL;
	cq_op *op = NULL;
	size_t index;

	mkq(c, "q1", 4);
	mkq(c, "q2", 4);
	ck_assert_int_eq(cq_pop_any(c, two, 2, &index, &m, 50), CQ_TIMEDOUT);
	wait_poppers(c2, "q1", 0);
	wait_poppers(c2, "q2", 0);

	memset(&r, 0, sizeof r);
	ck_assert_int_eq(
	    cq_pop_any_async(c, two, 2, CQ_FOREVER, any_cb, &r, &op), CQ_OK);
	cq_client_process(c);
	wait_poppers(c2, "q2", 1);
	ck_assert_int_eq(cq_op_cancel(op), CQ_OK);
	tc_run_until(c, &r.done, 1);
	ck_assert_int_eq(r.st, CQ_CANCELED);
	wait_poppers(c2, "q1", 0);
	wait_poppers(c2, "q2", 0);

	/* Closing one keeps it waiting on the other; closing both ends it. */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(
	    cq_pop_any_async(c, two, 2, CQ_FOREVER, any_cb, &r, NULL), CQ_OK);
	cq_client_process(c);
	wait_poppers(c2, "q2", 1);
	ck_assert_int_eq(cq_close_by_name(c2, "q1"), CQ_OK);
	wait_poppers(c2, "q1", 0);
	ck_assert_int_eq(r.done, 0);
	wait_poppers(c2, "q2", 1);
	ck_assert_int_eq(cq_close_by_name(c2, "q2"), CQ_OK);
	tc_run_until(c, &r.done, 1);
	ck_assert_int_eq(r.st, CQ_CLOSED);
	ck_assert_int_eq(cq_try_pop_any(c, two, 2, &index, &m), CQ_CLOSED);

	/* Deleting one of the queues ends a parked pop_any too. */
	mkq(c, "q3", 4);
	mkq(c, "q4", 4);
	two[0] = "q3";
	two[1] = "q4";
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(
	    cq_pop_any_async(c, two, 2, CQ_FOREVER, any_cb, &r, NULL), CQ_OK);
	cq_client_process(c);
	wait_poppers(c2, "q4", 1);
	ck_assert_int_eq(cq_delete(c2, "q4"), CQ_OK);
	tc_run_until(c, &r.done, 1);
	ck_assert_int_eq(r.st, CQ_CLOSED);
	wait_poppers(c2, "q3", 0);
	cq_disconnect(c2);
	cq_disconnect(c);
}
END_TEST

/* The suite. */
static Suite *
browse_suite(void)
{
	Suite *s = suite_create("client_browse");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_peek_purge_remove_through_the_daemon);
	tcase_add_loop_test(tc, test_room_made_serves_parked_pushers, 0, 2);
	tcase_add_test(tc, test_direct_client_sees_the_effect);
	tcase_add_test(tc, test_pop_any_takes_the_first_in_order);
	tcase_add_loop_test(tc, test_pop_any_parked_takes_one_of_several, 0, 2);
	tcase_add_test(tc, test_pop_any_ends_by_timeout_cancel_close_delete);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then sweep what failed tests left behind. */
int
main(void)
{
	SRunner *sr = srunner_create(browse_suite());
	int failed;

	tu_registry_open("client_browse");
	srunner_run_all(sr, CK_NORMAL);
	tu_registry_sweep();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
