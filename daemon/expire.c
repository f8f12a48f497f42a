/* expire.c - time to live: messages not popped in time leave the queue. */

/*
 * A queue may have a time to live (create --ttl: the segment header's
 * ttl_ms) and a push may carry its own (push --ttl: Push.ttl_ms). A queued
 * message whose time has come is dropped, or moved to NAME.dlq when that
 * queue exists and has the same owner, and counted in the header's expired
 * (doc/ttl.md).
 *
 * The queue's TTL counts from the slot's enqueued_ns (the push, or when a
 * delayed message became due). A message's own TTL lives in the daemon
 * alone (expire_recs.c): in memory (records by id) and in N.ttl beside
 * segment N (mode 0600, an append-only log of crc'd records a restart
 * reloads). Order: the
 * push commits, the record is written, then the reply is sent; a kill -9
 * between the commit and the record leaves a message without its own TTL
 * (the queue's still applies).
 *
 * A sweep looks at every queued message under the lock (core_peek_msgs),
 * takes the expired ones out by id (core_remove: a message a direct popper
 * took meanwhile is simply not found) and arms a timer for the next
 * expiry. Socket pops sweep first when one is due, so the daemon never
 * hands out an expired message; a direct popper may take one that expired
 * less than the timer's latency ago.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/crashpoint.h"
#include "daemon/expire.h"
#include "daemon/expire_recs.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/waiters.h"

#define EXPIRE_MIN_NS   (5 * 1000000ull)    /* sweeps at most this often */
#define EXPIRE_IDLE_NS  (100 * 1000000ull)  /* an idle TTL queue looks */
#define EXPIRE_HELD_NS  (1000 * 1000000ull) /* records of reserved ones */
#define EXPIRE_RETRY_NS (100 * 1000000ull)  /* a mapper held the lock */
#define EXPIRE_BATCH    256                 /* taken out per sweep */

/* A queue's expiry state. */
struct expire {
	struct lease_timer t; /* first: the timer casts back */
	struct rqueue *q;
	uint64_t armed;          /* realtime of the armed sweep, 0: none */
	uint64_t last;           /* realtime of the last sweep */
	struct expire_recs recs; /* messages' own (expire_recs.h) */
};

/* An expired message found by a sweep. */
struct expire_hit {
	uint64_t id;
	uint32_t band;
	uint32_t len;
	void *copy; /* its bytes, for the dead-letter queue, or NULL */
};

/* What a sweep's peek gathers. */
struct expire_scan {
	struct expire *e;
	uint64_t now, qttl_ns, next;
	int copy; /* copy the bytes: there is a dead-letter queue */
	int more; /* more expired than one batch */
	int nomem;
	size_t n;
	struct expire_hit hit[EXPIRE_BATCH];
};

static void expire_sweep(struct expire *e);

/* The monotonic deadline matching realtime due. */
static uint64_t
expire_mono(uint64_t due)
{
	uint64_t now = time_real_ns();

	return time_mono_ns() + (due > now ? due - now : 0);
}

/* Make sure a sweep runs by due (realtime). */
static void
expire_arm(struct expire *e, uint64_t due)
{
	if (e->armed != 0 && e->armed <= due)
		return;
	if (lease_timer_set(&e->t, expire_mono(due)) != 0) {
		log_warn("queue '%.*s': cannot arm the expiry timer",
		    (int)e->q->namelen, e->q->name);
		return;
	}
	e->armed = due;
}

/* The timer fired. */
static void
expire_fire(struct lease_timer *t)
{
	struct expire *e = (struct expire *)t;

	e->armed = 0;
	expire_sweep(e);
}

/* The queue's own TTL in ns (a mapper may have rewritten the word). */
static uint64_t
expire_qttl_ns(struct rqueue *q)
{
	uint64_t ms = core_attr(q->core)->ttl_ms;

	return (ms > CQ_TTL_MAX ? CQ_TTL_MAX : ms) * 1000000ull;
}

/* Make q's state; NULL if out of memory (logged). */
static struct expire *
expire_new(struct rqueue *q)
{
	struct expire *e;

	if (q->expire != NULL)
		return q->expire;
	if ((e = calloc(1, sizeof *e)) == NULL) {
		log_error("queue '%.*s': out of memory for its expiry state",
		    (int)q->namelen, q->name);
		return NULL;
	}
	e->q = q;
	expire_recs_init(&e->recs, q);
	e->t.fire = expire_fire;
	q->expire = e;
	return e;
}

