/* browse.c - peek, purge and remove by id: queued messages in place. */

/*
 * Each is one core call (core/browse.c) under the queue's lock, so it is
 * atomic against every other client of either path; a direct client's
 * next operation sees its effect. None goes direct: they need the
 * daemon's access checks (purge is the owner's) and wake its parked ops.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/access.h"
#include "daemon/browse.h"
#include "daemon/config.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/reply.h"
#include "daemon/stall.h"

/* What a peek copies, under the core's lock. */
struct browse_copy {
	Conqueue__Msg *pm;
	Conqueue__Msg **pp;
	size_t n, max;
	uint64_t room; /* bytes the reply may still take */
	int nomem;
};

/* core_browse_fn: copy m into the reply, while it fits. */
static int
browse_take(void *arg, const struct core_msg *m)
{
	struct browse_copy *c = arg;
	Conqueue__Msg *w = &c->pm[c->n];
	uint64_t need = (uint64_t)m->len + 64;

	if (c->n > 0 && need > c->room)
		return 1; /* the rest would not fit the frame */
	conqueue__msg__init(w);
	w->id = m->id;
	w->has_band = 1;
	w->band = m->band;
	w->has_deliveries = 1;
	w->deliveries = m->deliveries;
	w->has_enqueued_ns = 1;
	w->enqueued_ns = m->enqueued_ns;
	/* Stored before the copy: a fault in it leaves nothing to leak. */
	if ((w->data.data = malloc(m->len ? m->len : 1)) == NULL) {
		c->nomem = 1;
		return 1;
	}
	c->pp[c->n++] = w;
	memcpy(w->data.data, m->data, m->len);
	w->data.len = m->len;
	c->room = need > c->room ? 0 : c->room - need;
	return c->n == c->max;
}

/* Peek: copies of up to max queued messages, in pop order. */
void
browse_peek(struct peer *p, uint64_t id, const Conqueue__Peek *m)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	struct browse_copy c;
	struct rqueue *q;
	cq_status st;
	size_t i, n;

	if ((q = access_lookup(p, id, m->name, ACCESS_R, 0)) == NULL)
		return;
	if (m->has_max && (m->max < 1 || m->max > cfg.max_batch)) {
		reply_f(p, id, CQ_INVALID, "max must be 1..%u (max_batch)",
		    cfg.max_batch);
		return;
	}
	memset(&c, 0, sizeof c);
	c.max = m->has_max ? m->max : 1;
	c.room = cfg.max_frame > 1024 ? cfg.max_frame - 1024 : 0;
	c.pm = calloc(c.max, sizeof *c.pm);
	c.pp = calloc(c.max, sizeof *c.pp);
	if (c.pm == NULL || c.pp == NULL)
		st = CQ_SYSTEM;
	else
		st = core_peek_msgs(q->core, c.max, browse_take, &c, &n);
	if (st == CQ_OK && c.nomem && c.n == 0)
		st = CQ_SYSTEM;
	if (st == CQ_BUSY)
		stall_busy(q);
	if (st == CQ_SYSTEM)
		errno = ENOMEM;
	if (st != CQ_OK)
		reply_status(p, id, st,
		    st == CQ_SYSTEM ? "out of memory" : cq_strstatus(st));
	else {
		r.id = id;
		r.status = CQ_OK;
		r.n_msgs = c.n;
		r.msgs = c.pp;
		p->ops->send(p, &r);
	}
	for (i = 0; i < c.n; i++)
		free(c.pm[i].data.data);
	free(c.pm);
	free(c.pp);
}

/* Purge (owner only): drop every queued message; reply with the count. */
void
browse_purge(struct peer *p, uint64_t id, struct rqueue *q)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	uint64_t n = 0;
	cq_status st;

	st = core_purge(q->core, &n);
	if (st == CQ_BUSY)
		stall_busy(q);
	if (st != CQ_OK) {
		reply_status(p, id, st, cq_strstatus(st));
		return;
	}
	log_info("queue '%.*s': purged by uid %u (%llu message(s))",
	    (int)q->namelen, q->name, p->uid, (unsigned long long)n);
	r.id = id;
	r.status = CQ_OK;
	r.has_count = 1;
	r.count = n;
	p->ops->send(p, &r);
	/* Room for parked pushers; direct sleepers look too. */
	if (n > 0)
		flow_serve(q);
}

/* Remove the queued message msg_id (read permission, as a pop). */
void
browse_remove(struct peer *p, uint64_t id, const Conqueue__MsgOp *m)
{
	struct rqueue *q;
	cq_status st;

	if ((q = access_lookup(p, id, m->name, ACCESS_R, 0)) == NULL)
		return;
	st = core_remove(q->core, m->msg_id);
	if (st == CQ_BUSY)
		stall_busy(q);
	if (st == CQ_NOTFOUND) {
		reply_f(p, id, st, "no queued message %llu in '%.*s'",
		    (unsigned long long)m->msg_id, (int)q->namelen, q->name);
		return;
	}
	reply_status(p, id, st, st == CQ_OK ? NULL : cq_strstatus(st));
	if (st == CQ_OK)
		flow_serve(q);
}
