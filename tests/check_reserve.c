/* check_reserve.c - reserve/ack, leases, dead letters and serial queues. */

/*
 * Every test runs against a private conqueued through the public library
 * (and raw frames where a connection's own end matters).
 * Timing is never asserted by sleeping: the tests wait for the event
 * itself (a lease expiring shows up in stat) with a bounded poll loop.
 */

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"
#include "proto/frame.h"
#include "tests/rawclient.h"
#include "tests/testclient.h"
#include "tests/testutil.h"

#define WAIT_MS 10000 /* longest wait for an expected event */

/* Each test gets a private daemon whose socket any uid may use. */
static void
setup(void)
{
	const char *extra[] = {"-m", "0666", NULL};

	tc_setup_args(extra);
	ck_assert_int_eq(chmod(tc_d.dir, 0755), 0);
}

/* Push the string s. */
static void
push_str(cq_queue *q, const char *s)
{
	ck_assert_int_eq(cq_push(q, s, strlen(s), 0), CQ_OK);
}

/* Check m holds string s. */
static void
expect_data(const cq_msg *m, const char *s)
{
	ck_assert_uint_eq(cq_msg_len(m), strlen(s));
	ck_assert_mem_eq(cq_msg_data(m), s, strlen(s));
}

/* Try-reserve one message, which must be s; returns its id. */
static uint64_t
reserve_expect(
    cq_queue *q, const char *s, uint32_t lease_ms, uint32_t deliveries)
{
	cq_msg *m = NULL;
	uint64_t id;

	ck_assert_int_eq(cq_reserve(q, &m, 0, lease_ms), CQ_OK);
	expect_data(m, s);
	ck_assert_uint_eq(cq_msg_deliveries(m), deliveries);
	id = cq_msg_id(m);
	cq_msg_free(m);
	return id;
}

/* Stat q. */
static cq_queue_stat
stat_of(cq_queue *q)
{
	cq_queue_stat st;

	ck_assert_int_eq(cq_stat(q, &st), CQ_OK);
	return st;
}

/* Wait (bounded) until q has length queued and in_flight in flight. */
static void
wait_counts(cq_queue *q, uint64_t length, uint64_t in_flight)
{
	int64_t end = tu_now_ms() + WAIT_MS;
	cq_queue_stat st;
	struct timespec tick = {0, 5 * 1000 * 1000};

	for (;;) {
		st = stat_of(q);
		if (st.length == length && st.in_flight == in_flight)
			return;
		ck_assert_msg(tu_now_ms() < end,
		    "queue %s: length %llu in flight %llu, want %llu and %llu",
		    st.name, (unsigned long long)st.length,
		    (unsigned long long)st.in_flight,
		    (unsigned long long)length, (unsigned long long)in_flight);
		nanosleep(&tick, NULL); /* poll interval, not a wait for it */
	}
}

/* ---- raw frames, for MsgOp fields the library does not expose ---- */

/* Connect to the daemon and greet it. */
static int
raw_connect(void)
{
	int fd = rc_connect(tc_d.sock);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Reserve one message of name on raw connection fd; returns its id. */
static uint64_t
raw_reserve(int fd, const char *name)
{
	Conqueue__Reply *rep = rc_pop(fd, name, 1, 0, 1);
	uint64_t id;

	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->status, CQ_OK);
	ck_assert_uint_eq(rep->n_msgs, 1);
	id = rep->msgs[0]->id;
	conqueue__reply__free_unpacked(rep, NULL);
	return id;
}

/* ------------------------------------------------------------------ */

START_TEST(test_reserve_ack_release_touch_statuses)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q;
	cq_msg *m = NULL;
	cq_queue_stat st;
	uint64_t id, id2;
	int64_t t0;

	memset(&a, 0, sizeof a);
	a.capacity = 8;
	q = tc_mkq(c, "jobs", &a);
	/* Empty: try and timed reserve. */
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_EMPTY);
	t0 = tu_now_ms();
	ck_assert_int_eq(cq_reserve(q, &m, 50, 0), CQ_TIMEDOUT);
	ck_assert_int_ge(tu_now_ms() - t0, 50);
	ck_assert_ptr_null(m);

	push_str(q, "a");
	push_str(q, "b");
	id = reserve_expect(q, "a", 0, 1);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.lease_ms, 30000); /* the default */
	ck_assert_int_eq(cq_touch(q, id, 60000), CQ_OK);
	ck_assert_int_eq(cq_touch(q, id, 0), CQ_OK); /* the queue's lease */
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	/* Done: every op on it now finds nothing. */
	ck_assert_int_eq(cq_ack(q, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_release(q, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_touch(q, id, 0), CQ_NOTFOUND);
	ck_assert_int_eq(cq_ack(q, 999999), CQ_NOTFOUND);

	/* Release: back at the head, delivered once more. */
	id2 = reserve_expect(q, "b", 0, 1);
	push_str(q, "c");
	ck_assert_int_eq(cq_release(q, id2), CQ_OK);
	ck_assert_int_eq(cq_release(q, id2), CQ_NOTFOUND);
	ck_assert_uint_eq(reserve_expect(q, "b", 0, 2), id2);
	ck_assert_int_eq(cq_ack(q, id2), CQ_OK);

	/* A reserved message is not a plain pop's to confirm. */
	id = reserve_expect(q, "c", 0, 1);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	/* Closed but one in flight: nothing queued, so CQ_CLOSED. */
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_CLOSED);
	ck_assert_int_eq(cq_release(q, id), CQ_OK);
	/* Released after close: drained first, then closed. */
	ck_assert_uint_eq(reserve_expect(q, "c", 0, 2), id);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &m, CQ_FOREVER, 0), CQ_CLOSED);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.total_popped, 3);

	/* Unknown queue. */
	{
		cq_queue *nq = NULL;
		ck_assert_int_eq(cq_open(c, "nosuch", &nq), CQ_NOTFOUND);
	}
	cq_disconnect(c);
}
END_TEST

