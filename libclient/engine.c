/* engine.c - the op state machine over the socket: every call style uses it. */

/*
 * An op is a request with a client-chosen id waiting for its one reply.
 * Submitting packs the request into the output buffer (so ops submitted in
 * one turn leave in one write) or, when the daemon's pending limit is
 * reached, into a backlog. Replies are matched by id through a hash table
 * and completed ops are queued; their callbacks run later from
 * engine_process() or a blocking call, never from inside a submit.
 *
 * Receipts of plain pops (confirm) ride on the next frame that leaves;
 * a pop given up locally whose reply arrives anyway leaves a "ghost" op in
 * the table so the late messages are rejected (put back) rather than lost.
 */

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"

#define ENGINE_READ_CHUNK     (256 * 1024) /* a whole batch in one recv */
#define ENGINE_READS_PER_TURN 16
#define ENGINE_FLUSH_MS       1000 /* cq_disconnect: most time spent flushing */

static void engine_lost(cq_client *c, const char *why);
static void engine_write(cq_client *c);

/* Tell the event-loop adapter if the events we want changed. */
static void
engine_notify(cq_client *c)
{
	int ev;

	if (c->watch == NULL)
		return;
	ev = engine_events(c);
	if (ev != c->watch_last) {
		c->watch_last = ev;
		c->watch(c, c->watch_arg);
	}
}

/* Record a failure for cq_client_error() and cq_client_errno(). */
void
engine_set_error(cq_client *c, cq_status st, const char *detail, int sys_errno)
{
	if (detail == NULL || detail[0] == '\0')
		detail = cq_strstatus(st);
	strncpy(c->error, detail, sizeof c->error - 1);
	c->error[sizeof c->error - 1] = '\0';
	c->sys_errno = st == CQ_SYSTEM ? sys_errno : 0;
}

/* Create the engine of a connected, non-blocking socket. */
cq_client *
engine_new(int fd)
{
	cq_client *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->nbuckets = 64;
	if ((c->buckets = calloc(c->nbuckets, sizeof *c->buckets)) == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->next_id = 1;
	c->window = c->max_pending = 16; /* until Welcome tells */
	c->max_frame = FRAME_MAX_LIMIT;
	c->max_batch = 1;
	return c;
}

/* Spread 64-bit ids over the buckets (Fibonacci hashing). */
static size_t
engine_hash(const cq_client *c, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (c->nbuckets - 1);
}

/* Find the op waiting for reply id. */
static struct cq_op *
engine_find(const cq_client *c, uint64_t id)
{
	struct cq_op *op;

	for (op = c->buckets[engine_hash(c, id)]; op != NULL; op = op->hnext)
		if (op->id == id)
			return op;
	return NULL;
}

/* Double the table once chains would grow past one op per bucket. */
static void
engine_grow(cq_client *c)
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
			h = engine_hash(c, op->id);
			op->hnext = c->buckets[h];
			c->buckets[h] = op;
		}
	}
	free(old);
}

/* Put op in the table under its id. */
static void
engine_table_add(cq_client *c, struct cq_op *op)
{
	size_t h;

	if (c->nops >= c->nbuckets)
		engine_grow(c);
	h = engine_hash(c, op->id);
	op->hnext = c->buckets[h];
	c->buckets[h] = op;
	c->nops++;
}

/* Take op out of the table (if it is there). */
static void
engine_table_del(cq_client *c, struct cq_op *op)
{
	struct cq_op **pp;

	for (pp = &c->buckets[engine_hash(c, op->id)]; *pp != NULL;
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
engine_heap_swap(cq_client *c, size_t a, size_t b)
{
	struct cq_op *t = c->timers[a];

	c->timers[a] = c->timers[b];
	c->timers[b] = t;
	c->timers[a]->heap_idx = a;
	c->timers[b]->heap_idx = b;
}

/* Restore the heap order around slot i. */
static void
engine_heap_fix(cq_client *c, size_t i)
{
	size_t l, r, m;

	while (i > 0 && c->timers[(i - 1) / 2]->deadline_ns >
	                    c->timers[i]->deadline_ns) {
		engine_heap_swap(c, i, (i - 1) / 2);
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
		engine_heap_swap(c, i, m);
		i = m;
	}
}

/* Arm op's local deadline. */
static void
engine_timer_add(cq_client *c, struct cq_op *op)
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
	engine_heap_fix(c, op->heap_idx);
}

/* Disarm op's local deadline. */
static void
engine_timer_del(cq_client *c, struct cq_op *op)
{
	size_t i = op->heap_idx;

	if (i == SIZE_MAX)
		return;
	op->heap_idx = SIZE_MAX;
	c->ntimers--;
	if (i != c->ntimers) {
		c->timers[i] = c->timers[c->ntimers];
		c->timers[i]->heap_idx = i;
		engine_heap_fix(c, i);
	}
}

/* Append an id to a receipt list. */
static void
engine_idlist_add(struct idlist *l, uint64_t id)
{
	uint64_t *n;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		if ((n = realloc(l->v, cap * sizeof *n)) == NULL)
			return; /* unconfirmed: the daemon redelivers later */
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = id;
}

/* Make room for need more bytes at the end of the output buffer. */
static int
engine_out_reserve(cq_client *c, size_t need)
{
	uint8_t *n;
	size_t cap;

	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = c->out_frame_start = 0;
	} else if (c->out_off > 0 && c->out_cap - c->out_len < need) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_frame_start -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_cap - c->out_len >= need)
		return 0;
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap - c->out_len < need)
		cap *= 2;
	if ((n = realloc(c->out, cap)) == NULL)
		return -1;
	c->out = n;
	c->out_cap = cap;
	return 0;
}

