/* access.c - who may do what to a queue: file-like permission checks. */

#include <unistd.h>

#include "daemon/access.h"
#include "daemon/reply.h"

/* Root or the daemon's own uid pass every access check. */
int
access_is_admin(const struct peer *p)
{
	return p->uid == 0 || p->uid == (uint32_t)geteuid();
}

/* Check access to q like a file: owner, group, other bits. */
int
access_may(const struct peer *p, const struct rqueue *q, int need)
{
	const struct core_attr *a;
	uint32_t bits;

	if (access_is_admin(p))
		return 1;
	/* A quarantined queue (no core) is its owner's to inspect and delete.
	 */
	if (need == ACCESS_OWNER || q->core == NULL)
		return p->uid == q->uid;
	a = core_attr(q->core);
	if (p->uid == a->uid)
		bits = a->mode >> 6;
	else if (peer_in_group(p, a->gid))
		bits = a->mode >> 3;
	else
		bits = a->mode;
	return (bits & (uint32_t)need) != 0;
}

/*
 * Find the queue a request names and check access; on failure reply and
 * return NULL. Quarantined queues answer CQ_CORRUPT unless allowed.
 */
struct rqueue *
access_lookup(struct peer *p, uint64_t id, ProtobufCBinaryData name, int need,
    int allow_quarantined)
{
	struct rqueue *q = registry_find(name.data, name.len);

	if (q == NULL) {
		if (!cq_name_valid((const char *)name.data, name.len))
			reply_status(p, id, CQ_INVALID, "invalid queue name");
		else
			reply_f(p, id, CQ_NOTFOUND, "queue '%.*s' not found",
			    (int)name.len, (const char *)name.data);
		return NULL;
	}
	if (q->quarantined && !allow_quarantined) {
		reply_f(p, id, CQ_CORRUPT,
		    "queue '%.*s' is quarantined: its storage failed "
		    "validation",
		    (int)q->namelen, q->name);
		return NULL;
	}
	if (!access_may(p, q, need)) {
		reply_f(p, id, CQ_DENIED, "permission denied on queue '%.*s'",
		    (int)q->namelen, q->name);
		return NULL;
	}
	return q;
}
