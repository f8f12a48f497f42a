/* check_batch.c - batches: push_many/pop_many, blocking and async. */

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* Create queue name with capacity cap and open it. */
static cq_queue *
mkq(cq_client *c, const char *name, uint32_t cap)
{
	cq_queue_attr a;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	return tc_mkq(c, name, &a);
}

/* Push n messages "m<first+i>" as one batch, blocking. */
static cq_status
push_batch(cq_queue *q, int first, size_t n, int64_t timeout_ms)
{
	char text[64][16];
	const void *bufs[64];
	size_t lens[64], i;

	ck_assert_uint_le(n, 64);
	for (i = 0; i < n; i++) {
		snprintf(text[i], sizeof text[i], "m%d", first + (int)i);
		bufs[i] = text[i];
		lens[i] = strlen(text[i]);
	}
	return cq_push_many(q, bufs, lens, n, 0, timeout_ms);
}

/* Check that m holds "m<k>". */
static void
msg_is(const cq_msg *m, int k)
{
	char want[16];

	snprintf(want, sizeof want, "m%d", k);
	ck_assert_uint_eq(cq_msg_len(m), strlen(want));
	ck_assert_mem_eq(cq_msg_data(m), want, strlen(want));
}

/*
 * Queue length seen from a fresh connection (no local state involved),
 * once nothing is in flight: the receipts a closed connection sent last
 * may be read by the daemon after this connection's stat, so the stat is
 * asked again until they are (a state, not a time; 30 s is a hang).
 */
static int64_t
length_of(const char *name)
{
	cq_client *c = tc_conn();
	cq_queue_stat st;
	cq_queue *q = NULL;
	int64_t len, end = tu_now_ms() + 30000;

	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.in_flight == 0)
			break;
		ck_assert_msg(tu_now_ms() < end,
		    "%llu message(s) stayed in flight",
		    (unsigned long long)st.in_flight);
		usleep(1000);
	}
	len = (int64_t)st.length;
	cq_disconnect(c);
	return len;
}

/* Wait (bounded poll loop) until q has the given waiting poppers. */
static void
wait_poppers(cq_queue *q, uint32_t poppers)
{
	int64_t end = tu_now_ms() + 10000;
	cq_queue_stat st;

	for (;;) {
		ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
		if (st.waiting_poppers == poppers)
			return;
		ck_assert_msg(tu_now_ms() < end, "poppers %u, want %u",
		    st.waiting_poppers, poppers);
		poll(NULL, 0, 5);
	}
}

/* What async callbacks saw. */
struct seen {
	int calls;    /* callbacks run */
	int msgs;     /* messages received */
	int next;     /* next expected "m<k>" */
	int order_ok; /* every message arrived in push order */
	cq_status last;
	cq_status st[64];
};

/* Push callback: count and record the status. */
static void
on_push(cq_status st, void *arg)
{
	struct seen *s = arg;

	if (s->calls < 64)
		s->st[s->calls] = st;
	s->last = st;
	s->calls++;
}

/* Pop-many callback: check order, free the messages. */
static void
on_pop_many(cq_status st, cq_msg **msgs, size_t n, void *arg)
{
	struct seen *s = arg;
	char want[16];
	size_t i;

	if (s->calls < 64)
		s->st[s->calls] = st;
	s->last = st;
	s->calls++;
	if (st != CQ_OK && (msgs != NULL || n != 0))
		s->order_ok = 0;
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof want, "m%d", s->next++);
		if (cq_msg_len(msgs[i]) != strlen(want) ||
		    memcmp(cq_msg_data(msgs[i]), want, strlen(want)) != 0)
			s->order_ok = 0;
		cq_msg_free(msgs[i]);
		s->msgs++;
	}
}

START_TEST(test_push_many_all_or_nothing)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "aon", 4);
	cq_msg *msgs[4];
	size_t n = 99;
	int64_t len;

	ck_assert_int_eq(push_batch(q, 0, 3, CQ_FOREVER), CQ_OK);
	/* 2 more do not fit: none goes in, with or without a wait. */
	ck_assert_int_eq(push_batch(q, 3, 2, CQ_NOWAIT), CQ_FULL);
	ck_assert_int_eq(push_batch(q, 3, 2, 50), CQ_TIMEDOUT);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 3);
	/* More than the capacity can never fit. */
	ck_assert_int_ne(push_batch(q, 3, 5, CQ_NOWAIT), CQ_OK);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 3);
	ck_assert_int_eq(push_batch(q, 3, 1, CQ_NOWAIT), CQ_OK);
	ck_assert_int_eq(cq_pop_many(q, msgs, 4, &n, CQ_NOWAIT), CQ_OK);
	ck_assert_uint_eq(n, 4);
	for (n = 0; n < 4; n++) {
		msg_is(msgs[n], (int)n);
		cq_msg_free(msgs[n]);
	}
	/* Bad arguments are refused locally. */
	ck_assert_int_eq(cq_push_many(q, NULL, NULL, 0, 0, 0), CQ_INVALID);
	cq_disconnect(c);
	ck_assert_int_eq(length_of("aon"), 0);
}
END_TEST

