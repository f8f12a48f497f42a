/* dispatch.c - decoded requests to queue operations and replies. */

/*
 * dispatch knows the protocol's semantics (protocol.txt) and nothing of
 * sockets or libevent: a connection is a struct peer with two callbacks,
 * so tests can drive it directly.
 *
 * Per peer, every op that is still pending lives in one table by request
 * id: parked pops and pushes (waiting in waiters.c) and hand-offs (pop
 * replies sent but not yet confirmed). A hand-off keeps its messages in
 * flight in the segment until the client confirms; a reject or the
 * connection closing puts them back at the head of their bands.
 *
 * After every mutation of a queue, dispatch_serve() answers the parked ops
 * that can now complete, oldest first.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

#define OP_PARKED  0
#define OP_HANDOFF 1

#define NEED_R     4
#define NEED_W     2
#define NEED_RW    6
#define NEED_OWNER 8

#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_SIZE 65536
#define DEFAULT_MODE     0600
#define DEFAULT_LEASE_MS 30000
/* Pops of up to this many messages build their reply on the stack. */
#define DISPATCH_POP_STACK 64

#define DLQ_SUFFIX     ".dlq"
#define DLQ_SUFFIX_LEN 4
#define RETRY_MS       1000 /* a held message tries to settle again */

/* A pending op of a peer: parked, or a pop reply awaiting its receipt. */
struct op {
	struct hentry h; /* in peer->opsby_id */
	uint64_t id;
	int kind;
	struct peer *peer;
	struct rqueue *q;
	struct waiter w; /* OP_PARKED */
	/*
	 * OP_PARKED: the parameters, copied (requests are only lent to
	 * dispatch); a push's messages live in blob.
	 */
	Conqueue__Pop pop;
	Conqueue__Push push;
	void *blob;
	TAILQ_ENTRY(op) qlink; /* OP_HANDOFF: in q->handoffs */
	size_t n;
	struct core_msg *msgs; /* malloc'ed, or &one */
	struct core_msg one;   /* a one-message pop needs no allocation */
	uint64_t seq;          /* OP_HANDOFF: delivery order (dispatch_seq) */
	int listed;            /* in a reject list being handled */
	/* A small parked push's blob: not cleared when the record is reused. */
	max_align_t inl[256 / sizeof(max_align_t)];
};

/* A reserved message under a lease. */
struct resv {
	struct lease_timer t; /* first: the timer callback casts back */
	struct hentry h;      /* in q->resv by message id */
	TAILQ_ENTRY(resv) plink;
	struct rqueue *q;
	struct peer *peer; /* NULL: detached */
	uint32_t uid;
	struct core_msg m;
	int released; /* RELEASE with a delay: only the timer may end it */
	int held;     /* could not go back yet (NAME.dlq full): retried */
	uint64_t seq; /* delivery order (dispatch_seq) */
};

/*
 * Freed records kept for reuse: every one-message pop makes an op (its
 * hand-off record) and every reserved message a resv, so they come and go
 * at the message rate. Not under ASan, which should see a use after free.
 */
#define POOL_MAX 256
struct dispatch_pool {
	void *v[POOL_MAX];
	size_t n;
};
static struct dispatch_pool dispatch_ops, dispatch_resvs;

/* A record of size bytes from pool, its first clear bytes zeroed. */
static void *
dispatch_pool_get(struct dispatch_pool *pool, size_t size, size_t clear)
{
	void *p;

	if (pool->n == 0)
		return calloc(1, size);
	p = pool->v[--pool->n];
	memset(p, 0, clear);
	return p;
}

/* Keep record p in pool for reuse, or free it. */
static void
dispatch_pool_put(struct dispatch_pool *pool, void *p)
{
	if (!CQ_ASAN && pool->n < POOL_MAX)
		pool->v[pool->n++] = p;
	else
		free(p);
}

/* Free what pool keeps. */
static void
dispatch_pool_free(struct dispatch_pool *pool)
{
	while (pool->n > 0)
		free(pool->v[--pool->n]);
}

uint64_t dispatch_total_ops;
/* Orders deliveries, to give them back in reverse when a peer leaves. */
static uint64_t dispatch_seq;
uint32_t dispatch_connections;
uint64_t dispatch_start_ns;

static void dispatch_serve(struct rqueue *q);
static void dispatch_lease_expired(struct lease_timer *t);

/* Match an op by request id. */
static int
dispatch_match_op(const struct hentry *e, const void *key)
{
	return ((const struct op *)e)->id == *(const uint64_t *)key;
}

/* The reservation holding hash entry e. */
static struct resv *
dispatch_resv_of(const struct hentry *e)
{
	return (struct resv *)(uintptr_t)((const char *)e -
	                                  offsetof(struct resv, h));
}

/* Match a reservation by message id. */
static int
dispatch_match_resv(const struct hentry *e, const void *key)
{
	return dispatch_resv_of(e)->m.id == *(const uint64_t *)key;
}

/* The pending op id of peer p, or NULL. */
static struct op *
dispatch_find_op(struct peer *p, uint64_t id)
{
	return (struct op *)htab_find(
	    &p->opsby_id, htab_hash_u64(id), dispatch_match_op, &id);
}

/* Set up a peer's tables. */
void
dispatch_peer_init(struct peer *p)
{
	htab_init(&p->opsby_id);
	TAILQ_INIT(&p->resv);
	p->greeted = 0;
	p->gone = 0;
	dispatch_connections++;
	if (dispatch_start_ns == 0)
		dispatch_start_ns = time_mono_ns();
}

/* Send a reply carrying only a status and detail. */
void
dispatch_reply_status(
    struct peer *p, uint64_t id, cq_status st, const char *detail)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	r.id = id;
	r.status = (uint32_t)st;
	if (st != CQ_OK && detail != NULL)
		r.detail = (char *)(uintptr_t)detail;
	if (st == CQ_SYSTEM) {
		r.has_sys_errno = 1;
		r.sys_errno = errno;
	}
	p->ops->send(p, &r);
}

