/* heap.c - the message heap of layout 3: records in 64-byte chunks. */

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/common.h"
#include "core/guard.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/ring.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Bitmap words of the heap (one per page). */
static inline uint64_t
heap_words(const struct core_queue *q)
{
	return q->heap_chunks / QUEUE_PAGE_CHUNKS;
}

/* Set (on) or clear bits [from, from + n) of m. */
static inline void
heap_bits(uint64_t *m, uint64_t from, uint64_t n, int on)
{
	uint64_t b, k, mask;

	for (; n > 0; from += k, n -= k) {
		b = from % 64;
		k = 64 - b < n ? 64 - b : n;
		mask = heap_mask(b, k);
		if (on)
			m[from / 64] |= mask;
		else
			m[from / 64] &= ~mask;
	}
}

/* Whether any bit of [from, from + n) of m is set. */
static int
heap_any(const uint64_t *m, uint64_t from, uint64_t n)
{
	uint64_t b, k;

	for (; n > 0; from += k, n -= k) {
		b = from % 64;
		k = 64 - b < n ? 64 - b : n;
		if (m[from / 64] & heap_mask(b, k))
			return 1;
	}
	return 0;
}

/*
 * The first run of n free chunks starting at or after chunk pos and
 * ending before chunk lim: its first chunk, or UINT64_MAX. Whole words
 * are skipped at a time.
 */
static uint64_t
heap_find(struct core_queue *q, uint64_t pos, uint64_t lim, uint64_t n)
{
	uint64_t nc = lim, end, w, m;

	while (pos + n <= nc) {
		/* The next free chunk at or after pos. */
		w = pos / 64;
		m = ~q->map[w] & (~UINT64_C(0) << (pos % 64));
		if (m == 0) {
			pos = (w + 1) * 64;
			continue;
		}
		pos = w * 64 + (uint64_t)__builtin_ctzll(m);
		if (pos + n > nc)
			break;
		/* Where the free run from pos ends (or n chunks on). */
		for (end = pos;;) {
			w = end / 64;
			m = q->map[w] & (~UINT64_C(0) << (end % 64));
			if (m != 0) {
				end = w * 64 + (uint64_t)__builtin_ctzll(m);
				break;
			}
			end = (w + 1) * 64;
			if (end >= pos + n)
				break;
		}
		if (end >= pos + n)
			return pos;
		pos = end; /* a used chunk: look on after it */
	}
	return UINT64_MAX;
}

/*
 * The first run of n (< 64) free chunks inside the word of chunk pos, at
 * or after pos: its first chunk, or UINT64_MAX. Bit i of r ends up set
 * when bits i .. i + n - 1 of the word are all free (shift-and by
 * doubling steps; the bits below pos are masked off first).
 */
static inline uint64_t
heap_find_in_word(const struct core_queue *q, uint64_t pos, uint64_t n)
{
	uint64_t w = pos / 64, r = ~q->map[w] & (~UINT64_C(0) << (pos % 64)),
	         k = 1, s;

	while (k < n && r != 0) {
		s = k < n - k ? k : n - k;
		r &= r >> s;
		k += s;
	}
	/* A run must not reach past bit 63 (the shifts brought in zeros). */
	return r != 0 ? w * 64 + (uint64_t)__builtin_ctzll(r) : UINT64_MAX;
}

/*
 * Back the pages of chunks [c, c + n) with memory before anything is
 * written there, so a full tmpfs is CQ_LIMIT now, never a SIGBUS later.
 * A page whose back bit is set is backed (bits are set after the
 * populate and cleared before the page is given back).
 */
static cq_status
heap_back(struct core_queue *q, uint64_t c, uint64_t n)
{
	uint64_t p = c / QUEUE_PAGE_CHUNKS, last = (c + n - 1) / QUEUE_PAGE_CHUNKS,
	         run;

	/* The common case: one page, backed. */
	if (p == last && (q->back[p / 64] & (UINT64_C(1) << (p % 64))))
		return CQ_OK;
	for (; p <= last; p += run) {
		if (q->back[p / 64] & (UINT64_C(1) << (p % 64))) {
			run = 1;
			continue;
		}
		for (run = 1; p + run <= last &&
		              !(q->back[(p + run) / 64] &
		                  (UINT64_C(1) << ((p + run) % 64)));
		     run++)
			;
		if (madvise(q->heap + p * QUEUE_PAGE, run * QUEUE_PAGE,
		        MADV_POPULATE_WRITE) != 0) {
			/* A kernel before 5.14 cannot tell: write it. */
			if (errno != EINVAL)
				return CQ_LIMIT;
			memset(q->heap + p * QUEUE_PAGE, 0, 1);
		}
		CORE_HOOK("heap.backed");
		heap_bits(q->back, p, run, 1);
	}
	return CQ_OK;
}

