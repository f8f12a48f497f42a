/* cq.c - conqueue as a benchmark transport: every flavour, both paths. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"
#include "bench/direct_api.h" /* generated: BENCH_HAVE_QUEUE_DIRECT */

/* The parent's connection: creates, closes and deletes the queues. */
static cq_client *cqt_parent;
static char cqt_sock[256];
static unsigned cqt_seq;

/* Durability of the queues cqt_prepare makes (bench/durable.c). */
int cqt_durable = CQ_DURABLE_NONE;
uint64_t cqt_last_syncs; /* log_syncs of the last durable run's queue */

/* Queue names of a run: [0] data or request, [1] reply. */
struct cqt_ctx {
	char name[2][CQ_NAME_MAX + 1];
	int nq;
};

/* Connect the parent. */
int
cqt_init(const char *sock, char *err, size_t errlen)
{
	cq_status st;

	snprintf(cqt_sock, sizeof cqt_sock, "%s", sock);
	/*
	 * The parent only creates, closes, stats and deletes: on the socket,
	 * whose cq_stat has the durable log's figures.
	 */
	st = cq_connect_flags(&cqt_parent, cqt_sock, "conqueue-bench",
	    CQ_CONNECT_NO_DIRECT);
	if (st != CQ_OK) {
		snprintf(err, errlen, "connect %s: %s", sock, cq_strstatus(st));
		cqt_parent = NULL;
		return -1;
	}
	return 0;
}

/* Disconnect the parent. */
void
cqt_fini(void)
{
	if (cqt_parent != NULL)
		cq_disconnect(cqt_parent);
	cqt_parent = NULL;
}

/* The daemon's own figures; 0 or -1. */
int
cqt_info(struct cq_daemon_info *info)
{
	return cqt_parent != NULL && cq_info(cqt_parent, info) == CQ_OK ? 0
	                                                                : -1;
}

/* The max_bytes of a queue as deep as the fixed-slot layout's (bench.h). */
uint64_t
cqt_slot_bytes(const struct cq_queue_attr *attr)
{
	uint64_t b = (uint64_t)attr->capacity * attr->max_size;

	return b < CQ_MAX_BYTES_MAX ? b : CQ_MAX_BYTES_MAX;
}

/* Create the queue(s) of a run: capacity 1024, max size = message size. */
static int
cqt_prepare(struct run *r, char *err, size_t errlen)
{
	struct cqt_ctx *c = bench_xmalloc(sizeof *c);
	cq_queue_attr attr;
	cq_status st;
	int i;

	memset(c, 0, sizeof *c);
	r->ctx = c;
	if (cqt_parent == NULL) {
		snprintf(err, errlen, "no daemon connection");
		return -1;
	}
	c->nq = r->wl->kind == WL_PINGPONG ? 2 : 1;
	memset(&attr, 0, sizeof attr);
	attr.capacity = 1024;
	attr.max_size = (uint32_t)r->wl->size;
	attr.mode = 0600;
	for (i = 0; i < c->nq; i++) {
		snprintf(c->name[i], sizeof c->name[i], "bench.%ld.%u.%d",
		    (long)getpid(), cqt_seq, i);
		st = cq_create_full(cqt_parent, c->name[i], &attr, 0, 0, 0,
		    (cq_durable)cqt_durable, 0, cqt_slot_bytes(&attr));
		if (st != CQ_OK) {
			snprintf(err, errlen, "create %s: %s (%s)", c->name[i],
			    cq_strstatus(st), cq_client_error(cqt_parent));
			c->name[i][0] = '\0';
			return -1;
		}
	}
	cqt_seq++;
	return 0;
}