START_TEST(test_other_connection_cannot_ack)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *q = tc_mkq(c, "shared", NULL), *oq = tc_openq(o, "shared");
	uint64_t id;

	push_str(q, "mine");
	id = reserve_expect(q, "mine", 0, 1);
	/* Same uid, even root: the reservation belongs to the connection. */
	ck_assert_int_eq(cq_ack(oq, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_release(oq, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_touch(oq, id, 0), CQ_NOTFOUND);
	ck_assert_uint_eq(stat_of(q).in_flight, 1);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	ck_assert_uint_eq(stat_of(oq).in_flight, 0);
	cq_disconnect(o);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_lease_expiry_redelivers_and_touch_extends)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q;
	uint64_t id, kept;
	int64_t t0;

	memset(&a, 0, sizeof a);
	a.lease_ms = 1000;
	q = tc_mkq(c, "lease", &a);
	ck_assert_uint_eq(stat_of(q).lease_ms, 1000);
	push_str(q, "x");
	push_str(q, "y");
	/*
	 * Leases of 5 s: the touch must come before x's first lease ends,
	 * and y's must end after it; no scheduler takes 5 s for a round trip.
	 */
	kept = reserve_expect(q, "x", 5000, 1);
	ck_assert_int_eq(cq_touch(q, kept, 60000), CQ_OK);
	t0 = tu_now_ms();
	id = reserve_expect(q, "y", 5000, 1);
	/* y's lease runs out; x's first lease ended before y's... */
	wait_counts(q, 1, 1);
	ck_assert_int_ge(tu_now_ms() - t0, 5000);
	/* ...but x was touched: only y came back, delivered twice. */
	ck_assert_uint_eq(reserve_expect(q, "y", 60000, 2), id);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	/* A touch sets the lease from now on, shorter too. */
	ck_assert_int_eq(cq_touch(q, kept, 100), CQ_OK);
	wait_counts(q, 1, 0);
	ck_assert_uint_eq(reserve_expect(q, "x", 60000, 2), kept);
	ck_assert_int_eq(cq_ack(q, kept), CQ_OK);
	/* A reserve naming no lease gets the queue's (1000 ms)... */
	push_str(q, "z");
	t0 = tu_now_ms();
	id = reserve_expect(q, "z", 0, 1);
	wait_counts(q, 1, 0);
	ck_assert_int_ge(tu_now_ms() - t0, 1000);
	/* ...and an expired reservation can no longer be acked. */
	ck_assert_int_eq(cq_ack(q, id), CQ_NOTFOUND);
	ck_assert_uint_eq(reserve_expect(q, "z", 60000, 2), id);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_disconnect_returns_attached_not_detached)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue *q = tc_mkq(c, "dc", NULL), *oq = tc_openq(o, "dc");
	cq_msg *m;
	uint64_t att, det;

	push_str(q, "first");
	push_str(q, "second");
	push_str(q, "third");
	ck_assert_int_eq(cq_reserve_detached(oq, &m, 0, 60000), CQ_OK);
	expect_data(m, "first");
	det = cq_msg_id(m);
	cq_msg_free(m);
	att = reserve_expect(oq, "second", 60000, 1);
	cq_disconnect(o);
	/* The attached one comes back; the detached one stays out. */
	wait_counts(q, 2, 1);
	ck_assert_uint_eq(reserve_expect(q, "second", 0, 2), att);
	ck_assert_int_eq(cq_ack(q, att), CQ_OK);
	/* Any connection of the same uid may end a detached reservation. */
	ck_assert_int_eq(cq_touch(q, det, 60000), CQ_OK);
	ck_assert_int_eq(cq_release(q, det), CQ_OK);
	ck_assert_uint_eq(reserve_expect(q, "first", 0, 2), det);
	ck_assert_int_eq(cq_ack(q, det), CQ_OK);
	ck_assert_uint_eq(reserve_expect(q, "third", 0, 1), det + 2);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_detached_reservation_of_other_uid_is_not_found)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q;
	cq_msg *m;
	uint64_t id;
	pid_t pid;
	int ws;

	memset(&a, 0, sizeof a);
	a.mode = 0666;
	q = tc_mkq(c, "det", &a);
	push_str(q, "secret");
	push_str(q, "theirs");
	ck_assert_int_eq(cq_reserve_detached(q, &m, 0, 60000), CQ_OK);
	id = cq_msg_id(m);
	cq_msg_free(m);
	if ((pid = fork()) == 0) {
		cq_client *oc;
		cq_queue *oq;
		uint64_t mine;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(90);
		if (cq_connect(&oc, tc_d.sock) != CQ_OK ||
		    cq_open(oc, "det", &oq) != CQ_OK)
			_exit(91);
		if (cq_ack(oq, id) != CQ_NOTFOUND ||
		    cq_release(oq, id) != CQ_NOTFOUND ||
		    cq_touch(oq, id, 0) != CQ_NOTFOUND)
			_exit(92);
		if (cq_reserve_detached(oq, &m, 0, 60000) != CQ_OK)
			_exit(93);
		mine = cq_msg_id(m);
		cq_msg_free(m);
		cq_disconnect(oc);
		/* Printed for the parent through the exit status. */
		_exit(mine == id + 1 ? 0 : 94);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	    "other uid: exit %d", WEXITSTATUS(ws));
	/* Root is an admin: it may end the other uid's reservation. */
	ck_assert_int_eq(cq_release(q, id + 1), CQ_OK);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_max_deliveries_moves_to_dlq)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q, *dq;
	cq_queue_stat st;
	cq_msg *m;
	uint64_t id;

	memset(&a, 0, sizeof a);
	a.max_deliveries = 2;
	a.lease_ms = 100;
	a.mode = 0640;
	a.bands = 2;
	q = tc_mkq(c, "work", &a);
	push_str(q, "poison");
	ck_assert_int_eq(cq_push_band(q, "hot", 3, 1, 0), CQ_OK);
	ck_assert_int_eq(cq_open(c, "work.dlq", &dq), CQ_NOTFOUND);
	/* Delivery 1 released, delivery 2 released: dead-lettered. */
	id = reserve_expect(q, "hot", 60000, 1);
	ck_assert_int_eq(cq_release(q, id), CQ_OK);
	ck_assert_uint_eq(reserve_expect(q, "hot", 60000, 2), id);
	ck_assert_int_eq(cq_release(q, id), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.dead_lettered, 1);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_eq(st.in_flight, 0);
	/* Lease expiry (the queue's 100 ms) counts the same way. */
	id = reserve_expect(q, "poison", 0, 1);
	wait_counts(q, 1, 0);
	ck_assert_uint_eq(reserve_expect(q, "poison", 0, 2), id);
	wait_counts(q, 0, 0);
	st = stat_of(q);
	ck_assert_uint_eq(st.dead_lettered, 2);
	ck_assert_uint_eq(st.total_popped, 2);

	/* The dead-letter queue: the parent's mode, owner and bands. */
	dq = tc_openq(c, "work.dlq");
	st = stat_of(dq);
	ck_assert_uint_eq(st.mode, 0640);
	ck_assert_uint_eq(st.uid, getuid());
	ck_assert_uint_eq(st.gid, getgid());
	ck_assert_uint_eq(st.bands, 2);
	ck_assert_uint_eq(st.max_deliveries, 0);
	ck_assert_uint_eq(st.length, 2);
	ck_assert_int_eq(cq_try_pop(dq, &m), CQ_OK);
	expect_data(m, "hot"); /* kept its band */
	cq_msg_free(m);
	ck_assert_int_eq(cq_try_pop(dq, &m), CQ_OK);
	expect_data(m, "poison");
	cq_msg_free(m);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_dlq_of_other_uid_owner)
{
	cq_client *c = tc_conn();
	cq_queue *dq;
	cq_queue_stat st;
	pid_t pid;
	int ws;

	if ((pid = fork()) == 0) {
		cq_queue_attr a;
		cq_client *oc;
		cq_queue *oq;
		cq_msg *m;

		if (setgid(65533) != 0 || setuid(65534) != 0)
			_exit(90);
		if (cq_connect(&oc, tc_d.sock) != CQ_OK)
			_exit(91);
		memset(&a, 0, sizeof a);
		a.max_deliveries = 1;
		a.mode = 0604;
		if (cq_create(oc, "nob", &a) != CQ_OK ||
		    cq_open(oc, "nob", &oq) != CQ_OK ||
		    cq_push(oq, "m", 1, 0) != CQ_OK)
			_exit(92);
		if (cq_reserve(oq, &m, 0, 0) != CQ_OK)
			_exit(93);
		if (cq_release(oq, cq_msg_id(m)) != CQ_OK)
			_exit(94);
		cq_msg_free(m);
		cq_disconnect(oc);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	    "other uid: exit %d", WEXITSTATUS(ws));
	dq = tc_openq(c, "nob.dlq");
	st = stat_of(dq);
	ck_assert_uint_eq(st.uid, 65534);
	ck_assert_uint_eq(st.gid, 65533);
	ck_assert_uint_eq(st.mode, 0604);
	ck_assert_uint_eq(st.length, 1);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_dlq_name_length)
{
	char name[CQ_NAME_MAX + 1];
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q;
	uint64_t id;

	memset(&a, 0, sizeof a);
	a.max_deliveries = 1;
	/* 61 bytes: no room for ".dlq". */
	memset(name, 'n', 61);
	name[61] = '\0';
	ck_assert_int_eq(cq_create(c, name, &a), CQ_INVALID);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "60"));
	a.max_deliveries = 0;
	ck_assert_int_eq(cq_create(c, name, &a), CQ_OK); /* no dlq needed */
	/* 60 bytes: its dlq name is 64 bytes, the longest valid. */
	a.max_deliveries = 1;
	name[60] = '\0';
	q = tc_mkq(c, name, &a);
	push_str(q, "p");
	id = reserve_expect(q, "p", 0, 1);
	ck_assert_int_eq(cq_release(q, id), CQ_OK);
	ck_assert_uint_eq(stat_of(q).dead_lettered, 1);
	strcat(name, ".dlq");
	ck_assert_uint_eq(stat_of(tc_openq(c, name)).length, 1);
	cq_disconnect(c);
}
END_TEST

