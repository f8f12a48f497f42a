/* direct.c - push and pop on a mapped segment, waiting on futex words. */

#include <limits.h>
#include <string.h>

#include "common/common.h"
#include "core/direct.h"
#include "core/futex.h"
#include "core/guard.h"
#include "core/heap.h"
#include "core/layout.h"
#include "core/lock.h"
#include "core/slot.h"

int64_t direct_slice_ms = 1000;
int direct_spin = 1000;

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

/* Return 1 if q's layout carries the direct words. */
int
direct_usable(struct core_queue *q)
{
	return DIRECT_USABLE(q);
}

/*
 * The segment failed a check under the lock: repair it as the next locker
 * after a crash would (recovery keeps only what validates), or quarantine
 * it. Either way the op that found it reports CQ_CORRUPT.
 */
static cq_status
direct_damaged(struct core_queue *q)
{
	if (lock_recover(q) != 0) {
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
	}
	return CQ_CORRUPT;
}

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
static void
direct_wake_word(uint32_t *seq, uint32_t *count, int n)
{
	uint32_t c = __atomic_load_n(count, __ATOMIC_SEQ_CST);
	int woke;

	if ((c & DIRECT_COUNT_MASK) != 0 && (woke = futex_wake(seq, n)) > 0)
		direct_count_sub(count, c >> DIRECT_GEN_SHIFT, (uint32_t)woke);
}

/* Wake count for n moved messages. */
static int
direct_wake_n(uint32_t n)
{
	return n > (uint32_t)DIRECT_ALL_WAITERS ? DIRECT_ALL_WAITERS : (int)n;
}

/* Bump the word of a committed change and wake its sleepers. */
static int
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
static cq_status
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

/* Attempt a push under the lock. */
static cq_status
direct_push_attempt(struct core_queue *q, struct direct_op *op)
{
	cq_status st;

	st = queue_push_held(
	    q, op->iov, op->n, op->band, op->front, op->first_id);
	if (st == CQ_CORRUPT)
		return direct_damaged(q);
	op->moved = (uint32_t)op->n;
	return st;
}

/* After a committed push: wake poppers, tell whether to ring. */
static void
direct_after_push(struct core_queue *q, uint32_t n, int *ring)
{
	struct queue_hdr *hdr = q->hdr;

	direct_wake_word(&hdr->push_seq, &hdr->pop_waiters, direct_wake_n(n));
	if (ring != NULL)
		*ring = __atomic_load_n(
		            &hdr->daemon_poppers, __ATOMIC_SEQ_CST) != 0;
}

/* Run a push and what follows its commit (under the caller's guard). */
static cq_status
direct_push_go(
    struct core_queue *q, struct direct_op *op, int64_t timeout_ms, int *ring)
{
	cq_status st;

	if ((st = direct_run(q, op, timeout_ms)) == CQ_OK)
		direct_after_push(q, op->moved, ring);
	return st;
}

/* Push n messages, all or nothing, waiting for room. */
cq_status
direct_push_many(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, int64_t timeout_ms, uint64_t *first_id, int *ring)
{
	struct direct_op op;
	cq_status st;

	if (ring != NULL)
		*ring = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (!DIRECT_USABLE(q) || band >= q->bands || n == 0 || iov == NULL)
		return CQ_INVALID;
	/* More than the capacity could never go in: fail instead of waiting. */
	if (n > q->capacity)
		return CQ_INVALID;
	if ((st = slot_iov_check(q, iov, n)) != CQ_OK)
		return st;
	op.side = DIRECT_SIDE_PUSH; /* only what the push attempt reads */
	op.attempt = direct_push_attempt;
	op.iov = iov;
	op.n = n;
	op.band = band;
	op.front = front;
	op.first_id = first_id;
	return GUARD_STATUS(q, direct_push_go(q, &op, timeout_ms, ring));
}

/* Push one message, waiting for room. */
cq_status
direct_push(struct core_queue *q, const void *buf, size_t len, unsigned band,
    int front, int64_t timeout_ms, uint64_t *id, int *ring)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	return direct_push_many(q, &iov, 1, band, front, timeout_ms, id, ring);
}

/*
 * Take up to op->max messages of the best band under the lock: copy each
 * out, check its checksum on the copy (what we hand over is what was
 * checked), then commit head and give the slots back to the free stack.
 */