/* Give q its expiry state if it needs one. */
void
expire_open(struct rqueue *q, int fresh)
{
	struct expire *e;

	if (q->core == NULL)
		return;
	if (core_attr(q->core)->ttl_ms == 0) {
		/* Only per-message records: is there a file? */
		if (fresh || !expire_recs_exist(q)) {
			if (fresh)
				expire_recs_unlink(q);
			return;
		}
	}
	if ((e = expire_new(q)) == NULL)
		return;
	if (!fresh)
		expire_recs_load(&e->recs);
	expire_recs_compact(&e->recs); /* a leftover file is replaced */
	/* Sweep at once: the first sweep arms the next one. */
	expire_arm(e, time_real_ns());
}

/* Free q's state. */
void
expire_free(struct rqueue *q)
{
	struct expire *e = q->expire;

	if (e == NULL)
		return;
	lease_timer_clear(&e->t);
	expire_recs_free(&e->recs);
	free(e);
	q->expire = NULL;
}

/* q is deleted: free its state, remove its file. */
void
expire_delete(struct rqueue *q)
{
	expire_free(q);
	expire_recs_unlink(q);
}

/* Why push m cannot be taken, or NULL. */
const char *
expire_invalid(const Conqueue__Push *m)
{
	if (m->has_ttl_ms && m->ttl_ms > 0 && m->has_delay_ms &&
	    m->delay_ms > 0)
		return "a push has a delay or a time to live, not both";
	return NULL;
}

/* Record a push's own TTL; arm the sweep that will see it expire. */
void
expire_after_push(struct rqueue *q, const Conqueue__Push *m, uint64_t first)
{
	uint64_t now, due, qttl;
	struct expire *e;
	size_t i;

	if (q->core == NULL)
		return;
	qttl = expire_qttl_ns(q);
	if ((!m->has_ttl_ms || m->ttl_ms == 0) && qttl == 0)
		return;
	if ((e = expire_new(q)) == NULL)
		return;
	now = time_real_ns();
	if (qttl != 0 && !(m->has_delay_ms && m->delay_ms > 0))
		expire_arm(e, now + qttl);
	if (!m->has_ttl_ms || m->ttl_ms == 0)
		return;
	crashpoint("ttl.after_commit");
	due = now + (uint64_t)m->ttl_ms * 1000000u;
	for (i = 0; i < m->n_data; i++)
		if (expire_recs_add(&e->recs, first + i, due) != 0)
			break;
	crashpoint("ttl.after_record");
	expire_arm(e, due);
	expire_recs_tidy(&e->recs);
}

/* Peek callback: gather the expired messages, note the next expiry. */
static int
expire_look(void *arg, const struct core_msg *m)
{
	struct expire_scan *s = arg;
	struct expire_rec *r = expire_recs_find(&s->e->recs, m->id);
	uint64_t due = UINT64_MAX;
	struct expire_hit *h;

	if (s->qttl_ns != 0)
		due = m->enqueued_ns + s->qttl_ns;
	if (r != NULL) {
		r->seen = 1;
		if (r->due < due)
			due = r->due;
	}
	if (due > s->now) {
		if (due < s->next)
			s->next = due;
		return 0;
	}
	if (s->n == EXPIRE_BATCH) {
		s->more = 1;
		return 0;
	}
	h = &s->hit[s->n];
	h->id = m->id;
	h->band = m->band;
	h->len = m->len;
	h->copy = NULL;
	if (s->copy && (h->copy = malloc(m->len ? m->len : 1)) != NULL)
		memcpy(h->copy, m->data, m->len);
	else if (s->copy)
		s->nomem = 1;
	s->n++;
	return 0;
}

/* NAME.dlq of q if it exists, is usable and has q's owner; else NULL. */
static struct rqueue *
expire_dlq(struct rqueue *q)
{
	char name[CQ_NAME_MAX + 8];
	struct rqueue *d;
	int n;

	n = registry_dlq_name(q->name, q->namelen, name, sizeof name);
	if (n < 0 || (d = registry_find(name, (size_t)n)) == NULL ||
	    d->core == NULL || d->uid != q->uid || d == q)
		return NULL;
	return d;
}

/* Take expired message h out of q (to dlq when set); 0, or -1: retry. */
static int
expire_take(struct rqueue *q, struct rqueue *dlq, struct expire_hit *h)
{
	uint64_t nid = 0;
	cq_status st;
	int moved = 0;

	if (dlq != NULL && h->copy != NULL) {
		st = core_push(dlq->core, h->copy, h->len,
		    h->band < core_attr(dlq->core)->bands ? h->band : 0, 0,
		    &nid);
		if (st == CQ_OK)
			moved = 1;
		else
			log_warn("queue '%.*s': dead-lettering expired message "
			         "%llu: %s; dropped",
			    (int)dlq->namelen, dlq->name,
			    (unsigned long long)h->id, cq_strstatus(st));
	}
	/* Crash here: at-least-once, the message is in both queues. */
	crashpoint("ttl.after_dead_letter");
	st = core_remove(q->core, h->id);
	if (st == CQ_OK) {
		core_count_expired(q->core, moved);
		if (moved)
			flow_serve(dlq);
		return 0;
	}
	/* A popper took it meanwhile: the copy must not stay. */
	if (moved && core_remove(dlq->core, nid) != CQ_OK)
		log_warn("queue '%.*s': message %llu was popped from '%.*s' "
		         "while it expired: delivered from both",
		    (int)dlq->namelen, dlq->name, (unsigned long long)h->id,
		    (int)q->namelen, q->name);
	return st == CQ_NOTFOUND ? 0 : -1;
}

