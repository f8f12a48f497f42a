/* in.c - an inbound route: fetch from a durable JetStream pull consumer,
 * push locally, ack JetStream only after the local push returned CQ_OK. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"

/* An inbound route's thread state. */
struct in {
	struct route *r;
	jsCtx *js;
	natsSubscription *sub;
	cq_client *c;
	cq_queue *q;
	unsigned bands;    /* of the local queue */
	uint32_t capacity; /* of the local queue: the largest batch push */
	uint32_t backoff;
	const void **bufs; /* scratch for one batch push */
	size_t *lens;
	char **owned; /* stamped copies to free */
	/* The fetched messages not yet delivered (the current run first):
	 * all of them are kept from redelivery while one run waits. */
	natsMsg **rest;
	size_t nrest;
	int held; /* a close marker went back for messages before it */
};

/* 1 if m is a close marker. */
static int
in_is_close(natsMsg *m)
{
	const char *v = jsutil_header(m, BRIDGE_H_CLOSE);

	return v != NULL && strcmp(v, "1") == 0;
}

/* The band m came from, clamped to the local queue's bands. */
static unsigned
in_band(struct in *in, natsMsg *m)
{
	const char *v = jsutil_header(m, BRIDGE_H_BAND);
	unsigned long band = v != NULL ? strtoul(v, NULL, 10) : 0;

	return band >= in->bands ? in->bands - 1 : (unsigned)band;
}

/* Tell JetStream we still work on msgs, so AckWait does not expire. */
static void
in_progress(natsMsg **msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		natsMsg_InProgress(msgs[i], NULL);
}

/* Open the local queue and learn its bands and capacity. 0 or -1. */
static int
in_open(struct in *in)
{
	cq_queue_stat qs;

	if (jsutil_open(in->r, &in->c, &in->q) != CQ_OK)
		return -1;
	if (cq_stat(in->q, &qs) != CQ_OK) {
		jsutil_drop(&in->c, &in->q);
		return -1;
	}
	in->bands = qs.bands > 0 ? qs.bands : 1;
	in->capacity = qs.capacity > 0 ? qs.capacity : 1;
	in->backoff = 0;
	return 0;
}

/* Fill the scratch arrays for msgs (stamped with "origin/id TAB" if asked). */
static int
in_prepare(struct in *in, natsMsg **msgs, size_t n)
{
	const char *origin, *id, *data;
	size_t i, len, plen;
	char *p;

	for (i = 0; i < n; i++) {
		data = natsMsg_GetData(msgs[i]);
		len = (size_t)natsMsg_GetDataLength(msgs[i]);
		in->owned[i] = NULL;
		if (in->r->stamp) {
			origin = jsutil_header(msgs[i], BRIDGE_H_ORIGIN);
			id = jsutil_header(msgs[i], BRIDGE_H_ID);
			origin = origin != NULL ? origin : "-";
			id = id != NULL ? id : "0";
			plen = strlen(origin) + strlen(id) + 2;
			if ((p = malloc(plen + len + 1)) == NULL)
				return -1;
			snprintf(p, plen + 1, "%s/%s\t", origin, id);
			if (len > 0)
				memcpy(p + plen, data, len);
			in->owned[i] = p;
			data = p;
			len += plen;
		}
		in->bufs[i] = data != NULL ? data : "";
		in->lens[i] = len;
	}
	return 0;
}

/* Free the stamped copies of in_prepare. */
static void
in_unprepare(struct in *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(in->owned[i]);
		in->owned[i] = NULL;
	}
}

/*
 * Push msgs (one band, no close marker) locally as one batch, waiting
 * while the queue is full (backpressure: nothing more is fetched), then
 * ack them in JetStream. 0, or -1 when the bridge stops first (JetStream
 * delivers them again later).
 */
