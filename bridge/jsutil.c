/* jsutil.c - helpers the routes share: JetStream context and stream, local
 * connection with back-off, headers. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/bridge.h"

/* Sleep up to ms, waking early (in 50 ms steps) when the bridge stops. */
void
jsutil_nap(struct bridge *b, uint32_t ms)
{
	struct timespec ts;
	uint32_t step;

	while (ms > 0 && !atomic_load(&b->stop)) {
		step = ms < 50 ? ms : 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		ms -= step;
	}
}

/* The next back-off delay: doubles from 100 ms up to 5 s. */
uint32_t
jsutil_backoff(uint32_t *cur)
{
	uint32_t d = *cur == 0 ? 100 : *cur;

	*cur = d >= 2500 ? 5000 : d * 2;
	return d;
}

/* Make a JetStream context for r on the bridge's connection. 0 or -1. */
int
jsutil_context(struct route *r, jsCtx **js, jsOptions *jo)
{
	natsStatus s;

	s = natsConnection_JetStream(js, r->b->nc, jo);
	if (s != NATS_OK) {
		blog("error", r->name, "JetStream context: %s",
		    natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

/*
 * Make sure r's stream exists, creating it (file storage, r's subject, the
 * configured duplicate window) when it does not. 0, or -1 (logged once per
 * kind of failure by the caller's state change).
 */
int
jsutil_ensure_stream(struct route *r, jsCtx *js)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subj[1];
	natsStatus s;

	s = js_GetStreamInfo(&si, js, r->stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_NOT_FOUND) {
		if (atomic_load(&r->state) != RS_NO_STREAM)
			blog("warning", r->name, "stream %s: %s (%d); retrying",
			    r->stream, natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = r->stream;
	subj[0] = r->subject;
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Duplicates = (int64_t)r->b->duplicates_ms * 1000000;
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		if (atomic_load(&r->state) != RS_NO_STREAM)
			blog("warning", r->name, "create stream %s: %s (%d)",
			    r->stream, natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	blog("info", r->name, "created stream %s for subject %s", r->stream,
	    r->subject);
	jsStreamInfo_Destroy(si);
	return 0;
}

/* The value of header key of m, or NULL. */
const char *
jsutil_header(natsMsg *m, const char *key)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
		return NULL;
	return v;
}

/* Close the local connection (its reservations go back to the queue). */
void
jsutil_drop(cq_client **c, cq_queue **q)
{
	if (*c != NULL)
		cq_disconnect(*c); /* frees *q too */
	*c = NULL;
	*q = NULL;
}

/*
 * Connect to conqueued and open r's queue, with the route state telling
 * why not. CQ_OK, or the failing status (the caller backs off).
 */
cq_status
jsutil_open(struct route *r, cq_client **c, cq_queue **q)
{
	char cname[128];
	cq_status st;

	if (*c == NULL) {
		snprintf(cname, sizeof cname, "conqueue-bridge %s", r->name);
		/* Default flags: an inbound push may take the direct path. */
		st = cq_connect_flags(c, r->b->socket, cname, 0);
		if (st != CQ_OK) {
			if (atomic_load(&r->state) != RS_NO_DAEMON)
				blog("warning", r->name,
				    "conqueued: %s; retrying",
				    cq_strstatus(st));
			atomic_store(&r->state, RS_NO_DAEMON);
			*c = NULL;
			return st;
		}
	}
	st = cq_open(*c, r->queue, q);
	if (st == CQ_OK)
		return CQ_OK;
	if (st == CQ_DISCONNECTED) {
		jsutil_drop(c, q);
		atomic_store(&r->state, RS_NO_DAEMON);
		return st;
	}
	if (atomic_load(&r->state) != RS_NO_QUEUE)
		blog("warning", r->name, "queue %s: %s; waiting for it",
		    r->queue, cq_strstatus(st));
	atomic_store(&r->state, RS_NO_QUEUE);
	*q = NULL;
	return st;
}
