/* out.c - an outbound route: reserve locally, publish to JetStream
 * asynchronously, ack locally only after the PubAck. */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/bridge.h"

/* A publish that JetStream has answered, waiting to be settled locally. */
struct out_done {
	uint64_t id;
	int ok;
};

/* Messages reserved in one call at most. */
#define OUT_RESERVE_MAX 128

/* An outbound route's thread state. */
struct out {
	struct route *r;
	jsCtx *js;
	cq_client *c;
	cq_queue *q;
	char origin[CQ_NAME_MAX + 160];

	/* Filled by out_acked in a libnats thread, drained by out_settle. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct out_done *done;
	size_t ndone;

	uint32_t inflight; /* published, not yet settled (<= window) */
	int lost;          /* an async ack/release saw the connection go */
	int close_sent;    /* the close marker went out for this closure */
	int need_stream;   /* a publish found no stream: ensure it again */
	uint32_t backoff;
};

/*
 * The PubAck (or its failure) of one message, in a libnats thread: record
 * it for the route's thread, which owns the conqueue connection.
 */
static void
out_acked(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	struct out *o = arg;
	const char *v = jsutil_header(msg, BRIDGE_H_ID);

	pthread_mutex_lock(&o->mu);
	/* ndone < window always: each entry is one of the inflight ones. */
	o->done[o->ndone].id = v != NULL ? strtoull(v, NULL, 10) : 0;
	o->done[o->ndone].ok = pa != NULL && pae == NULL;
	if (pae != NULL && (pae->Err == NATS_NO_RESPONDERS ||
	                       pae->ErrCode == JSStreamNotFoundErr))
		o->need_stream = 1;
	o->ndone++;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	natsMsg_Destroy(msg);
}

/* Wait up to ms for a PubAck to arrive. */
static void
out_wait(struct out *o, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&o->mu);
	if (o->ndone == 0)
		pthread_cond_timedwait(&o->cv, &o->mu, &ts);
	pthread_mutex_unlock(&o->mu);
}

/*
 * The daemon's answer to an async ack (arg: the route's state), run by
 * the library inside the route thread's own conqueue calls.
 */
static void
out_ack_done(cq_status st, void *arg)
{
	struct out *o = arg;

	if (st == CQ_OK)
		atomic_fetch_add(&o->r->forwarded, 1);
	else if (st == CQ_DISCONNECTED)
		o->lost = 1;
	/* NOTFOUND: the lease ran out; it comes again and JetStream drops
	 * the repeat by its Nats-Msg-Id. */
}

/* The same for an async release. */
static void
out_release_done(cq_status st, void *arg)
{
	struct out *o = arg;

	if (st == CQ_DISCONNECTED)
		o->lost = 1;
}

/*
 * Close the local connection: the daemon puts back what it still holds
 * reserved. The async answers that closing fails (CQ_DISCONNECTED) are
 * about this connection, not the next one.
 */
static void
out_drop(struct out *o)
{
	jsutil_drop(&o->c, &o->q);
	o->lost = 0;
}

/*
 * Settle what JetStream answered: ack the stored ones locally (the commit
 * point of the hop), put the failed ones back at the head of their band.
 * Both go out asynchronously, many per round trip; their answers come to
 * out_ack_done and out_release_done. Without a local connection the
 * daemon has put them back already.
 */
static void
out_settle(struct out *o)
{
	struct out_done batch[256];
	size_t n, i;
	cq_status st;

	for (;;) {
		pthread_mutex_lock(&o->mu);
		n = o->ndone < 256 ? o->ndone : 256;
		memcpy(batch, o->done + o->ndone - n, n * sizeof *batch);
		o->ndone -= n;
		pthread_mutex_unlock(&o->mu);
		if (n == 0)
			return;
		for (i = 0; i < n; i++) {
			o->inflight--;
			atomic_fetch_sub(&o->r->pending, 1);
			if (!batch[i].ok)
				atomic_fetch_add(&o->r->errors, 1);
			if (o->q == NULL)
				continue;
			if (batch[i].ok)
				st = cq_ack_async(
				    o->q, batch[i].id, out_ack_done, o, NULL);
			else
				st = cq_release_async(o->q, batch[i].id,
				    out_release_done, o, NULL);
			if (st != CQ_OK)
				o->lost = 1;
		}
		/* Send them now: the thread may wait for PubAcks next. */
		if (o->c != NULL && cq_client_process(o->c) != CQ_OK)
			o->lost = 1;
		if (o->lost) {
			blog("warning", o->r->name,
			    "lost conqueued while settling; reconnecting");
			out_drop(o);
		}
	}
}