/* engine_packed_size's *body for a request only protobuf-c encodes. */
#define ENGINE_PROTOBUF SIZE_MAX

/*
 * Packed size of req: hand-encoded hot requests, else protobuf-c. *body
 * tells engine_pack which (and the hand encoder the size of the Push or
 * Pop), so nothing is measured twice.
 */
static size_t
engine_packed_size(const Conqueue__Request *req, size_t *body)
{
	size_t n = wire_request_len(req, body);

	if (n != 0)
		return n;
	*body = ENGINE_PROTOBUF;
	return conqueue__request__get_packed_size(req);
}

/* Pack req into out (room for engine_packed_size(req, &body) bytes). */
static void
engine_pack(const Conqueue__Request *req, size_t body, uint8_t *out)
{
	if (body != ENGINE_PROTOBUF)
		wire_request_pack(req, body, out);
	else
		conqueue__request__pack(req, out);
}

/* Pack req (n bytes packed, body as engine_packed_size) as one frame at
 * the end of the output buffer: straight into it, no intermediate copy. */
static int
engine_out_frame(
    cq_client *c, const Conqueue__Request *req, size_t n, size_t body)
{
	if (engine_out_reserve(c, FRAME_HDR_LEN + n) != 0)
		return -1;
	frame_put_len(c->out + c->out_len, (uint32_t)n);
	engine_pack(req, body, c->out + c->out_len + FRAME_HDR_LEN);
	c->out_len += FRAME_HDR_LEN + n;
	return 0;
}

/* Pack req with every pending receipt attached, then forget the receipts;
 * n and body are engine_packed_size's for req without receipts. */
static int
engine_out_request(cq_client *c, Conqueue__Request *req, size_t n, size_t body)
{
	int rv;

	req->n_confirm = c->confirm.n;
	req->confirm = c->confirm.v;
	req->n_reject = c->reject.n;
	req->reject = c->reject.v;
	if (c->confirm.n > 0 || c->reject.n > 0) {
		/* The receipts change the size. */
		if (body != ENGINE_PROTOBUF)
			n += wire_receipts_len(req->confirm, req->n_confirm,
			    req->reject, req->n_reject);
		else
			n = conqueue__request__get_packed_size(req);
	}
	rv = engine_out_frame(c, req, n, body);
	req->n_confirm = req->n_reject = 0;
	req->confirm = req->reject = NULL;
	if (rv == 0)
		c->confirm.n = c->reject.n = 0;
	return rv;
}

/* Send pending receipts in a frame of their own (id 0: no reply). */
static void
engine_out_receipts(cq_client *c)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	size_t n, body;

	if (c->dead || (c->confirm.n == 0 && c->reject.n == 0))
		return;
	req.id = 0;
	n = engine_packed_size(&req, &body);
	engine_out_request(c, &req, n, body);
}

/* Count op as pending in the daemon once it really leaves. */
static void
engine_op_sent(cq_client *c, struct cq_op *op)
{
	op->state = OPS_SENT;
	op->in_window = 1;
	c->window_used++;
}

/* Take a never-sent op out of the backlog. */
static void
engine_backlog_del(cq_client *c, struct cq_op *op)
{
	struct cq_op **pp, *prev = NULL;

	for (pp = &c->backlog_head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			if (c->backlog_tail == op)
				c->backlog_tail = prev;
			op->next = NULL;
			return;
		}
		prev = *pp;
	}
}

/* Move backlogged ops into the output buffer while the daemon has room. */
static void
engine_pump(cq_client *c)
{
	struct cq_op *op;

	/* Unconfirmed pop replies count against the daemon's pending limit
	 * too: free them before the backlog takes their room. */
	if (c->backlog_head != NULL && c->window_used < c->window)
		engine_out_receipts(c);
	while ((op = c->backlog_head) != NULL && c->window_used < c->window) {
		if (engine_out_reserve(c, op->frame_len) != 0)
			return;
		memcpy(c->out + c->out_len, op->frame, op->frame_len);
		c->out_len += op->frame_len;
		free(op->frame);
		op->frame = NULL;
		c->backlog_head = op->next;
		if (c->backlog_head == NULL)
			c->backlog_tail = NULL;
		op->next = NULL;
		engine_op_sent(c, op);
	}
}

#define ENGINE_OP_FREE_MAX 1024 /* op records kept for reuse */

/* A zeroed op record of c: a reused one, else a new one. */
static struct cq_op *
engine_op_new(cq_client *c)
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
static uint64_t
engine_next_id(cq_client *c)
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
	} while (c->ids_wrapped && engine_find(c, id) != NULL);
	return id;
}

/* A request being submitted: protobuf-c structs or a hot one. */
struct engine_enc {
	Conqueue__Request *req; /* or NULL */
	const struct wire_hot *hot;
	uint64_t id;
	size_t n, body; /* engine_packed_size's, or wire_hot_len's */
};

