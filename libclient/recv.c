/* recv.c - reading replies and completing the ops they answer. */

/*
 * A pop given up locally whose reply arrives anyway left a "ghost" op in
 * the table, so the late messages are rejected (put back) rather than lost.
 * Failures that end the connection are returned to the engine, which owns
 * the loss.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "arena.h"
#include "msg.h"
#include "recv.h"
#include "send.h"
#include "wire.h"

#define RECV_READ_CHUNK     (256 * 1024) /* a whole batch in one recv */
#define RECV_READS_PER_TURN 16
#define RECV_FDS_MAX        8 /* fds one recvmsg takes (more: truncated) */

/* Release every message of a reservation nobody will see. */
static void
recv_release(cq_client *c, const char *qname, const Conqueue__Reply *r)
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
		send_submit(c, &req, OP_RELEASE, -1, 0, &op);
	}
}

/*
 * Take the fds that came with this frame's bytes (stream offsets start to
 * end): an OPEN's segment and doorbell go to its op (at most 2), the rest
 * are closed, as are fds left by earlier frames. Fewer than the frame
 * announces, or more than 2, makes that op a protocol error (*bad).
 */
static void
recv_claim_fds(cq_client *c, const Conqueue__Reply *r, uint64_t start,
    uint64_t end, int *fds, size_t *nfds, int *bad)
{
	size_t n = r->has_fds ? r->fds : 0;

	conn_fdq_drop(c, start);
	*nfds = conn_fdq_take(c, fds, n < 2 ? n : 2, end);
	*bad = *nfds < n || n > 2;
	conn_fdq_drop(c, end);
}

/* Match a reply to its op and complete it; -1: the connection ends. */
static int
recv_reply(cq_client *c, Conqueue__Reply *r, uint64_t start, uint64_t end)
{
	struct cq_op *op;
	int got_msgs = r->status == CQ_OK && r->n_msgs > 0;
	int fds[2], bad;
	size_t nfds;

	recv_claim_fds(c, r, start, end, fds, &nfds, &bad);
	if (nfds > 0 || bad) {
		op = optab_find(c, r->id);
		if (op != NULL && op->state == OPS_SENT && op->sync) {
			memcpy(op->fds, fds, nfds * sizeof fds[0]);
			op->nfds = nfds;
			if (bad && r->status == CQ_OK)
				r->status = CQ_PROTOCOL;
		} else {
			while (nfds > 0)
				close(fds[--nfds]);
		}
	}

	if (c->settle_id != 0 && r->id >= c->settle_id)
		c->settle_id = 0; /* the daemon read the receipts before */
	if (r->id == 0) {
		/* A connection-level error: the daemon closes next. */
		conn_set_error(c, (cq_status)r->status, r->detail, 0);
		c->conn_status = (cq_status)r->status;
		arena_reply_free(c, r);
		return -1;
	}
	if ((op = optab_find(c, r->id)) == NULL || op->state == OPS_BACKLOG ||
	    op->state == OPS_DONE) {
		/* Not ours (any more): never keep messages in flight. */
		if (got_msgs)
			send_receipt_add(&c->reject, r->id);
		arena_reply_free(c, r);
		return 0;
	}
	optab_unlink(c, op);
	if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
	    op->kind == OP_RELEASE) {
		if (op->state == OPS_GHOST && got_msgs) {
			if (op->kind == OP_POP)
				send_receipt_add(&c->reject, r->id);
			else if (op->kind == OP_RESERVE)
				recv_release(c, op->qname, r);
		}
		arena_reply_free(c, r);
		optab_op_free(op);
		return 0;
	}
	/* The application gets these messages: confirm their receipt. */
	if (op->kind == OP_POP && got_msgs)
		send_receipt_add(&c->confirm, r->id);
	optab_finish(c, op, (cq_status)r->status, r);
	return 0;
}

/*
 * Copy the n_msgs messages of wr into op->msgs, each once; on failure
 * op->msgs stays NULL (CQ_SYSTEM later).
 */
static void
recv_fast_msgs(struct cq_op *op, const struct wire_reply *wr)
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
 * having changed nothing, when recv_reply must have the full Reply
 * instead (connection errors, blocking calls that read the Reply, a pop's
 * OK without a message, several for a one-message callback, late
 * reservations).
 */
