/* flow.c - push and pop: try at once, park, serve the parked. */

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/common.h"
#include "daemon/access.h"
#include "daemon/bell.h"
#include "daemon/config.h"
#include "daemon/dedup.h"
#include "daemon/delay.h"
#include "daemon/expire.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/op.h"
#include "daemon/reply.h"
#include "daemon/durable.h"
#include "daemon/resv.h"
#include "daemon/settle.h"
#include "daemon/stall.h"

/* Pops of up to this many messages build their reply on the stack. */
#define FLOW_POP_STACK 64

/* Attempt a push; CQ_FULL means it may wait. */
static cq_status
flow_do_push(struct rqueue *q, const Conqueue__Push *m, uint64_t *first)
{
	struct iovec *iov;
	char why[512];
	cq_status st;
	size_t i, bytes = 0;

	if (q->dur != NULL) {
		/* Room in the durable log first: a refused push changes nothing. */
		for (i = 0; i < m->n_data; i++)
			bytes += m->data[i].len;
		st = durable_room(q, m->n_data, bytes, why, sizeof why);
		if (st != CQ_OK) {
			log_warn("%s", why);
			return st;
		}
	}
	if (m->has_delay_ms && m->delay_ms > 0)
		return delay_push(q, m->data[0].data, m->data[0].len, m->band,
		    m->delay_ms, first);
	if (m->n_data == 1)
		return core_push(q->core, m->data[0].data, m->data[0].len,
		    m->band, m->front, first);
	if ((iov = calloc(m->n_data, sizeof *iov)) == NULL)
		return CQ_SYSTEM;
	for (i = 0; i < m->n_data; i++) {
		iov[i].iov_base = m->data[i].data;
		iov[i].iov_len = m->data[i].len;
	}
	st = core_push_many(q->core, iov, m->n_data, m->band, m->front, first);
	free(iov);
	return st;
}

/*
 * A keyed push answered from its queue's key table (a duplicate: CQ_OK
 * with the first push's id; the table full: CQ_LIMIT) returns 0 with the
 * reply sent; 1: go ahead and push.
 */
static int
flow_dedup(
    struct peer *p, struct rqueue *q, const Conqueue__Push *m, uint64_t id)
{
	uint64_t first = 0;
	cq_status st;

	if (!dedup_before(q, m, &st, &first))
		return 1;
	if (st == CQ_LIMIT)
		reply_f(p, id, CQ_LIMIT,
		    "the queue's dedup table is full (dedup_max_keys %u)",
		    cfg.dedup_max_keys);
	else
		flow_reply(p, id, WAIT_PUSH, st, first);
	return 0;
}

/*
 * Reply to a push or pop (kind WAIT_PUSH or WAIT_POP) that ended with st:
 * a push's OK carries the first id; a pop's OK was sent with its messages.
 */
void
flow_reply(struct peer *p, uint64_t id, int kind, cq_status st, uint64_t first)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	if (st != CQ_OK) {
		reply_status(p, id, st,
		    st == CQ_LIMIT && kind == WAIT_PUSH
		        ? "no memory for the message: the shared-memory "
		          "file system (/dev/shm) is full; nothing was pushed"
		    : st != CQ_TIMEDOUT ? cq_strstatus(st)
		    : kind == WAIT_PUSH ? "timed out waiting for room"
		                        : "timed out waiting for a message");
		return;
	}
	r.id = id;
	r.status = CQ_OK;
	r.has_first_id = 1;
	r.first_id = first;
	p->ops->send(p, &r);
}

/* Messages a pop may return so that its reply stays within max_frame. */
static size_t
flow_pop_budget(struct rqueue *q, uint32_t want)
{
	uint64_t per = (uint64_t)core_attr(q->core)->max_size + 64;
	uint64_t fit = (cfg.max_frame - 1024) / per;

	if (fit < 1)
		fit = 1;
	return want < fit ? want : (size_t)fit;
}

/* Record reservations for popped messages; 0 or -1 (out of memory). */
static int
flow_reserve(struct peer *p, struct rqueue *q, const Conqueue__Pop *m,
    const struct core_msg *msgs, size_t n, uint64_t deadline_ns)
{
	struct resv *r;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((r = resv_new(q, &msgs[i], p->uid)) == NULL)
			return -1;
		if (!m->detach) {
			r->peer = p;
			TAILQ_INSERT_TAIL(&p->resv, r, plink);
		}
		if (lease_timer_set(&r->t, deadline_ns) != 0)
			log_warn("cannot arm a lease timer: the message "
			         "stays reserved until acked");
	}
	return 0;
}

