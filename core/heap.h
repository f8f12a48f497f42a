/* heap.h - the message heap of layout 3: records in 64-byte chunks. */

#ifndef CQ_CORE_HEAP_H
#define CQ_CORE_HEAP_H

#include <stdint.h>

#include "conqueue/conqueue.h"
#include "core/layout.h"

/* The bits [b, b + n) of one bitmap word (b + n <= 64, n >= 1). */
static inline uint64_t
heap_mask(uint64_t b, uint64_t n)
{
	return (n == 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1) << b;
}

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
 * found next-fit from the hint, their pages backed, marked used, bytes
 * raised, idx[s] set. CQ_OK; CQ_FULL when max_bytes would be passed or no
 * run of free chunks is long enough (q->full_bytes set: a waiter needs
 * more than one slot's worth); CQ_LIMIT when no memory backs the pages
 * (nothing changed); CQ_CORRUPT when the derived words are beyond repair.
 */
cq_status heap_alloc_slow(struct core_queue *q, uint32_t s, uint32_t len);

static inline cq_status
heap_alloc(struct core_queue *q, uint32_t s, uint32_t len)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t bytes = hdr->bytes, hint = hdr->heap_hint, mask, w, b;
	uint32_t n = heap_rec_chunks(len);

	/*
	 * The common case, in a few instructions: the record fits at the
	 * hint (where the last one was freed, or right after the last one
	 * allocated), inside one backed page. Anything else, and every
	 * check of the derived words, is heap_alloc_slow's.
	 */
	if (bytes == 0)
		hint = 0;
	w = hint / 64;
	b = hint % 64;
	if (bytes <= q->imm.max_bytes && len <= q->imm.max_bytes - bytes &&
	    hint < q->heap_chunks && b + n <= 64 &&
	    (q->back[w / 64] & (UINT64_C(1) << (w % 64))) != 0) {
		mask = heap_mask(b, n);
		if ((q->map[w] & mask) == 0) {
			q->map[w] |= mask;
			hdr->bytes = bytes + len;
			hdr->heap_hint =
			    hint + n < q->heap_chunks ? hint + n : 0;
			__atomic_store_n(&q->idx[s],
			    hint | (uint64_t)len << 32, __ATOMIC_RELAXED);
			return CQ_OK;
		}
	}
	return heap_alloc_slow(q, s, len);
}

/*
 * Slot s leaves the queue for good, or the heap_alloc of a slot that was
 * never committed is undone: its chunks and bytes (lock held).
 */
void heap_free_slow(struct core_queue *q, uint32_t s);

static inline void
heap_free(struct core_queue *q, uint32_t s)
{
	uint64_t r = __atomic_load_n(&q->idx[s], __ATOMIC_RELAXED), c, mask;
	uint32_t len = (uint32_t)(r >> 32), n = heap_rec_chunks(len);
	struct queue_hdr *hdr = q->hdr;

	c = (uint32_t)r;
	/* The common case: an entry the allocator wrote, in one word. */
	if (len <= q->max_size && c < q->heap_chunks && c % 64 + n <= 64 &&
	    hdr->bytes >= len) {
		mask = heap_mask(c % 64, n);
		q->map[c / 64] &= ~mask;
		hdr->bytes -= len;
		hdr->heap_hint = c; /* the next record goes here: warm */
		return;
	}
	heap_free_slow(q, s);
}

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
