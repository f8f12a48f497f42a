/* conn.c - one client connection: framing, credentials, flow control. */

/*
 * conn turns bytes into decoded requests for dispatch and replies into
 * frames, and knows no queue semantics. Every complete frame available on
 * a wake-up is handled before returning to the loop, and the replies they
 * produce leave in one write, made directly at the end of the loop
 * iteration (the write event is armed only when the socket is full, so a
 * request costs one read and one write). Limits enforced here: max_frame
 * (checked on the 4-byte header, before anything is allocated),
 * frame_timeout_ms (to send the hello and to finish a started frame),
 * max_outbuf (a peer that does not read its replies stops being read, and is
 * dropped after slow_reader_grace_ms).
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

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/decode.h"
#include "daemon/dispatch.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "proto/frame.h"
#include "proto/wire.h"

/* How long a closing connection may take to accept its last replies. */
#define CONN_LINGER_MS 1000
/* Reads go here first; frames are decoded in place. */
#define CONN_READ_SIZE (256 * 1024)
/*
 * After a frame this large, a connection's next read takes only the next
 * header, and a large frame is then read straight into a buffer of its
 * size: copying the start of every batch frame out of the shared buffer
 * cost more than the extra read.
 */
#define CONN_BIG_FRAME (64 * 1024)
/* At most this much is read from one connection per wake-up (fairness). */
#define CONN_READ_MAX (1024 * 1024)

struct conn {
	struct peer peer; /* first: dispatch's handle casts back */
	TAILQ_ENTRY(conn) link;
	TAILQ_ENTRY(conn) dlink; /* in conn_dirty while output waits */
	int dirty;
	int fd;
	struct event *rd_ev; /* persistent; off while paused or closing */
	struct event *wr_ev; /* persistent; on only while the socket is full */
	struct evbuffer *out;
	/*
	 * Input left over from a read: the start of a frame, or frames not
	 * yet handled because reading is paused. NULL when there is none,
	 * so an idle connection holds no input buffer.
	 */
	uint8_t *ibuf;
	size_t ilen, icap;
	struct event *frame_timer; /* hello, or a started frame, or linger */
	int frame_armed;           /* frame_timer is pending */
	uint64_t frames;           /* frames handled */
	uint64_t armed_for;        /* frames when frame_timer was armed */
	uint32_t last_big;         /* size of the last frame, if large */
	struct event *slow_timer;  /* started when reading was paused */
	int in_read;               /* conn_process on the stack: defer free */
	int closing;
	int paused; /* stopped reading: output above max_outbuf */
};
TAILQ_HEAD(conn_list, conn);

static struct conn_list conn_all = TAILQ_HEAD_INITIALIZER(conn_all);
static struct conn_list conn_dirty = TAILQ_HEAD_INITIALIZER(conn_dirty);
static struct event *conn_flush_ev; /* activated when conn_dirty fills */
/* A read callback is running: it writes the replies itself when done. */
static int conn_reading;
/* One read buffer for all connections: the loop reads them in turn. */
static uint8_t conn_rbuf[CONN_READ_SIZE];
static uint64_t conn_next_id = 1;
static void (*conn_all_closed)(void);
uint32_t conn_count;

static void conn_send(struct peer *p, const Conqueue__Reply *r);
static void conn_close_peer(struct peer *p, const char *why);
static int conn_send_fds(
    struct peer *p, const Conqueue__Reply *r, const int *fds, int nfds);

static const struct peer_ops conn_peer_ops = {
    conn_send, conn_close_peer, conn_send_fds};

