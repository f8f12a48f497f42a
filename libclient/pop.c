/* pop.c - the pop family: pop, reserve, their async forms, ack/release. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpath.h"
#include "engine.h"
#include "msg.h"
#include "ops.h"
#include "send.h"

/* The Pop of up to max messages as a struct wire_hot. */
static void
pop_hot(struct wire_hot *h, cq_queue *q, size_t max, int64_t timeout_ms,
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
pop_run(cq_queue *q, cq_msg **msgs, size_t max, size_t *n, int64_t timeout_ms,
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
	/* Reservations need the daemon's clock: only plain pops go direct. */
	if (!reserve && dpath_live(q)) {
		int via_socket;

		st = dpath_pop(q, msgs, max, n, timeout_ms, &via_socket);
		if (!via_socket)
			return st;
	}
	pop_hot(&h, q, max, timeout_ms, reserve, lease_ms, detach);
	st = send_submit_hot(
	    q->c, &h, reserve ? OP_RESERVE : OP_POP, h.timeout_ms, 1, &op);
	if (st != CQ_OK) {
		conn_set_error(q->c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	st = ops_wait(q->c, op, reserve ? q->name : NULL);
	r = op->reply;
	if (st == CQ_OK && op->fast && op->n_msgs > max) {
		conn_set_error(
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
			conn_set_error(
			    q->c, CQ_SYSTEM, "out of memory", ENOMEM);
			st = CQ_SYSTEM;
		}
	} else if (st == CQ_OK &&
	           (r == NULL || r->n_msgs == 0 || r->n_msgs > max)) {
		conn_set_error(
		    q->c, CQ_PROTOCOL, "pop reply without messages", 0);
		st = CQ_PROTOCOL;
	}
	for (i = 0; st == CQ_OK && !op->fast && i < r->n_msgs; i++) {
		if ((msgs[got] = msg_from_wire(r->msgs[i])) == NULL) {
			while (got > 0)
				cq_msg_free(msgs[--got]);
			conn_set_error(
			    q->c, CQ_SYSTEM, "out of memory", ENOMEM);
			st = CQ_SYSTEM;
			break;
		}
		got++;
	}
	if (n != NULL)
		*n = got;
	optab_op_free(op);
	return st;
}

/* cq_pop: take one message, waiting up to timeout_ms. */
cq_status
cq_pop(cq_queue *q, cq_msg **m, int64_t timeout_ms)
{
	if (m != NULL)
		*m = NULL;
	return pop_run(q, m, 1, NULL, timeout_ms, 0, 0, 0);
}

/* cq_try_pop: take one message without waiting. */
cq_status
cq_try_pop(cq_queue *q, cq_msg **m)
{
	if (m != NULL)
		*m = NULL;
	return pop_run(q, m, 1, NULL, CQ_NOWAIT, 0, 0, 0);
}

/* cq_pop_many: take 1..max messages. */
cq_status
cq_pop_many(
    cq_queue *q, cq_msg **msgs, size_t max, size_t *n, int64_t timeout_ms)
{
	return pop_run(q, msgs, max, n, timeout_ms, 0, 0, 0);
}

/* cq_reserve: take one message under a lease. */
cq_status
cq_reserve(cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms)
{
	if (m != NULL)
		*m = NULL;
	return pop_run(q, m, 1, NULL, timeout_ms, 1, lease_ms, 0);
}

/* cq_reserve_detached: a reservation that outlives the connection. */
cq_status
cq_reserve_detached(
    cq_queue *q, cq_msg **m, int64_t timeout_ms, uint32_t lease_ms)
{
	if (m != NULL)
		*m = NULL;
	return pop_run(q, m, 1, NULL, timeout_ms, 1, lease_ms, 1);
}

/* cq_reserve_many: reserve 1..max messages, each under its own lease. */
cq_status
cq_reserve_many(cq_queue *q, cq_msg **msgs, size_t max, size_t *n,
    int64_t timeout_ms, uint32_t lease_ms)
{
	return pop_run(q, msgs, max, n, timeout_ms, 1, lease_ms, 0);
}

/* Submit an async pop or reserve of up to max messages (one callback). */
static cq_status
pop_async(cq_queue *q, size_t max, int64_t timeout_ms, int reserve,
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
	pop_hot(&h, q, max, timeout_ms, reserve, lease_ms, 0);
	st = send_submit_hot(
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
	return pop_async(q, 1, timeout_ms, 0, 0, cb, NULL, arg, op);
}

/* cq_pop_many_async: pop 1..max messages; cb(status, msgs, n, arg). */
cq_status
cq_pop_many_async(cq_queue *q, size_t max, int64_t timeout_ms,
    cq_pop_many_cb *cb, void *arg, cq_op **op)
{
	return pop_async(q, max, timeout_ms, 0, 0, NULL, cb, arg, op);
}

/* cq_reserve_async: reserve one message; cb runs later. */
cq_status
cq_reserve_async(cq_queue *q, int64_t timeout_ms, uint32_t lease_ms,
    cq_pop_cb *cb, void *arg, cq_op **op)
{
	return pop_async(q, 1, timeout_ms, 1, lease_ms, cb, NULL, arg, op);
}

/* cq_op_cancel: ask the daemon to cancel op. */
cq_status
cq_op_cancel(cq_op *op)
{
	if (op == NULL)
		return CQ_INVALID;
	return engine_cancel(op);
}

/* Run a MsgOp on one reserved message of q. */
static cq_status
pop_msgop(
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

/* Submit a MsgOp (ack or release) on one reserved message; cb later. */
static cq_status
pop_msgop_async(cq_queue *q, Conqueue__MsgOp__Kind kind, uint64_t id,
    cq_push_cb *cb, void *arg, cq_op **opp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp mo = CONQUEUE__MSG_OP__INIT;
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	if (q == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	req.msg_op = &mo;
	mo.kind = kind;
	mo.name = ops_bytes(q->name, q->namelen);
	mo.msg_id = id;
	st = send_submit(q->c, &req, OP_PLAIN, -1, 0, &op);
	if (st != CQ_OK)
		return st;
	op->push_cb = cb;
	op->arg = arg;
	if (opp != NULL)
		*opp = op;
	return CQ_OK;
}

/* cq_ack_async: cq_ack whose result goes to cb (NULL: nobody). */
cq_status
cq_ack_async(cq_queue *q, uint64_t id, cq_push_cb *cb, void *arg, cq_op **op)
{
	return pop_msgop_async(
	    q, CONQUEUE__MSG_OP__KIND__ACK, id, cb, arg, op);
}

/* cq_release_async: cq_release whose result goes to cb (NULL: nobody). */
cq_status
cq_release_async(
    cq_queue *q, uint64_t id, cq_push_cb *cb, void *arg, cq_op **op)
{
	return pop_msgop_async(
	    q, CONQUEUE__MSG_OP__KIND__RELEASE, id, cb, arg, op);
}

/* cq_ack: a reserved message is done: delete it. */
cq_status
cq_ack(cq_queue *q, uint64_t id)
{
	return pop_msgop(q, CONQUEUE__MSG_OP__KIND__ACK, id, 0);
}

/* cq_release: put a reserved message back. */
cq_status
cq_release(cq_queue *q, uint64_t id)
{
	return pop_msgop(q, CONQUEUE__MSG_OP__KIND__RELEASE, id, 0);
}

/* cq_release_delayed: put a reserved message back after delay_ms. */
cq_status
cq_release_delayed(cq_queue *q, uint64_t id, uint32_t delay_ms)
{
	return pop_msgop(q, CONQUEUE__MSG_OP__KIND__RELEASE, id, delay_ms);
}

/* cq_touch: extend a reservation's lease. */
cq_status
cq_touch(cq_queue *q, uint64_t id, uint32_t lease_ms)
{
	return pop_msgop(q, CONQUEUE__MSG_OP__KIND__TOUCH, id, lease_ms);
}

/* Submit a PopAny of names[0..n-1]. */
static cq_status
pop_any_submit(cq_client *c, const char *const *names, size_t n,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__PopAny pa = CONQUEUE__POP_ANY__INIT;
	ProtobufCBinaryData b[CQ_POP_ANY_MAX];
	cq_status st;
	size_t i;

	if (c == NULL || names == NULL || n == 0 || n > CQ_POP_ANY_MAX)
		return CQ_INVALID;
	for (i = 0; i < n; i++) {
		if ((st = ops_check_name(c, names[i])) != CQ_OK)
			return st;
		b[i] = ops_bytes(names[i], strlen(names[i]));
	}
	req.op_case = CONQUEUE__REQUEST__OP_POP_ANY;
	req.pop_any = &pa;
	pa.n_names = n;
	pa.names = b;
	pa.has_timeout_ms = 1;
	pa.timeout_ms = ops_timeout(timeout_ms);
	/* A plain pop's hand-off: the engine confirms or rejects it. */
	return send_submit(c, &req, OP_POP, pa.timeout_ms, sync, opp);
}

/* cq_pop_any: one message from the first of several queues. */
cq_status
cq_pop_any(cq_client *c, const char *const *names, size_t n, size_t *index,
    cq_msg **m, int64_t timeout_ms)
{
	const Conqueue__Reply *r;
	struct cq_op *op;
	cq_status st;

	if (m != NULL)
		*m = NULL;
	if (index != NULL)
		*index = 0;
	if (m == NULL || index == NULL)
		return CQ_INVALID;
	if ((st = pop_any_submit(c, names, n, timeout_ms, 1, &op)) != CQ_OK) {
		if (st != CQ_INVALID)
			conn_set_error(
			    c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	st = ops_wait(c, op, NULL);
	r = op->reply;
	if (st == CQ_OK && (r == NULL || r->n_msgs != 1 || !r->has_index ||
	                       r->index >= n)) {
		conn_set_error(c, CQ_PROTOCOL, "pop_any reply without its "
		                               "message or index", 0);
		st = CQ_PROTOCOL;
	} else if (st == CQ_OK) {
		if ((*m = msg_from_wire(r->msgs[0])) == NULL) {
			conn_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
			st = CQ_SYSTEM;
		} else
			*index = r->index;
	}
	optab_op_free(op);
	return st;
}

/* cq_try_pop_any: cq_pop_any without waiting. */
cq_status
cq_try_pop_any(cq_client *c, const char *const *names, size_t n,
    size_t *index, cq_msg **m)
{
	return cq_pop_any(c, names, n, index, m, CQ_NOWAIT);
}

/* cq_pop_any_async: cq_pop_any; cb(status, index, msg, arg) runs later. */
cq_status
cq_pop_any_async(cq_client *c, const char *const *names, size_t n,
    int64_t timeout_ms, cq_pop_any_cb *cb, void *arg, cq_op **opp)
{
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	/* Without a callback nobody could free the message. */
	if (cb == NULL)
		return CQ_INVALID;
	if ((st = pop_any_submit(c, names, n, timeout_ms, 0, &op)) != CQ_OK)
		return st;
	op->pop_any_cb = cb;
	op->arg = arg;
	if (opp != NULL)
		*opp = op;
	return CQ_OK;
}