/* Another uid cannot take over a queue's dead letters (root: a 2nd uid). */
START_TEST(test_dlq_squatting_by_other_uid)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	pid_t pid;
	int ws;

	memset(&a, 0, sizeof a);
	a.max_deliveries = 1;
	a.mode = 0666;
	tc_mkq(c, "open", &a);
	if ((pid = fork()) == 0) {
		cq_client *oc;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(90);
		if (cq_connect(&oc, tc_d.sock) != CQ_OK)
			_exit(91);
		if (cq_create(oc, "open.dlq", NULL) != CQ_DENIED)
			_exit(92);
		/* ...nor squat one before the queue exists. */
		if (cq_create(oc, "later.dlq", NULL) != CQ_OK)
			_exit(93);
		cq_disconnect(oc);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
	    "other uid: exit %d", WEXITSTATUS(ws));
	a.mode = 0600;
	ck_assert_int_eq(cq_create(c, "later", &a), CQ_EXISTS);
	ck_assert_ptr_nonnull(strstr(cq_client_error(c), "later.dlq"));
	a.max_deliveries = 0;
	ck_assert_int_eq(cq_create(c, "later", &a), CQ_OK);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_dlq_full_holds_the_message_until_room)
{
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q, *dq;
	cq_queue_stat st;
	cq_msg *m;
	uint64_t id;
	const char *s[] = {"a", "b", "c"};
	int i;

	memset(&a, 0, sizeof a);
	a.capacity = 2; /* NAME.dlq gets the same */
	a.max_deliveries = 1;
	q = tc_mkq(c, "tight", &a);
	for (i = 0; i < 3; i++) {
		push_str(q, s[i]);
		id = reserve_expect(q, s[i], 0, 1);
		ck_assert_int_eq(cq_release(q, id), CQ_OK);
	}
	/* c found NAME.dlq full: held in flight, for nobody to take. */
	st = stat_of(q);
	ck_assert_uint_eq(st.dead_lettered, 2);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_EMPTY);
	ck_assert_int_eq(cq_ack(q, id), CQ_NOTFOUND);
	ck_assert_int_eq(cq_release(q, id), CQ_NOTFOUND);
	/* Room in NAME.dlq: the next retry moves it. */
	dq = tc_openq(c, "tight.dlq");
	ck_assert_int_eq(cq_try_pop(dq, &m), CQ_OK);
	expect_data(m, "a");
	cq_msg_free(m);
	wait_counts(q, 0, 0);
	ck_assert_uint_eq(stat_of(q).dead_lettered, 3);
	ck_assert_int_eq(cq_try_pop(dq, &m), CQ_OK);
	expect_data(m, "b");
	cq_msg_free(m);
	ck_assert_int_eq(cq_try_pop(dq, &m), CQ_OK);
	expect_data(m, "c");
	cq_msg_free(m);
	cq_disconnect(c);
}
END_TEST

