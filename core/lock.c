/* lock.c - the segment's robust lock and the recovery a dead owner needs. */

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/direct.h"
#include "core/futex.h"
#include "core/guard.h"
#include "core/header.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/slot.h"

/* Marks in q->mark during recovery. */
#define LOCK_FREE   0
#define LOCK_RING   1
#define LOCK_FLIGHT 2

/*
 * The lock is one 32-bit futex word of our own, in the bytes where older
 * layouts kept a glibc robust mutex (at the offset of its __lock word, in
 * the same format: owner thread id | FUTEX_WAITERS | FUTEX_OWNER_DIED).
 * glibc never operates on it: a robust pthread mutex links itself into
 * the owner thread's robust list through two pointers stored *in the
 * mutex*, and unlocking writes through them, so any process that maps the
 * segment (a direct client) could make the daemon write where it says.
 * Here the word is the only byte read, each read is used once, and a dead
 * owner is found by liveness (kill(tid, 0)), never by a timeout alone: a
 * waiter sleeps at most LOCK_PROBE_NS at a time and then asks whether the
 * owner still lives (the kernel's robust list, which would wake it at
 * once, is glibc's to register and cannot be shared safely).
 */
#define LOCK_PROBE_NS (5 * 1000000LL)

/* The lock word of q. */
static uint32_t *
lock_word(struct core_queue *q)
{
	return (uint32_t *)(void *)&q->hdr->lock.__data.__lock;
}

/*
 * Initialise the lock in place: a robust process-shared glibc mutex, so
 * that the bytes read as older builds made them (they vetted the kind);
 * only its word (0: free) is used.
 */
int
lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t ma;
	int r;

	if ((r = pthread_mutexattr_init(&ma)) != 0)
		return r;
	if ((r = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED)) ==
	        0 &&
	    (r = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST)) == 0)
		r = pthread_mutex_init(m, &ma);
	pthread_mutexattr_destroy(&ma);
	return r;
}

/* Polls of a held lock before sleeping on it (doc/direct-path.md). */
#define LOCK_SPIN 100

/*
 * This thread's id as the lock word holds it, asked of the kernel once
 * per thread (gettid(2) is a system call, and was one on every lock):
 * 0 until then, and again in the child of a fork, whose only thread has
 * a new id (lock_fork_child, registered with the first ask).
 */
static __thread uint32_t lock_me;
static pthread_once_t lock_once = PTHREAD_ONCE_INIT;

static void
lock_fork_child(void)
{
	lock_me = 0;
}

static void
lock_register_fork(void)
{
	(void)pthread_atfork(NULL, NULL, lock_fork_child);
}

static uint32_t
lock_tid(void)
{
	if (lock_me == 0) {
		(void)pthread_once(&lock_once, lock_register_fork);
		lock_me = (uint32_t)gettid() & FUTEX_TID_MASK;
	}
	return lock_me;
}

/* Return 1 if thread tid does not exist. */
static int
lock_tid_dead(uint32_t tid)
{
	/* kill(2) takes any thread id; EPERM means someone else's, alive. */
	return kill((pid_t)tid, 0) != 0 && errno == ESRCH;
}

/*
 * One attempt on the word w last read: take a free lock (0 if taken), or
 * one whose owner died (1: the caller recovers first), keeping the
 * waiters bit when sleepers may remain (waited). -1 if it is held by a
 * thread that lives, or (probe 0) by one we did not ask about: asking is
 * a system call, made only when trying once, before the first sleep and
 * after a sleep in which the word never moved. *w then holds the word as
 * seen.
 */