/* Allocate a record for slot s (see core/heap.h): the general case. */
cq_status
heap_alloc_slow(struct core_queue *q, uint32_t s, uint32_t len)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t n = heap_rec_chunks(len), c, hint, bytes;
	cq_status st;

	bytes = hdr->bytes;
	/* Derived words gone wrong: rebuild them rather than give up. */
	if (bytes > q->imm.max_bytes || hdr->heap_hint >= q->heap_chunks) {
		if (lock_recover(q) != 0)
			return CQ_CORRUPT;
		bytes = hdr->bytes;
	}
	if (len > q->imm.max_bytes - bytes) {
		q->full_bytes = 1;
		return CQ_FULL;
	}
	/*
	 * Next fit from where the last record ended (an empty heap starts
	 * over at 0, so a queue that drains stays in its first pages): in a
	 * FIFO the free chunks are right there, or at the start once the
	 * records wrapped. Only a full heap is searched through.
	 */
	hint = bytes == 0 ? 0 : hdr->heap_hint;
	c = n < 64 ? heap_find_in_word(q, hint, n) : UINT64_MAX;
	if (c == UINT64_MAX)
		c = heap_find(q, hint, q->heap_chunks, n);
	if (c == UINT64_MAX && hint != 0)
		c = heap_find(q, 0, hint + n - 1 < q->heap_chunks
		                        ? hint + n - 1
		                        : q->heap_chunks,
		    n);
	if (c == UINT64_MAX) {
		q->full_bytes = 1;
		return CQ_FULL;
	}
	if ((st = heap_back(q, c, n)) != CQ_OK)
		return st;
	heap_bits(q->map, c, n, 1);
	hdr->bytes = bytes + len;
	hdr->heap_hint = c + n < q->heap_chunks ? c + n : 0;
	__atomic_store_n(&q->idx[s], c | (uint64_t)len << 32, __ATOMIC_RELAXED);
	return CQ_OK;
}

/* Give back chunks [c, c + n) and len payload bytes. */
static void
heap_release(struct core_queue *q, uint64_t c, uint64_t n, uint64_t len)
{
	struct queue_hdr *hdr = q->hdr;

	if (n == 0 || c >= q->heap_chunks || n > q->heap_chunks - c)
		return; /* not a record the allocator made */
	heap_bits(q->map, c, n, 0);
	hdr->bytes = hdr->bytes > len ? hdr->bytes - len : 0;
	/* The next record goes where this one was: its lines are warm. */
	hdr->heap_hint = c;
}

/*
 * Slot s leaves for good (or a heap_alloc for it is undone): free its
 * record, as its idx entry describes it (a length the allocator wrote,
 * never the record's own, which a flipped bit may have changed).
 */
void
heap_free_slow(struct core_queue *q, uint32_t s)
{
	uint64_t r = __atomic_load_n(&q->idx[s], __ATOMIC_RELAXED);
	uint32_t len = (uint32_t)(r >> 32);

	if (len > q->max_size)
		return; /* not an entry the allocator wrote */
	heap_release(q, (uint32_t)r, heap_rec_chunks(len), len);
}

/* Recovery starts from an empty heap. */
void
heap_reset(struct core_queue *q)
{
	memset(q->map, 0, heap_words(q) * sizeof(uint64_t));
	q->hdr->bytes = 0;
	q->hdr->heap_hint = 0;
}

/* Recovery: claim live slot s's record. */
int
heap_claim(struct core_queue *q, uint32_t s)
{
	uint64_t r = __atomic_load_n(&q->idx[s], __ATOMIC_RELAXED);
	uint32_t len = queue_slot_at(q, s)->len;
	uint64_t c = (uint32_t)r, n = heap_rec_chunks(len);

	if ((uint32_t)(r >> 32) != len || c >= q->heap_chunks ||
	    n > q->heap_chunks - c || heap_any(q->map, c, n))
		return 0;
	heap_bits(q->map, c, n, 1);
	q->hdr->bytes += len;
	return 1;
}

/*
 * Give back every backed page no record uses (lock held): clear its back
 * bit, then MADV_REMOVE it (a crash in between leaves a backed page
 * marked unbacked: backed again, harmlessly, when next used).
 */
static cq_status
heap_trim_locked(struct core_queue *q, uint64_t *pages)
{
	uint64_t words = heap_words(q), p, run, w;

	for (p = 0; p < words; p += run) {
		w = q->back[p / 64];
		if (w == 0 && p % 64 == 0) {
			run = 64;
			continue;
		}
		run = 1;
		if (!(w & (UINT64_C(1) << (p % 64))) || q->map[p] != 0)
			continue;
		while (p + run < words && q->map[p + run] == 0 &&
		       (q->back[(p + run) / 64] &
		           (UINT64_C(1) << ((p + run) % 64))))
			run++;
		heap_bits(q->back, p, run, 0);
		CORE_HOOK("trim.before_remove");
		if (madvise(q->heap + p * QUEUE_PAGE, run * QUEUE_PAGE,
		        MADV_REMOVE) != 0) {
			heap_bits(q->back, p, run, 1); /* still backed */
			continue;
		}
		*pages += run;
	}
	return CQ_OK;
}

/* core_trim under the lock. */
static cq_status
heap_trim(struct core_queue *q, uint64_t *pages)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = heap_trim_locked(q, pages);
	lock_release(q);
	return st;
}

/* Give unused heap pages back to the system. */
cq_status
core_trim(struct core_queue *q, uint64_t *pages)
{
	cq_status st;

	q->trimmed = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	st = GUARD_STATUS(q, heap_trim(q, &q->trimmed));
	if (pages != NULL)
		*pages = q->trimmed;
	return st;
}