/* Reply with a formatted detail. */
static void dispatch_replyf(struct peer *p, uint64_t id, cq_status st,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
dispatch_replyf(struct peer *p, uint64_t id, cq_status st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dispatch_reply_status(p, id, st, buf);
}

/* Root or the daemon's own uid pass every access check. */
static int
dispatch_is_admin(const struct peer *p)
{
	return p->uid == 0 || p->uid == (uint32_t)geteuid();
}

/* Check access to q like a file: owner, group, other bits. */
static int
dispatch_may(const struct peer *p, const struct rqueue *q, int need)
{
	const struct core_attr *a;
	uint32_t bits;

	if (dispatch_is_admin(p))
		return 1;
	if (need == NEED_OWNER)
		return p->uid == q->uid;
	if (q->core == NULL)
		return 0;
	a = core_attr(q->core);
	if (p->uid == a->uid)
		bits = a->mode >> 6;
	else if (peer_in_group(p, a->gid))
		bits = a->mode >> 3;
	else
		bits = a->mode;
	return (bits & (uint32_t)need) != 0;
}

/*
 * Find the queue a request names and check access; on failure reply and
 * return NULL. Quarantined queues answer CQ_CORRUPT unless allowed.
 */
static struct rqueue *
dispatch_lookup(struct peer *p, uint64_t id, ProtobufCBinaryData name, int need,
    int allow_quarantined)
{
	struct rqueue *q = registry_find(name.data, name.len);

	if (q == NULL) {
		if (!cq_name_valid((const char *)name.data, name.len))
			dispatch_reply_status(
			    p, id, CQ_INVALID, "invalid queue name");
		else
			dispatch_replyf(p, id, CQ_NOTFOUND,
			    "queue '%.*s' not found", (int)name.len,
			    (const char *)name.data);
		return NULL;
	}
	if (q->quarantined && !allow_quarantined) {
		dispatch_replyf(p, id, CQ_CORRUPT,
		    "queue '%.*s' is quarantined: its storage failed "
		    "validation",
		    (int)q->namelen, q->name);
		return NULL;
	}
	if (!dispatch_may(p, q, need)) {
		dispatch_replyf(p, id, CQ_DENIED,
		    "permission denied on queue '%.*s'", (int)q->namelen,
		    q->name);
		return NULL;
	}
	return q;
}

/* Free a parked push's copy of its messages, unless it is inline. */
static void
dispatch_op_drop_blob(struct op *o)
{
	if (o->blob != o->inl)
		free(o->blob);
	o->blob = NULL;
}

/* Add a new op to p's table; NULL (reply sent) at the pending limit. */
static struct op *
dispatch_op_new(struct peer *p, uint64_t id, int kind, struct rqueue *q)
{
	struct op *o;

	if (p->opsby_id.n >= cfg.max_pending_per_conn) {
		dispatch_replyf(p, id, CQ_LIMIT,
		    "too many pending operations (max_pending_per_conn %u)",
		    cfg.max_pending_per_conn);
		return NULL;
	}
	/* The inline blob needs no clearing. */
	o = dispatch_pool_get(
	    &dispatch_ops, sizeof *o, offsetof(struct op, inl));
	if (o == NULL ||
	    htab_insert(&p->opsby_id, &o->h, htab_hash_u64(id)) != 0) {
		free(o);
		errno = ENOMEM;
		dispatch_reply_status(p, id, CQ_SYSTEM, "out of memory");
		return NULL;
	}
	o->id = id;
	o->kind = kind;
	o->peer = p;
	o->q = q;
	return o;
}

/* Forget op o: unpark it or drop its hand-off record. */
static void
dispatch_op_free(struct op *o)
{
	htab_remove(&o->peer->opsby_id, &o->h);
	if (o->kind == OP_PARKED)
		waiters_remove(&o->w);
	else
		TAILQ_REMOVE(&o->q->handoffs, o, qlink);
	dispatch_op_drop_blob(o);
	if (o->msgs != &o->one)
		free(o->msgs);
	dispatch_pool_put(&dispatch_ops, o);
}

/* Fill a QueueStat for q; the name points into q. */
static cq_status
dispatch_fill_stat(struct rqueue *q, Conqueue__QueueStat *s)
{
	struct core_stat st;
	uint64_t now;
	cq_status rc;

	conqueue__queue_stat__init(s);
	s->name.data = (uint8_t *)q->name;
	s->name.len = q->namelen;
	if (q->quarantined) {
		s->has_quarantined = s->quarantined = 1;
		return CQ_OK;
	}
	if ((rc = core_stat(q->core, &st)) != CQ_OK)
		return rc;
#define SET(f, v)                                                              \
	do {                                                                   \
		s->has_##f = 1;                                                \
		s->f = (v);                                                    \
	} while (0)
	SET(capacity, st.attr.capacity);
	SET(max_size, st.attr.max_size);
	SET(bands, st.attr.bands);
	SET(mode, st.attr.mode);
	SET(uid, st.attr.uid);
	SET(gid, st.attr.gid);
	SET(max_deliveries, st.attr.max_deliveries);
	SET(lease_ms, st.attr.lease_ms);
	SET(serial, st.attr.serial != 0);
	SET(length, st.length);
	SET(in_flight, st.in_flight);
	SET(waiting_poppers, q->wq.n[WAIT_POP]);
	SET(waiting_pushers, q->wq.n[WAIT_PUSH]);
	SET(closed, st.closed != 0);
	SET(paused, st.paused != 0);
	SET(total_pushed, st.total_pushed);
	SET(total_popped, st.total_popped);
	SET(dead_lettered, st.dead_lettered);
	now = time_real_ns();
	SET(oldest_age_ms,
	    st.oldest_enqueued_ns != 0 && now > st.oldest_enqueued_ns
	        ? (now - st.oldest_enqueued_ns) / 1000000u
	        : 0);
#undef SET
	return CQ_OK;
}

/* Reply with the stat of q. */
static void
dispatch_reply_stat(struct peer *p, uint64_t id, struct rqueue *q)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__QueueStat s;
	cq_status st;

	if ((st = dispatch_fill_stat(q, &s)) != CQ_OK) {
		dispatch_reply_status(p, id, st, cq_strstatus(st));
		return;
	}
	r.id = id;
	r.status = CQ_OK;
	r.stat = &s;
	p->ops->send(p, &r);
}

/*
 * Move in-flight message m of q (delivered max_deliveries times) to
 * NAME.dlq, created on demand like q. 0 when done; -1 (logged unless
 * quiet, a retry) when it stays in flight.
 */
