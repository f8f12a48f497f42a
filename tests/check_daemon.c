/* check_daemon.c - the real conqueued driven by a raw-frame client. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "proto/frame.h"
#include "rawclient.h"
#include "testutil.h"

static struct tu_daemon D;
static int d_started;

/* Stop the daemon and remove its files; safe to call twice. */
static void
cleanup(void)
{
	if (d_started) {
		tu_daemon_cleanup(&D);
		d_started = 0;
	}
}

/* Start a private daemon with extra arguments; 0 or -1. */
static int
try_start_daemon(const char *const *extra)
{
	int rc = tu_daemon_start(&D, extra);

	d_started = 1;
	return rc;
}

/* Start a private daemon with extra arguments. */
static void
start_daemon(const char *const *extra)
{
	ck_assert_int_eq(try_start_daemon(extra), 0);
}

/* Checked fixture: a daemon per test, removed even if the test fails. */
static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	start_daemon(NULL);
}

/* Checked fixture teardown: every test also checks a clean SIGTERM exit. */
static void
teardown(void)
{
	int st = 0;

	if (d_started && D.pid > 0)
		st = tu_daemon_stop(&D);
	cleanup();
	ck_assert_int_eq(st, 0);
}

/* Connect to the daemon's socket without the handshake. */
static int
cl_connect_raw(void)
{
	int fd = rc_connect_raw(D.sock);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Write all of buf. */
static void
cl_write(int fd, const void *buf, size_t len)
{
	ck_assert_msg(
	    rc_write(fd, buf, len) == 0, "write: %s", strerror(errno));
}

/* Send one Request frame (an op with id 0 gets a fresh id). */
static void
cl_send(int fd, Conqueue__Request *r)
{
	ck_assert_int_eq(rc_send(fd, r), 0);
}

/* Receive one Reply, or NULL at EOF. */
static Conqueue__Reply *
cl_recv(int fd)
{
	int eof;
	Conqueue__Reply *r = rc_recv_or_eof(fd, &eof);

	ck_assert_msg(r != NULL || eof, "no reply: timed out or bad frame");
	return r;
}

/* Send r (a fresh id if 0) and wait for its reply (the next one to come). */
static Conqueue__Reply *
cl_call(int fd, Conqueue__Request *r)
{
	Conqueue__Reply *rep;

	cl_send(fd, r);
	rep = cl_recv(fd);
	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->id, r->id);
	return rep;
}

/* Connect and greet. */
static int
cl_connect(void)
{
	int fd = rc_connect(D.sock);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Create a queue. */
static Conqueue__Reply *
op_create(int fd, const char *name, uint32_t capacity, uint32_t bands)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = strlen(name);
	if (capacity) {
		a.has_capacity = 1;
		a.capacity = capacity;
	}
	if (bands) {
		a.has_bands = 1;
		a.bands = bands;
	}
	c.attr = &a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	return cl_call(fd, &r);
}

/* Create with a full attribute set. */
static cq_status
st_create_attr(int fd, const char *name, const Conqueue__QueueAttr *a)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = strlen(name);
	c.attr = (Conqueue__QueueAttr *)(uintptr_t)a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	return rc_status(cl_call(fd, &r));
}

/* A named op. */
static Conqueue__Reply *
op_named(int fd, Conqueue__Named__Kind kind, const char *name)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named n = CONQUEUE__NAMED__INIT;

	n.kind = kind;
	n.name.data = (uint8_t *)(uintptr_t)name;
	n.name.len = strlen(name);
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &n;
	return cl_call(fd, &r);
}

/* Send a push of n messages; returns its id. */
static uint64_t
send_push_many(int fd, const char *name, const char *const *msgs, size_t n,
    int64_t timeout_ms, unsigned band, int front)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData data[16];
	size_t i;

	ck_assert_uint_le(n, 16);
	for (i = 0; i < n; i++) {
		data[i].data = (uint8_t *)(uintptr_t)msgs[i];
		data[i].len = strlen(msgs[i]);
	}
	p.name.data = (uint8_t *)(uintptr_t)name;
	p.name.len = strlen(name);
	p.n_data = n;
	p.data = data;
	p.has_band = band != 0;
	p.band = band;
	p.has_front = front;
	p.front = front;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout_ms;
	r.id = rc_fresh_id();
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	cl_send(fd, &r);
	return r.id;
}

/* Send a push of one message. */
static uint64_t
send_push(int fd, const char *name, const char *msg, int64_t timeout_ms)
{
	return send_push_many(fd, name, &msg, 1, timeout_ms, 0, 0);
}

/* Push one message and return the status. */
static cq_status
st_push(int fd, const char *name, const char *msg, int64_t timeout_ms)
{
	uint64_t id = send_push(fd, name, msg, timeout_ms);
	Conqueue__Reply *r = cl_recv(fd);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, id);
	return rc_status(r);
}

/* Send a pop; returns its id. */
static uint64_t
send_pop(int fd, const char *name, uint32_t max, int64_t timeout_ms,
    int reserve, int detach)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;

	p.name.data = (uint8_t *)(uintptr_t)name;
	p.name.len = strlen(name);
	if (max) {
		p.has_max = 1;
		p.max = max;
	}
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout_ms;
	p.has_reserve = p.reserve = reserve != 0;
	p.has_detach = p.detach = detach != 0;
	r.id = rc_fresh_id();
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &p;
	cl_send(fd, &r);
	return r.id;
}

/* Pop (waiting up to timeout_ms) and return the reply. */
static Conqueue__Reply *
do_pop(int fd, const char *name, uint32_t max, int64_t timeout_ms)
{
	uint64_t id = send_pop(fd, name, max, timeout_ms, 0, 0);
	Conqueue__Reply *r = cl_recv(fd);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, id);
	return r;
}

/* Send a frame with only receipts (id 0): confirm or reject pop id. */
static void
send_receipt(int fd, uint64_t id, int reject)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;

	r.id = 0;
	if (reject) {
		r.n_reject = 1;
		r.reject = &id;
	} else {
		r.n_confirm = 1;
		r.confirm = &id;
	}
	cl_send(fd, &r);
}

/* Check a pop reply holds one message msg; returns its id. */
static uint64_t
expect_msg(Conqueue__Reply *r, const char *msg)
{
	uint64_t id;

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(r->status == CQ_OK, "pop status %u (%s)", r->status,
	    r->detail ? r->detail : "");
	ck_assert_uint_eq(r->n_msgs, 1);
	ck_assert_uint_eq(r->msgs[0]->data.len, strlen(msg));
	ck_assert_mem_eq(r->msgs[0]->data.data, msg, strlen(msg));
	id = r->msgs[0]->id;
	return id;
}

/* Pop one message, check it and confirm it. */
static void
pop_expect(int fd, const char *name, const char *msg)
{
	Conqueue__Reply *r = do_pop(fd, name, 1, 0);

	expect_msg(r, msg);
	send_receipt(fd, r->id, 0);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Round trip on fd: every earlier frame of fd has been handled after it. */
static void
sync_conn(int fd)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping p = CONQUEUE__PING__INIT;

	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &p;
	ck_assert_int_eq(rc_status(cl_call(fd, &r)), CQ_OK);
}

/* Stat of a queue (caller frees). */
static Conqueue__Reply *
stat_of(int fd, const char *name)
{
	Conqueue__Reply *r = op_named(fd, CONQUEUE__NAMED__KIND__STAT, name);

	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_ptr_nonnull(r->stat);
	return r;
}

/* ------------------------------------------------------------------ */

START_TEST(test_handshake_welcome)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;
	Conqueue__Reply *rep;
	int fd = cl_connect_raw();

	h.protocol_version = CQ_PROTOCOL_VERSION;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_OK);
	ck_assert_ptr_nonnull(rep->welcome);
	ck_assert_uint_eq(rep->welcome->protocol_version, 1);
	ck_assert_str_eq(rep->welcome->server_version, PACKAGE_VERSION);
	ck_assert_uint_eq(rep->welcome->limits->max_frame, 4259840);
	ck_assert_uint_eq(rep->welcome->limits->max_message, 1048576);
	ck_assert_uint_eq(rep->welcome->limits->max_pending, 4096);
	ck_assert_uint_eq(rep->welcome->limits->max_batch, 1024);
	conqueue__reply__free_unpacked(rep, NULL);
	sync_conn(fd);
	close(fd);
}
END_TEST

START_TEST(test_version_mismatch_closes)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;
	Conqueue__Reply *rep;
	int fd = cl_connect_raw();

	h.protocol_version = 2;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_PROTOCOL);
	ck_assert_str_eq(
	    rep->detail, "protocol version mismatch: daemon speaks 1");
	conqueue__reply__free_unpacked(rep, NULL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
}
END_TEST

START_TEST(test_op_before_hello_closes)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping p = CONQUEUE__PING__INIT;
	Conqueue__Reply *rep;
	int fd = cl_connect_raw();

	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &p;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_PROTOCOL);
	conqueue__reply__free_unpacked(rep, NULL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
}
END_TEST