/*
 * Put n popped messages back as they were, none of them sent; one whose
 * return fails (a mapper took the lock meanwhile) is held and retried.
 */
static void
flow_unpop(struct rqueue *q, const struct core_msg *msgs, size_t n)
{
	struct resv *r;
	size_t i;

	for (i = n; i > 0; i--) {
		if ((r = resv_find(q, msgs[i - 1].id)) != NULL)
			resv_free(r);
		if (core_return(q->core, msgs[i - 1].slot, msgs[i - 1].id) !=
		    CQ_OK)
			settle_return(q, &msgs[i - 1]);
	}
}

/* Log (one warn line) the corrupt messages the last core call dropped. */
static void
flow_log_dropped(struct rqueue *q)
{
	uint64_t d;

	if (q->core != NULL && (d = core_dropped(q->core)) != 0)
		log_warn("queue '%.*s': %llu corrupt message(s) dropped "
		         "(checksum failed)",
		    (int)q->namelen, q->name, (unsigned long long)d);
}

/*
 * Send pop reply r, packed straight from q's mapping, under the SIGBUS
 * guard: a truncation racing this copy quarantines q (the core marks it)
 * instead of killing the daemon. The packing commits nothing until it
 * ends, so on -1 nothing was sent.
 */
static int
flow_send_guarded(struct peer *p, struct rqueue *q, const Conqueue__Reply *r)
{
	struct core_guard g;

	core_guard_enter(&g, q->core);
	if (sigsetjmp(g.jb, 0) == 0) {
		p->ops->send(p, r);
		core_guard_leave(&g);
		return 0;
	}
	log_error("queue '%.*s': segment cut short while a pop copied it: "
	          "quarantined",
	    (int)q->namelen, q->name);
	return -1;
}

/* Fill the reply's message entries pm (and pointers pp) from msgs. */
static void
flow_fill_msgs(Conqueue__Msg *pm, Conqueue__Msg **pp,
    const struct core_msg *msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		conqueue__msg__init(&pm[i]);
		pm[i].id = msgs[i].id;
		pm[i].data.data = (uint8_t *)(uintptr_t)msgs[i].data;
		pm[i].data.len = msgs[i].len;
		pm[i].has_band = 1;
		pm[i].band = msgs[i].band;
		pm[i].has_deliveries = 1;
		pm[i].deliveries = msgs[i].deliveries;
		pm[i].has_enqueued_ns = 1;
		pm[i].enqueued_ns = msgs[i].enqueued_ns;
		pp[i] = &pm[i];
	}
}

/*
 * Attempt a pop for request id of p; o is its parked op or NULL. On CQ_OK
 * the reply is sent and the messages stay in flight (a hand-off record, or
 * reservations); o is consumed either way if the result is final.
 * CQ_EMPTY means it may wait (nothing was sent, o untouched). index >= 0:
 * a pop-any's, from its index-th queue (the reply says which).
 */