/* Measure enc as request id, receipts not included. */
static void
engine_enc_measure(struct engine_enc *e, uint64_t id)
{
	e->id = id;
	if (e->hot != NULL) {
		e->n = wire_hot_len(e->hot, id, &e->body);
	} else {
		e->req->id = id;
		e->n = engine_packed_size(e->req, &e->body);
	}
}

/* Frame enc at the end of the output buffer with every pending receipt
 * attached, then forget the receipts. */
static int
engine_enc_out(cq_client *c, const struct engine_enc *e)
{
	size_t n = e->n;

	if (e->hot == NULL)
		return engine_out_request(c, e->req, e->n, e->body);
	if (c->confirm.n > 0 || c->reject.n > 0)
		n += wire_receipts_len(
		    c->confirm.v, c->confirm.n, c->reject.v, c->reject.n);
	if (engine_out_reserve(c, FRAME_HDR_LEN + n) != 0)
		return -1;
	frame_put_len(c->out + c->out_len, (uint32_t)n);
	wire_hot_pack(e->hot, e->id, e->body, c->confirm.v, c->confirm.n,
	    c->reject.v, c->reject.n, c->out + c->out_len + FRAME_HDR_LEN);
	c->out_len += FRAME_HDR_LEN + n;
	c->confirm.n = c->reject.n = 0;
	return 0;
}

/* Pack enc without receipts into out (room for e->n bytes). */
static void
engine_enc_pack(const struct engine_enc *e, uint8_t *out)
{
	if (e->hot != NULL)
		wire_hot_pack(e->hot, e->id, e->body, NULL, 0, NULL, 0, out);
	else
		engine_pack(e->req, e->body, out);
}

/*
 * Submit a request as a new op. The op goes out with the next write, or
 * waits in the backlog when the daemon's pending limit is reached. Never
 * runs a callback.
 */
static cq_status
engine_submit_enc(cq_client *c, struct engine_enc *e, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct cq_op *op;
	size_t n;
	size_t limit = c->window;
	int jump = 0;

	*opp = NULL;
	if (c->dead || c->closing)
		return CQ_DISCONNECTED;
	if ((op = engine_op_new(c)) == NULL)
		return CQ_SYSTEM;
	op->kind = kind;
	op->sync = sync;
	op->hot = e->hot != NULL;
	op->timeout_ms = timeout_ms;
	op->deadline_ns = UINT64_MAX;
	op->heap_idx = SIZE_MAX;
	op->id = engine_next_id(c);

	engine_enc_measure(e, op->id);
	n = e->n;
	/* Receipts can take room too: keep a margin under the limit. */
	if (n + 16 * (c->confirm.n + c->reject.n) + 64 > c->max_frame &&
	    (c->confirm.n > 0 || c->reject.n > 0))
		engine_out_receipts(c);
	if (n > c->max_frame) {
		engine_op_free(op);
		return CQ_TOOBIG;
	}
	/*
	 * Ops wait in the backlog in order while the daemon's pending limit
	 * is reached. A Cancel, and a blocking call, may jump it using the
	 * slots kept free above the window: the backlog may be stuck behind
	 * parked ops that only such a call can release.
	 */
	if (kind == OP_CANCEL) {
		limit = c->max_pending;
		jump = 1;
	} else if (sync) {
		limit = c->max_pending > c->window + 1 ? c->max_pending - 1
		                                       : c->window;
		jump = 1;
	}
	if ((c->backlog_head == NULL || jump) && c->window_used < limit) {
		if (engine_enc_out(c, e) != 0) {
			engine_op_free(op);
			return CQ_SYSTEM;
		}
		engine_op_sent(c, op);
	} else {
		op->frame_len = FRAME_HDR_LEN + n;
		if ((op->frame = malloc(op->frame_len)) == NULL) {
			engine_op_free(op);
			return CQ_SYSTEM;
		}
		frame_put_len(op->frame, (uint32_t)n);
		engine_enc_pack(e, op->frame + FRAME_HDR_LEN);
		op->state = OPS_BACKLOG;
		if (c->backlog_tail != NULL)
			c->backlog_tail->next = op;
		else
			c->backlog_head = op;
		c->backlog_tail = op;
	}
	engine_table_add(c, op);
	/* The safety net counts from submission, backlog time included. */
	if (timeout_ms >= 0 && timeout_ms <= INT64_MAX - ENGINE_GRACE_MS &&
	    kind != OP_CANCEL && kind != OP_RELEASE) {
		op->deadline_ns =
		    time_deadline_ns(timeout_ms + ENGINE_GRACE_MS);
		engine_timer_add(c, op);
	}
	if (!sync && kind != OP_CANCEL && kind != OP_RELEASE)
		c->napp++;
	*opp = op;
	engine_notify(c);
	return CQ_OK;
}

/* Submit req as a new op (its id is filled in here). */
cq_status
engine_submit(cq_client *c, Conqueue__Request *req, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct engine_enc e = {req, NULL, 0, 0, 0};

	return engine_submit_enc(c, &e, kind, timeout_ms, sync, opp);
}