/* Child: own connection (never share one across fork) and queue handles. */
static int
cqt_open(struct run *r, struct child_res *res, cq_client **cl, cq_queue **q)
{
	struct cqt_ctx *c = r->ctx;
	cq_status st;
	int i, direct = bench_fl_direct(r->fl);

	/*
	 * The socket flavours opt out of the direct path; the direct ones
	 * take the library's default (direct).
	 */
	if (direct)
		unsetenv("CONQUEUE_DIRECT");
	else
		setenv("CONQUEUE_DIRECT", "0", 1);
	st = cq_connect_named(cl, cqt_sock, "conqueue-bench");
	if (st != CQ_OK) {
		bench_fail(res, "connect: %s", cq_strstatus(st));
		return -1;
	}
	for (i = 0; i < c->nq; i++) {
		st = cq_open(*cl, c->name[i], &q[i]);
		if (st != CQ_OK) {
			bench_fail(
			    res, "open %s: %s", c->name[i], cq_strstatus(st));
			return -1;
		}
#ifdef BENCH_HAVE_QUEUE_DIRECT
		/* A figure under the wrong path's name would be a lie. */
		if ((cq_queue_direct(q[i]) ? 1 : 0) != direct) {
			bench_fail(res, "handle of %s is %s, not %s",
			    c->name[i], direct ? "on the socket" : "direct",
			    direct ? "direct" : "on the socket");
			return -1;
		}
#endif
	}
	return 0;
}

/* State of an async producer or consumer. */
struct cqt_async {
	struct child_res *res;
	struct checker ck;
	uint64_t inflight;
	uint64_t done;
	uint64_t sent; /* batch producer: push_many submitted */
	int closed;
	int failed;
};

/* Wait for the socket as the library asks, then let it work. */
static int
cqt_drive(cq_client *cl, struct child_res *res)
{
	struct pollfd pfd;
	int ev = cq_client_events(cl);
	cq_status st;

	pfd.fd = cq_client_fd(cl);
	pfd.events = (short)((ev & CQ_WANT_READ ? POLLIN : 0) |
	                     (ev & CQ_WANT_WRITE ? POLLOUT : 0));
	if (pfd.events != 0 && poll(&pfd, 1, -1) < 0 && errno != EINTR) {
		bench_fail(res, "poll: %s", strerror(errno));
		return -1;
	}
	st = cq_client_process(cl);
	if (st != CQ_OK) {
		bench_fail(res, "cq_client_process: %s", cq_strstatus(st));
		return -1;
	}
	return 0;
}

/* An async push completed. */
static void
cqt_push_cb(cq_status st, void *arg)
{
	struct cqt_async *a = arg;

	a->inflight--;
	a->done++;
	if (st != CQ_OK) {
		bench_fail(a->res, "async push: %s", cq_strstatus(st));
		a->failed = 1;
	}
}

/* An async pop completed: check the message (the callback owns it). */
static void
cqt_pop_cb(cq_status st, cq_msg *m, void *arg)
{
	struct cqt_async *a = arg;

	a->inflight--;
	if (st == CQ_OK) {
		a->res->t_last = bench_now();
		if (bench_check(&a->ck, cq_msg_data(m), cq_msg_len(m)) != 0)
			a->failed = 1;
		cq_msg_free(m);
	} else if (st == CQ_CLOSED) {
		a->closed = 1;
	} else {
		bench_fail(a->res, "async pop: %s", cq_strstatus(st));
		a->failed = 1;
	}
}

/* An async batch pop completed: check the messages (owned here). */
static void
cqt_pop_many_cb(cq_status st, cq_msg **msgs, size_t n, void *arg)
{
	struct cqt_async *a = arg;
	size_t i;

	a->inflight--;
	if (st == CQ_OK) {
		a->res->t_last = bench_now();
		for (i = 0; i < n; i++) {
			if (!a->failed &&
			    bench_check(&a->ck, cq_msg_data(msgs[i]),
			        cq_msg_len(msgs[i])) != 0)
				a->failed = 1;
			cq_msg_free(msgs[i]);
		}
	} else if (st == CQ_CLOSED) {
		a->closed = 1;
	} else {
		bench_fail(a->res, "async pop_many: %s", cq_strstatus(st));
		a->failed = 1;
	}
}