START_TEST(test_create_open_delete_list)
{
	int fd = cl_connect();
	Conqueue__Reply *r;
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	char longname[70];

	r = op_create(fd, "com.example.jobs", 8, 2);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_ptr_nonnull(r->stat);
	ck_assert_uint_eq(r->stat->capacity, 8);
	ck_assert_uint_eq(r->stat->bands, 2);
	ck_assert_uint_eq(r->stat->max_size, 65536);
	ck_assert_uint_eq(r->stat->mode, 0600);
	ck_assert_uint_eq(r->stat->uid, getuid());
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 1);

	ck_assert_int_eq(
	    rc_status(op_create(fd, "com.example.jobs", 8, 2)), CQ_EXISTS);
	/* exist_ok */
	c.name.data = (uint8_t *)(uintptr_t) "com.example.jobs";
	c.name.len = strlen("com.example.jobs");
	c.has_exist_ok = c.exist_ok = 1;
	req.op_case = CONQUEUE__REQUEST__OP_CREATE;
	req.create = &c;
	ck_assert_int_eq(rc_status(cl_call(fd, &req)), CQ_OK);

	/* Bad names. */
	ck_assert_int_eq(rc_status(op_create(fd, ".hidden", 1, 1)), CQ_INVALID);
	ck_assert_int_eq(rc_status(op_create(fd, "", 1, 1)), CQ_INVALID);
	ck_assert_int_eq(rc_status(op_create(fd, "a/b", 1, 1)), CQ_INVALID);
	ck_assert_int_eq(rc_status(op_create(fd, "sp ace", 1, 1)), CQ_INVALID);
	memset(longname, 'x', 65);
	longname[65] = '\0';
	ck_assert_int_eq(rc_status(op_create(fd, longname, 1, 1)), CQ_INVALID);
	longname[64] = '\0';
	ck_assert_int_eq(rc_status(op_create(fd, longname, 1, 1)), CQ_OK);

	/* Bad attributes. */
	a.has_capacity = 1;
	a.capacity = 0;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.capacity = 1000001;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.capacity = 4;
	a.has_bands = 1;
	a.bands = 9;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.bands = 0;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.bands = 1;
	a.has_max_size = 1;
	a.max_size = 1048577;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.max_size = 0;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	a.max_size = 16;
	a.has_mode = 1;
	a.mode = 01777;
	ck_assert_int_eq(st_create_attr(fd, "bad", &a), CQ_INVALID);
	r = op_named(fd, CONQUEUE__NAMED__KIND__OPEN, "bad");
	ck_assert_int_eq(r->status, CQ_NOTFOUND);
	ck_assert_str_eq(r->detail, "queue 'bad' not found");
	conqueue__reply__free_unpacked(r, NULL);

	/* Open, list, delete. */
	r = op_named(fd, CONQUEUE__NAMED__KIND__OPEN, "com.example.jobs");
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->stat->capacity, 8);
	conqueue__reply__free_unpacked(r, NULL);
	req = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	req.op_case = CONQUEUE__REQUEST__OP_LIST;
	req.list = &l;
	r = cl_call(fd, &req);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_queues, 2);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE,
	                     "com.example.jobs")),
	    CQ_OK);
	ck_assert_int_eq(rc_status(op_named(fd, CONQUEUE__NAMED__KIND__OPEN,
	                     "com.example.jobs")),
	    CQ_NOTFOUND);
	ck_assert_int_eq(rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE,
	                     "com.example.jobs")),
	    CQ_NOTFOUND);
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__STAT, "..")),
	    CQ_INVALID);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 1);
	close(fd);
}
END_TEST

START_TEST(test_push_pop_basics)
{
	int fd = cl_connect();
	Conqueue__Reply *r;
	uint64_t id, first;
	static const char *const three[] = {"m1", "m2", "m3"};
	char big[70000];

	ck_assert_int_eq(rc_status(op_create(fd, "q", 4, 1)), CQ_OK);
	/* Push: ids ascend; pop: FIFO with message ids. */
	id = send_push(fd, "q", "a", -1);
	r = cl_recv(fd);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert(r->has_first_id);
	first = r->first_id;
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(st_push(fd, "q", "b", 0), CQ_OK);
	r = do_pop(fd, "q", 0, 0);
	ck_assert_uint_eq(expect_msg(r, "a"), first);
	ck_assert_uint_eq(r->msgs[0]->deliveries, 1);
	ck_assert_uint_eq(r->msgs[0]->band, 0);
	ck_assert(r->msgs[0]->enqueued_ns > 0);
	send_receipt(fd, r->id, 0);
	conqueue__reply__free_unpacked(r, NULL);
	r = do_pop(fd, "q", 1, -1);
	ck_assert_uint_eq(expect_msg(r, "b"), first + 1);
	send_receipt(fd, r->id, 0);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(rc_status(do_pop(fd, "q", 1, 0)), CQ_EMPTY);

	/* try_push on a full queue; too big; push_front. */
	ck_assert_int_eq(st_push(fd, "q", "x1", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "q", "x2", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "q", "x3", 0), CQ_OK);
	send_push_many(fd, "q", (const char *const[]){"x0"}, 1, 0, 0, 1);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_OK);
	ck_assert_int_eq(st_push(fd, "q", "x5", 0), CQ_FULL);
	pop_expect(fd, "q", "x0");
	pop_expect(fd, "q", "x1");
	pop_expect(fd, "q", "x2");
	pop_expect(fd, "q", "x3");
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(st_push(fd, "q", big, 0), CQ_TOOBIG);
	/* band out of range */
	send_push_many(fd, "q", three, 1, 0, 1, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_INVALID);
	/* push_many: consecutive ids, all or nothing. */
	send_push_many(fd, "q", three, 3, 0, 0, 0);
	r = cl_recv(fd);
	ck_assert_int_eq(r->status, CQ_OK);
	first = r->first_id;
	conqueue__reply__free_unpacked(r, NULL);
	send_push_many(fd, "q", three, 2, 0, 0, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_FULL);
	send_push_many(fd, "q", (const char *const[]){"a", "b", "c", "d", "e"},
	    5, -1, 0, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_INVALID); /* > capacity */
	r = do_pop(fd, "q", 3, 0);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->n_msgs, 3);
	ck_assert_uint_eq(r->msgs[0]->id, first);
	ck_assert_uint_eq(r->msgs[2]->id, first + 2);
	ck_assert_mem_eq(r->msgs[2]->data.data, "m3", 2);
	send_receipt(fd, r->id, 0);
	conqueue__reply__free_unpacked(r, NULL);
	/* pop max out of range */
	ck_assert_int_eq(rc_status(do_pop(fd, "q", 1025, 0)), CQ_INVALID);
	/* Unknown queue. */
	ck_assert_int_eq(st_push(fd, "nope", "x", 0), CQ_NOTFOUND);
	ck_assert_int_eq(rc_status(do_pop(fd, "nope", 1, 0)), CQ_NOTFOUND);
	close(fd);
}
END_TEST

START_TEST(test_bands_and_front)
{
	int fd = cl_connect();

	ck_assert_int_eq(rc_status(op_create(fd, "prio", 16, 3)), CQ_OK);
	send_push_many(fd, "prio", (const char *const[]){"low1"}, 1, 0, 0, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_OK);
	send_push_many(
	    fd, "prio", (const char *const[]){"high1", "high2"}, 2, 0, 2, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_OK);
	send_push_many(fd, "prio", (const char *const[]){"mid"}, 1, 0, 1, 0);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_OK);
	send_push_many(fd, "prio", (const char *const[]){"high0"}, 1, 0, 2, 1);
	ck_assert_int_eq(rc_status(cl_recv(fd)), CQ_OK);
	pop_expect(fd, "prio", "high0");
	pop_expect(fd, "prio", "high1");
	pop_expect(fd, "prio", "high2");
	pop_expect(fd, "prio", "mid");
	pop_expect(fd, "prio", "low1");
	close(fd);
}
END_TEST

START_TEST(test_close_is_closed_drain)
{
	int fd = cl_connect();
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(fd, "c", 4, 1)), CQ_OK);
	r = op_named(fd, CONQUEUE__NAMED__KIND__IS_CLOSED, "c");
	ck_assert(r->has_flag && !r->flag);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(st_push(fd, "c", "1", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "c", "2", 0), CQ_OK);
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "c")), CQ_OK);
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "c")), CQ_OK);
	r = op_named(fd, CONQUEUE__NAMED__KIND__IS_CLOSED, "c");
	ck_assert(r->has_flag && r->flag);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(st_push(fd, "c", "3", -1), CQ_CLOSED);
	pop_expect(fd, "c", "1");
	pop_expect(fd, "c", "2");
	ck_assert_int_eq(rc_status(do_pop(fd, "c", 1, -1)), CQ_CLOSED);
	ck_assert_int_eq(rc_status(do_pop(fd, "c", 1, 0)), CQ_CLOSED);
	close(fd);
}
END_TEST

