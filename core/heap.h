/* heap.h - the message heap of layout 3: records in 64-byte chunks. */

#ifndef CQ_CORE_HEAP_H
#define CQ_CORE_HEAP_H

#include <stdint.h>

#include "core/layout.h"

/* Chunks of the record of a len-byte message (header + payload). */
static inline uint32_t
heap_rec_chunks(uint32_t len)
{
	return (uint32_t)(((uint64_t)sizeof(struct queue_slot) + len +
	                      QUEUE_CHUNK - 1) /
	                  QUEUE_CHUNK);
}

/*
 * Give free slot s a record for a len-byte message (lock held): chunks
 * found first-fit from the hint, their pages backed, marked used, bytes
 * raised, idx[s] set. CQ_OK; CQ_FULL when max_bytes would be passed or no
 * run of free chunks is long enough (q->full_bytes set: a waiter needs
 * more than one slot's worth); CQ_LIMIT when no memory backs the pages
 * (nothing changed); CQ_CORRUPT when the derived words are beyond repair.
 */
cq_status heap_alloc(struct core_queue *q, uint32_t s, uint32_t len);

/*
 * Slot s leaves the queue for good, or the heap_alloc of a slot that was
 * never committed is undone: its chunks and bytes (lock held).
 */
void heap_free(struct core_queue *q, uint32_t s);

/* Recovery: forget every record (the bitmap, bytes and hint). */
void heap_reset(struct core_queue *q);

/*
 * Recovery: claim the record of live slot s, whose checksum passed: 1 if
 * its idx entry carries the record's length and names chunks inside the
 * heap, none of them claimed yet (then they are, and bytes counts it), else 0 (the caller
 * drops the slot: two live slots never share a chunk).
 */
int heap_claim(struct core_queue *q, uint32_t s);

#endif /* CQ_CORE_HEAP_H */