static int
in_push(struct in *in, natsMsg **msgs, size_t n, unsigned band)
{
	struct route *r = in->r;
	uint32_t wait = r->ack_wait_ms / 3 < 1000 ? r->ack_wait_ms / 3 : 1000;
	cq_status st;
	size_t i;

	if (in_prepare(in, msgs, n) != 0) {
		in_unprepare(in, n);
		return -1;
	}
	while (!atomic_load(&r->b->stop)) {
		if (in->q == NULL && in_open(in) != 0) {
			in_progress(in->rest, in->nrest);
			jsutil_nap(r->b, jsutil_backoff(&in->backoff));
			continue;
		}
		st = cq_push_many(in->q, in->bufs, in->lens, n, band, wait);
		if (st == CQ_OK) {
			for (i = 0; i < n; i++)
				natsMsg_Ack(msgs[i], NULL);
			atomic_fetch_add(&r->forwarded, n);
			atomic_store(&r->state, RS_RUNNING);
			in_unprepare(in, n);
			return 0;
		}
		in_progress(in->rest, in->nrest);
		switch (st) {
		case CQ_TIMEDOUT:
		case CQ_FULL:
		case CQ_BUSY:
			atomic_store(&r->state, RS_BACKPRESSURE);
			break;
		case CQ_CLOSED:
			if (atomic_load(&r->state) != RS_CLOSED)
				blog("warning", r->name,
				    "queue %s is closed: holding messages "
				    "until "
				    "it is re-created",
				    r->queue);
			atomic_store(&r->state, RS_CLOSED);
			jsutil_nap(r->b, 1000);
			cq_queue_free(in->q);
			in->q = NULL;
			break;
		case CQ_DISCONNECTED:
			blog(
			    "warning", r->name, "lost conqueued; reconnecting");
			jsutil_drop(&in->c, &in->q);
			atomic_store(&r->state, RS_NO_DAEMON);
			break;
		case CQ_TOOBIG:
		case CQ_INVALID:
		case CQ_LIMIT:
			in_unprepare(in, n);
			if (n > 1) {
				/* Find the one that can never fit. */
				for (i = 0; i < n; i++)
					if (in_push(in, msgs + i, 1, band) != 0)
						return -1;
				return 0;
			}
			blog("error", r->name,
			    "message refused by %s (%s): "
			    "terminated in JetStream",
			    r->queue, cq_strstatus(st));
			natsMsg_Term(msgs[0], NULL);
			atomic_fetch_add(&r->rejected, 1);
			return 0;
		default:
			blog("warning", r->name, "push: %s", cq_strstatus(st));
			atomic_fetch_add(&r->errors, 1);
			cq_queue_free(in->q);
			in->q = NULL;
			jsutil_nap(r->b, jsutil_backoff(&in->backoff));
			break;
		}
	}
	in_unprepare(in, n);
	return -1;
}

/*
 * Whether every message before close marker m was acked: 1, 0 not yet,
 * -1 unknown. A bridge killed while it held fetched messages leaves them
 * unacked until AckWait, and its successor fetches what follows first:
 * the marker may arrive before messages sent ahead of it, which must be
 * pushed before the close. The consumer's ack floor (the stream sequence
 * below which nothing is pending) tells.
 */
static int
in_before_acked(struct in *in, natsMsg *m)
{
	struct route *r = in->r;
	jsMsgMetaData *meta = NULL;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	int ok = -1;

	if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
		return -1;
	if (js_GetConsumerInfo(&ci, in->js, r->stream, r->durable, NULL,
	        &jerr) == NATS_OK)
		ok = ci->AckFloor.Stream + 1 >= meta->Sequence.Stream;
	jsConsumerInfo_Destroy(ci);
	jsMsgMetaData_Destroy(meta);
	return ok;
}

/*
 * Hold close marker m back while messages before it are pending: a few
 * short looks first (the acks just sent may still be on their way), then
 * JetStream gets it back to deliver again after AckWait, by when what a
 * killed bridge held was delivered again ahead of it. 1 when the marker
 * may close the queue, 0 when it went back or JetStream could not tell
 * (the caller stops the batch: what follows the marker waits for it).
 */