START_TEST(test_pop_many_one_to_n)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "pm", 100);
	cq_msg *msgs[64];
	size_t n, i;
	int k = 0;

	ck_assert_int_eq(push_batch(q, 0, 5, CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_pop_many(q, msgs, 1, &n, CQ_NOWAIT), CQ_OK);
	ck_assert_uint_eq(n, 1);
	msg_is(msgs[0], k++);
	cq_msg_free(msgs[0]);
	ck_assert_int_eq(cq_pop_many(q, msgs, 3, &n, CQ_NOWAIT), CQ_OK);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		msg_is(msgs[i], k++);
		cq_msg_free(msgs[i]);
	}
	/* Fewer than max are there: what is there, at once. */
	ck_assert_int_eq(cq_pop_many(q, msgs, 64, &n, 5000), CQ_OK);
	ck_assert_uint_eq(n, 1);
	msg_is(msgs[0], k++);
	cq_msg_free(msgs[0]);
	n = 7;
	ck_assert_int_eq(cq_pop_many(q, msgs, 64, &n, CQ_NOWAIT), CQ_EMPTY);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(cq_pop_many(q, msgs, 0, &n, CQ_NOWAIT), CQ_INVALID);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_pop_many(q, msgs, 4, &n, CQ_NOWAIT), CQ_CLOSED);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_async_batches_in_flight)
{
	enum { NB = 8, PER = 16 };
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "inflight", 1000);
	struct seen ps, pp;
	char text[NB * PER][16];
	const void *bufs[PER];
	size_t lens[PER];
	int b, i;

	memset(&ps, 0, sizeof ps);
	memset(&pp, 0, sizeof pp);
	pp.order_ok = 1;
	/* Every batch is submitted before any reply is read. */
	for (b = 0; b < NB; b++) {
		for (i = 0; i < PER; i++) {
			snprintf(text[b * PER + i], sizeof text[0], "m%d",
			    b * PER + i);
			bufs[i] = text[b * PER + i];
			lens[i] = strlen(text[b * PER + i]);
		}
		ck_assert_int_eq(cq_push_many_async(q, bufs, lens, PER, 0,
		                     CQ_FOREVER, on_push, &ps, NULL),
		    CQ_OK);
		/* The library copied them: scribble over the caller's. */
		memset(text[b * PER], 'x', 2);
	}
	ck_assert_uint_eq(cq_client_pending(c), NB);
	for (b = 0; b < NB; b++)
		ck_assert_int_eq(cq_pop_many_async(q, PER, CQ_FOREVER,
		                     on_pop_many, &pp, NULL),
		    CQ_OK);
	ck_assert_uint_eq(cq_client_pending(c), 2 * NB);
	tc_run_until(c, &pp.calls, NB);
	tc_run_until(c, &ps.calls, NB);
	for (b = 0; b < NB; b++) {
		ck_assert_int_eq(ps.st[b], CQ_OK);
		ck_assert_int_eq(pp.st[b], CQ_OK);
	}
	ck_assert_int_eq(pp.msgs, NB * PER);
	ck_assert(pp.order_ok);
	ck_assert_uint_eq(cq_client_pending(c), 0);
	/* The receipts went out: nothing stays in flight or comes back. */
	cq_disconnect(c);
	ck_assert_int_eq(length_of("inflight"), 0);
}
END_TEST

