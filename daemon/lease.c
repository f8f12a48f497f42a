/* lease.c - reserved messages: ack, release, touch, and lease expiry. */

#include "common/common.h"
#include "daemon/access.h"
#include "daemon/delay.h"
#include "daemon/flow.h"
#include "daemon/lease.h"
#include "daemon/reply.h"
#include "daemon/resv.h"
#include "daemon/settle.h"

/*
 * A lease (or a delayed release) ran out: the message goes back. A held
 * message (settle_hold) tries to settle again.
 */
static void
lease_expired(struct lease_timer *t)
{
	struct resv *r = resv_of_timer(t);
	struct rqueue *q = r->q;

	if (r->delayed) {
		delay_due(r);
		return;
	}
	if (r->held) {
		if (settle_retry(r) != 0)
			return;
	} else
		settle_return(q, &r->m);
	resv_free(r);
	flow_serve(q);
}

/* Route every lease timer here. */
void
lease_init(void)
{
	resv_init(lease_expired);
}

/* ACK, RELEASE or TOUCH one reserved message. */
void
lease_msg_op(struct peer *p, uint64_t id, const Conqueue__MsgOp *m)
{
	struct rqueue *q;
	struct resv *r;
	uint64_t deadline;
	cq_status st = CQ_OK;

	if ((q = access_lookup(p, id, m->name, ACCESS_R, 0)) == NULL)
		return;
	if ((r = resv_find_for(p, q, m->msg_id)) == NULL) {
		reply_f(p, id, CQ_NOTFOUND,
		    "message %llu is not reserved by this connection",
		    (unsigned long long)m->msg_id);
		return;
	}
	switch (m->kind) {
	case CONQUEUE__MSG_OP__KIND__ACK:
		/* Kept if the segment could not be updated: ack again. */
		st = core_confirm(q->core, r->m.slot, r->m.id);
		if (st == CQ_OK || st == CQ_NOTFOUND)
			resv_free(r);
		break;
	case CONQUEUE__MSG_OP__KIND__RELEASE:
		if (m->has_delay_ms && m->delay_ms > 0) {
			/* Keep it in flight until the delay ends, then return.
			 */
			r->released = 1;
			if (r->peer != NULL) {
				TAILQ_REMOVE(&r->peer->resv, r, plink);
				r->peer = NULL;
			}
			deadline = time_deadline_ns(m->delay_ms);
			core_touch(q->core, r->m.slot, r->m.id, deadline);
			if (lease_timer_set(&r->t, deadline) == 0)
				break;
			/* No timer: back now rather than never. */
		}
		settle_return(q, &r->m);
		resv_free(r);
		break;
	case CONQUEUE__MSG_OP__KIND__TOUCH:
		deadline = time_deadline_ns(resv_lease_ms(q, m->lease_ms));
		st = core_touch(q->core, r->m.slot, r->m.id, deadline);
		if (st == CQ_OK && lease_timer_set(&r->t, deadline) != 0)
			st = CQ_SYSTEM;
		break;
	default:
		st = CQ_INVALID;
		break;
	}
	reply_status(p, id, st, cq_strstatus(st));
	flow_serve(q);
}
