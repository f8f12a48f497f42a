/* dispatch.h - decoded requests in, replies out: the daemon's router. */

#ifndef CQ_DAEMON_DISPATCH_H
#define CQ_DAEMON_DISPATCH_H

#include <stdint.h>

#include "conqueue/conqueue.h"
#include "daemon/peer.h"
#include "daemon/waiters.h"
#include "proto/conqueue.pb-c.h"

/*
 * Dependencies point down: main -> listener -> conn -> dispatch -> admin,
 * lease -> settle -> flow -> resv, op -> access, reply -> waiters,
 * registry -> core. Nothing below conn takes a libevent type in its
 * signatures; waiters owns the timers.
 */

/* Initialise a peer's state (the caller fills uid, gid, pid, ops). */
void dispatch_peer_init(struct peer *p);
/*
 * Handle one decoded request. req is only lent for the call (the caller
 * frees it after; a parked op keeps copies of what it needs). May call
 * p->ops send and close, but never frees p.
 */
void dispatch_request(struct peer *p, const Conqueue__Request *req);
/*
 * The connection is going away: unpark its ops, return its unconfirmed
 * pops and attached reservations. Idempotent.
 */
void dispatch_peer_gone(struct peer *p);
/* Answer every parked op CQ_DISCONNECTED ("daemon shutting down"). */
void dispatch_shutdown(void);
/* Send a reply with only an id, status and detail. */
void dispatch_reply_status(
    struct peer *p, uint64_t id, cq_status st, const char *detail);
/* At exit: free what is left (detached reservations, record pools). */
void dispatch_free_all(void);
/* Expire callback for waiters_init. */
void dispatch_waiter_expired(struct waiter *w);

#endif /* CQ_DAEMON_DISPATCH_H */
