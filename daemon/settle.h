/* settle.h - in-flight messages going back: requeue, dead-letter, hold. */

#ifndef CQ_DAEMON_SETTLE_H
#define CQ_DAEMON_SETTLE_H

#include "core/queue.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "daemon/resv.h"
#include "proto/conqueue.pb-c.h"

/*
 * Settle in-flight message m of q that goes back: to the head of its band,
 * or to NAME.dlq at max_deliveries. 0 when done; -1 when it must stay in
 * flight for now (lock not had, NAME.dlq full: logged unless quiet).
 */
int settle_try(struct rqueue *q, const struct core_msg *m, int quiet);
/* Hold m in flight under a daemon-owned record that retries settling it. */
void settle_hold(struct rqueue *q, const struct core_msg *m);
/* A held message's retry time came: 0 when settled, -1 if held again. */
int settle_retry(struct resv *r);
/* Put an in-flight message back, or dead-letter it, or hold it. */
void settle_return(struct rqueue *q, const struct core_msg *m);
/* Apply the confirm and reject lists of a request. */
void settle_receipts(struct peer *p, const Conqueue__Request *req);
/* Give back every hand-off and attached reservation of p, in order. */
void settle_return_all(struct peer *p);

#endif /* CQ_DAEMON_SETTLE_H */
