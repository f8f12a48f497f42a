/* direct.c - push and pop on a mapped segment (the waiting: direct_wait.c). */

#include <string.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/direct_wait.h"
#include "core/guard.h"
#include "core/heap.h"
#include "core/layout.h"
#include "core/lock.h"
#include "core/slot.h"

/* Return 1 if q's layout carries the direct words. */
int
direct_usable(struct core_queue *q)
{
	return DIRECT_USABLE(q);
}

/*
 * The segment failed a check under the lock: repair it as the next locker
 * after a crash would (recovery keeps only what validates), or quarantine
 * it. Either way the op that found it reports CQ_CORRUPT.
 */
static cq_status
direct_damaged(struct core_queue *q)
{
	if (lock_recover(q) != 0) {
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
	}
	return CQ_CORRUPT;
}

/* Attempt a push under the lock. */
static cq_status
direct_push_attempt(struct core_queue *q, struct direct_op *op)
{
	cq_status st;

	st = queue_push_held(
	    q, op->iov, op->n, op->band, op->front, op->first_id);
	if (st == CQ_CORRUPT)
		return direct_damaged(q);
	op->moved = (uint32_t)op->n;
	return st;
}

/* After a committed push: wake poppers, tell whether to ring. */
static void
direct_after_push(struct core_queue *q, uint32_t n, int *ring)
{
	struct queue_hdr *hdr = q->hdr;

	direct_wake_word(&hdr->push_seq, &hdr->pop_waiters, direct_wake_n(n));
	if (ring != NULL)
		*ring = __atomic_load_n(
		            &hdr->daemon_poppers, __ATOMIC_SEQ_CST) != 0;
}

/* Run a push and what follows its commit (under the caller's guard). */
static cq_status
direct_push_go(
    struct core_queue *q, struct direct_op *op, int64_t timeout_ms, int *ring)
{
	cq_status st;

	if ((st = direct_run(q, op, timeout_ms)) == CQ_OK)
		direct_after_push(q, op->moved, ring);
	return st;
}

/* Push n messages, all or nothing, waiting for room. */
cq_status
direct_push_many(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, int64_t timeout_ms, uint64_t *first_id, int *ring)
{
	struct direct_op op;
	cq_status st;

	if (ring != NULL)
		*ring = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (!DIRECT_USABLE(q) || band >= q->bands || n == 0 || iov == NULL)
		return CQ_INVALID;
	/* More than the capacity could never go in: fail instead of waiting. */
	if (n > q->capacity)
		return CQ_INVALID;
	if ((st = slot_iov_check(q, iov, n)) != CQ_OK)
		return st;
	op.side = DIRECT_SIDE_PUSH; /* only what the push attempt reads */
	op.attempt = direct_push_attempt;
	op.iov = iov;
	op.n = n;
	op.band = band;
	op.front = front;
	op.first_id = first_id;
	return GUARD_STATUS(q, direct_push_go(q, &op, timeout_ms, ring));
}

/* Push one message, waiting for room. */
cq_status
direct_push(struct core_queue *q, const void *buf, size_t len, unsigned band,
    int front, int64_t timeout_ms, uint64_t *id, int *ring)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	return direct_push_many(q, &iov, 1, band, front, timeout_ms, id, ring);
}

/*
 * Take up to op->max messages of the best band under the lock: copy each
 * out, check its checksum on the copy (what we hand over is what was
 * checked), then commit head and give the slots back to the free stack.
 */