START_TEST(test_pause_resume_length_stat)
{
	int a = cl_connect(), b = cl_connect();
	Conqueue__Reply *r;
	uint64_t id;

	ck_assert_int_eq(rc_status(op_create(a, "p", 4, 1)), CQ_OK);
	/* length = queued - waiting poppers */
	id = send_pop(b, "p", 1, -1, 0, 0);
	sync_conn(b);
	r = op_named(a, CONQUEUE__NAMED__KIND__LENGTH, "p");
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert(r->has_length);
	ck_assert_int_eq(r->length, -1);
	conqueue__reply__free_unpacked(r, NULL);
	r = stat_of(a, "p");
	ck_assert_uint_eq(r->stat->waiting_poppers, 1);
	conqueue__reply__free_unpacked(r, NULL);

	ck_assert_int_eq(
	    rc_status(op_named(a, CONQUEUE__NAMED__KIND__PAUSE, "p")), CQ_OK);
	ck_assert_int_eq(st_push(a, "p", "m", 0), CQ_OK); /* pushes go in */
	ck_assert_int_eq(rc_status(do_pop(a, "p", 1, 0)), CQ_EMPTY);
	r = stat_of(a, "p");
	ck_assert(r->stat->paused);
	ck_assert_uint_eq(r->stat->length, 1);
	ck_assert_uint_eq(r->stat->total_pushed, 1);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(
	    rc_status(op_named(a, CONQUEUE__NAMED__KIND__RESUME, "p")), CQ_OK);
	r = cl_recv(b);
	ck_assert_uint_eq(r->id, id);
	expect_msg(r, "m");
	conqueue__reply__free_unpacked(r, NULL);
	r = stat_of(a, "p");
	ck_assert_uint_eq(r->stat->in_flight, 1);
	ck_assert_uint_eq(r->stat->waiting_poppers, 0);
	conqueue__reply__free_unpacked(r, NULL);
	send_receipt(b, id, 0);
	sync_conn(b);
	r = stat_of(a, "p");
	ck_assert_uint_eq(r->stat->in_flight, 0);
	ck_assert_uint_eq(r->stat->length, 0);
	ck_assert_uint_eq(r->stat->total_popped, 1);
	conqueue__reply__free_unpacked(r, NULL);
	close(a);
	close(b);
}
END_TEST

START_TEST(test_ping_info)
{
	int fd = cl_connect(), fd2 = cl_connect();
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Info i = CONQUEUE__INFO__INIT;
	Conqueue__Reply *rep;

	sync_conn(fd);
	ck_assert_int_eq(rc_status(op_create(fd, "i1", 2, 1)), CQ_OK);
	r.op_case = CONQUEUE__REQUEST__OP_INFO;
	r.info = &i;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_OK);
	ck_assert_ptr_nonnull(rep->info);
	ck_assert_str_eq(rep->info->version, PACKAGE_VERSION);
	ck_assert_uint_eq(rep->info->connections, 2);
	ck_assert_uint_eq(rep->info->queues, 1);
	ck_assert_uint_eq(rep->info->pid, (uint32_t)D.pid);
	ck_assert(rep->info->storage_bytes > 0);
	ck_assert(rep->info->total_ops >= 4);
	conqueue__reply__free_unpacked(rep, NULL);
	close(fd);
	close(fd2);
}
END_TEST

START_TEST(test_close_wakes_other_connections)
{
	int ctl = cl_connect(), pusher = cl_connect(), pop1 = cl_connect(),
	    pop2 = cl_connect();
	uint64_t idp, id1, id2, idx;
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(ctl, "w", 1, 1)), CQ_OK);
	id1 = send_pop(pop1, "w", 1, -1, 0, 0);
	sync_conn(pop1);
	id2 = send_pop(pop2, "w", 1, -1, 0, 0);
	sync_conn(pop2);
	/* One message: the first parked popper gets it (it stays in flight,
	 * so the queue stays full), the second keeps waiting. */
	ck_assert_int_eq(st_push(ctl, "w", "only", 0), CQ_OK);
	r = cl_recv(pop1);
	ck_assert_uint_eq(r->id, id1);
	expect_msg(r, "only");
	conqueue__reply__free_unpacked(r, NULL);
	idp = send_push(pusher, "w", "late", -1);
	sync_conn(pusher);
	r = stat_of(ctl, "w");
	ck_assert_uint_eq(r->stat->waiting_pushers, 1);
	ck_assert_uint_eq(r->stat->waiting_poppers, 1);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(
	    rc_status(op_named(ctl, CONQUEUE__NAMED__KIND__CLOSE, "w")), CQ_OK);
	r = cl_recv(pusher);
	ck_assert_uint_eq(r->id, idp);
	ck_assert_int_eq(rc_status(r), CQ_CLOSED);
	r = cl_recv(pop2);
	ck_assert_uint_eq(r->id, id2);
	ck_assert_int_eq(rc_status(r), CQ_CLOSED);
	/* pop1 rejects its message: it is back, drained, then CLOSED. */
	send_receipt(pop1, id1, 1);
	idx = send_pop(pop1, "w", 1, -1, 0, 0);
	r = cl_recv(pop1);
	ck_assert_uint_eq(r->id, idx);
	expect_msg(r, "only");
	ck_assert_uint_eq(r->msgs[0]->deliveries, 2);
	send_receipt(pop1, idx, 0);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(rc_status(do_pop(pop1, "w", 1, -1)), CQ_CLOSED);
	close(ctl);
	close(pusher);
	close(pop1);
	close(pop2);
}
END_TEST

START_TEST(test_delete_wakes_waiters)
{
	int ctl = cl_connect(), p = cl_connect();
	uint64_t id;
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(ctl, "del", 1, 1)), CQ_OK);
	id = send_pop(p, "del", 1, -1, 0, 0);
	sync_conn(p);
	ck_assert_int_eq(
	    rc_status(op_named(ctl, CONQUEUE__NAMED__KIND__DELETE, "del")),
	    CQ_OK);
	r = cl_recv(p);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(rc_status(r), CQ_CLOSED);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 0);
	close(ctl);
	close(p);
}
END_TEST

START_TEST(test_timed_ops_time_out)
{
	int fd = cl_connect();
	int64_t t0, dt;

	ck_assert_int_eq(rc_status(op_create(fd, "t", 1, 1)), CQ_OK);
	t0 = tu_now_ms();
	ck_assert_int_eq(rc_status(do_pop(fd, "t", 1, 200)), CQ_TIMEDOUT);
	dt = tu_now_ms() - t0;
	ck_assert_int_ge(dt, 190);
	ck_assert_int_eq(st_push(fd, "t", "fill", 0), CQ_OK);
	t0 = tu_now_ms();
	ck_assert_int_eq(st_push(fd, "t", "more", 200), CQ_TIMEDOUT);
	dt = tu_now_ms() - t0;
	ck_assert_int_ge(dt, 190);
	/* A timed pop that is served in time gets its message. */
	pop_expect(fd, "t", "fill");
	close(fd);
}
END_TEST

START_TEST(test_parked_pop_survives_traffic)
{
	int a = cl_connect(), b = cl_connect();
	uint64_t id;
	int i;
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(a, "s", 8, 1)), CQ_OK);
	ck_assert_int_eq(rc_status(op_create(a, "other", 8, 1)), CQ_OK);
	id = send_pop(a, "s", 1, -1, 0, 0);
	for (i = 0; i < 20; i++) {
		sync_conn(a); /* other ops on the same connection */
		ck_assert_int_eq(st_push(a, "other", "x", 0), CQ_OK);
		pop_expect(a, "other", "x");
		ck_assert_int_eq(st_push(b, "other", "y", 0), CQ_OK);
		pop_expect(b, "other", "y");
	}
	ck_assert_int_eq(st_push(b, "s", "finally", 0), CQ_OK);
	r = cl_recv(a);
	ck_assert_uint_eq(r->id, id);
	expect_msg(r, "finally");
	conqueue__reply__free_unpacked(r, NULL);
	close(a);
	close(b);
}
END_TEST

START_TEST(test_waiters_fifo_fairness)
{
	int c[3], prod = cl_connect(), i;
	uint64_t id[3];
	char want[8];
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(prod, "fair", 8, 1)), CQ_OK);
	for (i = 0; i < 3; i++) {
		c[i] = cl_connect();
		id[i] = send_pop(c[i], "fair", 1, -1, 0, 0);
		sync_conn(c[i]); /* parked in this order */
	}
	ck_assert_int_eq(st_push(prod, "fair", "m0", 0), CQ_OK);
	ck_assert_int_eq(st_push(prod, "fair", "m1", 0), CQ_OK);
	ck_assert_int_eq(st_push(prod, "fair", "m2", 0), CQ_OK);
	for (i = 0; i < 3; i++) {
		r = cl_recv(c[i]);
		ck_assert_uint_eq(r->id, id[i]);
		snprintf(want, sizeof want, "m%d", i);
		expect_msg(r, want);
		conqueue__reply__free_unpacked(r, NULL);
		close(c[i]);
	}
	close(prod);
}
END_TEST