/* Arm timer ev to fire after ms milliseconds. */
static void
conn_arm(struct event *ev, uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* Start (or restart) c's frame timer. */
static void
conn_frame_arm(struct conn *c, uint32_t ms)
{
	conn_arm(c->frame_timer, ms);
	c->frame_armed = 1;
	c->armed_for = c->frames;
}

/* Stop c's frame timer; most requests find it stopped already. */
static void
conn_frame_disarm(struct conn *c)
{
	if (c->frame_armed) {
		evtimer_del(c->frame_timer);
		c->frame_armed = 0;
	}
}

/* Free c now; its peer state was handed back to dispatch first. */
static void
conn_free(struct conn *c)
{
	struct uid_usage *u;

	dispatch_peer_gone(&c->peer);
	TAILQ_REMOVE(&conn_all, c, link);
	if (c->dirty)
		TAILQ_REMOVE(&conn_dirty, c, dlink);
	event_free(c->rd_ev);
	event_free(c->wr_ev);
	evbuffer_free(c->out);
	free(c->ibuf);
	close(c->fd);
	event_free(c->frame_timer);
	event_free(c->slow_timer);
	if ((u = registry_uid(c->peer.uid)) != NULL && u->connections > 0)
		u->connections--;
	conn_count--;
	log_debug("connection %llu closed", (unsigned long long)c->peer.cid);
	free(c->peer.groups);
	free(c);
	if (conn_all_closed != NULL && conn_count == 0)
		conn_all_closed();
}

/* Stop serving c: dispatch forgets it at once (its pops go back). */
static void
conn_shutdown(struct conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (why != NULL)
		log_debug("connection %llu: closing: %s",
		    (unsigned long long)c->peer.cid, why);
	dispatch_peer_gone(&c->peer);
	event_del(c->rd_ev);
	evtimer_del(c->slow_timer);
	conn_frame_disarm(c);
}

/* Flush what is queued for up to CONN_LINGER_MS, then free c. */
static void
conn_linger(struct conn *c)
{
	if (evbuffer_get_length(c->out) == 0) {
		conn_free(c);
		return;
	}
	event_add(c->wr_ev, NULL);
	conn_frame_arm(c, CONN_LINGER_MS);
}

/* Close c after its last replies; deferred while conn_process runs. */
static void
conn_close(struct conn *c, const char *why)
{
	if (c->closing)
		return;
	conn_shutdown(c, why);
	if (!c->in_read)
		conn_linger(c);
}

/* Close c without flushing (the peer is gone or will not read). */
static void
conn_drop(struct conn *c, const char *why)
{
	conn_shutdown(c, why);
	conn_free(c);
}

/* dispatch asks to close after the last reply. */
static void
conn_close_peer(struct peer *p, const char *why)
{
	conn_close((struct conn *)(void *)p, why);
}

/* Send a CQ_PROTOCOL reply and close. */
static void
conn_protocol_error(struct conn *c, uint64_t id, const char *why)
{
	dispatch_reply_status(&c->peer, id, CQ_PROTOCOL, why);
	conn_close(c, why);
}

/* Pack reply r straight into the output buffer as one frame. */
static void
conn_send(struct peer *p, const Conqueue__Reply *r)
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
		conn_close(c, "out of memory");
		return;
	}
	if (fast != 0)
		len = wire_reply_pack(r, (uint8_t *)v.iov_base + FRAME_HDR_LEN);
	else
		conqueue__reply__pack(r, (uint8_t *)v.iov_base + FRAME_HDR_LEN);
	frame_put_len(v.iov_base, (uint32_t)len);
	v.iov_len = len + FRAME_HDR_LEN;
	evbuffer_commit_space(out, &v, 1);
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&conn_dirty, c, dlink);
		if (TAILQ_FIRST(&conn_dirty) == c && !conn_reading)
			event_active(conn_flush_ev, EV_TIMEOUT, 0);
	}
	/* A peer that does not read: stop reading it (bounded memory). */
	if (!c->paused && !c->closing &&
	    evbuffer_get_length(out) > cfg.max_outbuf) {
		c->paused = 1;
		event_del(c->rd_ev);
		conn_arm(c->slow_timer, cfg.slow_reader_grace_ms);
	}
}

/*
 * Send reply r as one frame with fds attached to its first byte, only if
 * nothing is queued before it (fds never wait behind buffered output): 0
 * when the frame went (what the socket did not take is queued), -1 when
 * nothing was sent. The caller keeps its fds.
 */
static int
conn_send_fds(
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
		conn_close(c, "out of memory");
		return 0;
	}
	free(buf);
	if ((size_t)n < iov.iov_len && !c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&conn_dirty, c, dlink);
		if (TAILQ_FIRST(&conn_dirty) == c && !conn_reading)
			event_active(conn_flush_ev, EV_TIMEOUT, 0);
	}
	return 0;
}

