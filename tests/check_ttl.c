/* check_ttl.c - cq_create_ttl and cq_push_ttl: a message not popped in
 * time is dropped or moved to NAME.dlq, counted by stat (expired), makes
 * room for a blocked pusher, and a per-message TTL survives a kill -9 of
 * the daemon. Every wait is on state (stat, a blocking call), each with a
 * hang bound; nothing asserts that a time has not passed yet. */

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conqueue/conqueue.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define LONG_MS 3600000u /* never expires while a test runs */
#define HANG_MS 30000    /* hang bound of a wait that must succeed */

/* Create name (capacity cap, queue TTL ttl_ms) and open it on c. */
static cq_queue *
mkq(cq_client *c, const char *name, uint32_t cap, uint64_t ttl_ms)
{
	cq_queue_attr a;
	cq_queue *q = NULL;

	memset(&a, 0, sizeof a);
	a.capacity = cap;
	a.bands = 2;
	ck_assert_int_eq(cq_create_ttl(c, name, &a, 0, 0, ttl_ms), CQ_OK);
	ck_assert_int_eq(cq_open(c, name, &q), CQ_OK);
	return q;
}

static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	return st;
}

/* Wait until q's stat counts n expired messages (hang bound HANG_MS). */
static void
wait_expired(cq_queue *q, uint64_t n)
{
	struct timespec ts = {0, 10 * 1000000};
	int64_t end = tu_now_ms() + HANG_MS;

	while (stat_of(q).expired < n) {
		ck_assert_msg(tu_now_ms() < end, "never %llu expired",
		    (unsigned long long)n);
		nanosleep(&ts, NULL);
	}
	ck_assert_uint_eq(stat_of(q).expired, n);
}

/* Pop from q within the hang bound and expect text. */
static void
pop_expect(cq_queue *q, const char *text)
{
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_pop(q, &m, HANG_MS), CQ_OK);
	ck_assert_uint_eq(cq_msg_len(m), strlen(text));
	ck_assert_int_eq(memcmp(cq_msg_data(m), text, strlen(text)), 0);
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

/* A per-message TTL: the long one stays, the short one expires. */
START_TEST(test_ttl_message_expires)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "m", 4, 0);
	cq_queue_stat st;
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_push_ttl(q, "keep", 4, 0, LONG_MS, 0), CQ_OK);
	pop_expect(q, "keep");
	ck_assert_int_eq(cq_try_push_ttl(q, "gone", 4, 1, 1), CQ_OK);
	wait_expired(q, 1);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_pushed, 2);
	ck_assert_uint_eq(st.dead_lettered, 0);
	ck_assert_uint_eq(st.ttl_ms, 0);
	cq_disconnect(c);
}
END_TEST

/* A queue TTL: every message expires, pushed directly or by socket. */
START_TEST(test_ttl_queue_expires_all)
{
	cq_client *c = tc_conn(), *s = sock_conn();
	cq_queue *q = mkq(c, "qt", 8, 1), *sq = NULL;
	const void *bufs[2] = {"b", "c"};
	size_t lens[2] = {1, 1};
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_open(s, "qt", &sq), CQ_OK);
	ck_assert_uint_eq(stat_of(q).ttl_ms, 1);
	ck_assert_int_eq(cq_try_push(q, "a", 1), CQ_OK);
	ck_assert_int_eq(cq_push_many(sq, bufs, lens, 2, 0, 0), CQ_OK);
	wait_expired(q, 3);
	ck_assert_int_eq(cq_try_pop(sq, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_uint_eq(stat_of(q).length, 0);
	cq_disconnect(s);
	cq_disconnect(c);
}
END_TEST

/* With NAME.dlq (same owner), an expired message moves there. */
START_TEST(test_ttl_dead_letter)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "x", 4, 0), *d = mkq(c, "x.dlq", 4, 0);
	cq_queue_stat st;

	ck_assert_int_eq(cq_try_push_ttl(q, "late", 4, 0, 1), CQ_OK);
	wait_expired(q, 1);
	st = stat_of(q);
	ck_assert_uint_eq(st.dead_lettered, 1);
	ck_assert_uint_eq(st.length, 0);
	pop_expect(d, "late");
	ck_assert_uint_eq(stat_of(d).expired, 0);
	cq_disconnect(c);
}
END_TEST

