/* peer.h - one client connection as dispatch sees it. */

#ifndef CQ_DAEMON_PEER_H
#define CQ_DAEMON_PEER_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "daemon/htab.h"
#include "proto/conqueue.pb-c.h"

struct peer;
struct resv;
TAILQ_HEAD(resv_list, resv);

/* How dispatch talks back to a connection (conn_out.c, or a test harness). */
struct peer_ops {
	/* Queue reply r for the peer (packed at once: r may be freed). */
	void (*send)(struct peer *p, const Conqueue__Reply *r);
	/* Close the connection after flushing what was sent. */
	void (*close)(struct peer *p, const char *why);
	/*
	 * Send r with fds (SCM_RIGHTS) if nothing else is queued: 0 when
	 * sent (the caller keeps its fds), -1 when r was not sent. NULL: never.
	 */
	int (*send_fds)(
	    struct peer *p, const Conqueue__Reply *r, const int *fds, int nfds);
};

/* One client connection as dispatch sees it. */
struct peer {
	const struct peer_ops *ops;
	uint64_t cid; /* nonzero connection id, the core's owner token */
	uint32_t uid;
	uint32_t gid;
	uint32_t *groups; /* supplementary groups (SO_PEERGROUPS), or NULL */
	uint32_t ngroups;
	pid_t pid;
	int greeted;
	int gone;
	struct htab opsby_id;  /* pending ops (parked pops/pushes, handoffs) */
	struct resv_list resv; /* attached reservations */
};

/* Whether the peer is in group gid: its primary or a supplementary one. */
static inline int
peer_in_group(const struct peer *p, uint32_t gid)
{
	uint32_t i;

	if (p->gid == gid)
		return 1;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return 1;
	return 0;
}

#endif /* CQ_DAEMON_PEER_H */
