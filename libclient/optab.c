/* optab.c - op records, the table of ops by request id, local deadlines. */

/*
 * An op is a request with a client-chosen id waiting for its one reply.
 * Replies are matched to ops through a chained hash table; ops with a
 * local deadline (timeout + grace) sit in a binary min-heap; completed
 * async ops queue up for their callbacks.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "optab.h"

/* Spread 64-bit ids over the buckets (Fibonacci hashing). */
static size_t
optab_hash(const cq_client *c, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (c->nbuckets - 1);
}

/* Find the op waiting for reply id. */
struct cq_op *
optab_find(const cq_client *c, uint64_t id)
{
	struct cq_op *op;

	for (op = c->buckets[optab_hash(c, id)]; op != NULL; op = op->hnext)
		if (op->id == id)
			return op;
	return NULL;
}

/* Double the table once chains would grow past one op per bucket. */
static void
optab_grow(cq_client *c)
{
	struct cq_op **old = c->buckets, *op, *next;
	size_t oldn = c->nbuckets, i, h;

	c->buckets = calloc(oldn * 2, sizeof *c->buckets);
	if (c->buckets == NULL) {
		c->buckets = old; /* longer chains, still correct */
		return;
	}
	c->nbuckets = oldn * 2;
	for (i = 0; i < oldn; i++) {
		for (op = old[i]; op != NULL; op = next) {
			next = op->hnext;
			h = optab_hash(c, op->id);
			op->hnext = c->buckets[h];
			c->buckets[h] = op;
		}
	}
	free(old);
}

/* Put op in the table under its id. */
void
optab_add(cq_client *c, struct cq_op *op)
{
	size_t h;

	if (c->nops >= c->nbuckets)
		optab_grow(c);
	h = optab_hash(c, op->id);
	op->hnext = c->buckets[h];
	c->buckets[h] = op;
	c->nops++;
}

/* Take op out of the table (if it is there). */
void
optab_del(cq_client *c, struct cq_op *op)
{
	struct cq_op **pp;

	for (pp = &c->buckets[optab_hash(c, op->id)]; *pp != NULL;
	     pp = &(*pp)->hnext) {
		if (*pp == op) {
			*pp = op->hnext;
			op->hnext = NULL;
			c->nops--;
			return;
		}
	}
}

/* Swap two heap slots, keeping the ops' back-indices right. */
static void
optab_heap_swap(cq_client *c, size_t a, size_t b)
{
	struct cq_op *t = c->timers[a];

	c->timers[a] = c->timers[b];
	c->timers[b] = t;
	c->timers[a]->heap_idx = a;
	c->timers[b]->heap_idx = b;
}

/* Restore the heap order around slot i. */
static void
optab_heap_fix(cq_client *c, size_t i)
{
	size_t l, r, m;

	while (i > 0 && c->timers[(i - 1) / 2]->deadline_ns >
	                    c->timers[i]->deadline_ns) {
		optab_heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < c->ntimers &&
		    c->timers[l]->deadline_ns < c->timers[m]->deadline_ns)
			m = l;
		if (r < c->ntimers &&
		    c->timers[r]->deadline_ns < c->timers[m]->deadline_ns)
			m = r;
		if (m == i)
			break;
		optab_heap_swap(c, i, m);
		i = m;
	}
}

/* Arm op's local deadline. */
void
optab_timer_add(cq_client *c, struct cq_op *op)
{
	struct cq_op **n;

	if (c->ntimers == c->timers_cap) {
		size_t cap = c->timers_cap ? c->timers_cap * 2 : 64;
		if ((n = realloc(c->timers, cap * sizeof *n)) == NULL)
			return; /* no safety net for this op; the daemon
			           still enforces its timeout */
		c->timers = n;
		c->timers_cap = cap;
	}
	op->heap_idx = c->ntimers;
	c->timers[c->ntimers++] = op;
	optab_heap_fix(c, op->heap_idx);
}

/* Disarm op's local deadline. */
void
optab_timer_del(cq_client *c, struct cq_op *op)
{
	size_t i = op->heap_idx;

	if (i == SIZE_MAX)
		return;
	op->heap_idx = SIZE_MAX;
	c->ntimers--;
	if (i != c->ntimers) {
		c->timers[i] = c->timers[c->ntimers];
		c->timers[i]->heap_idx = i;
		optab_heap_fix(c, i);
	}
}

#define OPTAB_OP_FREE_MAX 1024 /* op records kept for reuse */

/* A zeroed op record of c: a reused one, else a new one. */
struct cq_op *
optab_op_new(cq_client *c)
{
	struct cq_op *op;

	if ((op = c->op_free) != NULL) {
		c->op_free = op->next;
		c->nop_free--;
		memset(op, 0, sizeof *op);
	} else if ((op = calloc(1, sizeof *op)) == NULL)
		return NULL;
	op->c = c;
	return op;
}

/* Pick a request id no pending op uses. */
uint64_t
optab_next_id(cq_client *c)
{
	uint64_t id;

	/* Before the 64-bit counter first wraps, no pending op can hold
	 * the next id: skip the lookup. */
	do {
		id = c->next_id++;
		if (c->next_id == 0) {
			c->next_id = 1;
			c->ids_wrapped = 1;
		}
	} while (c->ids_wrapped && optab_find(c, id) != NULL);
	return id;
}

/* Free an op and whatever it still holds. */
void
optab_op_free(struct cq_op *op)
{
	if (op == NULL)
		return;
	/* (Mostly NULL: spare the calls.) */
	if (op->reply != NULL)
		arena_reply_free(op->c, op->reply);
	if (op->msg != NULL)
		cq_msg_free(op->msg);
	if (op->msgs != NULL) {
		while (op->n_msgs > 0)
			cq_msg_free(op->msgs[--op->n_msgs]);
		free(op->msgs);
	}
	if (op->detail != NULL)
		free(op->detail);
	if (op->frame != NULL)
		free(op->frame);
	if (op->qname != NULL)
		free(op->qname);
	while (op->nfds > 0) /* fds nobody took over */
		close(op->fds[--op->nfds]);
	/* An async stream frees one op per message: keep it for the next. */
	if (op->c->nop_free < OPTAB_OP_FREE_MAX) {
		op->next = op->c->op_free;
		op->c->op_free = op;
		op->c->nop_free++;
		return;
	}
	free(op);
}

/* Hand op its final result: the blocked caller or the callback queue. */
void
optab_finish(
    cq_client *c, struct cq_op *op, cq_status st, Conqueue__Reply *reply)
{
	op->status = st;
	op->reply = reply;
	op->state = OPS_DONE;
	if (op->sync)
		return;
	op->next = NULL;
	if (c->done_tail != NULL)
		c->done_tail->next = op;
	else
		c->done_head = op;
	c->done_tail = op;
}

/* Take op off the wire bookkeeping: table, timers, pending window. */
void
optab_unlink(cq_client *c, struct cq_op *op)
{
	optab_del(c, op);
	optab_timer_del(c, op);
	if (op->in_window) {
		op->in_window = 0;
		c->window_used--;
	}
}
