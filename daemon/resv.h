/* resv.h - reservation records: reserved messages under a lease. */

#ifndef CQ_DAEMON_RESV_H
#define CQ_DAEMON_RESV_H

#include <stdint.h>
#include <sys/queue.h>

#include "core/queue.h"
#include "daemon/htab.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "daemon/waiters.h"

#define RESV_DEFAULT_LEASE_MS 30000

/* A reserved message under a lease. */
struct resv {
	struct lease_timer t; /* first: resv_of_timer casts back */
	struct hentry h;      /* in q->resv by message id */
	TAILQ_ENTRY(resv) plink;
	struct rqueue *q;
	struct peer *peer; /* NULL: detached */
	uint32_t uid;
	struct core_msg m;
	int released; /* RELEASE with a delay: only the timer may end it */
	int held;     /* could not go back yet (NAME.dlq full): retried */
	uint64_t seq; /* delivery order (op_seq_next) */
	int confirm;  /* held: a receipt to apply, not a return */
	int delayed;  /* a delayed push (daemon/delay.c): queued when due */
};

/* The reservation whose lease timer is t. */
static inline struct resv *
resv_of_timer(struct lease_timer *t)
{
	return (struct resv *)(void *)t;
}

/*
 * Where every lease timer goes when it fires (lease.c, above this
 * module, sets it: a callback keeps the calls pointing down).
 */
void resv_init(void (*expired)(struct lease_timer *t));
/*
 * A new reservation of message m in q for uid, in q's table (the caller
 * attaches it to a peer and arms the timer); NULL if out of memory.
 */
struct resv *resv_new(struct rqueue *q, const struct core_msg *m, uint32_t uid);
/* The reservation holding hash entry e. */
struct resv *resv_of(const struct hentry *e);
/* The reservation of message msg_id in q, or NULL. */
struct resv *resv_find(struct rqueue *q, uint64_t msg_id);
/* A reservation of msg_id in q that p may act on, or NULL. */
struct resv *resv_find_for(struct peer *p, struct rqueue *q, uint64_t msg_id);
/* Forget a reservation (its message is no longer in flight for it). */
void resv_free(struct resv *r);
/* Free every reservation of q. */
void resv_free_queue(struct rqueue *q);
/* Lease length for a request value (0: the queue's default). */
uint32_t resv_lease_ms(struct rqueue *q, uint32_t lease_ms);
/* At exit: free the records kept for reuse. */
void resv_free_pool(void);

#endif /* CQ_DAEMON_RESV_H */
