/* snap.c - every live message at once, and putting them back (durability). */

/*
 * core_scan shows the daemon's durable log (daemon/durable.c) every message
 * the queue holds, queued or in flight, under one hold of the lock, so the
 * set is one state of the queue: no operation is half in it.
 *
 * core_restore refills a fresh segment from that log after a reboot: one
 * message at a time at the tail of its band, with its old id, enqueue time
 * and delivery count. Each is an ordinary push (the tail store commits it),
 * so a restore killed half-way leaves a valid queue holding a prefix; the
 * daemon's restore marker makes the next start redo it from an empty one.
 */

#include <string.h>

#include "core/guard.h"
#include "core/lock.h"
#include "core/ring.h"
#include "core/slot.h"

/* Fill lv from slot s (whose checksum passed). */
static void
snap_live(struct core_queue *q, uint32_t s, uint64_t pos,
    struct core_live *lv)
{
	const struct queue_slot *sl = queue_slot_at(q, s);

	lv->id = sl->id;
	lv->pos = pos;
	lv->band = sl->band;
	lv->enqueued_ns = sl->enqueued_ns;
	lv->deliveries = sl->deliveries;
	lv->len = sl->len;
	lv->data = sl->data;
}

/* core_scan under the lock. */
static cq_status
snap_scan(struct core_queue *q, core_scan_fn *fn, void *arg,
    uint64_t *next_id)
{
	struct queue_hdr *hdr = q->hdr;
	struct core_live lv;
	uint64_t h, t, p;
	uint32_t s;
	unsigned b;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > q->capacity)
			continue; /* never trusted: the next pop recovers */
		for (p = h; p != t; p++) {
			s = *ring_cell(q, b, p);
			if (s >= q->capacity || !slot_ok(q, s, b))
				continue; /* never delivered: never kept */
			snap_live(q, s, p, &lv);
			if (fn(arg, &lv) != 0)
				goto out;
		}
	}
	/* In flight: back at the head of its band if the daemon dies. */
	for (s = 0; s < q->capacity; s++) {
		if (q->inflight[s].id == 0 || !slot_ok(q, s, -1) ||
		    queue_slot_at(q, s)->id != q->inflight[s].id)
			continue;
		snap_live(q, s, 0, &lv);
		lv.pos = hdr->head[lv.band] - 1;
		lv.in_flight = 1;
		if (fn(arg, &lv) != 0)
			goto out;
	}
	st = CQ_OK;
out:
	*next_id = hdr->next_id;
	lock_release(q);
	return st;
}

/* Call fn for every live message (queued, then in flight), under the lock. */
cq_status
core_scan(struct core_queue *q, core_scan_fn *fn, void *arg, uint64_t *next_id)
{
	*next_id = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	return GUARD_STATUS(q, snap_scan(q, fn, arg, next_id));
}

/* core_restore under the lock. */
static cq_status
snap_restore(struct core_queue *q, const struct core_live *lv)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_slot *sl;
	uint64_t t, top;
	uint32_t s;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	top = hdr->free_top;
	if (top == 0 || top > q->capacity) {
		lock_release(q);
		return top == 0 ? CQ_FULL : CQ_CORRUPT;
	}
	s = q->free[top - 1];
	if (s >= q->capacity) {
		lock_release(q);
		return CQ_CORRUPT;
	}
	sl = queue_slot_at(q, s);
	sl->id = lv->id;
	sl->enqueued_ns = lv->enqueued_ns;
	sl->len = lv->len;
	sl->band = lv->band;
	sl->deliveries = lv->deliveries;
	if (lv->len > 0)
		memcpy(sl->data, lv->data, lv->len);
	sl->crc = slot_crc(lv->id, lv->band, lv->len, sl->data);
	t = hdr->tail[lv->band];
	*ring_cell(q, lv->band, t) = s;
	__atomic_store_n(&hdr->tail[lv->band], t + 1, __ATOMIC_RELEASE);
	hdr->free_top = top - 1;
	if (hdr->next_id <= lv->id)
		hdr->next_id = lv->id + 1;
	hdr->total_pushed++;
	lock_release(q);
	return CQ_OK;
}

/* Put one message back at the tail of its band, with its id (restore). */
cq_status
core_restore(struct core_queue *q, const struct core_live *lv)
{
	if (q->corrupt)
		return CQ_CORRUPT;
	if (lv->band >= q->bands || lv->id == 0 || lv->len > q->max_size ||
	    (lv->len > 0 && lv->data == NULL))
		return CQ_INVALID;
	return GUARD_STATUS(q, snap_restore(q, lv));
}

/* Raise next_id to at least id (ids stay increasing across a restore). */
cq_status
core_set_next_id(struct core_queue *q, uint64_t id)
{
	cq_status st;

	if (q->corrupt)
		return CQ_CORRUPT;
	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if (q->hdr->next_id < id)
		__atomic_store_n(&q->hdr->next_id, id, __ATOMIC_RELEASE);
	lock_release(q);
	return CQ_OK;
}