/* A full queue: a blocked pusher gets the room an expired message left. */
START_TEST(test_ttl_makes_room)
{
	cq_client *c = tc_conn(), *s = sock_conn();
	cq_queue *q = mkq(c, "full", 1, 0), *sq = NULL;

	ck_assert_int_eq(cq_open(s, "full", &sq), CQ_OK);
	ck_assert_int_eq(cq_try_push_ttl(q, "old", 3, 0, 1), CQ_OK);
	/* Socket and direct pushers both wait for the room. */
	ck_assert_int_eq(cq_push(sq, "new", 3, HANG_MS), CQ_OK);
	pop_expect(q, "new");
	ck_assert_int_eq(cq_try_push_ttl(q, "old2", 4, 0, 1), CQ_OK);
	ck_assert_int_eq(cq_push(q, "new2", 4, HANG_MS), CQ_OK);
	pop_expect(sq, "new2");
	ck_assert_uint_eq(stat_of(q).expired, 2);
	cq_disconnect(s);
	cq_disconnect(c);
}
END_TEST

/* Bad arguments change nothing. */
START_TEST(test_ttl_bad_requests)
{
	cq_client *c = tc_conn();
	cq_queue_stat st;
	cq_queue *q;

	ck_assert_int_eq(cq_create_ttl(c, "bad", NULL, 0, 0,
	                     (uint64_t)CQ_TTL_MAX + 1),
	    CQ_INVALID);
	ck_assert_int_eq(cq_stat_by_name(c, "bad", &st, sizeof st), CQ_NOTFOUND);
	q = mkq(c, "b", 4, 0);
	/* ttl 0 is a plain push. */
	ck_assert_int_eq(cq_push_ttl(q, "p", 1, 0, 0, 0), CQ_OK);
	pop_expect(q, "p");
	ck_assert_uint_eq(stat_of(q).expired, 0);
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

START_TEST(test_ttl_async)
{
	cq_client *c = tc_conn();
	cq_queue *q = mkq(c, "as", 4, 0);
	int n = 0;

	ck_assert_int_eq(cq_push_ttl_async(q, "a", 1, 0, LONG_MS, CQ_FOREVER,
	                     push_cb, &n, NULL),
	    CQ_OK);
	ck_assert_int_eq(
	    cq_push_ttl_async(q, "b", 1, 1, 1, CQ_FOREVER, push_cb, &n, NULL),
	    CQ_OK);
	tc_run_until(c, &n, 2);
	wait_expired(q, 1);
	pop_expect(q, "a");
	cq_disconnect(c);
}
END_TEST

/* kill -9 of the daemon: a per-message TTL is reloaded and still ends. */
START_TEST(test_ttl_survive_daemon_kill)
{
	cq_client *c = sock_conn();
	cq_queue *q = mkq(c, "k", 4, 0);
	cq_msg *m = NULL;

	ck_assert_int_eq(cq_try_push_ttl(q, "long", 4, 0, LONG_MS), CQ_OK);
	ck_assert_int_eq(cq_try_push_ttl(q, "short", 5, 1, 1500), CQ_OK);
	tu_daemon_kill(&tc_d);
	cq_disconnect(c);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	c = tc_conn();
	q = tc_openq(c, "k");
	wait_expired(q, 1);
	pop_expect(q, "long");
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_uint_eq(stat_of(q).total_pushed, 2);
	cq_disconnect(c);
}
END_TEST

#ifdef CQ_CRASH_POINTS
/*
 * Restart the daemon armed to die at crash site site (CONQUEUE_CRASH_AT);
 * a socket-only connection to it.
 */
static cq_client *
crash_armed(const char *site)
{
	tu_daemon_stop(&tc_d);
	setenv("CONQUEUE_CRASH_AT", site, 1);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	unsetenv("CONQUEUE_CRASH_AT");
	return sock_conn();
}

/* Reap the daemon that died and start a plain one; a connection to it. */
static cq_client *
crash_restart(void)
{
	tu_daemon_kill(&tc_d);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);
	return tc_conn();
}

