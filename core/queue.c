/* queue.c - the non-blocking queue operations on a mapped segment. */

#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "core/layout.h"

void (*core_crash_hook)(const char *site);

/* Set the lock timeout of every later operation on q. */
void
core_set_lock_timeout(struct core_queue *q, int64_t ms)
{
	q->lock_ms = ms < 0 ? 0 : ms;
}

/* Ring cell of band b at counter position p. */
static uint32_t *
queue_cell(struct core_queue *q, unsigned b, uint64_t p)
{
	return &q->ring[(size_t)b * q->capacity + p % q->capacity];
}

/* Queued messages in band b (the header keeps head <= tail). */
static uint64_t
queue_band_len(struct core_queue *q, unsigned b)
{
	uint64_t h = __atomic_load_n(&q->hdr->head[b], __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&q->hdr->tail[b], __ATOMIC_ACQUIRE);

	return t - h > q->capacity ? 0 : t - h;
}

/* Queued messages in every band. */
static uint64_t
queue_len(struct core_queue *q)
{
	uint64_t n = 0;
	unsigned b;

	for (b = 0; b < q->bands; b++)
		n += queue_band_len(q, b);
	return n;
}

/* Write a message into free slot s (not yet published), pushed at now. */
static void
queue_fill_slot(struct core_queue *q, uint32_t s, uint64_t id, unsigned band,
    const void *buf, uint32_t len, uint64_t now)
{
	struct queue_slot *sl = queue_slot_at(q, s);

	sl->id = id;
	sl->enqueued_ns = now;
	sl->len = len;
	sl->band = band;
	sl->deliveries = 0;
	if (len > 0)
		memcpy(sl->data, buf, len);
	sl->crc = segment_slot_crc(id, band, len, sl->data);
}

/* Push n messages to band under the lock, with one commit. */
static cq_status
queue_push_locked(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	struct queue_hdr *hdr = q->hdr;
	uint64_t h, t, id, top, now;
	uint32_t s;
	size_t i;

	if (hdr->closed)
		return CQ_CLOSED;
	top = hdr->free_top;
	if (top > q->capacity)
		return CQ_CORRUPT;
	if (n > top)
		return CQ_FULL;
	id = hdr->next_id;
	h = hdr->head[band];
	t = hdr->tail[band];
	now = time_real_ns(); /* one clock read for the whole batch */
	for (i = 0; i < n; i++) {
		s = q->free[top - 1 - i];
		if (s >= q->capacity)
			return CQ_CORRUPT;
		queue_fill_slot(q, s, id + i, band, iov[i].iov_base,
		    (uint32_t)iov[i].iov_len, now);
		*queue_cell(q, band, front ? h - n + i : t + i) = s;
		if (i + 1 < n)
			CORE_HOOK("push.slot_written");
	}
	CORE_HOOK("push.before_commit");
	if (front)
		__atomic_store_n(&hdr->head[band], h - n, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&hdr->tail[band], t + n, __ATOMIC_RELEASE);
	CORE_HOOK("push.after_commit");
	hdr->free_top = top - n;
	hdr->next_id = id + n;
	hdr->total_pushed += n;
	if (first_id != NULL)
		*first_id = id;
	return CQ_OK;
}

/* Push one message. */
cq_status
core_push(struct core_queue *q, const void *buf, size_t len, unsigned band,
    int front, uint64_t *id)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	return core_push_many(q, &iov, 1, band, front, id);
}

/* Push n messages, all or nothing. */
cq_status
core_push_many(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	cq_status st;
	size_t i;

	if (q->corrupt)
		return CQ_CORRUPT;
	if (band >= q->bands || n == 0 || (iov == NULL))
		return CQ_INVALID;
	for (i = 0; i < n; i++) {
		if (iov[i].iov_len > q->max_size)
			return CQ_TOOBIG;
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
			return CQ_INVALID;
	}
	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_push_locked(q, iov, n, band, front, first_id);
	lock_release(q);
	return st;
}