static cq_status
direct_take_attempt(struct core_queue *q, struct direct_op *op)
{
	struct queue_hdr *hdr = q->hdr;
	const struct queue_slot *sl;
	struct direct_msg *m;
	uint64_t h = 0, t = 0, k, i, top;
	uint32_t cap = q->capacity, s, len, crc;
	size_t off = 0;
	int b;

	for (b = (int)q->bands - 1; b >= 0; b--) {
		h = DIRECT_LOAD(&hdr->head[b]);
		t = DIRECT_LOAD(&hdr->tail[b]);
		if (t - h > cap)
			return direct_damaged(q);
		if (t != h)
			break;
	}
	if (b < 0)
		return DIRECT_LOAD(&hdr->closed) ? CQ_CLOSED : CQ_EMPTY;
	if (DIRECT_LOAD(&hdr->paused))
		return CQ_EMPTY;
	k = t - h < op->max ? t - h : op->max;
	top = DIRECT_LOAD(&hdr->free_top);
	if (top > cap || k > cap - top)
		return direct_damaged(q);
	for (i = 0; i < k; i++) {
		s = DIRECT_LOAD(&q->ring[(size_t)b * cap + (h + i) % cap]);
		if (s >= cap)
			return direct_damaged(q);
		sl = queue_slot_at(q, s);
		m = &op->m[i];
		m->id = DIRECT_LOAD(&sl->id);
		m->enqueued_ns = DIRECT_LOAD(&sl->enqueued_ns);
		m->deliveries = DIRECT_LOAD(&sl->deliveries) + 1;
		m->band = DIRECT_LOAD(&sl->band);
		len = DIRECT_LOAD(&sl->len);
		crc = DIRECT_LOAD(&sl->crc);
		if (m->id == 0 || len > q->max_size || m->band != (uint32_t)b)
			return direct_damaged(q);
		if (len > op->cap - off) {
			if (i > 0)
				break;
			m->len = len; /* the caller grows its buffer */
			return CQ_TOOBIG;
		}
		memcpy(op->buf + off, sl->data, len);
		if (slot_crc(m->id, m->band, len, op->buf + off) != crc)
			return direct_damaged(q);
		m->len = len;
		m->off = (uint32_t)off;
		off += len;
	}
	k = i;
	CORE_HOOK("direct.pop.before_commit");
	__atomic_store_n(&hdr->head[b], h + k, __ATOMIC_RELEASE);
	CORE_HOOK("direct.pop.after_commit");
	/* Derived state: recovery rebuilds the free stack if we die here. */
	for (i = 0; i < k; i++) {
		s = DIRECT_LOAD(&q->ring[(size_t)b * cap + (h + i) % cap]);
		if (s < cap) {
			q->free[top++] = s;
			heap_free(q, s);
		}
	}
	__atomic_store_n(&hdr->free_top, top, __ATOMIC_RELAXED);
	hdr->total_popped += k;
	op->moved = (uint32_t)k;
	return CQ_OK;
}

/* Run a pop and what follows its commit (under the caller's guard). */
static cq_status
direct_pop_go(
    struct core_queue *q, struct direct_op *op, int64_t timeout_ms, int *ring)
{
	struct queue_hdr *hdr = q->hdr;
	cq_status st;

	if ((st = direct_run(q, op, timeout_ms)) != CQ_OK)
		return st;
	/* A push_many sleeper may need more slots than we freed. */
	direct_wake_word(&hdr->pop_seq, &hdr->push_waiters,
	    DIRECT_LOAD(&hdr->many_waiters) != 0 ? DIRECT_ALL_WAITERS
	                                         : direct_wake_n(op->moved));
	if (ring != NULL)
		*ring = __atomic_load_n(
		            &hdr->daemon_pushers, __ATOMIC_SEQ_CST) != 0;
	return CQ_OK;
}

/* Pop 1..max messages of one band, waiting for one. */
cq_status
direct_pop_many(struct core_queue *q, void *buf, size_t cap,
    struct direct_msg *m, size_t max, size_t *n, int64_t timeout_ms, int *ring)
{
	struct direct_op op;
	cq_status st;

