/* send.c - submitting ops: the output buffer, the backlog and receipts. */

/*
 * Submitting packs the request into the output buffer (so ops submitted
 * in one turn leave in one write) or, when the daemon's pending limit is
 * reached, into a backlog. Receipts (confirm/reject of plain pops) ride
 * on the next frame that leaves, or go alone in an id-0 frame.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "send.h"

/* Append an id to a receipt list. */
void
send_receipt_add(struct idlist *l, uint64_t id)
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
send_reserve(cq_client *c, size_t need)
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

/* send_packed_size's *body for a request only protobuf-c encodes. */
#define SEND_PROTOBUF SIZE_MAX

/*
 * Packed size of req: hand-encoded hot requests, else protobuf-c. *body
 * tells send_pack which (and the hand encoder the size of the Push or
 * Pop), so nothing is measured twice.
 */
static size_t
send_packed_size(const Conqueue__Request *req, size_t *body)
{
	size_t n = wire_request_len(req, body);

	if (n != 0)
		return n;
	*body = SEND_PROTOBUF;
	return conqueue__request__get_packed_size(req);
}

/* Pack req into out (room for send_packed_size(req, &body) bytes). */
static void
send_pack(const Conqueue__Request *req, size_t body, uint8_t *out)
{
	if (body != SEND_PROTOBUF)
		wire_request_pack(req, body, out);
	else
		conqueue__request__pack(req, out);
}

/* Pack req (n bytes packed, body as send_packed_size) as one frame at
 * the end of the output buffer: straight into it, no intermediate copy. */
static int
send_frame(cq_client *c, const Conqueue__Request *req, size_t n, size_t body)
{
	if (send_reserve(c, FRAME_HDR_LEN + n) != 0)
		return -1;
	frame_put_len(c->out + c->out_len, (uint32_t)n);
	send_pack(req, body, c->out + c->out_len + FRAME_HDR_LEN);
	c->out_len += FRAME_HDR_LEN + n;
	return 0;
}

/*
 * Receipts leave in a frame of request id (0: a frame of receipts only).
 * Until a reply to that request or a later one arrives, the daemon may
 * not have settled them: the direct path must not trust what it sees of
 * the slots they free (dpath.c), the socket path's order would have.
 */
static void
send_settle_mark(cq_client *c, uint64_t id)
{
	if (c->confirm.n > 0 || c->reject.n > 0)
		c->settle_id = id != 0 ? id : c->next_id;
}

/* Pack req with every pending receipt attached, then forget the receipts;
 * n and body are send_packed_size's for req without receipts. */
static int
send_request(cq_client *c, Conqueue__Request *req, size_t n, size_t body)
{
	int rv;

	req->n_confirm = c->confirm.n;
	req->confirm = c->confirm.v;
	req->n_reject = c->reject.n;
	req->reject = c->reject.v;
	if (c->confirm.n > 0 || c->reject.n > 0) {
		/* The receipts change the size. */
		if (body != SEND_PROTOBUF)
			n += wire_receipts_len(req->confirm, req->n_confirm,
			    req->reject, req->n_reject);
		else
			n = conqueue__request__get_packed_size(req);
	}
	rv = send_frame(c, req, n, body);
	req->n_confirm = req->n_reject = 0;
	req->confirm = req->reject = NULL;
	if (rv == 0) {
		send_settle_mark(c, req->id);
		c->confirm.n = c->reject.n = 0;
	}
	return rv;
}

/* Send pending receipts in a frame of their own (id 0: no reply). */
void
send_receipts(cq_client *c)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	size_t n, body;

	if (c->dead || (c->confirm.n == 0 && c->reject.n == 0))
		return;
	req.id = 0;
	n = send_packed_size(&req, &body);
	send_request(c, &req, n, body);
}

/*
 * Whether req would fit in one frame, measured as send_submit measures it
 * (receipts aside): the direct path refuses what the socket path would.
 */
int
send_fits(cq_client *c, Conqueue__Request *req)
{
	size_t body;

	req->id = c->next_id;
	return send_packed_size(req, &body) <= c->max_frame;
}

/* Count op as pending in the daemon once it really leaves. */
static void
send_op_sent(cq_client *c, struct cq_op *op)
{
	op->state = OPS_SENT;
	op->in_window = 1;
	c->window_used++;
}

/* Take a never-sent op out of the backlog. */
void
send_backlog_del(cq_client *c, struct cq_op *op)
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
void
send_pump(cq_client *c)
{
	struct cq_op *op;

	/* Unconfirmed pop replies count against the daemon's pending limit
	 * too: free them before the backlog takes their room. */
	if (c->backlog_head != NULL && c->window_used < c->window)
		send_receipts(c);
	while ((op = c->backlog_head) != NULL && c->window_used < c->window) {
		if (send_reserve(c, op->frame_len) != 0)
			return;
		memcpy(c->out + c->out_len, op->frame, op->frame_len);
		c->out_len += op->frame_len;
		free(op->frame);
		op->frame = NULL;
		c->backlog_head = op->next;
		if (c->backlog_head == NULL)
			c->backlog_tail = NULL;
		op->next = NULL;
		send_op_sent(c, op);
	}
}

/* A request being submitted: protobuf-c structs or a hot one. */
struct send_enc {
	Conqueue__Request *req; /* or NULL */
	const struct wire_hot *hot;
	uint64_t id;
	size_t n, body; /* send_packed_size's, or wire_hot_len's */
};