/* Move up to max messages of the best band into flight, one commit. */
static cq_status
queue_pop_locked(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m, size_t max, size_t *np)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_slot *sl;
	struct queue_inflight *e;
	uint64_t h = 0, k = 0;
	uint32_t s;
	size_t i;
	int b;

	for (b = (int)q->bands - 1; b >= 0; b--) {
		if ((k = queue_band_len(q, (unsigned)b)) > 0)
			break;
	}
	if (b < 0)
		return hdr->closed ? CQ_CLOSED : CQ_EMPTY;
	if (hdr->paused)
		return CQ_EMPTY;
	if (q->imm.serial) {
		if (hdr->in_flight > 0)
			return CQ_EMPTY;
		max = 1;
	}
	if (k > max)
		k = max;
	h = hdr->head[b];
	for (i = 0; i < k; i++) {
		s = *queue_cell(q, (unsigned)b, h + i);
		if (s >= q->capacity)
			return CQ_CORRUPT;
		e = &q->inflight[s];
		e->owner = owner;
		e->deadline_ns = deadline_ns;
		__atomic_store_n(
		    &e->id, queue_slot_at(q, s)->id, __ATOMIC_RELAXED);
	}
	CORE_HOOK("pop.before_commit");
	__atomic_store_n(&hdr->head[b], h + k, __ATOMIC_RELEASE);
	CORE_HOOK("pop.after_commit");
	for (i = 0; i < k; i++) {
		s = *queue_cell(q, (unsigned)b, h + i);
		sl = queue_slot_at(q, s);
		sl->deliveries++;
		m[i].slot = s;
		m[i].band = sl->band;
		m[i].id = sl->id;
		m[i].enqueued_ns = sl->enqueued_ns;
		m[i].deliveries = sl->deliveries;
		m[i].len = sl->len <= q->max_size ? sl->len : q->max_size;
		m[i].data = sl->data;
	}
	__atomic_store_n(&hdr->in_flight, hdr->in_flight + k, __ATOMIC_RELAXED);
	*np = (size_t)k;
	return CQ_OK;
}

/* Pop one message into flight. */
cq_status
core_pop(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m)
{
	size_t n;

	return core_pop_many(q, owner, deadline_ns, m, 1, &n);
}

/* Pop 1..max messages of one band into flight. */
cq_status
core_pop_many(struct core_queue *q, uint64_t owner, uint64_t deadline_ns,
    struct core_msg *m, size_t max, size_t *n)
{
	cq_status st;

	*n = 0;
	if (q->corrupt)
		return CQ_CORRUPT;
	if (max == 0 || m == NULL)
		return CQ_INVALID;
	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_pop_locked(q, owner, deadline_ns, m, max, n);
	lock_release(q);
	return st;
}

/* Find in-flight entry (slot, id) or NULL. */
static struct queue_inflight *
queue_find(struct core_queue *q, uint32_t slot, uint64_t id)
{
	if (slot >= q->capacity || id == 0 || q->inflight[slot].id != id)
		return NULL;
	return &q->inflight[slot];
}

/* Delete in-flight message (slot, id) under the lock. */
static cq_status
queue_confirm_locked(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct queue_hdr *hdr = q->hdr;
	struct queue_inflight *e;

	if ((e = queue_find(q, slot, id)) == NULL)
		return CQ_NOTFOUND;
	if (hdr->free_top >= q->capacity)
		return CQ_CORRUPT;
	CORE_HOOK("confirm.before_commit");
	__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	CORE_HOOK("confirm.after_commit");
	q->free[hdr->free_top++] = slot;
	__atomic_store_n(&hdr->in_flight, hdr->in_flight - 1, __ATOMIC_RELAXED);
	hdr->total_popped++;
	return CQ_OK;
}

/* Delete an in-flight message. */
cq_status
core_confirm(struct core_queue *q, uint32_t slot, uint64_t id)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	st = queue_confirm_locked(q, slot, id);
	lock_release(q);
	return st;
}

/*
 * Delete the n in-flight messages of m under one lock; each is its own
 * commit, as if confirmed one by one.
 */
cq_status
core_confirm_many(struct core_queue *q, const struct core_msg *m, size_t n)
{
	cq_status st, worst = CQ_OK;
	size_t i;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (i = 0; i < n; i++) {
		st = queue_confirm_locked(q, m[i].slot, m[i].id);
		if (st == CQ_CORRUPT) {
			worst = st;
			break;
		}
		if (st != CQ_OK)
			worst = st;
	}
	lock_release(q);
	return worst;
}

/* Put in-flight entry e (slot s) back at the head of its band. */
static cq_status
queue_return_locked(struct core_queue *q, uint32_t s, struct queue_inflight *e)
{
	struct queue_hdr *hdr = q->hdr;
	uint32_t b = queue_slot_at(q, s)->band;
	uint64_t h;

	if (b >= q->bands)
		return CQ_CORRUPT;
	h = hdr->head[b];
	*queue_cell(q, b, h - 1) = s;
	CORE_HOOK("return.before_commit");
	__atomic_store_n(&hdr->head[b], h - 1, __ATOMIC_RELEASE);
	CORE_HOOK("return.after_commit");
	/* Were we killed here, recovery clears it: the ring wins. */
	__atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&hdr->in_flight, hdr->in_flight - 1, __ATOMIC_RELAXED);
	return CQ_OK;
}

