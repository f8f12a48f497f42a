/* anypop.c - pop one message from the first of several queues. */

/*
 * Redis BLPOP for conqueue: the request tries its queues in the order
 * given; when none has a message it parks in every one's line of poppers
 * at once (one waiter per queue, all pointing at one op). The first
 * commit on any of them that reaches it in that line serves it (flow.c,
 * flow_serve), with one message: serving turns the op into that queue's
 * hand-off record and takes it out of every other line, so the other
 * queues keep their messages. A drained closed queue leaves the lines
 * (flow_serve skips it); the op answers CQ_CLOSED when none is left. Its
 * deadline is a timer of its own, since any waiter may leave first.
 */

#include <errno.h>
#include <stdlib.h>

#include "common/common.h"
#include "daemon/access.h"
#include "daemon/anypop.h"
#include "daemon/flow.h"
#include "daemon/op.h"
#include "daemon/reply.h"

/* A parked pop-any's deadline passed. */
static void
anypop_expired(struct lease_timer *t)
{
	struct op *o =
	    (struct op *)(void *)((char *)t - offsetof(struct op, any_t));

	flow_reply(o->peer, o->id, WAIT_POP, CQ_TIMEDOUT, 0);
	op_free(o);
}

/*
 * Park request id on every queue of qs[0..n-1] whose status st[i] says it
 * may still deliver (CQ_EMPTY, CQ_BUSY), until timeout_ms. Then serve
 * once more those a direct client may have pushed to meanwhile (as
 * flow_park does): the first that has a message answers it.
 */
static void
anypop_park(struct peer *p, uint64_t id, struct rqueue **qs,
    const cq_status *st, size_t n, int64_t timeout_ms)
{
	uint64_t deadline = time_deadline_ns(timeout_ms);
	struct op *o;
	size_t i;

	/* No queue of its own until one serves it (flow_do_pop sets it). */
	if ((o = op_new(p, id, OP_PARKED, NULL)) == NULL)
		return;
	conqueue__pop__init(&o->pop);
	if ((o->anyw = calloc(n, sizeof *o->anyw)) == NULL)
		goto fail;
	o->any_n = n;
	for (i = 0; i < n; i++) {
		if (st[i] != CQ_EMPTY && st[i] != CQ_BUSY)
			continue;
		o->anyw[i].up = o;
		/* No timer per line: any_t below is the deadline. */
		if (waiters_park(&qs[i]->wq, &o->anyw[i], WAIT_POP,
		        UINT64_MAX) != 0)
			goto fail;
		/* Read by flow_first_live: a late loop expires it there. */
		o->anyw[i].deadline_ns = deadline;
	}
	o->any_t.fire = anypop_expired;
	if (deadline != UINT64_MAX && lease_timer_set(&o->any_t, deadline) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		/* Served (or answered) by an earlier one, or gone: done. */
		if (p->gone || (o = op_find(p, id)) == NULL ||
		    o->kind != OP_PARKED)
			return;
		if (o->anyw[i].wq != NULL && qs[i]->bell_ev != NULL)
			flow_serve(qs[i]);
	}
	return;
fail:
	op_free(o);
	errno = ENOMEM;
	reply_status(p, id, CQ_SYSTEM, "out of memory");
}

/* PopAny: try each queue in order, else park on all of them or fail. */
void
anypop_request(struct peer *p, uint64_t id, const Conqueue__PopAny *m)
{
	int64_t timeout = m->has_timeout_ms ? m->timeout_ms : -1;
	struct rqueue *qs[ANYPOP_MAX];
	cq_status st[ANYPOP_MAX];
	Conqueue__Pop pop = CONQUEUE__POP__INIT;
	size_t i, open = 0, busy = 0;

	if (m->n_names < 1 || m->n_names > ANYPOP_MAX) {
		reply_f(p, id, CQ_INVALID, "pop_any takes 1..%d queue names",
		    ANYPOP_MAX);
		return;
	}
	/* Every name must be there and readable before anything is taken. */
	for (i = 0; i < m->n_names; i++)
		if ((qs[i] = access_lookup(p, id, m->names[i], ACCESS_R, 0)) ==
		    NULL)
			return;
	for (i = 0; i < m->n_names; i++) {
		st[i] = flow_pop_now(p, qs[i], &pop, id, (int)i);
		switch (st[i]) {
		case CQ_OK:
		case CQ_LIMIT:
			return; /* answered */
		case CQ_BUSY:
			busy++;
			/* FALLTHROUGH */
		case CQ_EMPTY:
			open++;
			break;
		case CQ_CLOSED:
			break; /* drained for good: skip it */
		default:
			reply_status(p, id, st[i], cq_strstatus(st[i]));
			return;
		}
	}
	if (open == 0)
		reply_status(p, id, CQ_CLOSED, "every queue is closed and drained");
	else if (timeout == 0)
		reply_status(p, id, busy == open ? CQ_BUSY : CQ_EMPTY,
		    cq_strstatus(busy == open ? CQ_BUSY : CQ_EMPTY));
	else
		anypop_park(p, id, qs, st, m->n_names, timeout);
}