/* Measure enc as request id, receipts not included. */
static void
send_enc_measure(struct send_enc *e, uint64_t id)
{
	e->id = id;
	if (e->hot != NULL) {
		e->n = wire_hot_len(e->hot, id, &e->body);
	} else {
		e->req->id = id;
		e->n = send_packed_size(e->req, &e->body);
	}
}

/* Frame enc at the end of the output buffer with every pending receipt
 * attached, then forget the receipts. */
static int
send_enc_out(cq_client *c, const struct send_enc *e)
{
	size_t n = e->n;

	if (e->hot == NULL)
		return send_request(c, e->req, e->n, e->body);
	if (c->confirm.n > 0 || c->reject.n > 0)
		n += wire_receipts_len(
		    c->confirm.v, c->confirm.n, c->reject.v, c->reject.n);
	if (send_reserve(c, FRAME_HDR_LEN + n) != 0)
		return -1;
	frame_put_len(c->out + c->out_len, (uint32_t)n);
	wire_hot_pack(e->hot, e->id, e->body, c->confirm.v, c->confirm.n,
	    c->reject.v, c->reject.n, c->out + c->out_len + FRAME_HDR_LEN);
	c->out_len += FRAME_HDR_LEN + n;
	send_settle_mark(c, e->id);
	c->confirm.n = c->reject.n = 0;
	return 0;
}

/* Pack enc without receipts into out (room for e->n bytes). */
static void
send_enc_pack(const struct send_enc *e, uint8_t *out)
{
	if (e->hot != NULL)
		wire_hot_pack(e->hot, e->id, e->body, NULL, 0, NULL, 0, out);
	else
		send_pack(e->req, e->body, out);
}

/*
 * Submit a request as a new op. The op goes out with the next write, or
 * waits in the backlog when the daemon's pending limit is reached. Never
 * runs a callback.
 */
static cq_status
send_submit_enc(cq_client *c, struct send_enc *e, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct cq_op *op;
	size_t n;
	size_t limit = c->window;
	int jump = 0;

	*opp = NULL;
	if (c->dead || c->closing)
		return CQ_DISCONNECTED;
	if ((op = optab_op_new(c)) == NULL)
		return CQ_SYSTEM;
	op->kind = kind;
	op->sync = sync;
	op->hot = e->hot != NULL;
	op->timeout_ms = timeout_ms;
	op->deadline_ns = UINT64_MAX;
	op->heap_idx = SIZE_MAX;
	op->id = optab_next_id(c);

	send_enc_measure(e, op->id);
	n = e->n;
	/* Receipts can take room too: keep a margin under the limit. */
	if (n + 16 * (c->confirm.n + c->reject.n) + 64 > c->max_frame &&
	    (c->confirm.n > 0 || c->reject.n > 0))
		send_receipts(c);
	if (n > c->max_frame) {
		optab_op_free(op);
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
		if (send_enc_out(c, e) != 0) {
			optab_op_free(op);
			return CQ_SYSTEM;
		}
		send_op_sent(c, op);
	} else {
		op->frame_len = FRAME_HDR_LEN + n;
		if ((op->frame = malloc(op->frame_len)) == NULL) {
			optab_op_free(op);
			return CQ_SYSTEM;
		}
		frame_put_len(op->frame, (uint32_t)n);
		send_enc_pack(e, op->frame + FRAME_HDR_LEN);
		op->state = OPS_BACKLOG;
		if (c->backlog_tail != NULL)
			c->backlog_tail->next = op;
		else
			c->backlog_head = op;
		c->backlog_tail = op;
	}
	optab_add(c, op);
	/* The safety net counts from submission, backlog time included. */
	if (timeout_ms >= 0 && timeout_ms <= INT64_MAX - OPTAB_GRACE_MS &&
	    kind != OP_CANCEL && kind != OP_RELEASE) {
		op->deadline_ns = time_deadline_ns(timeout_ms + OPTAB_GRACE_MS);
		optab_timer_add(c, op);
	}
	if (!sync && kind != OP_CANCEL && kind != OP_RELEASE)
		c->napp++;
	*opp = op;
	conn_notify(c);
	return CQ_OK;
}

/* Submit req as a new op (its id is filled in here). */
cq_status
send_submit(cq_client *c, Conqueue__Request *req, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct send_enc e = {req, NULL, 0, 0, 0};

	return send_submit_enc(c, &e, kind, timeout_ms, sync, opp);
}

/* Submit a hot push or pop, encoded without protobuf-c structs. */
cq_status
send_submit_hot(cq_client *c, const struct wire_hot *h, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp)
{
	struct send_enc e = {NULL, h, 0, 0, 0};
	struct wire_msg *w;

	/* Room to decode its reply in place; without it, the strict path. */
	if (h->op == CONQUEUE__REQUEST__OP_POP && h->max > c->wmsgs_cap &&
	    (w = realloc(c->wmsgs, h->max * sizeof *w)) != NULL) {
		c->wmsgs = w;
		c->wmsgs_cap = h->max;
	}
	return send_submit_enc(c, &e, kind, timeout_ms, sync, opp);
}

/* Write as much of the output buffer as the socket takes now; -1 with
 * errno when the socket failed (the engine then ends the connection). */
int
send_write(cq_client *c)
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
		if (n < 0)
			return -1;
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
	return 0;
}