/* Submit a hot push or pop, encoded without protobuf-c structs. */
cq_status
engine_submit_hot(cq_client *c, const struct wire_hot *h, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct engine_enc e = {NULL, h, 0, 0, 0};
	struct wire_msg *w;

	/* Room to decode its reply in place; without it, the strict path. */
	if (h->op == CONQUEUE__REQUEST__OP_POP && h->max > c->wmsgs_cap &&
	    (w = realloc(c->wmsgs, h->max * sizeof *w)) != NULL) {
		c->wmsgs = w;
		c->wmsgs_cap = h->max;
	}
	return engine_submit_enc(c, &e, kind, timeout_ms, sync, opp);
}

/* Free an op and whatever it still holds. */
void
engine_op_free(struct cq_op *op)
{
	if (op == NULL)
		return;
	/* (Mostly NULL: spare the calls.) */
	if (op->reply != NULL)
		engine_reply_free(op->c, op->reply);
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
	/* An async stream frees one op per message: keep it for the next. */
	if (op->c->nop_free < ENGINE_OP_FREE_MAX) {
		op->next = op->c->op_free;
		op->c->op_free = op;
		op->c->nop_free++;
		return;
	}
	free(op);
}

/* Hand op its final result: the blocked caller or the callback queue. */
static void
engine_finish(
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

/* Release every message of a reservation nobody will see. */
static void
engine_release(cq_client *c, const char *qname, const Conqueue__Reply *r)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__MsgOp mo = CONQUEUE__MSG_OP__INIT;
	struct cq_op *op;
	size_t i;

	if (qname == NULL)
		return; /* the lease runs out instead */
	req.op_case = CONQUEUE__REQUEST__OP_MSG_OP;
	req.msg_op = &mo;
	mo.kind = CONQUEUE__MSG_OP__KIND__RELEASE;
	mo.name.data = (uint8_t *)(uintptr_t)qname;
	mo.name.len = strlen(qname);
	for (i = 0; i < r->n_msgs; i++) {
		mo.msg_id = r->msgs[i]->id;
		engine_submit(c, &req, OP_RELEASE, -1, 0, &op);
	}
}

/* Take op off the wire bookkeeping: table, timers, pending window. */
static void
engine_unlink(cq_client *c, struct cq_op *op)
{
	engine_table_del(c, op);
	engine_timer_del(c, op);
	if (op->in_window) {
		op->in_window = 0;
		c->window_used--;
	}
}

/*
 * Replies are unpacked into one arena instead of protobuf-c's malloc per
 * sub-message and per bytes field (a pop of 64 messages was ~130 mallocs
 * and frees). The Reply struct is the arena's first allocation, so the
 * Reply pointer finds its arena; the last freed arena is kept for the next
 * reply, which spares the page faults of a fresh large block per frame.
 */
struct arena {
	struct arena *more; /* overflow chunks (first chunk only) */
	struct arena *cur;  /* chunk allocations come from */
	size_t cap, used;
	max_align_t data[];
};

#define ARENA_ALIGN       (sizeof(max_align_t))
#define ARENA_SPARE_LIMIT (8u * 1024 * 1024)

/* A chunk with room for cap bytes. */
static struct arena *
engine_arena_chunk(size_t cap)
{
	struct arena *a;

	if ((a = malloc(sizeof *a + cap)) == NULL)
		return NULL;
	a->more = NULL;
	a->cur = a;
	a->cap = cap;
	a->used = 0;
	return a;
}

/* ProtobufCAllocator.alloc: bump, or a new chunk when full. */
static void *
engine_arena_alloc(void *ctx, size_t size)
{
	struct arena *a = ctx, *cur = a->cur, *n;
	void *p;

	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (cur->cap - cur->used < size) {
		if ((n = engine_arena_chunk(
		         size > cur->cap ? size : cur->cap)) == NULL)
			return NULL;
		n->more = a->more;
		a->more = n;
		a->cur = cur = n;
	}
	p = (char *)cur->data + cur->used;
	cur->used += size;
	return p;
}

/* ProtobufCAllocator.free: everything goes with the arena. */
static void
engine_arena_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

/* Release an arena: keep the first chunk for the next reply if free. */
static void
engine_arena_release(cq_client *c, struct arena *a)
{
	struct arena *n, *next;

	for (n = a->more; n != NULL; n = next) {
		next = n->more;
		free(n);
	}
	if (c != NULL && c->spare == NULL && a->cap <= ARENA_SPARE_LIMIT) {
		c->spare = a;
		return;
	}
	free(a);
}

/* Free a reply decoded by engine_decode_reply (NULL is fine). */
void
engine_reply_free(cq_client *c, Conqueue__Reply *r)
{
	if (r != NULL)
		engine_arena_release(c,
		    (struct arena *)((char *)r - offsetof(struct arena, data)));
}

