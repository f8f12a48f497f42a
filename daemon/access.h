/* access.h - who may do what to a queue: file-like permission checks. */

#ifndef CQ_DAEMON_ACCESS_H
#define CQ_DAEMON_ACCESS_H

#include <stdint.h>

#include "daemon/peer.h"
#include "daemon/registry.h"
#include "proto/conqueue.pb-c.h"

#define ACCESS_R     4
#define ACCESS_W     2
#define ACCESS_RW    6
#define ACCESS_OWNER 8

/* Root or the daemon's own uid pass every access check. */
int access_is_admin(const struct peer *p);
/* Whether p has need (ACCESS_*) on q, like a file's owner/group/other. */
int access_may(const struct peer *p, const struct rqueue *q, int need);
/*
 * Find the queue a request names and check access; on failure reply and
 * return NULL. Quarantined queues answer CQ_CORRUPT unless allowed.
 */
struct rqueue *access_lookup(struct peer *p, uint64_t id,
    ProtobufCBinaryData name, int need, int allow_quarantined);

#endif /* CQ_DAEMON_ACCESS_H */