/* A callback that only counts. */
static void
count_cb(cq_status st, cq_msg *m, void *arg)
{
	(void)st;
	cq_msg_free(m);
	++*(int *)arg;
}

/* A push callback that only counts. */
static void
count_push_cb(cq_status st, void *arg)
{
	(void)st;
	++*(int *)arg;
}

START_TEST(test_stat_has_every_design_field)
{
	cq_client *c = tc_conn(), *w = tc_conn();
	cq_queue_attr a;
	cq_queue *q, *wq, *eq, *weq;
	cq_queue_stat st;
	int64_t end, t_push;
	int done = 0;

	memset(&a, 0, sizeof a);
	a.capacity = 3;
	a.max_size = 100;
	a.bands = 2;
	a.mode = 0620;
	a.max_deliveries = 5;
	a.lease_ms = 4000;
	a.serial = 1;
	q = tc_mkq(c, "full", &a);
	wq = tc_openq(w, "full");
	t_push = tu_now_ms();
	push_str(q, "1");
	push_str(q, "2");
	push_str(q, "3");
	/* Its own long lease: the queue's 4 s could end before the stat. */
	reserve_expect(q, "1", 600000, 1);
	/* One parked pusher here, one parked popper on an empty queue. */
	ck_assert_int_eq(cq_push_async(wq, "4", 1, 0, CQ_FOREVER, count_push_cb,
	                     &done, NULL),
	    CQ_OK);
	eq = tc_mkq(c, "empty", NULL);
	weq = tc_openq(w, "empty");
	ck_assert_int_eq(
	    cq_pop_async(weq, CQ_FOREVER, count_cb, &done, NULL), CQ_OK);
	ck_assert_int_eq(cq_pause(q), CQ_OK);
	end = tu_now_ms() + WAIT_MS;
	do {
		ck_assert_int_eq(cq_client_process(w), CQ_OK);
		st = stat_of(q);
		ck_assert_int_lt(tu_now_ms(), end);
	} while (st.waiting_pushers != 1 || st.oldest_age_ms < 10 ||
	         stat_of(eq).waiting_poppers != 1);
	ck_assert_str_eq(st.name, "full");
	ck_assert_uint_eq(st.capacity, 3);
	ck_assert_uint_eq(st.max_size, 100);
	ck_assert_uint_eq(st.bands, 2);
	ck_assert_uint_eq(st.mode, 0620);
	ck_assert_uint_eq(st.uid, getuid());
	ck_assert_uint_eq(st.gid, getgid());
	ck_assert_uint_eq(st.max_deliveries, 5);
	ck_assert_uint_eq(st.lease_ms, 4000);
	ck_assert_int_eq(st.serial, 1);
	ck_assert_uint_eq(st.length, 2);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.waiting_poppers, 0);
	ck_assert_uint_eq(st.waiting_pushers, 1);
	ck_assert_int_eq(st.closed, 0);
	ck_assert_int_eq(st.paused, 1);
	ck_assert_uint_eq(st.total_pushed, 3);
	ck_assert_uint_eq(st.total_popped, 0);
	ck_assert_uint_eq(st.dead_lettered, 0);
	/*
	 * In milliseconds, not older than the test's own measurement (the
	 * daemon reads the realtime clock: a second's slack for its steps).
	 */
	ck_assert_uint_le(
	    st.oldest_age_ms, (uint64_t)(tu_now_ms() - t_push) + 1000);
	ck_assert_int_eq(cq_close(eq), CQ_OK);
	ck_assert_int_eq(cq_close(q), CQ_OK);
	st = stat_of(q);
	ck_assert_int_eq(st.closed, 1);
	ck_assert_uint_eq(st.waiting_pushers, 0);
	while (done < 2) {
		ck_assert_int_lt(tu_now_ms(), end);
		ck_assert_int_eq(cq_client_process(w), CQ_OK);
	}
	cq_disconnect(w);
	cq_disconnect(c);
}
END_TEST

