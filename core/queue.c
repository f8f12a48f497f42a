/* queue.c - push and pop: messages into the rings and out into flight. */

#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/guard.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/ring.h"
#include "core/slot.h"

void (*core_crash_hook)(const char *site);

/* Set the lock timeout of every later operation on q. */
void
core_set_lock_timeout(struct core_queue *q, int64_t ms)
{
	q->lock_ms = ms < 0 ? 0 : ms;
}

/* Write a message into free slot s (not yet published), pushed at now. */
static void
queue_fill_slot(struct core_queue *q, uint32_t s, uint64_t id, unsigned band,
    const void *buf, uint32_t len, uint64_t now)
{
	struct queue_slot *sl = queue_slot_at(q, s);

	sl->id = id;
	sl->enqueued_ns = now;
	sl->len = len;
	sl->band = band;
	sl->deliveries = 0;
	if (len > 0)
		memcpy(sl->data, buf, len);
	sl->crc = slot_crc(id, band, len, sl->data);
}

/*
 * Give the n free slots below top records for iov's messages: all or none
 * (a failure gives back what it took). The slots stay free until the
 * caller commits.
 */
static cq_status
queue_alloc_n(struct core_queue *q, uint64_t top, const struct iovec *iov,
    size_t n)
{
	cq_status st;
	uint32_t s;
	size_t i;

	for (i = 0; i < n; i++) {
		s = q->free[top - 1 - i];
		if (s >= q->capacity)
			st = CQ_CORRUPT;
		else
			st = heap_alloc(q, s, (uint32_t)iov[i].iov_len);
		if (st != CQ_OK) {
			while (i-- > 0)
				heap_free(q, q->free[top - 1 - i]);
			return st;
		}
	}
	return CQ_OK;
}

/* Push n messages to band under the lock, with one commit. */
static cq_status
queue_push_locked(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, id, top, now;
	uint32_t s;
	size_t i;

	cq_status st;

	q->full_bytes = 0;
	if (hdr->closed)
		return CQ_CLOSED;
	top = hdr->free_top;
	/* A derived word gone wrong: rebuild it rather than give up. */
	if (top > q->capacity && lock_recover(q) == 0)
		top = hdr->free_top;
	if (top > q->capacity)
		return CQ_CORRUPT;
	if (n > top)
		return CQ_FULL;
	if ((st = queue_alloc_n(q, top, iov, n)) != CQ_OK)
		return st;
	id = hdr->next_id;
	h = hdr->head[band];
	t = hdr->tail[band];
	now = time_real_ns(); /* one clock read for the whole batch */
	for (i = 0; i < n; i++) {
		s = q->free[top - 1 - i]; /* checked by queue_alloc_n */
		queue_fill_slot(q, s, id + i, band, iov[i].iov_base,
		    (uint32_t)iov[i].iov_len, now);
		*ring_cell(q, band, front ? h - n + i : t + i) = s;
		if (i + 1 < n)
			CORE_HOOK("push.slot_written");
	}
	CORE_HOOK("push.before_commit");
	if (front)
		__atomic_store_n(&hdr->head[band], h - n, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&hdr->tail[band], t + n, __ATOMIC_RELEASE);
	CORE_HOOK("push.after_commit");
	hdr->free_top = top - n;
	hdr->next_id = id + n;
	hdr->total_pushed += n;
	if (first_id != NULL)
		*first_id = id;
	return CQ_OK;
}

/* Push n messages under the lock. */
static cq_status
queue_push(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_push_locked(q, iov, n, band, front, first_id);
	lock_release(q);
	return st;
}

/* Push one message. */
cq_status
core_push(struct core_queue *q, const void *buf, size_t len, unsigned band,
    int front, uint64_t *id)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	return core_push_many(q, &iov, 1, band, front, id);
}

/* Push n messages, all or nothing. */
cq_status
core_push_many(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	cq_status st;

	if (q->corrupt)
		return CQ_CORRUPT;
	if (band >= q->bands || n == 0 || (iov == NULL))
		return CQ_INVALID;
	if ((st = slot_iov_check(q, iov, n)) != CQ_OK)
		return st;
	return GUARD_STATUS(q, queue_push(q, iov, n, band, front, first_id));
}

/*
 * Push one message straight into flight, owned by CORE_OWNER_DELAYED with
 * due_ns (CLOCK_REALTIME) as its deadline: it holds a slot but no popper
 * sees it until core_deliver_delayed queues it. The slot is written, then
 * the entry's owner and deadline, then the commit: the entry's id.
 */
static cq_status
queue_push_delayed_locked(struct core_queue *q, const void *buf, uint32_t len,
    unsigned band, uint64_t due_ns, uint64_t *idp, uint32_t *slotp)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_inflight *e;
	uint64_t id, top;
	uint32_t s;
	cq_status st;

	q->full_bytes = 0;
	if (hdr->closed)
		return CQ_CLOSED;
	top = hdr->free_top;
	if (top > q->capacity && lock_recover(q) == 0)
		top = hdr->free_top;
	if (top > q->capacity)
		return CQ_CORRUPT;
	if (top == 0)
		return CQ_FULL;
	if ((s = q->free[top - 1]) >= q->capacity)
		return CQ_CORRUPT;
	if ((st = heap_alloc(q, s, len)) != CQ_OK)
		return st;
	id = hdr->next_id;
	queue_fill_slot(q, s, id, band, buf, len, time_real_ns());
	e = &q->inflight[s];
	e->owner = CORE_OWNER_DELAYED;
	e->deadline_ns = due_ns;
	CORE_HOOK("delay.before_commit");
	__atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
	CORE_HOOK("delay.after_commit");
	hdr->free_top = top - 1;
	hdr->next_id = id + 1;
	hdr->total_pushed++;
	__atomic_store_n(&hdr->in_flight, hdr->in_flight + 1, __ATOMIC_RELAXED);
	*idp = id;
	*slotp = s;
	return CQ_OK;
}

