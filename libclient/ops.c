/* ops.c - the public operations: build a request, submit it, read the reply. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Wire bytes of a C string (protobuf-c wants a non-const pointer). */
static ProtobufCBinaryData
ops_bytes(const char *s, size_t len)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)s;
	b.len = len;
	return b;
}

/* Any negative timeout means forever on the wire. */
static int64_t
ops_timeout(int64_t timeout_ms)
{
	return timeout_ms < 0 ? -1 : timeout_ms;
}

/*
 * Wait for op, submitted blocking, and record a failure for
 * cq_client_error(); the caller still owns op and what it holds (the
 * Reply, or a message decoded in place).
 */
static cq_status
ops_wait(cq_client *c, struct cq_op *op, const char *qname)
{
	cq_status st;
	const Conqueue__Reply *r;

	if (qname != NULL && (op->qname = strdup(qname)) == NULL) {
		/* Without the name a late reservation waits for its lease
		 * instead of being released: acceptable. */
	}
	st = engine_wait(c, op);
	r = op->reply;
	if (st != CQ_OK && r != NULL)
		engine_set_error(
		    c, st, r->detail, r->has_sys_errno ? r->sys_errno : 0);
	else if (st != CQ_OK && op->fast)
		engine_set_error(c, st, op->detail, op->sys_errno);
	else if (st != CQ_OK && st != CQ_DISCONNECTED && st != CQ_TIMEDOUT)
		engine_set_error(c, st, NULL, 0);
	return st;
}

/*
 * Submit req and wait for its reply: the blocking style on top of the
 * engine. On return *replyp (if asked for) is the reply to free, or NULL.
 */
cq_status
ops_call(cq_client *c, Conqueue__Request *req, int64_t timeout_ms,
    enum op_kind kind, const char *qname, Conqueue__Reply **replyp)
{
	struct cq_op *op;
	cq_status st;