static int
in_close_ready(struct in *in, natsMsg *m)
{
	struct route *r = in->r;
	int tries, ok = -1;

	for (tries = 0; tries < 5 && !atomic_load(&r->b->stop); tries++) {
		if ((ok = in_before_acked(in, m)) != 0)
			break;
		jsutil_nap(r->b, 100);
	}
	if (ok == 1) {
		in->held = 0;
		return 1;
	}
	if (ok < 0) {
		/* Cannot tell now (JetStream unreachable): AckWait brings
		 * it back to ask again. */
		blog("warning", r->name,
		    "close marker: consumer %s: no ack floor; asking again "
		    "later",
		    r->durable);
		return 0;
	}
	if (!in->held)
		blog("info", r->name,
		    "close marker ahead of messages still pending: "
		    "it closes %s after them",
		    r->queue);
	in->held = 1;
	natsMsg_NakWithDelay(m, (int64_t)r->ack_wait_ms, NULL);
	return 0;
}

/* A close marker: everything before it is pushed: close the local queue. */
static int
in_close(struct in *in, natsMsg *m)
{
	struct route *r = in->r;
	cq_status st;

	if (!in_close_ready(in, m))
		return -1;
	while (!atomic_load(&r->b->stop)) {
		if (in->q == NULL && in_open(in) != 0) {
			in_progress(in->rest, in->nrest);
			jsutil_nap(r->b, jsutil_backoff(&in->backoff));
			continue;
		}
		st = cq_close(in->q);
		if (st == CQ_OK) {
			natsMsg_Ack(m, NULL);
			atomic_fetch_add(&r->closes, 1);
			atomic_store(&r->state, RS_CLOSED);
			blog("info", r->name,
			    "close marker from %s: queue %s closed",
			    jsutil_header(m, BRIDGE_H_ORIGIN) != NULL
			        ? jsutil_header(m, BRIDGE_H_ORIGIN)
			        : "?",
			    r->queue);
			return 0;
		}
		if (st == CQ_DISCONNECTED)
			jsutil_drop(&in->c, &in->q);
		else {
			blog("warning", r->name, "close %s: %s", r->queue,
			    cq_strstatus(st));
			cq_queue_free(in->q);
			in->q = NULL;
		}
		jsutil_nap(r->b, jsutil_backoff(&in->backoff));
	}
	return -1;
}

/* Deliver one fetched batch in order: runs of one band go as one push. */
static void
in_deliver(struct in *in, natsMsg **msgs, size_t n)
{
	jsMsgMetaData *meta;
	size_t i, j, max;
	unsigned band;

	atomic_fetch_add(&in->r->pending, n);
	for (i = 0; i < n; i++) {
		meta = NULL;
		if (natsMsg_GetMetaData(&meta, msgs[i]) == NATS_OK &&
		    meta->NumDelivered > 1)
			atomic_fetch_add(&in->r->redelivered, 1);
		jsMsgMetaData_Destroy(meta);
	}
	max = in->r->batch;
	for (i = 0; i < n; i = j) {
		in->rest = msgs + i;
		in->nrest = n - i;
		if (in_is_close(msgs[i])) {
			if (in_close(in, msgs[i]) != 0)
				break;
			j = i + 1;
			atomic_fetch_sub(&in->r->pending, 1);
			continue;
		}
		band = in_band(in, msgs[i]);
		if (in->q != NULL && in->capacity < max)
			max = in->capacity;
		for (j = i + 1; j < n && j - i < max && !in_is_close(msgs[j]) &&
		                in_band(in, msgs[j]) == band;
		     j++)
			;
		if (in_push(in, msgs + i, j - i, band) != 0)
			break;
		atomic_fetch_sub(&in->r->pending, j - i);
	}
	if (i < n)
		atomic_fetch_sub(&in->r->pending, n - i);
}