/* One processed message of the serial test, in the shared log. */
struct serial_rec {
	uint32_t msg;   /* the message's number */
	uint32_t start; /* shared counter when processing began */
	uint32_t end;   /* shared counter when it ended (before the ack) */
	uint32_t who;
};

struct serial_log {
	uint32_t counter;
	uint32_t n;
	struct serial_rec rec[1024];
};

/* A consumer: reserve, record start, "work", record end, ack; until closed. */
static void
serial_consumer(struct serial_log *log, uint32_t who)
{
	cq_client *c;
	cq_queue *q;
	cq_msg *m;
	cq_status st;
	uint32_t i, start;
	char buf[16];

	if (cq_connect(&c, tc_d.sock) != CQ_OK ||
	    cq_open(c, "serial", &q) != CQ_OK)
		_exit(70);
	for (;;) {
		st = cq_reserve(q, &m, WAIT_MS * 3, 0);
		if (st == CQ_CLOSED)
			break;
		if (st != CQ_OK)
			_exit(71);
		start = __atomic_fetch_add(&log->counter, 1, __ATOMIC_SEQ_CST);
		if (cq_msg_len(m) >= sizeof buf)
			_exit(72);
		memcpy(buf, cq_msg_data(m), cq_msg_len(m));
		buf[cq_msg_len(m)] = '\0';
		/* Give another consumer the chance to overlap, were it able. */
		sched_yield();
		i = __atomic_fetch_add(&log->n, 1, __ATOMIC_SEQ_CST);
		if (i >= 1024)
			_exit(73);
		log->rec[i].msg = (uint32_t)strtoul(buf, NULL, 10);
		log->rec[i].start = start;
		log->rec[i].who = who;
		log->rec[i].end =
		    __atomic_fetch_add(&log->counter, 1, __ATOMIC_SEQ_CST);
		if (cq_ack(q, cq_msg_id(m)) != CQ_OK)
			_exit(74);
		cq_msg_free(m);
	}
	cq_disconnect(c);
	_exit(0);
}

