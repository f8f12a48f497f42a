/* flight.c - messages in flight: confirm, return, touch, iterate. */

#include <string.h>

#include "common/common.h"

#include "core/guard.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/ring.h"

/* Find in-flight entry (slot, id) or NULL. */
static struct queue_inflight *
flight_find(struct core_queue *q, uint32_t slot, uint64_t id)
{
	if (slot >= q->capacity || id == 0 || q->inflight[slot].id != id)
		return NULL;
	return &q->inflight[slot];
}

/* Delete in-flight message (slot, id) under the lock. */
static cq_status
flight_confirm_locked(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_inflight *e;

	if ((e = flight_find(q, slot, id)) == NULL)
		return CQ_NOTFOUND;
	if (hdr->free_top >= q->capacity)
		return CQ_CORRUPT;
	CORE_HOOK("confirm.before_commit");
	__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	CORE_HOOK("confirm.after_commit");
	q->free[hdr->free_top++] = slot;
	heap_free(q, slot);
	__atomic_store_n(&hdr->in_flight, hdr->in_flight - 1, __ATOMIC_RELAXED);
	hdr->total_popped++;
	return CQ_OK;
}

/*
 * Delete the n in-flight messages of m under one lock; each is its own
 * commit, as if confirmed one by one.
 */
static cq_status
flight_confirm_many(struct core_queue *q, const struct core_msg *m, size_t n)
{
	cq_status st, worst = CQ_OK;
	size_t i;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (i = 0; i < n; i++) {
		st = flight_confirm_locked(q, m[i].slot, m[i].id);
		if (st == CQ_CORRUPT) {
			worst = st;
			break;
		}
		if (st != CQ_OK)
			worst = st;
	}
	lock_release(q);
	return worst;
}

/* core_confirm_many under a SIGBUS guard. */
cq_status
core_confirm_many(struct core_queue *q, const struct core_msg *m, size_t n)
{
	return GUARD_STATUS(q, flight_confirm_many(q, m, n));
}

/* core_confirm: a confirm of one (the same commit and status). */
cq_status
core_confirm(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct core_msg m;

	m.slot = slot;
	m.id = id;
	return GUARD_STATUS(q, flight_confirm_many(q, &m, 1));
}

/* Put in-flight entry e (slot s) back at the head of its band. */
static cq_status
flight_return_locked(struct core_queue *q, uint32_t s, struct queue_inflight *e)
{
	struct queue_hdr *hdr = q->hdr;
	uint32_t b = queue_slot_at(q, s)->band;
	uint64_t h;

	if (b >= q->bands)
		return CQ_CORRUPT;
	h = hdr->head[b];
	*ring_cell(q, b, h - 1) = s;
	CORE_HOOK("return.before_commit");
	__atomic_store_n(&hdr->head[b], h - 1, __ATOMIC_RELEASE);
	CORE_HOOK("return.after_commit");
	/* Were we killed here, recovery clears it: the ring wins. */
	__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&hdr->in_flight, hdr->in_flight - 1, __ATOMIC_RELAXED);
	return CQ_OK;
}

/* Return an in-flight message to the head of its band. */
static cq_status
flight_return(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct queue_inflight *e;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if ((e = flight_find(q, slot, id)) == NULL)
		st = CQ_NOTFOUND;
	else if (q->imm.max_deliveries != 0 &&
	         queue_slot_at(q, slot)->deliveries >= q->imm.max_deliveries)
		st = CQ_LIMIT;
	else
		st = flight_return_locked(q, slot, e);
	lock_release(q);
	return st;
}

/* core_return under a SIGBUS guard. */
cq_status
core_return(struct core_queue *q, uint32_t slot, uint64_t id)
{
	return GUARD_STATUS(q, flight_return(q, slot, id));
}

/* Set a new lease deadline on an in-flight message. */
static cq_status
flight_touch(
    struct core_queue *q, uint32_t slot, uint64_t id, uint64_t deadline_ns)
{
	struct queue_inflight *e;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if ((e = flight_find(q, slot, id)) == NULL)
		st = CQ_NOTFOUND;
	else
		__atomic_store_n(
		    &e->deadline_ns, deadline_ns, __ATOMIC_RELAXED);
	lock_release(q);
	return st;
}

/* core_touch under a SIGBUS guard. */
cq_status
core_touch(
    struct core_queue *q, uint32_t slot, uint64_t id, uint64_t deadline_ns)
{
	return GUARD_STATUS(q, flight_touch(q, slot, id, deadline_ns));
}

/* Delayed messages in flight (under the lock): a pass over the table. */
uint64_t
flight_delayed_count(struct core_queue *q)
{
	uint64_t n = 0;
	uint32_t s;

	for (s = 0; s < q->capacity; s++)
		if (q->inflight[s].id != 0 &&
		    q->inflight[s].owner == CORE_OWNER_DELAYED)
			n++;
	return n;
}

/*
 * Queue delayed message (slot, id) at the tail of its band: the ring cell,
 * then the commit (tail), then the entry is cleared (were we killed
 * between, recovery clears it: the ring wins). Its deliveries stay 0.
 */