/* Create the durable consumer if missing and bind a pull subscription. */
static int
in_subscribe(struct in *in)
{
	struct route *r = in->r;
	jsConsumerInfo *ci = NULL;
	jsConsumerConfig cc;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	if (jsutil_ensure_stream(r, in->js) != 0)
		return -1;
	s = js_GetConsumerInfo(&ci, in->js, r->stream, r->durable, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		jsConsumerConfig_Init(&cc);
		cc.Durable = r->durable;
		cc.AckPolicy = js_AckExplicit;
		cc.DeliverPolicy = js_DeliverAll;
		cc.AckWait = (int64_t)r->ack_wait_ms * 1000000;
		cc.MaxDeliver = r->max_deliver;
		cc.FilterSubject = r->subject;
		s = js_AddConsumer(&ci, in->js, r->stream, &cc, NULL, &jerr);
		if (s == NATS_OK)
			blog("info", r->name,
			    "created durable consumer %s on %s", r->durable,
			    r->stream);
	}
	jsConsumerInfo_Destroy(ci);
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = r->stream;
		so.Consumer = r->durable;
		s = js_PullSubscribe(
		    &in->sub, in->js, r->subject, r->durable, NULL, &so, &jerr);
	}
	if (s != NATS_OK) {
		if (atomic_load(&r->state) != RS_NO_STREAM)
			blog("warning", r->name,
			    "consumer %s: %s (%d); retrying", r->durable,
			    natsStatus_GetText(s), (int)jerr);
		in->sub = NULL;
		return -1;
	}
	return 0;
}

/* The inbound route's thread. */
void *
in_run(void *arg)
{
	struct route *r = arg;
	struct bridge *b = r->b;
	natsMsgList list;
	jsErrCode jerr;
	natsStatus s;
	struct in in;

	memset(&in, 0, sizeof in);
	in.r = r;
	in.bands = 1;
	in.bufs = calloc(r->batch, sizeof *in.bufs);
	in.lens = calloc(r->batch, sizeof *in.lens);
	in.owned = calloc(r->batch, sizeof *in.owned);
	if (in.bufs == NULL || in.lens == NULL || in.owned == NULL ||
	    jsutil_context(r, &in.js, NULL) != 0) {
		atomic_store(&b->stop, 1);
		goto out;
	}
	while (!atomic_load(&b->stop)) {
		if (natsConnection_Status(b->nc) !=
		    NATS_CONN_STATUS_CONNECTED) {
			jsutil_nap(b, 100);
			continue;
		}
		if (in.sub == NULL && in_subscribe(&in) != 0) {
			atomic_store(&r->state, RS_NO_STREAM);
			jsutil_nap(b, jsutil_backoff(&in.backoff));
			continue;
		}
		/* No local queue: fetch nothing (it would only wait). */
		if (in.q == NULL && in_open(&in) != 0) {
			jsutil_nap(b, jsutil_backoff(&in.backoff));
			continue;
		}
		if (atomic_load(&r->state) != RS_CLOSED)
			atomic_store(&r->state, RS_RUNNING);
		memset(&list, 0, sizeof list);
		jerr = 0;
		s = natsSubscription_Fetch(
		    &list, in.sub, (int)r->batch, 500, &jerr);
		if (s == NATS_OK && list.Count > 0)
			in_deliver(&in, list.Msgs, (size_t)list.Count);
		natsMsgList_Destroy(&list);
		if (s == NATS_OK || s == NATS_TIMEOUT)
			continue;
		blog("warning", r->name, "fetch: %s (%d); resubscribing",
		    natsStatus_GetText(s), (int)jerr);
		atomic_fetch_add(&r->errors, 1);
		natsSubscription_Destroy(in.sub);
		in.sub = NULL;
		jsutil_nap(b, jsutil_backoff(&in.backoff));
	}
out:
	jsutil_drop(&in.c, &in.q);
	natsSubscription_Destroy(in.sub);
	if (in.js != NULL)
		jsCtx_Destroy(in.js);
	free(in.bufs);
	free(in.lens);
	free(in.owned);
	return NULL;
}
