/* waiters.c - parked blocking pops and pushes with deadlines. */

/*
 * API
 *   waiters_init     set the event base and the expiry callback
 *   waitq_init       an empty pair of FIFO lists for one queue
 *   waiters_park     append a waiter, arming its deadline timer
 *   waiters_remove   take a waiter out (served, cancelled, peer gone)
 *   waiters_first    the oldest waiter of a kind: served first, so no
 *                    waiter starves behind later arrivals
 *   lease_timer_*    one-shot monotonic timers for reservation leases
 *
 * Deadlines are libevent timers (its min-heap), so parking, expiring and
 * removing cost O(log n) in parked ops and nothing per queue or connection.
 * The queues themselves never block: dispatch serves the waiters right after
 * each mutation of their queue.
 */

#include <stdlib.h>

#include <event2/event.h>

#include "common/common.h"
#include "daemon/waiters.h"

static struct event_base *waiters_base;
static waiters_expire_fn *waiters_expire;
static void (*waiters_count_fn)(struct waitq *wq);

/* Remember the event base and what to call when a deadline passes. */
void
waiters_init(struct event_base *base, waiters_expire_fn *expire)
{
	waiters_base = base;
	waiters_expire = expire;
}

/* Call fn(wq) after every change of wq's counts. */
void
waiters_on_count(void (*fn)(struct waitq *wq))
{
	waiters_count_fn = fn;
}

/* Initialise the lists of one queue. */
void
waitq_init(struct waitq *wq)
{
	TAILQ_INIT(&wq->list[WAIT_POP]);
	TAILQ_INIT(&wq->list[WAIT_PUSH]);
	wq->n[WAIT_POP] = wq->n[WAIT_PUSH] = 0;
}

/* Relative timeval until a monotonic deadline (zero if it passed). */
static void
waiters_timeval(uint64_t deadline_ns, struct timeval *tv)
{
	uint64_t now = time_mono_ns(), left;

	left = deadline_ns > now ? deadline_ns - now : 0;
	tv->tv_sec = (time_t)(left / 1000000000u);
	tv->tv_usec = (suseconds_t)((left % 1000000000u + 999) / 1000);
	if (tv->tv_usec >= 1000000) {
		tv->tv_sec++;
		tv->tv_usec -= 1000000;
	}
}

/*
 * Re-arm ev if its deadline has not come yet: libevent adds a timeout to
 * its cached loop time, which is behind when the timer is set late in a
 * busy turn, so timers fire early by that much. Returns 1 if re-armed.
 */
static int
waiters_early(struct event *ev, uint64_t deadline_ns)
{
	struct timeval tv;

	if (time_mono_ns() >= deadline_ns)
		return 0;
	waiters_timeval(deadline_ns, &tv);
	return evtimer_add(ev, &tv) == 0;
}

/* A waiter's deadline passed: unpark it and let dispatch answer. */
static void
waiters_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	(void)fd;
	(void)what;
	if (waiters_early(w->timer, w->deadline_ns))
		return;
	waiters_remove(w);
	waiters_expire(w);
}

/* Park w at the tail of its list; -1 if the timer cannot be made. */
int
waiters_park(struct waitq *wq, struct waiter *w, int kind, uint64_t deadline_ns)
{
	struct timeval tv;

	w->kind = kind;
	w->deadline_ns = deadline_ns;
	w->timer = NULL;
	if (deadline_ns != UINT64_MAX) {
		w->timer = evtimer_new(waiters_base, waiters_timer_cb, w);
		if (w->timer == NULL)
			return -1;
		waiters_timeval(deadline_ns, &tv);
		if (evtimer_add(w->timer, &tv) != 0) {
			event_free(w->timer);
			w->timer = NULL;
			return -1;
		}
	}
	w->wq = wq;
	TAILQ_INSERT_TAIL(&wq->list[kind], w, link);
	wq->n[kind]++;
	if (waiters_count_fn != NULL)
		waiters_count_fn(wq);
	return 0;
}

/* Unpark w and drop its timer. */
void
waiters_remove(struct waiter *w)
{
	if (w->timer != NULL) {
		event_free(w->timer);
		w->timer = NULL;
	}
	if (w->wq == NULL)
		return;
	TAILQ_REMOVE(&w->wq->list[w->kind], w, link);
	w->wq->n[w->kind]--;
	if (waiters_count_fn != NULL)
		waiters_count_fn(w->wq);
	w->wq = NULL;
}

/* The oldest waiter of kind. */
struct waiter *
waiters_first(struct waitq *wq, int kind)
{
	return TAILQ_FIRST(&wq->list[kind]);
}

/* A lease passed its deadline. */
static void
lease_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lease_timer *t = arg;

	(void)fd;
	(void)what;
	if (waiters_early(t->ev, t->deadline_ns))
		return;
	t->fire(t);
}

/* Arm (or re-arm) t for deadline_ns; -1 if out of memory. */
int
lease_timer_set(struct lease_timer *t, uint64_t deadline_ns)
{
	struct timeval tv;

	if (t->ev == NULL &&
	    (t->ev = evtimer_new(waiters_base, lease_timer_cb, t)) == NULL)
		return -1;
	t->deadline_ns = deadline_ns;
	waiters_timeval(deadline_ns, &tv);
	return evtimer_add(t->ev, &tv);
}

/* Disarm and free t's timer. */
void
lease_timer_clear(struct lease_timer *t)
{
	if (t->ev != NULL)
		event_free(t->ev);
	t->ev = NULL;
}
