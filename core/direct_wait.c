/* direct_wait.c - the direct path's waiting: waiter counts, wakes, and
 * the blocking loop that sleeps on the header's futex words. */

#include <limits.h>
#include <stdint.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/direct_wait.h"
#include "core/futex.h"
#include "core/guard.h"
#include "core/layout.h"
#include "core/lock.h"

int64_t direct_slice_ms = 1000;
int direct_spin = 1000;

/*
 * A waiter count: the low 24 bits count the sleepers registered, the high
 * 8 are a generation that recovery advances as it zeroes the count. A
 * count is raised under the lock but lowered without it (by a waker, for
 * those it woke, and by a sleeper that was not woken): each lowering is
 * one compare-and-swap that fails once the generation moved, so a
 * decrement meant for a count recovery already zeroed can never take
 * from a waiter that registered after the reset (a count too low would
 * lose that waiter's wake-up; one too high costs spare wakes only).
 */
#define DIRECT_GEN_SHIFT 24

/* Register one sleeper on count (lock held); return its generation. */
static uint32_t
direct_count_up(uint32_t *count)
{
	uint32_t c = __atomic_load_n(count, __ATOMIC_RELAXED);

	/* A full count (a mapper's doing) stays full: spare wakes only. */
	while ((c & DIRECT_COUNT_MASK) != DIRECT_COUNT_MASK &&
	       !__atomic_compare_exchange_n(count, &c, c + 1, 0,
	           __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	return c >> DIRECT_GEN_SHIFT;
}

/* Take k from count, never below 0, while its generation is still gen. */
static void
direct_count_sub(uint32_t *count, uint32_t gen, uint32_t k)
{
	uint32_t c = __atomic_load_n(count, __ATOMIC_RELAXED), n;

	while ((c >> DIRECT_GEN_SHIFT) == gen &&
	       (n = c & DIRECT_COUNT_MASK) != 0 &&
	       !__atomic_compare_exchange_n(count, &c,
	           (c & ~DIRECT_COUNT_MASK) | (n > k ? n - k : 0), 0,
	           __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
}

/* Recovery (lock held): zero count and advance its generation. */
static void
direct_count_reset(uint32_t *count)
{
	uint32_t c = __atomic_load_n(count, __ATOMIC_RELAXED);

	__atomic_store_n(count,
	    ((c >> DIRECT_GEN_SHIFT) + 1) << DIRECT_GEN_SHIFT,
	    __ATOMIC_SEQ_CST);
}

/* Recovery: forget every direct waiter and wake them all (lock held). */
void
direct_reset_waiters(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;

	if (!DIRECT_USABLE(q))
		return;
	/*
	 * A killed waiter left its count behind. Live waiters registered
	 * under the old generation of a count cannot take from the new one;
	 * woken here, they register again if they still have to wait.
	 */
	direct_count_reset(&hdr->pop_waiters);
	direct_count_reset(&hdr->push_waiters);
	direct_count_reset(&hdr->many_waiters);
	DIRECT_BUMP(&hdr->waiter_epoch);
	DIRECT_BUMP(&hdr->push_seq);
	DIRECT_BUMP(&hdr->pop_seq);
	futex_wake(&hdr->push_seq, DIRECT_ALL_WAITERS);
	futex_wake(&hdr->pop_seq, DIRECT_ALL_WAITERS);
}

/*
 * Wake up to n sleepers on seq if count says anyone sleeps there, and
 * take those woken off the count: a sleeper the kernel woke is no longer
 * one, so while it waits for a CPU no later commit pays a wake for it
 * (the sleeper takes itself off only when it was not woken).
 */
void
direct_wake_word(uint32_t *seq, uint32_t *count, int n)
{
	uint32_t c = __atomic_load_n(count, __ATOMIC_SEQ_CST);
	int woke;

	if ((c & DIRECT_COUNT_MASK) != 0 && (woke = futex_wake(seq, n)) > 0)
		direct_count_sub(count, c >> DIRECT_GEN_SHIFT, (uint32_t)woke);
}

/* Bump the word of a committed change and wake its sleepers. */
int
direct_wake_go(struct core_queue *q, enum direct_change what, uint32_t n)
{
	struct queue_hdr *hdr = q->hdr;

	switch (what) {
	case DIRECT_PUSHED:
		DIRECT_BUMP(&hdr->push_seq);
		direct_wake_word(
		    &hdr->push_seq, &hdr->pop_waiters, direct_wake_n(n));
		break;
	case DIRECT_POPPED:
		DIRECT_BUMP(&hdr->pop_seq);
		/* A push_many sleeper may need more than n slots. */
		direct_wake_word(&hdr->pop_seq, &hdr->push_waiters,
		    DIRECT_LOAD(&hdr->many_waiters) != 0 ? DIRECT_ALL_WAITERS
		                                         : direct_wake_n(n));
		break;
	case DIRECT_CLOSED:
		DIRECT_BUMP(&hdr->push_seq);
		DIRECT_BUMP(&hdr->pop_seq);
		direct_wake_word(
		    &hdr->push_seq, &hdr->pop_waiters, DIRECT_ALL_WAITERS);
		direct_wake_word(
		    &hdr->pop_seq, &hdr->push_waiters, DIRECT_ALL_WAITERS);
		break;
	case DIRECT_RESUMED:
		DIRECT_BUMP(&hdr->push_seq);
		direct_wake_word(
		    &hdr->push_seq, &hdr->pop_waiters, DIRECT_ALL_WAITERS);
		break;
	}
	return 0;
}

/* The daemon committed a change: wake the direct sleepers it concerns. */
void
direct_wake(struct core_queue *q, enum direct_change what, uint32_t n)
{
	if (DIRECT_USABLE(q))
		(void)GUARD_VALUE(q, direct_wake_go(q, what, n), 0);
}

/* Publish the daemon's parked socket waiters. */
void
direct_set_parked(struct core_queue *q, uint32_t poppers, uint32_t pushers)
{
	struct queue_hdr *hdr = q->hdr;

	if (!DIRECT_USABLE(q))
		return;
	(void)GUARD_VALUE(q,
	    (__atomic_store_n(&hdr->daemon_poppers, poppers, __ATOMIC_SEQ_CST),
	        __atomic_store_n(
	            &hdr->daemon_pushers, pushers, __ATOMIC_SEQ_CST),
	        0),
	    0);
}

/* Nanoseconds to sleep now: what is left, cut to the slice. */
static int64_t
direct_sleep_ns(uint64_t deadline)
{
	int64_t ns = -1;
	uint64_t now;

	if (deadline != UINT64_MAX) {
		now = time_mono_ns();
		ns = now >= deadline ? 0 : (int64_t)(deadline - now);
	}
	if (direct_slice_ms > 0 &&
	    (ns < 0 || ns > direct_slice_ms * INT64_C(1000000)))
		ns = direct_slice_ms * INT64_C(1000000);
	return ns;
}

/*
 * A sleep is over: take back its count unless a waker took it (woken),
 * and many's always, each only in the generation it registered in.
 */
static void
direct_unregister(uint32_t *count, uint32_t gen, uint32_t *many,
    uint32_t many_gen, int woken)
{
	if (!woken)
		direct_count_sub(count, gen, 1);
	if (many != NULL)
		direct_count_sub(many, many_gen, 1);
}

/*
 * Poll *seq while it still reads word: direct_spin times, or a sixteenth
 * of that after four polls in a row saw nothing (an idle queue, or a
 * machine too busy for the other side to answer within a poll), until
 * one sees the word move again.
 */
static void
direct_poll(struct core_queue *q, uint32_t *seq, uint32_t word)
{
	/* Relaxed: threads sharing a handle only share a hint. */
	unsigned misses = __atomic_load_n(&q->poll_misses, __ATOMIC_RELAXED);
	int spin, n = direct_spin >> (misses < 4 ? misses : 4);

	for (spin = 0; spin < n; spin++) {
		if (__atomic_load_n(seq, __ATOMIC_ACQUIRE) != word) {
			__atomic_store_n(&q->poll_misses, 0, __ATOMIC_RELAXED);
			return;
		}
		FUTEX_RELAX();
	}
	if (misses < 4)
		__atomic_store_n(&q->poll_misses, misses + 1, __ATOMIC_RELAXED);
}

/*
 * Run op: attempt under the lock until it succeeds, fails for good, or
 * the time is up; sleep on the side's futex word in between. The word is
 * read under the lock, after the failed attempt, and every committer
 * bumps it after its commit and then wakes: a change that lands after
 * our attempt changes the word before FUTEX_WAIT compares it, so no
 * wake-up is lost. Returns with the lock released.
 */
cq_status
direct_run(struct core_queue *q, struct direct_op *op, int64_t timeout_ms)
{
	struct queue_hdr *hdr = q->hdr;
	uint32_t *seq, *count, *many = NULL, gen, many_gen = 0, word;
	uint64_t deadline = 0;
	int polled = 0, fails = 0, as_many, r;
	cq_status st;

	if (op->side == DIRECT_SIDE_POP) {
		seq = &hdr->push_seq;
		count = &hdr->pop_waiters;
	} else {
		seq = &hdr->pop_seq;
		count = &hdr->push_waiters;
		many = &hdr->many_waiters;
	}
	for (;;) {
		if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
			return st;
		st = op->attempt(q, op);
		if ((st != CQ_FULL && st != CQ_EMPTY) || timeout_ms == 0)
			break;
		/* The clock is read only once we know we may wait. */
		if (deadline == 0)
			deadline = time_deadline_ns(timeout_ms);
		else if (time_mono_ns() >= deadline) {
			st = CQ_TIMEDOUT;
			break;
		}
		/*
		 * First poll the word unregistered: while the other side
		 * keeps up, nobody pays a FUTEX_WAKE for us. Then register
		 * for one sleep, reading the word under the lock.
		 */
		if (!polled && direct_spin > 0) {
			polled = 1;
			word = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
			lock_release(q);
			direct_poll(q, seq, word);
			continue;
		}
		gen = direct_count_up(count);
		/*
		 * A pusher of several messages, or one that found no room
		 * for its bytes, may need more than one freed slot's worth:
		 * every pop wakes it (many_waiters).
		 */
		as_many = many != NULL && (op->n > 1 || q->full_bytes);
		if (as_many)
			many_gen = direct_count_up(many);
		word = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
		lock_release(q);
		r = futex_wait(seq, word, direct_sleep_ns(deadline));
		direct_unregister(
		    count, gen, as_many ? many : NULL, many_gen, r == 1);
		if (r < 0) {
			/*
			 * EFAULT: the file was cut short under the word.
			 * Reading it raises SIGBUS, which the caller's guard
			 * turns into CQ_CORRUPT; if it was restored in
			 * between, the next lock and attempt judge what the
			 * cut left. Any other failure twice: CQ_SYSTEM.
			 */
			(void)__atomic_load_n(seq, __ATOMIC_SEQ_CST);
			if (fails++ == 0)
				continue;
			if (lock_take(q, q->lock_ms) != CQ_OK)
				return CQ_SYSTEM;
			st = CQ_SYSTEM;
			break;
		}
	}
	/* Bumped under the lock: whoever read the word before us wakes. */
	if (st == CQ_OK)
		DIRECT_BUMP(op->side == DIRECT_SIDE_POP ? &hdr->pop_seq
		                                        : &hdr->push_seq);
	lock_release(q);
	return st;
}
