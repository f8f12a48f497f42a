/* delay.c - delayed pushes: kept in flight until due, then queued. */

#include "common/common.h"
#include "daemon/delay.h"
#include "daemon/expire.h"
#include "daemon/flow.h"
#include "daemon/log.h"

/* A due message that could not be queued yet tries again after this. */
#define DELAY_RETRY_MS 1000

/*
 * Keep delayed message m of q under a daemon record (peer NULL, released:
 * no client may ack or release it) with a timer at the monotonic time
 * that matches due_real (CLOCK_REALTIME). -1 if no record or timer.
 */
static int
delay_track(struct rqueue *q, const struct core_msg *m, uint64_t due_real)
{
	uint64_t now = time_real_ns(), left;
	struct resv *r;

	left = due_real > now ? due_real - now : 0;
	/* The word is in a mapped segment: any value may be there. */
	if (left > (uint64_t)DELAY_MAX_MS * 1000000u)
		left = (uint64_t)DELAY_MAX_MS * 1000000u;
	if ((r = resv_new(q, m, 0)) == NULL)
		return -1;
	r->released = 1;
	r->delayed = 1;
	if (lease_timer_set(&r->t, time_mono_ns() + left) != 0) {
		resv_free(r);
		return -1;
	}
	return 0;
}

/* Push a delayed message and arm its timer. */
cq_status
delay_push(struct rqueue *q, const void *buf, size_t len, unsigned band,
    uint32_t delay_ms, uint64_t *id)
{
	struct core_msg m = {0};
	uint64_t due = time_real_ns() + (uint64_t)delay_ms * 1000000u;
	cq_status st;

	st = core_push_delayed(q->core, buf, len, band, due, &m.id, &m.slot);
	if (st != CQ_OK)
		return st;
	m.band = band;
	*id = m.id;
	/* No record: queued now rather than never (logged). */
	if (delay_track(q, &m, due) != 0) {
		log_warn("queue '%.*s': out of memory: delayed message %llu "
		         "queued at once",
		    (int)q->namelen, q->name, (unsigned long long)m.id);
		core_deliver_delayed(q->core, m.slot, m.id);
	}
	return CQ_OK;
}

/* Re-arm the delayed messages found in flight at attach. */
void
delay_rearm_all(struct rqueue *q)
{
	struct core_msg m;
	uint64_t owner, due;
	uint32_t cursor = 0;
	unsigned n = 0;

	while (core_inflight_next(q->core, &cursor, &m, &owner, &due)) {
		if (owner != CORE_OWNER_DELAYED)
			continue;
		if (delay_track(q, &m, due) != 0)
			core_deliver_delayed(q->core, m.slot, m.id);
		n++;
	}
	if (n > 0)
		log_info("queue '%.*s': %u delayed message(s) re-armed",
		    (int)q->namelen, q->name, n);
}

/* The timer of a delayed message fired: queue it at its band's tail. */
void
delay_due(struct resv *r)
{
	struct rqueue *q = r->q;
	cq_status st = core_deliver_delayed(q->core, r->m.slot, r->m.id);

	if (st == CQ_BUSY || st == CQ_SYSTEM) {
		/* A mapper holds the lock: try again, it stays in flight. */
		if (lease_timer_set(&r->t, time_deadline_ns(DELAY_RETRY_MS)) ==
		    0)
			return;
		log_warn("queue '%.*s': delayed message %llu stays in flight "
		         "until the next start",
		    (int)q->namelen, q->name, (unsigned long long)r->m.id);
	} else if (st == CQ_OK)
		expire_visible(q);
	else if (st != CQ_NOTFOUND)
		log_warn("queue '%.*s': queueing delayed message %llu: %s",
		    (int)q->namelen, q->name, (unsigned long long)r->m.id,
		    cq_strstatus(st));
	resv_free(r);
	flow_serve(q);
}
