/* lock.c - the segment's robust lock, taken with a deadline. */

#include <errno.h>
#include <time.h>

#include "core/layout.h"

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
		if (recover_run(q) != 0) {
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
