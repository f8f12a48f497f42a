/* direct_wait.h - the direct path's waiting: futex words, waiter counts
 * and the blocking loop (core/direct_wait.c), shared with core/direct.c.
 * Internal to the core. */

#ifndef CQ_CORE_DIRECT_WAIT_H
#define CQ_CORE_DIRECT_WAIT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/direct.h"

/* Which futex word a waiter sleeps on. */
enum direct_side {
	DIRECT_SIDE_POP,  /* poppers: push_seq, pop_waiters */
	DIRECT_SIDE_PUSH, /* pushers: pop_seq, push_waiters */
};

/* One blocking operation: its arguments and what its attempt did. */
struct direct_op {
	enum direct_side side;
	cq_status (*attempt)(struct core_queue *, struct direct_op *);
	uint32_t moved; /* messages the successful attempt moved */
	/* push */
	const struct iovec *iov;
	size_t n;
	unsigned band;
	int front;
	uint64_t *first_id;
	/* pop */
	unsigned char *buf;
	size_t cap;
	struct direct_msg *m;
	size_t max;
};

/* Load a shared word once (a mapper may change it at any time). */
#define DIRECT_LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define DIRECT_BUMP(p)     __atomic_fetch_add((p), 1, __ATOMIC_SEQ_CST)
#define DIRECT_ALL_WAITERS INT_MAX

/* Whether q's layout carries the direct words (from the private copy). */
#define DIRECT_USABLE(q) ((q)->imm.layout >= QUEUE_LAYOUT_DIRECT)

/* Wake count for n moved messages. */
static inline int
direct_wake_n(uint32_t n)
{
	return n > (uint32_t)DIRECT_ALL_WAITERS ? DIRECT_ALL_WAITERS : (int)n;
}

/*
 * Wake up to n sleepers on seq if count says anyone sleeps there, and
 * take those woken off the count.
 */
void direct_wake_word(uint32_t *seq, uint32_t *count, int n);
/* Bump the word of a committed change and wake its sleepers. */
int direct_wake_go(struct core_queue *q, enum direct_change what, uint32_t n);
/*
 * Run op: attempt under the lock until it succeeds, fails for good, or
 * the time is up, sleeping on the side's futex word in between. Returns
 * with the lock released.
 */
cq_status direct_run(
    struct core_queue *q, struct direct_op *op, int64_t timeout_ms);

#endif /* CQ_CORE_DIRECT_WAIT_H */
