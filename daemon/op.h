/* op.h - a peer's pending ops: parked requests and unconfirmed pops. */

#ifndef CQ_DAEMON_OP_H
#define CQ_DAEMON_OP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "core/queue.h"
#include "daemon/htab.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "daemon/waiters.h"
#include "proto/conqueue.pb-c.h"

#define OP_PARKED  0
#define OP_HANDOFF 1

/*
 * A pending op of a peer, in its table by request id: a parked pop or
 * push (waiting in waiters.c), or a hand-off (a pop reply sent but not
 * yet confirmed, its messages still in flight in the segment).
 */
struct op {
	struct hentry h; /* in peer->opsby_id; first: op_of_entry casts */
	uint64_t id;
	int kind;
	struct peer *peer;
	struct rqueue *q;
	struct waiter w; /* OP_PARKED */
	/*
	 * OP_PARKED: the parameters, copied (requests are only lent to
	 * dispatch); a push's messages live in blob.
	 */
	Conqueue__Pop pop;
	Conqueue__Push push;
	void *blob;
	TAILQ_ENTRY(op) qlink; /* OP_HANDOFF: in q->handoffs */
	size_t n;
	struct core_msg *msgs; /* malloc'ed, or &one */
	struct core_msg one;   /* a one-message pop needs no allocation */
	uint64_t seq;          /* OP_HANDOFF: delivery order (op_seq_next) */
	int listed;            /* in a reject list being handled */
	/*
	 * A parked pop-any (anypop.c): one waiter per name (parked on that
	 * queue, or not), index = position in the request; the deadline is
	 * any_t's, since each waiter may leave its line before the others.
	 */
	struct waiter *anyw;
	size_t any_n;
	struct lease_timer any_t;
	/* A small parked push's blob: not cleared when the record is reused. */
	max_align_t inl[256 / sizeof(max_align_t)];
};

/* The op of waiter w: the one embedding it, or a pop-any's. */
static inline struct op *
op_of_waiter(struct waiter *w)
{
	if (w->up != NULL)
		return w->up;
	return (struct op *)(void *)((char *)w - offsetof(struct op, w));
}

/* The position of waiter w in its pop-any's names, or -1. */
static inline int
op_any_index(const struct op *o, const struct waiter *w)
{
	return o->anyw != NULL ? (int)(w - o->anyw) : -1;
}

/* The op that embeds hash entry e. */
static inline struct op *
op_of_entry(struct hentry *e)
{
	return (struct op *)(void *)e;
}

/* The next delivery number: gives things back in reverse when a peer leaves. */
uint64_t op_seq_next(void);
/* The pending op id of peer p, or NULL. */
struct op *op_find(struct peer *p, uint64_t id);
/* Add a new op to p's table; NULL (reply sent) at the pending limit. */
struct op *op_new(struct peer *p, uint64_t id, int kind, struct rqueue *q);
/* Free a parked push's copy of its messages, unless it is inline. */
void op_drop_blob(struct op *o);
/* Forget op o: unpark it or drop its hand-off record. */
void op_free(struct op *o);
/* Take a parked op out of every line it waits in (and its deadline). */
void op_unpark(struct op *o);
/* Take pop-any o's waiter w out of its line; how many lines are left. */
size_t op_unpark_one(struct op *o, struct waiter *w);
/* At exit: free the records kept for reuse. */
void op_free_pool(void);

#endif /* CQ_DAEMON_OP_H */
