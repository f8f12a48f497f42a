/* snap.c - every live message at once, and putting them back (durability). */

/*
 * core_scan shows the daemon's durable log (daemon/durable.c) every message
 * the queue holds, queued, in flight or delayed, under one hold of the
 * lock, so the set is one state of the queue: no operation is half in it.
 *
 * core_restore refills a fresh segment from that log after a reboot: one
 * message at a time, with its old id, enqueue time and delivery count. A
 * queued one is an ordinary push at the tail of its band (the tail store
 * commits it), a delayed one an ordinary delayed push (the in-flight
 * entry's id commits it), so a restore killed half-way leaves a valid
 * queue holding a prefix; the daemon's restore marker makes the next
 * start redo it from an empty one (doc/durability.md).
 */

#include <string.h>

#include "core/guard.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/ring.h"
#include "core/slot.h"

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
	memset(&lv, 0, sizeof lv);
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > q->capacity)
			continue; /* never trusted: the next pop recovers */
		for (p = h; p != t; p++) {
			s = *ring_cell(q, b, p);
			if (s >= q->capacity || !slot_ok(q, s, b))
				continue; /* never delivered: never kept */
			slot_msg(q, s, &lv.m);
			lv.pos = p;
			if (fn(arg, &lv) != 0)
				goto out;
		}
	}
	/* In flight: back at the head of its band if the daemon dies. */
	for (s = 0; s < q->capacity; s++) {
		if (q->inflight[s].id == 0 || !slot_ok(q, s, -1) ||
		    queue_slot_at(q, s)->id != q->inflight[s].id)
			continue;
		slot_msg(q, s, &lv.m);
		lv.pos = 0;
		lv.due_ns = 0;
		lv.in_flight = 1;
		if (q->inflight[s].owner == CORE_OWNER_DELAYED) {
			lv.in_flight = 0;
			/* Due at 0 would read as "not delayed": 1 ns is due. */
			lv.due_ns = q->inflight[s].deadline_ns
			                ? q->inflight[s].deadline_ns
			                : 1;
		}
		if (fn(arg, &lv) != 0)
			goto out;
	}
out:
	*next_id = hdr->next_id;
	lock_release(q);
	return CQ_OK;
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
	struct queue_inflight *e;
	uint64_t t, top;
	uint32_t s, band = lv->m.band, len = lv->m.len;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	top = hdr->free_top;
	if (top == 0 || top > q->capacity || q->free[top - 1] >= q->capacity) {
		lock_release(q);
		return top == 0 ? CQ_FULL : CQ_CORRUPT;
	}
	s = q->free[top - 1];
	/* A restore may need more than max_bytes had room for: CQ_FULL. */
	if ((st = heap_alloc(q, s, len)) != CQ_OK) {
		lock_release(q);
		return st;
	}
	sl = queue_slot_at(q, s);
	sl->id = lv->m.id;
	sl->enqueued_ns = lv->m.enqueued_ns;
	sl->len = len;
	sl->band = band;
	sl->deliveries = lv->m.deliveries;
	if (len > 0)
		memcpy(sl->data, lv->m.data, len);
	sl->crc = slot_crc(lv->m.id, band, len, sl->data);
	if (lv->due_ns != 0) {
		e = &q->inflight[s];
		e->owner = CORE_OWNER_DELAYED;
		e->deadline_ns = lv->due_ns;
		__atomic_store_n(&e->id, lv->m.id, __ATOMIC_RELEASE);
		__atomic_store_n(
		    &hdr->in_flight, hdr->in_flight + 1, __ATOMIC_RELAXED);
	} else {
		t = hdr->tail[band];
		*ring_cell(q, band, t) = s;
		__atomic_store_n(&hdr->tail[band], t + 1, __ATOMIC_RELEASE);
	}
	hdr->free_top = top - 1;
	if (hdr->next_id <= lv->m.id)
		hdr->next_id = lv->m.id + 1;
	hdr->total_pushed++;
	lock_release(q);
	return CQ_OK;
}

/* Put one message back (queued at its band's tail, or delayed), with its id. */
cq_status
core_restore(struct core_queue *q, const struct core_live *lv)
{
	if (q->corrupt)
		return CQ_CORRUPT;
	if (lv->m.band >= q->bands || lv->m.id == 0 ||
	    lv->m.id >= UINT64_MAX / 2 || lv->m.len > q->max_size ||
	    (lv->m.len > 0 && lv->m.data == NULL))
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
	if (id >= UINT64_MAX / 2)
		return CQ_INVALID;
	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if (q->hdr->next_id < id)
		__atomic_store_n(&q->hdr->next_id, id, __ATOMIC_RELEASE);
	lock_release(q);
	return CQ_OK;
}

/* core_change_sig's reads (no lock: every word is one aligned load). */
static uint64_t
snap_sig(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t x = __atomic_load_n(&hdr->next_id, __ATOMIC_ACQUIRE);
	unsigned b;

	for (b = 0; b < q->bands; b++) {
		x = x * 1000003u + __atomic_load_n(&hdr->head[b], __ATOMIC_ACQUIRE);
		x = x * 1000003u + __atomic_load_n(&hdr->tail[b], __ATOMIC_ACQUIRE);
	}
	x = x * 1000003u + __atomic_load_n(&hdr->in_flight, __ATOMIC_ACQUIRE);
	x = x * 1000003u + __atomic_load_n(&hdr->total_popped, __ATOMIC_ACQUIRE);
	x = x * 1000003u + __atomic_load_n(&hdr->closed, __ATOMIC_ACQUIRE);
	x = x * 1000003u + __atomic_load_n(&hdr->paused, __ATOMIC_ACQUIRE);
	x = x * 1000003u + __atomic_load_n(&hdr->mode, __ATOMIC_ACQUIRE);
	x = x * 1000003u + __atomic_load_n(&hdr->owner, __ATOMIC_ACQUIRE);
	return x;
}

/* A value that changes with every committed operation (almost surely). */
uint64_t
core_change_sig(struct core_queue *q)
{
	if (q->corrupt)
		return 0;
	return GUARD_VALUE(q, snap_sig(q), 0);
}