static int
dispatch_dead_letter(struct rqueue *q, const struct core_msg *m, int quiet)
{
	struct core_attr a = *core_attr(q->core);
	struct rqueue *dlq;
	char why[256];
	uint64_t id;
	cq_status st;
	int n;

	n = snprintf(a.name, sizeof a.name, "%.*s%s", (int)q->namelen, q->name,
	    DLQ_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof a.name) {
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
		st = registry_create(&a, 1, &dlq, why, sizeof why);
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
	else
		st = core_push(dlq->core, m->data, m->len,
		    m->band < core_attr(dlq->core)->bands ? m->band : 0, 0,
		    &id);
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
	dispatch_serve(dlq);
	return 0;
}

/*
 * Settle in-flight message m of q that goes back: to the head of its band,
 * or to NAME.dlq at max_deliveries. 0 when done; -1 when it must stay in
 * flight for now (lock not had, NAME.dlq full: logged unless quiet).
 */
static int
dispatch_settle(struct rqueue *q, const struct core_msg *m, int quiet)
{
	cq_status st = core_return(q->core, m->slot, m->id);

	if (st == CQ_OK)
		return 0;
	if (st == CQ_LIMIT)
		return dispatch_dead_letter(q, m, quiet);
	if (!quiet || st == CQ_NOTFOUND)
		log_warn("queue '%.*s': returning message %llu: %s",
		    (int)q->namelen, q->name, (unsigned long long)m->id,
		    cq_strstatus(st));
	return st == CQ_NOTFOUND ? 0 : -1;
}

/*
 * Hold message m of q in flight under a daemon-owned record that tries to
 * settle it every RETRY_MS: never lost, never handed out meanwhile, and
 * visible as in flight.
 */
static void
dispatch_hold(struct rqueue *q, const struct core_msg *m)
{
	struct resv *r =
	    dispatch_pool_get(&dispatch_resvs, sizeof *r, sizeof *r);

	if (r == NULL ||
	    htab_insert(&q->resv, &r->h, htab_hash_u64(m->id)) != 0) {
		free(r);
		log_warn("queue '%.*s': out of memory; message %llu stays in "
		         "flight until the next start",
		    (int)q->namelen, q->name, (unsigned long long)m->id);
		return;
	}
	r->t.fire = dispatch_lease_expired;
	r->q = q;
	r->m = *m;
	r->uid = q->uid;
	r->released = 1; /* no client may act on it */
	r->held = 1;
	r->seq = ++dispatch_seq;
	if (lease_timer_set(
	        &r->t, time_mono_ns() + (uint64_t)RETRY_MS * 1000000u) != 0)
		log_warn("cannot arm a retry timer: message %llu stays in "
		         "flight until the next start",
		    (unsigned long long)m->id);
}

/* Put an in-flight message back, or dead-letter it, or hold it. */
static void
dispatch_return_msg(struct rqueue *q, const struct core_msg *m)
{
	if (dispatch_settle(q, m, 0) != 0)
		dispatch_hold(q, m);
}

/* Return a hand-off's messages: last first, so they keep their order. */
static void
dispatch_return_handoff(struct op *o)
{
	size_t i;

	for (i = o->n; i > 0; i--)
		dispatch_return_msg(o->q, &o->msgs[i - 1]);
}

/* Forget a reservation (its message is no longer in flight for it). */
static void
dispatch_resv_free(struct resv *r)
{
	lease_timer_clear(&r->t);
	htab_remove(&r->q->resv, &r->h);
	if (r->peer != NULL)
		TAILQ_REMOVE(&r->peer->resv, r, plink);
	dispatch_pool_put(&dispatch_resvs, r);
}

/*
 * A lease (or a delayed release) ran out: the message goes back. A held
 * message (dispatch_hold) tries to settle again.
 */
static void
dispatch_lease_expired(struct lease_timer *t)
{
	struct resv *r = (struct resv *)(void *)t;
	struct rqueue *q = r->q;

	if (r->held) {
		if (dispatch_settle(q, &r->m, 1) != 0) {
			if (lease_timer_set(
			        &r->t, time_mono_ns() +
			                   (uint64_t)RETRY_MS * 1000000u) != 0)
				log_warn("cannot arm a retry timer: message "
				         "%llu stays in flight until the next "
				         "start",
				    (unsigned long long)r->m.id);
			return;
		}
	} else
		dispatch_return_msg(q, &r->m);
	dispatch_resv_free(r);
	dispatch_serve(q);
}

/* Lease length for a request value (0: the queue's default). */
static uint32_t
dispatch_lease_ms(struct rqueue *q, uint32_t lease_ms)
{
	if (lease_ms == 0)
		lease_ms = core_attr(q->core)->lease_ms;
	return lease_ms ? lease_ms : DEFAULT_LEASE_MS;
}

/* Attempt a push; CQ_FULL means it may wait. */
static cq_status
dispatch_do_push(struct rqueue *q, const Conqueue__Push *m, uint64_t *first)
{
	struct iovec *iov;
	cq_status st;
	size_t i;

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

/* Reply to a push. */
static void
dispatch_reply_push(struct peer *p, uint64_t id, cq_status st, uint64_t first)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	if (st != CQ_OK) {
		dispatch_reply_status(p, id, st,
		    st == CQ_TIMEDOUT ? "timed out waiting for room"
		                      : cq_strstatus(st));
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
dispatch_pop_budget(struct rqueue *q, uint32_t want)
{
	uint64_t per = (uint64_t)core_attr(q->core)->max_size + 64;
	uint64_t fit = (cfg.max_frame - 1024) / per;

	if (fit < 1)
		fit = 1;
	return want < fit ? want : (size_t)fit;
}

/* Record reservations for popped messages; 0 or -1 (out of memory). */
static int
dispatch_reserve_msgs(struct peer *p, struct rqueue *q, const Conqueue__Pop *m,
    const struct core_msg *msgs, size_t n, uint64_t deadline_ns)
{
	struct resv *r;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((r = dispatch_pool_get(
		         &dispatch_resvs, sizeof *r, sizeof *r)) == NULL)
			return -1;
		r->t.fire = dispatch_lease_expired;
		r->q = q;
		r->m = msgs[i];
		r->seq = ++dispatch_seq;
		r->uid = p->uid;
		if (htab_insert(&q->resv, &r->h, htab_hash_u64(r->m.id)) != 0) {
			free(r);
			return -1;
		}
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
 * Attempt a pop for request id of p; o is its parked op or NULL. On CQ_OK
 * the reply is sent and the messages stay in flight (a hand-off record, or
 * reservations); o is consumed either way if the result is final.
 * CQ_EMPTY means it may wait (nothing was sent, o untouched).
 */
static cq_status
dispatch_do_pop(struct peer *p, struct rqueue *q, const Conqueue__Pop *m,
    uint64_t id, struct op **op)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	/* Most pops fit these: no allocation for the reply's arrays. */
	Conqueue__Msg pm_stack[DISPATCH_POP_STACK],
	    *pp_stack[DISPATCH_POP_STACK];
	Conqueue__Msg *pm = NULL, **pp = NULL;
	struct core_msg *msgs = NULL;
	struct op *o = *op;
	size_t want, n = 0, i;
	uint64_t lease_deadline = 0;
	cq_status st;

	want = dispatch_pop_budget(q, m->has_max ? m->max : 1);
	if (!m->reserve && o == NULL) {
		/* The record must exist before the messages leave. */
		if ((o = dispatch_op_new(p, id, OP_HANDOFF, q)) == NULL)
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
		    time_mono_ns() +
		    (uint64_t)dispatch_lease_ms(q, m->lease_ms) * 1000000u;
	st = core_pop_many(q->core, p->cid, lease_deadline, msgs, want, &n);
	if (st != CQ_OK)
		goto fail;
	if (n <= DISPATCH_POP_STACK) {
		pm = pm_stack;
		pp = pp_stack;
	}
	if ((pm == NULL && (pm = calloc(n, sizeof *pm)) == NULL) ||
	    (pp == NULL && (pp = calloc(n, sizeof *pp)) == NULL) ||
	    (m->reserve &&
	        dispatch_reserve_msgs(p, q, m, msgs, n, lease_deadline) != 0)) {
		/* Nothing was sent: put everything back. */
		for (i = n; i > 0; i--) {
			struct hentry *e =
			    htab_find(&q->resv, htab_hash_u64(msgs[i - 1].id),
			        dispatch_match_resv, &msgs[i - 1].id);
			if (e != NULL)
				dispatch_resv_free(dispatch_resv_of(e));
			core_return(q->core, msgs[i - 1].slot, msgs[i - 1].id);
		}
		st = CQ_SYSTEM;
		errno = ENOMEM;
		goto fail;
	}
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
	r.id = id;
	r.status = CQ_OK;
	r.n_msgs = n;
	r.msgs = pp;
	p->ops->send(p, &r);
	if (pm != pm_stack) {
		free(pm);
		free(pp);
	}
	if (m->reserve) {
		if (o == NULL || msgs != &o->one)
			free(msgs);
		if (o != NULL)
			dispatch_op_free(o);
		*op = NULL;
	} else {
		/* The op becomes the hand-off record, awaiting confirm. */
		if (o->kind == OP_PARKED) {
			waiters_remove(&o->w);
			dispatch_op_drop_blob(o);
			o->kind = OP_HANDOFF;
			TAILQ_INSERT_TAIL(&q->handoffs, o, qlink);
		}
		o->msgs = msgs;
		o->n = n;
		o->seq = ++dispatch_seq;
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
		dispatch_op_free(o);
		*op = NULL;
	}
	return st;
}

/* Reply to a pop that ended without messages. */
static void
dispatch_reply_pop_fail(struct peer *p, uint64_t id, cq_status st)
{
	dispatch_reply_status(p, id, st,
	    st == CQ_TIMEDOUT ? "timed out waiting for a message"
	                      : cq_strstatus(st));
}

/* Answer every parked op of q that can complete now, oldest first. */
static void
dispatch_serve(struct rqueue *q)
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
		while ((w = waiters_first(&q->wq, WAIT_PUSH)) != NULL) {
			o = (struct op *)(void *)((char *)w -
			                          offsetof(struct op, w));
			st = dispatch_do_push(q, &o->push, &first);
			if (st == CQ_FULL)
				break;
			dispatch_reply_push(o->peer, o->id, st, first);
			dispatch_op_free(o);
		}
		while ((w = waiters_first(&q->wq, WAIT_POP)) != NULL) {
			o = (struct op *)(void *)((char *)w -
			                          offsetof(struct op, w));
			st = dispatch_do_pop(o->peer, q, &o->pop, o->id, &o);
			if (st == CQ_EMPTY)
				break;
			if (st != CQ_OK && st != CQ_LIMIT) {
				dispatch_reply_pop_fail(o->peer, o->id, st);
				dispatch_op_free(o);
			}
		}
	} while (q->serve_again);
	q->serving = 0;
}

/* A parked op's deadline passed. */
void
dispatch_waiter_expired(struct waiter *w)
{
	struct op *o =
	    (struct op *)(void *)((char *)w - offsetof(struct op, w));

	if (o->w.kind == WAIT_PUSH)
		dispatch_reply_push(o->peer, o->id, CQ_TIMEDOUT, 0);
	else
		dispatch_reply_pop_fail(o->peer, o->id, CQ_TIMEDOUT);
	dispatch_op_free(o);
}

/*
 * Park req until served or its deadline. req is only lent for the call:
 * the op keeps a copy of what serving it needs (not the name: the queue is
 * known), a push's messages in one block.
 */
static void
dispatch_park(struct peer *p, struct rqueue *q, const Conqueue__Request *req,
    int kind, int64_t timeout_ms)
{
	ProtobufCBinaryData *d;
	struct op *o;
	size_t i, size;
	uint8_t *at;

	if ((o = dispatch_op_new(p, req->id, OP_PARKED, q)) == NULL)
		return;
	if (kind == WAIT_POP)
		o->pop = *req->pop;
	else {
		o->push = *req->push;
		size = o->push.n_data * sizeof *d;
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
	}
	o->pop.name.data = o->push.name.data = NULL;
	o->pop.name.len = o->push.name.len = 0;
	if (waiters_park(&q->wq, &o->w, kind, time_deadline_ns(timeout_ms)) ==
	    0)
		return;
fail:
	dispatch_op_free(o);
	errno = ENOMEM;
	dispatch_reply_status(p, req->id, CQ_SYSTEM, "out of memory");
}

/* Hello: check the version, answer with the limits. */
static void
dispatch_hello(struct peer *p, const Conqueue__Request *req)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Welcome w = CONQUEUE__WELCOME__INIT;
	Conqueue__Limits l = CONQUEUE__LIMITS__INIT;

	if (p->greeted) {
		dispatch_reply_status(
		    p, req->id, CQ_INVALID, "hello was already received");
		return;
	}
	l.max_frame = cfg.max_frame;
	l.max_message = cfg.max_message;
	l.max_pending = cfg.max_pending_per_conn;
	l.max_batch = cfg.max_batch;
	w.protocol_version = CQ_PROTOCOL_VERSION;
	w.server_version = (char *)(uintptr_t)PACKAGE_VERSION;
	w.limits = &l;
	r.id = req->id;
	r.status = CQ_OK;
	r.welcome = &w;
	p->greeted = 1;
	if (req->hello->client_name != NULL) {
		char name[65];
		size_t i;
		/* The name is the client's word: printable bytes only. */
		for (i = 0;
		     i < sizeof name - 1 && req->hello->client_name[i] != '\0';
		     i++)
			name[i] =
			    isprint((unsigned char)req->hello->client_name[i])
			        ? req->hello->client_name[i]
			        : '?';
		name[i] = '\0';
		log_debug("connection %llu: uid %u pid %ld client '%s'",
		    (unsigned long long)p->cid, p->uid, (long)p->pid, name);
	}
	p->ops->send(p, &r);
}

/*
 * Dead letters must stay with the owner of their queue: refuse
 * max_deliveries when NAME.dlq would not fit a name or already belongs to
 * someone else, and refuse NAME.dlq to anyone but NAME's owner (or an
 * admin) while NAME exists. 0, or -1 with the reply sent.
 */
static int
dispatch_dlq_check(
    struct peer *p, uint64_t id, const struct core_attr *a, size_t namelen)
{
	char dname[CQ_NAME_MAX + 8];
	struct rqueue *q;
	int n;

	if (a->max_deliveries != 0) {
		if (namelen > CQ_NAME_MAX - DLQ_SUFFIX_LEN) {
			dispatch_replyf(p, id, CQ_INVALID,
			    "max_deliveries needs a name of at most %d bytes "
			    "(room for the \"%s\" dead-letter suffix)",
			    CQ_NAME_MAX - DLQ_SUFFIX_LEN, DLQ_SUFFIX);
			return -1;
		}
		n = snprintf(dname, sizeof dname, "%s%s", a->name, DLQ_SUFFIX);
		q = registry_find(dname, (size_t)n);
		if (q != NULL && q->uid != a->uid) {
			dispatch_replyf(p, id, CQ_EXISTS,
			    "dead-letter queue '%s' already exists and belongs "
			    "to another user",
			    dname);
			return -1;
		}
	}
	if (namelen > DLQ_SUFFIX_LEN &&
	    memcmp(a->name + namelen - DLQ_SUFFIX_LEN, DLQ_SUFFIX,
	        DLQ_SUFFIX_LEN) == 0 &&
	    (q = registry_find(a->name, namelen - DLQ_SUFFIX_LEN)) != NULL &&
	    !dispatch_may(p, q, NEED_OWNER)) {
		dispatch_replyf(p, id, CQ_DENIED,
		    "'%s' is the dead-letter queue of '%.*s': only its owner "
		    "may create it",
		    a->name, (int)q->namelen, q->name);
		return -1;
	}
	return 0;
}

/* Create a queue. */
static void
dispatch_create(struct peer *p, uint64_t id, const Conqueue__Create *m)
{
	const Conqueue__QueueAttr *qa = m->attr;
	struct core_attr a;
	struct rqueue *q;
	char why[256];
	cq_status st;

	if (!cq_name_valid((const char *)m->name.data, m->name.len)) {
		dispatch_reply_status(p, id, CQ_INVALID,
		    "invalid queue name (1-64 bytes of [A-Za-z0-9._-], not "
		    "starting with '.')");
		return;
	}
	memset(&a, 0, sizeof a);
	memcpy(a.name, m->name.data, m->name.len);
	a.capacity = qa && qa->has_capacity ? qa->capacity : DEFAULT_CAPACITY;
	a.max_size = qa && qa->has_max_size ? qa->max_size : DEFAULT_MAX_SIZE;
	a.bands = qa && qa->has_bands ? qa->bands : 1;
	a.mode = qa && qa->has_mode ? qa->mode : DEFAULT_MODE;
	a.max_deliveries =
	    qa && qa->has_max_deliveries ? qa->max_deliveries : 0;
	a.lease_ms = qa && qa->has_lease_ms && qa->lease_ms ? qa->lease_ms
	                                                    : DEFAULT_LEASE_MS;
	a.serial = qa && qa->has_serial && qa->serial;
	a.uid = p->uid;
	a.gid = p->gid;
	if (a.capacity < 1 || a.capacity > cfg.max_capacity) {
		dispatch_replyf(p, id, CQ_INVALID, "capacity must be 1..%u",
		    cfg.max_capacity);
		return;
	}
	if (a.max_size < 1 || a.max_size > cfg.max_message) {
		dispatch_replyf(p, id, CQ_INVALID, "max_size must be 1..%u",
		    cfg.max_message);
		return;
	}
	if (a.bands < 1 || a.bands > CQ_BANDS_MAX) {
		dispatch_replyf(
		    p, id, CQ_INVALID, "bands must be 1..%u", CQ_BANDS_MAX);
		return;
	}
	if (a.mode & ~0777u) {
		dispatch_reply_status(
		    p, id, CQ_INVALID, "mode must be within 0777");
		return;
	}
	if ((q = registry_find(m->name.data, m->name.len)) == NULL &&
	    dispatch_dlq_check(p, id, &a, m->name.len) != 0)
		return;
	if (q != NULL) {
		if (m->exist_ok && !q->quarantined &&
		    dispatch_may(p, q, NEED_RW))
			dispatch_reply_stat(p, id, q);
		else
			dispatch_replyf(p, id, CQ_EXISTS,
			    "queue '%.*s' already exists", (int)m->name.len,
			    (const char *)m->name.data);
		return;
	}
	st = registry_create(&a, 0, &q, why, sizeof why);
	if (st != CQ_OK) {
		dispatch_reply_status(p, id, st, why);
		return;
	}
	log_debug("uid %u created queue '%s'", p->uid, a.name);
	dispatch_reply_stat(p, id, q);
}

/* Close q and wake everyone: pushers fail, poppers drain. */
static void
dispatch_close_queue(struct rqueue *q)
{
	core_close(q->core);
	dispatch_serve(q);
}

/* Delete q: close, answer every waiter CQ_CLOSED, drop the records. */
static void
dispatch_delete_queue(struct rqueue *q)
{
	struct waiter *w;
	struct op *o;
	struct hentry *e;
	size_t i;
	int k;

	if (q->core != NULL)
		core_close(q->core);
	for (k = 0; k < 2; k++) {
		while ((w = waiters_first(&q->wq, k)) != NULL) {
			o = (struct op *)(void *)((char *)w -
			                          offsetof(struct op, w));
			dispatch_reply_status(
			    o->peer, o->id, CQ_CLOSED, "queue deleted");
			dispatch_op_free(o);
		}
	}
	/* Late confirms of these ids are ignored as unknown. */
	while ((o = TAILQ_FIRST(&q->handoffs)) != NULL)
		dispatch_op_free(o);
	i = 0;
	while ((e = htab_drain_next(&q->resv, &i)) != NULL)
		dispatch_resv_free(dispatch_resv_of(e));
	registry_delete(q);
}

/* Operations that only name a queue. */
static void
dispatch_named(struct peer *p, uint64_t id, const Conqueue__Named *m)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	struct rqueue *q;
	int need = NEED_R;
	cq_status st = CQ_OK;

	switch (m->kind) {
	case CONQUEUE__NAMED__KIND__OPEN:
		need = NEED_RW;
		break;
	case CONQUEUE__NAMED__KIND__DELETE:
	case CONQUEUE__NAMED__KIND__CLOSE:
	case CONQUEUE__NAMED__KIND__PAUSE:
	case CONQUEUE__NAMED__KIND__RESUME:
		need = NEED_OWNER;
		break;
	default:
		break;
	}
	q = dispatch_lookup(
	    p, id, m->name, need, m->kind == CONQUEUE__NAMED__KIND__DELETE);
	if (q == NULL)
		return;
	r.id = id;
	switch (m->kind) {
	case CONQUEUE__NAMED__KIND__OPEN:
	case CONQUEUE__NAMED__KIND__STAT:
		dispatch_reply_stat(p, id, q);
		return;
	case CONQUEUE__NAMED__KIND__DELETE:
		log_debug("uid %u deleted queue '%.*s'", p->uid,
		    (int)q->namelen, q->name);
		dispatch_delete_queue(q);
		break;
	case CONQUEUE__NAMED__KIND__CLOSE:
		dispatch_close_queue(q);
		break;
	case CONQUEUE__NAMED__KIND__IS_CLOSED:
		r.has_flag = 1;
		r.flag = core_is_closed(q->core) != 0;
		break;
	case CONQUEUE__NAMED__KIND__PAUSE:
	case CONQUEUE__NAMED__KIND__RESUME:
		st = core_set_paused(
		    q->core, m->kind == CONQUEUE__NAMED__KIND__PAUSE);
		if (st == CQ_OK)
			dispatch_serve(q);
		break;
	case CONQUEUE__NAMED__KIND__LENGTH:
		r.has_length = 1;
		r.length =
		    (int64_t)core_length(q->core) - (int64_t)q->wq.n[WAIT_POP];
		break;
	default:
		st = CQ_INVALID;
		break;
	}
	if (st != CQ_OK) {
		dispatch_reply_status(p, id, st, cq_strstatus(st));
		return;
	}
	r.status = CQ_OK;
	p->ops->send(p, &r);
}

