/* recover.c - validate a segment and rebuild its derived state. */

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "core/layout.h"

/* Marks in q->mark during recovery. */
#define RECOVER_FREE   0
#define RECOVER_RING   1
#define RECOVER_FLIGHT 2

/* Return 1 if slot s holds a message of band (any band if band < 0). */
static int
recover_slot_ok(struct core_queue *q, uint32_t s, int64_t band)
{
	const struct queue_slot *sl = queue_slot_at(q, s);
	uint32_t len = sl->len;

	if (sl->id == 0 || len > q->max_size || sl->band >= q->bands ||
	    (band >= 0 && sl->band != (uint32_t)band))
		return 0;
	return segment_slot_crc(sl->id, sl->band, len, sl->data) == sl->crc;
}

/*
 * Validate and repair q under its lock; 0 if the queue can be used, -1 if
 * the header cannot be trusted. Only committed fields are read to decide
 * and only derived fields (plus a tail cut at the first bad entry) are
 * written, so running it again after a crash in the middle gives the same
 * result.
 */
int
recover_run(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, p, maxid = 0, n = 0, top = 0;
	uint32_t cap = q->capacity, b, s;
	struct stat sb;

	CORE_HOOK("recover.begin");
	/*
	 * Re-check the file as attach did: a shrunk file would SIGBUS us
	 * below, a changed owner or mode means someone else touched it.
	 */
	if (fstat(q->fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != q->file_uid || (sb.st_mode & 07777) != 0600 ||
	    (uint64_t)sb.st_size != q->size)
		return -1;
	/* The cached copy was validated at attach (checksum and sizes). */
	if (memcmp(&hdr->imm, &q->imm, sizeof q->imm) != 0 ||
	    crc32c(0, &hdr->imm, sizeof hdr->imm) != hdr->hcrc)
		return -1;
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > cap)
			return -1;
	}
	if (hdr->closed > 1)
		hdr->closed = 1;
	if (hdr->paused > 1)
		hdr->paused = 1;
	if (hdr->mode > 07777)
		hdr->mode &= 07777;

	/*
	 * Each live ring entry must name a distinct valid slot, and an
	 * in-flight entry only counts on a slot no ring holds: so queued plus
	 * in flight can never exceed the capacity (no separate sum check).
	 */
	memset(q->mark, RECOVER_FREE, cap);
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		for (p = h; p != t; p++) {
			s = q->ring[(size_t)b * cap + p % cap];
			if (s >= cap || q->mark[s] != RECOVER_FREE ||
			    !recover_slot_ok(q, s, b)) {
				/* Keep the valid prefix of the band. */
				__atomic_store_n(
				    &hdr->tail[b], p, __ATOMIC_RELEASE);
				break;
			}
			q->mark[s] = RECOVER_RING;
			if (queue_slot_at(q, s)->id > maxid)
				maxid = queue_slot_at(q, s)->id;
		}
	}
	CORE_HOOK("recover.middle");

	for (s = 0; s < cap; s++) {
		struct queue_inflight *e = &q->inflight[s];
		uint64_t id = e->id;

		if (id == 0)
			continue;
		/*
		 * Ring wins: a slot both queued and in flight is a pop that
		 * did not commit, or a return that committed but did not
		 * clear its entry.
		 */
		if (q->mark[s] != RECOVER_FREE || !recover_slot_ok(q, s, -1) ||
		    queue_slot_at(q, s)->id != id) {
			__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
			continue;
		}
		q->mark[s] = RECOVER_FLIGHT;
		n++;
		if (id > maxid)
			maxid = id;
	}

	/* Rebuild the free stack so that low slots are handed out first. */
	for (s = cap; s-- > 0;)
		if (q->mark[s] == RECOVER_FREE)
			q->free[top++] = s;
	hdr->free_top = top;
	hdr->in_flight = n;
	if (hdr->next_id <= maxid)
		hdr->next_id = maxid + 1;
	if (hdr->next_id == 0)
		hdr->next_id = 1;
	direct_reset_waiters(q);
	CORE_HOOK("recover.before_consistent");
	return 0;
}

/* Validate and repair under the lock. */
cq_status
core_check(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if (recover_run(q) != 0) {
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
		st = CQ_CORRUPT;
	}
	lock_release(q);
	return st;
}