/* Stream producer in the run's flavour. */
static void
cqt_stream_produce(
    struct run *r, int idx, cq_client *cl, cq_queue *q, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint64_t n = bench_per_prod(wl, idx), i = 0, k, j;
	size_t nb = bench_fl_base(r->fl) == FL_BATCH ||
	                    bench_fl_base(r->fl) == FL_SBATCH
	                ? (size_t)r->batch
	                : 1;
	uint8_t *buf = bench_xmalloc(wl->size * nb);
	const void **bufs = bench_xmalloc(sizeof *bufs * nb);
	size_t *lens = bench_xmalloc(sizeof *lens * nb);
	struct cqt_async a;
	cq_status st;

	for (j = 0; j < nb; j++) {
		bufs[j] = buf + j * wl->size;
		lens[j] = wl->size;
	}
	memset(&a, 0, sizeof a);
	a.res = res;
	bench_barrier(r);
	res->t_first = bench_now();
	switch (bench_fl_base(r->fl)) {
	case FL_SYNC:
		for (i = 0; i < n; i++) {
			bench_fill(buf, wl->size, (uint32_t)idx, (uint32_t)i);
			st = cq_push(q, buf, wl->size, CQ_FOREVER);
			if (st != CQ_OK) {
				bench_fail(res, "push %llu: %s",
				    (unsigned long long)i, cq_strstatus(st));
				break;
			}
		}
		break;
	case FL_BATCH:
		/* Pipelined: up to cfg->batches push_many in flight; the
		 * library copies each batch at submit, so one buffer does. */
		while (!a.failed && (a.done < a.sent || i < n)) {
			while (!a.failed && i < n &&
			       a.inflight < (uint64_t)r->cfg->batches) {
				k = n - i < nb ? n - i : nb;
				for (j = 0; j < k; j++)
					bench_fill(buf + j * wl->size, wl->size,
					    (uint32_t)idx, (uint32_t)(i + j));
				st = cq_push_many_async(q,
				    (const void *const *)bufs, lens, (size_t)k,
				    0, CQ_FOREVER, cqt_push_cb, &a, NULL);
				if (st != CQ_OK) {
					bench_fail(res, "push_many_async: %s",
					    cq_strstatus(st));
					a.failed = 1;
					break;
				}
				a.inflight++;
				a.sent++;
				i += k;
			}
			if (a.failed || cqt_drive(cl, res) != 0)
				break;
		}
		break;
	case FL_SBATCH:
		while (i < n) {
			k = n - i < nb ? n - i : nb;
			for (j = 0; j < k; j++)
				bench_fill(buf + j * wl->size, wl->size,
				    (uint32_t)idx, (uint32_t)(i + j));
			st = cq_push_many(q, (const void *const *)bufs, lens,
			    (size_t)k, 0, CQ_FOREVER);
			if (st != CQ_OK) {
				bench_fail(res, "push_many at %llu: %s",
				    (unsigned long long)i, cq_strstatus(st));
				break;
			}
			i += k;
		}
		break;
	default:
		/* The library copies buf at submit, so one buffer will do. */
		while (!a.failed && (a.done < n || a.inflight > 0)) {
			while (!a.failed && i < n &&
			       a.inflight < (uint64_t)r->cfg->window) {
				bench_fill(
				    buf, wl->size, (uint32_t)idx, (uint32_t)i);
				st = cq_push_async(q, buf, wl->size, 0,
				    CQ_FOREVER, cqt_push_cb, &a, NULL);
				if (st != CQ_OK) {
					bench_fail(res, "push_async: %s",
					    cq_strstatus(st));
					a.failed = 1;
					break;
				}
				a.inflight++;
				i++;
			}
			if (a.failed || cqt_drive(cl, res) != 0)
				break;
		}
		break;
	}
	res->t_last = bench_now();
	res->count = i;
	free(lens);
	free(bufs);
	free(buf);
}

/* Stream consumer in the run's flavour: pops until closed and drained. */
static void
cqt_stream_consume(
    struct run *r, cq_client *cl, cq_queue *q, struct child_res *res)
{
	size_t nb = bench_fl_base(r->fl) == FL_BATCH ||
	                    bench_fl_base(r->fl) == FL_SBATCH
	                ? (size_t)r->batch
	                : 1,
	       k, j;
	cq_msg **msgs = bench_xmalloc(sizeof *msgs * nb);
	struct cqt_async a;
	cq_status st;
	int bad = 0;