START_TEST(test_cancel_parked_pop)
{
	int fd = cl_connect();
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel c = CONQUEUE__CANCEL__INIT;
	Conqueue__Reply *rep;
	uint64_t id;

	ck_assert_int_eq(rc_status(op_create(fd, "cx", 2, 1)), CQ_OK);
	id = send_pop(fd, "cx", 1, -1, 0, 0);
	/* The same id again while pending: CQ_INVALID. */
	{
		Conqueue__Request d = CONQUEUE__REQUEST__INIT;
		Conqueue__Ping p = CONQUEUE__PING__INIT;
		d.id = id;
		d.op_case = CONQUEUE__REQUEST__OP_PING;
		d.ping = &p;
		rep = cl_call(fd, &d);
		ck_assert_int_eq(rep->status, CQ_INVALID);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	c.target = id;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &c;
	r.id = rc_fresh_id();
	cl_send(fd, &r);
	rep = cl_recv(fd);
	ck_assert_uint_eq(rep->id, id);
	ck_assert_int_eq(rc_status(rep), CQ_CANCELED);
	rep = cl_recv(fd);
	ck_assert_uint_eq(rep->id, r.id);
	ck_assert_int_eq(rc_status(rep), CQ_OK);
	/* Already completed: NOTFOUND. */
	r.id = 0;
	ck_assert_int_eq(rc_status(cl_call(fd, &r)), CQ_NOTFOUND);
	/* The cancelled pop took nothing. */
	ck_assert_int_eq(st_push(fd, "cx", "kept", 0), CQ_OK);
	pop_expect(fd, "cx", "kept");
	close(fd);
}
END_TEST

START_TEST(test_handoff_close_before_confirm)
{
	int a = cl_connect(), b = cl_connect();
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(a, "h", 4, 1)), CQ_OK);
	ck_assert_int_eq(st_push(a, "h", "one", 0), CQ_OK);
	ck_assert_int_eq(st_push(a, "h", "two", 0), CQ_OK);
	r = do_pop(a, "h", 2, 0);
	ck_assert_uint_eq(r->n_msgs, 2);
	conqueue__reply__free_unpacked(r, NULL);
	/* A parked pop of the same connection must not take them back. */
	send_pop(a, "h", 1, -1, 0, 0);
	sync_conn(a);
	close(a); /* received, never confirmed */
	/* b may see them only once the daemon noticed: wait blocking. */
	r = do_pop(b, "h", 1, 5000);
	expect_msg(r, "one");
	ck_assert_uint_eq(r->msgs[0]->deliveries, 2);
	send_receipt(b, r->id, 0);
	conqueue__reply__free_unpacked(r, NULL);
	pop_expect(b, "h", "two");
	close(b);
}
END_TEST

START_TEST(test_handoff_reject_and_confirm)
{
	int fd = cl_connect();
	Conqueue__Reply *r, *s;
	uint64_t id;

	ck_assert_int_eq(rc_status(op_create(fd, "rj", 4, 1)), CQ_OK);
	ck_assert_int_eq(st_push(fd, "rj", "a", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "rj", "b", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "rj", "c", 0), CQ_OK);
	r = do_pop(fd, "rj", 2, 0);
	ck_assert_uint_eq(r->n_msgs, 2);
	id = r->id;
	conqueue__reply__free_unpacked(r, NULL);
	s = stat_of(fd, "rj");
	ck_assert_uint_eq(s->stat->in_flight, 2);
	ck_assert_uint_eq(s->stat->length, 1);
	conqueue__reply__free_unpacked(s, NULL);
	send_receipt(fd, id, 1); /* reject: back at the head, in order */
	send_receipt(fd, id, 1); /* a second receipt is ignored */
	r = do_pop(fd, "rj", 3, 0);
	ck_assert_uint_eq(r->n_msgs, 3);
	ck_assert_mem_eq(r->msgs[0]->data.data, "a", 1);
	ck_assert_mem_eq(r->msgs[1]->data.data, "b", 1);
	ck_assert_mem_eq(r->msgs[2]->data.data, "c", 1);
	ck_assert_uint_eq(r->msgs[0]->deliveries, 2);
	ck_assert_uint_eq(r->msgs[2]->deliveries, 1);
	id = r->id;
	conqueue__reply__free_unpacked(r, NULL);
	send_receipt(fd, id, 0); /* confirm: gone */
	s = stat_of(fd, "rj");
	ck_assert_uint_eq(s->stat->in_flight, 0);
	ck_assert_uint_eq(s->stat->length, 0);
	conqueue__reply__free_unpacked(s, NULL);
	ck_assert_int_eq(rc_status(do_pop(fd, "rj", 1, 0)), CQ_EMPTY);
	close(fd);
}
END_TEST

START_TEST(test_reserve_ack_release_detach)
{
	int a = cl_connect(), b = cl_connect();
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp m = CONQUEUE__MSG_OP__INIT;
	Conqueue__Reply *rep;
	uint64_t mid;

	ck_assert_int_eq(rc_status(op_create(a, "rs", 4, 1)), CQ_OK);
	ck_assert_int_eq(st_push(a, "rs", "job1", 0), CQ_OK);
	ck_assert_int_eq(st_push(a, "rs", "job2", 0), CQ_OK);
	send_pop(a, "rs", 1, 0, 1, 0);
	rep = cl_recv(a);
	mid = expect_msg(rep, "job1");
	conqueue__reply__free_unpacked(rep, NULL);
	m.name.data = (uint8_t *)(uintptr_t) "rs";
	m.name.len = 2;
	m.msg_id = mid;
	r.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	r.msg_op = &m;
	/* Another connection may not ack an attached reservation. */
	m.kind = CONQUEUE__MSG_OP__KIND__ACK;
	ck_assert_int_eq(rc_status(cl_call(b, &r)), CQ_NOTFOUND);
	r.id = 0;
	m.kind = CONQUEUE__MSG_OP__KIND__TOUCH;
	ck_assert_int_eq(rc_status(cl_call(a, &r)), CQ_OK);
	r.id = 0;
	m.kind = CONQUEUE__MSG_OP__KIND__RELEASE;
	ck_assert_int_eq(rc_status(cl_call(a, &r)), CQ_OK);
	r.id = 0;
	ck_assert_int_eq(rc_status(cl_call(a, &r)), CQ_NOTFOUND);
	/* Released: job1 is back at the head. Reserve detached, ack from b. */
	send_pop(a, "rs", 1, 0, 1, 1);
	rep = cl_recv(a);
	mid = expect_msg(rep, "job1");
	ck_assert_uint_eq(rep->msgs[0]->deliveries, 2);
	conqueue__reply__free_unpacked(rep, NULL);
	close(a); /* a detached reservation survives its connection */
	m.msg_id = mid;
	m.kind = CONQUEUE__MSG_OP__KIND__ACK;
	r.id = 0;
	ck_assert_int_eq(rc_status(cl_call(b, &r)), CQ_OK);
	pop_expect(b, "rs", "job2");
	ck_assert_int_eq(rc_status(do_pop(b, "rs", 1, 0)), CQ_EMPTY);
	close(b);
}
END_TEST

START_TEST(test_reserve_lease_expiry_and_disconnect)
{
	int a = cl_connect(), b = cl_connect();
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;
	Conqueue__Reply *rep;

	ck_assert_int_eq(rc_status(op_create(a, "ls", 4, 1)), CQ_OK);
	ck_assert_int_eq(st_push(a, "ls", "L", 0), CQ_OK);
	p.name.data = (uint8_t *)(uintptr_t) "ls";
	p.name.len = 2;
	p.has_reserve = p.reserve = 1;
	p.has_lease_ms = 1;
	p.lease_ms = 150;
	p.has_timeout_ms = 1;
	p.timeout_ms = 0;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &p;
	rep = cl_call(a, &r);
	expect_msg(rep, "L");
	conqueue__reply__free_unpacked(rep, NULL);
	/* The lease runs out: a blocking pop elsewhere gets it back. */
	rep = do_pop(b, "ls", 1, 5000);
	expect_msg(rep, "L");
	ck_assert_uint_eq(rep->msgs[0]->deliveries, 2);
	send_receipt(b, rep->id, 1);
	conqueue__reply__free_unpacked(rep, NULL);
	/* Attached reservation: the connection closing returns it. */
	p.lease_ms = 60000;
	r.id = 0;
	rep = cl_call(a, &r);
	expect_msg(rep, "L");
	conqueue__reply__free_unpacked(rep, NULL);
	close(a);
	rep = do_pop(b, "ls", 1, 5000);
	expect_msg(rep, "L");
	ck_assert_uint_eq(rep->msgs[0]->deliveries, 4);
	conqueue__reply__free_unpacked(rep, NULL);
	close(b);
}
END_TEST

START_TEST(test_dead_letter_queue)
{
	int fd = cl_connect();
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Reply *r;

	a.has_capacity = 1;
	a.capacity = 4;
	a.has_max_deliveries = 1;
	a.max_deliveries = 2;
	ck_assert_int_eq(st_create_attr(fd, "dq", &a), CQ_OK);
	ck_assert_int_eq(st_push(fd, "dq", "poison", 0), CQ_OK);
	r = do_pop(fd, "dq", 1, 0);
	expect_msg(r, "poison");
	send_receipt(fd, r->id, 1);
	conqueue__reply__free_unpacked(r, NULL);
	r = do_pop(fd, "dq", 1, 0);
	expect_msg(r, "poison");
	ck_assert_uint_eq(r->msgs[0]->deliveries, 2);
	send_receipt(fd, r->id, 1); /* second delivery failed: dead letter */
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(rc_status(do_pop(fd, "dq", 1, 0)), CQ_EMPTY);
	pop_expect(fd, "dq.dlq", "poison");
	r = stat_of(fd, "dq");
	ck_assert_uint_eq(r->stat->dead_lettered, 1);
	ck_assert_uint_eq(r->stat->in_flight, 0);
	conqueue__reply__free_unpacked(r, NULL);
	close(fd);
}
END_TEST