/* Decode one reply strictly (as frame_decode_reply) into an arena. */
static Conqueue__Reply *
engine_decode_reply(
    cq_client *c, const uint8_t *buf, size_t len, const char **why)
{
	ProtobufCAllocator al;
	Conqueue__Reply *r;
	struct arena *a;
	/* Decoded size: the bytes once more plus the structs around them. */
	size_t want = 2 * len + 1024;

	if (frame_check_wire(&conqueue__reply__descriptor, buf, len, why))
		return NULL;
	if ((a = c->spare) != NULL && a->cap >= want) {
		c->spare = NULL;
		a->more = NULL;
		a->cur = a;
		a->used = 0;
	} else if ((a = engine_arena_chunk(want)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	al.alloc = engine_arena_alloc;
	al.free = engine_arena_free;
	al.allocator_data = a;
	if (!wire_reply_unpack(&al, buf, len, &r))
		r = conqueue__reply__unpack(&al, len, buf);
	if (r == NULL || (void *)r != (void *)a->data) {
		/* (The Reply is always protobuf-c's first allocation.) */
		engine_arena_release(c, a);
		*why = "undecodable message (missing required field?)";
		return NULL;
	}
	return r;
}

/* Match a reply to its op and complete it. */
static void
engine_reply(cq_client *c, Conqueue__Reply *r)
{
	struct cq_op *op;
	int got_msgs = r->status == CQ_OK && r->n_msgs > 0;

	if (r->id == 0) {
		/* A connection-level error: the daemon closes next. */
		engine_set_error(c, (cq_status)r->status, r->detail, 0);
		c->conn_status = (cq_status)r->status;
		engine_reply_free(c, r);
		engine_lost(c, NULL);
		return;
	}
	if ((op = engine_find(c, r->id)) == NULL || op->state == OPS_BACKLOG ||
	    op->state == OPS_DONE) {
		/* Not ours (any more): never keep messages in flight. */
		if (got_msgs)
			engine_idlist_add(&c->reject, r->id);
		engine_reply_free(c, r);
		return;
	}
	engine_unlink(c, op);
	if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
	    op->kind == OP_RELEASE) {
		if (op->state == OPS_GHOST && got_msgs) {
			if (op->kind == OP_POP)
				engine_idlist_add(&c->reject, r->id);
			else if (op->kind == OP_RESERVE)
				engine_release(c, op->qname, r);
		}
		engine_reply_free(c, r);
		engine_op_free(op);
		return;
	}
	/* The application gets these messages: confirm their receipt. */
	if (op->kind == OP_POP && got_msgs)
		engine_idlist_add(&c->confirm, r->id);
	engine_finish(c, op, (cq_status)r->status, r);
}

/*
 * Copy the n_msgs messages of wr into op->msgs, each once; on failure
 * op->msgs stays NULL (CQ_SYSTEM later).
 */
static void
engine_fast_msgs(struct cq_op *op, const struct wire_reply *wr)
{
	size_t i;

	if ((op->msgs = malloc(wr->n_msgs * sizeof *op->msgs)) == NULL)
		return;
	for (i = 0; i < wr->n_msgs; i++) {
		if ((op->msgs[i] = msg_from_fast(&wr->msgs[i])) == NULL) {
			while (i > 0)
				cq_msg_free(op->msgs[--i]);
			free(op->msgs);
			op->msgs = NULL;
			return;
		}
	}
	op->n_msgs = wr->n_msgs;
}

/*
 * Complete an op from a reply decoded in place: no Reply struct, and a
 * pop's messages are copied out of the input buffer once. Returns 0,
 * having changed nothing, when engine_reply must have the full Reply
 * instead (connection errors, blocking calls that read the Reply, a pop's
 * OK without a message, several for a one-message callback, late
 * reservations).
 */
static int
engine_reply_fast(cq_client *c, const struct wire_reply *wr)
{
	struct cq_op *op;
	int got_msgs = wr->status == CQ_OK && wr->n_msgs > 0;

	if (wr->id == 0)
		return 0;
	if ((op = engine_find(c, wr->id)) == NULL || op->state == OPS_BACKLOG ||
	    op->state == OPS_DONE) {
		/* Not ours (any more): never keep messages in flight. */
		if (got_msgs)
			engine_idlist_add(&c->reject, wr->id);
		return 1;
	}
	if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
	    op->kind == OP_RELEASE) {
		if (op->state == OPS_GHOST && got_msgs &&
		    op->kind == OP_RESERVE)
			return 0; /* engine_release wants the Reply */
		engine_unlink(c, op);
		if (op->state == OPS_GHOST && got_msgs && op->kind == OP_POP)
			engine_idlist_add(&c->reject, wr->id);
		engine_op_free(op);
		return 1;
	}
	/* A blocking call reads the Reply unless marked hot; its pop
	 * leaves the odd OK without a message to the strict path (which
	 * makes it CQ_PROTOCOL), so a missing op->msg means no memory. */
	if ((op->sync && (!op->hot || (wr->status == CQ_OK && !got_msgs &&
	                                  op->kind != OP_PLAIN))) ||
	    (op->pop_many_cb != NULL && wr->status == CQ_OK && !got_msgs) ||
	    (op->pop_cb != NULL && got_msgs && wr->n_msgs > 1))
		return 0;
	engine_unlink(c, op);
	if (op->kind == OP_POP && got_msgs)
		engine_idlist_add(&c->confirm, wr->id);
	op->fast = 1;
	/* NULL op->msg or op->msgs: CQ_SYSTEM later. */
	if (got_msgs && (op->pop_many_cb != NULL || wr->n_msgs > 1))
		engine_fast_msgs(op, wr);
	else if (got_msgs && (op->pop_cb != NULL || op->sync))
		op->msg = msg_from_fast(&wr->msgs[0]);
	if (wr->status != CQ_OK) {
		if (wr->detail != NULL)
			op->detail =
			    strndup((const char *)wr->detail, wr->detail_len);
		op->sys_errno = wr->has_sys_errno ? wr->sys_errno : 0;
	}
	engine_finish(c, op, (cq_status)wr->status, NULL);
	return 1;
}

