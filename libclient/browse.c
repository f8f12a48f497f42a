/* browse.c - peek, purge and remove by id: queued messages in place. */

/*
 * Always through the daemon, also for a handle on the direct path: these
 * need its access checks and wake its parked ops. Each is one operation
 * under the queue's lock, so every client of either path sees it whole.
 */

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "msg.h"
#include "ops.h"

/* cq_peek: copies of up to max of the next queued messages of q. */
cq_status
cq_peek(cq_queue *q, cq_msg **msgs, size_t max, size_t *n)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Peek pk = CONQUEUE__PEEK__INIT;
	Conqueue__Reply *r = NULL;
	cq_status st;
	size_t i, got = 0;

	if (n != NULL)
		*n = 0;
	if (q == NULL || msgs == NULL || max == 0)
		return CQ_INVALID;
	if (max > q->c->max_batch)
		max = q->c->max_batch;
	req.op_case = CONQUEUE__REQUEST__OP_PEEK;
	req.peek = &pk;
	pk.name = ops_bytes(q->name, q->namelen);
	pk.has_max = max != 1;
	pk.max = (uint32_t)max;
	st = ops_call(q->c, &req, -1, OP_PLAIN, NULL, &r);
	if (st == CQ_OK && (r == NULL || r->n_msgs == 0 || r->n_msgs > max)) {
		conn_set_error(
		    q->c, CQ_PROTOCOL, "peek reply without messages", 0);
		st = CQ_PROTOCOL;
	}
	for (i = 0; st == CQ_OK && i < r->n_msgs; i++) {
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
	if (r != NULL)
		arena_reply_free(q->c, r);
	return st;
}

/* PURGE queue name; *count gets how many went. */
static cq_status
browse_purge(cq_client *c, const char *name, uint64_t *count)
{
	Conqueue__Reply *r = NULL;
	cq_status st;

	if (count != NULL)
		*count = 0;
	st = ops_named(c, name, CONQUEUE__NAMED__KIND__PURGE, &r);
	if (st == CQ_OK && count != NULL)
		*count = r->count;
	if (r != NULL)
		arena_reply_free(c, r);
	return st;
}

/* cq_purge: drop every queued message of q (owner or admin). */
cq_status
cq_purge(cq_queue *q, uint64_t *count)
{
	if (count != NULL)
		*count = 0;
	if (q == NULL)
		return CQ_INVALID;
	return browse_purge(q->c, q->name, count);
}

/* cq_purge_by_name: cq_purge of queue name without opening it. */
cq_status
cq_purge_by_name(cq_client *c, const char *name, uint64_t *count)
{
	cq_status st;

	if (count != NULL)
		*count = 0;
	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return browse_purge(c, name, count);
}

/* cq_remove: drop the queued message id of q. */
cq_status
cq_remove(cq_queue *q, uint64_t id)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp mo = CONQUEUE__MSG_OP__INIT;

	if (q == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	req.msg_op = &mo;
	mo.kind = CONQUEUE__MSG_OP__KIND__REMOVE;
	mo.name = ops_bytes(q->name, q->namelen);
	mo.msg_id = id;
	return ops_call(q->c, &req, -1, OP_PLAIN, NULL, NULL);
}
