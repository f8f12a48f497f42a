/* engine.c - drives a connection: every call style waits or processes here. */

/*
 * The engine turns the socket: writes what send.c queued, reads replies
 * through recv.c, gives up on ops past their local deadline, and runs the
 * callbacks of completed ops, later, from engine_process() or a blocking
 * call, never from inside a submit. It alone ends the connection.
 */

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "msg.h"
#include "recv.h"
#include "send.h"

#define ENGINE_FLUSH_MS 1000 /* cq_disconnect: most time spent flushing */

static void engine_lost(cq_client *c, const char *why);

/* Read what the socket has; a failure ends the connection. */
static void
engine_read(cq_client *c)
{
	const char *why;

	if (!c->dead && recv_read(c, &why) != 0)
		engine_lost(c, why);
}

/* Write what the socket takes; a failure ends the connection, after
 * reading what the daemon may have said before it closed. */
static void
engine_write(cq_client *c)
{
	int err;

	if (send_write(c) == 0)
		return;
	err = errno;
	engine_read(c);
	engine_lost(c, strerror(err));
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

/* Give up locally on op: it completes with st, a ghost awaits its reply. */
static void
engine_abandon(cq_client *c, struct cq_op *op, cq_status st)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Cancel cancel = CONQUEUE__CANCEL__INIT;
	struct cq_op *ghost, *cop;

	optab_timer_del(c, op);
	if ((ghost = optab_op_new(c)) != NULL) {
		optab_del(c, op);
		ghost->c = c;
		ghost->id = op->id;
		ghost->kind = op->kind;
		ghost->state = OPS_GHOST;
		ghost->heap_idx = SIZE_MAX;
		ghost->in_window = op->in_window;
		ghost->qname = op->qname;
		op->qname = NULL;
		op->in_window = 0;
		optab_add(c, ghost);
	} else {
		optab_unlink(c, op); /* a late reply is then rejected */
	}
	if (!op->cancel_sent) {
		op->cancel_sent = 1;
		req.op_case = CONQUEUE__REQUEST__OP_CANCEL;
		req.cancel = &cancel;
		cancel.target = op->id;
		send_submit(c, &req, OP_CANCEL, -1, 0, &cop);
	}
	conn_set_error(c, st, "no reply from the daemon in time", 0);
	optab_finish(c, op, st, NULL);
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
			send_backlog_del(c, op);
			optab_unlink(c, op);
			conn_set_error(c, CQ_TIMEDOUT,
			    "still waiting for the daemon's pending limit", 0);
			optab_finish(c, op, CQ_TIMEDOUT, NULL);
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
		conn_set_error(c, CQ_DISCONNECTED, why, 0);
	conn_notify(c); /* the adapter stops watching before the close */
	for (i = 0; i < c->nbuckets; i++) {
		for (op = c->buckets[i]; op != NULL; op = next) {
			next = op->hnext;
			op->hnext = NULL;
			op->heap_idx = SIZE_MAX;
			op->in_window = 0;
			if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
			    op->kind == OP_RELEASE)
				optab_op_free(op);
			else
				optab_finish(c, op, CQ_DISCONNECTED, NULL);
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
			conn_set_error(
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
	conn_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
	op->pop_many_cb(CQ_SYSTEM, NULL, 0, op->arg);
}

/* Call a pop-any's callback with its message and the queue's index. */
static void
engine_pop_any_cb(struct cq_op *op)
{
	const Conqueue__Reply *r = op->reply;
	cq_msg *m = NULL;
	size_t index = 0;

	if (op->status == CQ_OK && r != NULL && r->n_msgs > 0) {
		m = msg_from_wire(r->msgs[0]);
		index = r->has_index ? r->index : 0;
	}
	if (op->status == CQ_OK && m == NULL)
		op->pop_any_cb(CQ_SYSTEM, 0, NULL, op->arg);
	else
		op->pop_any_cb(op->status, index, m, op->arg);
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
			conn_set_error(c, op->status, r->detail,
			    r->has_sys_errno ? r->sys_errno : 0);
		else if (op->status != CQ_OK && op->fast)
			conn_set_error(
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
		} else if (op->pop_any_cb != NULL) {
			engine_pop_any_cb(op);
		} else if (op->push_cb != NULL) {
			op->push_cb(op->status, op->arg);
		}
		optab_op_free(op);
	}
}

/* One turn of I/O: write, read, handle replies, expire deadlines. */
static void
engine_turn(cq_client *c)
{
	engine_write(c);
	engine_read(c);
	engine_expire(c);
	send_pump(c);
	if (c->reject.n > 0)
		send_receipts(c); /* put abandoned messages back now */
	engine_write(c);
}

/*
 * Confirm at once the pops whose messages the caller now holds: one
 * one-way receipt frame (no reply, no round trip) for all pending. Left
 * for the next request, they would stay in flight while the program
 * idles, and come back as duplicates if it exits without cq_disconnect.
 */
static void
engine_confirm(cq_client *c)
{
	if (c->dead || (c->confirm.n == 0 && c->reject.n == 0))
		return;
	send_receipts(c);
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
			optab_finish(c, op, CQ_DISCONNECTED, NULL);
			break;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (c->out_off < c->out_len)
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		rv = poll(&pfd, 1, engine_poll_timeout(c));
		if (rv < 0 && errno != EINTR) {
			conn_set_error(c, CQ_SYSTEM, strerror(errno), errno);
			engine_lost(c, NULL);
			break;
		}
		engine_turn(c);
		engine_callbacks(c);
	}
	engine_callbacks(c);
	engine_confirm(c);
	conn_notify(c);
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
		send_backlog_del(c, op);
		optab_unlink(c, op);
		optab_finish(c, op, CQ_CANCELED, NULL);
		return CQ_OK;
	}
	if (op->cancel_sent)
		return CQ_OK;
	req.op_case = CONQUEUE__REQUEST__OP_CANCEL;
	req.cancel = &cancel;
	cancel.target = op->id;
	if ((st = send_submit(c, &req, OP_CANCEL, -1, 0, &cop)) != CQ_OK)
		return st;
	op->cancel_sent = 1;
	return CQ_OK;
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
	engine_confirm(c);
	if (!c->dead)
		engine_write(c);
	conn_notify(c);
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
		send_receipts(c);
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
				optab_op_free(op);
			else
				optab_finish(c, op, CQ_CANCELED, NULL);
		}
		c->buckets[i] = NULL;
	}
	c->nops = 0;
	c->ntimers = 0;
	c->backlog_head = c->backlog_tail = NULL;
	engine_callbacks(c);
	c->dead = 1;
	conn_notify(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Free the engine's memory (after engine_shutdown). */
void
engine_free(cq_client *c)
{
	struct cq_op *op;

	conn_fdq_clear(c);
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
