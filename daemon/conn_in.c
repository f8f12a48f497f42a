/* conn_in.c - a connection's input: bytes read, cut into frames, decoded. */

/*
 * Every complete frame available on a wake-up is handled before returning
 * to the loop. max_frame is checked on the 4-byte header, before anything
 * is allocated; frame_timeout_ms bounds the hello and every started frame.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/conn_in.h"
#include "daemon/conn_state.h"
#include "daemon/decode.h"
#include "daemon/dispatch.h"
#include "proto/frame.h"

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

/* One read buffer for all connections: the loop reads them in turn. */
static uint8_t conn_in_rbuf[CONN_READ_SIZE];

/*
 * Handle the complete frames at the start of buf (len bytes) until one is
 * incomplete or c stops reading; returns the bytes used. Decoded requests
 * may point into buf: it stays put until dispatch_request returns.
 */
static size_t
conn_in_frames(struct conn *c, const uint8_t *buf, size_t len)
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
			conn_state_protocol_error(c, 0, reason);
			break;
		}
		if (len - used - FRAME_HDR_LEN < flen)
			break;
		body = buf + used + FRAME_HDR_LEN;
		req = decode_request(body, flen, &why);
		if (req == NULL) {
			snprintf(
			    reason, sizeof reason, "malformed frame: %s", why);
			conn_state_protocol_error(
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
conn_in_want(const struct conn *c, const uint8_t *p, size_t n)
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
conn_in_keep(struct conn *c, const uint8_t *p, size_t n)
{
	size_t want = conn_in_want(c, p, n);

	if ((c->ibuf = malloc(want)) == NULL)
		return -1;
	memcpy(c->ibuf, p, n);
	c->ilen = n;
	c->icap = want;
	return 0;
}

/* Room in c's own buffer to read more into; -1: no memory. */
static int
conn_in_room(struct conn *c)
{
	size_t want = conn_in_want(c, c->ibuf, c->ilen);
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
void
conn_in_drain(struct conn *c)
{
	size_t used;

	if (c->ilen == 0)
		return;
	used = conn_in_frames(c, c->ibuf, c->ilen);
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
void
conn_in_read(struct conn *c)
{
	size_t total = 0, room, used;
	uint8_t *dst;
	ssize_t n;

	c->in_read = 1;
	while (!c->closing && !c->paused && total < CONN_READ_MAX) {
		if (c->ibuf != NULL) {
			if (conn_in_room(c) != 0) {
				conn_state_close(c, "out of memory");
				break;
			}
			dst = c->ibuf + c->ilen;
			room = c->icap - c->ilen;
		} else {
			dst = conn_in_rbuf;
			room =
			    c->last_big ? FRAME_HDR_LEN : sizeof conn_in_rbuf;
		}
		n = read(c->fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* Nobody is left to read what is still buffered. */
			c->in_read = 0;
			conn_state_drop(
			    c, n == 0 ? "peer closed" : "socket error");
			return;
		}
		total += (size_t)n;
		if (dst == conn_in_rbuf) {
			used = conn_in_frames(c, conn_in_rbuf, (size_t)n);
			if (used < (size_t)n && !c->closing &&
			    conn_in_keep(c, conn_in_rbuf + used,
			        (size_t)n - used) != 0) {
				conn_state_close(c, "out of memory");
				break;
			}
		} else {
			c->ilen += (size_t)n;
			conn_in_drain(c);
		}
		if ((size_t)n < room)
			break; /* the socket is empty */
	}
	c->in_read = 0;
	if (c->closing) {
		conn_state_linger(c);
		return;
	}
	/*
	 * The hello, and every started frame, must arrive in time; frames
	 * left unread while the peer does not read its replies are the slow
	 * reader timer's business.
	 */
	if (c->paused)
		conn_state_frame_disarm(c);
	else if (!c->peer.greeted || c->ilen > 0) {
		/*
		 * The deadline runs from the first byte of the frame (or from
		 * the connect, for the hello): bytes that trickle in must not
		 * push it back, or one byte a second holds a frame open.
		 */
		if (!c->frame_armed || c->armed_for != c->frames)
			conn_state_frame_arm(c, cfg.frame_timeout_ms);
	} else
		conn_state_frame_disarm(c);
}
