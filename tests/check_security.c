/* check_security.c - hostile input, resource baselines, shm hardening. */

/*
 * The malformed-input table runs every case on a fresh connection and on a
 * reused one (which already created, pushed and popped). A case expects
 * either an error reply with the connection still usable, or CQ_PROTOCOL
 * (when the daemon can still answer) and a clean close of that connection
 * only. After the table the daemon must be up and its descriptor count and
 * memory must return to what they were after a warm-up.
 */

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "proto/frame.h"
#include "rawclient.h"
#include "testutil.h"

static struct tu_daemon D;
static int d_started;
static int verbose; /* print the table of observed results */

/* Start the test's daemon with extra arguments. */
static void
start_daemon(const char *const *extra)
{
	int rc = tu_daemon_start(&D, extra);

	d_started = 1;
	ck_assert_int_eq(rc, 0);
}

/* Checked fixture: a daemon per test. */
static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	start_daemon(NULL);
}

/* Checked fixture teardown: the daemon must still stop cleanly. */
static void
teardown(void)
{
	int st = 0;

	if (d_started && D.pid > 0)
		st = tu_daemon_stop(&D);
	if (d_started)
		tu_daemon_cleanup(&D);
	d_started = 0;
	ck_assert_int_eq(st, 0);
}

/* ------------------------------------------------------------------ */
/* The malformed-input table. */

/* What a case must produce. */
enum expect {
	X_STATUS, /* a reply with this status; the connection keeps working */
	X_PROTO,  /* CQ_PROTOCOL (if any reply) and the daemon hangs up */
	X_HANGUP  /* the daemon hangs up, with no reply or CQ_PROTOCOL */
};

/* One hostile input. */
struct hcase {
	const char *name;
	int (*send)(int fd, uint64_t *id); /* 0 or -1; sets the request id */
	enum expect expect;
	int status;
};

/* A case of raw bytes; rid is the request id the daemon can decode. */
#define RAWCASE(fn, rid, bytes)                                                \
	static int fn(int fd, uint64_t *id)                                    \
	{                                                                      \
		static const uint8_t b[] = bytes;                              \
		*id = rid;                                                     \
		return rc_write(fd, b, sizeof b);                              \
	}
#define B(...)                                                                 \
	{                                                                      \
		__VA_ARGS__                                                    \
	}

RAWCASE(h_len0, 0, B(0, 0, 0, 0))
RAWCASE(h_limit1, 0, B(0, 0x41, 0, 1)) /* max_frame + 1 */
RAWCASE(h_ffff, 0, B(0xff, 0xff, 0xff, 0xff))
RAWCASE(h_garbage, 0, B(0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37))
/* id=5, ping, unknown field 99 */
RAWCASE(h_unknown_field, 5,
    B(0, 0, 0, 8, 0x08, 0x05, 0x9a, 0x01, 0x00, 0x98, 0x06, 0x01))
/* id twice */
RAWCASE(h_dup_field, 5, B(0, 0, 0, 7, 0x08, 0x05, 0x08, 0x06, 0x9a, 0x01, 0x00))
/* id=5 and an empty message in field 30, past the last op */
RAWCASE(h_unknown_op, 5, B(0, 0, 0, 4, 0x08, 0x05, 0xf2, 0x01, 0x00))
/* id=5, named{kind=99, name="hq"}: decodes, but no such operation */
RAWCASE(h_unknown_kind, 5,
    B(0, 0, 0, 10, 0x08, 0x05, 0x62, 0x06, 0x08, 0x63, 0x12, 0x02, 'h', 'q'))
/* id=5 with no op */
RAWCASE(h_no_op, 5, B(0, 0, 0, 2, 0x08, 0x05))
/* two ops of the oneof: ping and info */
RAWCASE(
    h_two_ops, 5, B(0, 0, 0, 6, 0x08, 0x05, 0x9a, 0x01, 0x00, 0xa2, 0x01, 0x00))

/* A valid ping whose header (and body) arrive one byte per write. */
static int
h_split_header(int fd, uint64_t *id)
{
	static const uint8_t b[] = {0, 0, 0, 5, 0x08, 0x07, 0x9a, 0x01, 0x00};
	size_t i;

	*id = 7;
	for (i = 0; i < sizeof b; i++)
		if (rc_write(fd, b + i, 1) != 0)
			return -1;
	return 0;
}

/* A header announcing 100 bytes, 10 of them, then EOF. */
static int
h_short_body_eof(int fd, uint64_t *id)
{
	static const uint8_t b[] = {
	    0, 0, 0, 100, 0x08, 0x05, 1, 2, 3, 4, 5, 6, 7, 8};

	*id = 0;
	if (rc_write(fd, b, sizeof b) != 0)
		return -1;
	return shutdown(fd, SHUT_WR);
}