/* Order records by start. */
static int
serial_cmp(const void *a, const void *b)
{
	const struct serial_rec *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

START_TEST(test_serial_queue_four_consumers_in_order)
{
	enum { N = 500, NC = 4 };
	struct serial_log *log;
	cq_client *c = tc_conn();
	cq_queue_attr a;
	cq_queue *q;
	pid_t pids[NC];
	uint32_t i, used[NC] = {0};
	char buf[16];
	int ws, k;

	log = mmap(NULL, sizeof *log, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(log, MAP_FAILED);
	memset(&a, 0, sizeof a);
	a.capacity = N;
	a.serial = 1;
	q = tc_mkq(c, "serial", &a);
	ck_assert_int_eq(stat_of(q).serial, 1);
	for (k = 0; k < NC; k++) {
		pids[k] = fork();
		ck_assert_int_ge(pids[k], 0);
		if (pids[k] == 0)
			serial_consumer(log, (uint32_t)k);
	}
	/* Consumers already wait while the messages arrive. */
	for (i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "%u", i);
		push_str(q, buf);
	}
	ck_assert_int_eq(cq_close(q), CQ_OK);
	for (k = 0; k < NC; k++) {
		ck_assert_int_eq(waitpid(pids[k], &ws, 0), pids[k]);
		ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		    "consumer %d: status %d", k, ws);
	}
	ck_assert_uint_eq(log->n, N);
	qsort(log->rec, N, sizeof log->rec[0], serial_cmp);
	for (i = 0; i < N; i++) {
		/* Strictly in push order, and each done before the next. */
		ck_assert_uint_eq(log->rec[i].msg, i);
		ck_assert_uint_lt(log->rec[i].start, log->rec[i].end);
		if (i > 0)
			ck_assert_msg(log->rec[i - 1].end < log->rec[i].start,
			    "message %u started before %u ended", i, i - 1);
		used[log->rec[i].who]++;
	}
	/* Not one consumer doing everything: the work was spread. */
	for (k = 0, i = 0; k < NC; k++)
		i += used[k] > 0;
	ck_assert_uint_ge(i, 2);
	ck_assert_uint_eq(stat_of(q).total_popped, N);
	munmap(log, sizeof *log);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_serial_queue_plain_pop_waits_for_confirm)
{
	cq_client *c = tc_conn(), *o = tc_conn();
	cq_queue_attr a;
	cq_queue *q, *oq;
	Conqueue__Reply *rep;
	cq_msg *m;
	uint64_t id, pop_id;
	int fd;

	memset(&a, 0, sizeof a);
	a.serial = 1;
	q = tc_mkq(c, "ser", &a);
	oq = tc_openq(o, "ser");
	push_str(q, "1");
	push_str(q, "2");
	push_str(q, "3");
	/* A reservation blocks everyone until acked. */
	id = reserve_expect(q, "1", 0, 1);
	ck_assert_int_eq(cq_try_pop(oq, &m), CQ_EMPTY);
	ck_assert_int_eq(cq_reserve(oq, &m, 0, 0), CQ_EMPTY);
	ck_assert_int_eq(cq_ack(q, id), CQ_OK);
	/* A plain pop blocks everyone until its receipt is confirmed. The
	 * library confirms as it hands a message over, so a raw connection
	 * holds the receipt back. */
	fd = raw_connect();
	ck_assert_ptr_nonnull(rep = rc_pop(fd, "ser", 1, 0, 0));
	ck_assert_uint_eq(rep->status, CQ_OK);
	ck_assert_uint_eq(rep->n_msgs, 1);
	ck_assert_uint_eq(rep->msgs[0]->data.len, 1);
	ck_assert_int_eq(rep->msgs[0]->data.data[0], '2');
	pop_id = rep->id;
	conqueue__reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_EMPTY);
	ck_assert_uint_eq(stat_of(oq).in_flight, 1);
	/* The ping's reply comes after the daemon took the receipt. */
	ck_assert_int_eq(rc_confirm(fd, pop_id), 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
	ck_assert_uint_eq(stat_of(oq).in_flight, 0);
	ck_assert_int_eq(cq_try_pop(q, &m), CQ_OK);
	expect_data(m, "3");
	cq_msg_free(m);
	cq_disconnect(o);
	cq_disconnect(c);
}
END_TEST

/*
 * A delayed release keeps the message in flight (and no longer the
 * connection's) until the delay ends; the connection leaving does not cut
 * it short. The delay that must not have passed is ten minutes, so no
 * scheduler can lose; the return is seen with a short one, waited for.
 */
