/* check_bounded.c - cq_create_bounded and cq_create_full (issue 17): the
 * bound the library sends and refuses, stat's bytes, max_bytes and
 * resident_bytes on a socket and a direct handle, a try-push past the
 * bound answered CQ_FULL changing nothing. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

/* A connection to the fixture's daemon, socket only or the default. */
static cq_client *
conn(unsigned flags)
{
	cq_client *c = NULL;

	ck_assert_int_eq(cq_connect_flags(&c, tc_d.sock, NULL, flags), CQ_OK);
	return c;
}

static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat_size(q, &st, sizeof st), CQ_OK);
	return st;
}

/* Bounds the library refuses itself, and ones the daemon refuses. */
START_TEST(test_bounded_bad_bounds_create_nothing)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue_stat st;

	memset(&a, 0, sizeof a);
	a.max_size = 512;
	ck_assert_int_eq(cq_create_bounded(c, "b", &a, 0, 511), CQ_INVALID);
	ck_assert_int_eq(
	    cq_create_bounded(c, "b", &a, 0, CQ_MAX_BYTES_MAX + 1), CQ_INVALID);
	ck_assert_int_eq(cq_create_bounded(c, "b", &a, 0x80, 4096), CQ_INVALID);
	/* max_size left to the daemon's default (65536): it checks. */
	ck_assert_int_eq(cq_create_bounded(c, "b", NULL, 0, 1024), CQ_INVALID);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "max_bytes"));
	ck_assert_int_eq(cq_create_full(c, "b", NULL, 0, 0, 1000,
	                     CQ_DURABLE_NONE, 0, CQ_MAX_BYTES_MAX + 1),
	    CQ_INVALID);
	ck_assert_int_eq(cq_stat_by_name(c, "b", &st, sizeof st), CQ_NOTFOUND);
	cq_disconnect(c);
}
END_TEST

/* The bound in force: given, the default, lowered to capacity * max_size. */
START_TEST(test_bounded_stat_shows_the_bound)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue_stat st;

	memset(&a, 0, sizeof a);
	a.capacity = 64;
	a.max_size = 1024;
	ck_assert_int_eq(cq_create_bounded(c, "given", &a, 0, 5000), CQ_OK);
	ck_assert_int_eq(cq_stat_by_name(c, "given", &st, sizeof st), CQ_OK);
	ck_assert_uint_eq(st.max_bytes, 5000);
	ck_assert_uint_eq(st.bytes, 0);

	ck_assert_int_eq(cq_create_bounded(c, "dflt", NULL, 0, 0), CQ_OK);
	ck_assert_int_eq(cq_stat_by_name(c, "dflt", &st, sizeof st), CQ_OK);
	ck_assert_uint_eq(st.max_bytes, CQ_MAX_BYTES_DEFAULT);

	a.capacity = 4;
	ck_assert_int_eq(cq_create_bounded(c, "low", &a, 0, 1 << 20), CQ_OK);
	ck_assert_int_eq(cq_stat_by_name(c, "low", &st, sizeof st), CQ_OK);
	ck_assert_uint_eq(st.max_bytes, 4096);

	/* With every other option at once. */
	a.capacity = 64;
	ck_assert_int_eq(cq_create_full(c, "full", &a, CQ_CREATE_NO_DIRECT,
	                     1000, 60000, CQ_DURABLE_NONE, 0, 8192),
	    CQ_OK);
	ck_assert_int_eq(cq_stat_by_name(c, "full", &st, sizeof st), CQ_OK);
	ck_assert_uint_eq(st.max_bytes, 8192);
	ck_assert_uint_eq(st.ttl_ms, 60000);
	ck_assert_uint_eq(st.dedup_window_ms, 1000);
	ck_assert_int_eq(st.no_direct, 1);
	cq_disconnect(c);
}
END_TEST

/*
 * bytes counts queued and in-flight payloads; a push past max_bytes is
 * CQ_FULL and changes nothing, on the socket path (_i 0) and the direct
 * path (_i 1).
 */
START_TEST(test_bounded_full_by_bytes)
{
	cq_client *c = conn(_i ? CQ_CONNECT_DIRECT : CQ_CONNECT_NO_DIRECT);
	char big[600];
	cq_queue_attr a;
	cq_queue_stat st;
	cq_queue *q;
	cq_msg *m = NULL;

	memset(big, 'x', sizeof big);
	memset(&a, 0, sizeof a);
	a.capacity = 100;
	a.max_size = 1024;
	ck_assert_int_eq(cq_create_bounded(c, "q", &a, 0, 1024), CQ_OK);
	ck_assert_int_eq(cq_open(c, "q", &q), CQ_OK);
	ck_assert_int_eq(cq_queue_direct(q), _i);
	ck_assert_int_eq(cq_try_push(q, big, 600), CQ_OK);
	ck_assert_int_eq(cq_try_push(q, big, 424), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.bytes, 1024);
	ck_assert_uint_eq(st.max_bytes, 1024);
	ck_assert_uint_gt(st.resident_bytes, 0);
	ck_assert_int_eq(cq_try_push(q, big, 1), CQ_FULL);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 2);
	ck_assert_uint_eq(st.bytes, 1024);
	ck_assert_uint_eq(st.total_pushed, 2);

	/* In flight still counts; confirmed, it makes room. */
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), 600);
	ck_assert_int_eq(cq_try_push(q, big, 1), CQ_FULL);
	ck_assert_uint_eq(stat_of(q).bytes, 1024);
	ck_assert_int_eq(cq_ack(q, cq_msg_id(m)), CQ_OK);
	cq_msg_free(m);
	ck_assert_uint_eq(stat_of(q).bytes, 424);
	ck_assert_int_eq(cq_try_push(q, big, 600), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 2);
	ck_assert_uint_eq(st.bytes, 1024);
	cq_disconnect(c);
}
END_TEST

static Suite *
bounded_suite(void)
{
	Suite *s = suite_create("bounded");
	TCase *tc = tcase_create("bounded");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bounded_bad_bounds_create_nothing);
	tcase_add_test(tc, test_bounded_stat_shows_the_bound);
	tcase_add_loop_test(tc, test_bounded_full_by_bytes, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(bounded_suite(), "bounded");
}