static cq_status
flight_deliver(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_inflight *e;
	uint64_t t;
	uint32_t b;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if ((e = flight_find(q, slot, id)) == NULL ||
	    e->owner != CORE_OWNER_DELAYED) {
		lock_release(q);
		return CQ_NOTFOUND;
	}
	if ((b = queue_slot_at(q, slot)->band) >= q->bands) {
		lock_release(q);
		return CQ_CORRUPT;
	}
	t = hdr->tail[b];
	if (t - hdr->head[b] >= q->capacity) {
		lock_release(q);
		return CQ_CORRUPT;
	}
	/*
	 * Its age (oldest_age, a time to live) counts from now, when it
	 * becomes visible; not checksummed, and harmless if a crash keeps
	 * the store without the commit.
	 */
	queue_slot_at(q, slot)->enqueued_ns = time_real_ns();
	*ring_cell(q, b, t) = slot;
	CORE_HOOK("deliver.before_commit");
	__atomic_store_n(&hdr->tail[b], t + 1, __ATOMIC_RELEASE);
	CORE_HOOK("deliver.after_commit");
	__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&hdr->in_flight, hdr->in_flight - 1, __ATOMIC_RELAXED);
	lock_release(q);
	return CQ_OK;
}

/* core_deliver_delayed under a SIGBUS guard. */
cq_status
core_deliver_delayed(struct core_queue *q, uint32_t slot, uint64_t id)
{
	return GUARD_STATUS(q, flight_deliver(q, slot, id));
}

/* In-flight id of slot s: the sort key of return_all. */
static uint64_t
flight_key(struct core_queue *q, uint32_t s)
{
	return q->inflight[s].id;
}

/* Sift entry i down a min-heap of slots ordered by in-flight id. */
static void
flight_sift(struct core_queue *q, uint32_t *a, size_t i, size_t n)
{
	uint32_t tmp;
	size_t c;

	for (; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && flight_key(q, a[c + 1]) < flight_key(q, a[c]))
			c++;
		if (flight_key(q, a[i]) <= flight_key(q, a[c]))
			break;
		tmp = a[i];
		a[i] = a[c];
		a[c] = tmp;
	}
}

/* Sort slots by descending in-flight id (heapsort: no allocation). */
static void
flight_sort(struct core_queue *q, uint32_t *a, size_t n)
{
	uint32_t tmp;
	size_t i;

	for (i = n / 2; i-- > 0;)
		flight_sift(q, a, i, n);
	for (i = n; i-- > 1;) {
		tmp = a[0];
		a[0] = a[i];
		a[i] = tmp;
		flight_sift(q, a, 0, i);
	}
}

/*
 * Return every in-flight message. Newest first, each to the head of its
 * band, so each band ends up in id order; a crash half-way leaves older
 * ones in flight and rerunning finishes in the same order.
 */
static cq_status
flight_return_all(struct core_queue *q)
{
	cq_status st;
	size_t n = 0, i;
	uint32_t s;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (s = 0; s < q->capacity; s++) {
		/* Delayed messages stay until due (the daemon re-arms them). */
		if (q->inflight[s].id == 0 ||
		    q->inflight[s].owner == CORE_OWNER_DELAYED)
			continue;
		q->order[n++] = s;
	}
	flight_sort(q, q->order, n);
	for (i = 0; i < n && st == CQ_OK; i++) {
		s = q->order[i];
		st = flight_return_locked(q, s, &q->inflight[s]);
	}
	lock_release(q);
	return st;
}

/* core_return_all under a SIGBUS guard. */
cq_status
core_return_all(struct core_queue *q)
{
	return GUARD_STATUS(q, flight_return_all(q));
}

/* Iterate in-flight entries (a lock-free snapshot, entry by entry). */
static int
flight_next(struct core_queue *q, uint32_t *cursor, struct core_msg *m,
    uint64_t *owner, uint64_t *deadline_ns)
{
	const struct queue_slot *sl;
	struct queue_inflight *e;
	uint64_t id;
	uint32_t s;

	for (s = *cursor; s < q->capacity; s++) {
		e = &q->inflight[s];
		if ((id = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE)) == 0)
			continue;
		sl = queue_slot_at(q, s);
		m->slot = s;
		m->band = sl->band;
		m->id = id;
		m->enqueued_ns = sl->enqueued_ns;
		m->deliveries = sl->deliveries;
		m->len = sl->len <= q->max_size ? sl->len : q->max_size;
		m->data = sl->data;
		if (owner != NULL)
			*owner = __atomic_load_n(&e->owner, __ATOMIC_RELAXED);
		if (deadline_ns != NULL)
			*deadline_ns =
			    __atomic_load_n(&e->deadline_ns, __ATOMIC_RELAXED);
		*cursor = s + 1;
		return 1;
	}
	*cursor = q->capacity;
	return 0;
}

/* core_inflight_next under a SIGBUS guard (0: the end, or quarantined). */
int
core_inflight_next(struct core_queue *q, uint32_t *cursor, struct core_msg *m,
    uint64_t *owner, uint64_t *deadline_ns)
{
	return GUARD_VALUE(q, flight_next(q, cursor, m, owner, deadline_ns), 0);
}