	memset(&a, 0, sizeof a);
	a.res = res;
	bench_checker_init(&a.ck, r->wl, res);
	bench_barrier(r);
	switch (bench_fl_base(r->fl)) {
	case FL_BATCH:
		while (!a.failed && !(a.closed && a.inflight == 0)) {
			while (!a.failed && !a.closed &&
			       a.inflight < (uint64_t)r->cfg->batches) {
				st = cq_pop_many_async(q, nb, CQ_FOREVER,
				    cqt_pop_many_cb, &a, NULL);
				if (st != CQ_OK) {
					bench_fail(res, "pop_many_async: %s",
					    cq_strstatus(st));
					a.failed = 1;
					break;
				}
				a.inflight++;
			}
			if (a.failed || cqt_drive(cl, res) != 0)
				break;
		}
		break;
	case FL_SYNC:
	case FL_SBATCH:
		for (;;) {
			if (bench_fl_base(r->fl) == FL_SYNC) {
				st = cq_pop(q, &msgs[0], CQ_FOREVER);
				k = 1;
			} else
				st = cq_pop_many(q, msgs, nb, &k, CQ_FOREVER);
			if (st == CQ_CLOSED)
				break;
			if (st != CQ_OK) {
				bench_fail(res, "pop: %s", cq_strstatus(st));
				break;
			}
			res->t_last = bench_now();
			for (j = 0; j < k; j++) {
				if (!bad &&
				    bench_check(&a.ck, cq_msg_data(msgs[j]),
				        cq_msg_len(msgs[j])) != 0)
					bad = 1;
				cq_msg_free(msgs[j]);
			}
			if (bad)
				break;
		}
		break;
	default:
		while (!a.failed && !(a.closed && a.inflight == 0)) {
			while (!a.failed && !a.closed &&
			       a.inflight < (uint64_t)r->cfg->window) {
				st = cq_pop_async(
				    q, CQ_FOREVER, cqt_pop_cb, &a, NULL);
				if (st != CQ_OK) {
					bench_fail(res, "pop_async: %s",
					    cq_strstatus(st));
					a.failed = 1;
					break;
				}
				a.inflight++;
			}
			if (a.failed || cqt_drive(cl, res) != 0)
				break;
		}
		break;
	}
	free(msgs);
}

/* Ping-pong client: push a request, pop the reply, time the round trip. */
static void
cqt_pp_client(struct run *r, cq_queue **q, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint8_t *buf = bench_xmalloc(wl->size);
	uint64_t *lat = bench_xmalloc(sizeof *lat * (wl->n + 1)), i, t0;
	cq_msg *m;
	cq_status st;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		bench_fill(buf, wl->size, 0, (uint32_t)i);
		t0 = bench_now();
		if ((st = cq_push(q[0], buf, wl->size, CQ_FOREVER)) != CQ_OK ||
		    (st = cq_pop(q[1], &m, CQ_FOREVER)) != CQ_OK) {
			bench_fail(res, "round trip %llu: %s",
			    (unsigned long long)i, cq_strstatus(st));
			break;
		}
		if (i >= wl->warm)
			lat[i - wl->warm] = bench_now() - t0;
		if (cq_msg_len(m) != wl->size ||
		    memcmp(cq_msg_data(m), buf, wl->size) != 0) {
			bench_fail(res, "round trip %llu: wrong reply",
			    (unsigned long long)i);
			cq_msg_free(m);
			break;
		}
		cq_msg_free(m);
	}
	res->count = i;
	if (res->ok)
		bench_lat_pct(lat, wl->n, res->lat);
	free(lat);
	free(buf);
}

