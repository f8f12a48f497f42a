/* bridge.c - conqueue-bench-bridge: one side of `make bench-bridge`
 * (bench/bridge.sh starts nats-server, two daemons and two bridges).
 *
 *   conqueue-bench-bridge js URL N SIZE WINDOW BATCH
 *       the baseline: bare libnats JetStream, async publish (WINDOW in
 *       flight) to a file stream, a durable pull consumer fetching BATCH
 *       at a time and acking each message
 *   conqueue-bench-bridge cq A_SOCK B_SOCK QUEUE N SIZE
 *       conqueue A -> bridge -> JetStream -> bridge -> conqueue B: batches
 *       of 64 pushed into A's QUEUE, popped from B's
 *
 * Each mode runs N messages of SIZE bytes flat out (a consumer thread
 * counts them; the time runs from the first send to the last receipt),
 * then LAT_N paced ones (the next is sent once the previous arrived) for
 * the end-to-end latency. It prints one line:
 *   msgs_per_s=... p50_us=... p99_us=...
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include <conqueue/conqueue.h>

#define LAT_N     400
#define PUSH_MANY 64

/* What one mode's producer and consumer share. */
struct side {
	/* js */
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	int batch;
	/* cq */
	cq_client *ca, *cb;
	cq_queue *qa, *qb;

	size_t size;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t got;    /* messages received */
	uint64_t last_ns; /* when the latest arrived */
	uint64_t want;   /* the consumer stops here */
	uint64_t *lat;   /* latency of paced message i, ns */
	uint64_t lat_from; /* messages before the paced ones */
	int failed;
};

static uint64_t
bb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
bb_die(const char *what, const char *why)
{
	fprintf(stderr, "conqueue-bench-bridge: %s: %s\n", what, why);
	exit(1);
}

/* Record one received payload (its first 8 bytes: the send time). */
static void
bb_got(struct side *s, const void *data, size_t len)
{
	uint64_t sent = 0, now = bb_now();

	if (len >= sizeof sent)
		memcpy(&sent, data, sizeof sent);
	pthread_mutex_lock(&s->mu);
	if (s->got >= s->lat_from && s->got - s->lat_from < LAT_N)
		s->lat[s->got - s->lat_from] = now - sent;
	s->got++;
	s->last_ns = now;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Wait until n messages have arrived. */
static void
bb_wait(struct side *s, uint64_t n)
{
	pthread_mutex_lock(&s->mu);
	while (s->got < n && !s->failed)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->failed)
		bb_die("consumer", "failed");
}