	*n = 0;
	if (ring != NULL)
		*ring = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (!DIRECT_USABLE(q) || q->imm.serial || max == 0 || m == NULL ||
	    (buf == NULL && cap > 0))
		return CQ_INVALID;
	op.side = DIRECT_SIDE_POP; /* only what the pop attempt reads */
	op.n = 1;
	op.attempt = direct_take_attempt;
	op.buf = buf;
	op.cap = cap;
	op.m = m;
	op.max = max;
	if ((st = GUARD_STATUS(q, direct_pop_go(q, &op, timeout_ms, ring))) ==
	    CQ_OK)
		*n = op.moved;
	return st;
}

/* Pop one message, waiting for it. */
cq_status
direct_pop(struct core_queue *q, void *buf, size_t cap, struct direct_msg *m,
    int64_t timeout_ms, int *ring)
{
	size_t n;

	return direct_pop_many(q, buf, cap, m, 1, &n, timeout_ms, ring);
}

/* Whether the daemon has parked waiters of either side. */
static int
direct_daemon_parked(struct core_queue *q, int pushers_too)
{
	return __atomic_load_n(&q->hdr->daemon_poppers, __ATOMIC_SEQ_CST) !=
	           0 ||
	       (pushers_too && __atomic_load_n(&q->hdr->daemon_pushers,
	                           __ATOMIC_SEQ_CST) != 0);
}

/* Close, then wake (under the caller's guard). */
static cq_status
direct_close_go(struct core_queue *q, int *ring)
{
	cq_status st;

	if ((st = core_close(q)) != CQ_OK)
		return st;
	direct_wake_go(q, DIRECT_CLOSED, 0);
	if (ring != NULL)
		*ring = direct_daemon_parked(q, 1);
	return CQ_OK;
}

/* Close the queue and wake every waiter of both paths. */
cq_status
direct_close(struct core_queue *q, int *ring)
{
	if (ring != NULL)
		*ring = 0;
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	return GUARD_STATUS(q, direct_close_go(q, ring));
}

/* Resume, then wake (under the caller's guard). */
static cq_status
direct_resume_go(struct core_queue *q, int *ring)
{
	cq_status st;

	if ((st = core_set_paused(q, 0)) != CQ_OK)
		return st;
	direct_wake_go(q, DIRECT_RESUMED, 0);
	if (ring != NULL)
		*ring = direct_daemon_parked(q, 0);
	return CQ_OK;
}

/* Pause or resume pops; resume wakes every popper of both paths. */
cq_status
direct_set_paused(struct core_queue *q, int paused, int *ring)
{
	if (ring != NULL)
		*ring = 0;
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	if (paused)
		return core_set_paused(q, 1);
	return GUARD_STATUS(q, direct_resume_go(q, ring));
}

/* Waiting poppers of both paths (a stale count included until recovery). */
static uint32_t
direct_poppers(struct core_queue *q)
{
	return (DIRECT_LOAD(&q->hdr->pop_waiters) & DIRECT_COUNT_MASK) +
	       DIRECT_LOAD(&q->hdr->daemon_poppers);
}

/* GAsyncQueue length: queued minus waiting poppers. */
int64_t
direct_length(struct core_queue *q)
{
	return (int64_t)core_length(q) -
	       (int64_t)GUARD_VALUE(q, direct_poppers(q), 0);
}

/* core_stat plus the waiters of both paths (under the caller's guard). */
static cq_status
direct_stat_go(struct core_queue *q, struct direct_stat *st)
{
	cq_status r;

	if ((r = core_stat(q, &st->core)) != CQ_OK)
		return r;
	st->waiting_poppers = direct_poppers(q);
	st->waiting_pushers =
	    (DIRECT_LOAD(&q->hdr->push_waiters) & DIRECT_COUNT_MASK) +
	    DIRECT_LOAD(&q->hdr->daemon_pushers);
	st->length = (int64_t)st->core.length - (int64_t)st->waiting_poppers;
	return CQ_OK;
}

/* core_stat plus the waiters of both paths. */
cq_status
direct_stat(struct core_queue *q, struct direct_stat *st)
{
	memset(st, 0, sizeof *st);
	if (!DIRECT_USABLE(q))
		return CQ_INVALID;
	return GUARD_STATUS(q, direct_stat_go(q, st));
}