START_TEST(test_kill_and_restart_keeps_everything)
{
	int fd = cl_connect();
	Conqueue__Reply *r;

	ck_assert_int_eq(rc_status(op_create(fd, "keep", 8, 2)), CQ_OK);
	ck_assert_int_eq(rc_status(op_create(fd, "keep2", 2, 1)), CQ_OK);
	ck_assert_int_eq(st_push(fd, "keep", "k1", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "keep", "k2", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "keep", "k3", 0), CQ_OK);
	ck_assert_int_eq(st_push(fd, "keep2", "z", 0), CQ_OK);
	r = do_pop(fd, "keep", 1, 0); /* in flight when the daemon dies */
	expect_msg(r, "k1");
	conqueue__reply__free_unpacked(r, NULL);
	tu_daemon_kill(&D);
	close(fd);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	fd = cl_connect();
	r = stat_of(fd, "keep");
	ck_assert_uint_eq(r->stat->length, 3);
	ck_assert_uint_eq(r->stat->in_flight, 0);
	ck_assert_uint_eq(r->stat->bands, 2);
	conqueue__reply__free_unpacked(r, NULL);
	pop_expect(fd, "keep", "k1");
	pop_expect(fd, "keep", "k2");
	pop_expect(fd, "keep", "k3");
	pop_expect(fd, "keep2", "z");
	/* New queues get fresh segments next to the old ones. */
	ck_assert_int_eq(rc_status(op_create(fd, "new", 2, 1)), CQ_OK);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 3);
	close(fd);
}
END_TEST

START_TEST(test_second_daemon_refused)
{
	char err[2048];
	const char *args[] = {"-s", D.sock, "--instance", D.instance, NULL};
	int fd;

	ck_assert_int_eq(tu_daemon_run(args, err, sizeof err), 1);
	ck_assert_ptr_nonnull(strstr(err, "already running"));
	/* The first one is unharmed. */
	fd = cl_connect();
	sync_conn(fd);
	close(fd);
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	int fd;

	/* A daemon killed hard leaves its socket file behind. */
	tu_daemon_kill(&D);
	ck_assert_int_eq(access(D.sock, F_OK), 0);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	fd = cl_connect();
	sync_conn(fd);
	close(fd);
}
END_TEST

/* Send raw bytes after the handshake; expect CQ_PROTOCOL then EOF. */
static void
expect_protocol_error(const void *bytes, size_t len)
{
	int fd = cl_connect();
	Conqueue__Reply *r;

	cl_write(fd, bytes, len);
	r = cl_recv(fd);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_PROTOCOL);
	ck_assert_ptr_nonnull(r->detail);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
}

START_TEST(test_malformed_frames)
{
	static const uint8_t len0[] = {0, 0, 0, 0};
	static const uint8_t huge[] = {0, 0x41, 0, 1}; /* max_frame + 1 */
	static const uint8_t ff[] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t garbage[] = {
	    0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37};
	/* id=5, ping, unknown field 99 */
	static const uint8_t unknown[] = {
	    0, 0, 0, 8, 0x08, 0x05, 0x9a, 0x01, 0x00, 0x98, 0x06, 0x01};
	static const uint8_t dup[] = {
	    0, 0, 0, 7, 0x08, 0x05, 0x08, 0x06, 0x9a, 0x01, 0x00};
	static const uint8_t noop[] = {0, 0, 0, 2, 0x08, 0x05};
	static const uint8_t id0[] = {0, 0, 0, 5, 0x08, 0x00, 0x9a, 0x01, 0x00};
	int other = cl_connect(), fd;
	Conqueue__Reply *r;

	ck_assert_uint_eq(frame_get_len(huge), 4259841);
	expect_protocol_error(len0, sizeof len0);
	expect_protocol_error(huge, sizeof huge);
	expect_protocol_error(ff, sizeof ff);
	expect_protocol_error(garbage, sizeof garbage);
	expect_protocol_error(unknown, sizeof unknown);
	expect_protocol_error(dup, sizeof dup);
	expect_protocol_error(noop, sizeof noop);
	expect_protocol_error(id0, sizeof id0);
	/* The id is echoed when it could be read. */
	fd = cl_connect();
	cl_write(fd, unknown, sizeof unknown);
	r = cl_recv(fd);
	ck_assert_uint_eq(r->id, 5);
	ck_assert_int_eq(rc_status(r), CQ_PROTOCOL);
	close(fd);
	/* Garbage as the very first frame. */
	fd = cl_connect_raw();
	cl_write(fd, garbage, sizeof garbage);
	r = cl_recv(fd);
	ck_assert_int_eq(rc_status(r), CQ_PROTOCOL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
	/* Another connection kept working throughout. */
	sync_conn(other);
	close(other);
}
END_TEST

START_TEST(test_frame_timeout)
{
	static const uint8_t partial[] = {0, 0, 0, 10, 0x08};
	const char *cfgpath =
	    tu_write_config("frame_timeout_ms = 2000   # short for the test\n");
	const char *args[] = {"-c", cfgpath, NULL};
	int fd, silent, rc;
	Conqueue__Reply *r;
	int64_t t0;

	cleanup();
	rc = try_start_daemon(args);
	unlink(cfgpath);
	ck_assert_int_eq(rc, 0);
	fd = cl_connect();
	silent = cl_connect_raw(); /* never says hello */
	t0 = tu_now_ms();
	cl_write(fd, partial, sizeof partial);
	r = cl_recv(fd);
	ck_assert_int_eq(rc_status(r), CQ_PROTOCOL);
	ck_assert(rc_wait_eof(fd));
	ck_assert_int_ge(tu_now_ms() - t0, 1990);
	ck_assert(rc_wait_eof(silent));
	close(fd);
	close(silent);
}
END_TEST

START_TEST(test_connection_and_pending_limits)
{
	const char *cfgpath = tu_write_config("max_connections_per_uid = 2\n"
	                                      "max_pending_per_conn = 2\n");
	const char *args[] = {"-c", cfgpath, NULL};
	int a, b, c, rc;
	Conqueue__Reply *r;

	cleanup();
	rc = try_start_daemon(args);
	unlink(cfgpath);
	ck_assert_int_eq(rc, 0);
	a = cl_connect();
	b = cl_connect();
	c = cl_connect_raw();
	r = cl_recv(c);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, 0);
	ck_assert_int_eq(r->status, CQ_LIMIT);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert(rc_wait_eof(c));
	close(c);
	ck_assert_int_eq(rc_status(op_create(a, "pl", 2, 1)), CQ_OK);
	send_pop(a, "pl", 1, -1, 0, 0);
	send_pop(a, "pl", 1, -1, 0, 0);
	ck_assert_int_eq(rc_status(do_pop(a, "pl", 1, -1)), CQ_LIMIT);
	close(a);
	close(b);
	/* The closed connections free their places. */
	for (int i = 0; i < 100; i++) {
		struct timespec ts = {0, 10000000};
		a = cl_connect_raw();
		{
			Conqueue__Request q = CONQUEUE__REQUEST__INIT;
			Conqueue__Hello h = CONQUEUE__HELLO__INIT;
			h.protocol_version = 1;
			q.op_case = CONQUEUE__REQUEST__OP_HELLO;
			q.hello = &h;
			q.id = 1;
			cl_send(a, &q);
		}
		r = cl_recv(a);
		close(a);
		if (r != NULL && rc_status(r) == CQ_OK)
			return;
		nanosleep(&ts, NULL); /* bounded poll on a condition */
	}
	ck_abort_msg("connection slots were not released");
}
END_TEST

START_TEST(test_bad_config_refused)
{
	char err[2048];
	const char *cfgpath = tu_write_config("# comment\nmax_batch = 10\n"
	                                      "no_such_key = 1\n");
	const char *args[] = {"-c", cfgpath, "-s", "/tmp/never.sock", NULL};

	ck_assert_int_eq(tu_daemon_run(args, err, sizeof err), 1);
	ck_assert_msg(strstr(err, ":3: unknown key 'no_such_key'") != NULL,
	    "stderr: %s", err);
	unlink(cfgpath);
	cfgpath = tu_write_config("max_frame = lots\n");
	args[1] = cfgpath;
	ck_assert_int_eq(tu_daemon_run(args, err, sizeof err), 1);
	ck_assert_ptr_nonnull(strstr(err, ":1: max_frame"));
	unlink(cfgpath);
}
END_TEST

START_TEST(test_sigterm_answers_parked_and_exits_0)
{
	int fd = cl_connect();
	Conqueue__Reply *r;
	uint64_t id;

	ck_assert_int_eq(rc_status(op_create(fd, "term", 1, 1)), CQ_OK);
	ck_assert_int_eq(st_push(fd, "term", "stays", 0), CQ_OK);
	id = send_push(fd, "term", "never", -1); /* full: parks */
	sync_conn(fd);
	ck_assert_int_eq(tu_daemon_stop(&D), 0);
	r = cl_recv(fd);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, CQ_DISCONNECTED);
	ck_assert_str_eq(r->detail, "daemon shutting down");
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert(rc_wait_eof(fd));
	close(fd);
	/* The queues stay in shared memory. */
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 1);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	fd = cl_connect();
	pop_expect(fd, "term", "stays");
	ck_assert_int_eq(rc_status(do_pop(fd, "term", 1, 0)), CQ_EMPTY);
	close(fd);
}
END_TEST