/*
 * Handle the complete frames at the start of buf (len bytes) until one is
 * incomplete or c stops reading; returns the bytes used. Decoded requests
 * may point into buf: it stays put until dispatch_request returns.
 */
static size_t
conn_frames(struct conn *c, const uint8_t *buf, size_t len)
{
	Conqueue__Request *req;
	const uint8_t *body;
	const char *why = NULL;
	char reason[128];
	size_t used = 0;
	uint32_t flen;

	while (!c->closing && !c->paused && len - used >= FRAME_HDR_LEN) {
		flen = frame_get_len(buf + used);
		if (flen > cfg.max_frame) {
			snprintf(reason, sizeof reason,
			    "frame of %u bytes exceeds max_frame %u", flen,
			    cfg.max_frame);
			conn_protocol_error(c, 0, reason);
			break;
		}
		if (len - used - FRAME_HDR_LEN < flen)
			break;
		body = buf + used + FRAME_HDR_LEN;
		req = decode_request(body, flen, &why);
		if (req == NULL) {
			snprintf(
			    reason, sizeof reason, "malformed frame: %s", why);
			conn_protocol_error(
			    c, decode_guess_id(body, flen), reason);
			decode_reset();
			break;
		}
		used += FRAME_HDR_LEN + flen;
		c->frames++;
		c->last_big = flen >= CONN_BIG_FRAME ? flen : 0;
		dispatch_request(&c->peer, req);
		decode_reset();
	}
	return used;
}

/*
 * Bytes for c's own buffer to hold the n bytes at p and read more: the
 * whole frame they start if its header is there, but never more than
 * twice what arrived (plus 256 KiB, or twice the large frame c sent last),
 * so a header alone cannot make the daemon reserve max_frame bytes. A
 * header over max_frame is refused when the frame is handled; it sizes
 * nothing.
 */
static size_t
conn_want(const struct conn *c, const uint8_t *p, size_t n)
{
	size_t total, grow;
	uint32_t flen;

	if (n < FRAME_HDR_LEN || (flen = frame_get_len(p)) > cfg.max_frame ||
	    (total = (size_t)flen + FRAME_HDR_LEN) <= n)
		return n + 4096;
	grow = n < CONN_READ_SIZE ? n + CONN_READ_SIZE : 2 * n;
	/* A peer sending large frames gets room for twice the last one. */
	if (grow < 2 * (size_t)c->last_big)
		grow = 2 * (size_t)c->last_big;
	return total < grow ? total : grow;
}

/* Keep the n unused bytes at p (in the shared read buffer) in c's own. */
static int
conn_keep(struct conn *c, const uint8_t *p, size_t n)
{
	size_t want = conn_want(c, p, n);

	if ((c->ibuf = malloc(want)) == NULL)
		return -1;
	memcpy(c->ibuf, p, n);
	c->ilen = n;
	c->icap = want;
	return 0;
}

/* Room in c's own buffer to read more into; -1: no memory. */
static int
conn_room(struct conn *c)
{
	size_t want = conn_want(c, c->ibuf, c->ilen);
	uint8_t *p;

	if (want <= c->icap)
		return 0;
	if ((p = realloc(c->ibuf, want)) == NULL)
		return -1;
	c->ibuf = p;
	c->icap = want;
	return 0;
}

/* Handle the frames held in c's own buffer; drop it once empty. */
static void
conn_drain_kept(struct conn *c)
{
	size_t used;

	if (c->ilen == 0)
		return;
	used = conn_frames(c, c->ibuf, c->ilen);
	c->ilen -= used;
	if (c->ilen == 0) {
		free(c->ibuf);
		c->ibuf = NULL;
		c->icap = 0;
	} else if (used > 0)
		memmove(c->ibuf, c->ibuf + used, c->ilen);
}

/*
 * Read what the socket has and handle every complete frame. Most reads
 * land in the shared buffer and are decoded where they lie; only the
 * start of an unfinished frame (or frames left while paused) is copied
 * to c's own buffer, which the rest of that frame is then read into.
 */
