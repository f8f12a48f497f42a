/* direct.h - push and pop on a mapped segment, waiting on futex words. */

#ifndef CQ_CORE_DIRECT_H
#define CQ_CORE_DIRECT_H

/*
 * The direct path (DESIGN 2.5, doc/direct-path.md): a client maps a
 * queue's segment through an fd the daemon handed over and does the data
 * operations itself, under the segment's robust lock, sleeping on futex
 * words in the header instead of a daemon round trip. The daemon keeps
 * parking socket clients; the two paths meet in the header:
 *
 *   - after every change a direct op commits, its socket counterpart may
 *     have to run: the op sets *ring when the daemon has parked socket
 *     waiters of the side that can now proceed, and the caller then rings
 *     the daemon's doorbell (an eventfd);
 *   - after every change the daemon commits for a socket client, it calls
 *     direct_wake so direct sleepers re-check.
 *
 * Every blocking op is: lock (bounded by the handle's lock timeout, see
 * core_set_lock_timeout; CQ_BUSY past it) -> attempt -> if full/empty,
 * register as a waiter and read the futex word under the lock -> unlock
 * -> FUTEX_WAIT with the time left -> lock and attempt again. timeout_ms:
 * -1 forever, 0 try (CQ_FULL/CQ_EMPTY at once), > 0 then CQ_TIMEDOUT.
 * A direct pop copies the payload out and commits head under the lock:
 * no in-flight entry, so a client killed after the commit has received
 * the message. Statuses mean what they mean on the socket path; a segment
 * found inconsistent is repaired (recovery) or quarantined, and the op
 * that found it returns CQ_CORRUPT. Every index read from the segment is
 * checked against the handle's private copy of the geometry.
 *
 * Serial queues, reserve/ack, leases and dead-lettering stay on the
 * socket: direct pops on a serial queue return CQ_INVALID. A layout-1
 * segment has no direct words: every direct op returns CQ_INVALID.
 *
 * API
 *   core_attach_fd                      map a segment from a handed-over fd
 *   direct_usable                       layout has the direct words
 *   direct_push / direct_push_many      enqueue, waiting for room
 *   direct_pop / direct_pop_many        dequeue (copy out), waiting
 *   direct_close / direct_set_paused    state changes that wake everyone
 *   direct_length / direct_stat         GAsyncQueue length, counters
 *   direct_wake / direct_set_parked     the daemon's side of the meeting
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/queue.h"

/* A message taken by a direct pop: its bytes are at buf + off. */
struct direct_msg {
	uint64_t id;
	uint64_t enqueued_ns; /* CLOCK_REALTIME */
	uint32_t deliveries;  /* 1 on the first delivery */
	uint32_t band;
	uint32_t len;
	uint32_t off; /* into the caller's buffer */
};

/* State and counters, with the waiters of both paths. */
struct direct_stat {
	struct core_stat core;
	int64_t length;           /* GAsyncQueue: queued - waiting poppers */
	uint32_t waiting_poppers; /* direct ones + parked in the daemon */
	uint32_t waiting_pushers;
};

/* What the daemon committed, for direct_wake. */
enum direct_change {
	DIRECT_PUSHED,  /* messages queued (push, return): poppers look */
	DIRECT_POPPED,  /* slots freed (confirm, dead-letter): pushers look */
	DIRECT_CLOSED,  /* everybody wakes */
	DIRECT_RESUMED, /* every popper wakes */
};

/*
 * Map the segment behind fd (handed over by the daemon): the file must be
 * owned by owner (the daemon's uid), mode 0600, size and header as
 * core_attach checks them, then validated and repaired under the lock. On
 * CQ_OK *qp owns fd; else the caller keeps it. CQ_INVALID for a layout-1
 * segment (use the socket), CQ_CORRUPT if it cannot be trusted.
 */
cq_status core_attach_fd(int fd, uint32_t owner, struct core_queue **qp);

/* Return 1 if q's layout carries the direct words. */
int direct_usable(struct core_queue *q);

/*
 * Push len bytes to band (front: head of the band). CQ_OK (*id set if not
 * NULL), CQ_FULL (try), CQ_TIMEDOUT, CQ_CLOSED, CQ_TOOBIG, CQ_INVALID,
 * CQ_BUSY, CQ_CORRUPT. *ring (may be NULL) is set to 1 when the daemon's
 * doorbell must be rung, else 0.
 */