/*
 * Wait (bounded) for the daemon's answers to the async acks and releases,
 * so that a bridge stopping cleanly leaves nothing to deliver again.
 */
static void
out_flush(struct out *o)
{
	struct pollfd pfd;
	int tries;

	for (tries = 0; o->c != NULL && tries < 100; tries++) {
		if (cq_client_process(o->c) != CQ_OK ||
		    cq_client_pending(o->c) == 0)
			return;
		pfd.fd = cq_client_fd(o->c);
		pfd.events = (short)((cq_client_events(o->c) & CQ_WANT_WRITE)
		                         ? POLLIN | POLLOUT
		                         : POLLIN);
		poll(&pfd, 1, 50);
	}
}

/* Publish the reserved message m asynchronously; 0, or -1 (released). */
static int
out_publish(struct out *o, cq_msg *m)
{
	char id[32], band[8], dlv[16], msgid[sizeof o->origin + 64];
	natsMsg *nm = NULL;
	jsPubOptions po;
	natsStatus s;

	snprintf(id, sizeof id, "%" PRIu64, cq_msg_id(m));
	snprintf(band, sizeof band, "%u", cq_msg_band(m));
	/* Id and enqueue time: a re-created queue's ids start again at 1. */
	snprintf(msgid, sizeof msgid, "%s/%" PRIu64 ".%" PRIu64, o->origin,
	    cq_msg_id(m), cq_msg_enqueued_ns(m));
	s = natsMsg_Create(
	    &nm, o->r->subject, NULL, cq_msg_data(m), (int)cq_msg_len(m));
	if (s == NATS_OK)
		s = natsMsgHeader_Set(nm, BRIDGE_H_ID, id);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(nm, BRIDGE_H_BAND, band);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(nm, BRIDGE_H_ORIGIN, o->origin);
	if (s == NATS_OK && cq_msg_deliveries(m) > 1) {
		snprintf(dlv, sizeof dlv, "%u", cq_msg_deliveries(m));
		s = natsMsgHeader_Set(nm, BRIDGE_H_DELIVERY, dlv);
		atomic_fetch_add(&o->r->redelivered, 1);
	}
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MsgId = msgid;
		po.MaxWait = 5000;
		o->inflight++;
		atomic_fetch_add(&o->r->pending, 1);
		s = js_PublishMsgAsync(o->js, &nm, &po);
		if (s != NATS_OK) {
			o->inflight--;
			atomic_fetch_sub(&o->r->pending, 1);
		}
	}
	natsMsg_Destroy(nm); /* NULL when libnats took it */
	if (s == NATS_OK)
		return 0;
	atomic_fetch_add(&o->r->errors, 1);
	blog("warning", o->r->name, "publish: %s; message %s goes back",
	    natsStatus_GetText(s), id);
	cq_release(o->q, cq_msg_id(m));
	return -1;
}

/*
 * The queue is closed and drained and nothing is in flight: publish the
 * close marker, so the inbound side closes its queue after everything
 * before it.
 */
static void
out_close(struct out *o)
{
	char msgid[sizeof o->origin + 64];
	cq_queue_stat qs;
	jsPubOptions po;
	jsErrCode jerr = 0;
	natsMsg *nm = NULL;
	natsStatus s;

	memset(&qs, 0, sizeof qs);
	if (cq_stat(o->q, &qs) != CQ_OK)
		return;
	snprintf(msgid, sizeof msgid, "%s/close.%" PRIu64, o->origin,
	    qs.total_pushed);
	s = natsMsg_Create(&nm, o->r->subject, NULL, NULL, 0);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(nm, BRIDGE_H_CLOSE, "1");
	if (s == NATS_OK)
		s = natsMsgHeader_Set(nm, BRIDGE_H_ORIGIN, o->origin);
	if (s == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MsgId = msgid;
		s = js_PublishMsg(NULL, o->js, nm, &po, &jerr);
	}
	natsMsg_Destroy(nm);
	if (s != NATS_OK) {
		blog("warning", o->r->name, "close marker: %s; retrying",
		    natsStatus_GetText(s));
		jsutil_nap(o->r->b, jsutil_backoff(&o->backoff));
		return;
	}
	o->close_sent = 1;
	atomic_fetch_add(&o->r->closes, 1);
	atomic_store(&o->r->state, RS_CLOSED);
	blog("info", o->r->name, "queue %s closed: close marker sent",
	    o->r->queue);
}