START_TEST(test_async_push_many_full_and_pop_many_parked)
{
	cq_client *c = tc_conn(), *p = tc_conn();
	cq_queue *q = mkq(c, "parked", 4), *pq;
	struct seen ps, pp;
	const void *bufs[2] = {"a", "b"};
	size_t lens[2] = {1, 1};
	int64_t len;

	memset(&ps, 0, sizeof ps);
	memset(&pp, 0, sizeof pp);
	pp.order_ok = 1;
	ck_assert_int_eq(cq_open(p, "parked", &pq), CQ_OK);
	/* A batch pop parks until the first message arrives. */
	ck_assert_int_eq(
	    cq_pop_many_async(pq, 10, CQ_FOREVER, on_pop_many, &pp, NULL),
	    CQ_OK);
	cq_client_process(p);
	wait_poppers(q, 1);
	ck_assert_int_eq(push_batch(q, 0, 3, CQ_FOREVER), CQ_OK);
	tc_run_until(p, &pp.calls, 1);
	ck_assert_int_eq(pp.st[0], CQ_OK);
	ck_assert_int_ge(pp.msgs, 1);
	ck_assert_int_le(pp.msgs, 3);
	ck_assert(pp.order_ok);
	/* Fill to 4, then an async batch of 2 cannot go in: nothing does. */
	ck_assert_int_eq(
	    push_batch(q, 100, (size_t)(4 - (3 - pp.msgs)), CQ_FOREVER), CQ_OK);
	ck_assert_int_eq(cq_push_many_async(q, bufs, lens, 2, 0, CQ_NOWAIT,
	                     on_push, &ps, NULL),
	    CQ_OK);
	ck_assert_int_eq(
	    cq_push_many_async(q, bufs, lens, 2, 0, 50, on_push, &ps, NULL),
	    CQ_OK);
	tc_run_until(c, &ps.calls, 2);
	ck_assert_int_eq(ps.st[0], CQ_FULL);
	ck_assert_int_eq(ps.st[1], CQ_TIMEDOUT);
	ck_assert_int_eq(cq_length(q, &len), CQ_OK);
	ck_assert_int_eq(len, 4);
	/* Arguments a callback could not handle are refused at once. */
	ck_assert_int_eq(
	    cq_pop_many_async(q, 4, 0, NULL, NULL, NULL), CQ_INVALID);
	ck_assert_int_eq(
	    cq_pop_many_async(q, 0, 0, on_pop_many, &pp, NULL), CQ_INVALID);
	ck_assert_int_eq(
	    cq_push_many_async(q, bufs, lens, 0, 0, 0, on_push, &ps, NULL),
	    CQ_INVALID);
	cq_disconnect(p);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_cancel_pop_many_loses_nothing)
{
	cq_client *c = tc_conn(), *p = tc_conn();
	cq_queue *q = mkq(c, "cancel", 100), *pq;
	struct seen pp, race;
	cq_op *op = NULL;
	cq_msg *msgs[64];
	size_t n = 0, i;
	int round;

	ck_assert_int_eq(cq_open(p, "cancel", &pq), CQ_OK);
	/* A parked batch pop cancelled: CQ_CANCELED, no messages. */
	memset(&pp, 0, sizeof pp);
	pp.order_ok = 1;
	ck_assert_int_eq(
	    cq_pop_many_async(pq, 8, CQ_FOREVER, on_pop_many, &pp, &op), CQ_OK);
	ck_assert_ptr_nonnull(op);
	cq_client_process(p);
	wait_poppers(q, 1);
	ck_assert_int_eq(cq_op_cancel(op), CQ_OK);
	tc_run_until(p, &pp.calls, 1);
	ck_assert_int_eq(pp.st[0], CQ_CANCELED);
	ck_assert_int_eq(pp.msgs, 0);
	ck_assert(pp.order_ok);
	wait_poppers(q, 0);

	/* Cancel racing a completion: every message is either handed to
	 * the callback or still in the queue, never lost or doubled. */
	for (round = 0; round < 20; round++) {
		memset(&race, 0, sizeof race);
		race.order_ok = 1;
		race.next = 0;
		ck_assert_int_eq(push_batch(q, 0, 5, CQ_FOREVER), CQ_OK);
		ck_assert_int_eq(cq_pop_many_async(pq, 5, CQ_FOREVER,
		                     on_pop_many, &race, &op),
		    CQ_OK);
		if (round % 2)
			cq_client_process(p);
		/* The handle is valid only until the callback has run. */
		if (race.calls == 0)
			ck_assert_int_eq(cq_op_cancel(op), CQ_OK);
		tc_run_until(p, &race.calls, 1);
		ck_assert(race.last == CQ_OK || race.last == CQ_CANCELED);
		ck_assert(race.order_ok);
		n = 0;
		if (race.msgs < 5) {
			ck_assert_int_eq(
			    cq_pop_many(q, msgs, 64, &n, 5000), CQ_OK);
			for (i = 0; i < n; i++) {
				msg_is(msgs[i], race.msgs + (int)i);
				cq_msg_free(msgs[i]);
			}
		}
		ck_assert_int_eq(race.msgs + (int)n, 5);
	}
	cq_disconnect(p);
	cq_disconnect(c);
	ck_assert_int_eq(length_of("cancel"), 0);
}
END_TEST

/* The batch suite. */
static Suite *
batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_push_many_all_or_nothing);
	tcase_add_test(tc, test_pop_many_one_to_n);
	tcase_add_test(tc, test_async_batches_in_flight);
	tcase_add_test(tc, test_async_push_many_full_and_pop_many_parked);
	tcase_add_test(tc, test_cancel_pop_many_loses_nothing);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then sweep what failed tests left behind. */
int
main(void)
{
	return tu_run(batch_suite(), "batch");
}
