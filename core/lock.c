/* lock.c - the segment's robust lock and the recovery a dead owner needs. */

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/direct.h"
#include "core/guard.h"
#include "core/header.h"
#include "core/lock.h"
#include "core/slot.h"

/* Marks in q->mark during recovery. */
#define LOCK_FREE   0
#define LOCK_RING   1
#define LOCK_FLIGHT 2

/* Initialise the robust process-shared mutex in place. */
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

/*
 * The glibc kind word of a mutex lock_init makes, read once from one made
 * here: a segment's lock whose kind differs was not made by us (a
 * priority-inheritance kind, say, makes glibc assert on a dead owner).
 */
static int
lock_kind(void)
{
	static int kind = -1;
	pthread_mutex_t m;
	int k = __atomic_load_n(&kind, __ATOMIC_RELAXED);

	if (k == -1 && lock_init(&m) == 0) {
		k = m.__data.__kind;
		pthread_mutex_destroy(&m);
		__atomic_store_n(&kind, k, __ATOMIC_RELAXED);
	}
	return k;
}

/* Return 1 if thread tid does not exist (or is us: we never nest). */
static int
lock_tid_dead(pid_t tid)
{
	if (tid == gettid())
		return 1;
	/* kill(2) takes any thread id; EPERM means someone else's, alive. */
	return kill(tid, 0) != 0 && errno == ESRCH;
}

/*
 * The lock is held: if its owner word names a thread that does not exist
 * (a tampered word, or an owner the kernel could not flag), do what the
 * kernel does for a robust owner that dies: keep the waiters bit, set
 * FUTEX_OWNER_DIED, clear the thread id, wake a waiter. The next trylock
 * then gets EOWNERDEAD and recovers. Liveness, never a timeout, decides:
 * a live owner keeps its lock however long it holds it. One compare and
 * swap, so a word that changed meanwhile is left alone.
 */
static void
lock_reap(struct core_queue *q)
{
	int *word = &q->hdr->lock.__data.__lock;
	unsigned int w = (unsigned int)__atomic_load_n(word, __ATOMIC_ACQUIRE);
	unsigned int tid = w & FUTEX_TID_MASK;
	int nw;

	if (tid == 0 || (w & FUTEX_OWNER_DIED) != 0 ||
	    !lock_tid_dead((pid_t)tid))
		return;
	nw = (int)((w & FUTEX_WAITERS) | FUTEX_OWNER_DIED);
	if (__atomic_compare_exchange_n(word, &(int){(int)w}, nw, 0,
	        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
	    (w & FUTEX_WAITERS) != 0)
		syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Take q's lock: trylock when ms <= 0, else wait until now + ms on the
 * monotonic clock if the lock is held. A dead owner makes us recover before
 * anything else, and pthread_mutex_consistent() comes last so that a crash
 * during the repair leaves EOWNERDEAD for the next locker, who reruns it.
 */
cq_status
lock_take(struct core_queue *q, int64_t ms)
{
	struct timespec ts;
	int r;

	if (q->corrupt)
		return CQ_CORRUPT;
	/* Vet the kind before glibc acts on it (the lock stays untouched). */
	if (__atomic_load_n(&q->hdr->lock.__data.__kind, __ATOMIC_RELAXED) !=
	    lock_kind()) {
		q->corrupt = 1;
		return CQ_CORRUPT;
	}
	/* Uncontended (the usual case): no clock read, no deadline. */
	r = pthread_mutex_trylock(&q->hdr->lock);
	if (r == EBUSY) {
		lock_reap(q);
		r = pthread_mutex_trylock(&q->hdr->lock);
	}
	if (r == EBUSY && ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		r = pthread_mutex_clocklock(
		    &q->hdr->lock, CLOCK_MONOTONIC, &ts);
	}
	switch (r) {
	case 0:
		break;
	case EBUSY:
	case ETIMEDOUT:
		return CQ_BUSY;
	case EOWNERDEAD:
		if (lock_recover(q) != 0) {
			/* Tell every other handle to stop trusting it too. */
			__atomic_store_n(
			    &q->hdr->quarantined, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_consistent(&q->hdr->lock);
		break;
	case ENOTRECOVERABLE:
	case EINVAL:
		/* Not a lock we made: quarantine. */
		q->corrupt = 1;
		return CQ_CORRUPT;
	default:
		errno = r;
		return CQ_SYSTEM;
	}
	if (__atomic_load_n(&q->hdr->quarantined, __ATOMIC_ACQUIRE) != 0) {
		pthread_mutex_unlock(&q->hdr->lock);
		q->corrupt = 1;
		return CQ_CORRUPT;
	}
	q->locked = 1;
	return CQ_OK;
}

/* Release q's lock. */
void
lock_release(struct core_queue *q)
{
	q->locked = 0;
	pthread_mutex_unlock(&q->hdr->lock);
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
			if (s >= cap || !slot_ok(q, s, b)) {
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
		if (!slot_ok(q, s, -1) || queue_slot_at(q, s)->id != id) {
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
