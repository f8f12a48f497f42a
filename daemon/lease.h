/* lease.h - reserved messages: ack, release, touch, and lease expiry. */

#ifndef CQ_DAEMON_LEASE_H
#define CQ_DAEMON_LEASE_H

#include <stdint.h>

#include "daemon/peer.h"
#include "proto/conqueue.pb-c.h"

/* Route every lease timer to lease expiry (before any reservation). */
void lease_init(void);
/* ACK, RELEASE or TOUCH one reserved message. */
void lease_msg_op(struct peer *p, uint64_t id, const Conqueue__MsgOp *m);

#endif /* CQ_DAEMON_LEASE_H */
