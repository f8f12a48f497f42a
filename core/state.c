/* state.c - the queue's state words, owner, mode and counters. */

#include <string.h>

#include "core/lock.h"
#include "core/ring.h"

/* Set a mutable header word under the lock. */
static cq_status
state_set_word(struct core_queue *q, uint64_t *word, uint64_t v)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	lock_release(q);
	return CQ_OK;
}

/* Close the queue (idempotent). */
cq_status
core_close(struct core_queue *q)
{
	return state_set_word(q, &q->hdr->closed, 1);
}

/* Return 1 if the queue is closed. */
int
core_is_closed(struct core_queue *q)
{
	return __atomic_load_n(&q->hdr->closed, __ATOMIC_ACQUIRE) != 0;
}

/* Pause or resume pops. */
cq_status
core_set_paused(struct core_queue *q, int paused)
{
	return state_set_word(q, &q->hdr->paused, paused != 0);
}

/* Change the queue permission bits. */
cq_status
core_set_mode(struct core_queue *q, uint32_t mode)
{
	cq_status st;

	if ((mode & ~07777u) != 0)
		return CQ_INVALID;
	if ((st = state_set_word(q, &q->hdr->mode, mode)) == CQ_OK)
		q->attr.mode = mode;
	return st;
}

/* Change the queue's owner and group, published together. */
cq_status
core_set_owner(struct core_queue *q, uint32_t uid, uint32_t gid)
{
	cq_status st;

	/* (uint32_t)-1 is chown(2)'s "unchanged", never an owner. */
	if (uid == UINT32_MAX || gid == UINT32_MAX)
		return CQ_INVALID;
	st = state_set_word(
	    q, &q->hdr->owner, ~((uint64_t)uid << 32 | (uint64_t)gid));
	if (st == CQ_OK) {
		q->attr.uid = uid;
		q->attr.gid = gid;
	}
	return st;
}

/* Count one dead-lettered message. */
cq_status
core_count_dead_letter(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	q->hdr->dead_lettered++;
	lock_release(q);
	return CQ_OK;
}

/* Fill st with state and counters. */
cq_status
core_stat(struct core_queue *q, struct core_stat *st)
{
	struct queue_hdr *hdr = q->hdr;
	const struct queue_slot *sl;
	cq_status r;
	uint64_t oldest = 0;
	uint32_t s;
	unsigned b;

	if ((r = lock_take(q, q->lock_ms)) != CQ_OK)
		return r;
	memset(st, 0, sizeof *st);
	st->attr = q->attr;
	st->attr.mode = (uint32_t)hdr->mode;
	layout_owner(hdr->owner, &st->attr.uid, &st->attr.gid);
	st->length = ring_len(q);
	st->in_flight = hdr->in_flight;
	/*
	 * Both totals are derived from committed state, so they stay exact
	 * across crashes: every push took the next id (recovery raises
	 * next_id past every live id), and whatever was pushed and is
	 * neither queued nor in flight has left the queue for good.
	 */
	st->total_pushed = hdr->next_id - 1;
	st->total_popped = st->total_pushed - st->length - st->in_flight;
	st->dead_lettered = hdr->dead_lettered;
	for (b = 0; b < q->bands; b++) {
		if (ring_band_len(q, b) == 0)
			continue;
		s = *ring_cell(q, b, hdr->head[b]);
		if (s >= q->capacity)
			continue;
		sl = queue_slot_at(q, s);
		if (oldest == 0 || sl->enqueued_ns < oldest)
			oldest = sl->enqueued_ns;
	}
	st->oldest_enqueued_ns = oldest;
	st->closed = hdr->closed != 0;
	st->paused = hdr->paused != 0;
	lock_release(q);
	return CQ_OK;
}

/* Attributes, with the current mode and owner. */
const struct core_attr *
core_attr(struct core_queue *q)
{
	q->attr.mode =
	    (uint32_t)__atomic_load_n(&q->hdr->mode, __ATOMIC_RELAXED);
	layout_owner(__atomic_load_n(&q->hdr->owner, __ATOMIC_ACQUIRE),
	    &q->attr.uid, &q->attr.gid);
	return &q->attr;
}

/* Free slots right now, without the lock. */
uint32_t
core_free_slots(struct core_queue *q)
{
	uint64_t used =
	    ring_len(q) + __atomic_load_n(&q->hdr->in_flight, __ATOMIC_RELAXED);

	return used >= q->capacity ? 0 : q->capacity - (uint32_t)used;
}

/* Queued messages, without the lock. */
uint64_t
core_length(struct core_queue *q)
{
	return ring_len(q);
}