static cq_status
direct_take_attempt(struct core_queue *q, struct direct_op *op)
{
	struct queue_hdr *hdr = q->hdr;
	const struct queue_slot *sl;
	struct direct_msg *m;
	uint64_t h = 0, t = 0, k, i, top;
	uint32_t cap = q->capacity, s, len, crc;
	size_t off = 0;
	int b;

	for (b = (int)q->bands - 1; b >= 0; b--) {
		h = DIRECT_LOAD(&hdr->head[b]);
		t = DIRECT_LOAD(&hdr->tail[b]);
		if (t - h > cap)
			return direct_damaged(q);
		if (t != h)
			break;
	}
	if (b < 0)
		return DIRECT_LOAD(&hdr->closed) ? CQ_CLOSED : CQ_EMPTY;
	if (DIRECT_LOAD(&hdr->paused))
		return CQ_EMPTY;
	k = t - h < op->max ? t - h : op->max;
	top = DIRECT_LOAD(&hdr->free_top);
	if (top > cap || k > cap - top)
		return direct_damaged(q);
	for (i = 0; i < k; i++) {
		s = DIRECT_LOAD(&q->ring[(size_t)b * cap + (h + i) % cap]);
		if (s >= cap)
			return direct_damaged(q);
		sl = queue_slot_at(q, s);
		m = &op->m[i];
		m->id = DIRECT_LOAD(&sl->id);
		m->enqueued_ns = DIRECT_LOAD(&sl->enqueued_ns);
		m->deliveries = DIRECT_LOAD(&sl->deliveries) + 1;
		m->band = DIRECT_LOAD(&sl->band);
		len = DIRECT_LOAD(&sl->len);
		crc = DIRECT_LOAD(&sl->crc);
		if (m->id == 0 || len > q->max_size || m->band != (uint32_t)b)
			return direct_damaged(q);
		if (len > op->cap - off) {
			if (i > 0)
				break;
			m->len = len; /* the caller grows its buffer */
			return CQ_TOOBIG;
		}
		memcpy(op->buf + off, sl->data, len);
		if (slot_crc(m->id, m->band, len, op->buf + off) != crc)
			return direct_damaged(q);
		m->len = len;
		m->off = (uint32_t)off;
		off += len;
	}
	k = i;
	CORE_HOOK("direct.pop.before_commit");
	__atomic_store_n(&hdr->head[b], h + k, __ATOMIC_RELEASE);
	CORE_HOOK("direct.pop.after_commit");
	/* Derived state: recovery rebuilds the free stack if we die here. */
	for (i = 0; i < k; i++) {
		s = DIRECT_LOAD(&q->ring[(size_t)b * cap + (h + i) % cap]);
		if (s < cap) {
			q->free[top++] = s;
			heap_free(q, s);
		}
	}
	__atomic_store_n(&hdr->free_top, top, __ATOMIC_RELAXED);
	hdr->total_popped += k;
	op->moved = (uint32_t)k;
	return CQ_OK;
}

/* Run a pop and what follows its commit (under the caller's guard). */
static cq_status
direct_pop_go(
    struct core_queue *q, struct direct_op *op, int64_t timeout_ms, int *ring)
{
	struct queue_hdr *hdr = q->hdr;
	cq_status st;

	if ((st = direct_run(q, op, timeout_ms)) != CQ_OK)
		return st;
	/* A push_many sleeper may need more slots than we freed. */
	direct_wake_word(&hdr->pop_seq, &hdr->push_waiters,
	    DIRECT_LOAD(&hdr->many_waiters) != 0 ? DIRECT_ALL_WAITERS
	                                         : direct_wake_n(op->moved));
	if (ring != NULL)
		*ring = __atomic_load_n(
		            &hdr->daemon_pushers, __ATOMIC_SEQ_CST) != 0;
	return CQ_OK;
}

/* Pop 1..max messages of one band, waiting for one. */
cq_status
direct_pop_many(struct core_queue *q, void *buf, size_t cap,
    struct direct_msg *m, size_t max, size_t *n, int64_t timeout_ms, int *ring)
{
	struct direct_op op;
	cq_status st;