START_TEST(test_sigterm_answers_parked_pop)
{
	int fd = cl_connect();
	Conqueue__Reply *r;
	uint64_t id;

	ck_assert_int_eq(rc_status(op_create(fd, "tp", 1, 1)), CQ_OK);
	id = send_pop(fd, "tp", 1, -1, 0, 0);
	sync_conn(fd);
	ck_assert_int_eq(tu_daemon_stop(&D), 0);
	r = cl_recv(fd);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, id);
	ck_assert_int_eq(r->status, CQ_DISCONNECTED);
	conqueue__reply__free_unpacked(r, NULL);
	close(fd);
}
END_TEST

/* Restart the test's daemon with extra arguments (the fixture's goes). */
static void
restart_with(const char *const *args, const char *unlink_after)
{
	int rc;

	cleanup();
	rc = try_start_daemon(args);
	if (unlink_after != NULL)
		unlink(unlink_after);
	ck_assert_int_eq(rc, 0);
}

/* Queue attributes with a mode. */
static cq_status
st_create_mode(int fd, const char *name, uint32_t mode)
{
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	a.has_mode = 1;
	a.mode = mode;
	return st_create_attr(fd, name, &a);
}

/* In a child running as nobody: the checks of test_access_by_mode. */
static int
access_as_nobody(void)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Chmod c = CONQUEUE__CHMOD__INIT;
	Conqueue__Reply *rep;
	int fd, n;

	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 100;
	fd = cl_connect();
	if (st_push(fd, "priv", "x", 0) != CQ_DENIED)
		return 1;
	if (rc_status(do_pop(fd, "priv", 1, 0)) != CQ_DENIED)
		return 2;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__STAT, "priv")) !=
	    CQ_DENIED)
		return 3;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__OPEN, "priv")) !=
	    CQ_DENIED)
		return 4;
	if (st_push(fd, "pub", "x", 0) != CQ_OK)
		return 5;
	rep = do_pop(fd, "pub", 1, 0);
	if (rep->status != CQ_OK)
		return 6;
	send_receipt(fd, rep->id, 0);
	conqueue__reply__free_unpacked(rep, NULL);
	if (st_push(fd, "ro", "x", 0) != CQ_DENIED)
		return 7;
	if (rc_status(do_pop(fd, "ro", 1, 0)) != CQ_EMPTY)
		return 8;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__OPEN, "wo")) != CQ_OK)
		return 9; /* a producer may open a push-only queue */
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "pub")) !=
	    CQ_DENIED)
		return 10;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE, "pub")) !=
	    CQ_DENIED)
		return 11;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__PAUSE, "pub")) !=
	    CQ_DENIED)
		return 12;
	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &l;
	rep = cl_call(fd, &r);
	n = (int)rep->n_queues; /* pub and ro: readable */
	conqueue__reply__free_unpacked(rep, NULL);
	if (n != 2)
		return 13;
	if (st_create_mode(fd, "mine", 0600) != CQ_OK)
		return 14;
	c.name.data = (uint8_t *)(uintptr_t) "mine";
	c.name.len = 4;
	c.mode = 0640;
	r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	r.op_case = CONQUEUE__REQUEST__OP_CHMOD;
	r.chmod = &c;
	if (rc_status(cl_call(fd, &r)) != CQ_OK)
		return 15;
	c.name.data = (uint8_t *)(uintptr_t) "pub";
	c.name.len = 3;
	r.id = 0;
	if (rc_status(cl_call(fd, &r)) != CQ_DENIED)
		return 16;
	if (rc_status(op_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "mine")) !=
	    CQ_OK)
		return 17;
	close(fd);
	return 0;
}

START_TEST(test_access_by_mode)
{
	const char *args[] = {"--socket-mode", "0666", NULL};
	struct stat sb;
	Conqueue__Reply *r;
	int fd, st;
	pid_t pid;

	restart_with(args, NULL); /* root: check_daemon_root */
	ck_assert_int_eq(stat(D.sock, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0666);
	ck_assert_int_eq(chmod(D.dir, 0711), 0);
	fd = cl_connect();
	ck_assert_int_eq(st_create_mode(fd, "priv", 0600), CQ_OK);
	ck_assert_int_eq(st_create_mode(fd, "pub", 0666), CQ_OK);
	ck_assert_int_eq(st_create_mode(fd, "ro", 0644), CQ_OK);
	ck_assert_int_eq(st_create_mode(fd, "wo", 0602), CQ_OK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(access_as_nobody());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "access check step %d failed", WEXITSTATUS(st));
	/* Owner and group come from SO_PEERCRED; the owner closed it. */
	r = stat_of(fd, "mine");
	ck_assert_uint_eq(r->stat->uid, 65534);
	ck_assert_uint_eq(r->stat->gid, 65534);
	ck_assert_uint_eq(r->stat->mode, 0640);
	ck_assert(r->stat->closed);
	conqueue__reply__free_unpacked(r, NULL);
	/* An admin passes every check. */
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE, "mine")),
	    CQ_OK);
	close(fd);
}
END_TEST

START_TEST(test_default_socket_mode)
{
	struct stat sb;

	ck_assert_int_eq(stat(D.sock, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 0777, 0660);
}
END_TEST

START_TEST(test_slow_reader_dropped)
{
	const char *cfgpath = tu_write_config("max_outbuf = 65536\n"
	                                      "slow_reader_grace_ms = 300\n");
	const char *args[] = {"-c", cfgpath, NULL};
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Info in = CONQUEUE__INFO__INIT;
	static uint8_t batch[1000 * 16];
	size_t blen = 0;
	ssize_t n;
	long rounds = 0;
	int slow, watch, i;
	struct pollfd pfd;
	Conqueue__Reply *rep;

	restart_with(args, cfgpath);
	watch = cl_connect();
	slow = cl_connect();
	r.op_case = CONQUEUE__REQUEST__OP_INFO;
	r.info = &in;
	for (i = 0; i < 1000; i++) {
		r.id = 1000000 + (uint64_t)i;
		blen += rc_pack(&r, batch + blen);
	}
	/*
	 * Pipeline requests and never read a reply, until the daemon stops
	 * reading: no room to write for 1 s.
	 */
	fcntl(slow, F_SETFL, O_NONBLOCK);
	pfd.fd = slow;
	pfd.events = POLLOUT;
	for (;;) {
		n = write(slow, batch, blen);
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, 1000) == 0)
				break;
			continue;
		}
		if (n < 0) {
			ck_assert_int_eq(errno, EPIPE); /* dropped already */
			break;
		}
		ck_assert_int_lt(++rounds, 100000);
	}
	/* The daemon drops it after the grace period; watch sees it go. */
	for (i = 0; i < 500; i++) {
		struct timespec ts = {0, 10000000};
		r.id = rc_fresh_id();
		cl_send(watch, &r);
		rep = cl_recv(watch);
		ck_assert_ptr_nonnull(rep);
		n = rep->info->connections;
		conqueue__reply__free_unpacked(rep, NULL);
		if (n == 1)
			break;
		nanosleep(&ts, NULL); /* bounded poll on a condition */
	}
	ck_assert_int_eq(n, 1);
	fcntl(slow, F_SETFL, 0);
	ck_assert(rc_wait_eof(slow));
	close(slow);
	close(watch);
}
END_TEST

START_TEST(test_sighup_reloads_limits)
{
	char cfgpath[64];
	const char *args[] = {"-c", cfgpath, NULL};
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;
	Conqueue__Reply *rep;
	uint32_t batch = 0;
	int fd, i;

	snprintf(
	    cfgpath, sizeof cfgpath, "%s", tu_write_config("max_batch = 10\n"));
	cleanup();
	ck_assert_int_eq(try_start_daemon(args), 0);
	h.protocol_version = CQ_PROTOCOL_VERSION;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	fd = cl_connect_raw();
	rep = cl_call(fd, &r);
	ck_assert_uint_eq(rep->welcome->limits->max_batch, 10);
	conqueue__reply__free_unpacked(rep, NULL);
	close(fd);
	/*
	 * A bad file is refused and the old settings stay (files are replaced
	 * atomically so the daemon never reads half of one).
	 */
	ck_assert_int_eq(
	    rename(tu_write_config("max_batch = many\n"), cfgpath), 0);
	kill(D.pid, SIGHUP);
	ck_assert_int_eq(rename(tu_write_config("max_batch = 20\n"
	                                        "log_level = debug\n"),
	                     cfgpath),
	    0);
	kill(D.pid, SIGHUP);
	for (i = 0; i < 500 && batch != 20; i++) {
		struct timespec ts = {0, 10000000};
		fd = cl_connect_raw();
		r.id = 0;
		rep = cl_call(fd, &r);
		batch = rep->welcome->limits->max_batch;
		ck_assert(batch == 10 || batch == 20);
		conqueue__reply__free_unpacked(rep, NULL);
		close(fd);
		if (batch != 20)
			nanosleep(&ts, NULL); /* bounded poll on a condition */
	}
	unlink(cfgpath);
	ck_assert_uint_eq(batch, 20);
}
END_TEST