/* Ping-pong server: pop a request, check it, push it back as the reply. */
static void
cqt_pp_server(struct run *r, cq_queue **q, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint8_t *want = bench_xmalloc(wl->size);
	uint64_t i;
	cq_msg *m;
	cq_status st;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		if ((st = cq_pop(q[0], &m, CQ_FOREVER)) != CQ_OK) {
			bench_fail(res, "server pop %llu: %s",
			    (unsigned long long)i, cq_strstatus(st));
			break;
		}
		bench_fill(want, wl->size, 0, (uint32_t)i);
		if (cq_msg_len(m) != wl->size ||
		    memcmp(cq_msg_data(m), want, wl->size) != 0) {
			bench_fail(res, "server: request %llu wrong",
			    (unsigned long long)i);
			cq_msg_free(m);
			break;
		}
		st = cq_push(q[1], cq_msg_data(m), cq_msg_len(m), CQ_FOREVER);
		cq_msg_free(m);
		if (st != CQ_OK) {
			bench_fail(res, "server push %llu: %s",
			    (unsigned long long)i, cq_strstatus(st));
			break;
		}
	}
	res->count = i;
	free(want);
}

/* Child: producer or ping-pong client. */
static void
cqt_produce(struct run *r, int idx, struct child_res *res)
{
	cq_client *cl = NULL;
	cq_queue *q[2] = {NULL, NULL};

	if (cqt_open(r, res, &cl, q) != 0) {
		bench_barrier(r);
	} else if (r->wl->kind == WL_PINGPONG)
		cqt_pp_client(r, q, res);
	else
		cqt_stream_produce(r, idx, cl, q[0], res);
	if (cl != NULL)
		cq_disconnect(cl);
}

/* Child: consumer or ping-pong server. */
static void
cqt_consume(struct run *r, int idx, struct child_res *res)
{
	cq_client *cl = NULL;
	cq_queue *q[2] = {NULL, NULL};

	if (cqt_open(r, res, &cl, q) != 0) {
		bench_barrier(r);
	} else if (r->wl->kind == WL_PINGPONG)
		cqt_pp_server(r, q, res);
	else
		cqt_stream_consume(r, cl, q[0], res);
	if (cl != NULL)
		cq_disconnect(cl);
}

/* Every producer is done: close the queue so the consumers drain and end. */
static int
cqt_finish(struct run *r, char *err, size_t errlen)
{
	struct cqt_ctx *c = r->ctx;
	cq_queue *q;
	cq_status st;

	if (r->wl->kind != WL_STREAM)
		return 0;
	if ((st = cq_open(cqt_parent, c->name[0], &q)) != CQ_OK ||
	    (st = cq_close(q)) != CQ_OK) {
		snprintf(
		    err, errlen, "close %s: %s", c->name[0], cq_strstatus(st));
		return -1;
	}
	cq_queue_free(q);
	return 0;
}

/* Delete the run's queues. */
static void
cqt_cleanup(struct run *r)
{
	struct cqt_ctx *c = r->ctx;
	int i;

	if (c == NULL)
		return;
	cqt_last_syncs = 0;
	if (cqt_durable != CQ_DURABLE_NONE && c->name[0][0] != '\0' &&
	    cqt_parent != NULL) {
		cq_queue_stat qs;
		cq_queue *q;

		if (cq_open(cqt_parent, c->name[0], &q) == CQ_OK) {
			if (cq_stat(q, &qs) == CQ_OK)
				cqt_last_syncs = qs.log_syncs;
			cq_queue_free(q);
		}
	}
	for (i = 0; i < 2; i++)
		if (c->name[i][0] != '\0' && cqt_parent != NULL)
			cq_delete(cqt_parent, c->name[i]);
	free(c);
	r->ctx = NULL;
}

const struct transport bench_conqueue = {
    .name = "conqueue",
    .flavours = 1u << FL_SYNC | 1u << FL_ASYNC | 1u << FL_BATCH |
                1u << FL_SBATCH | 1u << FL_DSYNC | 1u << FL_DBATCH |
                1u << FL_DSBATCH,
    .is_conqueue = 1,
    .prepare = cqt_prepare,
    .produce = cqt_produce,
    .consume = cqt_consume,
    .finish = cqt_finish,
    .cleanup = cqt_cleanup,
};
