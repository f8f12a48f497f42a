/* state.c - the queue's state words, owner, mode and counters. */

#include <string.h>

#include <sys/stat.h>

#include "core/guard.h"
#include "core/header.h"
#include "core/lock.h"
#include "core/ring.h"

/* Set a mutable header word under the lock. */
static cq_status
state_store(struct core_queue *q, uint64_t *word, uint64_t v)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	lock_release(q);
	return CQ_OK;
}

/* Set a mutable header word under the lock and a SIGBUS guard. */
static cq_status
state_set_word(struct core_queue *q, uint64_t *word, uint64_t v)
{
	return GUARD_STATUS(q, state_store(q, word, v));
}

/* Close the queue (idempotent). */
cq_status
core_close(struct core_queue *q)
{
	return state_set_word(q, &q->hdr->closed, 1);
}

/* Return 1 if the queue is closed (0 once quarantined). */
int
core_is_closed(struct core_queue *q)
{
	return GUARD_VALUE(
	    q, __atomic_load_n(&q->hdr->closed, __ATOMIC_ACQUIRE) != 0, 0);
}

/* Pause or resume pops. */
cq_status
core_set_paused(struct core_queue *q, int paused)
{
	return state_set_word(q, &q->hdr->paused, paused != 0);
}

/*
 * Suspend (resume == 0) or resume once, libdispatch-style: the paused word
 * is a count, so two pauses need two resumes. One 8-byte store is the
 * commit point. CQ_LIMIT past CORE_PAUSE_MAX; a resume of a queue that is
 * not paused does nothing (CQ_OK, as before counting: scripts that resume
 * "to be sure" keep working). *count gets the new count.
 */
static cq_status
state_suspend(struct core_queue *q, int resume, uint64_t *count)
{
	uint64_t n;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	n = q->hdr->paused;
	if (!resume && n >= CORE_PAUSE_MAX)
		st = CQ_LIMIT;
	else if (!resume || n > 0) {
		n = resume ? n - 1 : n + 1;
		__atomic_store_n(&q->hdr->paused, n, __ATOMIC_RELEASE);
	}
	lock_release(q);
	if (count != NULL)
		*count = n;
	return st;
}

/* core_suspend under a SIGBUS guard. */
cq_status
core_suspend(struct core_queue *q, int resume, uint64_t *count)
{
	return GUARD_STATUS(q, state_suspend(q, resume, count));
}

/* Change the queue permission bits. */
cq_status
core_set_mode(struct core_queue *q, uint32_t mode)
{
	cq_status st;

	if ((mode & ~07777u) != 0)
		return CQ_INVALID;
	if ((st = state_set_word(q, &q->hdr->mode, mode)) == CQ_OK)
		q->attr.mode = mode;
	return st;
}

/* Change the queue's owner and group, published together. */
cq_status
core_set_owner(struct core_queue *q, uint32_t uid, uint32_t gid)
{
	cq_status st;

	/* (uint32_t)-1 is chown(2)'s "unchanged", never an owner. */
	if (uid == UINT32_MAX || gid == UINT32_MAX)
		return CQ_INVALID;
	st = state_set_word(
	    q, &q->hdr->owner, ~((uint64_t)uid << 32 | (uint64_t)gid));
	if (st == CQ_OK) {
		q->attr.uid = uid;
		q->attr.gid = gid;
	}
	return st;
}

/* Count one dead-lettered message. */
static cq_status
state_count_dead_letter(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	q->hdr->dead_lettered++;
	lock_release(q);
	return CQ_OK;
}

/* core_count_dead_letter under a SIGBUS guard. */
cq_status
core_count_dead_letter(struct core_queue *q)
{
	return GUARD_STATUS(q, state_count_dead_letter(q));
}

/* Count one expired message (dead-lettered too when dlq). */
static cq_status
state_count_expired(struct core_queue *q, int dlq)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	q->hdr->expired++;
	if (dlq)
		q->hdr->dead_lettered++;
	lock_release(q);
	return CQ_OK;
}

/* core_count_expired under a SIGBUS guard. */
cq_status
core_count_expired(struct core_queue *q, int dead_lettered)
{
	return GUARD_STATUS(q, state_count_expired(q, dead_lettered));
}

/*
 * Return 1 if the header's words could be true (under the lock): each band
 * within the capacity, queued plus in flight too, every one of them
 * numbered below next_id, flags 0 or 1, mode within 07777.
 */
static int
state_plausible(struct core_queue *q)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t n = 0, f = hdr->in_flight;
	unsigned b;

	for (b = 0; b < q->bands; b++) {
		if (hdr->tail[b] - hdr->head[b] > q->capacity)
			return 0;
		n += hdr->tail[b] - hdr->head[b];
	}
	return f <= q->capacity && n + f <= q->capacity && hdr->next_id != 0 &&
	       hdr->bytes <= q->imm.max_bytes &&
	       hdr->next_id - 1 >= n + f && hdr->free_top <= q->capacity &&
	       hdr->closed <= 1 && hdr->paused <= CORE_PAUSE_MAX &&
	       hdr->mode <= 07777;
}

