/* push.c - the push family: one or many messages, blocking or async. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpath.h"
#include "ops.h"
#include "push.h"
#include "send.h"

/* Push one message without protobuf-c structs: async, or blocking when
 * async is 0 (cb, arg and opp unused then). */
static cq_status
push_hot(cq_queue *q, const void *buf, size_t len, unsigned band, int front,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **opp, int async)
{
	struct wire_hot h;
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	if (q == NULL || (buf == NULL && len != 0))
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
	st = send_submit_hot(q->c, &h, OP_PLAIN, h.timeout_ms, !async, &op);
	if (st != CQ_OK) {
		if (!async)
			conn_set_error(
			    q->c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	if (!async) {
		st = ops_wait(q->c, op, NULL);
		optab_op_free(op);
		return st;
	}
	op->push_cb = cb;
	op->arg = arg;
	if (opp != NULL)
		*opp = op;
	return CQ_OK;
}

/*
 * What both paths refuse before any work, in the same order: arguments
 * (CQ_INVALID), more than the daemon's max_batch (CQ_LIMIT), a message
 * too big for any queue (CQ_TOOBIG). The frame budget comes after.
 */
static cq_status
push_check(
    cq_queue *q, const void *const *bufs, const size_t *lens, size_t n)
{
	size_t i;

	if (q == NULL || n == 0 || bufs == NULL || lens == NULL)
		return CQ_INVALID;
	for (i = 0; i < n; i++)
		if (bufs[i] == NULL && lens[i] != 0)
			return CQ_INVALID;
	if (n > q->c->max_batch)
		return CQ_LIMIT;
	for (i = 0; i < n; i++)
		if (lens[i] > q->c->max_message)
			return CQ_TOOBIG;
	return CQ_OK;
}

/* Build a Push of n messages and run it blocking or async. */
static cq_status
push_run(cq_queue *q, const void *const *bufs, const size_t *lens, size_t n,
    unsigned band, int front, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **opp, int async)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData local[64], *data = local;
	struct cq_op *op;
	cq_status st;
	size_t i;
	int via_socket = 1;

	if (opp != NULL)
		*opp = NULL;
	if ((st = push_check(q, bufs, lens, n)) != CQ_OK) {
		if (q != NULL && !async)
			conn_set_error(q->c, st, NULL, 0);
		return st;
	}
	/* Blocking calls of a direct handle skip the daemon (unless it
	 * says otherwise); async ones park there as always. */
	if (!async && n == 1 && dpath_live(q)) {
		st = dpath_push(q, bufs, lens, n, band, front, timeout_ms,
		    &via_socket);
		if (!via_socket)
			return st;
	}
	if (n == 1)
		return push_hot(q, bufs[0], lens[0], band, front, timeout_ms,
		    cb, arg, opp, async);
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
	/* A batch that does not fit in one frame is a daemon limit, on
	 * both paths (a message too big for any frame was CQ_TOOBIG above,
	 * one over the queue's max_size is CQ_TOOBIG from the queue). */
	if (!send_fits(q->c, &req)) {
		via_socket = 0;
		st = CQ_LIMIT;
		if (!async)
			conn_set_error(q->c, st,
			    "the batch does not fit in one frame (max_frame)",
			    0);
	} else if (!async && dpath_live(q)) {
		st = dpath_push(
		    q, bufs, lens, n, band, front, timeout_ms, &via_socket);
	}
	if (via_socket && async) {
		st = send_submit(q->c, &req, OP_PLAIN, push.timeout_ms, 0, &op);
		if (st == CQ_OK) {
			op->push_cb = cb;
			op->arg = arg;
			if (opp != NULL)
				*opp = op;
		}
	} else if (via_socket) {
		st =
		    ops_call(q->c, &req, push.timeout_ms, OP_PLAIN, NULL, NULL);
	}
	if (data != local)
		free(data);
	return st;
}

/* cq_push: push to band 0. */
cq_status
cq_push(cq_queue *q, const void *buf, size_t len, int64_t timeout_ms)
{
	return push_run(
	    q, &buf, &len, 1, 0, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_try_push: push without waiting. */
cq_status
cq_try_push(cq_queue *q, const void *buf, size_t len)
{
	return push_run(q, &buf, &len, 1, 0, 0, CQ_NOWAIT, NULL, NULL, NULL, 0);
}

/* cq_push_band: push to a priority band. */
cq_status
cq_push_band(
    cq_queue *q, const void *buf, size_t len, unsigned band, int64_t timeout_ms)
{
	return push_run(
	    q, &buf, &len, 1, band, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_front: push to the head of a band. */
cq_status
cq_push_front(
    cq_queue *q, const void *buf, size_t len, unsigned band, int64_t timeout_ms)
{
	return push_run(
	    q, &buf, &len, 1, band, 1, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_many: push n messages, all or nothing. */
cq_status
cq_push_many(cq_queue *q, const void *const *bufs, const size_t *lens, size_t n,
    unsigned band, int64_t timeout_ms)
{
	return push_run(
	    q, bufs, lens, n, band, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_push_async: push; cb(status, arg) runs later. */
cq_status
cq_push_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op)
{
	return push_hot(q, buf, len, band, 0, timeout_ms, cb, arg, op, 1);
}

/* cq_push_many_async: push n messages, all or nothing; cb runs later. */
cq_status
cq_push_many_async(cq_queue *q, const void *const *bufs, const size_t *lens,
    size_t n, unsigned band, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **op)
{
	return push_run(q, bufs, lens, n, band, 0, timeout_ms, cb, arg, op, 1);
}

/* cq_push_front_async: push to the head of band; cb runs later. */
cq_status
cq_push_front_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **op)
{
	return push_hot(q, buf, len, band, 1, timeout_ms, cb, arg, op, 1);
}

/* One message through the daemon with options (see push.h). */
cq_status
push_one(cq_queue *q, const void *buf, size_t len, const struct push_opts *o,
    int64_t timeout_ms, cq_push_cb *cb, void *arg, cq_op **opp, int async)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData data;
	struct cq_op *op;
	cq_status st;

	if (opp != NULL)
		*opp = NULL;
	if ((st = push_check(q, &buf, &len, 1)) == CQ_OK && o->keyed &&
	    (o->key == NULL || o->keylen < 1 || o->keylen > CQ_DEDUP_KEY_MAX))
		st = CQ_INVALID;
	if (st != CQ_OK) {
		if (q != NULL && !async)
			conn_set_error(q->c, st,
			    st == CQ_INVALID && o->key != NULL
			        ? "a dedup key is 1..256 bytes"
			        : NULL,
			    0);
		return st;
	}
	data = ops_bytes(buf, len);
	req.op_case = CONQUEUE__REQUEST__OP_PUSH;
	req.push = &push;
	push.name = ops_bytes(q->name, q->namelen);
	push.n_data = 1;
	push.data = &data;
	push.has_band = o->band != 0;
	push.band = o->band;
	push.has_front = o->front != 0;
	push.front = o->front != 0;
	push.has_timeout_ms = 1;
	push.timeout_ms = ops_timeout(timeout_ms);
	push.has_delay_ms = o->delay_ms != 0;
	push.delay_ms = o->delay_ms;
	push.has_ttl_ms = o->ttl_ms != 0;
	push.ttl_ms = o->ttl_ms;
	push.has_dedup_key = o->keyed != 0;
	if (o->keyed)
		push.dedup_key = ops_bytes(o->key, o->keylen);
	if (!async)
		return ops_call(
		    q->c, &req, push.timeout_ms, OP_PLAIN, NULL, NULL);
	st = send_submit(q->c, &req, OP_PLAIN, push.timeout_ms, 0, &op);
	if (st == CQ_OK) {
		op->push_cb = cb;
		op->arg = arg;
		if (opp != NULL)
			*opp = op;
	}
	return st;
}

/*
 * A keyed push (doc/dedup.md): one message, always through the daemon,
 * which holds the keys.
 */
static cq_status
push_keyed(cq_queue *q, const void *key, size_t keylen, const void *buf,
    size_t len, unsigned band, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **opp, int async)
{
	struct push_opts o = {
	    .band = band, .keyed = 1, .key = key, .keylen = keylen};

	return push_one(q, buf, len, &o, timeout_ms, cb, arg, opp, async);
}

/* cq_push_dedup: push with a de-duplication key. */
cq_status
cq_push_dedup(cq_queue *q, const void *key, size_t keylen, const void *buf,
    size_t len, int64_t timeout_ms)
{
	return push_keyed(
	    q, key, keylen, buf, len, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_try_push_dedup: a keyed push that never waits. */
cq_status
cq_try_push_dedup(
    cq_queue *q, const void *key, size_t keylen, const void *buf, size_t len)
{
	return push_keyed(
	    q, key, keylen, buf, len, 0, CQ_NOWAIT, NULL, NULL, NULL, 0);
}

/* cq_push_dedup_async: a keyed push; cb runs later. */
cq_status
cq_push_dedup_async(cq_queue *q, const void *key, size_t keylen,
    const void *buf, size_t len, unsigned band, int64_t timeout_ms,
    cq_push_cb *cb, void *arg, cq_op **op)
{
	return push_keyed(
	    q, key, keylen, buf, len, band, timeout_ms, cb, arg, op, 1);
}
