/* browse.h - peek, purge and remove by id: queued messages in place. */

#ifndef CQ_DAEMON_BROWSE_H
#define CQ_DAEMON_BROWSE_H

#include <stdint.h>

#include "daemon/peer.h"
#include "daemon/registry.h"
#include "proto/conqueue.pb-c.h"

/* Peek: copies of up to max queued messages, in pop order (read access). */
void browse_peek(struct peer *p, uint64_t id, const Conqueue__Peek *m);
/* Purge q (the caller checked ownership): reply.count, serve the parked. */
void browse_purge(struct peer *p, uint64_t id, struct rqueue *q);
/* MsgOp REMOVE: drop one queued message by id (read access, as a pop). */
void browse_remove(struct peer *p, uint64_t id, const Conqueue__MsgOp *m);

#endif /* CQ_DAEMON_BROWSE_H */
