/* check_delay.c - cq_push_delayed and friends: invisible until due (on
 * the socket and the direct path), counted by stat and against the
 * capacity, kept across a kill -9 of the daemon. */

#include <check.h>
#include <string.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define LONG_MS 3600000u /* never due while a test runs */
#define HANG_MS 30000    /* hang bound of a wait that must succeed */

/* Create name (capacity cap) with the serial flag, open it on c. */
static cq_queue *
mkq(cq_client *c, const char *name, uint32_t cap, int serial)
{
	cq_queue_attr a;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.bands = 2;
	a.serial = serial;
	return tc_mkq(c, name, &a);
}

static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	return st;
}

/* Pop from q within the hang bound and expect text. */
static void
pop_expect(cq_queue *q, const char *text)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_pop(q, &m, HANG_MS), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(text));
	ck_assert_int_eq(memcmp(cq_msg_data(m), text, strlen(text)), 0);
	ck_assert_uint_eq(cq_msg_deliveries(m), 1);
	cq_msg_free(m);
}

/* A socket-only connection to the fixture's daemon. */
static cq_client *
sock_conn(void)
{
	cq_client *c = NULL;

	ck_assert_int_eq(
	    cq_connect_flags(&c, tc_d.sock, NULL, CQ_CONNECT_NO_DIRECT), CQ_OK);
	return c;
}

START_TEST(test_delayed_invisible_until_due)
{
	cq_client *c = tc_conn(), *s = sock_conn();
	cq_queue *q = mkq(c, "d", 4, 0), *sq = tc_openq(s, "d");
	cq_queue_stat st;
	cq_msg *m = NULL;

	ck_assert_int_eq(
	    cq_push_delayed(q, "later", 5, 1, LONG_MS, CQ_FOREVER), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_pushed, 1);
	ck_assert_uint_eq(st.total_popped, 0);
	/* Nobody sees it: direct, socket, reserve, peek. */
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_try_pop(sq, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_reserve(sq, &m, 0, 0), CQ_EMPTY);
	ck_assert_uint_eq(stat_of(sq).delayed, 1);

	/* A short delay becomes visible; the long one stays delayed. */
	ck_assert_int_eq(cq_push_delayed(q, "soon", 4, 0, 50, 0), CQ_OK);
	pop_expect(q, "soon");
	ck_assert_int_eq(cq_push_delayed(sq, "soon2", 5, 0, 50, 0), CQ_OK);
	pop_expect(sq, "soon2");
	/* delay 0 is a plain push. */
	ck_assert_int_eq(cq_try_push_delayed(q, "now", 3, 0, 0), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 1);
	pop_expect(q, "now");
	st = stat_of(q);
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.length, 0);
	/* (total_popped may lag: the socket pop's receipt is asynchronous) */
	ck_assert_uint_eq(st.total_pushed, 4);
	cq_disconnect(s);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_delayed_counts_against_capacity)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "one", 1, 0);
	cq_queue_stat st;

	ck_assert_int_eq(cq_try_push_delayed(q, "x", 1, 0, LONG_MS), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "y", 1), CQ_FULL);
	ck_assert_int_eq(cq_try_push_delayed(q, "y", 1, 0, LONG_MS), CQ_FULL);
	ck_assert_int_eq(
	    cq_push_delayed(q, "y", 1, 0, LONG_MS, 50), CQ_TIMEDOUT);
	st = stat_of(q);
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.total_pushed, 1);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_delayed_bad_requests_change_nothing)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "bad", 4, 0);
	char big[70000];
	cq_queue_stat st;

	memset(big, 'b', sizeof big);
	ck_assert_int_eq(cq_try_push_delayed(q, "x", 1, 2, 10), CQ_INVALID);
	ck_assert_int_eq(
	    cq_try_push_delayed(q, big, sizeof big, 0, 10), CQ_TOOBIG);
	ck_assert_int_eq(cq_try_push_delayed(NULL, "x", 1, 0, 10), CQ_INVALID);
	ck_assert_int_eq(cq_try_push_delayed(q, NULL, 1, 0, 10), CQ_INVALID);
	st = stat_of(q);
	ck_assert_uint_eq(st.delayed, 0);
	ck_assert_uint_eq(st.total_pushed, 0);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	ck_assert_int_eq(cq_try_push_delayed(q, "x", 1, 0, 10), CQ_CLOSED);
	cq_disconnect(c);
}
END_TEST

/* A delayed message holds no lease: a serial queue still delivers. */
START_TEST(test_delayed_does_not_block_serial)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "ser", 4, 1);
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_try_push_delayed(q, "x", 1, 0, LONG_MS), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, "y", 1), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_OK);
	ck_assert_int_eq(memcmp(cq_msg_data(m), "y", 1), 0);
	ck_assert_int_eq(cq_ack(q, cq_msg_id(m)), CQ_OK);
	cq_msg_free(m);
	ck_assert_uint_eq(stat_of(q).delayed, 1);
	cq_disconnect(c);
}
END_TEST

static void
push_cb(cq_status st, void *arg)
{
	int *n = arg;

	ck_assert_int_eq(st, CQ_OK);
	(*n)++;
}

START_TEST(test_delayed_async)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "as", 4, 0);
	int n = 0;

	ck_assert_int_eq(cq_push_delayed_async(q, "a", 1, 0, LONG_MS,
	                     CQ_FOREVER, push_cb, &n, NULL),
	    CQ_OK);
	ck_assert_int_eq(
	    cq_push_delayed_async(q, "b", 1, 0, 50, CQ_FOREVER, push_cb, &n, NULL),
	    CQ_OK);
	tc_run_until(c, &n, 2);
	pop_expect(q, "b");
	ck_assert_uint_eq(stat_of(q).delayed, 1);
	cq_disconnect(c);
}
END_TEST

/* kill -9 of the daemon: the acknowledged delayed pushes survive, still
 * delayed (the long one) or delivered (the short one). */
START_TEST(test_delayed_survive_daemon_kill)
{
	cq_client *c = sock_conn();
	cq_queue *q = mkq(c, "k", 4, 0);
	cq_msg *m = NULL;
	cq_queue_stat st;

	ck_assert_int_eq(cq_try_push_delayed(q, "long", 4, 0, LONG_MS), CQ_OK);
	ck_assert_int_eq(cq_try_push_delayed(q, "short", 5, 1, 100), CQ_OK);
	tu_daemon_kill(&tc_d);
	cq_disconnect(c);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c = tc_conn();
	q = tc_openq(c, "k");
	pop_expect(q, "short");
	st = stat_of(q);
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.total_pushed, 2);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	/* And again: a clean stop and start keeps it too. */
	cq_disconnect(c);
	ck_assert_int_eq(tu_daemon_stop(&tc_d), 0);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c = tc_conn();
	q = tc_openq(c, "k");
	ck_assert_uint_eq(stat_of(q).delayed, 1);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	cq_disconnect(c);
}
END_TEST

static Suite *
delay_suite(void)
{
	Suite *s = suite_create("delay");
	TCase *tc = tcase_create("delay");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delayed_invisible_until_due);
	tcase_add_test(tc, test_delayed_counts_against_capacity);
	tcase_add_test(tc, test_delayed_bad_requests_change_nothing);
	tcase_add_test(tc, test_delayed_does_not_block_serial);
	tcase_add_test(tc, test_delayed_async);
	tcase_add_test(tc, test_delayed_survive_daemon_kill);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(delay_suite(), "delay");
}