/* Push: validate, try at once, else park or fail. */
static void
dispatch_push(struct peer *p, const Conqueue__Request *req)
{
	const Conqueue__Push *m = req->push;
	int64_t timeout = m->has_timeout_ms ? m->timeout_ms : -1;
	const struct core_attr *a;
	struct rqueue *q;
	uint64_t first = 0;
	cq_status st;
	size_t i;

	if ((q = dispatch_lookup(p, req->id, m->name, NEED_W, 0)) == NULL)
		return;
	a = core_attr(q->core);
	if (m->n_data < 1 || m->n_data > cfg.max_batch) {
		dispatch_replyf(p, req->id, CQ_INVALID,
		    "a push carries 1..%u messages (max_batch)", cfg.max_batch);
		return;
	}
	if (m->n_data > a->capacity) {
		dispatch_replyf(p, req->id, CQ_INVALID,
		    "batch of %zu messages exceeds the capacity %u", m->n_data,
		    a->capacity);
		return;
	}
	if (m->band >= a->bands) {
		dispatch_replyf(p, req->id, CQ_INVALID,
		    "band %u out of range: queue has %u band(s)", m->band,
		    a->bands);
		return;
	}
	for (i = 0; i < m->n_data; i++) {
		if (m->data[i].len > a->max_size) {
			dispatch_replyf(p, req->id, CQ_TOOBIG,
			    "message of %zu bytes exceeds max_size %u",
			    m->data[i].len, a->max_size);
			return;
		}
	}
	/* Earlier parked pushers go first (no starvation of batches). */
	if (q->wq.n[WAIT_PUSH] > 0 && !core_is_closed(q->core))
		st = CQ_FULL;
	else
		st = dispatch_do_push(q, m, &first);
	if (st == CQ_FULL && timeout != 0) {
		dispatch_park(p, q, req, WAIT_PUSH, timeout);
		return;
	}
	dispatch_reply_push(p, req->id, st, first);
	if (st == CQ_OK)
		dispatch_serve(q);
}