static void *
bb_js_consumer(void *arg)
{
	struct side *s = arg;
	natsMsgList list;
	jsErrCode jerr;
	natsStatus st;
	int i;

	while (s->got < s->want) {
		memset(&list, 0, sizeof list);
		st = natsSubscription_Fetch(&list, s->sub, s->batch, 5000, &jerr);
		if (st != NATS_OK) {
			fprintf(stderr, "fetch: %s\n", natsStatus_GetText(st));
			pthread_mutex_lock(&s->mu);
			s->failed = 1;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		for (i = 0; i < list.Count; i++) {
			bb_got(s, natsMsg_GetData(list.Msgs[i]),
			    (size_t)natsMsg_GetDataLength(list.Msgs[i]));
			natsMsg_Ack(list.Msgs[i], NULL);
		}
		natsMsgList_Destroy(&list);
	}
	return NULL;
}

static void *
bb_cq_consumer(void *arg)
{
	struct side *s = arg;
	cq_msg *m[256];
	size_t n, i;
	cq_status st;

	while (s->got < s->want) {
		st = cq_pop_many(s->qb, m, 256, &n, 30000);
		if (st != CQ_OK) {
			fprintf(stderr, "pop on B: %s\n", cq_strstatus(st));
			pthread_mutex_lock(&s->mu);
			s->failed = 1;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		for (i = 0; i < n; i++) {
			bb_got(s, cq_msg_data(m[i]), cq_msg_len(m[i]));
			cq_msg_free(m[i]);
		}
	}
	return NULL;
}

/* Send n messages (stamped with the send time) through the mode's path. */
static void
bb_js_send(struct side *s, char *buf, size_t n)
{
	natsStatus st;
	uint64_t t;
	size_t i;

	for (i = 0; i < n; i++) {
		t = bb_now();
		memcpy(buf, &t, sizeof t);
		st = js_PublishAsync(s->js, "bench.js", buf, (int)s->size, NULL);
		if (st != NATS_OK)
			bb_die("js_PublishAsync", natsStatus_GetText(st));
	}
}

static void
bb_cq_send(struct side *s, char *buf, size_t n)
{
	const void *bufs[PUSH_MANY];
	size_t lens[PUSH_MANY], i, k;
	cq_status st;
	uint64_t t;

	for (i = 0; i < n; i += k) {
		k = n - i < PUSH_MANY ? n - i : PUSH_MANY;
		t = bb_now();
		memcpy(buf, &t, sizeof t);
		for (size_t j = 0; j < k; j++) {
			bufs[j] = buf;
			lens[j] = s->size;
		}
		st = cq_push_many(s->qa, bufs, lens, k, 0, CQ_FOREVER);
		if (st != CQ_OK)
			bb_die("push on A", cq_strstatus(st));
	}
}

static int
bb_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Flat out, then paced; print the line. */
static void
bb_run(struct side *s, uint64_t n, void *(*consumer)(void *),
    void (*send)(struct side *, char *, size_t))
{
	char *buf = calloc(1, s->size < 8 ? 8 : s->size);
	pthread_t th;
	uint64_t t0, i;
	double secs;

	s->lat = calloc(LAT_N, sizeof *s->lat);
	if (buf == NULL || s->lat == NULL)
		bb_die("calloc", "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->want = n + LAT_N;
	s->lat_from = n;
	if (pthread_create(&th, NULL, consumer, s) != 0)
		bb_die("pthread_create", "failed");
	t0 = bb_now();
	send(s, buf, n);
	bb_wait(s, n);
	secs = (double)(s->last_ns - t0) / 1e9;
	for (i = 0; i < LAT_N; i++) {
		send(s, buf, 1);
		bb_wait(s, n + i + 1);
	}
	pthread_join(th, NULL);
	qsort(s->lat, LAT_N, sizeof *s->lat, bb_cmp);
	printf("msgs_per_s=%.0f p50_us=%.0f p99_us=%.0f\n", (double)n / secs,
	    (double)s->lat[LAT_N / 2] / 1e3,
	    (double)s->lat[LAT_N * 99 / 100] / 1e3);
	free(s->lat);
	free(buf);
}

static void
bb_js(const char *url, uint64_t n, struct side *s, int window)
{
	const char *subj[1] = {"bench.js"};
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsOptions jo;
	jsErrCode jerr = 0;
	natsStatus st;

	if ((st = natsConnection_ConnectTo(&s->nc, url)) != NATS_OK)
		bb_die(url, natsStatus_GetText(st));
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = window;
	jo.PublishAsync.StallWait = 30000; /* a loaded host stalls */
	if ((st = natsConnection_JetStream(&s->js, s->nc, &jo)) != NATS_OK)
		bb_die("JetStream", natsStatus_GetText(st));
	jsStreamConfig_Init(&sc);
	sc.Name = "BENCH_JS";
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	if ((st = js_AddStream(&si, s->js, &sc, NULL, &jerr)) != NATS_OK)
		bb_die("js_AddStream", natsStatus_GetText(st));
	jsStreamInfo_Destroy(si);
	jsConsumerConfig_Init(&cc);
	cc.Durable = "bench";
	cc.AckPolicy = js_AckExplicit;
	if ((st = js_AddConsumer(&ci, s->js, "BENCH_JS", &cc, NULL, &jerr)) !=
	    NATS_OK)
		bb_die("js_AddConsumer", natsStatus_GetText(st));
	jsConsumerInfo_Destroy(ci);
	jsSubOptions_Init(&so);
	so.Stream = "BENCH_JS";
	so.Consumer = "bench";
	if ((st = js_PullSubscribe(&s->sub, s->js, "bench.js", "bench", NULL,
	         &so, &jerr)) != NATS_OK)
		bb_die("js_PullSubscribe", natsStatus_GetText(st));
	bb_run(s, n, bb_js_consumer, bb_js_send);
	js_PublishAsyncComplete(s->js, NULL);
	natsSubscription_Destroy(s->sub);
	js_DeleteStream(s->js, "BENCH_JS", NULL, NULL);
	jsCtx_Destroy(s->js);
	natsConnection_Destroy(s->nc);
	nats_Close();
}

static void
bb_open(const char *sock, const char *queue, cq_client **c, cq_queue **q)
{
	cq_status st;

	if ((st = cq_connect_flags(c, sock, "bench-bridge", 0)) != CQ_OK ||
	    (st = cq_open(*c, queue, q)) != CQ_OK)
		bb_die(sock, cq_strstatus(st));
}

int
main(int argc, char **argv)
{
	struct side s;

	memset(&s, 0, sizeof s);
	if (argc == 7 && strcmp(argv[1], "js") == 0) {
		s.size = strtoul(argv[4], NULL, 10);
		s.batch = atoi(argv[6]);
		bb_js(argv[2], strtoull(argv[3], NULL, 10), &s, atoi(argv[5]));
		return 0;
	}
	if (argc == 7 && strcmp(argv[1], "cq") == 0) {
		s.size = strtoul(argv[6], NULL, 10);
		bb_open(argv[2], argv[4], &s.ca, &s.qa);
		bb_open(argv[3], argv[4], &s.cb, &s.qb);
		bb_run(&s, strtoull(argv[5], NULL, 10), bb_cq_consumer,
		    bb_cq_send);
		cq_disconnect(s.ca);
		cq_disconnect(s.cb);
		return 0;
	}
	fprintf(stderr,
	    "usage: conqueue-bench-bridge js URL N SIZE WINDOW BATCH\n"
	    "       conqueue-bench-bridge cq A_SOCK B_SOCK QUEUE N SIZE\n");
	return 64;
}
