/* settle.c - in-flight messages going back: requeue, dead-letter, hold. */

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/durable.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/op.h"
#include "daemon/registry.h"
#include "daemon/resv.h"
#include "daemon/settle.h"
#include "daemon/stall.h"

#define SETTLE_RETRY_MS   1000 /* a held message tries to settle again */
#define SETTLE_CONFIRM_MS 20   /* a held receipt tries again */

/*
 * Copy message m's bytes out of q's mapping under the SIGBUS guard (never
 * inside core_push, which holds the dead-letter queue's lock): a
 * truncation racing the copy quarantines q instead of killing the daemon.
 * A malloc'ed copy (the caller frees it), or NULL with *st CQ_CORRUPT
 * (quarantined) or CQ_SYSTEM (no memory): the message stays in flight.
 */
static void *
settle_copy(struct rqueue *q, const struct core_msg *m, cq_status *st)
{
	struct core_guard g;
	void *volatile buf;

	*st = CQ_SYSTEM;
	if ((buf = malloc(m->len != 0 ? m->len : 1)) == NULL)
		return NULL;
	*st = CQ_OK;
	core_guard_enter(&g, q->core);
	if (sigsetjmp(g.jb, 0) == 0) {
		memcpy(buf, m->data, m->len);
		core_guard_leave(&g);
		return buf;
	}
	log_error("queue '%.*s': segment cut short while dead-lettering "
	          "message %llu: quarantined",
	    (int)q->namelen, q->name, (unsigned long long)m->id);
	*st = CQ_CORRUPT;
	free(buf);
	return NULL;
}

/*
 * Move in-flight message m of q (delivered max_deliveries times) to
 * NAME.dlq, created on demand like q. 0 when done; -1 (logged unless
 * quiet, a retry) when it stays in flight.
 */
static int
settle_dead_letter(struct rqueue *q, const struct core_msg *m, int quiet)
{
	struct core_attr a = *core_attr(q->core);
	struct rqueue *dlq;
	struct durable *d = NULL;
	uint32_t policy, sync_ms;
	uint64_t lb, syncs;
	char why[512];
	void *copy;
	uint64_t id;
	cq_status st;
	int n;

	n = registry_dlq_name(q->name, q->namelen, a.name, sizeof a.name);
	if (n < 0) {
		/* Only queues created before create refused this. */
		if (!quiet)
			log_warn("queue '%.*s': name too long for a "
			         "dead-letter queue; message %llu stays in "
			         "flight",
			    (int)q->namelen, q->name,
			    (unsigned long long)m->id);
		return -1;
	}
	if ((dlq = registry_find(a.name, (size_t)n)) == NULL) {
		a.max_deliveries = 0;
		a.serial = 0;
		a.dedup_window_ms = 0; /* dead letters carry no keys */
		/* A durable queue's dead letters are as durable as it. */
		durable_stat(q, &policy, &sync_ms, &lb, &syncs);
		st = policy == CQ_DURABLE_NONE
		         ? CQ_OK
		         : durable_prepare(
		               &a, policy, sync_ms, &d, why, sizeof why);
		if (st == CQ_OK)
			st = registry_create(&a, 1, &dlq, why, sizeof why);
		if (st == CQ_OK && d != NULL)
			durable_bind(dlq, d);
		else if (d != NULL)
			durable_abort(d);
		if (st != CQ_OK) {
			if (!quiet)
				log_warn("queue '%s': %s; message %llu stays "
				         "in flight",
				    a.name, why, (unsigned long long)m->id);
			return -1;
		}
		log_info("created dead-letter queue '%s'", a.name);
	}
	if (dlq->uid != q->uid) {
		/* Another user's queue (made by an admin): not theirs. */
		if (!quiet)
			log_warn("queue '%s' belongs to uid %u, not to uid %u "
			         "like '%.*s'; message %llu stays in flight",
			    a.name, dlq->uid, q->uid, (int)q->namelen, q->name,
			    (unsigned long long)m->id);
		return -1;
	}
	if (dlq->core == NULL)
		st = CQ_CORRUPT;
	else if ((copy = settle_copy(q, m, &st)) == NULL)
		; /* st says why */
	else {
		st = core_push(dlq->core, copy, m->len,
		    m->band < core_attr(dlq->core)->bands ? m->band : 0, 0,
		    &id);
		free(copy);
	}
	if (st != CQ_OK) {
		if (!quiet)
			log_warn("queue '%s': dead-lettering message %llu: "
			         "%s; it stays in flight until there is room",
			    a.name, (unsigned long long)m->id,
			    cq_strstatus(st));
		return -1;
	}
	/* Crash here: at-least-once, the message is in both queues. */
	core_confirm(q->core, m->slot, m->id);
	core_count_dead_letter(q->core);
	flow_serve(dlq);
	return 0;
}

