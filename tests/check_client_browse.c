/* check_client_browse.c - peek, purge and remove through the library. */

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