/* Read and dispatch every complete frame in the input buffer. */
static void
engine_parse(cq_client *c)
{
	struct wire_reply wr;
	struct wire_msg one;
	const uint8_t *buf;
	const char *why;
	Conqueue__Reply *r;
	uint32_t len;

	while (!c->dead && c->in_len - c->in_off >= FRAME_HDR_LEN) {
		len = frame_get_len(c->in + c->in_off);
		if (len > FRAME_MAX_LIMIT) {
			engine_set_error(c, CQ_PROTOCOL,
			    "reply frame over the size limit", 0);
			c->conn_status = CQ_PROTOCOL;
			engine_lost(c, NULL);
			return;
		}
		if (c->in_len - c->in_off < FRAME_HDR_LEN + (size_t)len)
			break;
		buf = c->in + c->in_off + FRAME_HDR_LEN;
		c->in_off += FRAME_HDR_LEN + (size_t)len;
		wr.msgs = c->wmsgs_cap > 0 ? c->wmsgs : &one;
		wr.msgs_cap = c->wmsgs_cap > 0 ? c->wmsgs_cap : 1;
		if (wire_reply_fast(buf, len, &wr) && engine_reply_fast(c, &wr))
			continue;
		r = engine_decode_reply(c, buf, len, &why);
		if (r == NULL) {
			engine_set_error(c, CQ_PROTOCOL, why, 0);
			c->conn_status = CQ_PROTOCOL;
			engine_lost(c, NULL);
			return;
		}
		engine_reply(c, r);
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

/* Make room to read: at least a chunk, or the rest of a large frame. */
static int
engine_in_reserve(cq_client *c)
{
	size_t need = ENGINE_READ_CHUNK, cap;
	uint8_t *n;

	if (c->in_len - c->in_off >= FRAME_HDR_LEN) {
		size_t whole =
		    FRAME_HDR_LEN + (size_t)frame_get_len(c->in + c->in_off);
		if (whole > c->in_len - c->in_off + need)
			need = whole - (c->in_len - c->in_off);
	}
	if (c->in_off > 0 && c->in_cap - c->in_len < need) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_cap - c->in_len >= need)
		return 0;
	cap = c->in_cap ? c->in_cap : ENGINE_READ_CHUNK;
	while (cap - c->in_len < need)
		cap *= 2;
	if ((n = realloc(c->in, cap)) == NULL)
		return -1;
	c->in = n;
	c->in_cap = cap;
	return 0;
}

/* Read what the socket has (bounded per turn) and handle the replies. */
static void
engine_read(cq_client *c)
{
	ssize_t n;
	size_t room;
	int i;

	for (i = 0; i < ENGINE_READS_PER_TURN && !c->dead; i++) {
		if (engine_in_reserve(c) != 0) {
			engine_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
			engine_lost(c, NULL);
			return;
		}
		room = c->in_cap - c->in_len;
		n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			engine_lost(c, n == 0 ? "daemon closed the connection"
			                      : strerror(errno));
			return;
		}
		c->in_len += (size_t)n;
		engine_parse(c);
		if ((size_t)n < room)
			return;
	}
}

/* Write as much of the output buffer as the socket takes now. */
static void
engine_write(cq_client *c)
{
	ssize_t n;
	size_t next;

	while (!c->dead && c->out_off < c->out_len) {
		/* MSG_NOSIGNAL: a dead daemon must not kill the caller. */
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			int err = errno;

			/* The daemon may have said why before it closed
			 * (a connection limit): read that first. */
			engine_read(c);
			engine_lost(c, strerror(err));
			return;
		}
		c->out_off += (size_t)n;
		/* Track the frame being written: cq_disconnect must finish
		 * it but may drop the ones after it. */
		while (c->out_frame_start < c->out_off) {
			next = c->out_frame_start + FRAME_HDR_LEN +
			       frame_get_len(c->out + c->out_frame_start);
			if (next > c->out_off)
				break;
			c->out_frame_start = next;
		}
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = c->out_frame_start = 0;
}

/* Give up locally on op: it completes with st, a ghost awaits its reply. */
static void
engine_abandon(cq_client *c, struct cq_op *op, cq_status st)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel cancel = CONQUEUE__CANCEL__INIT;
	struct cq_op *ghost, *cop;

	engine_timer_del(c, op);
	if ((ghost = engine_op_new(c)) != NULL) {
		engine_table_del(c, op);
		ghost->c = c;
		ghost->id = op->id;
		ghost->kind = op->kind;
		ghost->state = OPS_GHOST;
		ghost->heap_idx = SIZE_MAX;
		ghost->in_window = op->in_window;
		ghost->qname = op->qname;
		op->qname = NULL;
		op->in_window = 0;
		engine_table_add(c, ghost);
	} else {
		engine_unlink(c, op); /* a late reply is then rejected */
	}
	if (!op->cancel_sent) {
		op->cancel_sent = 1;
		req.op_case = CONQUEUE__REQUEST__OP_CANCEL;
		req.cancel = &cancel;
		cancel.target = op->id;
		engine_submit(c, &req, OP_CANCEL, -1, 0, &cop);
	}
	engine_set_error(c, st, "no reply from the daemon in time", 0);
	engine_finish(c, op, st, NULL);
}

