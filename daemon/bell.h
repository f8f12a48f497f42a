/* bell.h - the daemon's side of the direct path: grants and doorbells. */

#ifndef CQ_DAEMON_BELL_H
#define CQ_DAEMON_BELL_H

#include <stdint.h>

#include "daemon/peer.h"
#include "daemon/registry.h"
#include "proto/conqueue.pb-c.h"

struct event_base;

/* Doorbells in use (each holds one descriptor). */
extern uint32_t bell_count;

/* Remember the event base; publish parked counts from now on. */
void bell_init(struct event_base *base);
/*
 * OPEN with direct set: reply r (a stat reply of q) with the segment and
 * the doorbell if p may have them, else without. r is sent either way.
 */
void bell_open_reply(struct peer *p, struct rqueue *q, Conqueue__Reply *r);
/* Wake the direct sleepers of q after the daemon committed changes. */
void bell_wake(struct rqueue *q);
/* q is deleted: remove its doorbell FIFO too (call before bell_free). */
void bell_delete(struct rqueue *q);
/* q is going away: wake its direct sleepers, drop its doorbell. */
void bell_free(struct rqueue *q);

#endif /* CQ_DAEMON_BELL_H */