START_TEST(test_release_with_delay)
{
	cq_client *c = tc_conn();
	cq_queue *q = tc_mkq(c, "later", NULL);
	uint64_t id, other;
	int64_t t0;
	int fd;

	push_str(q, "d");
	push_str(q, "e");
	fd = raw_connect();
	id = raw_reserve(fd, "later");
	other = raw_reserve(fd, "later");
	ck_assert_int_eq(
	    rc_msgop(fd, "later", CONQUEUE__MSG_OP__KIND__RELEASE, id, 600000),
	    CQ_OK);
	/* Released with a delay: still in flight, and no longer ours. */
	wait_counts(q, 0, 2);
	ck_assert_int_eq(
	    rc_msgop(fd, "later", CONQUEUE__MSG_OP__KIND__ACK, id, 0),
	    CQ_NOTFOUND);
	ck_assert_int_eq(
	    rc_msgop(fd, "later", CONQUEUE__MSG_OP__KIND__TOUCH, id, 0),
	    CQ_NOTFOUND);
	/* The connection leaving returns "e" only; "d" stays delayed. */
	close(fd);
	wait_counts(q, 1, 1);
	ck_assert_uint_eq(reserve_expect(q, "e", 0, 2), other);
	/* A short delay ends: the message is back, not before its time. */
	t0 = tu_now_ms();
	ck_assert_int_eq(cq_release_delayed(q, other, 300), CQ_OK);
	wait_counts(q, 1, 1);
	ck_assert_int_ge(tu_now_ms() - t0, 300);
	ck_assert_uint_eq(reserve_expect(q, "e", 0, 3), other);
	ck_assert_int_eq(cq_ack(q, other), CQ_OK);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_restart_returns_in_flight_in_order)
{
	cq_client *c = tc_conn(), *o;
	cq_queue_attr a;
	cq_queue *q;
	cq_msg *m;
	uint64_t ids[6];
	int i;
	char buf[8];

	memset(&a, 0, sizeof a);
	a.bands = 2;
	q = tc_mkq(c, "survive", &a);
	for (i = 0; i < 5; i++) {
		snprintf(buf, sizeof buf, "m%d", i);
		push_str(q, buf);
	}
	ck_assert_int_eq(cq_push_band(q, "hi", 2, 1, 0), CQ_OK);
	ids[5] = reserve_expect(q, "hi", 0, 1);
	ids[0] = reserve_expect(q, "m0", 0, 1);
	ck_assert_int_eq(cq_reserve_detached(q, &m, 0, 0), CQ_OK);
	expect_data(m, "m1");
	ids[1] = cq_msg_id(m);
	cq_msg_free(m);
	ids[2] = reserve_expect(q, "m2", 0, 1);
	/* m0 again after a release: its second delivery is in flight. */
	ck_assert_int_eq(cq_release(q, ids[0]), CQ_OK);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_OK);
	ck_assert_uint_eq(cq_msg_id(m), ids[0]);
	ck_assert_uint_eq(cq_msg_deliveries(m), 2);
	cq_msg_free(m);
	ck_assert_uint_eq(stat_of(q).in_flight, 4);

	tu_daemon_kill(&tc_d);
	ck_assert_int_eq(cq_ack(q, ids[0]), CQ_DISCONNECTED);
	cq_disconnect(c);
	ck_assert_int_eq(tu_daemon_restart(&tc_d, NULL), 0);

	o = tc_conn();
	q = tc_openq(o, "survive");
	{
		cq_queue_stat st = stat_of(q);
		ck_assert_uint_eq(st.length, 6);
		ck_assert_uint_eq(st.in_flight, 0);
	}
	/* Back at the heads of their bands in order, counts kept. */
	ck_assert_uint_eq(reserve_expect(q, "hi", 0, 2), ids[5]);
	ck_assert_uint_eq(reserve_expect(q, "m0", 0, 3), ids[0]);
	ck_assert_uint_eq(reserve_expect(q, "m1", 0, 2), ids[1]);
	ck_assert_uint_eq(reserve_expect(q, "m2", 0, 2), ids[2]);
	reserve_expect(q, "m3", 0, 1);
	reserve_expect(q, "m4", 0, 1);
	ck_assert_int_eq(cq_reserve(q, &m, 0, 0), CQ_EMPTY);
	cq_disconnect(o);
}
END_TEST

/* What the async test's callbacks saw. */
struct async_seen {
	uint64_t ids[64]; /* reserved, to ack after the round */
	int nids;
	int callbacks, canceled, empty, fail;
};

/* Async reserve callback: note the message for acking (no calls here). */
static void
async_cb(cq_status st, cq_msg *m, void *arg)
{
	struct async_seen *s = arg;

	s->callbacks++;
	if (st == CQ_CANCELED)
		s->canceled++;
	else if (st == CQ_EMPTY)
		s->empty++;
	else if (st != CQ_OK || m == NULL || s->nids == 64)
		s->fail++;
	else
		s->ids[s->nids++] = cq_msg_id(m);
	cq_msg_free(m);
}

/* Run c's callbacks until s has seen want of them (bounded). */
static void
async_drive(cq_client *c, struct async_seen *s, int want)
{
	int64_t end = tu_now_ms() + WAIT_MS;
	struct pollfd pfd;

	for (;;) {
		ck_assert_int_eq(cq_client_process(c), CQ_OK);
		if (s->callbacks >= want)
			return;
		ck_assert_msg(tu_now_ms() < end, "callbacks: %d of %d",
		    s->callbacks, want);
		pfd.fd = cq_client_fd(c);
		pfd.events = (short)((cq_client_events(c) & CQ_WANT_WRITE)
		                         ? POLLIN | POLLOUT
		                         : POLLIN);
		poll(&pfd, 1, 100);
	}
}

