/* base_boost.cpp - the Boost.Interprocess message_queue baseline. */

/*
 * boost::interprocess::message_queue keeps its ring in a POSIX shared
 * memory object behind a process-shared mutex and condition variables:
 * the queue users compare a shared-memory queue with. Same workloads,
 * processes and checks as the POSIX mq baseline (base_mq.c): capacity
 * 1024, message size = the workload's, consumers stop at one empty
 * sentinel each. Built only when configure finds the headers.
 */

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "bench/bench.h"

namespace bip = boost::interprocess;

namespace
{

/* The data (or request) queue and the reply queue of a run. */
struct base_boost_ctx {
	char name[2][64];
	int nq;
};

/* Create the queues of a run (the parent; children open them by name). */
int
base_boost_prepare(struct run *r, char *err, size_t errlen)
{
	base_boost_ctx *c =
	    static_cast<base_boost_ctx *>(bench_xmalloc(sizeof *c));
	int i;

	std::memset(c, 0, sizeof *c);
	r->ctx = c;
	c->nq = r->wl->kind == WL_PINGPONG ? 2 : 1;
	for (i = 0; i < c->nq; i++) {
		std::snprintf(c->name[i], sizeof c->name[i],
		    "cqbench-boost-%ld-%d", static_cast<long>(getpid()), i);
		bip::message_queue::remove(c->name[i]);
		try {
			bip::message_queue q(
			    bip::create_only, c->name[i], 1024, r->wl->size);
		} catch (const std::exception &e) {
			std::snprintf(
			    err, errlen, "create %s: %s", c->name[i], e.what());
			c->name[i][0] = '\0';
			return -1;
		}
	}
	return 0;
}

/* Stream producer. */
void
base_boost_stream_produce(struct run *r, int idx, bip::message_queue &q,
    uint8_t *buf, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint64_t i, n = bench_per_prod(wl, idx);

	bench_barrier(r);
	res->t_first = bench_now();
	for (i = 0; i < n; i++) {
		bench_fill(buf, wl->size, static_cast<uint32_t>(idx),
		    static_cast<uint32_t>(i));
		q.send(buf, wl->size, 0);
	}
	res->t_last = bench_now();
	res->count = i;
}

/* Ping-pong client: time each round trip, check each reply. */
void
base_boost_pp_client(struct run *r, bip::message_queue &req,
    bip::message_queue &rep, uint8_t *buf, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint8_t *back = static_cast<uint8_t *>(bench_xmalloc(wl->size));
	uint64_t *lat =
	    static_cast<uint64_t *>(bench_xmalloc(sizeof *lat * (wl->n + 1)));
	uint64_t i, t0;
	bip::message_queue::size_type got;
	unsigned prio;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		bench_fill(buf, wl->size, 0, static_cast<uint32_t>(i));
		t0 = bench_now();
		req.send(buf, wl->size, 0);
		rep.receive(back, wl->size, got, prio);
		if (i >= wl->warm)
			lat[i - wl->warm] = bench_now() - t0;
		if (got != wl->size || std::memcmp(buf, back, wl->size) != 0) {
			bench_fail(res, "round trip %llu: wrong reply",
			    static_cast<unsigned long long>(i));
			break;
		}
	}
	res->count = i;
	if (res->ok)
		bench_lat_pct(lat, wl->n, res->lat);
	std::free(lat);
	std::free(back);
}

/* Child: stream producer or ping-pong client. */
void
base_boost_produce(struct run *r, int idx, struct child_res *res)
{
	base_boost_ctx *c = static_cast<base_boost_ctx *>(r->ctx);
	uint8_t *buf = static_cast<uint8_t *>(bench_xmalloc(r->wl->size));
	int opened = 0;

	try {
		bip::message_queue q0(bip::open_only, c->name[0]);

		if (r->wl->kind == WL_STREAM) {
			opened = 1;
			base_boost_stream_produce(r, idx, q0, buf, res);
		} else {
			bip::message_queue q1(bip::open_only, c->name[1]);

			opened = 1;
			base_boost_pp_client(r, q0, q1, buf, res);
		}
	} catch (const std::exception &e) {
		bench_fail(res, "boost message_queue: %s", e.what());
		if (!opened)
			bench_barrier(r);
	}
	std::free(buf);
}

