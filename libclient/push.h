/* push.h - one message through the daemon with options (push.c). */

#ifndef CQ_LIBCLIENT_PUSH_H
#define CQ_LIBCLIENT_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"

/*
 * What a single push may carry beyond its message. A nonzero delay or
 * time to live, or a key, needs the daemon (it keeps the timers and the
 * keys), so such a push never takes the direct path.
 */
struct push_opts {
	unsigned band;
	int front;
	uint32_t delay_ms;
	uint32_t ttl_ms;
	int keyed;       /* a de-duplication key goes with it: */
	const void *key; /* keylen bytes, 1..CQ_DEDUP_KEY_MAX */
	size_t keylen;
};

/*
 * Push one message with options o over the socket, blocking (async 0: cb,
 * arg and opp unused) or async. Bad arguments (a missing key, or
 * one of 0 or over CQ_DEDUP_KEY_MAX bytes) are CQ_INVALID, a message over the
 * daemon's max_message CQ_TOOBIG; a blocking call sets the client error.
 */
cq_status push_one(cq_queue *q, const void *buf, size_t len,
    const struct push_opts *o, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **opp, int async);

#endif /* CQ_LIBCLIENT_PUSH_H */