/* Pop or reserve: try at once, else park or fail. */
static void
dispatch_pop(struct peer *p, const Conqueue__Request *req)
{
	const Conqueue__Pop *m = req->pop;
	int64_t timeout = m->has_timeout_ms ? m->timeout_ms : -1;
	struct rqueue *q;
	struct op *o = NULL;
	cq_status st;

	if ((q = dispatch_lookup(p, req->id, m->name, NEED_R, 0)) == NULL)
		return;
	if (m->has_max && (m->max < 1 || m->max > cfg.max_batch)) {
		dispatch_replyf(p, req->id, CQ_INVALID,
		    "max must be 1..%u (max_batch)", cfg.max_batch);
		return;
	}
	if (m->detach && !m->reserve) {
		dispatch_reply_status(
		    p, req->id, CQ_INVALID, "detach applies to reserve only");
		return;
	}
	/* Earlier parked poppers go first. */
	if (q->wq.n[WAIT_POP] > 0)
		st = CQ_EMPTY;
	else
		st = dispatch_do_pop(p, q, m, req->id, &o);
	if (st == CQ_EMPTY && timeout != 0) {
		dispatch_park(p, q, req, WAIT_POP, timeout);
		return;
	}
	if (st != CQ_OK && st != CQ_LIMIT)
		dispatch_reply_pop_fail(p, req->id, st);
}