static cq_status
flow_do_pop(struct peer *p, struct rqueue *q, const Conqueue__Pop *m,
    uint64_t id, struct op **op, int index)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	/* Most pops fit these: no allocation for the reply's arrays. */
	Conqueue__Msg pm_stack[FLOW_POP_STACK], *pp_stack[FLOW_POP_STACK];
	Conqueue__Msg *pm = NULL, **pp = NULL;
	struct core_msg *msgs = NULL;
	struct op *o = *op;
	size_t want, n = 0;
	uint64_t lease_deadline = 0;
	cq_status st;

	want = flow_pop_budget(q, m->has_max ? m->max : 1);
	if (!m->reserve && o == NULL) {
		/* The record must exist before the messages leave. */
		if ((o = op_new(p, id, OP_HANDOFF, q)) == NULL)
			return CQ_LIMIT; /* replied */
		TAILQ_INSERT_TAIL(&q->handoffs, o, qlink);
		*op = o;
	}
	/* Not calloc: core_pop_many fills every entry it returns. */
	if (want == 1 && o != NULL) {
		memset(&o->one, 0, sizeof o->one);
		msgs = &o->one;
	} else if ((msgs = malloc(want * sizeof *msgs)) == NULL) {
		st = CQ_SYSTEM;
		goto fail;
	}
	if (m->reserve)
		lease_deadline =
		    time_deadline_ns(resv_lease_ms(q, m->lease_ms));
	st = core_pop_many(q->core, p->cid, lease_deadline, msgs, want, &n);
	flow_log_dropped(q);
	if (st != CQ_OK)
		goto fail;
	if (n <= FLOW_POP_STACK) {
		pm = pm_stack;
		pp = pp_stack;
	}
	if ((pm == NULL && (pm = calloc(n, sizeof *pm)) == NULL) ||
	    (pp == NULL && (pp = calloc(n, sizeof *pp)) == NULL) ||
	    (m->reserve &&
	        flow_reserve(p, q, m, msgs, n, lease_deadline) != 0)) {
		/* Nothing was sent: put everything back. */
		flow_unpop(q, msgs, n);
		st = CQ_SYSTEM;
		errno = ENOMEM;
		goto fail;
	}
	flow_fill_msgs(pm, pp, msgs, n);
	r.id = id;
	r.status = CQ_OK;
	r.n_msgs = n;
	r.msgs = pp;
	r.has_index = index >= 0;
	r.index = index >= 0 ? (uint32_t)index : 0;
	if (flow_send_guarded(p, q, &r) != 0) {
		flow_unpop(q, msgs, n);
		st = CQ_CORRUPT;
		goto fail;
	}
	if (pm != pm_stack) {
		free(pm);
		free(pp);
	}
	if (m->reserve) {
		if (o == NULL || msgs != &o->one)
			free(msgs);
		if (o != NULL)
			op_free(o);
		*op = NULL;
	} else {
		/* The op becomes the hand-off record, awaiting confirm. */
		if (o->kind == OP_PARKED) {
			/* A pop-any leaves its other queues' lines too. */
			op_unpark(o);
			op_drop_blob(o);
			o->kind = OP_HANDOFF;
			o->q = q;
			TAILQ_INSERT_TAIL(&q->handoffs, o, qlink);
		}
		o->msgs = msgs;
		o->n = n;
		o->seq = op_seq_next();
	}
	return CQ_OK;
fail:
	if (o == NULL || msgs != &o->one)
		free(msgs);
	if (pm != pm_stack) {
		free(pm);
		free(pp);
	}
	/* A fresh hand-off record goes; a parked op is the caller's. */
	if (o != NULL && o->kind == OP_HANDOFF) {
		op_free(o);
		*op = NULL;
	}
	return st;
}

/*
 * The oldest parked op of kind in q whose deadline has not passed, or
 * NULL. Those whose deadline passed are answered CQ_TIMEDOUT first: their
 * timer may not have run yet (a late event loop), and their client has
 * given up, so a message handed to them would sit in flight unseen.
 */
static struct waiter *
flow_first_live(struct rqueue *q, int kind)
{
	struct waiter *w;
	uint64_t now = 0;

	while ((w = waiters_first(&q->wq, kind)) != NULL) {
		if (w->deadline_ns == UINT64_MAX)
			return w;
		if (now == 0)
			now = time_mono_ns();
		if (w->deadline_ns > now)
			return w;
		flow_expired(w);
	}
	return NULL;
}

/* Answer every parked op of q that can complete now, oldest first. */
void
flow_serve(struct rqueue *q)
{
	struct waiter *w;
	struct op *o;
	uint64_t first = 0;
	cq_status st;

	if (q->core == NULL)
		return;
	/* A return during serving (out of memory) must not recurse. */
	if (q->serving) {
		q->serve_again = 1;
		return;
	}
	q->serving = 1;
	do {
		q->serve_again = 0;
		expire_before_pop(q);
		while ((w = flow_first_live(q, WAIT_PUSH)) != NULL) {
			o = op_of_waiter(w);
			if (!flow_dedup(o->peer, q, &o->push, o->id)) {
				op_free(o);
				continue;
			}
			st = flow_do_push(q, &o->push, &first);
			if (st == CQ_OK) {
				dedup_after(q, &o->push, first);
				expire_after_push(q, &o->push, first);
			}
			if (st == CQ_BUSY)
				stall_busy(q); /* parked ops stay: retried */
			if (st == CQ_FULL || st == CQ_BUSY)
				break;
			flow_reply(o->peer, o->id, WAIT_PUSH, st, first);
			op_free(o);
		}
		while ((w = flow_first_live(q, WAIT_POP)) != NULL) {
			o = op_of_waiter(w);
			st = flow_do_pop(o->peer, q, &o->pop, o->id, &o,
			    op_any_index(o, w));
			if (st == CQ_BUSY)
				stall_busy(q);
			if (st == CQ_EMPTY || st == CQ_BUSY)
				break;
			/* A pop-any skips a drained queue while others are left. */
			if (st == CQ_CLOSED && o->anyw != NULL &&
			    op_unpark_one(o, w) > 0)
				continue;
			if (st != CQ_OK && st != CQ_LIMIT) {
				flow_reply(o->peer, o->id, WAIT_POP, st, 0);
				op_free(o);
			}
		}
	} while (q->serve_again);
	q->serving = 0;
	/* Callers serve after every commit: direct sleepers look too. */
	bell_wake(q);
}