static void
conn_input(struct conn *c)
{
	size_t total = 0, room, used;
	uint8_t *dst;
	ssize_t n;

	c->in_read = 1;
	while (!c->closing && !c->paused && total < CONN_READ_MAX) {
		if (c->ibuf != NULL) {
			if (conn_room(c) != 0) {
				conn_close(c, "out of memory");
				break;
			}
			dst = c->ibuf + c->ilen;
			room = c->icap - c->ilen;
		} else {
			dst = conn_rbuf;
			room = c->last_big ? FRAME_HDR_LEN : sizeof conn_rbuf;
		}
		n = read(c->fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* Nobody is left to read what is still buffered. */
			c->in_read = 0;
			conn_drop(c, n == 0 ? "peer closed" : "socket error");
			return;
		}
		total += (size_t)n;
		if (dst == conn_rbuf) {
			used = conn_frames(c, conn_rbuf, (size_t)n);
			if (used < (size_t)n && !c->closing &&
			    conn_keep(c, conn_rbuf + used, (size_t)n - used) !=
			        0) {
				conn_close(c, "out of memory");
				break;
			}
		} else {
			c->ilen += (size_t)n;
			conn_drain_kept(c);
		}
		if ((size_t)n < room)
			break; /* the socket is empty */
	}
	c->in_read = 0;
	if (c->closing) {
		conn_linger(c);
		return;
	}
	/*
	 * The hello, and every started frame, must arrive in time; frames
	 * left unread while the peer does not read its replies are the slow
	 * reader timer's business.
	 */
	if (c->paused)
		conn_frame_disarm(c);
	else if (!c->peer.greeted || c->ilen > 0) {
		/*
		 * The deadline runs from the first byte of the frame (or from
		 * the connect, for the hello): bytes that trickle in must not
		 * push it back, or one byte a second holds a frame open.
		 */
		if (!c->frame_armed || c->armed_for != c->frames)
			conn_frame_arm(c, cfg.frame_timeout_ms);
	} else
		conn_frame_disarm(c);
}

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Bytes arrived: handle them, then write the replies at once (those to
 * other peers too, e.g. a parked pop a push served), without a trip
 * through the loop's active queue.
 */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_reading = 1;
	conn_input(arg);
	conn_reading = 0;
	conn_flush_cb(fd, what, NULL);
}

/*
 * Write what c has buffered; keep the write event on while some is left.
 * A closing c is freed once all is out; a paused one resumes reading once
 * half of max_outbuf is gone (frames may wait in its own buffer). Returns
 * -1 if c was freed.
 */
static int
conn_write(struct conn *c)
{
	size_t left;

	if (evbuffer_get_length(c->out) > 0 &&
	    evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EINTR) {
		conn_drop(c, "socket error");
		return -1;
	}
	left = evbuffer_get_length(c->out);
	if (left == 0)
		event_del(c->wr_ev);
	else
		event_add(c->wr_ev, NULL);
	if (c->closing) {
		if (left == 0) {
			conn_free(c);
			return -1;
		}
		return 0;
	}
	if (c->paused && left <= cfg.max_outbuf / 2) {
		c->paused = 0;
		evtimer_del(c->slow_timer);
		c->in_read = 1;
		conn_drain_kept(c);
		c->in_read = 0;
		if (c->closing) {
			conn_linger(c);
			return 0;
		}
		if (!c->paused) {
			event_add(c->rd_ev, NULL);
			if (c->ilen == 0 && c->peer.greeted)
				conn_frame_disarm(c);
			else
				conn_frame_arm(c, cfg.frame_timeout_ms);
		}
	}
	return 0;
}

/* End of a loop pass: write the replies of every connection that got some. */
static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	(void)fd;
	(void)what;
	(void)arg;
	while ((c = TAILQ_FIRST(&conn_dirty)) != NULL) {
		TAILQ_REMOVE(&conn_dirty, c, dlink);
		c->dirty = 0;
		if (!c->closing) /* a closing one lingers on its write event */
			conn_write(c);
	}
}

/* The socket takes more. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_write(arg);
}

/* The hello or a started frame did not arrive in time, or lingering ended. */
static void
conn_frame_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->frame_armed = 0;
	if (c->closing) {
		conn_free(c);
		return;
	}
	conn_protocol_error(c, 0,
	    c->peer.greeted ? "timed out waiting for the rest of a frame"
	                    : "timed out waiting for hello");
}

