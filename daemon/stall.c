/* stall.c - queues whose lock a mapper holds: retry, never wait. */

/*
 * API
 *   stall_init         the event base for the retry timers
 *   stall_set_timeout  q's lock deadline for its state
 *   stall_busy         an op found q's lock held: retry from a timer
 *   stall_free         q goes: drop its timer
 *
 * A direct client (DESIGN 2.5) locks the segment itself. It holds the lock
 * for microseconds, unless it is stopped (SIGSTOP, a debugger) or starved
 * of CPU: the event loop must then not wait for it, or every queue and
 * connection would wait too. So the daemon locks a queue that has a
 * doorbell (handed to direct clients, now or by an earlier daemon) with a
 * deadline of STALL_LOCK_MS instead of lock_timeout_ms. When that is not
 * enough (CQ_BUSY), the queue is "stalled": its lock is only tried, never
 * waited for; blocking ops park as if the queue were full or empty, try
 * ops answer CQ_BUSY, receipts are held and retried (settle.c), and a
 * timer with backoff (STALL_FIRST_MS doubling to STALL_MAX_MS) probes the
 * lock. Once the probe gets it (the holder let go, or died and recovery
 * ran), the queue leaves the state and its parked ops are served.
 */

#include <event2/event.h>

#include "common/common.h"
#include "core/queue.h"
#include "daemon/config.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/stall.h"

#define STALL_FIRST_MS 1   /* first retry after a CQ_BUSY */
#define STALL_MAX_MS   100 /* longest gap between two probes */

static struct event_base *stall_base;

/* Remember the event base for the retry timers. */
void
stall_init(struct event_base *base)
{
	stall_base = base;
}

/* q's lock timeout for its state: mapped, stalled or neither. */
void
stall_set_timeout(struct rqueue *q)
{
	if (q->core == NULL)
		return;
	if (q->stall_ms != 0)
		core_set_lock_timeout(q->core, 0);
	else if (q->bell_ev != NULL && cfg.lock_timeout_ms > STALL_LOCK_MS)
		core_set_lock_timeout(q->core, STALL_LOCK_MS);
	else
		core_set_lock_timeout(q->core, cfg.lock_timeout_ms);
}

/* Arm q's retry timer for its current backoff; -1 if it cannot be. */
static int
stall_arm(struct rqueue *q)
{
	struct timeval tv;

	tv.tv_sec = q->stall_ms / 1000;
	tv.tv_usec = (suseconds_t)(q->stall_ms % 1000) * 1000;
	return q->stall_ev != NULL ? evtimer_add(q->stall_ev, &tv) : -1;
}

/* The retry time came: probe the lock, then serve or back off. */
static void
stall_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rqueue *q = arg;
	cq_status st;

	(void)fd;
	(void)what;
	if (q->core == NULL || (st = core_probe(q->core)) == CQ_BUSY) {
		if (q->core != NULL) {
			q->stall_ms = q->stall_ms * 2 < STALL_MAX_MS
			                  ? q->stall_ms * 2
			                  : STALL_MAX_MS;
			if (stall_arm(q) != 0)
				log_warn("queue '%.*s': cannot arm a retry "
				         "timer",
				    (int)q->namelen, q->name);
		}
		return;
	}
	q->stall_ms = 0;
	stall_set_timeout(q);
	log_debug("queue '%.*s': lock free again (%s)", (int)q->namelen,
	    q->name, cq_strstatus(st));
	flow_serve(q);
}

/* An op on q found its lock held: try only, retry from a timer. */
void
stall_busy(struct rqueue *q)
{
	if (q->core == NULL || q->stall_ms != 0)
		return;
	if (q->stall_ev == NULL && (q->stall_ev = evtimer_new(stall_base,
	                                stall_retry_cb, q)) == NULL) {
		log_warn("queue '%.*s': lock held, and no retry timer: parked "
		         "ops wait for the next change",
		    (int)q->namelen, q->name);
		return;
	}
	q->stall_ms = STALL_FIRST_MS;
	stall_set_timeout(q);
	log_debug("queue '%.*s': lock held by another process: retrying",
	    (int)q->namelen, q->name);
	if (stall_arm(q) != 0) {
		q->stall_ms = 0;
		stall_set_timeout(q);
	}
}

/* q is going away: drop its timer. */
void
stall_free(struct rqueue *q)
{
	if (q->stall_ev != NULL)
		event_free(q->stall_ev);
	q->stall_ev = NULL;
	q->stall_ms = 0;
}