/* A parked op's deadline passed. */
void
flow_expired(struct waiter *w)
{
	struct op *o = op_of_waiter(w);

	flow_reply(o->peer, o->id, o->w.kind, CQ_TIMEDOUT, 0);
	op_free(o);
}

/* Answer every parked op of q with st and detail, and forget them. */
void
flow_fail_parked(struct rqueue *q, cq_status st, const char *detail)
{
	struct waiter *w;
	struct op *o;
	int k;

	for (k = 0; k < 2; k++) {
		while ((w = waiters_first(&q->wq, k)) != NULL) {
			o = op_of_waiter(w);
			reply_status(o->peer, o->id, st, detail);
			op_free(o);
		}
	}
}

/*
 * Park req until served or its deadline. req is only lent for the call:
 * the op keeps a copy of what serving it needs (not the name: the queue is
 * known), a push's messages in one block.
 */
static void
flow_park(struct peer *p, struct rqueue *q, const Conqueue__Request *req,
    int kind, int64_t timeout_ms)
{
	ProtobufCBinaryData *d;
	struct op *o;
	size_t i, size;
	uint8_t *at;

	if ((o = op_new(p, req->id, OP_PARKED, q)) == NULL)
		return;
	if (kind == WAIT_POP)
		o->pop = *req->pop;
	else {
		o->push = *req->push;
		size = o->push.n_data * sizeof *d + o->push.dedup_key.len;
		for (i = 0; i < o->push.n_data; i++)
			size += o->push.data[i].len;
		/* A queue that is full parks every push: most fit inline. */
		if (size <= sizeof o->inl)
			o->blob = o->inl;
		else if ((o->blob = malloc(size ? size : 1)) == NULL)
			goto fail;
		d = o->blob;
		at = (uint8_t *)(d + o->push.n_data);
		for (i = 0; i < o->push.n_data; i++) {
			d[i].len = req->push->data[i].len;
			d[i].data = at;
			if (d[i].len > 0)
				memcpy(at, req->push->data[i].data, d[i].len);
			at += d[i].len;
		}
		o->push.data = d;
		/* A keyed push's key follows its messages (dedup.c). */
		if (o->push.has_dedup_key) {
			memcpy(at, req->push->dedup_key.data,
			    o->push.dedup_key.len);
			o->push.dedup_key.data = at;
		}
	}
	o->pop.name.data = o->push.name.data = NULL;
	o->pop.name.len = o->push.name.len = 0;
	if (waiters_park(&q->wq, &o->w, kind, time_deadline_ns(timeout_ms)) ==
	    0) {
		/*
		 * The count is published (bell.c): a direct commit that
		 * read the old one did not ring, so try once more now.
		 */
		if (q->bell_ev != NULL)
			flow_serve(q);
		return;
	}
fail:
	op_free(o);
	errno = ENOMEM;
	reply_status(p, req->id, CQ_SYSTEM, "out of memory");
}