	*n = 0;
	if (ring != NULL)
		*ring = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (!DIRECT_USABLE(q) || q->imm.serial || max == 0 || m == NULL ||
	    (buf == NULL && cap > 0))
		return CQ_INVALID;
	op.side = DIRECT_SIDE_POP; /* only what the pop attempt reads */
	op.n = 1;
	op.attempt = direct_take_attempt;
	op.buf = buf;
	op.cap = cap;
	op.m = m;
	op.max = max;
	if ((st = GUARD_STATUS(q, direct_pop_go(q, &op, timeout_ms, ring))) ==
	    CQ_OK)
		*n = op.moved;
	return st;
}

/* Pop one message, waiting for it. */
cq_status
direct_pop(struct core_queue *q, void *buf, size_t cap, struct direct_msg *m,
    int64_t timeout_ms, int *ring)
{
	size_t n;

	return direct_pop_many(q, buf, cap, m, 1, &n, timeout_ms, ring);
}

/* Whether the daemon has parked waiters of either side. */
static int
direct_daemon_parked(struct core_queue *q, int pushers_too)
{
	return __atomic_load_n(&q->hdr->daemon_poppers, __ATOMIC_SEQ_CST) !=
	           0 ||
	       (pushers_too && __atomic_load_n(&q->hdr->daemon_pushers,
	                           __ATOMIC_SEQ_CST) != 0);
}

/* Close, then wake (under the caller's guard). */
static cq_status
direct_close_go(struct core_queue *q, int *ring)
{
	cq_status st;

	if ((st = core_close(q)) != CQ_OK)
		return st;
	direct_wake_go(q, DIRECT_CLOSED, 0);
	if (ring != NULL)
		*ring = direct_daemon_parked(q, 1);
	return CQ_OK;
}

/* Close the queue and wake every waiter of both paths. */
cq_status
direct_close(struct core_queue *q, int *ring)
{
	if (ring != NULL)
		*ring = 0;
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	return GUARD_STATUS(q, direct_close_go(q, ring));
}

/* Resume, then wake (under the caller's guard). */
static cq_status
direct_resume_go(struct core_queue *q, int *ring)
{
	cq_status st;

	if ((st = core_set_paused(q, 0)) != CQ_OK)
		return st;
	direct_wake_go(q, DIRECT_RESUMED, 0);
	if (ring != NULL)
		*ring = direct_daemon_parked(q, 0);
	return CQ_OK;
}

/* Pause or resume pops; resume wakes every popper of both paths. */
cq_status
direct_set_paused(struct core_queue *q, int paused, int *ring)
{
	if (ring != NULL)
		*ring = 0;
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	if (paused)
		return core_set_paused(q, 1);
	return GUARD_STATUS(q, direct_resume_go(q, ring));
}

/* Waiting poppers of both paths (a stale count included until recovery). */
static uint32_t
direct_poppers(struct core_queue *q)
{
	return (DIRECT_LOAD(&q->hdr->pop_waiters) & DIRECT_COUNT_MASK) +
	       DIRECT_LOAD(&q->hdr->daemon_poppers);
}

/* GAsyncQueue length: queued minus waiting poppers. */
int64_t
direct_length(struct core_queue *q)
{
	return (int64_t)core_length(q) -
	       (int64_t)GUARD_VALUE(q, direct_poppers(q), 0);
}

/* core_stat plus the waiters of both paths (under the caller's guard). */
static cq_status
direct_stat_go(struct core_queue *q, struct direct_stat *st)
{
	cq_status r;

	if ((r = core_stat(q, &st->core)) != CQ_OK)
		return r;
	st->waiting_poppers = direct_poppers(q);
	st->waiting_pushers =
	    (DIRECT_LOAD(&q->hdr->push_waiters) & DIRECT_COUNT_MASK) +
	    DIRECT_LOAD(&q->hdr->daemon_pushers);
	st->length = (int64_t)st->core.length - (int64_t)st->waiting_poppers;
	return CQ_OK;
}

/* core_stat plus the waiters of both paths. */
cq_status
direct_stat(struct core_queue *q, struct direct_stat *st)
{
	memset(st, 0, sizeof *st);
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	return GUARD_STATUS(q, direct_stat_go(q, st));
}