/* Give up on ops whose local deadline (timeout + grace) has passed. */
static void
engine_expire(cq_client *c)
{
	struct cq_op *op;
	uint64_t now;

	if (c->ntimers == 0)
		return;
	now = time_mono_ns();
	while (!c->dead && c->ntimers > 0 && c->timers[0]->deadline_ns <= now) {
		op = c->timers[0];
		if (op->state == OPS_BACKLOG) {
			/* Never sent: nothing to cancel. */
			engine_backlog_del(c, op);
			engine_unlink(c, op);
			engine_set_error(c, CQ_TIMEDOUT,
			    "still waiting for the daemon's pending limit", 0);
			engine_finish(c, op, CQ_TIMEDOUT, NULL);
		} else {
			engine_abandon(c, op, CQ_TIMEDOUT);
		}
	}
}

/* Milliseconds until the nearest local deadline, -1 if none. */
static int
engine_poll_timeout(cq_client *c)
{
	int64_t left;

	if (c->ntimers == 0)
		return -1;
	left = time_left_ms(c->timers[0]->deadline_ns);
	if (left < 0)
		return -1;
	return left > 60000 ? 60000 : (int)left + 1;
}

/* The connection is gone: every op ends with CQ_DISCONNECTED. */
static void
engine_lost(cq_client *c, const char *why)
{
	struct cq_op *op, *next;
	size_t i;

	if (c->dead)
		return;
	c->dead = 1;
	if (why != NULL)
		engine_set_error(c, CQ_DISCONNECTED, why, 0);
	engine_notify(c); /* the adapter stops watching before the close */
	for (i = 0; i < c->nbuckets; i++) {
		for (op = c->buckets[i]; op != NULL; op = next) {
			next = op->hnext;
			op->hnext = NULL;
			op->heap_idx = SIZE_MAX;
			op->in_window = 0;
			if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
			    op->kind == OP_RELEASE)
				engine_op_free(op);
			else
				engine_finish(c, op, CQ_DISCONNECTED, NULL);
		}
		c->buckets[i] = NULL;
	}
	c->nops = 0;
	c->ntimers = 0;
	c->window_used = 0;
	c->backlog_head = c->backlog_tail = NULL;
	c->out_off = c->out_len = c->out_frame_start = 0;
	c->in_off = c->in_len = 0;
	c->confirm.n = c->reject.n = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Hand a batch pop's messages to its callback (which owns them). */
static void
engine_pop_many_cb(cq_client *c, struct cq_op *op)
{
	cq_msg *local[64], **msgs = local;
	const Conqueue__Reply *r = op->reply;
	size_t i, n;

	if (op->fast && op->status == CQ_OK) {
		/* Made at the reply: the callback takes them over. */
		if ((msgs = op->msgs) == NULL)
			goto nomem;
		n = op->n_msgs;
		op->msgs = NULL;
		op->n_msgs = 0;
		op->pop_many_cb(CQ_OK, msgs, n, op->arg);
		free(msgs);
		return;
	}
	if (op->status != CQ_OK || r == NULL || r->n_msgs == 0) {
		if (op->status == CQ_OK) {
			engine_set_error(
			    c, CQ_PROTOCOL, "pop reply without messages", 0);
			op->status = CQ_PROTOCOL;
		}
		op->pop_many_cb(op->status, NULL, 0, op->arg);
		return;
	}
	n = r->n_msgs;
	/* The array lives only for the callback: the stack for usual
	 * batch sizes (callbacks may nest, so no shared scratch). */
	if (n > sizeof local / sizeof local[0] &&
	    (msgs = malloc(n * sizeof *msgs)) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		if ((msgs[i] = msg_from_wire(r->msgs[i])) == NULL) {
			while (i > 0)
				cq_msg_free(msgs[--i]);
			if (msgs != local)
				free(msgs);
			goto nomem;
		}
	}
	op->pop_many_cb(CQ_OK, msgs, n, op->arg);
	if (msgs != local)
		free(msgs);
	return;
nomem:
	engine_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
	op->pop_many_cb(CQ_SYSTEM, NULL, 0, op->arg);
}

/* Run the callbacks of completed ops, one at a time (callbacks may
 * submit, cancel or process again). */
static void
engine_callbacks(cq_client *c)
{
	struct cq_op *op;
	cq_msg *m;
	Conqueue__Reply *r;

	while ((op = c->done_head) != NULL) {
		c->done_head = op->next;
		if (c->done_head == NULL)
			c->done_tail = NULL;
		op->next = NULL;
		c->napp--;
		r = op->reply;
		if (op->status != CQ_OK && r != NULL)
			engine_set_error(c, op->status, r->detail,
			    r->has_sys_errno ? r->sys_errno : 0);
		else if (op->status != CQ_OK && op->fast)
			engine_set_error(
			    c, op->status, op->detail, op->sys_errno);
		if (op->pop_many_cb != NULL) {
			engine_pop_many_cb(c, op);
		} else if (op->pop_cb != NULL) {
			m = op->msg;
			op->msg = NULL; /* the callback owns it */
			if (op->status == CQ_OK && r != NULL && r->n_msgs > 0)
				m = msg_from_wire(r->msgs[0]);
			if (op->status == CQ_OK && m == NULL)
				op->pop_cb(CQ_SYSTEM, NULL, op->arg);
			else
				op->pop_cb(op->status, m, op->arg);
		} else if (op->push_cb != NULL) {
			op->push_cb(op->status, op->arg);
		}
		engine_op_free(op);
	}
}

