/* conn_state.c - how a client connection ends: shutdown, linger, free. */

/*
 * A connection that closes stops being read and is forgotten by dispatch
 * at once (its pops go back), but keeps its socket for up to
 * CONN_LINGER_MS so its last replies (the reason for a protocol error,
 * say) still reach the peer.
 */

#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon/conn.h"
#include "daemon/conn_state.h"
#include "daemon/dispatch.h"
#include "daemon/log.h"
#include "daemon/registry.h"

/* How long a closing connection may take to accept its last replies. */
#define CONN_LINGER_MS 1000

struct conn_list conn_state_all = TAILQ_HEAD_INITIALIZER(conn_state_all);
struct conn_list conn_state_dirty = TAILQ_HEAD_INITIALIZER(conn_state_dirty);
struct event *conn_state_flush_ev;
int conn_state_reading;
void (*conn_state_all_closed)(void);
uint32_t conn_count;

/* Free c now; its peer state was handed back to dispatch first. */
void
conn_state_free(struct conn *c)
{
	struct uid_usage *u;

	dispatch_peer_gone(&c->peer);
	TAILQ_REMOVE(&conn_state_all, c, link);
	if (c->dirty)
		TAILQ_REMOVE(&conn_state_dirty, c, dlink);
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
	if (conn_state_all_closed != NULL && conn_count == 0)
		conn_state_all_closed();
}

/* Stop serving c: dispatch forgets it at once (its pops go back). */
static void
conn_state_shutdown(struct conn *c, const char *why)
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
	conn_state_frame_disarm(c);
}

/* Flush what is queued for up to CONN_LINGER_MS, then free c. */
void
conn_state_linger(struct conn *c)
{
	if (evbuffer_get_length(c->out) == 0) {
		conn_state_free(c);
		return;
	}
	event_add(c->wr_ev, NULL);
	conn_state_frame_arm(c, CONN_LINGER_MS);
}

/* Close c after its last replies; deferred while conn_process runs. */
void
conn_state_close(struct conn *c, const char *why)
{
	if (c->closing)
		return;
	conn_state_shutdown(c, why);
	if (!c->in_read)
		conn_state_linger(c);
}

/* Close c without flushing (the peer is gone or will not read). */
void
conn_state_drop(struct conn *c, const char *why)
{
	conn_state_shutdown(c, why);
	conn_state_free(c);
}

/* Send a CQ_PROTOCOL reply and close. */
void
conn_state_protocol_error(struct conn *c, uint64_t id, const char *why)
{
	dispatch_reply_status(&c->peer, id, CQ_PROTOCOL, why);
	conn_state_close(c, why);
}
