/* ring.h - positions and lengths of the bands' rings (core/ only). */

#ifndef CQ_CORE_RING_H
#define CQ_CORE_RING_H

#include "core/layout.h"

/* Ring cell of band b at counter position p. */
static inline uint32_t *
ring_cell(struct core_queue *q, unsigned b, uint64_t p)
{
	return &q->ring[(size_t)b * q->capacity + p % q->capacity];
}

/* Queued messages in band b (0 if the header breaks head <= tail). */
static inline uint64_t
ring_band_len(struct core_queue *q, unsigned b)
{
	uint64_t h = __atomic_load_n(&q->hdr->head[b], __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&q->hdr->tail[b], __ATOMIC_ACQUIRE);

	return t - h > q->capacity ? 0 : t - h;
}

/* Queued messages in every band. */
static inline uint64_t
ring_len(struct core_queue *q)
{
	uint64_t n = 0;
	unsigned b;

	for (b = 0; b < q->bands; b++)
		n += ring_band_len(q, b);
	return n;
}

#endif /* CQ_CORE_RING_H */