/*
 * Settle in-flight message m of q that goes back: to the head of its band,
 * or to NAME.dlq at max_deliveries. 0 when done; -1 when it must stay in
 * flight for now (lock not had, NAME.dlq full: logged unless quiet).
 */
int
settle_try(struct rqueue *q, const struct core_msg *m, int quiet)
{
	cq_status st = core_return(q->core, m->slot, m->id);

	if (st == CQ_OK)
		return 0;
	if (st == CQ_LIMIT)
		return settle_dead_letter(q, m, quiet);
	if (!quiet || st == CQ_NOTFOUND)
		log_warn("queue '%.*s': returning message %llu: %s",
		    (int)q->namelen, q->name, (unsigned long long)m->id,
		    cq_strstatus(st));
	return st == CQ_NOTFOUND ? 0 : -1;
}

/* Try a held message (or receipt) again in a while. */
static void
settle_rearm(struct resv *r)
{
	if (lease_timer_set(&r->t,
	        time_deadline_ns(
	            r->confirm ? SETTLE_CONFIRM_MS : SETTLE_RETRY_MS)) != 0)
		log_warn("cannot arm a retry timer: message %llu stays in "
		         "flight until the next start",
		    (unsigned long long)r->m.id);
}

/*
 * Hold message m of q in flight under a daemon-owned record that tries to
 * settle it every SETTLE_RETRY_MS: never lost, never handed out meanwhile, and
 * visible as in flight.
 */
void
settle_hold(struct rqueue *q, const struct core_msg *m)
{
	struct resv *r = resv_new(q, m, q->uid);

	if (r == NULL) {
		log_warn("queue '%.*s': out of memory; message %llu stays in "
		         "flight until the next start",
		    (int)q->namelen, q->name, (unsigned long long)m->id);
		return;
	}
	r->released = 1; /* no client may act on it */
	r->held = 1;
	settle_rearm(r);
}

/*
 * Hold the receipt of in-flight message m of q, which could not be applied
 * (a mapper holds q's lock): a daemon-owned record applies it later, so
 * the message is neither lost nor handed out again. Out of memory, it
 * stays in flight until the next start (delivered again then).
 */
static void
settle_hold_confirm(struct rqueue *q, const struct core_msg *m)
{
	struct resv *r = resv_new(q, m, q->uid);

	if (r == NULL) {
		log_warn("queue '%.*s': out of memory; receipt of message "
		         "%llu lost: it is delivered again after a restart",
		    (int)q->namelen, q->name, (unsigned long long)m->id);
		return;
	}
	r->released = 1;
	r->held = 1;
	r->confirm = 1;
	settle_rearm(r);
}

/* A held message's retry time came: 0 when settled, -1 if held again. */
int
settle_retry(struct resv *r)
{
	cq_status st;

	if (r->confirm) {
		st = core_confirm(r->q->core, r->m.slot, r->m.id);
		if (st != CQ_BUSY && st != CQ_SYSTEM)
			return 0; /* done, or gone with the queue */
		settle_rearm(r);
		return -1;
	}
	if (settle_try(r->q, &r->m, 1) == 0)
		return 0;
	settle_rearm(r);
	return -1;
}

/* Put an in-flight message back, or dead-letter it, or hold it. */
void
settle_return(struct rqueue *q, const struct core_msg *m)
{
	if (settle_try(q, m, 0) != 0)
		settle_hold(q, m);
}

/* Return a hand-off's messages: last first, so they keep their order. */
static void
settle_return_handoff(struct op *o)
{
	size_t i;

	for (i = o->n; i > 0; i--)
		settle_return(o->q, &o->msgs[i - 1]);
}

/* An in-flight message set of a peer, by delivery order. */
struct settle_back {
	uint64_t seq;
	struct op *o;   /* a hand-off, or */
	struct resv *r; /* an attached reservation */
};

