/* scale.c - cost per message against queue depth, queues and connections. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"

#define SCALE_DEEP   100000
#define SCALE_QUEUES 1000
#define SCALE_CONNS  10000

/* One measuring connection and the parent of every scale queue. */
struct scale {
	const struct bench_cfg *cfg;
	const struct bdaemon *d;
	cq_client *cl;
	uint64_t cycles;
	long rss_idle; /* VmRSS before any scale queue or connection */
	int failed;
};

/*
 * Cost of one push + pop of a 64 B message, spread round-robin over
 * qs[0..nq-1], in ns per cycle (NaN on failure). Each pop must return a
 * 64-byte message of this benchmark.
 */
static double
scale_cycle(struct scale *s, cq_queue **qs, int nq, uint64_t cycles)
{
	uint8_t buf[64];
	uint64_t i, t0;
	cq_msg *m;
	cq_status st;

	bench_fill(buf, sizeof buf, 0, 0);
	t0 = bench_now();
	for (i = 0; i < cycles; i++) {
		cq_queue *q = qs[i % (uint64_t)nq];

		if ((st = cq_push(q, buf, sizeof buf, 10000)) != CQ_OK ||
		    (st = cq_pop(q, &m, 10000)) != CQ_OK) {
			fprintf(stderr, "scale: %s: %s\n", cq_queue_name(q),
			    cq_strstatus(st));
			s->failed = 1;
			return NAN;
		}
		if (cq_msg_len(m) != sizeof buf ||
		    memcmp(cq_msg_data(m), buf, BENCH_HDR) != 0) {
			fprintf(stderr, "scale: %s: wrong message\n",
			    cq_queue_name(q));
			cq_msg_free(m);
			s->failed = 1;
			return NAN;
		}
		cq_msg_free(m);
	}
	return (double)(bench_now() - t0) / (double)cycles;
}

/* Median of n values (sorts them). */
static double
scale_median(double *v, int n)
{
	double t;
	int i, j;

	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i - 1; j >= 0 && v[j] > t; j--)
			v[j + 1] = v[j];
		v[j + 1] = t;
	}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Measure case a against case b: a warm-up of each, then the reps
 * alternating a, b, a, b so a noisy neighbour hits both alike.
 */
static void
scale_pair(struct scale *s, cq_queue **qa, int na, cq_queue **qb, int nb,
    double *va, double *vb)
{
	double a[64], b[64];
	int rep, reps = s->cfg->reps < 64 ? s->cfg->reps : 64;

	scale_cycle(s, qa, na, s->cycles / 4);
	scale_cycle(s, qb, nb, s->cycles / 4);
	for (rep = 0; rep < reps; rep++) {
		a[rep] = scale_cycle(s, qa, na, s->cycles);
		b[rep] = scale_cycle(s, qb, nb, s->cycles);
	}
	*va = scale_median(a, reps);
	*vb = scale_median(b, reps);
}

/* Print one ratio against the 1.2x target. */
static void
scale_report(
    const char *what, const char *a, double va, const char *b, double vb)
{
	double ratio = vb / va;

	printf("scale   %-30s %s %.2f us/msg, %s %.2f us/msg: %.2fx (want "
	       "<= 1.20x)  %s\n",
	    what, a, va / 1000, b, vb / 1000, ratio,
	    isnan(ratio)   ? "NOT MEASURED"
	    : ratio <= 1.2 ? "MET"
	                   : "MISSED");
}

/* Create a queue and open it on the measuring connection. */
static cq_queue *
scale_queue(struct scale *s, const char *name, uint32_t capacity)
{
	cq_queue_attr attr;
	cq_queue *q = NULL;
	cq_status st;

	memset(&attr, 0, sizeof attr);
	attr.capacity = capacity;
	attr.max_size = 64;
	attr.mode = 0600;
	if ((st = cq_create_bounded(
	         s->cl, name, &attr, 0, cqt_slot_bytes(&attr))) != CQ_OK ||
	    (st = cq_open(s->cl, name, &q)) != CQ_OK) {
		fprintf(stderr, "scale: create %s: %s (%s)\n", name,
		    cq_strstatus(st), cq_client_error(s->cl));
		s->failed = 1;
		return NULL;
	}
	return q;
}

/* Depth: push+pop on a queue holding 100,000 messages vs an empty one. */
static void
scale_depth(struct scale *s)
{
	const void *bufs[1000];
	size_t lens[1000];
	uint8_t buf[64];
	cq_queue *e, *d;
	cq_status st;
	double ve, vd;
	int i;

	e = scale_queue(s, "scale.empty", 1024);
	d = scale_queue(s, "scale.deep", 2 * SCALE_DEEP);
	if (e == NULL || d == NULL)
		goto out;
	bench_fill(buf, sizeof buf, 0, 0);
	for (i = 0; i < 1000; i++) {
		bufs[i] = buf;
		lens[i] = sizeof buf;
	}
	for (i = 0; i < SCALE_DEEP / 1000; i++) {
		if ((st = cq_push_many(d, bufs, lens, 1000, 0, 10000)) !=
		    CQ_OK) {
			fprintf(
			    stderr, "scale: prefill: %s\n", cq_strstatus(st));
			s->failed = 1;
			goto out;
		}
	}
	scale_pair(s, &e, 1, &d, 1, &ve, &vd);
	scale_report("depth 100000 vs empty", "empty", ve, "deep", vd);
out:
	cq_delete(s->cl, "scale.empty");
	cq_delete(s->cl, "scale.deep");
}