START_TEST(test_notify_socket)
{
	char path[300], buf[256];
	struct sockaddr_un sun;
	struct pollfd pfd;
	ssize_t n;
	int s;

	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	snprintf(path, sizeof path, "%s/notify", D.dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof sun), 0);
	/* Restart in the same dir with NOTIFY_SOCKET in its environment. */
	ck_assert_int_eq(tu_daemon_stop(&D), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "100000", 1);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	pfd.fd = s;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, RC_IO_TIMEOUT_MS), 1);
	n = recv(s, buf, sizeof buf - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "READY=1"));
	/* WatchdogSec: pings at half the interval. */
	ck_assert_int_eq(poll(&pfd, 1, RC_IO_TIMEOUT_MS), 1);
	n = recv(s, buf, sizeof buf - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "WATCHDOG=1");
	ck_assert_int_eq(tu_daemon_stop(&D), 0);
	do {
		ck_assert_int_eq(poll(&pfd, 1, RC_IO_TIMEOUT_MS), 1);
		n = recv(s, buf, sizeof buf - 1, 0);
		ck_assert_int_gt(n, 0);
		buf[n] = '\0';
	} while (strcmp(buf, "WATCHDOG=1") == 0);
	ck_assert_ptr_nonnull(strstr(buf, "STOPPING=1"));
	close(s);
}
END_TEST

START_TEST(test_quarantined_segment)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *rep;
	char seg[400];
	uint8_t junk[256];
	int fd, sfd;
	size_t i, quarantined = 0;

	fd = cl_connect();
	ck_assert_int_eq(rc_status(op_create(fd, "bad", 4, 1)), CQ_OK);
	ck_assert_int_eq(rc_status(op_create(fd, "good", 4, 1)), CQ_OK);
	ck_assert_int_eq(st_push(fd, "good", "fine", 0), CQ_OK);
	tu_daemon_kill(&D);
	close(fd);
	/* Overwrite the header of the first queue's segment. */
	snprintf(seg, sizeof seg, "/dev/shm/conqueue-%s/1", D.instance);
	sfd = open(seg, O_WRONLY);
	ck_assert_int_ge(sfd, 0);
	memset(junk, 0xa5, sizeof junk);
	ck_assert_int_eq(write(sfd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(sfd);
	ck_assert_int_eq(tu_daemon_restart(&D, NULL), 0);
	fd = cl_connect();
	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &l;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_OK);
	ck_assert_uint_eq(rep->n_queues, 2);
	for (i = 0; i < rep->n_queues; i++) {
		if (rep->queues[i]->quarantined) {
			quarantined++;
			ck_assert_uint_eq(
			    rep->queues[i]->name.len, strlen(".quarantined-1"));
			ck_assert_mem_eq(rep->queues[i]->name.data,
			    ".quarantined-1", strlen(".quarantined-1"));
		}
	}
	conqueue__reply__free_unpacked(rep, NULL);
	ck_assert_uint_eq(quarantined, 1);
	/* Every other queue keeps working; the bad one answers CQ_CORRUPT. */
	pop_expect(fd, "good", "fine");
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__OPEN, "bad")),
	    CQ_NOTFOUND);
	ck_assert_int_eq(st_push(fd, ".quarantined-1", "x", 0), CQ_CORRUPT);
	/* An admin may inspect it: STAT shows it quarantined. */
	rep = op_named(fd, CONQUEUE__NAMED__KIND__STAT, ".quarantined-1");
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->status, CQ_OK);
	ck_assert_ptr_nonnull(rep->stat);
	ck_assert(rep->stat->quarantined);
	conqueue__reply__free_unpacked(rep, NULL);
	/* Deleting it is the way to get rid of it. */
	ck_assert_int_eq(rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE,
	                     ".quarantined-1")),
	    CQ_OK);
	ck_assert_int_eq(access(seg, F_OK), -1);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), 1);
	close(fd);
}
END_TEST

START_TEST(test_unsafe_socket_dir_refused)
{
	char dir[] = "/tmp/cqunsafe.XXXXXX", sock[64], err[2048];
	const char *args[] = {"-s", sock, "-i", "unsafe-test", NULL};
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/q.sock", dir);
	chmod(dir, 0777); /* world-writable, no sticky bit */
	rc = tu_daemon_run(args, err, sizeof err);
	rmdir(dir);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(
	    strstr(err, "unsafe socket directory") != NULL, "stderr: %s", err);
}
END_TEST

START_TEST(test_queue_limits)
{
	const char *cfgpath = tu_write_config("max_queues = 3\n"
	                                      "max_queues_per_uid = 2\n"
	                                      "max_capacity = 100\n"
	                                      "max_message = 1000\n"
	                                      "max_storage_per_uid = 200000\n");
	const char *args[] = {"-c", cfgpath, NULL};
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Reply *r;
	int fd;

	restart_with(args, cfgpath);
	fd = cl_connect();
	a.has_capacity = 1;
	a.capacity = 101;
	ck_assert_int_eq(st_create_attr(fd, "big", &a), CQ_INVALID);
	a.capacity = 100;
	a.has_max_size = 1;
	a.max_size = 1001;
	ck_assert_int_eq(st_create_attr(fd, "big", &a), CQ_INVALID);
	/* 100 x 1000 bytes and more fits once in 200000, not twice. */
	a.max_size = 1000;
	ck_assert_int_eq(st_create_attr(fd, "q1", &a), CQ_OK);
	r = op_create(fd, "q2", 0, 0);
	ck_assert_int_eq(r->status, CQ_INVALID); /* default max_size 65536 */
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(st_create_attr(fd, "q2", &a), CQ_LIMIT);
	a.capacity = 1;
	a.max_size = 1;
	ck_assert_int_eq(st_create_attr(fd, "q2", &a), CQ_OK);
	/* 2 per uid. */
	ck_assert_int_eq(st_create_attr(fd, "q3", &a), CQ_LIMIT);
	/* Deleting gives the quota back. */
	ck_assert_int_eq(
	    rc_status(op_named(fd, CONQUEUE__NAMED__KIND__DELETE, "q1")),
	    CQ_OK);
	ck_assert_int_eq(st_create_attr(fd, "q3", &a), CQ_OK);
	close(fd);
}
END_TEST

START_TEST(test_slow_reader_resumes)
{
	const char *cfgpath = tu_write_config("max_outbuf = 65536\n"
	                                      "slow_reader_grace_ms = 20000\n");
	const char *args[] = {"-c", cfgpath, NULL};
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Info in = CONQUEUE__INFO__INIT;
	static uint8_t batch[1000 * 16], rbuf[65536];
	size_t blen = 0, off = 0, have = 0, flen;
	long frames_sent = 0, replies = 0;
	int fd, i, paused = 0;
	struct pollfd pfd;
	ssize_t n;

	restart_with(args, cfgpath);
	fd = cl_connect();
	r.op_case = CONQUEUE__REQUEST__OP_INFO;
	r.info = &in;
	for (i = 0; i < 1000; i++) {
		r.id = 1000000 + (uint64_t)i;
		blen += rc_pack(&r, batch + blen);
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pfd.fd = fd;
	/* Write without reading until the daemon stops reading (300 ms). */
	while (!paused) {
		n = write(fd, batch + off, blen - off);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			pfd.events = POLLOUT;
			paused = poll(&pfd, 1, 300) == 0;
			continue;
		}
		off += (size_t)n;
		if (off == blen) {
			off = 0;
			frames_sent += 1000;
		}
		ck_assert_int_lt(frames_sent, 10000000);
	}
	/* Now read: the daemon resumes and answers every request. */
	while (off != 0 || replies < frames_sent) {
		pfd.events = POLLIN | (off != 0 ? POLLOUT : 0);
		ck_assert_int_eq(poll(&pfd, 1, RC_IO_TIMEOUT_MS), 1);
		if ((pfd.revents & POLLOUT) && off != 0) {
			n = write(fd, batch + off, blen - off);
			if (n > 0 && (off += (size_t)n) == blen) {
				off = 0;
				frames_sent += 1000;
			}
		}
		if (!(pfd.revents & POLLIN))
			continue;
		n = read(fd, rbuf + have, sizeof rbuf - have);
		ck_assert_int_gt(n, 0);
		have += (size_t)n;
		while (have >= FRAME_HDR_LEN &&
		       have >= FRAME_HDR_LEN + (flen = frame_get_len(rbuf))) {
			replies++;
			memmove(rbuf, rbuf + FRAME_HDR_LEN + flen,
			    have - FRAME_HDR_LEN - flen);
			have -= FRAME_HDR_LEN + flen;
		}
	}
	ck_assert_int_eq(replies, frames_sent);
	ck_assert_uint_eq(have, 0);
	fcntl(fd, F_SETFL, 0);
	sync_conn(fd);
	close(fd);
}
END_TEST