/* Killed after the record, before the reply: the TTL is still there. */
START_TEST(test_kill_after_record_keeps_ttl)
{
	cq_client *c = tc_conn();
	cq_queue *q;

	mkq(c, "k", 4, 0);
	cq_disconnect(c);
	c = crash_armed("ttl.after_record:1");
	q = tc_openq(c, "k");
	ck_assert_int_eq(cq_try_push_ttl(q, "x", 1, 0, 1), CQ_DISCONNECTED);
	cq_disconnect(c);
	c = crash_restart();
	q = tc_openq(c, "k");
	wait_expired(q, 1);
	ck_assert_uint_eq(stat_of(q).length, 0);
	cq_disconnect(c);
}
END_TEST

/* Killed between the commit and the record: the message is kept. */
START_TEST(test_kill_before_record_keeps_message)
{
	cq_client *c = tc_conn();
	cq_queue *q;

	mkq(c, "k", 4, 0);
	cq_disconnect(c);
	c = crash_armed("ttl.after_commit:1");
	q = tc_openq(c, "k");
	ck_assert_int_eq(
	    cq_try_push_ttl(q, "x", 1, 0, LONG_MS), CQ_DISCONNECTED);
	cq_disconnect(c);
	c = crash_restart();
	q = tc_openq(c, "k");
	pop_expect(q, "x");
	ck_assert_uint_eq(stat_of(q).expired, 0);
	cq_disconnect(c);
}
END_TEST

/*
 * Killed between the push to NAME.dlq and the removal from NAME: at least
 * once, the restarted daemon moves it again (doc/ttl.md: two copies).
 */
START_TEST(test_kill_while_dead_lettering)
{
	cq_client *c = tc_conn();
	cq_queue *q, *d;
	int64_t end = tu_now_ms() + HANG_MS;
	struct timespec ts = {0, 10 * 1000000};
	cq_status st;

	mkq(c, "x", 4, 0);
	mkq(c, "x.dlq", 4, 0);
	cq_disconnect(c);
	c = crash_armed("ttl.after_dead_letter:1");
	q = tc_openq(c, "x");
	/*
	 * The sweep may run (and the daemon die there) before the reply
	 * leaves: the push committed either way, as the site is only
	 * reached by a committed message.
	 */
	st = cq_try_push_ttl(q, "late", 4, 0, 1);
	ck_assert(st == CQ_OK || st == CQ_DISCONNECTED);
	/* The daemon dies at the sweep: wait for it (a ping fails). */
	while (cq_ping(c) == CQ_OK) {
		ck_assert(tu_now_ms() < end);
		nanosleep(&ts, NULL);
	}
	cq_disconnect(c);
	c = crash_restart();
	q = tc_openq(c, "x");
	d = tc_openq(c, "x.dlq");
	wait_expired(q, 1);
	ck_assert_uint_eq(stat_of(q).length, 0);
	ck_assert_uint_eq(stat_of(d).length, 2);
	pop_expect(d, "late");
	pop_expect(d, "late");
	cq_disconnect(c);
}
END_TEST
#endif

static Suite *
ttl_suite(void)
{
	Suite *s = suite_create("ttl");
	TCase *tc = tcase_create("ttl");

	tcase_add_checked_fixture(tc, tc_setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ttl_message_expires);
	tcase_add_test(tc, test_ttl_queue_expires_all);
	tcase_add_test(tc, test_ttl_dead_letter);
	tcase_add_test(tc, test_ttl_makes_room);
	tcase_add_test(tc, test_ttl_bad_requests);
	tcase_add_test(tc, test_ttl_async);
	tcase_add_test(tc, test_ttl_survive_daemon_kill);
#ifdef CQ_CRASH_POINTS
	tcase_add_test(tc, test_kill_after_record_keeps_ttl);
	tcase_add_test(tc, test_kill_before_record_keeps_message);
	tcase_add_test(tc, test_kill_while_dead_lettering);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(ttl_suite(), "ttl");
}