/* Find a reservation p may act on. */
static struct resv *
dispatch_find_resv(struct peer *p, struct rqueue *q, uint64_t msg_id)
{
	struct hentry *e;
	struct resv *r;

	e = htab_find(
	    &q->resv, htab_hash_u64(msg_id), dispatch_match_resv, &msg_id);
	if (e == NULL)
		return NULL;
	r = dispatch_resv_of(e);
	if (r->released)
		return NULL;
	if (r->peer == p)
		return r;
	if (r->peer == NULL && (r->uid == p->uid || dispatch_is_admin(p)))
		return r;
	return NULL;
}

/* ACK, RELEASE or TOUCH one reserved message. */
static void
dispatch_msg_op(struct peer *p, uint64_t id, const Conqueue__MsgOp *m)
{
	struct rqueue *q;
	struct resv *r;
	uint64_t deadline;
	cq_status st = CQ_OK;

	if ((q = dispatch_lookup(p, id, m->name, NEED_R, 0)) == NULL)
		return;
	if ((r = dispatch_find_resv(p, q, m->msg_id)) == NULL) {
		dispatch_replyf(p, id, CQ_NOTFOUND,
		    "message %llu is not reserved by this connection",
		    (unsigned long long)m->msg_id);
		return;
	}
	switch (m->kind) {
	case CONQUEUE__MSG_OP__KIND__ACK:
		/* Kept if the segment could not be updated: ack again. */
		st = core_confirm(q->core, r->m.slot, r->m.id);
		if (st == CQ_OK || st == CQ_NOTFOUND)
			dispatch_resv_free(r);
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
			deadline =
			    time_mono_ns() + (uint64_t)m->delay_ms * 1000000u;
			core_touch(q->core, r->m.slot, r->m.id, deadline);
			if (lease_timer_set(&r->t, deadline) == 0)
				break;
			/* No timer: back now rather than never. */
		}
		dispatch_return_msg(q, &r->m);
		dispatch_resv_free(r);
		break;
	case CONQUEUE__MSG_OP__KIND__TOUCH:
		deadline =
		    time_mono_ns() +
		    (uint64_t)dispatch_lease_ms(q, m->lease_ms) * 1000000u;
		st = core_touch(q->core, r->m.slot, r->m.id, deadline);
		if (st == CQ_OK && lease_timer_set(&r->t, deadline) != 0)
			st = CQ_SYSTEM;
		break;
	default:
		st = CQ_INVALID;
		break;
	}
	dispatch_reply_status(p, id, st, cq_strstatus(st));
	dispatch_serve(q);
}

/* Change a queue's permission bits. */
static void
dispatch_chmod(struct peer *p, uint64_t id, const Conqueue__Chmod *m)
{
	struct rqueue *q;
	cq_status st;

	if ((q = dispatch_lookup(p, id, m->name, NEED_OWNER, 0)) == NULL)
		return;
	if (m->mode & ~0777u) {
		dispatch_reply_status(
		    p, id, CQ_INVALID, "mode must be within 0777");
		return;
	}
	st = core_set_mode(q->core, m->mode);
	dispatch_reply_status(p, id, st, cq_strstatus(st));
}

/*
 * Change a queue's owner and/or group like chown(2): a new uid only from
 * an admin, a new gid from the owner only to a group it is in. The queue
 * NAME.dlq keeps its own owner.
 */
