/* trim.c - give drained queues' memory back (issue 17). */

#include "core/queue.h"
#include "daemon/registry.h"
#include "daemon/stall.h"
#include "daemon/trim.h"

static struct event *trim_ev;

/* Trim every queue that changed since its last trim. */
void
trim_round(void)
{
	struct rqueue *q;
	uint64_t sig;
	cq_status st;

	TAILQ_FOREACH(q, &registry_queues, link) {
		if (q->core == NULL)
			continue;
		sig = core_change_sig(q->core);
		if (sig == q->trim_sig)
			continue;
		/* Never wait on a mapper's lock here: next round. */
		core_set_lock_timeout(q->core, 0);
		st = core_trim(q->core, NULL);
		stall_set_timeout(q);
		if (st == CQ_OK)
			q->trim_sig = sig;
	}
}

/* The timer fired. */
static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	trim_round();
}

/* Arm the trim timer. */
int
trim_start(struct event_base *base)
{
	struct timeval tv;

	tv.tv_sec = TRIM_INTERVAL_MS / 1000;
	tv.tv_usec = (TRIM_INTERVAL_MS % 1000) * 1000;
	trim_ev = event_new(base, -1, EV_PERSIST, trim_cb, NULL);
	if (trim_ev == NULL || event_add(trim_ev, &tv) != 0) {
		trim_stop();
		return -1;
	}
	return 0;
}

/* Free the trim timer. */
void
trim_stop(void)
{
	if (trim_ev != NULL)
		event_free(trim_ev);
	trim_ev = NULL;
}
