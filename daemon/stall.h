/* stall.h - queues whose lock a mapper holds: retry, never wait. */

#ifndef CQ_DAEMON_STALL_H
#define CQ_DAEMON_STALL_H

#include "daemon/registry.h"

struct event_base;

/* Lock deadline (ms) of a queue direct clients may lock. */
#define STALL_LOCK_MS 1

/* Remember the event base for the retry timers. */
void stall_init(struct event_base *base);
/* q's lock timeout for its state: mapped, stalled or neither. */
void stall_set_timeout(struct rqueue *q);
/*
 * An op on q found its lock held (CQ_BUSY): from now on q's lock is only
 * tried (no wait) and a timer, backing off, retries q's parked ops.
 */
void stall_busy(struct rqueue *q);
/* q is going away: drop its timer. */
void stall_free(struct rqueue *q);

#endif /* CQ_DAEMON_STALL_H */