/* Queues: push+pop round-robin over 1,000 queues vs all on one. */
static void
scale_queues(struct scale *s)
{
	cq_queue **qs = bench_xmalloc(sizeof *qs * SCALE_QUEUES);
	char name[64];
	double v1, vn;
	int i, n = 0;

	for (i = 0; i < SCALE_QUEUES; i++) {
		snprintf(name, sizeof name, "scale.q.%d", i);
		if ((qs[i] = scale_queue(s, name, 64)) == NULL)
			goto out;
		n++;
	}
	scale_pair(s, qs, 1, qs, SCALE_QUEUES, &v1, &vn);
	scale_report("1000 queues vs 1 queue", "1", v1, "1000", vn);
out:
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "scale.q.%d", i);
		cq_delete(s->cl, name);
	}
	free(qs);
}

/*
 * Wait (bounded poll, 10 s) until the daemon counts at most want
 * connections: closes are processed asynchronously after cq_disconnect.
 */
static int
scale_settle(struct scale *s, uint32_t want)
{
	cq_daemon_info info;
	uint64_t end = bench_now() + 10000000000u;

	while (bench_now() < end) {
		if (cq_info(s->cl, &info) != CQ_OK)
			break;
		if (info.connections <= want)
			return 0;
		usleep(1000);
	}
	fprintf(
	    stderr, "scale: the daemon did not drop to %u connections\n", want);
	s->failed = 1;
	return -1;
}

/* Connections: push+pop with 10 vs 10,000 idle connections open. */
static void
scale_conns(struct scale *s)
{
	cq_client **idle = bench_xmalloc(sizeof *idle * SCALE_CONNS);
	cq_queue *q;
	cq_status st = CQ_OK;
	long rss10 = 0, rss1 = 0;
	double v10[64], vn[64];
	cq_daemon_info info;
	uint32_t base;
	int i, n = 0, rep, reps = s->cfg->reps < 64 ? s->cfg->reps : 64;

	if ((q = scale_queue(s, "scale.conn", 1024)) == NULL)
		goto out;
	if (cq_info(s->cl, &info) != CQ_OK) {
		fprintf(stderr, "scale: cq_info failed\n");
		s->failed = 1;
		goto out;
	}
	base = info.connections;
	for (; n < 10; n++)
		if ((st = cq_connect(&idle[n], s->d->sock)) != CQ_OK)
			goto fail;
	scale_cycle(s, &q, 1, s->cycles / 4);
	/*
	 * Alternate 10 and 10,000 open connections every repetition (open
	 * 9,990, measure, close them again), so drift on a shared machine
	 * hits both cases alike.
	 */
	for (rep = 0; rep < reps; rep++) {
		/* RSS from the first round: freed heap is not given back. */
		if (rep == 0)
			rss10 = bdaemon_status_kb(s->d->pid, "VmRSS");
		v10[rep] = scale_cycle(s, &q, 1, s->cycles);
		for (; n < SCALE_CONNS; n++)
			if ((st = cq_connect(&idle[n], s->d->sock)) != CQ_OK)
				goto fail;
		/* Every connection did a handshake: the daemon holds them. */
		if (rep == 0)
			rss1 = bdaemon_status_kb(s->d->pid, "VmRSS");
		vn[rep] = scale_cycle(s, &q, 1, s->cycles);
		for (; n > 10; n--)
			cq_disconnect(idle[n - 1]);
		/* Measure 10 only once the daemon has closed the others. */
		if (scale_settle(s, base + 10) != 0)
			break;
	}
	scale_report("10000 vs 10 idle connections", "10",
	    scale_median(v10, reps), "10000", scale_median(vn, reps));
	printf("scale   daemon RSS idle %ld kB; %.2f kB per idle connection "
	       "(VmRSS with 10 and %d connections: %ld, %ld kB)\n",
	    s->rss_idle, (double)(rss1 - rss10) / (SCALE_CONNS - 10),
	    SCALE_CONNS, rss10, rss1);
	goto out;
fail:
	fprintf(stderr, "scale: connection %d: %s (%s)\n", n, cq_strstatus(st),
	    "raise RLIMIT_NOFILE or the daemon's max_connections");
	printf("scale   10000 vs 10 idle connections: FAILED at %d\n", n);
	s->failed = 1;
out:
	for (i = 0; i < n; i++)
		cq_disconnect(idle[i]);
	cq_delete(s->cl, "scale.conn");
	free(idle);
}

/* Run the three scale checks on the running daemon d. */
int
scale_run(const struct bench_cfg *cfg, const struct bdaemon *d)
{
	struct scale s;
	cq_status st;

	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	s.d = d;
	s.cycles = cfg->quick ? 2000 : 20000;
	s.rss_idle = bdaemon_status_kb(d->pid, "VmRSS");
	/* These measure the daemon's costs: keep every handle on the socket. */
	setenv("CONQUEUE_DIRECT", "0", 1);
	if ((st = cq_connect(&s.cl, d->sock)) != CQ_OK) {
		fprintf(stderr, "scale: connect: %s\n", cq_strstatus(st));
		return 1;
	}
	printf("\nscale checks: sync push+pop cycles of 64 B on one "
	       "connection, %llu per rep, median of %d\n",
	    (unsigned long long)s.cycles, cfg->reps);
	fflush(stdout);
	scale_depth(&s);
	fflush(stdout);
	scale_queues(&s);
	fflush(stdout);
	scale_conns(&s);
	fflush(stdout);
	s.failed |= memory_run(cfg, d, s.cl);
	cq_disconnect(s.cl);
	return s.failed;
}
