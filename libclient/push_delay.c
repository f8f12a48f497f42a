/* push_delay.c - delayed and expiring pushes: always through the daemon. */

#include "push.h"

/*
 * Push one message due in delay_ms, or one that expires ttl_ms after the
 * push (one of the two is nonzero), blocking or async. The daemon keeps
 * the timer, so a direct handle sends it over the socket too.
 */
static cq_status
push_delay_run(cq_queue *q, const void *buf, size_t len, unsigned band,
    uint32_t delay_ms, uint32_t ttl_ms, int64_t timeout_ms, cq_push_cb *cb,
    void *arg, cq_op **opp, int async)
{
	struct push_opts o = {
	    .band = band, .delay_ms = delay_ms, .ttl_ms = ttl_ms};

	return push_one(q, buf, len, &o, timeout_ms, cb, arg, opp, async);
}

/* cq_push_delayed: push, visible after delay_ms. */
cq_status
cq_push_delayed(cq_queue *q, const void *buf, size_t len, unsigned band,
    uint32_t delay_ms, int64_t timeout_ms)
{
	if (delay_ms == 0)
		return cq_push_band(q, buf, len, band, timeout_ms);
	return push_delay_run(
	    q, buf, len, band, delay_ms, 0, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_try_push_delayed: cq_push_delayed without waiting for room. */
cq_status
cq_try_push_delayed(
    cq_queue *q, const void *buf, size_t len, unsigned band, uint32_t delay_ms)
{
	return cq_push_delayed(q, buf, len, band, delay_ms, CQ_NOWAIT);
}

/* cq_push_delayed_async: cq_push_delayed; cb(status, arg) runs later. */
cq_status
cq_push_delayed_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    uint32_t delay_ms, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **op)
{
	if (delay_ms == 0)
		return cq_push_async(q, buf, len, band, timeout_ms, cb, arg, op);
	return push_delay_run(
	    q, buf, len, band, delay_ms, 0, timeout_ms, cb, arg, op, 1);
}

/* cq_push_ttl: push a message dropped if not popped within ttl_ms. */
cq_status
cq_push_ttl(cq_queue *q, const void *buf, size_t len, unsigned band,
    uint32_t ttl_ms, int64_t timeout_ms)
{
	if (ttl_ms == 0)
		return cq_push_band(q, buf, len, band, timeout_ms);
	return push_delay_run(
	    q, buf, len, band, 0, ttl_ms, timeout_ms, NULL, NULL, NULL, 0);
}

/* cq_try_push_ttl: cq_push_ttl without waiting for room. */
cq_status
cq_try_push_ttl(
    cq_queue *q, const void *buf, size_t len, unsigned band, uint32_t ttl_ms)
{
	return cq_push_ttl(q, buf, len, band, ttl_ms, CQ_NOWAIT);
}

/* cq_push_ttl_async: cq_push_ttl; cb(status, arg) runs later. */
cq_status
cq_push_ttl_async(cq_queue *q, const void *buf, size_t len, unsigned band,
    uint32_t ttl_ms, int64_t timeout_ms, cq_push_cb *cb, void *arg,
    cq_op **op)
{
	if (ttl_ms == 0)
		return cq_push_async(q, buf, len, band, timeout_ms, cb, arg, op);
	return push_delay_run(
	    q, buf, len, band, 0, ttl_ms, timeout_ms, cb, arg, op, 1);
}
