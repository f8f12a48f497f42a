/* op.c - a peer's pending ops: parked requests and unconfirmed pops. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/op.h"
#include "daemon/pool.h"
#include "daemon/reply.h"

static struct pool op_pool;
/* Orders deliveries, to give them back in reverse when a peer leaves. */
static uint64_t op_seq;

/* The next delivery number. */
uint64_t
op_seq_next(void)
{
	return ++op_seq;
}

/* Match an op by request id. */
static int
op_match(const struct hentry *e, const void *key)
{
	return ((const struct op *)e)->id == *(const uint64_t *)key;
}

/* The pending op id of peer p, or NULL. */
struct op *
op_find(struct peer *p, uint64_t id)
{
	struct hentry *e =
	    htab_find(&p->opsby_id, htab_hash_u64(id), op_match, &id);

	return e != NULL ? op_of_entry(e) : NULL;
}

/* Free a parked push's copy of its messages, unless it is inline. */
void
op_drop_blob(struct op *o)
{
	if (o->blob != o->inl)
		free(o->blob);
	o->blob = NULL;
}

/* Add a new op to p's table; NULL (reply sent) at the pending limit. */
struct op *
op_new(struct peer *p, uint64_t id, int kind, struct rqueue *q)
{
	struct op *o;

	if (p->opsby_id.n >= cfg.max_pending_per_conn) {
		reply_f(p, id, CQ_LIMIT,
		    "too many pending operations (max_pending_per_conn %u)",
		    cfg.max_pending_per_conn);
		return NULL;
	}
	/* The inline blob needs no clearing. */
	o = pool_get(&op_pool, sizeof *o, offsetof(struct op, inl));
	if (o == NULL ||
	    htab_insert(&p->opsby_id, &o->h, htab_hash_u64(id)) != 0) {
		free(o);
		errno = ENOMEM;
		reply_status(p, id, CQ_SYSTEM, "out of memory");
		return NULL;
	}
	o->id = id;
	o->kind = kind;
	o->peer = p;
	o->q = q;
	return o;
}

/* Take a parked op out of every line it waits in (and its deadline). */
void
op_unpark(struct op *o)
{
	size_t i;

	waiters_remove(&o->w);
	for (i = 0; i < o->any_n; i++)
		waiters_remove(&o->anyw[i]);
	free(o->anyw);
	o->anyw = NULL;
	o->any_n = 0;
	lease_timer_clear(&o->any_t);
}

/* Take pop-any o's waiter w out of its line; how many lines are left. */
size_t
op_unpark_one(struct op *o, struct waiter *w)
{
	size_t i, left = 0;

	waiters_remove(w);
	for (i = 0; i < o->any_n; i++)
		left += o->anyw[i].wq != NULL;
	return left;
}

/* Forget op o: unpark it or drop its hand-off record. */
void
op_free(struct op *o)
{
	htab_remove(&o->peer->opsby_id, &o->h);
	if (o->kind == OP_PARKED)
		op_unpark(o);
	else
		TAILQ_REMOVE(&o->q->handoffs, o, qlink);
	op_drop_blob(o);
	if (o->msgs != &o->one)
		free(o->msgs);
	pool_put(&op_pool, o);
}

/* At exit: free the records kept for reuse. */
void
op_free_pool(void)
{
	pool_free(&op_pool);
}