	if (replyp != NULL)
		*replyp = NULL;
	st = engine_submit(c, req, kind, timeout_ms, 1, &op);
	if (st != CQ_OK) {
		engine_set_error(c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	/* A caller that wants only the status takes a reply decoded in
	 * place too (any plain reply is id, status, maybe detail). */
	op->hot = replyp == NULL && kind == OP_PLAIN;
	st = ops_wait(c, op, qname);
	if (replyp != NULL) {
		*replyp = op->reply;
		op->reply = NULL;
	}
	engine_op_free(op);
	return st;
}

/* Reject a bad queue name before it costs a round trip. */
static cq_status
ops_check_name(cq_client *c, const char *name)
{
	if (name == NULL || !cq_name_valid(name, strlen(name))) {
		engine_set_error(c, CQ_INVALID, "invalid queue name", 0);
		return CQ_INVALID;
	}
	return CQ_OK;
}

/* Run a Named op on queue name. */
static cq_status
ops_named(cq_client *c, const char *name, Conqueue__Named__Kind kind,
    Conqueue__Reply **replyp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Named named = CONQUEUE__NAMED__INIT;

	req.op_case = CONQUEUE__REQUEST__OP_NAMED;
	req.named = &named;
	named.kind = kind;
	named.name = ops_bytes(name, strlen(name));
	return ops_call(c, &req, -1, OP_PLAIN, NULL, replyp);
}

/* cq_ping: a round trip. */
cq_status
cq_ping(cq_client *c)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping ping = CONQUEUE__PING__INIT;

	if (c == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_PING;
	req.ping = &ping;
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_create: create a queue (attr NULL: defaults chosen by the daemon). */
cq_status
cq_create(cq_client *c, const char *name, const cq_queue_attr *attr)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Create cr = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr qa = CONQUEUE__QUEUE_ATTR__INIT;
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	req.op_case = CONQUEUE__REQUEST__OP_CREATE;
	req.create = &cr;
	cr.name = ops_bytes(name, strlen(name));
	if (attr != NULL) {
		/* Zero means "default": leave those fields out. */
		cr.attr = &qa;
		qa.has_capacity = attr->capacity != 0;
		qa.capacity = attr->capacity;
		qa.has_max_size = attr->max_size != 0;
		qa.max_size = attr->max_size;
		qa.has_bands = attr->bands != 0;
		qa.bands = attr->bands;
		qa.has_mode = attr->mode != 0;
		qa.mode = attr->mode;
		qa.has_max_deliveries = attr->max_deliveries != 0;
		qa.max_deliveries = attr->max_deliveries;
		qa.has_lease_ms = attr->lease_ms != 0;
		qa.lease_ms = attr->lease_ms;
		qa.has_serial = attr->serial != 0;
		qa.serial = attr->serial != 0;
	}
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_delete: close and remove a queue. */
cq_status
cq_delete(cq_client *c, const char *name)
{
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return ops_named(c, name, CONQUEUE__NAMED__KIND__DELETE, NULL);
}

/* cq_list: names of the readable queues, NULL-terminated. */
cq_status
cq_list(cq_client *c, char ***namesp, size_t *countp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues lq = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *r = NULL;
	cq_status st;
	char **names;
	size_t i;

	if (c == NULL || namesp == NULL)
		return CQ_INVALID;
	*namesp = NULL;
	if (countp != NULL)
		*countp = 0;
	req.op_case = CONQUEUE__REQUEST__OP_LIST;
	req.list = &lq;
	if ((st = ops_call(c, &req, -1, OP_PLAIN, NULL, &r)) != CQ_OK)
		goto out;
	if ((names = calloc(r->n_queues + 1, sizeof *names)) == NULL) {
		st = CQ_SYSTEM;
		goto out;
	}
	for (i = 0; i < r->n_queues; i++) {
		const ProtobufCBinaryData *n = &r->queues[i]->name;
		if ((names[i] = malloc(n->len + 1)) == NULL) {
			cq_list_free(names);
			st = CQ_SYSTEM;
			goto out;
		}
		memcpy(names[i], n->data, n->len);
		names[i][n->len] = '\0';
	}
	*namesp = names;
	if (countp != NULL)
		*countp = r->n_queues;
out:
	if (st == CQ_SYSTEM && r != NULL)
		engine_set_error(c, st, "out of memory", ENOMEM);
	engine_reply_free(c, r);
	return st;
}

/* cq_list_free: free what cq_list returned. */
void
cq_list_free(char **names)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/* cq_open: check the queue exists and may be used; a handle on it. */
cq_status
cq_open(cq_client *c, const char *name, cq_queue **qp)
{
	struct cq_queue *q;
	cq_status st;

	if (c == NULL || qp == NULL)
		return CQ_INVALID;
	*qp = NULL;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	st = ops_named(c, name, CONQUEUE__NAMED__KIND__OPEN, NULL);
	if (st != CQ_OK)
		return st;
	if ((q = calloc(1, sizeof *q)) == NULL) {
		engine_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
		return CQ_SYSTEM;
	}
	q->c = c;
	q->namelen = strlen(name);
	memcpy(q->name, name, q->namelen + 1);
	q->next = c->queues;
	if (c->queues != NULL)
		c->queues->prev = q;
	c->queues = q;
	*qp = q;
	return CQ_OK;
}

/* cq_queue_free: forget a handle (ops already submitted go on). */
void
cq_queue_free(cq_queue *q)
{
	if (q == NULL)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->c->queues = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	free(q);
}

/* cq_queue_name: the name the handle was opened with. */
const char *
cq_queue_name(const cq_queue *q)
{
	return q->name;
}

/* Push one message without protobuf-c structs: async, or blocking when
 * async is 0 (cb, arg and opp unused then). */
static cq_status
ops_push_hot(cq_queue *q, const void *buf, size_t len, unsigned band, int front,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **opp, int async)
{
	struct wire_hot h;
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	if (q == NULL)
		return CQ_INVALID;
	memset(&h, 0, sizeof h);
	h.op = CONQUEUE__REQUEST__OP_PUSH;
	h.name = q->name;
	h.namelen = q->namelen;
	h.timeout_ms = ops_timeout(timeout_ms);
	h.data = buf;
	h.len = len;
	h.band = band;
	h.front = front != 0;
	st = engine_submit_hot(q->c, &h, OP_PLAIN, h.timeout_ms, !async, &op);
	if (st != CQ_OK) {
		if (!async)
			engine_set_error(
			    q->c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	if (!async) {
		st = ops_wait(q->c, op, NULL);
		engine_op_free(op);
		return st;
	}
	op->push_cb = cb;
	op->arg = arg;
	if (opp != NULL)
		*opp = op;
	return CQ_OK;
}

/* Build a Push of n messages and run it blocking or async. */
static cq_status
ops_push(cq_queue *q, const void *const *bufs, const size_t *lens, size_t n,
    unsigned band, int front, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **opp, int async)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData local[64], *data = local;
	struct cq_op *op;
	cq_status st;
	size_t i;

	if (opp != NULL)
		*opp = NULL;
	if (q == NULL || n == 0 || bufs == NULL || lens == NULL)
		return CQ_INVALID;
	if (n == 1)
		return ops_push_hot(q, bufs[0], lens[0], band, front,
		    timeout_ms, cb, arg, opp, async);
	if (n > sizeof local / sizeof local[0] &&
	    (data = malloc(n * sizeof *data)) == NULL)
		return CQ_SYSTEM;
	for (i = 0; i < n; i++)
		data[i] = ops_bytes(bufs[i], lens[i]);
	req.op_case = CONQUEUE__REQUEST__OP_PUSH;
	req.push = &push;
	push.name = ops_bytes(q->name, q->namelen);
	push.n_data = n;
	push.data = data;
	push.has_band = band != 0;
	push.band = band;
	push.has_front = front != 0;
	push.front = front != 0;
	push.has_timeout_ms = 1;
	push.timeout_ms = ops_timeout(timeout_ms);
	if (async) {
		st = engine_submit(
		    q->c, &req, OP_PLAIN, push.timeout_ms, 0, &op);
		if (st == CQ_OK) {
			op->push_cb = cb;
			op->arg = arg;
			if (opp != NULL)
				*opp = op;
		}
	} else {
		st =
		    ops_call(q->c, &req, push.timeout_ms, OP_PLAIN, NULL, NULL);
	}
	/* A batch too large for one frame is a daemon limit, one message
	 * too large for any frame is simply too big. */
	if (st == CQ_TOOBIG && n > 1)
		st = CQ_LIMIT;
	if (data != local)
		free(data);
	return st;
}

/* cq_push: push to band 0. */
cq_status
cq_push(cq_queue *q, const void *buf, size_t len, int64_t timeout_ms)
{
	return ops_push(
	    q, &buf, &len, 1, 0, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_try_push: push without waiting. */
cq_status
cq_try_push(cq_queue *q, const void *buf, size_t len)
{
	return ops_push(q, &buf, &len, 1, 0, 0, CQ_NOWAIT, NULL, NULL, NULL, 0);
}

/* cq_push_band: push to a priority band. */
cq_status
cq_push_band(
    cq_queue *q, const void *buf, size_t len, unsigned band, int64_t timeout_ms)
{
	return ops_push(
	    q, &buf, &len, 1, band, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_front: push to the head of a band. */
cq_status
cq_push_front(
    cq_queue *q, const void *buf, size_t len, unsigned band, int64_t timeout_ms)
{
	return ops_push(
	    q, &buf, &len, 1, band, 1, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_many: push n messages, all or nothing. */
cq_status
cq_push_many(cq_queue *q, const void *const *bufs, const size_t *lens, size_t n,
    unsigned band, int64_t timeout_ms)
{
	return ops_push(
	    q, bufs, lens, n, band, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_async: push; cb(status, arg) runs later. */
cq_status
cq_push_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op)
{
	return ops_push_hot(q, buf, len, band, 0, timeout_ms, cb, arg, op, 1);
}

/* cq_push_many_async: push n messages, all or nothing; cb runs later. */
cq_status
cq_push_many_async(cq_queue *q, const void *const *bufs, const size_t *lens,
    size_t n, unsigned band, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **op)
{
	return ops_push(q, bufs, lens, n, band, 0, timeout_ms, cb, arg, op, 1);
}

/* cq_push_front_async: push to the head of band; cb runs later. */
cq_status
cq_push_front_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op)
{
	return ops_push_hot(q, buf, len, band, 1, timeout_ms, cb, arg, op, 1);
}

/* The Pop of up to max messages as a struct wire_hot. */
static void
ops_pop_hot(struct wire_hot *h, cq_queue *q, size_t max, int64_t timeout_ms,
    int reserve, uint32_t lease_ms, int detach)
{
	memset(h, 0, sizeof *h);
	h->op = CONQUEUE__REQUEST__OP_POP;
	h->name = q->name;
	h->namelen = q->namelen;
	h->timeout_ms = ops_timeout(timeout_ms);
	h->max = (uint32_t)max;
	h->reserve = reserve != 0;
	h->lease_ms = reserve ? lease_ms : 0;
	h->detach = detach != 0;
}

/* Blocking pop/reserve of up to max messages. */
static cq_status
ops_pop(cq_queue *q, cq_msg **msgs, size_t max, size_t *n, int64_t timeout_ms,
    int reserve, uint32_t lease_ms, int detach)
{
	struct wire_hot h;
	struct cq_op *op;
	const Conqueue__Reply *r;
	cq_status st;
	size_t i, got = 0;

	if (n != NULL)
		*n = 0;
	if (q == NULL || msgs == NULL || max == 0)
		return CQ_INVALID;
	if (max > q->c->max_batch)
		max = q->c->max_batch;
	ops_pop_hot(&h, q, max, timeout_ms, reserve, lease_ms, detach);
	st = engine_submit_hot(
	    q->c, &h, reserve ? OP_RESERVE : OP_POP, h.timeout_ms, 1, &op);
	if (st != CQ_OK) {
		engine_set_error(q->c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	st = ops_wait(q->c, op, reserve ? q->name : NULL);
	r = op->reply;
	if (st == CQ_OK && op->fast && op->n_msgs > max) {
		engine_set_error(
		    q->c, CQ_PROTOCOL, "pop reply without messages", 0);
		st = CQ_PROTOCOL;
	} else if (st == CQ_OK && op->fast && op->n_msgs > 0) {
		/* Decoded in place: the caller takes them over. */
		for (got = 0; got < op->n_msgs; got++)
			msgs[got] = op->msgs[got];
		op->n_msgs = 0;
	} else if (st == CQ_OK && op->fast) {
		/* One message, or none for want of memory. */
		if ((msgs[0] = op->msg) != NULL) {
			op->msg = NULL;
			got = 1;
		} else {
			engine_set_error(
			    q->c, CQ_SYSTEM, "out of memory", ENOMEM);
			st = CQ_SYSTEM;
		}
	} else if (st == CQ_OK &&
	           (r == NULL || r->n_msgs == 0 || r->n_msgs > max)) {
		engine_set_error(
		    q->c, CQ_PROTOCOL, "pop reply without messages", 0);
		st = CQ_PROTOCOL;
	}
	for (i = 0; st == CQ_OK && !op->fast && i < r->n_msgs; i++) {
		if ((msgs[got] = msg_from_wire(r->msgs[i])) == NULL) {
			while (got > 0)
				cq_msg_free(msgs[--got]);
			engine_set_error(
			    q->c, CQ_SYSTEM, "out of memory", ENOMEM);
			st = CQ_SYSTEM;
			break;
		}
		got++;
	}
	if (n != NULL)
		*n = got;
	engine_op_free(op);
	return st;
}

/* cq_pop: take one message, waiting up to timeout_ms. */
cq_status
cq_pop(cq_queue *q, cq_msg **m, int64_t timeout_ms)
{
	if (m != NULL)
		*m = NULL;
	return ops_pop(q, m, 1, NULL, timeout_ms, 0, 0, 0);
}

/* cq_try_pop: take one message without waiting. */
cq_status
cq_try_pop(cq_queue *q, cq_msg **m)
{
	if (m != NULL)
		*m = NULL;
	return ops_pop(q, m, 1, NULL, CQ_NOWAIT, 0, 0, 0);
}

/* cq_pop_many: take 1..max messages. */
cq_status
cq_pop_many(
    cq_queue *q, cq_msg **msgs, size_t max, size_t *n, int64_t timeout_ms)
{
	return ops_pop(q, msgs, max, n, timeout_ms, 0, 0, 0);
}

/* cq_reserve: take one message under a lease. */
cq_status
cq_reserve(cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms)
{
	if (m != NULL)
		*m = NULL;
	return ops_pop(q, m, 1, NULL, timeout_ms, 1, lease_ms, 0);
}

/* cq_reserve_detached: a reservation that outlives the connection. */
cq_status
cq_reserve_detached(
    cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms)
{
	if (m != NULL)
		*m = NULL;
	return ops_pop(q, m, 1, NULL, timeout_ms, 1, lease_ms, 1);
}

/* Submit an async pop or reserve of up to max messages (one callback). */
static cq_status
ops_pop_async(cq_queue *q, size_t max, int64_t timeout_ms, int reserve,
    uint32_t lease_ms, cq_pop_cb *cb, cq_pop_many_cb *many_cb, void *arg,
    cq_op **opp)
{
	struct wire_hot h;
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	/* Without a callback nobody could free the messages. */
	if (q == NULL || (cb == NULL && many_cb == NULL) || max == 0)
		return CQ_INVALID;
	if (max > q->c->max_batch)
		max = q->c->max_batch;
	ops_pop_hot(&h, q, max, timeout_ms, reserve, lease_ms, 0);
	st = engine_submit_hot(
	    q->c, &h, reserve ? OP_RESERVE : OP_POP, h.timeout_ms, 0, &op);
	if (st != CQ_OK)
		return st;
	op->pop_cb = cb;
	op->pop_many_cb = many_cb;
	op->arg = arg;
	if (reserve)
		op->qname = strdup(q->name);
	if (opp != NULL)
		*opp = op;
	return CQ_OK;
}

/* cq_pop_async: pop one message; cb(status, msg, arg) runs later. */
cq_status
cq_pop_async(
    cq_queue *q, int64_t timeout_ms, cq_pop_cb *cb, void *arg, cq_op **op)
{
	return ops_pop_async(q, 1, timeout_ms, 0, 0, cb, NULL, arg, op);
}

/* cq_pop_many_async: pop 1..max messages; cb(status, msgs, n, arg). */
cq_status
cq_pop_many_async(cq_queue *q, size_t max, int64_t timeout_ms,
    cq_pop_many_cb *cb, void *arg, cq_op **op)
{
	return ops_pop_async(q, max, timeout_ms, 0, 0, NULL, cb, arg, op);
}

/* cq_reserve_async: reserve one message; cb runs later. */
cq_status
cq_reserve_async(cq_queue *q, int64_t timeout_ms, uint32_t lease_ms,
    cq_pop_cb *cb, void *arg, cq_op **op)
{
	return ops_pop_async(q, 1, timeout_ms, 1, lease_ms, cb, NULL, arg, op);
}

/* cq_op_cancel: ask the daemon to cancel op. */
cq_status
cq_op_cancel(cq_op *op)
{
	if (op == NULL)
		return CQ_INVALID;
	return engine_cancel(op);
}

/* Run a named op on q. */
static cq_status
ops_qnamed(cq_queue *q, Conqueue__Named__Kind kind, Conqueue__Reply **r)
{
	if (q == NULL)
		return CQ_INVALID;
	return ops_named(q->c, q->name, kind, r);
}

/* cq_close: close q. */
cq_status
cq_close(cq_queue *q)
{
	return ops_qnamed(q, CONQUEUE__NAMED__KIND__CLOSE, NULL);
}

/* cq_pause: pops wait until cq_resume. */
cq_status
cq_pause(cq_queue *q)
{
	return ops_qnamed(q, CONQUEUE__NAMED__KIND__PAUSE, NULL);
}

/* cq_resume: end a pause. */
cq_status
cq_resume(cq_queue *q)
{
	return ops_qnamed(q, CONQUEUE__NAMED__KIND__RESUME, NULL);
}

/* cq_is_closed: whether q is closed. */
cq_status
cq_is_closed(cq_queue *q, int *closed)
{
	Conqueue__Reply *r = NULL;
	cq_status st;

	if (closed == NULL)
		return CQ_INVALID;
	*closed = 0;
	st = ops_qnamed(q, CONQUEUE__NAMED__KIND__IS_CLOSED, &r);
	if (st == CQ_OK)
		*closed = r->has_flag && r->flag;
	if (r != NULL)
		engine_reply_free(q->c, r);
	return st;
}

/* cq_length: queued minus waiting poppers. */
cq_status
cq_length(cq_queue *q, int64_t *length)
{
	Conqueue__Reply *r = NULL;
	cq_status st;

	if (length == NULL)
		return CQ_INVALID;
	*length = 0;
	st = ops_qnamed(q, CONQUEUE__NAMED__KIND__LENGTH, &r);
	if (st == CQ_OK)
		*length = r->length;
	if (r != NULL)
		engine_reply_free(q->c, r);
	return st;
}

/* cq_stat: q's state and counters. */
cq_status
cq_stat(cq_queue *q, cq_queue_stat *st)
{
	Conqueue__Reply *r = NULL;
	const Conqueue__QueueStat *w;
	cq_status s;
	size_t len;

	if (st == NULL)
		return CQ_INVALID;
	memset(st, 0, sizeof *st);
	s = ops_qnamed(q, CONQUEUE__NAMED__KIND__STAT, &r);
	if (s == CQ_OK && (r == NULL || r->stat == NULL)) {
		engine_set_error(
		    q->c, CQ_PROTOCOL, "stat reply without stat", 0);
		s = CQ_PROTOCOL;
	}
	if (s == CQ_OK) {
		w = r->stat;
		len = w->name.len < CQ_NAME_MAX ? w->name.len : CQ_NAME_MAX;
		memcpy(st->name, w->name.data, len);
		st->name[len] = '\0';
		st->capacity = w->capacity;
		st->max_size = w->max_size;
		st->bands = w->bands;
		st->mode = w->mode;
		st->uid = (uid_t)w->uid;
		st->gid = (gid_t)w->gid;
		st->max_deliveries = w->max_deliveries;
		st->lease_ms = w->lease_ms;
		st->serial = w->serial;
		st->length = w->length;
		st->in_flight = w->in_flight;
		st->waiting_poppers = w->waiting_poppers;
		st->waiting_pushers = w->waiting_pushers;
		st->closed = w->closed;
		st->paused = w->paused;
		st->total_pushed = w->total_pushed;
		st->total_popped = w->total_popped;
		st->dead_lettered = w->dead_lettered;
		st->oldest_age_ms = w->oldest_age_ms;
	}
	if (r != NULL)
		engine_reply_free(q->c, r);
	return s;
}

/* Run a MsgOp on one reserved message of q. */
static cq_status
ops_msgop(
    cq_queue *q, Conqueue__MsgOp__Kind kind, uint64_t id, uint32_t lease_ms)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp mo = CONQUEUE__MSG_OP__INIT;

	if (q == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	req.msg_op = &mo;
	mo.kind = kind;
	mo.name = ops_bytes(q->name, q->namelen);
	mo.msg_id = id;
	/* lease_ms is TOUCH's new lease, or RELEASE's delay. */
	if (kind == CONQUEUE__MSG_OP__KIND__TOUCH) {
		mo.has_lease_ms = 1;
		mo.lease_ms = lease_ms;
	} else if (kind == CONQUEUE__MSG_OP__KIND__RELEASE && lease_ms > 0) {
		mo.has_delay_ms = 1;
		mo.delay_ms = lease_ms;
	}
	return ops_call(q->c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_ack: a reserved message is done: delete it. */
cq_status
cq_ack(cq_queue *q, uint64_t id)
{
	return ops_msgop(q, CONQUEUE__MSG_OP__KIND__ACK, id, 0);
}

/* cq_release: put a reserved message back. */
cq_status
cq_release(cq_queue *q, uint64_t id)
{
	return ops_msgop(q, CONQUEUE__MSG_OP__KIND__RELEASE, id, 0);
}

/* cq_release_delayed: put a reserved message back after delay_ms. */
cq_status
cq_release_delayed(cq_queue *q, uint64_t id, uint32_t delay_ms)
{
	return ops_msgop(q, CONQUEUE__MSG_OP__KIND__RELEASE, id, delay_ms);
}

/* cq_touch: extend a reservation's lease. */
cq_status
cq_touch(cq_queue *q, uint64_t id, uint32_t lease_ms)
{
	return ops_msgop(q, CONQUEUE__MSG_OP__KIND__TOUCH, id, lease_ms);
}

/* cq_chmod: change q's permission bits. */
cq_status
cq_chmod(cq_queue *q, uint32_t mode)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Chmod ch = CONQUEUE__CHMOD__INIT;

	if (q == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_CHMOD;
	req.chmod = &ch;
	ch.name = ops_bytes(q->name, q->namelen);
	ch.mode = mode;
	return ops_call(q->c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_chown: change q's owner and/or group; -1 leaves one unchanged. */
cq_status
cq_chown(cq_queue *q, int64_t uid, int64_t gid)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Chown ch = CONQUEUE__CHOWN__INIT;

	/* (uint32_t)-1 is chown(2)'s "unchanged", never an id: refuse it. */
	if (q == NULL || uid < -1 || uid >= UINT32_MAX || gid < -1 ||
	    gid >= UINT32_MAX || (uid == -1 && gid == -1))
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_CHOWN;
	req.chown = &ch;
	ch.name = ops_bytes(q->name, q->namelen);
	if (uid >= 0) {
		ch.has_uid = 1;
		ch.uid = (uint32_t)uid;
	}
	if (gid >= 0) {
		ch.has_gid = 1;
		ch.gid = (uint32_t)gid;
	}
	return ops_call(q->c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_info: the daemon's own figures. */
cq_status
cq_info(cq_client *c, cq_daemon_info *info)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Info in = CONQUEUE__INFO__INIT;
	Conqueue__Reply *r = NULL;
	const Conqueue__DaemonInfo *w;
	cq_status st;

	if (c == NULL || info == NULL)
		return CQ_INVALID;
	memset(info, 0, sizeof *info);
	req.op_case = CONQUEUE__REQUEST__OP_INFO;
	req.info = &in;
	st = ops_call(c, &req, -1, OP_PLAIN, NULL, &r);
	if (st == CQ_OK && (r == NULL || r->info == NULL)) {
		engine_set_error(c, CQ_PROTOCOL, "info reply without info", 0);
		st = CQ_PROTOCOL;
	}
	if (st == CQ_OK) {
		w = r->info;
		strncpy(info->version, w->version != NULL ? w->version : "",
		    sizeof info->version - 1);
		info->uptime_ms = w->uptime_ms;
		info->connections = w->connections;
		info->queues = w->queues;
		info->total_ops = w->total_ops;
		info->storage_bytes = w->storage_bytes;
		info->rss_bytes = w->rss_bytes;
		info->pid = w->pid;
	}
	if (r != NULL)
		engine_reply_free(c, r);
	return st;
}