static int
lock_try(uint32_t *word, uint32_t *w, uint32_t me, int waited, int probe)
{
	uint32_t tid, nw;

	for (;;) {
		tid = *w & FUTEX_TID_MASK;
		/* Our own id names a dead thread: we never nest. */
		if (tid != 0 && (*w & FUTEX_OWNER_DIED) == 0 && tid != me &&
		    (!probe || !lock_tid_dead(tid)))
			return -1;
		/* Free, flagged dead by the kernel or an old build, or dead. */
		nw = me | (waited ? FUTEX_WAITERS : (*w & FUTEX_WAITERS));
		if (__atomic_compare_exchange_n(word, w, nw, 0,
		        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			return tid == 0 && (*w & FUTEX_OWNER_DIED) == 0 ? 0 : 1;
		/* *w now holds the word as it changed: look again. */
	}
}

/* Nanoseconds on the monotonic clock. */
static int64_t
lock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Acquire the word: at once when ms <= 0, else sleeping until ms have
 * passed on the monotonic clock. A held lock is polled LOCK_SPIN times
 * first (critical sections are short, and a sleep and its wake-up cost
 * tens of microseconds on a VM); before it first sleeps, and whenever
 * it wakes (at least every LOCK_PROBE_NS) to a word that did not move,
 * it asks whether the owner died. 0 taken, 1 taken from a dead owner, -1 busy (still
 * held at the deadline).
 */
static int
lock_acquire(uint32_t *word, int64_t ms)
{
	uint32_t me = lock_tid();
	uint32_t w = __atomic_load_n(word, __ATOMIC_RELAXED), slept;
	int64_t end = 0, left;
	int r, waited = 0, spin, probe = 0;

	/* Trying once must see a dead owner now: it asks. */
	if ((r = lock_try(word, &w, me, 0, ms <= 0)) >= 0 || ms <= 0)
		return r;
	for (spin = 0; spin < LOCK_SPIN; spin++) {
		FUTEX_RELAX();
		w = __atomic_load_n(word, __ATOMIC_RELAXED);
		if ((w & FUTEX_TID_MASK) == 0 &&
		    (r = lock_try(word, &w, me, 0, 0)) >= 0)
			return r;
	}
	/* About to sleep, which costs far more than asking: is it alive? */
	if ((r = lock_try(word, &w, me, 0, 1)) >= 0)
		return r;
	end = lock_now_ns() + ms * 1000000;
	for (;;) {
		/* Say that someone sleeps, so the unlock wakes us. */
		if ((w & FUTEX_WAITERS) == 0 &&
		    !__atomic_compare_exchange_n(word, &w, w | FUTEX_WAITERS,
		        0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			if ((r = lock_try(word, &w, me, waited, probe)) >= 0)
				return r;
			continue;
		}
		left = end - lock_now_ns();
		if (left <= 0)
			return -1;
		slept = w | FUTEX_WAITERS;
		(void)futex_wait(word, slept,
		    left < LOCK_PROBE_NS ? left : LOCK_PROBE_NS);
		waited = 1;
		w = __atomic_load_n(word, __ATOMIC_RELAXED);
		/* Unmoved through a whole sleep: is its owner still there? */
		probe = w == slept;
		if ((r = lock_try(word, &w, me, waited, probe)) >= 0)
			return r;
	}
}

/*
 * Take q's lock: try once when ms <= 0, else wait up to ms (monotonic) if
 * it is held. A dead owner makes us recover before anything else; the
 * word then names us, so a crash during the repair leaves a dead owner
 * again and the next locker reruns it.
 */
cq_status
lock_take(struct core_queue *q, int64_t ms)
{
	int r;

	if (q->corrupt)
		return CQ_CORRUPT;
	r = lock_acquire(lock_word(q), ms);
	if (r < 0)
		return CQ_BUSY;
	q->locked = 1;
	if (r == 1 && lock_recover(q) != 0) {
		/* Tell every other handle to stop trusting it too. */
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
	}
	if (__atomic_load_n(&q->hdr->quarantined, __ATOMIC_ACQUIRE) != 0) {
		lock_release(q);
		q->corrupt = 1;
		return CQ_CORRUPT;
	}
	return CQ_OK;
}

/* Release q's lock, waking one sleeper if any said it sleeps. */
void
lock_release(struct core_queue *q)
{
	uint32_t *word = lock_word(q), w;

	/* Held until the word is free: a SIGBUS on the word itself is still
	 * a fault under the lock (core/guard.c: guard_orphan). */
	w = __atomic_exchange_n(word, 0, __ATOMIC_RELEASE);
	q->locked = 0;
	if (w & FUTEX_WAITERS)
		(void)futex_wake(word, 1);
}

/* Count one message recovery dropped (in the header and the handle). */
static void
lock_count_drop(struct core_queue *q)
{
	q->hdr->corrupt_dropped++;
	q->dropped++;
}

/*
 * Validate and repair q under its lock; 0 if the queue can be used, -1 if
 * the header cannot be trusted. Only committed fields are read to decide
 * and only derived fields (plus bands closed up over their bad entries)
 * are written, so running it again after a crash in the middle gives the
 * same result.
 */
int
lock_recover(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, p, w, maxid = 0, n = 0, top = 0;
	uint32_t cap = q->capacity, b, s;
	struct stat sb;

	CORE_HOOK("recover.begin");
	/* The file and the header as attach checked them, or quarantine. */
	if (header_file_stat(q, &sb) != 0 ||
	    header_validate(
	        &sb, q->file_uid, q->base, q->size, &q->imm, NULL) != CQ_OK)
		return -1;
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		if (t - h > cap)
			return -1;
	}
	if (hdr->closed > 1)
		hdr->closed = 1;
	/*
	 * A purge killed after its commit (core/browse.c): finish it. The
	 * tails are what it saw (nobody pushed: it held the lock); the free
	 * stack is rebuilt below. The bit goes last, so a rerun redoes this.
	 */
	if ((hdr->paused & CORE_PURGE_BIT) != 0) {
		for (b = 0; b < q->bands; b++)
			__atomic_store_n(
			    &hdr->head[b], hdr->tail[b], __ATOMIC_RELEASE);
		__atomic_store_n(&hdr->paused, hdr->paused & ~CORE_PURGE_BIT,
		    __ATOMIC_RELEASE);
	}
	/* A count beyond any real one is damage: one resume ends it. */
	if (hdr->paused > CORE_PAUSE_MAX)
		hdr->paused = 1;
	if (hdr->mode > 07777)
		hdr->mode &= 07777;

	/*
	 * Each live ring entry must name a distinct valid slot, and an
	 * in-flight entry only counts on a slot no ring holds: so queued plus
	 * in flight can never exceed the capacity (no separate sum check).
	 */
	memset(q->mark, LOCK_FREE, cap);
	heap_reset(q); /* each live record claims its chunks below */
	for (b = 0; b < q->bands; b++) {
		h = hdr->head[b];
		t = hdr->tail[b];
		/*
		 * Keep every good entry, in order, and close up over the bad
		 * ones; the tail store commits the new band. Killed half-way,
		 * a good entry may sit twice (moved down, not yet committed):
		 * the rerun keeps its first copy and skips the second as a
		 * duplicate, so it ends where this run would have.
		 */
		for (p = w = h; p != t; p++) {
			s = q->ring[(size_t)b * cap + p % cap];
			if (s < cap && q->mark[s] != LOCK_FREE)
				continue; /* a duplicate: not a message */
			if (s >= cap || !slot_ok(q, s, b) ||
			    !heap_claim(q, s)) {
				lock_count_drop(q);
				continue;
			}
			if (w != p)
				q->ring[(size_t)b * cap + w % cap] = s;
			w++;
			q->mark[s] = LOCK_RING;
			if (queue_slot_at(q, s)->id > maxid)
				maxid = queue_slot_at(q, s)->id;
		}
		if (w != t)
			__atomic_store_n(&hdr->tail[b], w, __ATOMIC_RELEASE);
	}
	CORE_HOOK("recover.middle");

	for (s = 0; s < cap; s++) {
		struct queue_inflight *e = &q->inflight[s];
		uint64_t id = e->id;

		if (id == 0)
			continue;
		/*
		 * Ring wins: a slot both queued and in flight is a pop that
		 * did not commit, or a return that committed but did not
		 * clear its entry.
		 */
		if (q->mark[s] != LOCK_FREE) {
			__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
			continue;
		}
		if (!slot_ok(q, s, -1) || queue_slot_at(q, s)->id != id ||
		    !heap_claim(q, s)) {
			__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
			lock_count_drop(q);
			continue;
		}
		q->mark[s] = LOCK_FLIGHT;
		n++;
		if (id > maxid)
			maxid = id;
	}

	/* Rebuild the free stack so that low slots are handed out first. */
	for (s = cap; s-- > 0;)
		if (q->mark[s] == LOCK_FREE)
			q->free[top++] = s;
	hdr->free_top = top;
	hdr->in_flight = n;
	if (hdr->next_id <= maxid)
		hdr->next_id = maxid + 1;
	if (hdr->next_id == 0)
		hdr->next_id = 1;
	direct_reset_waiters(q);
	CORE_HOOK("recover.before_consistent");
	return 0;
}

/* Validate and repair under the lock. */
static cq_status
lock_check(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if (lock_recover(q) != 0) {
		__atomic_store_n(&q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
		st = CQ_CORRUPT;
	}
	lock_release(q);
	return st;
}

/* Take and release q's lock: whether it can be had now (recovering). */
static cq_status
lock_probe(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) == CQ_OK)
		lock_release(q);
	return st;
}

/* lock_probe under a SIGBUS guard. */
cq_status
core_probe(struct core_queue *q)
{
	return GUARD_STATUS(q, lock_probe(q));
}

/* core_check under a SIGBUS guard. */
cq_status
core_check(struct core_queue *q)
{
	return GUARD_STATUS(q, lock_check(q));
}
