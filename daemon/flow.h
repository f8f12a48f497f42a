/* flow.h - push and pop: try at once, park, serve the parked. */

#ifndef CQ_DAEMON_FLOW_H
#define CQ_DAEMON_FLOW_H

#include <stdint.h>

#include "conqueue/conqueue.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "daemon/waiters.h"
#include "proto/conqueue.pb-c.h"

/* Push: validate, try at once, else park or fail. */
void flow_push(struct peer *p, const Conqueue__Request *req);
/* Pop or reserve: try at once, else park or fail. */
void flow_pop(struct peer *p, const Conqueue__Request *req);
/*
 * Try a pop now, behind the pops parked on q (CQ_EMPTY while there are
 * any). CQ_OK and CQ_LIMIT: answered; otherwise nothing was sent. index
 * >= 0: a pop-any's, from its index-th queue (Reply.index).
 */
cq_status flow_pop_now(struct peer *p, struct rqueue *q,
    const Conqueue__Pop *m, uint64_t id, int index);
/* Cancel a parked op of the same connection. */
void flow_cancel(struct peer *p, uint64_t id, const Conqueue__Cancel *m);
/*
 * Answer every parked op of q that can complete now, oldest first: call
 * after every change that may make room or messages.
 */
void flow_serve(struct rqueue *q);
/* Reply to a push or pop (WAIT_PUSH, WAIT_POP) that ended with st. */
void flow_reply(
    struct peer *p, uint64_t id, int kind, cq_status st, uint64_t first);
/* A parked op's deadline passed (the waiters_init callback). */
void flow_expired(struct waiter *w);
/* Answer every parked op of q with st and detail, and forget them. */
void flow_fail_parked(struct rqueue *q, cq_status st, const char *detail);

#endif /* CQ_DAEMON_FLOW_H */
