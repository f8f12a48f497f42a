/* check_daemon_dispatch.c - dispatch driven directly, without sockets. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "testutil.h"

/* A connection as a test sees it: the replies dispatch sent to it. */
struct fpeer {
	struct peer p; /* first: the callbacks cast back */
	Conqueue__Reply *r[64];
	int n;
	int closed;
};

static struct event_base *base;
static char instance[64];
static uint64_t next_id = 1;

/* Keep a decoded copy of each reply (dispatch's may live on its stack). */
static void
fpeer_send(struct peer *p, const Conqueue__Reply *r)
{
	struct fpeer *f = (struct fpeer *)(void *)p;
	size_t len = conqueue__reply__get_packed_size(r);
	uint8_t *buf = malloc(len + 1);

	ck_assert_ptr_nonnull(buf);
	conqueue__reply__pack(r, buf);
	ck_assert_int_lt(f->n, 64);
	f->r[f->n] = conqueue__reply__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(f->r[f->n]);
	f->n++;
	free(buf);
}

/* dispatch asks to close: remember it. */
static void
fpeer_close(struct peer *p, const char *why)
{
	(void)why;
	((struct fpeer *)(void *)p)->closed = 1;
}

static const struct peer_ops fpeer_ops = {fpeer_send, fpeer_close, NULL};

/* Take the oldest reply (the caller frees it). */
static Conqueue__Reply *
fpeer_take(struct fpeer *f)
{
	Conqueue__Reply *r;

	ck_assert_int_gt(f->n, 0);
	r = f->r[0];
	memmove(f->r, f->r + 1, (size_t)(f->n - 1) * sizeof f->r[0]);
	f->n--;
	return r;
}

/* Send request r as op (a fresh id) to dispatch from f; the id. */
static uint64_t
req_send(struct fpeer *f, Conqueue__Request *r, Conqueue__Request__OpCase op)
{
	r->id = next_id++;
	r->op_case = op;
	dispatch_request(&f->p, r);
	return r->id;
}

/* A queue name as the request field (borrowed). */
static ProtobufCBinaryData
req_name(const char *name)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)name;
	b.len = strlen(name);
	return b;
}

/* Set up a greeted peer. */
static void
fpeer_init(struct fpeer *f, uint64_t cid)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;

	memset(f, 0, sizeof *f);
	f->p.ops = &fpeer_ops;
	f->p.cid = cid;
	f->p.uid = (uint32_t)getuid();
	f->p.gid = (uint32_t)getgid();
	dispatch_peer_init(&f->p);
	h.protocol_version = CQ_PROTOCOL_VERSION;
	r.hello = &h;
	req_send(f, &r, CONQUEUE__REQUEST__OP_HELLO);
	ck_assert_int_eq(f->n, 1);
	ck_assert_int_eq(f->r[0]->status, CQ_OK);
	ck_assert_ptr_nonnull(f->r[0]->welcome);
	conqueue__reply__free_unpacked(fpeer_take(f), NULL);
}

/* Status of the oldest reply, which must answer id. */
static cq_status
fpeer_status(struct fpeer *f, uint64_t id)
{
	Conqueue__Reply *r = fpeer_take(f);
	cq_status st = (cq_status)r->status;

	ck_assert_uint_eq(r->id, id);
	conqueue__reply__free_unpacked(r, NULL);
	return st;
}

/* Free what is left of a peer. */
static void
fpeer_done(struct fpeer *f)
{
	dispatch_peer_gone(&f->p);
	while (f->n > 0)
		conqueue__reply__free_unpacked(fpeer_take(f), NULL);
}

/* Create queue name. */
static uint64_t
req_create(struct fpeer *f, const char *name, uint32_t capacity)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name = req_name(name);
	a.has_capacity = 1;
	a.capacity = capacity;
	a.has_max_size = 1;
	a.max_size = 64;
	c.attr = &a;
	r.create = &c;
	return req_send(f, &r, CONQUEUE__REQUEST__OP_CREATE);
}

/* Push one message. */
static uint64_t
req_push(struct fpeer *f, const char *name, const char *msg, int64_t timeout)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData d;
	uint64_t id;
	char copy[64];

	/* The request is only lent: scribble over it after the call. */
	snprintf(copy, sizeof copy, "%s", msg);
	d.data = (uint8_t *)copy;
	d.len = strlen(copy);
	p.name = req_name(name);
	p.n_data = 1;
	p.data = &d;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout;
	r.push = &p;
	id = req_send(f, &r, CONQUEUE__REQUEST__OP_PUSH);
	memset(copy, 'X', sizeof copy);
	return id;
}

/* Pop one message. */
static uint64_t
req_pop(struct fpeer *f, const char *name, int64_t timeout)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;

	p.name = req_name(name);
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout;
	r.pop = &p;
	return req_send(f, &r, CONQUEUE__REQUEST__OP_POP);
}

/* Confirm (or reject) pop id. */
static void
req_receipt(struct fpeer *f, uint64_t id, int reject)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;

	if (reject) {
		r.n_reject = 1;
		r.reject = &id;
	} else {
		r.n_confirm = 1;
		r.confirm = &id;
	}
	dispatch_request(&f->p, &r);
}

