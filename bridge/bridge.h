/* bridge.h - conqueue-bridge: routes between conqueue queues and JetStream. */

#ifndef CONQUEUE_BRIDGE_H
#define CONQUEUE_BRIDGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <nats/nats.h>

#include <conqueue/conqueue.h>

/* Headers the bridge writes on every message it publishes. */
#define BRIDGE_H_ID       "Conqueue-Id"     /* the origin queue's message id */
#define BRIDGE_H_BAND     "Conqueue-Band"   /* the origin band, 0..7 */
#define BRIDGE_H_ORIGIN   "Conqueue-Origin" /* instance/queue */
#define BRIDGE_H_CLOSE    "Conqueue-Close"  /* "1": close marker, no payload */
#define BRIDGE_H_DELIVERY "Conqueue-Delivery" /* the origin's delivery count   \
	                                       */

enum route_kind { ROUTE_OUT, ROUTE_IN };

/* What the route is doing now (shown in the status). */
enum route_state {
	RS_STARTING,
	RS_RUNNING,
	RS_NO_DAEMON, /* cannot reach conqueued: reconnecting */
	RS_NO_QUEUE,  /* the local queue does not exist (yet) */
	RS_NO_STREAM, /* JetStream stream/consumer unavailable: retrying */
	RS_CLOSED, /* outbound: close forwarded; inbound: local queue closed */
	RS_BACKPRESSURE /* inbound: the local queue is full */
};

/* One route of the config file and its live counters. */
struct route {
	enum route_kind kind;
	char *name;           /* the section name */
	char *queue;          /* local queue */
	char *subject;        /* outbound: publish to; inbound: filter */
	char *stream;         /* JetStream stream (created when missing) */
	char *durable;        /* inbound: durable consumer name */
	uint32_t window;      /* outbound: async publishes in flight */
	uint32_t lease_ms;    /* outbound: local reserve lease */
	uint32_t batch;       /* inbound: messages per fetch */
	uint32_t ack_wait_ms; /* inbound: consumer AckWait */
	int64_t max_deliver;  /* inbound: consumer MaxDeliver (-1 unlimited) */
	int stamp;            /* inbound: prefix "origin-id TAB" to payloads */

	struct bridge *b;
	pthread_t thread;
	int started;
	_Atomic int state;
	_Atomic uint64_t forwarded;   /* acked at the far side of the hop */
	_Atomic uint64_t pending;     /* taken here, not yet settled */
	_Atomic uint64_t redelivered; /* arrived with a delivery count > 1 */
	_Atomic uint64_t rejected; /* inbound: terminated (cannot ever fit) */
	_Atomic uint64_t errors;   /* failed publishes/pushes (retried) */
	_Atomic uint64_t closes;   /* close markers sent / applied */
};

/* The whole bridge: global settings, routes, the NATS connection. */
struct bridge {
	char *instance; /* default: the host name */
	char *socket;   /* conqueued socket (NULL: the default) */
	char *nats_url; /* default nats://127.0.0.1:4222 */
	char *stats_file;
	uint32_t stats_interval_ms;
	uint32_t duplicates_ms; /* stream duplicate window when created */
	int verbose;

	struct route *routes;
	size_t nroutes;

	natsConnection *nc;
	_Atomic int stop;
	_Atomic int nats_up;
	_Atomic uint64_t nats_reconnects;
};

/* conf.c */
int conf_load(struct bridge *b, const char *path, char **cause);
void conf_free(struct bridge *b);

/* log.c */
void blog(const char *level, const char *route, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *log_state(int state);
int log_stats(struct bridge *b, const char *path);
void log_status(struct bridge *b);

/* jsutil.c */
int jsutil_context(struct route *r, jsCtx **js, jsOptions *jo);
int jsutil_ensure_stream(struct route *r, jsCtx *js);
const char *jsutil_header(natsMsg *m, const char *key);
void jsutil_nap(struct bridge *b, uint32_t ms);
uint32_t jsutil_backoff(uint32_t *cur);
cq_status jsutil_open(struct route *r, cq_client **c, cq_queue **q);
void jsutil_drop(cq_client **c, cq_queue **q);

/* out.c, in.c: a route's thread. */
void *out_run(void *arg);
void *in_run(void *arg);

#endif /* CONQUEUE_BRIDGE_H */