/*
 * Fill st with state and counters. Impossible words (a tampered in_flight,
 * say) are never reported: they make us run recovery, which rebuilds the
 * derived ones from committed state or quarantines the queue.
 */
static cq_status
state_stat(struct core_queue *q, struct core_stat *st)
{
	struct queue_hdr *hdr = q->hdr;
	const struct queue_slot *sl;
	struct stat sb;
	cq_status r;
	uint64_t oldest = 0;
	uint32_t s;
	unsigned b;

	if ((r = lock_take(q, q->lock_ms)) != CQ_OK)
		return r;
	if (!state_plausible(q) &&
	    (lock_recover(q) != 0 || !state_plausible(q))) {
		__atomic_store_n(&hdr->quarantined, 1, __ATOMIC_RELEASE);
		q->corrupt = 1;
		lock_release(q);
		return CQ_CORRUPT;
	}
	memset(st, 0, sizeof *st);
	st->attr = q->attr;
	st->attr.mode = (uint32_t)hdr->mode;
	layout_owner(hdr->owner, &st->attr.uid, &st->attr.gid);
	st->length = ring_len(q);
	st->delayed = flight_delayed_count(q);
	st->in_flight = hdr->in_flight > st->delayed
	                    ? hdr->in_flight - st->delayed
	                    : 0;
	/*
	 * Both totals are derived from committed state, so they stay exact
	 * across crashes: every push took the next id (recovery raises
	 * next_id past every live id), and whatever was pushed and is
	 * neither queued nor in flight has left the queue for good.
	 */
	st->total_pushed = hdr->next_id - 1;
	st->total_popped =
	    st->total_pushed - st->length - st->in_flight - st->delayed;
	/* Counters only count what left the queue: never more than that. */
	st->dead_lettered = hdr->dead_lettered < st->total_popped
	                        ? hdr->dead_lettered
	                        : st->total_popped;
	st->corrupt_dropped = hdr->corrupt_dropped < st->total_popped
	                          ? hdr->corrupt_dropped
	                          : st->total_popped;
	st->expired = hdr->expired < st->total_popped ? hdr->expired
	                                              : st->total_popped;
	for (b = 0; b < q->bands; b++) {
		if (ring_band_len(q, b) == 0)
			continue;
		s = *ring_cell(q, b, hdr->head[b]);
		if (s >= q->capacity)
			continue;
		sl = queue_slot_at(q, s);
		if (oldest == 0 || sl->enqueued_ns < oldest)
			oldest = sl->enqueued_ns;
	}
	st->oldest_enqueued_ns = oldest;
	st->closed = hdr->closed != 0;
	st->paused = (int)hdr->paused; /* <= CORE_PAUSE_MAX: plausible */
	st->bytes = hdr->bytes; /* <= max_bytes: plausible */
	lock_release(q);
	/* What tmpfs holds for the file: reserved metadata + backed pages. */
	if (header_file_stat(q, &sb) == 0)
		st->resident = (uint64_t)sb.st_blocks * 512;
	return CQ_OK;
}

/* core_stat under a SIGBUS guard. */
cq_status
core_stat(struct core_queue *q, struct core_stat *st)
{
	return GUARD_STATUS(q, state_stat(q, st));
}

/* Corrupt messages this handle dropped since the last call. */
uint64_t
core_dropped(struct core_queue *q)
{
	uint64_t n = q->dropped;

	q->dropped = 0;
	return n;
}

/* Refresh the mode and owner of q->attr from the header. */
static int
state_attr(struct core_queue *q)
{
	q->attr.mode =
	    (uint32_t)__atomic_load_n(&q->hdr->mode, __ATOMIC_RELAXED);
	layout_owner(__atomic_load_n(&q->hdr->owner, __ATOMIC_ACQUIRE),
	    &q->attr.uid, &q->attr.gid);
	return 0;
}

/* Attributes, with the current mode and owner (cached once quarantined). */
const struct core_attr *
core_attr(struct core_queue *q)
{
	(void)GUARD_VALUE(q, state_attr(q), 0);
	return &q->attr;
}

/* Free slots right now, without the lock. */
uint32_t
core_free_slots(struct core_queue *q)
{
	uint64_t used = GUARD_VALUE(q,
	    ring_len(q) + __atomic_load_n(&q->hdr->in_flight, __ATOMIC_RELAXED),
	    (uint64_t)q->capacity);

	return used >= q->capacity ? 0 : q->capacity - (uint32_t)used;
}

/* Queued messages, without the lock. */
uint64_t
core_length(struct core_queue *q)
{
	return GUARD_VALUE(q, ring_len(q), (uint64_t)0);
}