/* Return an in-flight message to the head of its band. */
cq_status
core_return(struct core_queue *q, uint32_t slot, uint64_t id)
{
	struct queue_inflight *e;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if ((e = queue_find(q, slot, id)) == NULL)
		st = CQ_NOTFOUND;
	else if (q->imm.max_deliveries != 0 &&
	         queue_slot_at(q, slot)->deliveries >= q->imm.max_deliveries)
		st = CQ_LIMIT;
	else
		st = queue_return_locked(q, slot, e);
	lock_release(q);
	return st;
}

/* Set a new lease deadline on an in-flight message. */
cq_status
core_touch(
    struct core_queue *q, uint32_t slot, uint64_t id, uint64_t deadline_ns)
{
	struct queue_inflight *e;
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	if ((e = queue_find(q, slot, id)) == NULL)
		st = CQ_NOTFOUND;
	else
		__atomic_store_n(
		    &e->deadline_ns, deadline_ns, __ATOMIC_RELAXED);
	lock_release(q);
	return st;
}

/* In-flight id of slot s: the sort key of return_all. */
static uint64_t
queue_key(struct core_queue *q, uint32_t s)
{
	return q->inflight[s].id;
}

/* Sift entry i down a min-heap of slots ordered by in-flight id. */
static void
queue_sift(struct core_queue *q, uint32_t *a, size_t i, size_t n)
{
	uint32_t tmp;
	size_t c;

	for (; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && queue_key(q, a[c + 1]) < queue_key(q, a[c]))
			c++;
		if (queue_key(q, a[i]) <= queue_key(q, a[c]))
			break;
		tmp = a[i];
		a[i] = a[c];
		a[c] = tmp;
	}
}

/* Sort slots by descending in-flight id (heapsort: no allocation). */
static void
queue_sort(struct core_queue *q, uint32_t *a, size_t n)
{
	uint32_t tmp;
	size_t i;

	for (i = n / 2; i-- > 0;)
		queue_sift(q, a, i, n);
	for (i = n; i-- > 1;) {
		tmp = a[0];
		a[0] = a[i];
		a[i] = tmp;
		queue_sift(q, a, 0, i);
	}
}

/*
 * Return every in-flight message. Newest first, each to the head of its
 * band, so each band ends up in id order; a crash half-way leaves older
 * ones in flight and rerunning finishes in the same order.
 */
cq_status
core_return_all(struct core_queue *q)
{
	cq_status st;
	size_t n = 0, i;
	uint32_t s;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	for (s = 0; s < q->capacity; s++) {
		if (q->inflight[s].id == 0)
			continue;
		q->order[n++] = s;
	}
	queue_sort(q, q->order, n);
	for (i = 0; i < n && st == CQ_OK; i++) {
		s = q->order[i];
		st = queue_return_locked(q, s, &q->inflight[s]);
	}
	lock_release(q);
	return st;
}

/* Iterate in-flight entries (a lock-free snapshot, entry by entry). */
int
core_inflight_next(struct core_queue *q, uint32_t *cursor, struct core_msg *m,
    uint64_t *owner, uint64_t *deadline_ns)
{
	const struct queue_slot *sl;
	struct queue_inflight *e;
	uint64_t id;
	uint32_t s;

	if (q->corrupt)
		return 0;
	for (s = *cursor; s < q->capacity; s++) {
		e = &q->inflight[s];
		if ((id = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE)) == 0)
			continue;
		sl = queue_slot_at(q, s);
		m->slot = s;
		m->band = sl->band;
		m->id = id;
		m->enqueued_ns = sl->enqueued_ns;
		m->deliveries = sl->deliveries;
		m->len = sl->len <= q->max_size ? sl->len : q->max_size;
		m->data = sl->data;
		if (owner != NULL)
			*owner = __atomic_load_n(&e->owner, __ATOMIC_RELAXED);
		if (deadline_ns != NULL)
			*deadline_ns =
			    __atomic_load_n(&e->deadline_ns, __ATOMIC_RELAXED);
		*cursor = s + 1;
		return 1;
	}
	*cursor = q->capacity;
	return 0;
}