/* Push: validate, try at once, else park or fail. */
void
flow_push(struct peer *p, const Conqueue__Request *req)
{
	const Conqueue__Push *m = req->push;
	int64_t timeout = m->has_timeout_ms ? m->timeout_ms : -1;
	const struct core_attr *a;
	const char *why;
	struct rqueue *q;
	uint64_t first = 0;
	cq_status st;
	size_t i;

	if ((q = access_lookup(p, req->id, m->name, ACCESS_W, 0)) == NULL)
		return;
	a = core_attr(q->core);
	if (m->n_data < 1 || m->n_data > cfg.max_batch) {
		reply_f(p, req->id, CQ_INVALID,
		    "a push carries 1..%u messages (max_batch)", cfg.max_batch);
		return;
	}
	if (m->n_data > a->capacity) {
		reply_f(p, req->id, CQ_INVALID,
		    "batch of %zu messages exceeds the capacity %u", m->n_data,
		    a->capacity);
		return;
	}
	if (m->has_delay_ms && m->delay_ms > 0 &&
	    (m->n_data != 1 || m->front)) {
		reply_status(p, req->id, CQ_INVALID,
		    "a delayed push carries one message, not to the front");
		return;
	}
	if (m->band >= a->bands) {
		reply_f(p, req->id, CQ_INVALID,
		    "band %u out of range: queue has %u band(s)", m->band,
		    a->bands);
		return;
	}
	for (i = 0; i < m->n_data; i++) {
		if (m->data[i].len > a->max_size) {
			reply_f(p, req->id, CQ_TOOBIG,
			    "message of %zu bytes exceeds max_size %u",
			    m->data[i].len, a->max_size);
			return;
		}
	}
	if ((why = dedup_invalid(q, m)) != NULL ||
	    (why = expire_invalid(m)) != NULL) {
		reply_status(p, req->id, CQ_INVALID, why);
		return;
	}
	/* A duplicate is answered now, even behind parked pushers. */
	if (!flow_dedup(p, q, m, req->id))
		return;
	/* Earlier parked pushers go first (no starvation of batches). */
	if (flow_first_live(q, WAIT_PUSH) != NULL && !core_is_closed(q->core))
		st = CQ_FULL;
	else if ((st = flow_do_push(q, m, &first)) == CQ_OK) {
		dedup_after(q, m, first);
		expire_after_push(q, m, first);
	}
	/* A mapper holds the lock: a blocking push waits as if full. */
	if (st == CQ_BUSY)
		stall_busy(q);
	if ((st == CQ_FULL || st == CQ_BUSY) && timeout != 0) {
		flow_park(p, q, req, WAIT_PUSH, timeout);
		return;
	}
	flow_reply(p, req->id, WAIT_PUSH, st, first);
	if (st == CQ_OK)
		flow_serve(q);
}

/*
 * Try a pop now, behind the pops parked on q (CQ_EMPTY while there are
 * any): on CQ_OK the reply is sent, on CQ_LIMIT too (no room for its
 * record); other statuses are the caller's to answer or park on.
 */
cq_status
flow_pop_now(struct peer *p, struct rqueue *q, const Conqueue__Pop *m,
    uint64_t id, int index)
{
	struct op *o = NULL;
	cq_status st;

	/* Nothing expired is handed out (daemon/expire.c). */
	expire_before_pop(q);
	/* Earlier parked poppers go first. */
	if (flow_first_live(q, WAIT_POP) != NULL)
		return CQ_EMPTY;
	st = flow_do_pop(p, q, m, id, &o, index);
	if (st == CQ_BUSY)
		stall_busy(q);
	return st;
}

/* Pop or reserve: try at once, else park or fail. */
void
flow_pop(struct peer *p, const Conqueue__Request *req)
{
	const Conqueue__Pop *m = req->pop;
	int64_t timeout = m->has_timeout_ms ? m->timeout_ms : -1;
	struct rqueue *q;
	cq_status st;

	if ((q = access_lookup(p, req->id, m->name, ACCESS_R, 0)) == NULL)
		return;
	if (m->has_max && (m->max < 1 || m->max > cfg.max_batch)) {
		reply_f(p, req->id, CQ_INVALID, "max must be 1..%u (max_batch)",
		    cfg.max_batch);
		return;
	}
	if (m->detach && !m->reserve) {
		reply_status(
		    p, req->id, CQ_INVALID, "detach applies to reserve only");
		return;
	}
	st = flow_pop_now(p, q, m, req->id, -1);
	if ((st == CQ_EMPTY || st == CQ_BUSY) && timeout != 0) {
		flow_park(p, q, req, WAIT_POP, timeout);
		return;
	}
	if (st != CQ_OK && st != CQ_LIMIT)
		flow_reply(p, req->id, WAIT_POP, st, 0);
}

/* Cancel a parked op of the same connection. */
void
flow_cancel(struct peer *p, uint64_t id, const Conqueue__Cancel *m)
{
	struct op *o = op_find(p, m->target);

	if (o == NULL || o->kind != OP_PARKED) {
		reply_f(p, id, CQ_NOTFOUND, "no pending operation %llu",
		    (unsigned long long)m->target);
		return;
	}
	reply_status(p, o->id, CQ_CANCELED, "canceled");
	op_free(o);
	reply_status(p, id, CQ_OK, NULL);
}