static void
dispatch_chown(struct peer *p, uint64_t id, const Conqueue__Chown *m)
{
	const struct core_attr *a;
	struct rqueue *q, *dlq;
	uint32_t uid, gid, ouid, ogid;
	char why[200], dname[CQ_NAME_MAX + 8];
	cq_status st;
	int n;

	if ((q = dispatch_lookup(p, id, m->name, NEED_OWNER, 0)) == NULL)
		return;
	if (!m->has_uid && !m->has_gid) {
		dispatch_reply_status(
		    p, id, CQ_INVALID, "chown needs a uid or a gid");
		return;
	}
	a = core_attr(q->core);
	ouid = a->uid;
	ogid = a->gid;
	uid = m->has_uid ? m->uid : ouid;
	gid = m->has_gid ? m->gid : ogid;
	if (uid == UINT32_MAX || gid == UINT32_MAX) {
		dispatch_reply_status(
		    p, id, CQ_INVALID, "uid and gid must be below 4294967295");
		return;
	}
	if (uid != ouid && !dispatch_is_admin(p)) {
		dispatch_replyf(p, id, CQ_DENIED,
		    "only an admin may change the owner of queue '%.*s'",
		    (int)q->namelen, q->name);
		return;
	}
	if (gid != ogid && !dispatch_is_admin(p) && !peer_in_group(p, gid)) {
		dispatch_replyf(p, id, CQ_DENIED,
		    "uid %u is not in group %u (queue '%.*s')", p->uid, gid,
		    (int)q->namelen, q->name);
		return;
	}
	if ((st = registry_chown(q, uid, gid, why, sizeof why)) != CQ_OK) {
		dispatch_reply_status(p, id, st, why);
		return;
	}
	log_info("queue '%.*s': owner %u:%u -> %u:%u (by uid %u)",
	    (int)q->namelen, q->name, ouid, ogid, uid, gid, p->uid);
	/* Dead letters only go to a NAME.dlq of the same owner. */
	n = snprintf(dname, sizeof dname, "%.*s%s", (int)q->namelen, q->name,
	    DLQ_SUFFIX);
	if (n > 0 && (size_t)n < sizeof dname &&
	    (dlq = registry_find(dname, (size_t)n)) != NULL && dlq->uid != uid)
		log_warn(
		    "queue '%s' still belongs to uid %u: dead letters of "
		    "'%.*s' stay in flight until it is given to uid %u too",
		    dname, dlq->uid, (int)q->namelen, q->name, uid);
	dispatch_reply_status(p, id, CQ_OK, NULL);
}

/* Cancel a parked op of the same connection. */
static void
dispatch_cancel(struct peer *p, uint64_t id, const Conqueue__Cancel *m)
{
	struct op *o = dispatch_find_op(p, m->target);

	if (o == NULL || o->kind != OP_PARKED) {
		dispatch_replyf(p, id, CQ_NOTFOUND, "no pending operation %llu",
		    (unsigned long long)m->target);
		return;
	}
	dispatch_reply_status(p, o->id, CQ_CANCELED, "canceled");
	dispatch_op_free(o);
	dispatch_reply_status(p, id, CQ_OK, NULL);
}

/* List the queues the caller may read. */
static void
dispatch_list(struct peer *p, uint64_t id)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__QueueStat *s, **sp;
	struct rqueue *q;
	size_t n = 0;

	s = calloc(registry_count + 1, sizeof *s);
	sp = calloc(registry_count + 1, sizeof *sp);
	if (s == NULL || sp == NULL) {
		free(s);
		free(sp);
		errno = ENOMEM;
		dispatch_reply_status(p, id, CQ_SYSTEM, "out of memory");
		return;
	}
	TAILQ_FOREACH(q, &registry_queues, link)
	{
		if (q->quarantined ? !dispatch_is_admin(p)
		                   : !dispatch_may(p, q, NEED_R))
			continue;
		if (dispatch_fill_stat(q, &s[n]) != CQ_OK) {
			/* Storage went bad since: show it as quarantined. */
			conqueue__queue_stat__init(&s[n]);
			s[n].name.data = (uint8_t *)q->name;
			s[n].name.len = q->namelen;
			s[n].has_quarantined = s[n].quarantined = 1;
		}
		sp[n] = &s[n];
		n++;
	}
	r.id = id;
	r.status = CQ_OK;
	r.n_queues = n;
	r.queues = sp;
	p->ops->send(p, &r);
	free(s);
	free(sp);
}

/* Resident set size in bytes, from /proc. */
static uint64_t
dispatch_rss(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The daemon's own figures. */
static void
dispatch_info(struct peer *p, uint64_t id)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__DaemonInfo i = CONQUEUE__DAEMON_INFO__INIT;

	i.version = (char *)(uintptr_t)PACKAGE_VERSION;
	i.has_uptime_ms = 1;
	i.uptime_ms = (time_mono_ns() - dispatch_start_ns) / 1000000u;
	i.has_connections = 1;
	i.connections = dispatch_connections;
	i.has_queues = 1;
	i.queues = registry_count;
	i.has_total_ops = 1;
	i.total_ops = dispatch_total_ops;
	i.has_storage_bytes = 1;
	i.storage_bytes = registry_storage;
	i.has_rss_bytes = 1;
	i.rss_bytes = dispatch_rss();
	i.has_pid = 1;
	i.pid = (uint32_t)getpid();
	r.id = id;
	r.status = CQ_OK;
	r.info = &i;
	p->ops->send(p, &r);
}

/* An in-flight message set of a peer, by delivery order. */
struct dispatch_back {
	uint64_t seq;
	struct op *o;   /* a hand-off, or */
	struct resv *r; /* an attached reservation */
};

/* Latest delivered first. */
static int
dispatch_back_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct dispatch_back *)a)->seq;
	uint64_t y = ((const struct dispatch_back *)b)->seq;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Give back one hand-off or reservation of a leaving peer. */