/* Stream consumer (stops at an empty sentinel): check every message. */
void
base_boost_stream_consume(
    struct run *r, bip::message_queue &q, uint8_t *buf, struct child_res *res)
{
	struct checker ck;
	bip::message_queue::size_type got;
	unsigned prio;

	bench_checker_init(&ck, r->wl, res);
	bench_barrier(r);
	for (;;) {
		q.receive(buf, r->wl->size, got, prio);
		if (got == 0)
			break;
		res->t_last = bench_now();
		if (bench_check(&ck, buf, got) != 0)
			break;
	}
}

/* Ping-pong server: check each request, send it back. */
void
base_boost_pp_server(struct run *r, bip::message_queue &req,
    bip::message_queue &rep, uint8_t *buf, struct child_res *res)
{
	const struct wl *wl = r->wl;
	uint8_t *want = static_cast<uint8_t *>(bench_xmalloc(wl->size));
	bip::message_queue::size_type got;
	unsigned prio;
	uint64_t i;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		req.receive(buf, wl->size, got, prio);
		bench_fill(want, wl->size, 0, static_cast<uint32_t>(i));
		if (got != wl->size || std::memcmp(buf, want, wl->size) != 0) {
			bench_fail(res, "server: request %llu wrong",
			    static_cast<unsigned long long>(i));
			break;
		}
		rep.send(buf, wl->size, 0);
	}
	res->count = i;
	std::free(want);
}

/* Child: stream consumer or ping-pong server. */
void
base_boost_consume(struct run *r, int idx, struct child_res *res)
{
	base_boost_ctx *c = static_cast<base_boost_ctx *>(r->ctx);
	uint8_t *buf = static_cast<uint8_t *>(bench_xmalloc(r->wl->size));
	int opened = 0;

	(void)idx;
	try {
		bip::message_queue q0(bip::open_only, c->name[0]);

		if (r->wl->kind == WL_STREAM) {
			opened = 1;
			base_boost_stream_consume(r, q0, buf, res);
		} else {
			bip::message_queue q1(bip::open_only, c->name[1]);

			opened = 1;
			base_boost_pp_server(r, q0, q1, buf, res);
		}
	} catch (const std::exception &e) {
		bench_fail(res, "boost message_queue: %s", e.what());
		if (!opened)
			bench_barrier(r);
	}
	std::free(buf);
}

/* Every producer is done: one empty sentinel per consumer, bounded. */
int
base_boost_finish(struct run *r, char *err, size_t errlen)
{
	base_boost_ctx *c = static_cast<base_boost_ctx *>(r->ctx);
	int i;

	if (r->wl->kind != WL_STREAM)
		return 0;
	try {
		bip::message_queue q(bip::open_only, c->name[0]);
		/* Boost's deadlines are absolute, in UTC. */
		boost::posix_time::ptime until =
		    boost::posix_time::microsec_clock::universal_time() +
		    boost::posix_time::seconds(r->cfg->timeout_s);

		for (i = 0; i < r->wl->ncons; i++) {
			if (!q.timed_send("", 0, 0, until)) {
				std::snprintf(
				    err, errlen, "boost sentinel: timed out");
				return -1;
			}
		}
	} catch (const std::exception &e) {
		std::snprintf(err, errlen, "boost sentinel: %s", e.what());
		return -1;
	}
	return 0;
}

/* Remove the queues. */
void
base_boost_cleanup(struct run *r)
{
	base_boost_ctx *c = static_cast<base_boost_ctx *>(r->ctx);
	int i;

	if (c == nullptr)
		return;
	for (i = 0; i < 2; i++)
		if (c->name[i][0] != '\0')
			bip::message_queue::remove(c->name[i]);
	std::free(c);
	r->ctx = nullptr;
}

} /* namespace */

extern "C" const struct transport bench_boost = {
    "boost",
    1u << FL_PLAIN,
    0,
    nullptr,
    base_boost_prepare,
    base_boost_produce,
    base_boost_consume,
    base_boost_finish,
    base_boost_cleanup,
};
