/* browse.c - queued messages in place: peek, purge, remove by id. */

/*
 * Commit points (core/layout.h):
 *
 * peek changes nothing.
 *
 * purge publishes its intent with one 8-byte store: CORE_PURGE_BIT set in
 * the paused word. From then on the purge has happened: each band's head
 * moves to its tail, then the bit is cleared. Killed in between, the next
 * locker's recovery (lock_recover) sees the bit, finishes the purge of the
 * bands left (nobody could push meanwhile: we held the lock) and clears
 * the bit, so every band is purged or none is.
 *
 * remove takes one message out of the middle of its band, keeping the
 * order of the others: the shorter side moves one cell over it and the
 * head (or tail) store closes the band. The store over the removed
 * message's cell is the commit: before it the message is queued; after
 * it the band holds a duplicate cell instead, which recovery drops as it
 * drops every duplicate (the first copy stays, in order), ending where
 * the head/tail store would have. A message at the head or the tail needs
 * no move: the head or tail store is the commit.
 */

#include "core/guard.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/ring.h"
#include "core/slot.h"

/* Call fn for up to max queued messages in pop order, under the lock. */
static cq_status
browse_peek(struct core_queue *q, size_t max, core_browse_fn *fn, void *arg,
    size_t *np)
{
	struct queue_hdr *hdr = q->hdr;
	struct core_msg m;
	uint64_t h, t, p;
	size_t n = 0;
	uint32_t s;
	cq_status st;
	int b, stop = 0;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (b = (int)q->bands - 1; b >= 0 && !stop && n < max; b--) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > q->capacity)
			continue; /* never trusted: the next pop recovers */
		for (p = h; p != t && n < max; p++) {
			s = *ring_cell(q, (unsigned)b, p);
			/* A bad slot is never shown; the next pop drops it. */
			if (s >= q->capacity || !slot_ok(q, s, b))
				continue;
			slot_msg(q, s, &m);
			n++;
			if (fn(arg, &m) != 0) {
				stop = 1;
				break;
			}
		}
	}
	if (n == 0)
		st = hdr->closed && ring_len(q) == 0 ? CQ_CLOSED : CQ_EMPTY;
	lock_release(q);
	*np = n;
	return st;
}

/* core_peek_msgs under a SIGBUS guard (fn's reads of m->data too). */
cq_status
core_peek_msgs(struct core_queue *q, size_t max, core_browse_fn *fn,
    void *arg, size_t *n)
{
	*n = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (max == 0 || fn == NULL)
		return CQ_INVALID;
	return GUARD_STATUS(q, browse_peek(q, max, fn, arg, n));
}

/*
 * Move every band's head to its tail, freeing the slots (lock held, the
 * intent bit set). lock_recover does the same to a purge killed here.
 */
static void
browse_purge_bands(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, p;
	uint32_t s;
	unsigned b;

	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > q->capacity)
			continue; /* recovery quarantines such a band */
		for (p = h; p != t; p++) {
			s = *ring_cell(q, b, p);
			if (s < q->capacity && hdr->free_top < q->capacity) {
				q->free[hdr->free_top++] = s;
				heap_free(q, s);
			}
		}
		__atomic_store_n(&hdr->head[b], t, __ATOMIC_RELEASE);
		if (b == 0)
			CORE_HOOK("purge.middle");
	}
}

/* Drop every queued message, one commit (the intent bit). */
static cq_status
browse_purge(struct core_queue *q, uint64_t *count)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t n, paused;
	cq_status st;

	if (count != NULL)
		*count = 0;
	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	n = ring_len(q);
	paused = hdr->paused;
	if (n > 0 && (paused & CORE_PURGE_BIT) == 0) {
		CORE_HOOK("purge.before_commit");
		__atomic_store_n(
		    &hdr->paused, paused | CORE_PURGE_BIT, __ATOMIC_RELEASE);
		CORE_HOOK("purge.after_commit");
		browse_purge_bands(q);
		__atomic_store_n(&hdr->paused, paused, __ATOMIC_RELEASE);
	}
	lock_release(q);
	if (count != NULL)
		*count = n;
	return CQ_OK;
}

/* core_purge under a SIGBUS guard (*count 0 unless CQ_OK). */
cq_status
core_purge(struct core_queue *q, uint64_t *count)
{
	if (q->corrupt)
		return CQ_CORRUPT;
	return GUARD_STATUS(q, browse_purge(q, count));
}

/*
 * Take position p (slot s) out of band b, [h, t): the shorter side moves
 * one cell over it, then the head or tail store closes the band.
 */
static void
browse_cut(struct core_queue *q, unsigned b, uint64_t h, uint64_t t,
    uint64_t p, uint32_t s)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t i;

	CORE_HOOK("remove.before_commit");
	if (p - h <= t - 1 - p) {
		/* The ones before it move back one cell, newest first. */
		for (i = p; i != h; i--) {
			*ring_cell(q, b, i) = *ring_cell(q, b, i - 1);
			if (i == p)
				CORE_HOOK("remove.after_commit");
		}
		__atomic_store_n(&hdr->head[b], h + 1, __ATOMIC_RELEASE);
		if (p == h)
			CORE_HOOK("remove.after_commit");
	} else {
		/* The ones after it move up one cell, oldest first. */
		for (i = p; i + 1 != t; i++) {
			*ring_cell(q, b, i) = *ring_cell(q, b, i + 1);
			if (i == p)
				CORE_HOOK("remove.after_commit");
		}
		__atomic_store_n(&hdr->tail[b], t - 1, __ATOMIC_RELEASE);
		if (p + 1 == t)
			CORE_HOOK("remove.after_commit");
	}
	CORE_HOOK("remove.closed");
	if (hdr->free_top < q->capacity) {
		q->free[hdr->free_top++] = s;
		heap_free(q, s);
	}
}

/* Remove the queued message id (a linear search of the bands). */
static cq_status
browse_remove(struct core_queue *q, uint64_t id)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, p;
	uint32_t s;
	cq_status st;
	unsigned b;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = CQ_NOTFOUND;
	for (b = 0; b < q->bands && st == CQ_NOTFOUND; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > q->capacity)
			continue;
		for (p = h; p != t; p++) {
			s = *ring_cell(q, b, p);
			if (s >= q->capacity || queue_slot_at(q, s)->id != id)
				continue;
			browse_cut(q, b, h, t, p, s);
			st = CQ_OK;
			break;
		}
	}
	lock_release(q);
	return st;
}

/* core_remove under a SIGBUS guard. */
cq_status
core_remove(struct core_queue *q, uint64_t id)
{
	if (q->corrupt)
		return CQ_CORRUPT;
	if (id == 0)
		return CQ_NOTFOUND;
	return GUARD_STATUS(q, browse_remove(q, id));
}