START_TEST(test_async_reserve_cancel_loses_nothing)
{
	enum { ROUNDS = 12, BATCH = 16 };
	cq_client *c = tc_conn(), *p = tc_conn();
	cq_queue *q = tc_mkq(c, "async", NULL), *pq = tc_openq(p, "async");
	int got[ROUNDS * BATCH / 2], i, k, round;
	struct async_seen s;
	cq_queue_stat st;
	cq_op *ops[BATCH];
	uint64_t first = 0;
	char buf[8];

	memset(got, 0, sizeof got);
	memset(&s, 0, sizeof s);
	/*
	 * Each round parks BATCH reserves, lets another connection push
	 * BATCH/2 messages (served to the oldest half before that push is
	 * answered), then cancels all of them: the served half completes
	 * with its message, the rest with CQ_CANCELED, and no message is lost
	 * or handed out twice.
	 */
	for (round = 0; round < ROUNDS; round++) {
		for (i = 0; i < BATCH; i++)
			ck_assert_int_eq(cq_reserve_async(q, CQ_FOREVER, 0,
			                     async_cb, &s, &ops[i]),
			    CQ_OK);
		while (stat_of(pq).waiting_poppers < BATCH)
			ck_assert_int_eq(cq_client_process(c), CQ_OK);
		for (i = 0; i < BATCH / 2; i++) {
			snprintf(buf, sizeof buf, "%d", round * BATCH / 2 + i);
			push_str(pq, buf);
		}
		/* Cancel from the newest: some before any reply was read. */
		for (i = BATCH; i > 0; i--)
			ck_assert_int_eq(cq_op_cancel(ops[i - 1]), CQ_OK);
		async_drive(c, &s, (round + 1) * BATCH);
		ck_assert_int_eq(s.fail, 0);
		ck_assert_int_eq(s.nids, BATCH / 2);
		for (k = 0; k < s.nids; k++) {
			if (round == 0 && k == 0)
				first = s.ids[0];
			i = (int)(s.ids[k] - first);
			ck_assert_int_ge(i, 0);
			ck_assert_int_lt(i, ROUNDS * BATCH / 2);
			ck_assert_int_eq(got[i]++, 0); /* never twice */
			ck_assert_int_eq(cq_ack(q, s.ids[k]), CQ_OK);
		}
		s.nids = 0;
	}
	ck_assert_int_eq(s.canceled, ROUNDS * BATCH / 2);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.waiting_poppers, 0);
	ck_assert_uint_eq(st.total_popped, ROUNDS * BATCH / 2);
	cq_disconnect(p);
	cq_disconnect(c);
}
END_TEST

START_TEST(test_reserve_given_up_locally_is_released)
{
	cq_client *c = tc_conn(), *p = tc_conn();
	cq_queue *q = tc_mkq(c, "ghost", NULL), *pq = tc_openq(p, "ghost");
	struct async_seen s;
	cq_op *op;

	memset(&s, 0, sizeof s);
	push_str(pq, "keep");
	/*
	 * The daemon stopped: the library gives up on the reserve locally
	 * (timeout + its grace), then the daemon serves it anyway. The late
	 * message must go back to the queue, not stay reserved.
	 */
	ck_assert_int_eq(kill(tc_d.pid, SIGSTOP), 0);
	ck_assert_int_eq(cq_reserve_async(q, 50, 0, async_cb, &s, &op), CQ_OK);
	async_drive(c, &s, 1);
	ck_assert_int_eq(kill(tc_d.pid, SIGCONT), 0);
	ck_assert_int_eq(s.nids, 0);
	ck_assert_int_eq(s.fail + s.canceled, 1);
	/* The release from the library and the stat are ordered on c. */
	ck_assert_int_eq(cq_ping(c), CQ_OK);
	wait_counts(pq, 1, 0);
	ck_assert_uint_eq(reserve_expect(pq, "keep", 0, 2), 1);
	cq_disconnect(p);
	cq_disconnect(c);
}
END_TEST

/* Build the suite. */
static Suite *
reserve_suite(void)
{
	Suite *s = suite_create("reserve");
	TCase *tc = tcase_create("reserve");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reserve_ack_release_touch_statuses);
	tcase_add_test(tc, test_other_connection_cannot_ack);
	tcase_add_test(tc, test_lease_expiry_redelivers_and_touch_extends);
	tcase_add_test(tc, test_disconnect_returns_attached_not_detached);
	tcase_add_test(tc, test_max_deliveries_moves_to_dlq);
	tcase_add_test(tc, test_dlq_name_length);
	tcase_add_test(tc, test_dlq_full_holds_the_message_until_room);
	tcase_add_test(tc, test_stat_has_every_design_field);
	tcase_add_test(tc, test_serial_queue_four_consumers_in_order);
	tcase_add_test(tc, test_serial_queue_plain_pop_waits_for_confirm);
	tcase_add_test(tc, test_release_with_delay);
	tcase_add_test(tc, test_restart_returns_in_flight_in_order);
	tcase_add_test(tc, test_async_reserve_cancel_loses_nothing);
	tcase_add_test(tc, test_reserve_given_up_locally_is_released);
	suite_add_tcase(s, tc);
	return s;
}

/* The tests that need root (another uid): the check_reserve_root twin. */
static Suite *
reserve_root_suite(void)
{
	Suite *s = suite_create("reserve_root");
	TCase *tc = tcase_create("root");

	tcase_add_checked_fixture(tc, setup, tc_cleanup);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_detached_reservation_of_other_uid_is_not_found);
	tcase_add_test(tc, test_dlq_of_other_uid_owner);
	tcase_add_test(tc, test_dlq_squatting_by_other_uid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(getuid() == 0, "check_reserve_root needs root");
		return tu_run(reserve_root_suite(), "reserveroot");
	}
	return tu_run(reserve_suite(), "reserve");
}