static int
recv_reply_fast(cq_client *c, const struct wire_reply *wr)
{
	struct cq_op *op;
	int got_msgs = wr->status == CQ_OK && wr->n_msgs > 0;

	if (c->settle_id != 0 && wr->id >= c->settle_id)
		c->settle_id = 0;
	if (wr->id == 0)
		return 0;
	if ((op = optab_find(c, wr->id)) == NULL || op->state == OPS_BACKLOG ||
	    op->state == OPS_DONE) {
		/* Not ours (any more): never keep messages in flight. */
		if (got_msgs)
			send_receipt_add(&c->reject, wr->id);
		return 1;
	}
	if (op->state == OPS_GHOST || op->kind == OP_CANCEL ||
	    op->kind == OP_RELEASE) {
		if (op->state == OPS_GHOST && got_msgs &&
		    op->kind == OP_RESERVE)
			return 0; /* recv_release wants the Reply */
		optab_unlink(c, op);
		if (op->state == OPS_GHOST && got_msgs && op->kind == OP_POP)
			send_receipt_add(&c->reject, wr->id);
		optab_op_free(op);
		return 1;
	}
	/* A blocking call reads the Reply unless marked hot; its pop
	 * leaves the odd OK without a message to the strict path (which
	 * makes it CQ_PROTOCOL), so a missing op->msg means no memory. */
	if ((op->sync && (!op->hot || (wr->status == CQ_OK && !got_msgs &&
	                                  op->kind != OP_PLAIN))) ||
	    (op->pop_any_cb != NULL && got_msgs) || /* wants Reply.index */
	    (op->pop_many_cb != NULL && wr->status == CQ_OK && !got_msgs) ||
	    (op->pop_cb != NULL && got_msgs && wr->n_msgs > 1))
		return 0;
	optab_unlink(c, op);
	if (op->kind == OP_POP && got_msgs)
		send_receipt_add(&c->confirm, wr->id);
	op->fast = 1;
	/* NULL op->msg or op->msgs: CQ_SYSTEM later. */
	if (got_msgs && (op->pop_many_cb != NULL || wr->n_msgs > 1))
		recv_fast_msgs(op, wr);
	else if (got_msgs && (op->pop_cb != NULL || op->sync))
		op->msg = msg_from_fast(&wr->msgs[0]);
	if (wr->status != CQ_OK) {
		if (wr->detail != NULL)
			op->detail =
			    strndup((const char *)wr->detail, wr->detail_len);
		op->sys_errno = wr->has_sys_errno ? wr->sys_errno : 0;
	}
	optab_finish(c, op, (cq_status)wr->status, NULL);
	return 1;
}

/* Read and dispatch every complete frame in the input buffer; -1: the
 * connection ends (the error is recorded). */
static int
recv_parse(cq_client *c)
{
	struct wire_reply wr;
	struct wire_msg one;
	const uint8_t *buf;
	const char *why;
	Conqueue__Reply *r;
	uint32_t len;
	uint64_t start, end;

	while (!c->dead && c->in_len - c->in_off >= FRAME_HDR_LEN) {
		len = frame_get_len(c->in + c->in_off);
		if (len > FRAME_MAX_LIMIT) {
			conn_set_error(c, CQ_PROTOCOL,
			    "reply frame over the size limit", 0);
			c->conn_status = CQ_PROTOCOL;
			return -1;
		}
		if (c->in_len - c->in_off < FRAME_HDR_LEN + (size_t)len)
			break;
		buf = c->in + c->in_off + FRAME_HDR_LEN;
		/* The frame's stream offsets, to match fds to it. */
		start = c->rx_total - (c->in_len - c->in_off);
		end = start + FRAME_HDR_LEN + len;
		c->in_off += FRAME_HDR_LEN + (size_t)len;
		wr.msgs = c->wmsgs_cap > 0 ? c->wmsgs : &one;
		wr.msgs_cap = c->wmsgs_cap > 0 ? c->wmsgs_cap : 1;
		if (wire_reply_fast(buf, len, &wr)) {
			/* No fds field (never fast): its fds are strays. */
			if (c->fdq_n > 0)
				conn_fdq_drop(c, end);
			if (recv_reply_fast(c, &wr))
				continue;
		}
		r = arena_decode_reply(c, buf, len, &why);
		if (r == NULL) {
			conn_set_error(c, CQ_PROTOCOL, why, 0);
			c->conn_status = CQ_PROTOCOL;
			return -1;
		}
		if (recv_reply(c, r, start, end) != 0)
			return -1;
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	return 0;
}

/* Make room to read: at least a chunk, or the rest of a large frame. */
static int
recv_reserve(cq_client *c)
{
	size_t need = RECV_READ_CHUNK, cap;
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
	cap = c->in_cap ? c->in_cap : RECV_READ_CHUNK;
	while (cap - c->in_len < need)
		cap *= 2;
	if ((n = realloc(c->in, cap)) == NULL)
		return -1;
	c->in = n;
	c->in_cap = cap;
	return 0;
}

/*
 * Read what the socket has (bounded per turn) and handle the replies.
 * -1: the connection ends, *why says why (NULL: the error is recorded).
 */
int
recv_read(cq_client *c, const char **why)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(RECV_FDS_MAX * sizeof(int))];
	} ctl;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;
	size_t room, k, nfd;
	int i;

	*why = NULL;
	for (i = 0; i < RECV_READS_PER_TURN && !c->dead; i++) {
		if (recv_reserve(c) != 0) {
			conn_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
			return -1;
		}
		room = c->in_cap - c->in_len;
		/* recvmsg: a reply may carry fds (SCM_RIGHTS), which must
		 * be taken (and never leaked) with the bytes they came with. */
		iov.iov_base = c->in + c->in_len;
		iov.iov_len = room;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		for (cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm != NULL;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (k = 0; k < nfd; k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(cm) + k * sizeof fd,
				    sizeof fd);
				conn_fdq_push(c, fd, c->rx_total);
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			*why = n == 0 ? "daemon closed the connection"
			              : strerror(errno);
			return -1;
		}
		c->in_len += (size_t)n;
		c->rx_total += (uint64_t)n;
		if (recv_parse(c) != 0)
			return -1;
		if ((size_t)n < room)
			return 0;
	}
	return 0;
}
