/* reply.c - replies that carry a status, a formatted detail or a stat. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"
#include "core/direct.h"
#include "daemon/dedup.h"
#include "daemon/durable.h"
#include "daemon/reply.h"

/* Send a reply carrying only a status and detail. */
void
reply_status(struct peer *p, uint64_t id, cq_status st, const char *detail)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	r.id = id;
	r.status = (uint32_t)st;
	if (st != CQ_OK && detail != NULL)
		r.detail = (char *)(uintptr_t)detail;
	if (st == CQ_SYSTEM) {
		r.has_sys_errno = 1;
		r.sys_errno = errno;
	}
	p->ops->send(p, &r);
}

/* Reply with a printf-formatted detail. */
void
reply_f(struct peer *p, uint64_t id, cq_status st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	reply_status(p, id, st, buf);
}

/* Fill a QueueStat for q; the name points into q. */
cq_status
reply_fill_stat(struct rqueue *q, Conqueue__QueueStat *s)
{
	struct direct_stat ds;
	struct core_stat st;
	uint32_t poppers, pushers;
	uint64_t now;
	cq_status rc;

	conqueue__queue_stat__init(s);
	s->name.data = (uint8_t *)q->name;
	s->name.len = q->namelen;
	if (q->quarantined) {
		s->has_quarantined = s->quarantined = 1;
		s->has_uid = 1;
		s->uid = q->uid;
		return CQ_OK;
	}
	/* Waiters and length count direct clients too (direct_stat). */
	poppers = q->wq.n[WAIT_POP];
	pushers = q->wq.n[WAIT_PUSH];
	if (direct_usable(q->core)) {
		rc = direct_stat(q->core, &ds);
		st = ds.core;
		poppers = ds.waiting_poppers;
		pushers = ds.waiting_pushers;
	} else
		rc = core_stat(q->core, &st);
	if (rc == CQ_CORRUPT) {
		/* Quarantined since start (a tampered header, a truncation):
		 * shown as one quarantined at start is, with its owner from
		 * the handle's private copy, never from the segment. */
		s->has_quarantined = s->quarantined = 1;
		s->has_uid = 1;
		s->uid = core_attr(q->core)->uid;
		return CQ_OK;
	}
	if (rc != CQ_OK)
		return rc;
#define SET(f, v)                                                              \
	do {                                                                   \
		s->has_##f = 1;                                                \
		s->f = (v);                                                    \
	} while (0)
	SET(capacity, st.attr.capacity);
	SET(max_size, st.attr.max_size);
	SET(bands, st.attr.bands);
	SET(mode, st.attr.mode);
	SET(uid, st.attr.uid);
	SET(gid, st.attr.gid);
	SET(max_deliveries, st.attr.max_deliveries);
	SET(lease_ms, st.attr.lease_ms);
	SET(serial, st.attr.serial != 0);
	SET(length, st.length);
	SET(in_flight, st.in_flight);
	SET(delayed, st.delayed);
	SET(waiting_poppers, poppers);
	SET(waiting_pushers, pushers);
	SET(no_direct, st.attr.no_direct != 0);
	SET(corrupt_dropped, st.corrupt_dropped);
	SET(closed, st.closed != 0);
	SET(paused, st.paused != 0);
	SET(pause_count, (uint32_t)st.paused);
	if (st.attr.dedup_window_ms != 0) {
		SET(dedup_window_ms, st.attr.dedup_window_ms);
		dedup_counts(q, &s->dedup_keys, &s->dedup_suppressed);
		s->has_dedup_keys = s->has_dedup_suppressed = 1;
	}
	if (q->dur != NULL) {
		durable_stat(q, &s->durable, &s->sync_ms, &s->log_bytes,
		    &s->log_syncs);
		s->has_durable = s->has_sync_ms = s->has_log_bytes = 1;
		s->has_log_syncs = 1;
	}
	SET(total_pushed, st.total_pushed);
	SET(total_popped, st.total_popped);
	SET(dead_lettered, st.dead_lettered);
	if (st.attr.ttl_ms != 0)
		SET(ttl_ms, st.attr.ttl_ms);
	SET(expired, st.expired);
	SET(bytes, st.bytes);
	SET(max_bytes, st.attr.max_bytes);
	SET(resident_bytes, st.resident);
	now = time_real_ns();
	SET(oldest_age_ms,
	    st.oldest_enqueued_ns != 0 && now > st.oldest_enqueued_ns
	        ? (now - st.oldest_enqueued_ns) / 1000000u
	        : 0);
#undef SET
	return CQ_OK;
}

/* Send r to p as it is (reply_stat's plain way). */
static void
reply_send_plain(struct peer *p, struct rqueue *q, Conqueue__Reply *r)
{
	(void)q;
	p->ops->send(p, r);
}

/*
 * The attributes of q from the handle's private copy (no lock, no
 * counters): what an OPEN answers while a mapper holds the lock.
 */
static void
reply_fill_attr(struct rqueue *q, Conqueue__QueueStat *s)
{
	const struct core_attr *a = core_attr(q->core);

	conqueue__queue_stat__init(s);
	s->name.data = (uint8_t *)q->name;
	s->name.len = q->namelen;
	s->has_capacity = 1;
	s->capacity = a->capacity;
	s->has_max_size = 1;
	s->max_size = a->max_size;
	s->has_bands = 1;
	s->bands = a->bands;
	s->has_mode = 1;
	s->mode = a->mode;
	s->has_uid = 1;
	s->uid = a->uid;
	s->has_gid = 1;
	s->gid = a->gid;
	s->has_serial = 1;
	s->serial = a->serial != 0;
	s->has_max_bytes = 1;
	s->max_bytes = a->max_bytes;
}

/*
 * Reply with the stat of q, handing the reply to send. With attr_on_busy
 * (an OPEN) a lock held by a mapper past the daemon's 1 ms (CQ_BUSY: a
 * direct client preempted in its critical section, on a loaded machine)
 * does not fail the call: the reply carries the attributes only.
 */
static void
reply_stat_do(struct peer *p, uint64_t id, struct rqueue *q,
    void (*send)(struct peer *, struct rqueue *, Conqueue__Reply *),
    int attr_on_busy)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__QueueStat s;
	cq_status st;

	if ((st = reply_fill_stat(q, &s)) == CQ_BUSY && attr_on_busy) {
		reply_fill_attr(q, &s);
		st = CQ_OK;
	}
	if (st != CQ_OK) {
		reply_status(p, id, st, cq_strstatus(st));
		return;
	}
	r.id = id;
	r.status = CQ_OK;
	r.stat = &s;
	send(p, q, &r);
}

/*
 * Reply to an OPEN of q: its stat (its attributes only while a mapper
 * holds the lock), handed to send (NULL: sent plainly).
 */
void
reply_open(struct peer *p, uint64_t id, struct rqueue *q,
    void (*send)(struct peer *, struct rqueue *, Conqueue__Reply *))
{
	reply_stat_do(p, id, q, send != NULL ? send : reply_send_plain, 1);
}

/* Reply with the stat of q. */
void
reply_stat(struct peer *p, uint64_t id, struct rqueue *q)
{
	reply_stat_do(p, id, q, reply_send_plain, 0);
}
