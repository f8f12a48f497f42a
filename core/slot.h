/* slot.h - a slot's checksum and whether a slot holds a whole message. */

#ifndef CQ_CORE_SLOT_H
#define CQ_CORE_SLOT_H

#include <sys/uio.h>

#include <stddef.h>
#include <string.h>

#include "common/common.h"
#include "core/layout.h"

/*
 * Checksum a slot's identity and payload: id, band and len (native byte
 * order, packed), then the data. A CRC continues across calls, so one
 * call over the 16 packed bytes gives what three calls over the fields
 * gave: the stored checksums do not change.
 */
static inline uint32_t
slot_crc(uint64_t id, uint32_t band, uint32_t len, const void *data)
{
	unsigned char ident[sizeof id + sizeof band + sizeof len];

	memcpy(ident, &id, sizeof id);
	memcpy(ident + sizeof id, &band, sizeof band);
	memcpy(ident + sizeof id + sizeof band, &len, sizeof len);
	return crc32c(crc32c(0, ident, sizeof ident), data, len);
}

/*
 * Return 1 if slot s holds a whole message of band (any band if band < 0):
 * a nonzero id, a length and band in range, and the checksum. Each field
 * is read once, so a writer racing us cannot pass one value to the checks
 * and another to the checksum.
 */
static inline int
slot_ok(struct core_queue *q, uint32_t s, int64_t band)
{
	const struct queue_slot *sl = queue_slot_at(q, s);
	uint64_t id = sl->id;
	uint32_t len = sl->len, b = sl->band;

	if (id == 0 || len > q->max_size || b >= q->bands ||
	    (band >= 0 && b != (uint32_t)band))
		return 0;
	return slot_crc(id, b, len, sl->data) == sl->crc;
}

/* Fill m from slot s (whose checksum passed): browse and snap share it. */
static inline void
slot_msg(struct core_queue *q, uint32_t s, struct core_msg *m)
{
	const struct queue_slot *sl = queue_slot_at(q, s);

	m->slot = s;
	m->band = sl->band;
	m->id = sl->id;
	m->enqueued_ns = sl->enqueued_ns;
	m->deliveries = sl->deliveries;
	m->len = sl->len;
	m->data = sl->data;
}

/*
 * Whether the n messages of iov each fit a slot: CQ_TOOBIG for one over
 * max_size, CQ_INVALID for a NULL buffer with a length, else CQ_OK.
 */
static inline cq_status
slot_iov_check(const struct core_queue *q, const struct iovec *iov, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (iov[i].iov_len > q->max_size)
			return CQ_TOOBIG;
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return CQ_INVALID;
	}
	return CQ_OK;
}

#endif /* CQ_CORE_SLOT_H */