START_TEST(test_large_messages_and_batches)
{
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	static ProtobufCBinaryData data[1024];
	static uint8_t big[1048576], small[1024][8];
	Conqueue__Reply *rep;
	size_t i, got = 0;
	int fd = cl_connect();

	a.has_capacity = 1;
	a.capacity = 2;
	a.has_max_size = 1;
	a.max_size = sizeof big;
	ck_assert_int_eq(st_create_attr(fd, "big", &a), CQ_OK);
	a.capacity = 1024;
	a.max_size = 16;
	ck_assert_int_eq(st_create_attr(fd, "many", &a), CQ_OK);
	for (i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	/* One message of max_message bytes, binary. */
	p.name.data = (uint8_t *)(uintptr_t) "big";
	p.name.len = 3;
	p.n_data = 1;
	p.data = data;
	data[0].data = big;
	data[0].len = sizeof big;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	ck_assert_int_eq(rc_status(cl_call(fd, &r)), CQ_OK);
	/* A batch of max_batch small messages, all or nothing. */
	for (i = 0; i < 1024; i++) {
		snprintf((char *)small[i], sizeof small[i], "%zu", i);
		data[i].data = small[i];
		data[i].len = strlen((char *)small[i]);
	}
	p.n_data = 1024;
	p.name.data = (uint8_t *)(uintptr_t) "many";
	p.name.len = 4;
	r.id = 0;
	rep = cl_call(fd, &r);
	ck_assert_int_eq(rep->status, CQ_OK);
	conqueue__reply__free_unpacked(rep, NULL);
	rep = do_pop(fd, "big", 1, 0);
	ck_assert_int_eq(rep->status, CQ_OK);
	ck_assert_uint_eq(rep->msgs[0]->data.len, sizeof big);
	ck_assert(memcmp(rep->msgs[0]->data.data, big, sizeof big) == 0);
	send_receipt(fd, rep->id, 0);
	conqueue__reply__free_unpacked(rep, NULL);
	/* Pops of up to max_batch: the reply stays within max_frame. */
	while (got < 1024) {
		rep = do_pop(fd, "many", 1024, 0);
		ck_assert_int_eq(rep->status, CQ_OK);
		ck_assert_uint_ge(rep->n_msgs, 1);
		for (i = 0; i < rep->n_msgs; i++) {
			ck_assert_uint_eq(rep->msgs[i]->data.len,
			    strlen((char *)small[got + i]));
			ck_assert_mem_eq(rep->msgs[i]->data.data,
			    small[got + i], rep->msgs[i]->data.len);
		}
		got += rep->n_msgs;
		send_receipt(fd, rep->id, 0);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(rc_status(do_pop(fd, "big", 1, 0)), CQ_EMPTY);
	ck_assert_int_eq(rc_status(do_pop(fd, "many", 1, 0)), CQ_EMPTY);
	close(fd);
}
END_TEST

/* Bytes written to fd that the daemon has not read yet. */
static int
cl_unread(int fd)
{
	int n = -1;

	ck_assert_int_eq(ioctl(fd, SIOCOUTQ, &n), 0);
	return n;
}

/* The daemon has read everything written to fd (bounded wait). */
static void
cl_wait_read(int fd)
{
	int i;

	for (i = 0; i < 100000 && cl_unread(fd) > 0; i++)
		usleep(100);
	ck_assert_int_eq(cl_unread(fd), 0);
}

/* The byte at offset j of message i of test_frames_split_anywhere. */
static uint8_t
split_byte(size_t i, size_t j)
{
	return (uint8_t)(i * 131 + j * 7 + (j >> 9));
}

/*
 * Requests cut anywhere: inside the length header, inside the body, a
 * byte at a time, and frames larger than the daemon's 256 KiB read
 * buffer. Each piece is written only once the daemon has read the one
 * before (SIOCOUTQ is 0), so every cut really is a read boundary there.
 * Every push must be answered, in order, and every message come back
 * whole, in order.
 */
START_TEST(test_frames_split_anywhere)
{
	static const size_t sizes[] = {
	    0, 1, 100, 4000, 70000, 300000, 5, 262140, 262150, 2, 600000, 33};
	enum { N = sizeof sizes / sizeof sizes[0] };
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData d;
	Conqueue__Reply *rep;
	uint8_t *stream, *msg;
	size_t i, j, off, cut, total = 0, ends[N];
	uint64_t first_id = 0;
	unsigned seed = 12345;
	int fd = cl_connect();

	a.has_capacity = 1;
	a.capacity = 64;
	a.has_max_size = 1;
	a.max_size = 600000;
	/* Room for every message at once: none is popped before the last. */
	a.has_max_bytes = 1;
	a.max_bytes = 64 * 600000;
	ck_assert_int_eq(st_create_attr(fd, "split", &a), CQ_OK);
	stream = malloc(N * (600000 + 64));
	msg = malloc(600000);
	ck_assert_ptr_nonnull(stream);
	ck_assert_ptr_nonnull(msg);
	p.name.data = (uint8_t *)(uintptr_t) "split";
	p.name.len = 5;
	p.n_data = 1;
	p.data = &d;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	for (i = 0; i < N; i++) {
		for (j = 0; j < sizes[i]; j++)
			msg[j] = split_byte(i, j);
		d.data = msg;
		d.len = sizes[i];
		r.id = rc_fresh_id();
		if (i == 0)
			first_id = r.id;
		total += rc_pack(&r, stream + total);
		ends[i] = total;
	}
	/*
	 * Cuts: the first frames a byte at a time (through their headers),
	 * then 1-3 bytes before and after each frame's end, then random
	 * pieces of up to 400 KiB.
	 */
	for (off = 0; off < total; off += cut) {
		cut = 1 + (size_t)(rand_r(&seed) % (400 * 1024));
		if (off < ends[1])
			cut = 1;
		for (i = 0; i < N; i++)
			if (ends[i] > off && ends[i] - off <= cut) {
				/* Stop 1-3 bytes short of or past the end. */
				size_t k = 1 + (size_t)(rand_r(&seed) % 3);
				cut = ends[i] - off > k && (i & 1)
				          ? ends[i] - off - k
				          : ends[i] - off + k;
				break;
			}
		if (cut > total - off)
			cut = total - off;
		cl_write(fd, stream + off, cut);
		cl_wait_read(fd);
	}
	for (i = 0; i < N; i++) {
		rep = cl_recv(fd);
		ck_assert_ptr_nonnull(rep);
		ck_assert_uint_eq(rep->id, first_id + i);
		ck_assert_int_eq(rep->status, CQ_OK);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	for (i = 0; i < N; i++) {
		rep = do_pop(fd, "split", 1, 0);
		ck_assert_int_eq(rep->status, CQ_OK);
		ck_assert_uint_eq(rep->n_msgs, 1);
		ck_assert_uint_eq(rep->msgs[0]->data.len, sizes[i]);
		for (j = 0; j < sizes[i]; j++)
			if (rep->msgs[0]->data.data[j] != split_byte(i, j))
				ck_abort_msg(
				    "message %zu differs at byte %zu", i, j);
		send_receipt(fd, rep->id, 0);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(rc_status(do_pop(fd, "split", 1, 0)), CQ_EMPTY);
	free(stream);
	free(msg);
	close(fd);
}
END_TEST

/* The suite. */
static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_handshake_welcome);
	tcase_add_test(tc, test_version_mismatch_closes);
	tcase_add_test(tc, test_op_before_hello_closes);
	tcase_add_test(tc, test_create_open_delete_list);
	tcase_add_test(tc, test_push_pop_basics);
	tcase_add_test(tc, test_bands_and_front);
	tcase_add_test(tc, test_large_messages_and_batches);
	tcase_add_test(tc, test_frames_split_anywhere);
	tcase_add_test(tc, test_close_is_closed_drain);
	tcase_add_test(tc, test_pause_resume_length_stat);
	tcase_add_test(tc, test_ping_info);
	tcase_add_test(tc, test_close_wakes_other_connections);
	tcase_add_test(tc, test_delete_wakes_waiters);
	tcase_add_test(tc, test_timed_ops_time_out);
	tcase_add_test(tc, test_parked_pop_survives_traffic);
	tcase_add_test(tc, test_waiters_fifo_fairness);
	tcase_add_test(tc, test_cancel_parked_pop);
	tcase_add_test(tc, test_handoff_close_before_confirm);
	tcase_add_test(tc, test_handoff_reject_and_confirm);
	tcase_add_test(tc, test_reserve_ack_release_detach);
	tcase_add_test(tc, test_reserve_lease_expiry_and_disconnect);
	tcase_add_test(tc, test_dead_letter_queue);
	tcase_add_test(tc, test_kill_and_restart_keeps_everything);
	tcase_add_test(tc, test_second_daemon_refused);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_malformed_frames);
	tcase_add_test(tc, test_frame_timeout);
	tcase_add_test(tc, test_connection_and_pending_limits);
	tcase_add_test(tc, test_bad_config_refused);
	tcase_add_test(tc, test_sigterm_answers_parked_and_exits_0);
	tcase_add_test(tc, test_sigterm_answers_parked_pop);
	tcase_add_test(tc, test_default_socket_mode);
	tcase_add_test(tc, test_slow_reader_dropped);
	tcase_add_test(tc, test_slow_reader_resumes);
	tcase_add_test(tc, test_sighup_reloads_limits);
	tcase_add_test(tc, test_notify_socket);
	tcase_add_test(tc, test_quarantined_segment);
	tcase_add_test(tc, test_unsafe_socket_dir_refused);
	tcase_add_test(tc, test_queue_limits);
	suite_add_tcase(s, tc);
	return s;
}

/* The tests that need root (a second uid): the check_daemon_root twin. */
static Suite *
daemon_root_suite(void)
{
	Suite *s = suite_create("daemon_root");
	TCase *tc = tcase_create("root");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_access_by_mode);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(geteuid() == 0, "check_daemon_root needs root");
		return tu_run(daemon_root_suite(), "daemonroot");
	}
	return tu_run(daemon_suite(), "daemon");
}