/* The oldest reply must answer id with message msg; returns deliveries. */
static uint32_t
expect_msg(struct fpeer *f, uint64_t id, const char *msg)
{
	Conqueue__Reply *r = fpeer_take(f);
	uint32_t d;

	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, strlen(msg));
	ck_assert_mem_eq(r->msgs[0]->data.data, msg, strlen(msg));
	d = r->msgs[0]->deliveries;
	conqueue__reply__free_unpacked(r, NULL);
	return d;
}

/* Fresh registry on a private instance for each test. */
static void
setup(void)
{
	char *cause = NULL;

	config_defaults(&cfg);
	log_open(LOG_LEVEL_ERROR, 0);
	tu_shm_remove_prefix(instance);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	waiters_init(base, dispatch_waiter_expired);
	ck_assert_int_eq(registry_open(instance, &cause), 0);
}

/* Forget everything and remove the segments. */
static void
teardown(void)
{
	dispatch_free_all();
	registry_close();
	tu_shm_remove_prefix(instance);
	event_base_free(base);
	config_free(&cfg);
}

START_TEST(test_request_is_only_lent)
{
	struct fpeer a, b;
	uint64_t pop, push;

	fpeer_init(&a, 1);
	fpeer_init(&b, 2);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "q", 1)), CQ_OK);
	/* A parked pop and a parked push outlive their requests. */
	pop = req_pop(&b, "q", -1);
	ck_assert_int_eq(b.n, 0);
	ck_assert_int_eq(
	    fpeer_status(&a, req_push(&a, "q", "first", 0)), CQ_OK);
	ck_assert_uint_eq(expect_msg(&b, pop, "first"), 1);
	push = req_push(&a, "q", "second", -1); /* full: "first" in flight */
	ck_assert_int_eq(a.n, 0);
	req_receipt(&b, pop, 0); /* confirm frees the slot */
	ck_assert_int_eq(fpeer_status(&a, push), CQ_OK);
	pop = req_pop(&b, "q", 0);
	expect_msg(&b, pop, "second");
	fpeer_done(&a);
	fpeer_done(&b);
}
END_TEST

START_TEST(test_gone_peer_returns_in_order)
{
	struct fpeer a, b;
	uint64_t p1, p2, mine, theirs;

	fpeer_init(&a, 1);
	fpeer_init(&b, 2);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "g", 4)), CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, req_push(&a, "g", "m1", 0)), CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, req_push(&a, "g", "m2", 0)), CQ_OK);
	p1 = req_pop(&a, "g", 0);
	expect_msg(&a, p1, "m1");
	p2 = req_pop(&a, "g", 0);
	expect_msg(&a, p2, "m2");
	mine = req_pop(&a, "g", -1); /* parked on a's own connection */
	ck_assert_uint_gt(mine, 0);
	theirs = req_pop(&b, "g", -1);
	ck_assert_int_eq(a.n + b.n, 0);
	/* a goes: its parked pop must not take back m1/m2; b gets m1. */
	dispatch_peer_gone(&a.p);
	ck_assert_int_eq(a.n, 0);
	ck_assert_uint_eq(expect_msg(&b, theirs, "m1"), 2);
	req_receipt(&b, theirs, 0);
	theirs = req_pop(&b, "g", 0);
	ck_assert_uint_eq(expect_msg(&b, theirs, "m2"), 2);
	fpeer_done(&a);
	fpeer_done(&b);
}
END_TEST

START_TEST(test_rejects_keep_order)
{
	struct fpeer a;
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	uint64_t ids[3], p;

	fpeer_init(&a, 1);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "r", 4)), CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, req_push(&a, "r", "m1", 0)), CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, req_push(&a, "r", "m2", 0)), CQ_OK);
	ids[0] = req_pop(&a, "r", 0);
	expect_msg(&a, ids[0], "m1");
	ids[1] = req_pop(&a, "r", 0);
	expect_msg(&a, ids[1], "m2");
	ids[2] = ids[0]; /* listed twice: once is enough */
	r.n_reject = 3;
	r.reject = ids;
	dispatch_request(&a.p, &r);
	ck_assert_int_eq(a.n, 0);
	p = req_pop(&a, "r", 0);
	ck_assert_uint_eq(expect_msg(&a, p, "m1"), 2);
	req_receipt(&a, p, 0);
	p = req_pop(&a, "r", 0);
	ck_assert_uint_eq(expect_msg(&a, p, "m2"), 2);
	req_receipt(&a, p, 0);
	ck_assert_int_eq(fpeer_status(&a, req_pop(&a, "r", 0)), CQ_EMPTY);
	fpeer_done(&a);
}
END_TEST

START_TEST(test_parked_pop_expires_on_the_loop)
{
	struct fpeer a;
	uint64_t id;
	int i;

	fpeer_init(&a, 1);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "t", 1)), CQ_OK);
	id = req_pop(&a, "t", 50);
	ck_assert_int_eq(a.n, 0);
	/* The deadline is a timer of the loop: run it until it fires. */
	for (i = 0; i < 100 && a.n == 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(fpeer_status(&a, id), CQ_TIMEDOUT);
	fpeer_done(&a);
}
END_TEST

