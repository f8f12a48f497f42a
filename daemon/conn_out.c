/* conn_out.c - a connection's output: replies packed, buffered, written. */

/*
 * The replies a loop pass produces leave in one write per connection,
 * made directly at the end of the pass (the write event is armed only
 * when the socket is full, so a request costs one read and one write). A
 * peer whose unread replies pass max_outbuf stops being read, and is
 * dropped after slow_reader_grace_ms.
 */

#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/config.h"
#include "daemon/conn_in.h"
#include "daemon/conn_out.h"
#include "daemon/conn_state.h"
#include "daemon/dsync.h"
#include "daemon/durable.h"
#include "daemon/log.h"
#include "proto/frame.h"
#include "proto/wire.h"

/*
 * List c among the connections to write at the end of the loop pass; the
 * first one listed outside a read callback wakes the loop for that.
 */
/* Loop passes that wrote replies: tells a pass's replies from older ones. */
static uint64_t conn_out_pass;

static void
conn_out_mark(struct conn *c)
{
	c->out_pass = conn_out_pass;
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&conn_state_dirty, c, dlink);
		/* (Connections waiting for a sync stay listed: not "first".) */
		if (!conn_state_reading)
			event_active(conn_state_flush_ev, EV_TIMEOUT, 0);
	}
}

/* Pack reply r straight into the output buffer as one frame. */
void
conn_out_send(struct peer *p, const Conqueue__Reply *r)
{
	struct conn *c = (struct conn *)(void *)p;
	struct evbuffer *out = c->out;
	struct evbuffer_iovec v;
	/*
	 * Push and pop replies skip protobuf-c's descriptor walk: room for
	 * their upper bound, and the header written once their size is known.
	 */
	size_t fast = wire_reply_pack_bound(r);
	size_t len = fast != 0 ? fast : conqueue__reply__get_packed_size(r);

	if (len > UINT32_MAX - FRAME_HDR_LEN ||
	    evbuffer_reserve_space(
	        out, (ev_ssize_t)(len + FRAME_HDR_LEN), &v, 1) < 1) {
		log_error("connection %llu: cannot buffer a reply of %zu bytes",
		    (unsigned long long)c->peer.cid, len);
		conn_state_close(c, "out of memory");
		return;
	}
	if (fast != 0)
		len = wire_reply_pack(r, (uint8_t *)v.iov_base + FRAME_HDR_LEN);
	else
		conqueue__reply__pack(r, (uint8_t *)v.iov_base + FRAME_HDR_LEN);
	frame_put_len(v.iov_base, (uint32_t)len);
	v.iov_len = len + FRAME_HDR_LEN;
	evbuffer_commit_space(out, &v, 1);
	conn_out_mark(c);
	/* A peer that does not read: stop reading it (bounded memory). */
	if (!c->paused && !c->closing &&
	    evbuffer_get_length(out) > cfg.max_outbuf) {
		c->paused = 1;
		event_del(c->rd_ev);
		conn_state_arm(c->slow_timer, cfg.slow_reader_grace_ms);
	}
}

/*
 * Send reply r as one frame with fds attached to its first byte, only if
 * nothing is queued before it (fds never wait behind buffered output): 0
 * when the frame went (what the socket did not take is queued), -1 when
 * nothing was sent. The caller keeps its fds.
 */
int
conn_out_send_fds(
    struct peer *p, const Conqueue__Reply *r, const int *fds, int nfds)
{
	struct conn *c = (struct conn *)(void *)p;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct msghdr mh;
	struct cmsghdr *h;
	struct iovec iov;
	size_t len = conqueue__reply__get_packed_size(r);
	uint8_t *buf;
	ssize_t n;

	if (nfds < 1 || nfds > 4 || c->closing ||
	    evbuffer_get_length(c->out) != 0 ||
	    (buf = malloc(len + FRAME_HDR_LEN)) == NULL)
		return -1;
	frame_put_len(buf, (uint32_t)len);
	conqueue__reply__pack(r, buf + FRAME_HDR_LEN);
	memset(&cm, 0, sizeof cm);
	memset(&mh, 0, sizeof mh);
	iov.iov_base = buf;
	iov.iov_len = len + FRAME_HDR_LEN;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
	h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
	memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		free(buf);
		return -1;
	}
	/* The fds went with the first byte; the rest is plain output. */
	if ((size_t)n < iov.iov_len &&
	    evbuffer_add(c->out, buf + n, iov.iov_len - (size_t)n) != 0) {
		free(buf);
		conn_state_close(c, "out of memory");
		return 0;
	}
	free(buf);
	if ((size_t)n < iov.iov_len)
		conn_out_mark(c);
	return 0;
}