/* queue_push_delayed_locked under the lock. */
static cq_status
queue_push_delayed(struct core_queue *q, const void *buf, uint32_t len,
    unsigned band, uint64_t due_ns, uint64_t *id, uint32_t *slot)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_push_delayed_locked(q, buf, len, band, due_ns, id, slot);
	lock_release(q);
	return st;
}

/* Push one delayed message (see core/queue.h). */
cq_status
core_push_delayed(struct core_queue *q, const void *buf, size_t len,
    unsigned band, uint64_t due_ns, uint64_t *id, uint32_t *slot)
{
	struct iovec iov;
	cq_status st;

	if (q->corrupt)
		return CQ_CORRUPT;
	if (band >= q->bands || id == NULL || slot == NULL)
		return CQ_INVALID;
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	if ((st = slot_iov_check(q, &iov, 1)) != CQ_OK)
		return st;
	return GUARD_STATUS(q, queue_push_delayed(q, buf, (uint32_t)len, band,
	                           due_ns, id, slot));
}

/*
 * Drop the message at the head of band b (position h, slot s): its slot
 * failed its checksum, so it must never be delivered. Advancing the head
 * is the commit, as for a pop; the free stack and the counters are
 * derived (recovery frees the slot if we die before the push).
 */
static void
queue_drop(struct core_queue *q, unsigned b, uint64_t h, uint32_t s)
{
	struct queue_hdr *hdr = q->hdr;

	__atomic_store_n(&hdr->head[b], h + 1, __ATOMIC_RELEASE);
	if (hdr->free_top < q->capacity)
		q->free[hdr->free_top++] = s;
	heap_free(q, s);
	hdr->corrupt_dropped++;
	q->dropped++;
}

/* Move up to max messages of the best band into flight, one commit. */
static cq_status
queue_pop_locked(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m, size_t max, size_t *np)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_slot *sl;
	struct queue_inflight *e;
	uint64_t h = 0, k = 0;
	uint32_t s;
	size_t i;
	int b;

again:
	for (b = (int)q->bands - 1; b >= 0; b--) {
		if ((k = ring_band_len(q, (unsigned)b)) > 0)
			break;
	}
	if (b < 0)
		return hdr->closed ? CQ_CLOSED : CQ_EMPTY;
	if (hdr->paused)
		return CQ_EMPTY;
	if (q->imm.serial) {
		/* Delayed messages hold no lease: they do not block. */
		if (hdr->in_flight > flight_delayed_count(q))
			return CQ_EMPTY;
		max = 1;
	}
	if (k > max)
		k = max;
	h = hdr->head[b];
	for (i = 0; i < k; i++) {
		s = *ring_cell(q, (unsigned)b, h + i);
		if (s >= q->capacity) {
			if (i == 0)
				return CQ_CORRUPT;
			break;
		}
		/* Checked on every delivery: a bad slot never leaves. */
		if (!slot_ok(q, s, b)) {
			if (i > 0)
				break; /* the next pop drops it */
			queue_drop(q, (unsigned)b, h, s);
			goto again;
		}
		e = &q->inflight[s];
		e->owner = owner;
		e->deadline_ns = deadline_ns;
		__atomic_store_n(
		    &e->id, queue_slot_at(q, s)->id, __ATOMIC_RELAXED);
	}
	k = i;
	CORE_HOOK("pop.before_commit");
	__atomic_store_n(&hdr->head[b], h + k, __ATOMIC_RELEASE);
	CORE_HOOK("pop.after_commit");
	for (i = 0; i < k; i++) {
		s = *ring_cell(q, (unsigned)b, h + i);
		sl = queue_slot_at(q, s);
		sl->deliveries++;
		m[i].slot = s;
		m[i].band = sl->band;
		m[i].id = sl->id;
		m[i].enqueued_ns = sl->enqueued_ns;
		m[i].deliveries = sl->deliveries;
		m[i].len = sl->len <= q->max_size ? sl->len : q->max_size;
		m[i].data = sl->data;
	}
	__atomic_store_n(&hdr->in_flight, hdr->in_flight + k, __ATOMIC_RELAXED);
	*np = (size_t)k;
	return CQ_OK;
}

/* Pop 1..max messages under the lock. */
static cq_status
queue_pop(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m, size_t max, size_t *n)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_pop_locked(q, owner, deadline_ns, m, max, n);
	lock_release(q);
	return st;
}

/* Pop one message into flight. */
cq_status
core_pop(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m)
{
	size_t n;

	return core_pop_many(q, owner, deadline_ns, m, 1, &n);
}

/* Pop 1..max messages of one band into flight. */
cq_status
core_pop_many(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m, size_t max, size_t *n)
{
	*n = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (max == 0 || m == NULL)
		return CQ_INVALID;
	return GUARD_STATUS(q, queue_pop(q, owner, deadline_ns, m, max, n));
}

/*
 * The direct path's push (core/direct.c), which takes the lock itself so
 * that a failed attempt and its waiter registration share one critical
 * section. Arguments are checked by the caller as core_push_many does.
 */
cq_status
queue_push_held(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	return queue_push_locked(q, iov, n, band, front, first_id);
}