/* A named op (pause, resume, ...) on queue name. */
static uint64_t
req_named(struct fpeer *f, const char *name, Conqueue__Named__Kind kind)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;

	n.name = req_name(name);
	n.kind = kind;
	r.named = &n;
	return req_send(f, &r, CONQUEUE__REQUEST__OP_NAMED);
}

/*
 * Wait until the oldest parked op of kind on queue name is past its
 * deadline, without running the loop: its timer has not fired, as when
 * the daemon was stopped or busy when the deadline passed.
 */
static void
wait_deadline_passed(const char *name, int kind)
{
	struct rqueue *q = registry_find(name, strlen(name));
	struct waiter *w;

	ck_assert_ptr_nonnull(q);
	w = waiters_first(&q->wq, kind);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_ne(w->deadline_ns, UINT64_MAX);
	while (time_mono_ns() <= w->deadline_ns)
		usleep(10000); /* poll interval, not a synchronisation */
}

START_TEST(test_expired_pop_gets_nothing)
{
	struct fpeer a, b;
	uint64_t late, pop;

	fpeer_init(&a, 1);
	fpeer_init(&b, 2);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "late", 4)), CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, req_named(&a, "late",
	                                      CONQUEUE__NAMED__KIND__PAUSE)),
	    CQ_OK);
	ck_assert_int_eq(fpeer_status(&b, req_push(&b, "late", "m", 0)), CQ_OK);
	late = req_pop(&a, "late", 100);
	ck_assert_int_eq(a.n, 0);
	wait_deadline_passed("late", WAIT_POP);
	/* Resume: the abandoned pop is answered, not handed the message. */
	ck_assert_int_eq(fpeer_status(&b, req_named(&b, "late",
	                                      CONQUEUE__NAMED__KIND__RESUME)),
	    CQ_OK);
	ck_assert_int_eq(fpeer_status(&a, late), CQ_TIMEDOUT);
	ck_assert_int_eq(a.n, 0);
	pop = req_pop(&b, "late", 0);
	ck_assert_uint_eq(expect_msg(&b, pop, "m"), 1);
	fpeer_done(&a);
	fpeer_done(&b);
}
END_TEST

START_TEST(test_expired_push_is_not_done)
{
	struct fpeer a, b;
	uint64_t late, pop;

	fpeer_init(&a, 1);
	fpeer_init(&b, 2);
	ck_assert_int_eq(fpeer_status(&a, req_create(&a, "full", 1)), CQ_OK);
	ck_assert_int_eq(
	    fpeer_status(&a, req_push(&a, "full", "m1", 0)), CQ_OK);
	late = req_push(&a, "full", "m2", 100);
	ck_assert_int_eq(a.n, 0);
	wait_deadline_passed("full", WAIT_PUSH);
	pop = req_pop(&b, "full", 0);
	expect_msg(&b, pop, "m1");
	req_receipt(&b, pop, 0);
	/* The room freed must not go to a push its client gave up on. */
	ck_assert_int_eq(fpeer_status(&a, late), CQ_TIMEDOUT);
	ck_assert_int_eq(fpeer_status(&b, req_pop(&b, "full", 0)), CQ_EMPTY);
	fpeer_done(&a);
	fpeer_done(&b);
}
END_TEST

START_TEST(test_first_frame_must_be_hello)
{
	struct fpeer f;
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping p = CONQUEUE__PING__INIT;
	Conqueue__Reply *rep;

	memset(&f, 0, sizeof f);
	f.p.ops = &fpeer_ops;
	f.p.cid = 9;
	dispatch_peer_init(&f.p);
	r.id = 5;
	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &p;
	dispatch_request(&f.p, &r);
	ck_assert(f.closed);
	rep = fpeer_take(&f);
	ck_assert_int_eq(rep->status, CQ_PROTOCOL);
	ck_assert_str_eq(
	    rep->detail, "protocol version mismatch: daemon speaks 1");
	conqueue__reply__free_unpacked(rep, NULL);
	fpeer_done(&f);
}
END_TEST

/* The suite. */
static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("daemon_dispatch");
	TCase *tc = tcase_create("dispatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_is_only_lent);
	tcase_add_test(tc, test_gone_peer_returns_in_order);
	tcase_add_test(tc, test_rejects_keep_order);
	tcase_add_test(tc, test_parked_pop_expires_on_the_loop);
	tcase_add_test(tc, test_expired_pop_gets_nothing);
	tcase_add_test(tc, test_expired_push_is_not_done);
	tcase_add_test(tc, test_first_frame_must_be_hello);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int rc;

	/* One instance for the run: the tests run one after the other. */
	snprintf(instance, sizeof instance, "dd%ld-", (long)getpid());
	rc = tu_run(dispatch_suite(), "dispatch");
	/* A failed test skips its teardown: remove its segments here. */
	tu_shm_remove_prefix(instance);
	return rc;
}