/*
 * Write what c has buffered; keep the write event on while some is left.
 * A closing c is freed once all is out; a paused one resumes reading once
 * half of max_outbuf is gone (frames may wait in its own buffer). Returns
 * -1 if c was freed.
 */
int
conn_out_write(struct conn *c)
{
	size_t left;

	if (evbuffer_get_length(c->out) > 0 &&
	    evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EINTR) {
		conn_state_drop(c, "socket error");
		return -1;
	}
	left = evbuffer_get_length(c->out);
	if (left == 0)
		event_del(c->wr_ev);
	else
		event_add(c->wr_ev, NULL);
	if (c->closing) {
		if (left == 0) {
			conn_state_free(c);
			return -1;
		}
		return 0;
	}
	if (c->paused && left <= cfg.max_outbuf / 2) {
		c->paused = 0;
		evtimer_del(c->slow_timer);
		c->in_read = 1;
		conn_in_drain(c);
		c->in_read = 0;
		if (c->closing) {
			conn_state_linger(c);
			return 0;
		}
		if (!c->paused) {
			event_add(c->rd_ev, NULL);
			if (c->ilen == 0 && c->peer.greeted)
				conn_state_frame_disarm(c);
			else
				conn_state_frame_arm(c, cfg.frame_timeout_ms);
		}
	}
	return 0;
}

/*
 * End of a loop pass: write the replies of every connection that got some,
 * except those that wait for a durable sync.
 */
void
conn_out_flush(void)
{
	struct conn *c, *next;
	uint64_t hold;
	int failed, fresh;

	/*
	 * Group commit: the pass's operations on always queues reach the
	 * disk before any of its replies leaves (the connections that got
	 * one wait for generation hold; a connection's output is written in
	 * order, so it all waits). If a write failed, no reply of the pass
	 * may say CQ_OK: those connections are dropped (their clients see
	 * the connection lost, never an unsynced CQ_OK).
	 */
	failed = durable_commit(&hold) != 0;
	for (c = TAILQ_FIRST(&conn_state_dirty); c != NULL; c = next) {
		next = TAILQ_NEXT(c, dlink);
		fresh = c->out_pass == conn_out_pass;
		if (fresh && hold != 0)
			c->hold_gen = hold;
		if (failed && fresh && !c->closing) {
			TAILQ_REMOVE(&conn_state_dirty, c, dlink);
			c->dirty = 0;
			conn_state_drop(c, "durable queue not synced");
			continue;
		}
		if (c->hold_gen > dsync_synced())
			continue; /* its sync runs: dsync_on_done */
		TAILQ_REMOVE(&conn_state_dirty, c, dlink);
		c->dirty = 0;
		if (!c->closing) /* a closing one lingers on its write */
			conn_out_write(c);
	}
	conn_out_pass++;
	if (failed)
		durable_commit_settle();
}

/* Whether a reply queued in this loop pass waits for its group commit. */
int
conn_out_fresh(void)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conn_state_dirty, dlink)
	{
		if (c->out_pass == conn_out_pass && !c->closing)
			return 1;
	}
	return 0;
}

/*
 * A durable sync ended (dsync.h): the connections it held are written by
 * a flush pass, or, if it failed, dropped: their replies must not leave.
 */
void
conn_out_synced(int failed, uint64_t before)
{
	struct conn *c, *next;

	if (failed) {
		for (c = TAILQ_FIRST(&conn_state_dirty); c != NULL; c = next) {
			next = TAILQ_NEXT(c, dlink);
			if (c->hold_gen <= before || c->closing)
				continue;
			TAILQ_REMOVE(&conn_state_dirty, c, dlink);
			c->dirty = 0;
			conn_state_drop(c, "durable queue not synced");
		}
		/*
		 * What the drops returned is not a change to retry on,
		 * unless a reply of the running pass may depend on the
		 * state: then its group commit tries (and settles).
		 */
		if (!conn_out_fresh())
			durable_commit_settle();
	}
	if (!TAILQ_EMPTY(&conn_state_dirty) && conn_state_flush_ev != NULL)
		event_active(conn_state_flush_ev, EV_TIMEOUT, 0);
}

/* Write one frame to a fresh socket, best effort (refusals at accept). */
void
conn_out_direct(int fd, const Conqueue__Reply *r)
{
	uint8_t buf[1024];
	size_t len = conqueue__reply__get_packed_size(r);
	ssize_t n;

	if (len + FRAME_HDR_LEN > sizeof buf)
		return;
	frame_put_len(buf, (uint32_t)len);
	conqueue__reply__pack(r, buf + FRAME_HDR_LEN);
	do
		n = write(fd, buf, len + FRAME_HDR_LEN);
	while (n < 0 && errno == EINTR);
}