cq_status direct_push(struct core_queue *q, const void *buf, size_t len,
    unsigned band, int front, int64_t timeout_ms, uint64_t *id, int *ring);

/*
 * Push n messages all or nothing (one commit; waits until n slots are
 * free at once). Results as direct_push; *first_id gets iov[0]'s id.
 */
cq_status direct_push_many(struct core_queue *q, const struct iovec *iov,
    size_t n, unsigned band, int front, int64_t timeout_ms, uint64_t *first_id,
    int *ring);

/*
 * Pop the head of the highest non-empty band, copying its bytes to buf
 * (cap bytes). CQ_OK (*m filled, m->off 0), CQ_EMPTY (try; also while
 * paused), CQ_TIMEDOUT, CQ_CLOSED (closed and drained), CQ_TOOBIG (the
 * message needs m->len bytes: nothing was taken, grow buf and retry),
 * CQ_INVALID (serial queue), CQ_BUSY, CQ_CORRUPT.
 */
cq_status direct_pop(struct core_queue *q, void *buf, size_t cap,
    struct direct_msg *m, int64_t timeout_ms, int *ring);

/*
 * Pop 1..max messages of one band (one commit) into buf, packed one after
 * the other (m[i].off); stops early at a message that does not fit. *n
 * gets the count. Results as direct_pop.
 */
cq_status direct_pop_many(struct core_queue *q, void *buf, size_t cap,
    struct direct_msg *m, size_t max, size_t *n, int64_t timeout_ms, int *ring);

/* Close (idempotent) and wake every waiter of both paths. */
cq_status direct_close(struct core_queue *q, int *ring);

/* Pause (1) or resume (0) pops; resume wakes every popper. */
cq_status direct_set_paused(struct core_queue *q, int paused, int *ring);

/*
 * GAsyncQueue length: queued minus waiting poppers (direct ones and the
 * daemon's), negative when consumers wait. Takes no lock.
 */
int64_t direct_length(struct core_queue *q);

/* Fill st (core_stat plus the waiters of both paths). */
cq_status direct_stat(struct core_queue *q, struct direct_stat *st);

/*
 * The daemon committed a change for a socket client (core_push, core_return,
 * core_confirm, core_close, core_set_paused(0), ...): bump the matching
 * futex word and wake up to n direct sleepers (all for close/resume).
 * Call after the core op returned; a no-op on a layout-1 segment.
 */
void direct_wake(struct core_queue *q, enum direct_change what, uint32_t n);

/*
 * The daemon publishes how many socket poppers and pushers it has parked
 * on q, so direct ops know when to ring. Store first, then try the parked
 * op once more before sleeping: a direct commit that read the old count
 * happened before that retry, which then sees it.
 */
void direct_set_parked(
    struct core_queue *q, uint32_t poppers, uint32_t pushers);

/* Internal to core/: the direct path's hooks in queue.c and lock.c. */
/* queue.c: core_push_many's attempt, with q's lock held by the caller. */
cq_status queue_push_held(struct core_queue *q, const struct iovec *iov,
    size_t n, unsigned band, int front, uint64_t *first_id);
/* Recovery (lock held): forget every direct waiter and wake them all. */
void direct_reset_waiters(struct core_queue *q);

/*
 * Longest single futex sleep in ms (<= 0: none). Wake-ups are exact; the
 * slice only bounds the damage of a mapper that scribbles on the counts.
 * Tests set 0 so that a missing wake-up hangs and fails.
 */
extern int64_t direct_slice_ms;

/*
 * Polls of the futex word, unregistered, before a blocking call first
 * registers and sleeps (default 1000, about 10-40 us of pause
 * instructions; a sixteenth of that on a handle whose last four polls saw
 * nothing; 0: sleep at once). Measured in doc/direct-path.md.
 */
extern int direct_spin;

/*
 * The sleepers a waiter count of the header holds (pop_waiters,
 * push_waiters, many_waiters: the high 8 bits are a generation that
 * recovery advances; core/direct_wait.c).
 */
#define DIRECT_COUNT_MASK UINT32_C(0xffffff)

#endif /* CQ_CORE_DIRECT_H */