/*
 * Forget the records of messages neither queued nor in flight; a message
 * in flight may come back (a release, a lease running out): look again
 * when it would expire, or every EXPIRE_HELD_NS once it has.
 */
static void
expire_prune(struct expire *e, uint64_t now, uint64_t qttl, uint64_t *next)
{
	struct core_msg m;
	struct expire_rec *r;
	uint64_t owner, due;
	uint32_t cursor = 0;

	while (core_inflight_next(e->q->core, &cursor, &m, &owner, NULL)) {
		if (owner == CORE_OWNER_DELAYED)
			continue; /* not visible yet: delay.c tells us */
		due = qttl != 0 ? m.enqueued_ns + qttl : UINT64_MAX;
		if ((r = expire_recs_find(&e->recs, m.id)) != NULL) {
			r->seen = 1;
			if (r->due < due)
				due = r->due;
		}
		if (due == UINT64_MAX)
			continue;
		if (due <= now)
			due = now + EXPIRE_HELD_NS;
		if (due < *next)
			*next = due;
	}
	expire_recs_prune(&e->recs);
}

/* Drop (or dead-letter) every queued message whose time has come. */
static void
expire_sweep(struct expire *e)
{
	struct rqueue *q = e->q, *dlq;
	struct expire_scan *s;
	size_t n = 0, i;
	cq_status st;
	int retry = 0;

	if (q->core == NULL)
		return;
	if ((s = malloc(sizeof *s)) == NULL) {
		expire_arm(e, time_real_ns() + EXPIRE_RETRY_NS);
		return;
	}
	dlq = expire_dlq(q);
	memset(s, 0, offsetof(struct expire_scan, hit));
	s->e = e;
	s->now = e->last = time_real_ns();
	s->qttl_ns = expire_qttl_ns(q);
	s->next = UINT64_MAX;
	s->copy = dlq != NULL;
	st = core_peek_msgs(q->core, SIZE_MAX, expire_look, s, &n);
	if (st == CQ_BUSY)
		retry = 1;
	for (i = 0; i < s->n; i++) {
		if (expire_take(q, dlq, &s->hit[i]) != 0)
			retry = 1;
		free(s->hit[i].copy);
	}
	if (st == CQ_OK || st == CQ_EMPTY || st == CQ_CLOSED)
		expire_prune(e, s->now, s->qttl_ns, &s->next);
	if (s->n > 0)
		log_debug("queue '%.*s': %zu message(s) expired",
		    (int)q->namelen, q->name, s->n);
	/*
	 * Direct pushes tell the daemon nothing: a queue with a TTL looks
	 * again within its TTL (at least EXPIRE_IDLE_NS apart when idle).
	 */
	if (s->qttl_ns != 0) {
		uint64_t idle = s->now + (s->qttl_ns > EXPIRE_IDLE_NS
		                                 ? s->qttl_ns
		                                 : EXPIRE_IDLE_NS);
		if (idle < s->next)
			s->next = idle;
	}
	if (retry || s->more || s->nomem)
		s->next = s->now + (s->more ? EXPIRE_MIN_NS : EXPIRE_RETRY_NS);
	if (s->next != UINT64_MAX)
		expire_arm(e, s->next < s->now + EXPIRE_MIN_NS
		                  ? s->now + EXPIRE_MIN_NS
		                  : s->next);
	free(s);
	if (n > 0)
		flow_serve(q); /* room for parked pushers */
}

/* A message of q became visible now (a delayed one came due). */
void
expire_visible(struct rqueue *q)
{
	uint64_t qttl;
	struct expire *e;

	if (q->core == NULL || (qttl = expire_qttl_ns(q)) == 0 ||
	    (e = expire_new(q)) == NULL)
		return;
	expire_arm(e, time_real_ns() + qttl);
}

/* Sweep before a socket pop when one is due. */
void
expire_before_pop(struct rqueue *q)
{
	struct expire *e = q->expire;

	if (e == NULL || e->armed == 0 || time_real_ns() < e->armed)
		return;
	lease_timer_clear(&e->t);
	e->armed = 0;
	expire_sweep(e);
}