/* One turn of I/O: write, read, handle replies, expire deadlines. */
static void
engine_turn(cq_client *c)
{
	engine_write(c);
	engine_read(c);
	engine_expire(c);
	engine_pump(c);
	if (c->reject.n > 0)
		engine_out_receipts(c); /* put abandoned messages back now */
	engine_write(c);
}

/*
 * Drive the connection until op (submitted with sync) completes; async
 * callbacks that become due meanwhile run here. Returns op's status; the
 * caller still owns op.
 */
cq_status
engine_wait(cq_client *c, struct cq_op *op)
{
	struct pollfd pfd;
	int rv;

	/* No read yet: the reply cannot be there before the request left,
	 * and poll tells when anything else arrived. */
	engine_write(c);
	while (op->state != OPS_DONE) {
		if (c->dead) {
			/* engine_lost completed it; never poll fd -1. */
			engine_finish(c, op, CQ_DISCONNECTED, NULL);
			break;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (c->out_off < c->out_len)
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		rv = poll(&pfd, 1, engine_poll_timeout(c));
		if (rv < 0 && errno != EINTR) {
			engine_set_error(c, CQ_SYSTEM, strerror(errno), errno);
			engine_lost(c, NULL);
			break;
		}
		engine_turn(c);
		engine_callbacks(c);
	}
	engine_callbacks(c);
	engine_notify(c);
	return op->status;
}

/* Ask the daemon to cancel op; its callback still runs exactly once. */
cq_status
engine_cancel(struct cq_op *op)
{
	cq_client *c = op->c;
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel cancel = CONQUEUE__CANCEL__INIT;
	struct cq_op *cop;
	cq_status st;

	if (op->state == OPS_DONE || c->dead)
		return CQ_OK;
	if (op->state == OPS_BACKLOG) {
		/* Never sent: it ends here. */
		engine_backlog_del(c, op);
		engine_unlink(c, op);
		engine_finish(c, op, CQ_CANCELED, NULL);
		return CQ_OK;
	}
	if (op->cancel_sent)
		return CQ_OK;
	req.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	req.cancel = &cancel;
	cancel.target = op->id;
	if ((st = engine_submit(c, &req, OP_CANCEL, -1, 0, &cop)) != CQ_OK)
		return st;
	op->cancel_sent = 1;
	return CQ_OK;
}

/* cq_client_events: what to poll for. */
int
engine_events(cq_client *c)
{
	if (c->dead)
		return 0;
	return CQ_WANT_READ | (c->out_off < c->out_len ? CQ_WANT_WRITE : 0);
}

/* cq_client_process: I/O without waiting, callbacks, then receipts. */
cq_status
engine_process(cq_client *c)
{
	if (!c->dead)
		engine_turn(c);
	engine_callbacks(c);
	/* Confirm now what the callbacks got (an idle event-loop program
	 * must not keep messages in flight), and send what they submitted. */
	if (!c->dead) {
		engine_out_receipts(c);
		engine_write(c);
	}
	engine_notify(c);
	return c->dead ? CQ_DISCONNECTED : CQ_OK;
}

/*
 * cq_disconnect's work: results that arrived are delivered, the rest is
 * cancelled, unsent requests are dropped (a partly written frame is
 * finished) and the receipts are flushed before the close.
 */
void
engine_shutdown(cq_client *c)
{
	struct cq_op *op, *next;
	struct pollfd pfd;
	uint64_t deadline;
	size_t i, end;

	engine_callbacks(c);
	c->closing = 1;
	if (!c->dead) {
		if (c->out_frame_start < c->out_off) {
			end = c->out_frame_start + FRAME_HDR_LEN +
			      frame_get_len(c->out + c->out_frame_start);
			c->out_len = end;
		} else {
			c->out_len = c->out_off;
		}
		engine_out_receipts(c);
		deadline = time_deadline_ns(ENGINE_FLUSH_MS);
		engine_write(c);
		while (!c->dead && c->out_off < c->out_len &&
		       time_left_ms(deadline) > 0) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, (int)time_left_ms(deadline)) < 0 &&
			    errno != EINTR)
				break;
			engine_write(c);
		}
	}
	for (i = 0; i < c->nbuckets; i++) {
		for (op = c->buckets[i]; op != NULL; op = next) {
			next = op->hnext;
			op->hnext = NULL;
			if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
			    op->kind == OP_RELEASE)
				engine_op_free(op);
			else
				engine_finish(c, op, CQ_CANCELED, NULL);
		}
		c->buckets[i] = NULL;
	}
	c->nops = 0;
	c->ntimers = 0;
	c->backlog_head = c->backlog_tail = NULL;
	engine_callbacks(c);
	c->dead = 1;
	engine_notify(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Free the engine's memory (after engine_shutdown). */
void
engine_free(cq_client *c)
{
	struct cq_op *op;

	while ((op = c->op_free) != NULL) {
		c->op_free = op->next;
		free(op);
	}
	free(c->spare);
	free(c->wmsgs);
	free(c->buckets);
	free(c->timers);
	free(c->out);
	free(c->in);
	free(c->confirm.v);
	free(c->reject.v);
	free(c);
}