/* A second hello, with another protocol version. */
static int
h_wrong_version(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;

	h.protocol_version = CQ_PROTOCOL_VERSION + 1;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	r.id = 0;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* Send a create of name (len bytes). */
static int
send_create(int fd, uint64_t *id, const char *name, size_t len,
    uint32_t capacity, uint32_t max_size)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name.data = (uint8_t *)(uintptr_t)name;
	c.name.len = len;
	a.has_capacity = capacity != 0;
	a.capacity = capacity;
	a.has_max_size = max_size != 0;
	a.max_size = max_size;
	c.attr = &a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

#define NAMECASE(fn, str)                                                      \
	static int fn(int fd, uint64_t *id)                                    \
	{                                                                      \
		return send_create(fd, id, str, sizeof str - 1, 4, 16);        \
	}

NAMECASE(h_name_empty, "")
NAMECASE(h_name_dot, ".")
NAMECASE(h_name_dotdot, "..")
NAMECASE(h_name_slash, "a/b")
NAMECASE(h_name_abs, "/a")
NAMECASE(h_name_nul, "q\0x")
NAMECASE(h_name_65,
    "a1234567890123456789012345678901234567890123456789012345678901234")
NAMECASE(h_name_utf8, "caf\xc3\xa9")
NAMECASE(h_name_dotfile, ".hidden")

/* Create with a zero or huge capacity or max size. */
static int
h_capacity_0(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Create c = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr a = CONQUEUE__QUEUE_ATTR__INIT;

	c.name.data = (uint8_t *)(uintptr_t) "zcap";
	c.name.len = 4;
	a.has_capacity = 1;
	a.capacity = 0;
	c.attr = &a;
	r.op_case = CONQUEUE__REQUEST__OP_CREATE;
	r.create = &c;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* Capacity UINT32_MAX. */
static int
h_capacity_max(int fd, uint64_t *id)
{
	return send_create(fd, id, "bigcap", 6, UINT32_MAX, 16);
}

/* Max size UINT32_MAX. */
static int
h_maxsize_max(int fd, uint64_t *id)
{
	return send_create(fd, id, "bigmsg", 6, 4, UINT32_MAX);
}

/* A push to queue "hq" with the given fields. */
static int
send_push(int fd, uint64_t *id, const char *qname, size_t n, int64_t timeout,
    uint32_t band)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData d[2] = {
	    {1, (uint8_t *)(uintptr_t) "a"}, {1, (uint8_t *)(uintptr_t) "b"}};

	p.name.data = (uint8_t *)(uintptr_t)qname;
	p.name.len = strlen(qname);
	p.n_data = n;
	p.data = d;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout;
	p.has_band = band != 0;
	p.band = band;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* A pop from qname with the given fields. */
static int
send_pop(int fd, uint64_t *id, const char *qname, int has_max, uint32_t max,
    int64_t timeout)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;

	p.name.data = (uint8_t *)(uintptr_t)qname;
	p.name.len = strlen(qname);
	p.has_max = has_max;
	p.max = max;
	p.has_timeout_ms = 1;
	p.timeout_ms = timeout;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &p;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* Push with a negative timeout other than -1 (into a queue with room). */
static int
h_push_timeout_neg(int fd, uint64_t *id)
{
	return send_push(fd, id, "hq", 1, -5, 0);
}

/* Push with INT64_MAX ms (a deadline that must not overflow). */
static int
h_push_timeout_max(int fd, uint64_t *id)
{
	return send_push(fd, id, "hq", 1, INT64_MAX, 0);
}

/* Push with INT64_MIN ms. */
static int
h_push_timeout_min(int fd, uint64_t *id)
{
	return send_push(fd, id, "hq", 1, INT64_MIN, 0);
}

/* Push of no message at all. */
static int
h_push_none(int fd, uint64_t *id)
{
	return send_push(fd, id, "hq", 0, 0, 0);
}

/* Push to a band the queue does not have. */
static int
h_push_band(int fd, uint64_t *id)
{
	return send_push(fd, id, "hq", 1, 0, UINT32_MAX);
}

/* Pop of zero messages. */
static int
h_pop_max0(int fd, uint64_t *id)
{
	return send_pop(fd, id, "hq", 1, 0, 0);
}

/* Pop of UINT32_MAX messages. */
static int
h_pop_maxhuge(int fd, uint64_t *id)
{
	return send_pop(fd, id, "hq", 1, UINT32_MAX, 0);
}

/*
 * Pop with INT64_MIN ms from an empty queue parks (negative is forever);
 * a Cancel completes it CQ_CANCELED. Checked here; the table then sees
 * the reply of a ping.
 */
static int
h_pop_timeout_min(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel c = CONQUEUE__CANCEL__INIT;
	Conqueue__Ping ping = CONQUEUE__PING__INIT;
	Conqueue__Reply *rep;
	uint64_t pop;
	int i, good = 0;

	if (send_pop(fd, &pop, "hempty", 0, 0, INT64_MIN) != 0)
		return -1;
	c.target = pop;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &c;
	if (rc_send(fd, &r) != 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if ((rep = rc_recv(fd)) == NULL)
			return -1;
		if (rep->id == pop && rep->status == CQ_CANCELED)
			good++;
		if (rep->id == r.id && rep->status == CQ_OK)
			good++;
		conqueue__reply__free_unpacked(rep, NULL);
	}
	if (good != 2)
		return -1;
	r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &ping;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* A push to a closed queue. */
static int
h_push_closed(int fd, uint64_t *id)
{
	return send_push(fd, id, "hclosed", 1, 0, 0);
}

/* A request whose id is 0 but carries an op. */
static int
h_id0_op(int fd, uint64_t *id)
{
	static const uint8_t b[] = {0, 0, 0, 5, 0x08, 0x00, 0x9a, 0x01, 0x00};

	*id = 0;
	return rc_write(fd, b, sizeof b);
}

/* A push to a name no queue can have. */
static int
h_push_badname(int fd, uint64_t *id)
{
	return send_push(fd, id, "../x", 1, 0, 0);
}

/* A stat of a 65-byte name. */
static int
h_stat_longname(int fd, uint64_t *id)
{
	static const char n[] = "s1234567890123456789012345678901234567890"
	                        "123456789012345678901234";
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Named m = CONQUEUE__NAMED__INIT;

	m.kind = CONQUEUE__NAMED__KIND__STAT;
	m.name.data = (uint8_t *)(uintptr_t)n;
	m.name.len = sizeof n - 1;
	r.op_case = CONQUEUE__REQUEST__OP_NAMED;
	r.named = &m;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* A MsgOp of kind on hq for msg_id with lease. */
static int
send_msgop(int fd, uint64_t *id, Conqueue__MsgOp__Kind kind, uint64_t msg,
    uint32_t lease)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp m = CONQUEUE__MSG_OP__INIT;

	m.kind = kind;
	m.name.data = (uint8_t *)(uintptr_t) "hq";
	m.name.len = 2;
	m.msg_id = msg;
	m.has_lease_ms = lease != 0;
	m.lease_ms = lease;
	r.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	r.msg_op = &m;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* ACK of a message id nobody reserved. */
static int
h_ack_unknown(int fd, uint64_t *id)
{
	return send_msgop(fd, id, CONQUEUE__MSG_OP__KIND__ACK, UINT64_MAX, 0);
}

/* TOUCH of an unknown id with the largest lease. */
static int
h_touch_unknown(int fd, uint64_t *id)
{
	return send_msgop(
	    fd, id, CONQUEUE__MSG_OP__KIND__TOUCH, 12345, UINT32_MAX);
}

/* Reserve with the largest lease (the deadline must not overflow). */
static int
h_reserve_lease_max(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Pop p = CONQUEUE__POP__INIT;

	p.name.data = (uint8_t *)(uintptr_t) "hq";
	p.name.len = 2;
	p.has_timeout_ms = 1;
	p.timeout_ms = 0;
	p.has_reserve = p.reserve = 1;
	p.has_lease_ms = 1;
	p.lease_ms = UINT32_MAX;
	r.op_case = CONQUEUE__REQUEST__OP_POP;
	r.pop = &p;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* Cancel of an op that does not exist. */
static int
h_cancel_unknown(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel c = CONQUEUE__CANCEL__INIT;

	c.target = UINT64_MAX;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &c;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/*
 * Receipts for ids never handed out (an id-0 frame: no reply), then a
 * ping: the ping's reply must be the next one.
 */
static int
h_receipts_unknown(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping ping = CONQUEUE__PING__INIT;
	uint64_t ids[3] = {0, 424242, UINT64_MAX};

	r.n_confirm = 3;
	r.confirm = ids;
	r.n_reject = 3;
	r.reject = ids;
	if (rc_send(fd, &r) != 0)
		return -1;
	r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &ping;
	if (rc_send(fd, &r) != 0)
		return -1;
	*id = r.id;
	return 0;
}

/* The same id as a still-parked pop of this connection. */
static int
h_duplicate_pending_id(int fd, uint64_t *id)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel c = CONQUEUE__CANCEL__INIT;
	Conqueue__Reply *rep;
	uint64_t pop, dup;
	int i, good = 0;

	if (send_pop(fd, &pop, "hempty", 0, 0, -1) != 0)
		return -1;
	/* Same id again: CQ_INVALID, and the parked pop stays. */
	{
		Conqueue__Request q = CONQUEUE__REQUEST__INIT;
		Conqueue__Ping ping = CONQUEUE__PING__INIT;

		q.id = pop;
		q.op_case = CONQUEUE__REQUEST__OP_PING;
		q.ping = &ping;
		if (rc_send(fd, &q) != 0)
			return -1;
	}
	if ((rep = rc_recv(fd)) == NULL)
		return -1;
	dup = rep->id;
	if (dup != pop || rep->status != CQ_INVALID) {
		conqueue__reply__free_unpacked(rep, NULL);
		return -1;
	}
	conqueue__reply__free_unpacked(rep, NULL);
	c.target = pop;
	r.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	r.cancel = &c;
	if (rc_send(fd, &r) != 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if ((rep = rc_recv(fd)) == NULL)
			return -1;
		good += (rep->id == pop && rep->status == CQ_CANCELED) ||
		        (rep->id == r.id && rep->status == CQ_OK);
		conqueue__reply__free_unpacked(rep, NULL);
	}
	if (good != 2)
		return -1;
	return h_receipts_unknown(fd, id);
}

static const struct hcase hcases[] = {
    {"length 0", h_len0, X_PROTO, 0},
    {"length max_frame+1", h_limit1, X_PROTO, 0},
    {"length 0xFFFFFFFF", h_ffff, X_PROTO, 0},
    {"header+body in 1-byte writes", h_split_header, X_STATUS, CQ_OK},
    {"body short, then EOF", h_short_body_eof, X_HANGUP, 0},
    {"garbage body", h_garbage, X_PROTO, 0},
    {"unknown field", h_unknown_field, X_PROTO, 0},
    {"duplicate field", h_dup_field, X_PROTO, 0},
    {"unknown op (field 30)", h_unknown_op, X_PROTO, 0},
    {"two ops in the oneof", h_two_ops, X_PROTO, 0},
    {"Named kind 99 (unknown enum)", h_unknown_kind, X_STATUS, CQ_INVALID},
    {"no op", h_no_op, X_PROTO, 0},
    {"op with id 0", h_id0_op, X_PROTO, 0},
    {"hello again, version+1", h_wrong_version, X_STATUS, CQ_INVALID},
    {"name \"\"", h_name_empty, X_STATUS, CQ_INVALID},
    {"name \".\"", h_name_dot, X_STATUS, CQ_INVALID},
    {"name \"..\"", h_name_dotdot, X_STATUS, CQ_INVALID},
    {"name \"a/b\"", h_name_slash, X_STATUS, CQ_INVALID},
    {"name \"/a\"", h_name_abs, X_STATUS, CQ_INVALID},
    {"name \"q\\0x\"", h_name_nul, X_STATUS, CQ_INVALID},
    {"name of 65 bytes", h_name_65, X_STATUS, CQ_INVALID},
    {"name non-ASCII", h_name_utf8, X_STATUS, CQ_INVALID},
    {"name \".hidden\"", h_name_dotfile, X_STATUS, CQ_INVALID},
    {"capacity 0", h_capacity_0, X_STATUS, CQ_INVALID},
    {"capacity 2^32-1", h_capacity_max, X_STATUS, CQ_INVALID},
    {"max_size 2^32-1", h_maxsize_max, X_STATUS, CQ_INVALID},
    {"push timeout -5 (room)", h_push_timeout_neg, X_STATUS, CQ_OK},
    {"push timeout INT64_MAX", h_push_timeout_max, X_STATUS, CQ_OK},
    {"push timeout INT64_MIN", h_push_timeout_min, X_STATUS, CQ_OK},
    {"push of 0 messages", h_push_none, X_STATUS, CQ_INVALID},
    {"push band 2^32-1", h_push_band, X_STATUS, CQ_INVALID},
    {"pop max 0", h_pop_max0, X_STATUS, CQ_INVALID},
    {"pop max 2^32-1", h_pop_maxhuge, X_STATUS, CQ_INVALID},
    {"pop timeout INT64_MIN; Cancel", h_pop_timeout_min, X_STATUS, CQ_OK},
    {"push after close", h_push_closed, X_STATUS, CQ_CLOSED},
    {"push to \"../x\"", h_push_badname, X_STATUS, CQ_INVALID},
    {"stat of a 65-byte name", h_stat_longname, X_STATUS, CQ_INVALID},
    {"ack of msg id 2^64-1", h_ack_unknown, X_STATUS, CQ_NOTFOUND},
    {"touch unknown, lease 2^32-1", h_touch_unknown, X_STATUS, CQ_NOTFOUND},
    {"reserve, lease 2^32-1", h_reserve_lease_max, X_STATUS, CQ_OK},
    {"cancel of unknown op", h_cancel_unknown, X_STATUS, CQ_NOTFOUND},
    {"receipts for unknown ids", h_receipts_unknown, X_STATUS, CQ_OK},
    {"id of a pending op reused", h_duplicate_pending_id, X_STATUS, CQ_OK},
};
#define NHCASES (sizeof hcases / sizeof hcases[0])

/* Make a connection used before: it created, pushed, popped. */
static int
warm_connection(void)
{
	Conqueue__Reply *r;
	int fd = rc_connect(D.sock);

	if (fd < 0)
		return -1;
	if (rc_push(fd, "hwarm", "w", 0) != CQ_OK)
		return -1;
	r = rc_pop(fd, "hwarm", 1, 0, 0);
	if (r == NULL || r->status != CQ_OK)
		return -1;
	rc_confirm(fd, r->id);
	conqueue__reply__free_unpacked(r, NULL);
	return fd;
}

/*
 * Run case c on fd; the observed result as text in obs. Returns 1 if it
 * matched the expectation, and whether fd is still open in *alive.
 */
static int
run_case(const struct hcase *c, int fd, char *obs, size_t olen, int *alive)
{
	Conqueue__Reply *r;
	uint64_t id = 0;
	int ok, st = -1, closed;

	*alive = 0;
	if (c->send(fd, &id) != 0) {
		snprintf(obs, olen, "send failed: %s", strerror(errno));
		return 0;
	}
	r = rc_recv(fd);
	if (r != NULL) {
		st = (int)r->status;
		if (r->id != id) {
			snprintf(obs, olen, "reply to id %llu, not %llu",
			    (unsigned long long)r->id, (unsigned long long)id);
			conqueue__reply__free_unpacked(r, NULL);
			return 0;
		}
		conqueue__reply__free_unpacked(r, NULL);
	}
	if (c->expect == X_STATUS) {
		ok = st == c->status && rc_ping(fd) == CQ_OK;
		snprintf(obs, olen, "%s, connection %s",
		    st < 0 ? "no reply" : cq_strstatus((cq_status)st),
		    ok ? "kept" : "broken");
		*alive = ok;
		return ok;
	}
	closed = rc_wait_eof(fd);
	ok = closed && (st == CQ_PROTOCOL || (st < 0 && c->expect == X_HANGUP));
	snprintf(obs, olen, "%s, %s",
	    st < 0 ? "no reply" : cq_strstatus((cq_status)st),
	    closed ? "closed" : "NOT closed");
	return ok;
}

/* Run the whole table once on fresh and reused connections; failures. */
static int
run_table(char *report, size_t rlen)
{
	char obs[2][160];
	size_t i, off = 0;
	int reused = -1, fresh, alive, fails = 0, ok[2], other;

	if (report != NULL && rlen > 0)
		report[0] = '\0';
	other = rc_connect(D.sock); /* an innocent bystander */
	ck_assert_int_ge(other, 0);
	for (i = 0; i < NHCASES; i++) {
		fresh = rc_connect(D.sock);
		ck_assert_int_ge(fresh, 0);
		ok[0] =
		    run_case(&hcases[i], fresh, obs[0], sizeof obs[0], &alive);
		close(fresh);
		if (reused < 0)
			reused = warm_connection();
		ck_assert_int_ge(reused, 0);
		ok[1] =
		    run_case(&hcases[i], reused, obs[1], sizeof obs[1], &alive);
		if (!alive) {
			close(reused);
			reused = -1;
		}
		fails += !ok[0] + !ok[1];
		if (report != NULL && off < rlen)
			off += (size_t)snprintf(report + off, rlen - off,
			    "%-32s | %-28s | %-28s%s\n", hcases[i].name, obs[0],
			    obs[1], ok[0] && ok[1] ? "" : "  <-- UNEXPECTED");
	}
	if (reused >= 0)
		close(reused);
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	close(other);
	return fails;
}

/* Queues the table uses. */
static void
make_table_queues(void)
{
	int fd = rc_connect(D.sock);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_create(fd, "hq", 2, 0600, 1000000, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "hempty", 6, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "hwarm", 5, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "hclosed", 7, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(
	    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__CLOSE, "hclosed", 7)),
	    CQ_OK);
	close(fd);
}

START_TEST(test_malformed_input_table)
{
	static char report[16384];
	int fails;

	make_table_queues();
	fails = run_table(report, sizeof report);
	if (verbose || fails)
		printf("%-32s | %-28s | %s\n%s", "input", "fresh connection",
		    "reused connection", report);
	ck_assert_msg(fails == 0, "%d unexpected results:\n%s", fails, report);
	ck_assert_int_eq(kill(D.pid, 0), 0);
}
END_TEST

/* Count the daemon's open descriptors. */
static int
daemon_fds(void)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)D.pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A field of /proc/PID/status in kB. */
static long
daemon_status_kb(const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)D.pid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			v = strtol(line + flen + 1, NULL, 10);
	fclose(f);
	ck_assert_int_ge(v, 0);
	return v;
}

/*
 * Wait (bounded) until the daemon holds at most want descriptors, counted
 * while a probe connection is open: its ping round trip lets the daemon
 * finish handling earlier hang-ups, and it is always counted.
 */
static int
wait_fds(int want)
{
	int i, n = 0, fd;

	for (i = 0; i < 500; i++) {
		fd = rc_connect(D.sock);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(rc_ping(fd), CQ_OK);
		n = daemon_fds();
		close(fd);
		if (n <= want)
			return n;
		usleep(10000);
	}
	return n;
}

/*
 * Run the table many times: with about 70 connections and 150 requests
 * per round, 60 rounds are some 9,000 requests, so a leak of even one
 * 32-byte object per request (288 KiB) exceeds the 192 KiB tolerance.
 */
START_TEST(test_resources_return_to_baseline)
{
	int i, fds0, fds1, rounds = getenv("CQ_UNDER_VALGRIND") ? 5 : 60;
	long data0, rss0, data1, rss1;

	make_table_queues();
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(run_table(NULL, 0), 0);
	fds0 = wait_fds(INT_MAX);
	fds0 = wait_fds(fds0);
	data0 = daemon_status_kb("VmData");
	rss0 = daemon_status_kb("VmRSS");
	for (i = 0; i < rounds; i++)
		ck_assert_int_eq(run_table(NULL, 0), 0);
	fds1 = wait_fds(fds0);
	data1 = daemon_status_kb("VmData");
	rss1 = daemon_status_kb("VmRSS");
	printf("daemon after warm-up: %d fds, VmData %ld kB, VmRSS %ld kB; "
	       "after %d rounds: %d fds, VmData %ld kB, VmRSS %ld kB\n",
	    fds0, data0, rss0, rounds, fds1, data1, rss1);
	ck_assert_int_eq(fds1, fds0);
#if CQ_ASAN
	/* ASan's quarantine keeps freed memory; LeakSanitizer checks. */
	(void)data1;
	(void)rss1;
#else
	/* Under valgrind its own heap is measured; its leak check counts. */
	if (getenv("CQ_UNDER_VALGRIND") == NULL) {
		ck_assert_int_le(data1 - data0, 192);
		ck_assert_int_le(rss1 - rss0, 192);
	}
#endif
}
END_TEST

/*
 * 10,000 pipelined requests whose replies are never read: the daemon stops
 * reading that peer once max_outbuf is reached (or answers all), other
 * clients are served meanwhile, and closing the connection frees it all.
 */
START_TEST(test_pipelined_never_read)
{
	static uint8_t buf[10000 * 16];
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping p = CONQUEUE__PING__INIT;
	size_t off = 0, done = 0;
	int fd, other, fds0, i, fl, spins = 0;
	ssize_t n;

	other = rc_connect(D.sock);
	ck_assert_int_ge(other, 0);
	fds0 = wait_fds(INT_MAX);
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	r.op_case = CONQUEUE__REQUEST__OP_PING;
	r.ping = &p;
	for (i = 0; i < 10000; i++) {
		r.id = (uint64_t)i + 100;
		ck_assert_uint_le(off + conqueue__request__get_packed_size(&r) +
		                      FRAME_HDR_LEN,
		    sizeof buf);
		off += rc_pack(&r, buf + off);
	}
	/* Write without blocking forever: the daemon may stop reading. */
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
	while (done < off && spins < 300) {
		n = send(fd, buf + done, off - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		ck_assert(n < 0 && errno == EAGAIN);
		/* Others are served while this peer is stuck. */
		ck_assert_int_eq(rc_ping(other), CQ_OK);
		spins++;
	}
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	close(fd);
	ck_assert_int_eq(wait_fds(fds0), fds0);
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	close(other);
}
END_TEST

/*
 * Frame headers that announce a large body which does not come: the
 * daemon must not reserve the announced size up front (20 connections
 * announcing 4,000,000 bytes would be 80 MB), only about what arrived
 * (plus 256 KiB each: at most 16 MB here).
 */
START_TEST(test_partial_frames_reserve_little)
{
	enum { NCONN = 20 };
	static uint8_t part[FRAME_HDR_LEN + 100];
	int fd[NCONN], i, j, other, unread = 0;
	long data0, data1;

	other = rc_connect(D.sock);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	data0 = daemon_status_kb("VmData");
	frame_put_len(part, 4000000);
	memset(part + FRAME_HDR_LEN, 0x0a, 100);
	for (i = 0; i < NCONN; i++) {
		fd[i] = rc_connect(D.sock);
		ck_assert_int_ge(fd[i], 0);
		ck_assert_int_eq(
		    write(fd[i], part, sizeof part), (ssize_t)sizeof part);
	}
	/* Bounded wait until the daemon has read every byte. */
	for (j = 0; j < 20000; j++) {
		for (i = 0, unread = 0; i < NCONN; i++) {
			int n = -1;

			ck_assert_int_eq(ioctl(fd[i], SIOCOUTQ, &n), 0);
			unread += n;
		}
		if (unread == 0)
			break;
		usleep(500);
	}
	ck_assert_int_eq(unread, 0);
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	data1 = daemon_status_kb("VmData");
	printf("partial frames: VmData %ld kB -> %ld kB\n", data0, data1);
	if (getenv("CQ_UNDER_VALGRIND") == NULL)
		ck_assert_int_le(data1 - data0, 16 * 1024);
	for (i = 0; i < NCONN; i++)
		close(fd[i]);
	ck_assert_int_eq(rc_ping(other), CQ_OK);
	close(other);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Shared-memory hardening. */

/* Path of segment n of the test's instance. */
static const char *
seg_path(unsigned n)
{
	static char path[2][300];
	static int k;

	k ^= 1;
	snprintf(
	    path[k], sizeof path[k], "/dev/shm/conqueue-%s/%u", D.instance, n);
	return path[k];
}

/* Copy file from to a new file to (mode 0600). */
static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	close(out);
}

/* 1 if files a and b hold the same bytes. */
static int
same_file(const char *a, const char *b)
{
	char cmd[700];

	snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* Names of the queues a list shows, space-separated, and how many. */
static int
list_names(int fd, char *buf, size_t len)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues l = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *rep;
	size_t i, off = 0;
	int n;

	r.op_case = CONQUEUE__REQUEST__OP_LIST;
	r.list = &l;
	rep = rc_call(fd, &r);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->status, CQ_OK);
	buf[0] = '\0';
	for (i = 0; i < rep->n_queues && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%.*s",
		    i ? " " : "", (int)rep->queues[i]->name.len,
		    (const char *)rep->queues[i]->name.data);
	n = (int)rep->n_queues;
	conqueue__reply__free_unpacked(rep, NULL);
	return n;
}

/*
 * Segment files the daemon would not have made itself: another user's
 * file, a 0666 file, a symlink, a directory. At restart none is served:
 * what is not a regular file of the daemon's uid is ignored (logged, not
 * a queue); a file of its uid with the wrong mode is quarantined under a
 * name no client can spell. A truncated copy of a valid 0600 segment
 * (only the daemon's uid could have made it) is quarantined under the
 * name its header gives. A create never uses one of the numbers; what a
 * symlink points to is never touched.
 */
START_TEST(test_shm_foreign_segments_refused)
{
	char tdir[] = "/tmp/cqsecshm.XXXXXX", target[300], pristine[300];
	char names[1024];
	const char *args[] = {"--log-level", "error", NULL};
	int fd, n, root = geteuid() == 0;
	unsigned i;
	struct stat sb;
	Conqueue__Reply *r;

	ck_assert_ptr_nonnull(mkdtemp(tdir));
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	/* Segments 1..3 for queues a, b, c; 4 for good. */
	ck_assert_int_eq(rc_create(fd, "a", 1, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "b", 1, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "c", 1, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "good", 4, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "good", "kept", 0), CQ_OK);
	close(fd);
	ck_assert_int_eq(tu_daemon_stop(&D), 0);
	for (i = 1; i <= 4; i++)
		ck_assert_int_eq(access(seg_path(i), F_OK), 0);
	snprintf(target, sizeof target, "%s/target", tdir);
	snprintf(pristine, sizeof pristine, "%s/pristine", tdir);
	copy_file(seg_path(3), target);
	copy_file(seg_path(3), pristine);
	/* 1: another user's (valid) segment; without root, a 0644 one. */
	if (root)
		ck_assert_int_eq(chown(seg_path(1), 65534, 65534), 0);
	else
		ck_assert_int_eq(chmod(seg_path(1), 0644), 0);
	/* 2: world-writable. */
	ck_assert_int_eq(chmod(seg_path(2), 0666), 0);
	/* 3: a symlink to a valid copy. */
	ck_assert_int_eq(unlink(seg_path(3)), 0);
	ck_assert_int_eq(symlink(target, seg_path(3)), 0);
	/* 5: a directory; 6: a truncated copy of a valid segment. */
	ck_assert_int_eq(mkdir(seg_path(5), 0700), 0);
	copy_file(target, seg_path(6));
	ck_assert_int_eq(truncate(seg_path(6), 4096), 0);
	ck_assert_int_eq(tu_daemon_restart(&D, args), 0);

	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	n = list_names(fd, names, sizeof names);
	printf("after restart with foreign segments: %s\n", names);
	ck_assert_msg(strstr(names, "good") != NULL, "good missing: %s", names);
	/* a and b are not served from files the daemon did not make. */
	for (i = 0; i < 2; i++) {
		char q[2] = {(char)('a' + i), '\0'};

		ck_assert_int_eq(
		    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__STAT, q, 1)),
		    CQ_NOTFOUND);
	}
	/* c (its file a symlink, ignored) is the truncated copy's name. */
	r = rc_named(fd, CONQUEUE__NAMED__KIND__STAT, "c", 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert(r->stat->quarantined);
	conqueue__reply__free_unpacked(r, NULL);
	ck_assert_int_eq(rc_push(fd, "c", "x", 0), CQ_CORRUPT);
	/* good, .quarantined-2, c; and .quarantined-1 if not root. */
	ck_assert_msg(n == (root ? 3 : 4), "unexpected queues: %s", names);
	ck_assert(strstr(names, ".quarantined-2") != NULL);
	ck_assert(strstr(names, ".quarantined-3") == NULL);
	ck_assert(strstr(names, ".quarantined-5") == NULL);
	/* The good queue and the daemon keep working. */
	r = rc_pop(fd, "good", 1, 0, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, CQ_OK);
	ck_assert_uint_eq(r->msgs[0]->data.len, 4);
	rc_confirm(fd, r->id);
	conqueue__reply__free_unpacked(r, NULL);
	/* A create skips numbers that are taken by anything. */
	ck_assert_int_eq(mkdir(seg_path(7), 0700), 0);
	ck_assert_int_eq(symlink(target, seg_path(8)), 0);
	copy_file(target, seg_path(9));
	ck_assert_int_eq(chmod(seg_path(9), 0666), 0);
	ck_assert_int_eq(rc_create(fd, "fresh", 5, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_push(fd, "fresh", "x", 0), CQ_OK);
	ck_assert_int_eq(stat(seg_path(10), &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_uint_eq(sb.st_uid, geteuid());
	ck_assert_int_eq(lstat(seg_path(8), &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	/* What the symlinks point to was never written. */
	ck_assert(same_file(target, pristine));
	/* An admin deletes the quarantined entries; the target stays. */
	for (i = root ? 2 : 1; i <= 2; i++) {
		char q[32];

		snprintf(q, sizeof q, ".quarantined-%u", i);
		ck_assert_int_eq(
		    rc_status(rc_named(
		        fd, CONQUEUE__NAMED__KIND__DELETE, q, strlen(q))),
		    CQ_OK);
	}
	ck_assert_int_eq(
	    rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__DELETE, "c", 1)),
	    CQ_OK);
	ck_assert_int_ne(access(seg_path(6), F_OK), 0);
	ck_assert(same_file(target, pristine));
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
	/* The ignored files are not the daemon's to remove. */
	if (root)
		unlink(seg_path(1));
	unlink(seg_path(3));
	rmdir(seg_path(5));
	rmdir(seg_path(7));
	unlink(seg_path(8));
	unlink(seg_path(9));
	unlink(target);
	unlink(pristine);
	rmdir(tdir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits: each gives CQ_LIMIT (or CQ_INVALID for a bad attribute) with a
 * text naming the setting, and leaves nothing half-created. */

/* Restart the test's daemon with a config file holding text. */
static void
restart_with_config(const char *text, int world)
{
	const char *path = tu_write_config(text);
	const char *args[] = {"-c", path, "--socket-mode", "0666", NULL};
	int rc;

	if (!world)
		args[2] = NULL;
	if (d_started)
		tu_daemon_cleanup(&D);
	d_started = 0;
	rc = tu_daemon_start(&D, args);
	d_started = 1;
	unlink(path); /* before any assertion can end the test */
	ck_assert_int_eq(rc, 0);
	if (world)
		ck_assert_int_eq(chmod(D.dir, 0711), 0);
}

/* Expect reply r to have status st and a detail containing text. */
static void
expect_detail(Conqueue__Reply *r, int st, const char *text)
{
	ck_assert_ptr_nonnull(r);
	ck_assert_msg((int)r->status == st && r->detail != NULL &&
	                  strstr(r->detail, text) != NULL,
	    "status %u detail '%s', want %d with '%s'", r->status,
	    r->detail ? r->detail : "", st, text);
	conqueue__reply__free_unpacked(r, NULL);
}

/* Create with attributes; the reply. */
static Conqueue__Reply *
create_reply(int fd, const char *name, uint32_t capacity, uint32_t max_size)
{
	uint64_t id;
	Conqueue__Reply *r;

	ck_assert_int_eq(
	    send_create(fd, &id, name, strlen(name), capacity, max_size), 0);
	r = rc_recv(fd);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, id);
	return r;
}

/* A refused queue left nothing: no name, no new segment. */
static void
expect_no_queue(int fd, const char *name, int segments)
{
	ck_assert_int_eq(rc_status(rc_named(fd, CONQUEUE__NAMED__KIND__STAT,
	                     name, strlen(name))),
	    CQ_NOTFOUND);
	ck_assert_int_eq(tu_shm_count_prefix(D.instance), segments);
}

/* The daemon's refusal of a connection: id 0, CQ_LIMIT, text, hang-up. */
static void
expect_refused(const char *text)
{
	int fd = rc_connect_raw(D.sock);

	ck_assert_int_ge(fd, 0);
	expect_detail(rc_recv(fd), CQ_LIMIT, text);
	ck_assert(rc_wait_eof(fd));
	close(fd);
}

/*
 * Connections that never say hello count against max_connections until
 * frame_timeout_ms drops them; then there is room again.
 */
START_TEST(test_limit_connections_unauthenticated)
{
	int silent[3], i, fd;

	/* Long enough that the silent ones are all there when refused. */
	restart_with_config("max_connections = 3\n"
	                    "frame_timeout_ms = 3000\n",
	    0);
	for (i = 0; i < 3; i++) {
		silent[i] = rc_connect_raw(D.sock);
		ck_assert_int_ge(silent[i], 0);
	}
	expect_refused("max_connections 3");
	for (i = 0; i < 3; i++) {
		ck_assert(rc_wait_eof(silent[i]));
		close(silent[i]);
	}
	/* Bounded: the daemon may not have seen the last hang-up yet. */
	for (i = 0; i < 200; i++) {
		if ((fd = rc_connect(D.sock)) >= 0)
			break;
		usleep(10000);
	}
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
}
END_TEST

/* In a child as uid 65534: connect and create name; the status. */
static int
as_nobody_create(const char *name, char *detail, size_t len)
{
	int p[2], st, fd;
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		Conqueue__Reply *r;
		char buf[300];

		close(p[0]);
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
		    setuid(65534) != 0 || (fd = rc_connect(D.sock)) < 0)
			_exit(250);
		r = create_reply(fd, name, 4, 16);
		snprintf(buf, sizeof buf, "%s", r->detail ? r->detail : "");
		if (write(p[1], buf, strlen(buf)) < 0)
			_exit(251);
		_exit((int)r->status);
	}
	close(p[1]);
	n = read(p[0], detail, len - 1);
	detail[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/*
 * Per-uid and total limits are separate: one uid at its connection limit
 * does not lock out another; the total queue limit counts every uid.
 */
START_TEST(test_limit_per_uid_and_total)
{
	char detail[300];
	int a, b, fd;

	restart_with_config("max_connections_per_uid = 2\n"
	                    "max_queues = 3\n"
	                    "max_queues_per_uid = 2\n",
	    1);
	a = rc_connect(D.sock);
	b = rc_connect(D.sock);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	expect_refused("max_connections_per_uid 2");
	ck_assert_int_eq(rc_create(a, "r1", 2, 0600, 4, 16), CQ_OK);
	ck_assert_int_eq(rc_create(a, "r2", 2, 0600, 4, 16), CQ_OK);
	expect_detail(
	    create_reply(a, "r3", 4, 16), CQ_LIMIT, "max_queues_per_uid 2");
	expect_no_queue(a, "r3", 2);
	/* Another uid connects, and makes the third queue of all. */
	ck_assert_int_eq(as_nobody_create("n1", detail, sizeof detail), CQ_OK);
	ck_assert_int_eq(
	    as_nobody_create("n2", detail, sizeof detail), CQ_LIMIT);
	ck_assert_msg(strstr(detail, "max_queues 3") != NULL, "%s", detail);
	expect_no_queue(a, "n2", 3);
	close(b);
	fd = a;
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
}
END_TEST

/*
 * Attribute and storage limits: each refused create names its setting and
 * leaves no queue and no segment; pending ops per connection likewise.
 */
START_TEST(test_limit_texts_and_nothing_half_created)
{
	int fd, i;
	uint64_t id;

	restart_with_config("max_capacity = 100\n"
	                    "max_message = 1000\n"
	                    "max_storage_per_uid = 300000\n"
	                    "max_pending_per_conn = 3\n"
	                    "max_batch = 2\n",
	    0);
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	expect_detail(create_reply(fd, "c", 101, 16), CQ_INVALID, "100");
	expect_no_queue(fd, "c", 0);
	expect_detail(create_reply(fd, "m", 4, 1001), CQ_INVALID, "1000");
	expect_no_queue(fd, "m", 0);
	ck_assert_int_eq(rc_create(fd, "s1", 2, 0600, 100, 1000), CQ_OK);
	ck_assert_int_eq(rc_create(fd, "s2", 2, 0600, 100, 1000), CQ_OK);
	expect_detail(
	    create_reply(fd, "s3", 100, 1000), CQ_LIMIT, "max_storage_per_uid");
	expect_no_queue(fd, "s3", 2);
	/* A message larger than the queue allows. */
	{
		char big[1002];

		memset(big, 'x', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		ck_assert_int_eq(rc_push(fd, "s1", big, 0), CQ_TOOBIG);
	}
	/* A batch of max_batch messages passes. */
	ck_assert_int_eq(send_push(fd, &id, "s1", 2, 0, 0), 0);
	ck_assert_int_eq(rc_status(rc_recv(fd)), CQ_OK);
	/* Pending ops: three parked pops, the fourth is refused. */
	ck_assert_int_eq(rc_create(fd, "e", 1, 0600, 4, 16), CQ_OK);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(send_pop(fd, &id, "e", 0, 0, -1), 0);
	ck_assert_int_eq(send_pop(fd, &id, "e", 0, 0, -1), 0);
	expect_detail(rc_recv(fd), CQ_LIMIT, "max_pending_per_conn");
	close(fd);
	/* The parked pops went with their connection. */
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rc_push(fd, "e", "z", 0), CQ_OK);
	close(fd);
}
END_TEST

/*
 * A configured max_frame: announced in Welcome; a frame of exactly that
 * size is read and answered (CQ_TOOBIG: its message exceeds max_message),
 * one byte more is refused on the header alone.
 */
START_TEST(test_limit_max_frame_configured)
{
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	Conqueue__Hello h = CONQUEUE__HELLO__INIT;
	Conqueue__Reply *rep;
	ProtobufCBinaryData d;
	static uint8_t data[16384];
	int fd;
	size_t len;
	uint8_t hdr[FRAME_HDR_LEN];

	restart_with_config("max_frame = 8192\nmax_message = 4096\n", 0);
	fd = rc_connect_raw(D.sock);
	ck_assert_int_ge(fd, 0);
	h.protocol_version = CQ_PROTOCOL_VERSION;
	r.op_case = CONQUEUE__REQUEST__OP_HELLO;
	r.hello = &h;
	rep = rc_call(fd, &r);
	ck_assert_ptr_nonnull(rep);
	ck_assert_ptr_nonnull(rep->welcome);
	ck_assert_uint_eq(rep->welcome->limits->max_frame, 8192);
	conqueue__reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(rc_create(fd, "f", 1, 0600, 4, 4096), CQ_OK);
	/* A push whose body is exactly 8192 bytes, then one of 8193. */
	memset(data, 'f', sizeof data);
	d.data = data;
	d.len = 8000;
	p.name.data = (uint8_t *)(uintptr_t) "f";
	p.name.len = 1;
	p.n_data = 1;
	p.data = &d;
	r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	r.id = 77;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	len = conqueue__request__get_packed_size(&r);
	d.len += 8192 - len;
	ck_assert_uint_eq(conqueue__request__get_packed_size(&r), 8192);
	rep = rc_call(fd, &r);
	ck_assert_int_eq(rc_status(rep), CQ_TOOBIG);
	d.len++;
	r.id = 78;
	ck_assert_uint_eq(conqueue__request__get_packed_size(&r), 8193);
	/* Refused on the header alone: send nothing more. */
	frame_put_len(hdr, 8193);
	ck_assert_int_eq(rc_write(fd, hdr, sizeof hdr), 0);
	expect_detail(rc_recv(fd), CQ_PROTOCOL, "max_frame 8192");
	ck_assert(rc_wait_eof(fd));
	close(fd);
}
END_TEST

/* Nanoseconds for n ping round trips on fd. */
static uint64_t
time_pings(int fd, int n)
{
	uint64_t t0 = time_mono_ns();
	int i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(rc_ping(fd), CQ_OK);
	return time_mono_ns() - t0;
}

/* Median of three timings of n pings. */
static uint64_t
median_pings(int fd, int n)
{
	uint64_t a = time_pings(fd, n), b = time_pings(fd, n),
	         c = time_pings(fd, n), t;

	if (a > b) {
		t = a;
		a = b;
		b = t;
	}
	if (b > c)
		b = c;
	return a > b ? a : b;
}

/*
 * Pipeline Info requests on fd without reading until the daemon stops
 * reading them (max_outbuf) and the socket stays full for 300 ms.
 */
static void
make_stuck(int fd)
{
	static uint8_t batch[500 * 16];
	static size_t blen;
	struct pollfd pfd = {fd, POLLOUT, 0};
	ssize_t n;
	long rounds = 0;

	if (blen == 0) {
		Conqueue__Request r = CONQUEUE__REQUEST__INIT;
		Conqueue__Info in = CONQUEUE__INFO__INIT;
		int i;

		r.op_case = CONQUEUE__REQUEST__OP_INFO;
		r.info = &in;
		for (i = 0; i < 500; i++) {
			r.id = 1000000 + (uint64_t)i;
			blen += rc_pack(&r, batch + blen);
		}
	}
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		n = send(fd, batch, blen, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, 300) == 0)
				return;
			continue;
		}
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		ck_assert_int_lt(++rounds, 100000);
	}
}

/*
 * Slow readers that stopped reading cost the others nothing: with four
 * peers whose output buffers are full (the daemon stopped reading them), a
 * client's pings are all still answered. The rates are printed for the
 * log only: speed is the benchmark's business, never a test's verdict
 * (a daemon blocked on a stuck peer hangs here and fails by timeout).
 */
START_TEST(test_slow_readers_others_keep_throughput)
{
	int fd, slow[4], i, n = getenv("CQ_UNDER_VALGRIND") ? 200 : 5000;
	uint64_t alone, busy;

	restart_with_config("max_outbuf = 65536\n"
	                    "slow_reader_grace_ms = 60000\n",
	    0);
	fd = rc_connect(D.sock);
	ck_assert_int_ge(fd, 0);
	time_pings(fd, n / 4); /* warm-up */
	alone = median_pings(fd, n);
	for (i = 0; i < 4; i++) {
		slow[i] = rc_connect(D.sock);
		ck_assert_int_ge(slow[i], 0);
		make_stuck(slow[i]);
	}
	busy = median_pings(fd, n);
	printf("%d pings: %.1f ms alone, %.1f ms with 4 stuck slow readers\n",
	    n, (double)alone / 1e6, (double)busy / 1e6);
	for (i = 0; i < 4; i++)
		close(slow[i]);
	ck_assert_int_eq(rc_ping(fd), CQ_OK);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The socket's directory. */

/*
 * Start conqueued on dir/s; 1 if it became ready (then stopped), 0 if it
 * exited first; its stderr in err.
 */
static int
daemon_starts_in(const char *dir, char *err, size_t errlen)
{
	char prog[512], sock[300], inst[64], errpath[320], buf[16];
	int p[2], st, efd, ready;
	ssize_t n;
	pid_t pid;

	tu_program("conqueued", prog, sizeof prog);
	snprintf(sock, sizeof sock, "%s/s", dir);
	snprintf(inst, sizeof inst, "secdir%ld", (long)getpid());
	snprintf(errpath, sizeof errpath, "%s.err", dir);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (efd < 0 || dup2(efd, 2) < 0 || dup2(p[1], 3) < 0)
			_exit(126);
		close(p[0]);
		execl(prog, prog, "-s", sock, "--instance", inst, "--ready-fd",
		    "3", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof buf);
	close(p[0]);
	ready = n > 0;
	if (ready)
		kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	efd = open(errpath, O_RDONLY);
	ck_assert_int_ge(efd, 0);
	n = read(efd, err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(efd);
	unlink(errpath);
	unlink(sock);
	snprintf(sock, sizeof sock, "%s/s.lock", dir);
	unlink(sock);
	tu_shm_remove_prefix(inst);
	return ready;
}

/*
 * A socket directory others could write to (group or world, without the
 * sticky bit) is refused: someone there could put their own socket in
 * place. Private, or sticky, is fine.
 */
START_TEST(test_socket_dir_modes)
{
	static const struct {
		mode_t mode;
		int ok;
	} cases[] = {{0700, 1}, {0755, 1}, {0711, 1}, {0770, 0}, {0730, 0},
	    {0777, 0}, {0757, 0}, {01770, 1}, {01777, 1}};
	char dir[] = "/tmp/cqsecdir.XXXXXX", err[2048];
	size_t i;
	int ok;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(chmod(dir, cases[i].mode), 0);
		ok = daemon_starts_in(dir, err, sizeof err);
		ck_assert_msg(ok == cases[i].ok, "dir mode %04o: %s (%s)",
		    (unsigned)cases[i].mode, ok ? "started" : "refused", err);
		if (!ok)
			ck_assert_msg(strstr(err, "unsafe socket directory"),
			    "stderr: %s", err);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The suite. */
static Suite *
security_suite(void)
{
	Suite *s = suite_create("security");
	TCase *tc = tcase_create("hostile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_malformed_input_table);
	tcase_add_test(tc, test_resources_return_to_baseline);
	tcase_add_test(tc, test_pipelined_never_read);
	tcase_add_test(tc, test_partial_frames_reserve_little);
	tcase_add_test(tc, test_shm_foreign_segments_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limit_connections_unauthenticated);
	tcase_add_test(tc, test_limit_texts_and_nothing_half_created);
	tcase_add_test(tc, test_limit_max_frame_configured);
	tcase_add_test(tc, test_socket_dir_modes);
	tcase_add_test(tc, test_slow_readers_others_keep_throughput);
	suite_add_tcase(s, tc);
	return s;
}

/* The tests that need root (a second uid): the check_security_root twin. */
static Suite *
security_root_suite(void)
{
	Suite *s = suite_create("security_root");
	TCase *tc = tcase_create("root");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_limit_per_uid_and_total);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	verbose = getenv("CQ_SECURITY_VERBOSE") != NULL;
	if (tu_is_variant(argv[0], "_root")) {
		tu_require(geteuid() == 0, "check_security_root needs root");
		return tu_run(security_root_suite(), "secroot");
	}
	return tu_run(security_suite(), "sec");
}
