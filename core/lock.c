/* lock.c - the segment's robust lock and the recovery a dead owner needs. */

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/direct.h"
#include "core/header.h"
#include "core/lock.h"
#include "core/slot.h"

/* Marks in q->mark during recovery. */
#define LOCK_FREE   0
#define LOCK_RING   1
#define LOCK_FLIGHT 2

/* Initialise the robust process-shared mutex in place. */
int
lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t ma;
	int r;

	if ((r = pthread_mutexattr_init(&ma)) != 0)
		return r;
	if ((r = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED)) ==
	        0 &&
	    (r = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST)) == 0)
		r = pthread_mutex_init(m, &ma);
	pthread_mutexattr_destroy(&ma);
	return r;
}

/*
 * Take q's lock: trylock when ms <= 0, else wait until now + ms on the
 * monotonic clock if the lock is held. A dead owner makes us recover before
 * anything else, and pthread_mutex_consistent() comes last so that a crash
 * during the repair leaves EOWNERDEAD for the next locker, who reruns it.
 */
cq_status
lock_take(struct core_queue *q, int64_t ms)
{
	struct timespec ts;
	int r;

	if (q->corrupt)
		return CQ_CORRUPT;
	/* Uncontended (the usual case): no clock read, no deadline. */
	r = pthread_mutex_trylock(&q->hdr->lock);
	if (r == EBUSY && ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		r = pthread_mutex_clocklock(
		    &q->hdr->lock, CLOCK_MONOTONIC, &ts);
	}
	switch (r) {
	case 0:
		break;
	case EBUSY:
	case ETIMEDOUT:
		return CQ_BUSY;
	case EOWNERDEAD:
		if (lock_recover(q) != 0) {
			/* Tell every other handle to stop trusting it too. */
			__atomic_store_n(
			    &q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_consistent(&q->hdr->lock);
		break;
	case ENOTRECOVERABLE:
	case EINVAL:
		/* Not a lock we made: quarantine. */
		q->corrupt = 1;
		return CQ_CORRUPT;
	default:
		errno = r;
		return CQ_SYSTEM;
	}
	if (__atomic_load_n(&q->hdr->quarantined, __ATOMIC_ACQUIRE) != 0) {
		pthread_mutex_unlock(&q->hdr->lock);
		q->corrupt = 1;
		return CQ_CORRUPT;
	}
	return CQ_OK;
}

/* Release q's lock. */
void
lock_release(struct core_queue *q)
{
	pthread_mutex_unlock(&q->hdr->lock);
}

/*
 * Validate and repair q under its lock; 0 if the queue can be used, -1 if
 * the header cannot be trusted. Only committed fields are read to decide
 * and only derived fields (plus a tail cut at the first bad entry) are
 * written, so running it again after a crash in the middle gives the same
 * result.
 */
int
lock_recover(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, p, maxid = 0, n = 0, top = 0;
	uint32_t cap = q->capacity, b, s;

	CORE_HOOK("recover.begin");
	/* The file and the header as attach checked them, or quarantine. */
	if (header_validate(q->fd, q->file_uid, q->base, q->size, &q->imm) !=
	    CQ_OK)
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
	memset(q->mark, LOCK_FREE, cap);
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		for (p = h; p != t; p++) {
			s = q->ring[(size_t)b * cap + p % cap];
			if (s >= cap || q->mark[s] != LOCK_FREE ||
			    !slot_ok(q, s, b)) {
				/* Keep the valid prefix of the band. */
				__atomic_store_n(
				    &hdr->tail[b], p, __ATOMIC_RELEASE);
				break;
			}
			q->mark[s] = LOCK_RING;
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
		if (q->mark[s] != LOCK_FREE || !slot_ok(q, s, -1) ||
		    queue_slot_at(q, s)->id != id) {
			__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
			continue;
		}
		q->mark[s] = LOCK_FLIGHT;
		n++;
		if (id > maxid)
			maxid = id;
	}

	/* Rebuild the free stack so that low slots are handed out first. */
	for (s = cap; s-- > 0;)
		if (q->mark[s] == LOCK_FREE)
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
	if (lock_recover(q) != 0) {
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
		st = CQ_CORRUPT;
	}
	lock_release(q);
	return st;
}