/* The peer kept its replies unread for the whole grace period. */
static void
conn_slow_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	log_warn("connection %llu (uid %u pid %ld): dropped: %zu bytes of "
	         "replies unread for %u ms",
	    (unsigned long long)c->peer.cid, c->peer.uid, (long)c->peer.pid,
	    evbuffer_get_length(c->out), cfg.slow_reader_grace_ms);
	conn_drop(c, "slow reader");
}

/*
 * Read the peer's supplementary groups from the kernel (SO_PEERGROUPS,
 * Linux 4.13): group access must not depend on anything the client says.
 * Without it (older kernel) only the primary group counts.
 */
static void
conn_peer_groups(struct conn *c, int fd)
{
	socklen_t len = 0;
	gid_t *g;

	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) != 0 &&
	    errno != ERANGE)
		return;
	if (len == 0 || (g = malloc(len)) == NULL)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) != 0) {
		free(g);
		return;
	}
	c->peer.groups = (uint32_t *)g;
	c->peer.ngroups = (uint32_t)(len / sizeof *g);
}

/* Take over an accepted socket. */
int
conn_new(struct event_base *base, int fd, uint32_t uid, uint32_t gid, pid_t pid)
{
	struct uid_usage *u;
	struct conn *c;

	if (conn_flush_ev == NULL && (conn_flush_ev = event_new(base, -1, 0,
	                                  conn_flush_cb, NULL)) == NULL)
		return -1;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return -1;
	c->fd = fd; /* non-blocking: the listener's accept made it so */
	c->rd_ev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wr_ev = event_new(base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->out = evbuffer_new();
	c->frame_timer = evtimer_new(base, conn_frame_timer_cb, c);
	c->slow_timer = evtimer_new(base, conn_slow_timer_cb, c);
	if (c->rd_ev == NULL || c->wr_ev == NULL || c->out == NULL ||
	    c->frame_timer == NULL || c->slow_timer == NULL) {
		if (c->rd_ev != NULL)
			event_free(c->rd_ev);
		if (c->wr_ev != NULL)
			event_free(c->wr_ev);
		if (c->out != NULL)
			evbuffer_free(c->out);
		if (c->frame_timer != NULL)
			event_free(c->frame_timer);
		if (c->slow_timer != NULL)
			event_free(c->slow_timer);
		free(c);
		return -1;
	}
	c->peer.ops = &conn_peer_ops;
	c->peer.cid = conn_next_id++;
	c->peer.uid = uid;
	c->peer.gid = gid;
	c->peer.pid = pid;
	conn_peer_groups(c, fd);
	dispatch_peer_init(&c->peer);
	TAILQ_INSERT_TAIL(&conn_all, c, link);
	conn_count++;
	if ((u = registry_uid(uid)) != NULL)
		u->connections++;
	event_add(c->rd_ev, NULL);
	conn_frame_arm(c, cfg.frame_timeout_ms);
	log_debug("connection %llu: uid %u gid %u (+%u groups) pid %ld",
	    (unsigned long long)c->peer.cid, uid, gid, c->peer.ngroups,
	    (long)pid);
	return 0;
}

/* Close every connection (flushing); done() runs when none are left. */
void
conn_close_all(void (*done)(void))
{
	struct conn *c, *next;

	conn_all_closed = NULL;
	for (c = TAILQ_FIRST(&conn_all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_close(c, "daemon shutting down");
	}
	if (conn_count == 0)
		done();
	else
		conn_all_closed = done;
}

/* Free the connections that are left. */
void
conn_free_all(void)
{
	struct conn *c;

	conn_all_closed = NULL;
	while ((c = TAILQ_FIRST(&conn_all)) != NULL)
		conn_free(c);
	if (conn_flush_ev != NULL)
		event_free(conn_flush_ev);
	conn_flush_ev = NULL;
}

/* Write one frame to a fresh socket, best effort (refusals at accept). */
void
conn_send_direct(int fd, const Conqueue__Reply *r)
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
