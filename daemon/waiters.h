/* waiters.h - parked blocking ops and lease timers with deadlines. */

#ifndef CQ_DAEMON_WAITERS_H
#define CQ_DAEMON_WAITERS_H

#include <stdint.h>
#include <sys/queue.h>

struct event;
struct event_base;

/* Parked blocking pops and pushes of one queue, each FIFO. */
struct waiter;
TAILQ_HEAD(waiter_list, waiter);
struct waitq {
	struct waiter_list list[2]; /* WAIT_POP, WAIT_PUSH */
	uint32_t n[2];
};
#define WAIT_POP  0
#define WAIT_PUSH 1

/* One parked op; embedded in the owner's op (dispatch). */
struct waiter {
	TAILQ_ENTRY(waiter) link;
	struct waitq *wq; /* NULL when not parked */
	int kind;         /* WAIT_POP or WAIT_PUSH */
	uint64_t deadline_ns;
	struct event *timer; /* only for finite deadlines */
	void *up; /* a pop-any's waiter: its op (NULL: the op embeds it) */
};

/* Called when a waiter's deadline passes (it is already unparked). */
typedef void waiters_expire_fn(struct waiter *w);

void waiters_init(struct event_base *base, waiters_expire_fn *expire);
/* Call fn(wq) after every change of wq's counts (the direct path). */
void waiters_on_count(void (*fn)(struct waitq *wq));
void waitq_init(struct waitq *wq);
/* Park w at the tail of wq's kind list until deadline_ns (UINT64_MAX: never).
 */
int waiters_park(
    struct waitq *wq, struct waiter *w, int kind, uint64_t deadline_ns);
/* Unpark w (no-op if not parked). */
void waiters_remove(struct waiter *w);
/* The oldest parked waiter of kind, or NULL. */
struct waiter *waiters_first(struct waitq *wq, int kind);

/* Generic lease timer, shared by reservations (same machinery as waiters). */
struct lease_timer {
	struct event *ev;
	uint64_t deadline_ns; /* monotonic */
	void (*fire)(struct lease_timer *t);
};
int lease_timer_set(struct lease_timer *t, uint64_t deadline_ns);
void lease_timer_clear(struct lease_timer *t);

#endif /* CQ_DAEMON_WAITERS_H */
