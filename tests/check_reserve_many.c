/* check_reserve_many.c - cq_reserve_many, cq_ack_async, cq_release_async:
 * reserving in batches and settling without a round trip each. */

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define WAIT_MS 10000 /* longest wait for an expected event */

/* What the settle callbacks saw. */
struct settled {
	int n, ok, notfound, other;
};

static void
settle_cb(cq_status st, void *arg)
{
	struct settled *s = arg;

	s->n++;
	if (st == CQ_OK)
		s->ok++;
	else if (st == CQ_NOTFOUND)
		s->notfound++;
	else
		s->other++;
}

/* Run c's callbacks until s has seen want of them (bounded). */
static void
drive(cq_client *c, struct settled *s, int want)
{
	int64_t end = tu_now_ms() + WAIT_MS;
	struct pollfd pfd;

	for (;;) {
		ck_assert_int_eq(cq_client_process(c), CQ_OK);
		if (s->n >= want)
			return;
		ck_assert_msg(tu_now_ms() < end, "callbacks: %d of %d", s->n,
		    want);
		pfd.fd = cq_client_fd(c);
		pfd.events = (short)((cq_client_events(c) & CQ_WANT_WRITE)
		                         ? POLLIN | POLLOUT
		                         : POLLIN);
		poll(&pfd, 1, 100);
	}
}

static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	return st;
}

/* Push "0".."n-1" to q. */
static void
push_n(cq_queue *q, int n)
{
	char buf[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(cq_push(q, buf, strlen(buf), 0), CQ_OK);
	}
}

START_TEST(test_reserve_many_in_order_then_settle_async)
{
	enum { N = 40 };
	cq_client *c = tc_conn();
	cq_queue *q = tc_mkq(c, "many", NULL);
	cq_msg *m[N];
	struct settled s;
	char want[16];
	size_t n = 99, i;
	cq_queue_stat st;

	memset(&s, 0, sizeof s);
	/* Empty: a try answers CQ_EMPTY with no messages. */
	ck_assert_int_eq(cq_reserve_many(q, m, N, &n, 0, 0), CQ_EMPTY);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(cq_reserve_many(q, m, 0, &n, 0, 0), CQ_INVALID);
	push_n(q, N);
	/* At most max, oldest first, each reserved (in flight). */
	ck_assert_int_eq(cq_reserve_many(q, m, 25, &n, 0, 0), CQ_OK);
	ck_assert_uint_eq(n, 25);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof want, "%zu", i);
		ck_assert_uint_eq(cq_msg_len(m[i]), strlen(want));
		ck_assert_mem_eq(cq_msg_data(m[i]), want, strlen(want));
		ck_assert_uint_eq(cq_msg_deliveries(m[i]), 1);
	}
	st = stat_of(q);
	ck_assert_uint_eq(st.length, N - 25);
	ck_assert_uint_eq(st.in_flight, 25);
	/* Ack the first 20 and release the last 5, none waiting a reply. */
	for (i = 0; i < n; i++) {
		if (i < 20)
			ck_assert_int_eq(cq_ack_async(q, cq_msg_id(m[i]),
			                     settle_cb, &s, NULL),
			    CQ_OK);
		else
			ck_assert_int_eq(cq_release_async(q, cq_msg_id(m[i]),
			                     settle_cb, &s, NULL),
			    CQ_OK);
	}
	drive(c, &s, 25);
	ck_assert_int_eq(s.ok, 25);
	/* A second ack of an acked message: CQ_NOTFOUND, to the callback. */
	ck_assert_int_eq(
	    cq_ack_async(q, cq_msg_id(m[0]), settle_cb, &s, NULL), CQ_OK);
	drive(c, &s, 26);
	ck_assert_int_eq(s.notfound, 1);
	for (i = 0; i < n; i++)
		cq_msg_free(m[i]);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, N - 20);
	ck_assert_uint_eq(st.in_flight, 0);
	/*
	 * The released ones are back at the head (each release puts its
	 * message first, so the last released comes first), delivered a
	 * second time.
	 */
	ck_assert_int_eq(cq_reserve_many(q, m, N, &n, 0, 0), CQ_OK);
	ck_assert_uint_eq(n, N - 20);
	ck_assert_mem_eq(cq_msg_data(m[0]), "24", 2);
	ck_assert_mem_eq(cq_msg_data(m[4]), "20", 2);
	ck_assert_mem_eq(cq_msg_data(m[5]), "25", 2);
	ck_assert_uint_eq(cq_msg_deliveries(m[0]), 2);
	ck_assert_uint_eq(cq_msg_deliveries(m[4]), 2);
	ck_assert_uint_eq(cq_msg_deliveries(m[n - 1]), 1);
	/* Fire and forget (no callback); the blocking stat comes after. */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(
		    cq_ack_async(q, cq_msg_id(m[i]), NULL, NULL, NULL), CQ_OK);
		cq_msg_free(m[i]);
	}
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_popped, N);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_reserve_many_waits_and_disconnect_returns_all)
{
	cq_client *c = tc_conn(), *p = tc_conn();
	cq_queue *q = tc_mkq(c, "manyd", NULL), *pq = tc_openq(p, "manyd");
	cq_msg *m[8];
	size_t n = 0, i;
	cq_queue_stat st;
	int64_t end;

	/* A wait that times out: CQ_TIMEDOUT, nothing reserved. */
	ck_assert_int_eq(cq_reserve_many(q, m, 8, &n, 20, 0), CQ_TIMEDOUT);
	ck_assert_uint_eq(n, 0);
	push_n(pq, 5);
	ck_assert_int_eq(cq_reserve_many(q, m, 8, &n, CQ_FOREVER, 0), CQ_OK);
	ck_assert_uint_ge(n, 1);
	for (i = 0; i < n; i++)
		cq_msg_free(m[i]);
	/* The reserving connection ends: every reservation goes back. */
	cq_disconnect(c);
	end = tu_now_ms() + WAIT_MS;
	for (;;) {
		st = stat_of(pq);
		if (st.in_flight == 0)
			break;
		ck_assert_msg(tu_now_ms() < end, "still %llu in flight",
		    (unsigned long long)st.in_flight);
		ck_assert_int_eq(cq_ping(p), CQ_OK);
	}
	ck_assert_uint_eq(st.length, 5);
	/* Bad handles. */
	ck_assert_int_eq(cq_ack_async(NULL, 1, NULL, NULL, NULL), CQ_INVALID);
	ck_assert_int_eq(
	    cq_release_async(NULL, 1, NULL, NULL, NULL), CQ_INVALID);
	ck_assert_int_eq(cq_reserve_many(NULL, m, 1, &n, 0, 0), CQ_INVALID);
	cq_disconnect(p);
}
END_TEST

static Suite *
reserve_many_suite(void)
{
	Suite *s = suite_create("reserve_many");
	TCase *tc = tcase_create("reserve_many");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reserve_many_in_order_then_settle_async);
	tcase_add_test(tc, test_reserve_many_waits_and_disconnect_returns_all);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(reserve_many_suite(), "reserve_many");
}
