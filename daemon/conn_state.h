/* conn_state.h - one client connection's record, shared by the conn files. */

/*
 * conn.c (events and the public calls), conn_in.c (bytes to frames),
 * conn_out.c (replies to bytes) and conn_state.c (how a connection ends)
 * all work on struct conn; nothing outside them sees it.
 */

#ifndef CQ_DAEMON_CONN_STATE_H
#define CQ_DAEMON_CONN_STATE_H

#include <sys/queue.h>
#include <sys/time.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "daemon/peer.h"

struct evbuffer;

struct conn {
	struct peer peer; /* first: dispatch's handle casts back */
	TAILQ_ENTRY(conn) link;
	TAILQ_ENTRY(conn) dlink; /* in conn_state_dirty while output waits */
	int dirty;
	uint64_t out_pass; /* conn_out_pass when a reply was last queued */
	uint64_t hold_gen; /* output waits for this durable sync (dsync.h) */
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
	int in_read;               /* conn_in_read on the stack: defer free */
	int closing;
	int paused; /* stopped reading: output above max_outbuf */
};
TAILQ_HEAD(conn_list, conn);

/* Every connection, and those whose output waits for the end of the pass. */
extern struct conn_list conn_state_all;
extern struct conn_list conn_state_dirty;
/* Activated when conn_state_dirty fills outside a read callback. */
extern struct event *conn_state_flush_ev;
/* A read callback is running: it writes the replies itself when done. */
extern int conn_state_reading;
/* Called once the last connection is freed (shutting down), or NULL. */
extern void (*conn_state_all_closed)(void);

/* Arm timer ev to fire after ms milliseconds. */
static inline void
conn_state_arm(struct event *ev, uint32_t ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* Start (or restart) c's frame timer. */
static inline void
conn_state_frame_arm(struct conn *c, uint32_t ms)
{
	conn_state_arm(c->frame_timer, ms);
	c->frame_armed = 1;
	c->armed_for = c->frames;
}

/* Stop c's frame timer; most requests find it stopped already. */
static inline void
conn_state_frame_disarm(struct conn *c)
{
	if (c->frame_armed) {
		evtimer_del(c->frame_timer);
		c->frame_armed = 0;
	}
}

/* Free c now (after handing its peer state back to dispatch). */
void conn_state_free(struct conn *c);
/* Flush what is queued for a short while, then free c. */
void conn_state_linger(struct conn *c);
/* Close c after its last replies; deferred while conn_in_read runs. */
void conn_state_close(struct conn *c, const char *why);
/* Close c without flushing (the peer is gone or will not read). */
void conn_state_drop(struct conn *c, const char *why);
/* Send a CQ_PROTOCOL reply to request id and close c. */
void conn_state_protocol_error(struct conn *c, uint64_t id, const char *why);

#endif /* CQ_DAEMON_CONN_STATE_H */
