/* lock.h - the segment's robust lock (a futex word) and its recovery. */

#ifndef CQ_CORE_LOCK_H
#define CQ_CORE_LOCK_H

#include <pthread.h>

#include "core/layout.h"

/* Initialise the lock's bytes in place (its word free); 0 or an errno. */
int lock_init(pthread_mutex_t *m);

/*
 * Take q's lock: try once when ms <= 0, else wait up to ms. A dead owner
 * (its thread gone) makes us recover (lock_recover) before anything
 * else. Only the lock word is read, never glibc's mutex fields. CQ_OK, CQ_BUSY,
 * CQ_CORRUPT (quarantined), CQ_SYSTEM.
 */
cq_status lock_take(struct core_queue *q, int64_t ms);
/* Release q's lock. */
void lock_release(struct core_queue *q);

/*
 * Validate and repair q under its lock; 0 if the queue can be used, -1 if
 * the header cannot be trusted (the caller quarantines).
 */
int lock_recover(struct core_queue *q);

/* Delayed messages in flight (core/flight.c; under the lock). */
uint64_t flight_delayed_count(struct core_queue *q);

#endif /* CQ_CORE_LOCK_H */