/* Set a mutable header word under the lock. */
static cq_status
queue_set_word(struct core_queue *q, uint64_t *word, uint64_t v)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	lock_release(q);
	return CQ_OK;
}

/* Close the queue (idempotent). */
cq_status
core_close(struct core_queue *q)
{
	return queue_set_word(q, &q->hdr->closed, 1);
}

/* Return 1 if the queue is closed. */
int
core_is_closed(struct core_queue *q)
{
	return __atomic_load_n(&q->hdr->closed, __ATOMIC_ACQUIRE) != 0;
}

/* Pause or resume pops. */
cq_status
core_set_paused(struct core_queue *q, int paused)
{
	return queue_set_word(q, &q->hdr->paused, paused != 0);
}

/* Change the queue permission bits. */
cq_status
core_set_mode(struct core_queue *q, uint32_t mode)
{
	cq_status st;

	if ((mode & ~07777u) != 0)
		return CQ_INVALID;
	if ((st = queue_set_word(q, &q->hdr->mode, mode)) == CQ_OK)
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
	st = queue_set_word(
	    q, &q->hdr->owner, ~((uint64_t)uid << 32 | (uint64_t)gid));
	if (st == CQ_OK) {
		q->attr.uid = uid;
		q->attr.gid = gid;
	}
	return st;
}

/* Count one dead-lettered message. */
cq_status
core_count_dead_letter(struct core_queue *q)
{
	cq_status st;

	if ((st = lock_take(q, q->lock_ms)) != CQ_OK)
		return st;
	q->hdr->dead_lettered++;
	lock_release(q);
	return CQ_OK;
}

/* Fill st with state and counters. */
cq_status
core_stat(struct core_queue *q, struct core_stat *st)
{
	struct queue_hdr *hdr = q->hdr;
	const struct queue_slot *sl;
	cq_status r;
	uint64_t oldest = 0;
	uint32_t s;
	unsigned b;

	if ((r = lock_take(q, q->lock_ms)) != CQ_OK)
		return r;
	memset(st, 0, sizeof *st);
	st->attr = q->attr;
	st->attr.mode = (uint32_t)hdr->mode;
	layout_owner(hdr->owner, &st->attr.uid, &st->attr.gid);
	st->length = queue_len(q);
	st->in_flight = hdr->in_flight;
	/*
	 * Both totals are derived from committed state, so they stay exact
	 * across crashes: every push took the next id (recovery raises
	 * next_id past every live id), and whatever was pushed and is
	 * neither queued nor in flight has left the queue for good.
	 */
	st->total_pushed = hdr->next_id - 1;
	st->total_popped = st->total_pushed - st->length - st->in_flight;
	st->dead_lettered = hdr->dead_lettered;
	for (b = 0; b < q->bands; b++) {
		if (queue_band_len(q, b) == 0)
			continue;
		s = *queue_cell(q, b, hdr->head[b]);
		if (s >= q->capacity)
			continue;
		sl = queue_slot_at(q, s);
		if (oldest == 0 || sl->enqueued_ns < oldest)
			oldest = sl->enqueued_ns;
	}
	st->oldest_enqueued_ns = oldest;
	st->closed = hdr->closed != 0;
	st->paused = hdr->paused != 0;
	lock_release(q);
	return CQ_OK;
}

/* Attributes, with the current mode and owner. */
const struct core_attr *
core_attr(struct core_queue *q)
{
	q->attr.mode =
	    (uint32_t)__atomic_load_n(&q->hdr->mode, __ATOMIC_RELAXED);
	layout_owner(__atomic_load_n(&q->hdr->owner, __ATOMIC_ACQUIRE),
	    &q->attr.uid, &q->attr.gid);
	return &q->attr;
}

/* Free slots right now, without the lock. */
uint32_t
core_free_slots(struct core_queue *q)
{
	uint64_t used = queue_len(q) +
	                __atomic_load_n(&q->hdr->in_flight, __ATOMIC_RELAXED);

	return used >= q->capacity ? 0 : q->capacity - (uint32_t)used;
}

/* Queued messages, without the lock. */
uint64_t
core_length(struct core_queue *q)
{
	return queue_len(q);
}

/*
 * The direct path's push (core/direct.c), which takes the lock itself so
 * that a failed attempt and its waiter registration share one critical
 * section. Arguments are checked by the caller as core_push_many does.
 */
cq_status
queue_push_held(struct core_queue *q, const struct iovec *iov, size_t n,
    unsigned band, int front, uint64_t *first_id)
{
	return queue_push_locked(q, iov, n, band, front, first_id);
}
