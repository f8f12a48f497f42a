/* bell.c - the daemon's side of the direct path: grants and doorbells. */

/*
 * API
 *   bell_init        event base; publish the parked counts from now on
 *   bell_open_reply  OPEN with direct set: hand over [segment, doorbell]
 *   bell_wake        after a commit: direct sleepers re-check
 *   bell_free        the queue goes: wake everyone, close the doorbell
 *
 * A direct client (DESIGN 2.5, core/direct.h) commits in the segment
 * itself; when the daemon has socket clients parked on the side that can
 * now proceed, the client writes to the queue's doorbell, an eventfd the
 * daemon watches, and the daemon serves its parked ops as after any socket
 * commit. The doorbell is a FIFO next to the segment (core/doorbell.c),
 * made on the first grant; like the segment it outlives the daemon, so a
 * restarted daemon hears the clients of the one before; the segment fd is
 * opened for the hand-off and closed right after, so a grant costs the daemon
 * no descriptor per client.
 */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "core/direct.h"
#include "daemon/access.h"
#include "daemon/bell.h"
#include "daemon/config.h"
#include "daemon/flow.h"
#include "daemon/log.h"
#include "daemon/stall.h"
#include "daemon/waiters.h"

uint32_t bell_count;
static struct event_base *bell_base;

static int bell_get(struct rqueue *q, int create);

/* Publish q's parked socket waiters for direct ops (they ring for them). */
static void
bell_parked(struct waitq *wq)
{
	struct rqueue *q =
	    (struct rqueue *)(void *)((char *)wq - offsetof(struct rqueue, wq));

	if (q->core != NULL)
		direct_set_parked(q->core, wq->n[WAIT_POP], wq->n[WAIT_PUSH]);
}

/* Remember the event base; publish parked counts from now on. */
void
bell_init(struct event_base *base)
{
	struct rqueue *q;

	bell_base = base;
	stall_init(base);
	waiters_on_count(bell_parked);
	/*
	 * Counts left by an earlier daemon are stale: nobody is parked. Its
	 * direct clients ring the doorbell it made: listen to it (what they
	 * rang while no daemon ran is still in it).
	 */
	TAILQ_FOREACH(q, &registry_queues, link)
	{
		if (q->core == NULL)
			continue;
		direct_set_parked(q->core, 0, 0);
		if (direct_usable(q->core))
			(void)bell_get(q, 0);
	}
}

/*
 * A direct client rang: drain the FIFO (a pipe's worth at most, so a
 * client that keeps writing cannot hold the loop), serve the parked ops.
 */
static void
bell_ring_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < 64; i++) {
		n = read(fd, buf, sizeof buf);
		if (n != (ssize_t)sizeof buf && !(n < 0 && errno == EINTR))
			break;
	}
	flow_serve(arg);
}

/*
 * q's doorbell (a FIFO, core/doorbell.c), watched from now on: made on the
 * first grant (create), or found at start, made by an earlier daemon whose
 * clients may still ring it. -1 if there is none or no descriptor for it.
 */
static int
bell_get(struct rqueue *q, int create)
{
	int fd;

	if (q->bell_ev != NULL)
		return q->bell_fd;
	/* Like a queue, a doorbell must leave room for connections. */
	if (registry_fd_limit != 0 &&
	    (uint64_t)registry_count + bell_count + cfg.max_connections + 64 >=
	        registry_fd_limit)
		return -1;
	if ((fd = core_doorbell_open(q->core, create)) < 0) {
		if (errno != ENOENT)
			log_warn("queue '%.*s': doorbell: %s", (int)q->namelen,
			    q->name, strerror(errno));
		return -1;
	}
	q->bell_ev =
	    event_new(bell_base, fd, EV_READ | EV_PERSIST, bell_ring_cb, q);
	if (q->bell_ev == NULL || event_add(q->bell_ev, NULL) != 0) {
		if (q->bell_ev != NULL)
			event_free(q->bell_ev);
		q->bell_ev = NULL;
		close(fd);
		return -1;
	}
	q->bell_fd = fd;
	bell_count++;
	/* Mappers may hold its lock from now on: never wait long for it. */
	stall_set_timeout(q);
	return fd;
}

/* Whether p may map q: everything a direct op could do, it may do. */
static int
bell_may(const struct peer *p, const struct rqueue *q)
{
	const struct core_attr *a;

	if (!cfg.direct || bell_base == NULL || p->ops->send_fds == NULL ||
	    q->core == NULL || q->quarantined || !direct_usable(q->core))
		return 0;
	a = core_attr(q->core);
	if (a->serial || a->no_direct)
		return 0;
	return access_may(p, q, ACCESS_R) && access_may(p, q, ACCESS_W);
}

/* OPEN with direct set: reply with [segment, doorbell] if p may map q. */
void
bell_open_reply(struct peer *p, struct rqueue *q, Conqueue__Reply *r)
{
	int fds[2] = {-1, -1};

	if (bell_may(p, q) && (fds[1] = bell_get(q, 1)) >= 0 &&
	    (fds[0] = registry_segment_fd(q)) >= 0) {
		r->has_fds = 1;
		r->fds = 2;
		if (p->ops->send_fds(p, r, fds, 2) == 0) {
			close(fds[0]);
			return;
		}
		close(fds[0]);
		r->has_fds = 0;
		r->fds = 0;
	} else if (fds[1] >= 0 && fds[0] < 0)
		log_warn("queue '%.*s': cannot open its segment for a direct "
		         "client: %s",
		    (int)q->namelen, q->name, strerror(errno));
	p->ops->send(p, r);
}

/*
 * After the daemon committed changes to q: direct poppers and pushers
 * re-check. Both words, all sleepers: the callers (flow_serve) do not
 * track which side moved; a sleeper that finds nothing sleeps again.
 */
void
bell_wake(struct rqueue *q)
{
	if (q->core == NULL)
		return;
	direct_wake(q->core, DIRECT_PUSHED, UINT32_MAX);
	direct_wake(q->core, DIRECT_POPPED, UINT32_MAX);
}

/* q is deleted: remove its doorbell FIFO too (call before bell_free). */
void
bell_delete(struct rqueue *q)
{
	if (q->core != NULL && core_doorbell_unlink(q->core) != 0 &&
	    errno != EBADF)
		log_warn("queue '%.*s': removing its doorbell: %s",
		    (int)q->namelen, q->name, strerror(errno));
}

/* q is going away: wake its direct sleepers, drop its doorbell. */
void
bell_free(struct rqueue *q)
{
	if (q->core != NULL)
		direct_wake(q->core, DIRECT_CLOSED, UINT32_MAX);
	stall_free(q);
	if (q->bell_ev == NULL)
		return;
	event_free(q->bell_ev);
	q->bell_ev = NULL;
	close(q->bell_fd);
	q->bell_fd = -1;
	bell_count--;
}