static struct rqueue *
dispatch_give_back(struct op *o, struct resv *r)
{
	struct rqueue *q;

	if (o != NULL) {
		q = o->q;
		dispatch_return_handoff(o);
		dispatch_op_free(o);
	} else {
		q = r->q;
		dispatch_return_msg(q, &r->m);
		dispatch_resv_free(r);
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
dispatch_give_back_all(struct dispatch_back *v, size_t k)
{
	struct rqueue *q, **qs = calloc(k ? k : 1, sizeof *qs);
	size_t i, nq = 0;

	qsort(v, k, sizeof *v, dispatch_back_cmp);
	for (i = 0; i < k; i++) {
		q = dispatch_give_back(v[i].o, v[i].r);
		if (qs == NULL)
			dispatch_serve(q); /* out of memory: order may suffer */
		else if (!q->back_mark) {
			q->back_mark = 1;
			qs[nq++] = q;
		}
	}
	for (i = 0; i < nq; i++) {
		qs[i]->back_mark = 0;
		dispatch_serve(qs[i]);
	}
	free(qs);
}

/* Apply the confirm and reject lists of a request. */
static void
dispatch_receipts(struct peer *p, const Conqueue__Request *req)
{
	struct dispatch_back *v;
	struct rqueue *q;
	struct op *o;
	size_t i, k = 0;

	for (i = 0; i < req->n_confirm; i++) {
		o = dispatch_find_op(p, req->confirm[i]);
		if (o == NULL || o->kind != OP_HANDOFF)
			continue;
		q = o->q;
		core_confirm_many(q->core, o->msgs, o->n);
		dispatch_op_free(o);
		dispatch_serve(q);
	}
	if (req->n_reject == 0)
		return;
	/* Several rejects: back in reverse delivery order, as a whole. */
	if ((v = calloc(req->n_reject, sizeof *v)) == NULL) {
		for (i = 0; i < req->n_reject; i++) {
			o = dispatch_find_op(p, req->reject[i]);
			if (o != NULL && o->kind == OP_HANDOFF)
				dispatch_serve(dispatch_give_back(o, NULL));
		}
		return;
	}
	for (i = 0; i < req->n_reject; i++) {
		o = dispatch_find_op(p, req->reject[i]);
		if (o == NULL || o->kind != OP_HANDOFF || o->listed)
			continue; /* unknown, or listed twice */
		o->listed = 1;
		v[k].seq = o->seq;
		v[k++].o = o;
	}
	dispatch_give_back_all(v, k);
	free(v);
}

/* Handle one request; see protocol.txt for the rules applied here. */
void
dispatch_request(struct peer *p, const Conqueue__Request *req)
{
	if (p->gone)
		return;
	dispatch_total_ops++;
	if (!p->greeted) {
		if (req->op_case != CONQUEUE__REQUEST__OP_HELLO ||
		    req->hello->protocol_version != CQ_PROTOCOL_VERSION) {
			dispatch_replyf(p, req->id, CQ_PROTOCOL,
			    "protocol version mismatch: daemon speaks %d",
			    CQ_PROTOCOL_VERSION);
			p->ops->close(p, "bad hello");
			return;
		}
		dispatch_hello(p, req);
		return;
	}
	dispatch_receipts(p, req);
	if (req->op_case == CONQUEUE__REQUEST__OP__NOT_SET) {
		if (req->id != 0) {
			dispatch_reply_status(p, req->id, CQ_PROTOCOL,
			    "request without an operation");
			p->ops->close(p, "request without an operation");
		}
		return;
	}
	if (req->id == 0) {
		dispatch_reply_status(
		    p, 0, CQ_PROTOCOL, "operation with request id 0");
		p->ops->close(p, "operation with request id 0");
		return;
	}
	if (dispatch_find_op(p, req->id) != NULL) {
		dispatch_replyf(p, req->id, CQ_INVALID,
		    "request id %llu is still pending",
		    (unsigned long long)req->id);
		return;
	}
	switch (req->op_case) {
	case CONQUEUE__REQUEST__OP_HELLO:
		dispatch_hello(p, req);
		break;
	case CONQUEUE__REQUEST__OP_CREATE:
		dispatch_create(p, req->id, req->create);
		break;
	case CONQUEUE__REQUEST__OP_NAMED:
		dispatch_named(p, req->id, req->named);
		break;
	case CONQUEUE__REQUEST__OP_PUSH:
		dispatch_push(p, req);
		break;
	case CONQUEUE__REQUEST__OP_POP:
		dispatch_pop(p, req);
		break;
	case CONQUEUE__REQUEST__OP_MSG_OP:
		dispatch_msg_op(p, req->id, req->msg_op);
		break;
	case CONQUEUE__REQUEST__OP_CHMOD:
		dispatch_chmod(p, req->id, req->chmod);
		break;
	case CONQUEUE__REQUEST__OP_CHOWN:
		dispatch_chown(p, req->id, req->chown);
		break;
	case CONQUEUE__REQUEST__OP_CANCEL:
		dispatch_cancel(p, req->id, req->cancel);
		break;
	case CONQUEUE__REQUEST__OP_LIST:
		dispatch_list(p, req->id);
		break;
	case CONQUEUE__REQUEST__OP_PING:
		dispatch_reply_status(p, req->id, CQ_OK, NULL);
		break;
	case CONQUEUE__REQUEST__OP_INFO:
		dispatch_info(p, req->id);
		break;
	default:
		dispatch_reply_status(
		    p, req->id, CQ_PROTOCOL, "unknown operation");
		p->ops->close(p, "unknown operation");
		break;
	}
}

/* Give back every hand-off and attached reservation of p. */
static void
dispatch_return_all(struct peer *p)
{
	struct dispatch_back *v;
	struct hentry *e;
	struct resv *r;
	size_t n = p->opsby_id.n, k = 0, i = 0;

	for (r = TAILQ_FIRST(&p->resv); r != NULL; r = TAILQ_NEXT(r, plink))
		n++;
	if ((v = calloc(n ? n : 1, sizeof *v)) == NULL) {
		/* Out of memory: give back in any order, nothing is lost. */
		while ((e = htab_drain_next(&p->opsby_id, &i)) != NULL)
			dispatch_serve(
			    dispatch_give_back((struct op *)e, NULL));
		while ((r = TAILQ_LAST(&p->resv, resv_list)) != NULL)
			dispatch_serve(dispatch_give_back(NULL, r));
		return;
	}
	for (e = htab_next(&p->opsby_id, &i, NULL); e != NULL;
	     e = htab_next(&p->opsby_id, &i, e)) {
		v[k].seq = ((struct op *)e)->seq;
		v[k++].o = (struct op *)e;
	}
	TAILQ_FOREACH(r, &p->resv, plink)
	{
		v[k].seq = r->seq;
		v[k++].r = r;
	}
	dispatch_give_back_all(v, k);
	free(v);
}

/* The peer is leaving: unpark, return hand-offs and reservations. */
void
dispatch_peer_gone(struct peer *p)
{
	struct hentry *e, *next;
	size_t i;

	if (p->gone)
		return;
	p->gone = 1;
	dispatch_connections--;
	/*
	 * Unpark everything first: serving the queues below must not hand
	 * this peer the very messages it is giving back.
	 */
	i = 0;
	for (e = htab_next(&p->opsby_id, &i, NULL); e != NULL; e = next) {
		next = htab_next(&p->opsby_id, &i, e);
		if (((struct op *)e)->kind == OP_PARKED)
			dispatch_op_free((struct op *)e);
	}
	dispatch_return_all(p);
	htab_free(&p->opsby_id);
}

/* SIGTERM: every parked op gets CQ_DISCONNECTED now. */
void
dispatch_shutdown(void)
{
	struct rqueue *q;
	struct waiter *w;
	struct op *o;
	int k;

	TAILQ_FOREACH(q, &registry_queues, link)
	{
		for (k = 0; k < 2; k++) {
			while ((w = waiters_first(&q->wq, k)) != NULL) {
				o = (struct op *)(void *)((char *)w -
				                          offsetof(
				                              struct op, w));
				dispatch_reply_status(o->peer, o->id,
				    CQ_DISCONNECTED, "daemon shutting down");
				dispatch_op_free(o);
			}
		}
	}
}

/*
 * At exit: free the detached reservations (their messages stay in flight
 * in the segments and come back at the next start).
 */
void
dispatch_free_all(void)
{
	struct rqueue *q;
	struct hentry *e;
	size_t i;

	TAILQ_FOREACH(q, &registry_queues, link)
	{
		i = 0;
		while ((e = htab_drain_next(&q->resv, &i)) != NULL)
			dispatch_resv_free(dispatch_resv_of(e));
	}
	dispatch_pool_free(&dispatch_ops);
	dispatch_pool_free(&dispatch_resvs);
}
