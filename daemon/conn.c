/* conn.c - one client connection: its events, credentials and lifetime. */

/*
 * conn turns bytes into decoded requests for dispatch and replies into
 * frames, and knows no queue semantics: conn_in.c reads and cuts frames,
 * conn_out.c packs and writes replies, conn_state.c ends a connection;
 * this file takes a socket over and routes its libevent callbacks. Limits
 * enforced: max_frame, frame_timeout_ms (to send the hello and to finish
 * a started frame), max_outbuf and slow_reader_grace_ms.
 */

#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/config.h"
#include "daemon/conn.h"
#include "daemon/conn_in.h"
#include "daemon/conn_out.h"
#include "daemon/conn_state.h"
#include "daemon/dispatch.h"
#include "daemon/dsync.h"
#include "daemon/durable.h"
#include "daemon/log.h"
#include "daemon/registry.h"

static uint64_t conn_next_id = 1;

/* dispatch asks to close after the last reply. */
static void
conn_close_peer(struct peer *p, const char *why)
{
	conn_state_close((struct conn *)(void *)p, why);
}

static const struct peer_ops conn_peer_ops = {
    conn_out_send, conn_close_peer, conn_out_send_fds};

/* End of a loop pass: write the replies of every connection that got some. */
static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	conn_out_flush();
}

/*
 * Bytes arrived: handle them, then write the replies at once (those to
 * other peers too, e.g. a parked pop a push served), without a trip
 * through the loop's active queue.
 */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_state_reading = 1;
	conn_in_read(arg);
	conn_state_reading = 0;
	(void)fd;
	(void)what;
	/*
	 * An always queue changed: its sync waits for the pass's other reads
	 * (group commit, doc/durability.md), the replies with it.
	 */
	if (durable_commit_due()) {
		durable_test_retry();
		event_active(conn_state_flush_ev, EV_TIMEOUT, 0);
	} else
		conn_out_flush();
}

/* The socket takes more. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_out_write(arg);
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
		conn_state_free(c);
		return;
	}
	conn_state_protocol_error(c, 0,
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
	conn_state_drop(c, "slow reader");
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

	if (conn_state_flush_ev == NULL &&
	    (conn_state_flush_ev =
	            event_new(base, -1, 0, conn_flush_cb, NULL)) == NULL)
		return -1;
	dsync_on_done = conn_out_synced;
	durable_replies_pending = conn_out_fresh;
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
	TAILQ_INSERT_TAIL(&conn_state_all, c, link);
	conn_count++;
	if ((u = registry_uid(uid)) != NULL)
		u->connections++;
	event_add(c->rd_ev, NULL);
	conn_state_frame_arm(c, cfg.frame_timeout_ms);
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

	conn_state_all_closed = NULL;
	for (c = TAILQ_FIRST(&conn_state_all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		conn_state_close(c, "daemon shutting down");
	}
	if (conn_count == 0)
		done();
	else
		conn_state_all_closed = done;
}

/* Free the connections that are left. */
void
conn_free_all(void)
{
	struct conn *c;

	conn_state_all_closed = NULL;
	dsync_on_done = NULL;
	durable_replies_pending = NULL;
	while ((c = TAILQ_FIRST(&conn_state_all)) != NULL)
		conn_state_free(c);
	if (conn_state_flush_ev != NULL)
		event_free(conn_state_flush_ev);
	conn_state_flush_ev = NULL;
}