/* Latest delivered first. */
static int
settle_back_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct settle_back *)a)->seq;
	uint64_t y = ((const struct settle_back *)b)->seq;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Give back one hand-off or reservation of a leaving peer. */
static struct rqueue *
settle_give_back(struct op *o, struct resv *r)
{
	struct rqueue *q;

	if (o != NULL) {
		q = o->q;
		settle_return_handoff(o);
		op_free(o);
	} else {
		q = r->q;
		settle_return(q, &r->m);
		resv_free(r);
	}
	return q;
}

/*
 * Give back the k sets of v the last delivered first, so that each band
 * gets them back at its head in their original order; only then serve the
 * queues (serving in between would hand out a later message before an
 * earlier one is back).
 */
static void
settle_give_back_all(struct settle_back *v, size_t k)
{
	struct rqueue *q, **qs = calloc(k ? k : 1, sizeof *qs);
	size_t i, nq = 0;

	qsort(v, k, sizeof *v, settle_back_cmp);
	for (i = 0; i < k; i++) {
		q = settle_give_back(v[i].o, v[i].r);
		if (qs == NULL)
			flow_serve(q); /* out of memory: order may suffer */
		else if (!q->back_mark) {
			q->back_mark = 1;
			qs[nq++] = q;
		}
	}
	for (i = 0; i < nq; i++) {
		qs[i]->back_mark = 0;
		flow_serve(qs[i]);
	}
	free(qs);
}

/* Apply the confirm and reject lists of a request. */
void
settle_receipts(struct peer *p, const Conqueue__Request *req)
{
	struct settle_back *v;
	struct rqueue *q;
	struct op *o;
	size_t i, j, k = 0;

	for (i = 0; i < req->n_confirm; i++) {
		o = op_find(p, req->confirm[i]);
		if (o == NULL || o->kind != OP_HANDOFF)
			continue;
		q = o->q;
		if (core_confirm_many(q->core, o->msgs, o->n) == CQ_BUSY) {
			/* Never dropped: applied once the lock is had. */
			for (j = 0; j < o->n; j++)
				settle_hold_confirm(q, &o->msgs[j]);
			stall_busy(q);
		}
		op_free(o);
		flow_serve(q);
	}
	if (req->n_reject == 0)
		return;
	/* Several rejects: back in reverse delivery order, as a whole. */
	if ((v = calloc(req->n_reject, sizeof *v)) == NULL) {
		for (i = 0; i < req->n_reject; i++) {
			o = op_find(p, req->reject[i]);
			if (o != NULL && o->kind == OP_HANDOFF)
				flow_serve(settle_give_back(o, NULL));
		}
		return;
	}
	for (i = 0; i < req->n_reject; i++) {
		o = op_find(p, req->reject[i]);
		if (o == NULL || o->kind != OP_HANDOFF || o->listed)
			continue; /* unknown, or listed twice */
		o->listed = 1;
		v[k].seq = o->seq;
		v[k++].o = o;
	}
	settle_give_back_all(v, k);
	free(v);
}

/* Give back every hand-off and attached reservation of p. */
void
settle_return_all(struct peer *p)
{
	struct settle_back *v;
	struct hentry *e;
	struct resv *r;
	size_t n = p->opsby_id.n, k = 0, i = 0;

	for (r = TAILQ_FIRST(&p->resv); r != NULL; r = TAILQ_NEXT(r, plink))
		n++;
	if ((v = calloc(n ? n : 1, sizeof *v)) == NULL) {
		/* Out of memory: give back in any order, nothing is lost. */
		while ((e = htab_drain_next(&p->opsby_id, &i)) != NULL)
			flow_serve(settle_give_back(op_of_entry(e), NULL));
		while ((r = TAILQ_LAST(&p->resv, resv_list)) != NULL)
			flow_serve(settle_give_back(NULL, r));
		return;
	}
	for (e = htab_next(&p->opsby_id, &i, NULL); e != NULL;
	     e = htab_next(&p->opsby_id, &i, e)) {
		v[k].o = op_of_entry(e);
		v[k++].seq = op_of_entry(e)->seq;
	}
	TAILQ_FOREACH(r, &p->resv, plink)
	{
		v[k].seq = r->seq;
		v[k++].r = r;
	}
	settle_give_back_all(v, k);
	free(v);
}
