/* resv.c - reservation records: reserved messages under a lease. */

#include <stdlib.h>

#include "daemon/access.h"
#include "daemon/op.h"
#include "daemon/pool.h"
#include "daemon/resv.h"

static struct pool resv_pool;
static void (*resv_expired)(struct lease_timer *t);

/* Set where lease timers go when they fire. */
void
resv_init(void (*expired)(struct lease_timer *t))
{
	resv_expired = expired;
}

/* The reservation holding hash entry e. */
struct resv *
resv_of(const struct hentry *e)
{
	return (struct resv *)(uintptr_t)((const char *)e -
	                                  offsetof(struct resv, h));
}

/* Match a reservation by message id. */
static int
resv_match(const struct hentry *e, const void *key)
{
	return resv_of(e)->m.id == *(const uint64_t *)key;
}

/* Forget a reservation (its message is no longer in flight for it). */
void
resv_free(struct resv *r)
{
	lease_timer_clear(&r->t);
	htab_remove(&r->q->resv, &r->h);
	if (r->peer != NULL)
		TAILQ_REMOVE(&r->peer->resv, r, plink);
	pool_put(&resv_pool, r);
}

/* The reservation of message msg_id in q, or NULL. */
struct resv *
resv_find(struct rqueue *q, uint64_t msg_id)
{
	struct hentry *e =
	    htab_find(&q->resv, htab_hash_u64(msg_id), resv_match, &msg_id);

	return e != NULL ? resv_of(e) : NULL;
}

/* A new reservation of m in q for uid, in q's table; NULL if no memory. */
struct resv *
resv_new(struct rqueue *q, const struct core_msg *m, uint32_t uid)
{
	struct resv *r = pool_get(&resv_pool, sizeof *r, sizeof *r);

	if (r == NULL)
		return NULL;
	if (htab_insert(&q->resv, &r->h, htab_hash_u64(m->id)) != 0) {
		pool_put(&resv_pool, r);
		return NULL;
	}
	r->t.fire = resv_expired;
	r->q = q;
	r->m = *m;
	r->uid = uid;
	r->seq = op_seq_next();
	return r;
}

/* Free every reservation of q. */
void
resv_free_queue(struct rqueue *q)
{
	struct hentry *e;
	size_t i = 0;

	while ((e = htab_drain_next(&q->resv, &i)) != NULL)
		resv_free(resv_of(e));
}

/* Find a reservation p may act on. */
struct resv *
resv_find_for(struct peer *p, struct rqueue *q, uint64_t msg_id)
{
	struct resv *r = resv_find(q, msg_id);

	if (r == NULL || r->released)
		return NULL;
	if (r->peer == p)
		return r;
	if (r->peer == NULL && (r->uid == p->uid || access_is_admin(p)))
		return r;
	return NULL;
}

/* Lease length for a request value (0: the queue's default). */
uint32_t
resv_lease_ms(struct rqueue *q, uint32_t lease_ms)
{
	if (lease_ms == 0)
		lease_ms = core_attr(q->core)->lease_ms;
	return lease_ms ? lease_ms : RESV_DEFAULT_LEASE_MS;
}

/* At exit: free the records kept for reuse. */
void
resv_free_pool(void)
{
	pool_free(&resv_pool);
}