/* One step of the loop with a local queue open. */
static void
out_step(struct out *o)
{
	struct route *r = o->r;
	cq_msg *m[OUT_RESERVE_MAX];
	size_t n = 0, i, max;
	cq_status st;

	if (o->inflight >= r->window) {
		out_wait(o, 100);
		return;
	}
	max = r->window - o->inflight;
	if (max > OUT_RESERVE_MAX)
		max = OUT_RESERVE_MAX;
	st = cq_reserve_many(
	    o->q, m, max, &n, o->inflight > 0 ? 0 : 200, r->lease_ms);
	if (o->lost) {
		/* An async answer inside that call saw the connection go. */
		for (i = 0; i < n; i++)
			cq_msg_free(m[i]);
		n = 0;
		st = CQ_DISCONNECTED;
		o->lost = 0;
	}
	switch (st) {
	case CQ_OK:
		o->close_sent = 0;
		atomic_store(&r->state, RS_RUNNING);
		for (i = 0; i < n; i++) {
			out_publish(o, m[i]);
			cq_msg_free(m[i]);
		}
		break;
	case CQ_EMPTY:
	case CQ_TIMEDOUT:
	case CQ_BUSY:
		o->close_sent = 0;
		if (atomic_load(&r->state) != RS_RUNNING)
			atomic_store(&r->state, RS_RUNNING);
		if (o->inflight > 0)
			out_wait(o, 50);
		break;
	case CQ_CLOSED:
		if (o->inflight > 0)
			out_wait(o, 50);
		else if (!o->close_sent)
			out_close(o);
		else {
			/* Look again later: it may be deleted and re-created.
			 */
			jsutil_nap(r->b, 1000);
			cq_queue_free(o->q);
			o->q = NULL;
		}
		break;
	case CQ_DISCONNECTED:
		blog("warning", r->name, "lost conqueued; reconnecting");
		out_drop(o);
		atomic_store(&r->state, RS_NO_DAEMON);
		break;
	default:
		blog("warning", r->name, "reserve: %s", cq_strstatus(st));
		atomic_fetch_add(&r->errors, 1);
		cq_queue_free(o->q);
		o->q = NULL;
		jsutil_nap(r->b, jsutil_backoff(&o->backoff));
		break;
	}
}

/* Make the context whose PubAcks come to out_acked. 0 or -1. */
static int
out_init(struct out *o)
{
	jsOptions jo;

	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = o->r->window;
	jo.PublishAsync.AckHandler = out_acked;
	jo.PublishAsync.AckHandlerClosure = o;
	return jsutil_context(o->r, &o->js, &jo);
}

/* The outbound route's thread. */
void *
out_run(void *arg)
{
	struct route *r = arg;
	struct bridge *b = r->b;
	struct out o;
	int tries;

	memset(&o, 0, sizeof o);
	o.r = r;
	snprintf(o.origin, sizeof o.origin, "%s/%s", b->instance, r->queue);
	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cv, NULL);
	o.done = calloc(r->window, sizeof *o.done);
	o.need_stream = 1;
	if (o.done == NULL || out_init(&o) != 0) {
		atomic_store(&b->stop, 1);
		goto out;
	}
	while (!atomic_load(&b->stop)) {
		out_settle(&o);
		if (natsConnection_Status(b->nc) !=
		    NATS_CONN_STATUS_CONNECTED) {
			out_wait(&o, 100);
			continue;
		}
		if (o.need_stream && o.inflight == 0) {
			if (jsutil_ensure_stream(r, o.js) != 0) {
				atomic_store(&r->state, RS_NO_STREAM);
				jsutil_nap(b, jsutil_backoff(&o.backoff));
				continue;
			}
			o.need_stream = 0;
			o.backoff = 0;
		}
		if (o.q == NULL) {
			if (jsutil_open(r, &o.c, &o.q) != CQ_OK) {
				out_wait(&o, (int)jsutil_backoff(&o.backoff));
				continue;
			}
			o.backoff = 0;
			if (!o.close_sent)
				atomic_store(&r->state, RS_RUNNING);
		}
		out_step(&o);
	}
	/*
	 * Let the last PubAcks arrive, so they are acked and not repeated; each
	 * publish times out after its MaxWait (5 s), so this ends.
	 */
	for (tries = 0; o.inflight > 0 && tries < 200; tries++) {
		out_settle(&o);
		if (o.inflight > 0)
			out_wait(&o, 50);
	}
	out_flush(&o);
out:
	out_drop(&o);
	/* No callback runs after jsCtx_Destroy returns... */
	if (o.js != NULL)
		jsCtx_Destroy(o.js);
	/* ...except those already running: wait out the handler's lock. */
	pthread_mutex_lock(&o.mu);
	pthread_mutex_unlock(&o.mu);
	free(o.done);
	pthread_cond_destroy(&o.cv);
	pthread_mutex_destroy(&o.mu);
	return NULL;
}
