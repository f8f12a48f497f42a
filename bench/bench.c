/* bench.c - barrier, message layout and verification shared by transports. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

/* Names of the flavours, as options and reports spell them. */
const char *const bench_fl_names[FL_COUNT] = {
    "-", "sync", "async", "batch", "sbatch", "dsync", "dbatch", "dsbatch"};

/* 1 if fl runs on the direct path (shared memory, no daemon hop). */
int
bench_fl_direct(enum flavour fl)
{
	return fl == FL_DSYNC || fl == FL_DBATCH || fl == FL_DSBATCH;
}

/* The calling style of fl, whichever path it takes. */
enum flavour
bench_fl_base(enum flavour fl)
{
	switch (fl) {
	case FL_DSYNC:
		return FL_SYNC;
	case FL_DBATCH:
		return FL_BATCH;
	case FL_DSBATCH:
		return FL_SBATCH;
	default:
		return fl;
	}
}

/* Payload bytes after the header: the same for every message. */
static uint8_t bench_pattern[1 << 20];
static int bench_pattern_ready;

/* Fill the pattern once; any non-trivial bytes will do. */
static void
bench_pattern_init(void)
{
	size_t i;

	if (bench_pattern_ready)
		return;
	for (i = 0; i < sizeof bench_pattern; i++)
		bench_pattern[i] = (uint8_t)(i * 31 + 7);
	bench_pattern_ready = 1;
}

/* Nanoseconds on CLOCK_MONOTONIC, comparable across processes. */
uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Tell the parent this child is set up, then block until the parent closes
 * the go pipe: every process starts together and set-up is not timed.
 */
void
bench_barrier(struct run *r)
{
	char c = 'r';
	ssize_t n;

	while (write(r->ready_fd, &c, 1) < 0 && errno == EINTR)
		;
	do
		n = read(r->go_fd, &c, 1);
	while (n < 0 && errno == EINTR);
}

/*
 * Fault injection for checking the checks ($CQ_BENCH_INJECT): "dup" sends
 * sequence 5 twice instead of 6, "corrupt" flips a payload byte of 5.
 * Either must make a stream run fail.
 */
static int
bench_inject(void)
{
	static int mode = -1;
	const char *e;

	if (mode < 0) {
		e = getenv("CQ_BENCH_INJECT");
		mode = e == NULL                   ? 0
		       : strcmp(e, "dup") == 0     ? 1
		       : strcmp(e, "corrupt") == 0 ? 2
		                                   : 0;
	}
	return mode;
}

/* Put a producer id and sequence number in front of the pattern. */
void
bench_fill(uint8_t *buf, size_t size, uint32_t prod, uint32_t seq)
{
	int inject = bench_inject();

	bench_pattern_init();
	if (inject == 1 && seq == 6)
		seq = 5;
	buf[0] = (uint8_t)prod;
	buf[1] = (uint8_t)(prod >> 8);
	buf[2] = (uint8_t)(prod >> 16);
	buf[3] = (uint8_t)(prod >> 24);
	buf[4] = (uint8_t)seq;
	buf[5] = (uint8_t)(seq >> 8);
	buf[6] = (uint8_t)(seq >> 16);
	buf[7] = (uint8_t)(seq >> 24);
	if (size > BENCH_HDR)
		memcpy(buf + BENCH_HDR, bench_pattern + BENCH_HDR,
		    size - BENCH_HDR);
	if (inject == 2 && seq == 5 && size > BENCH_HDR)
		buf[size - 1] ^= 0x40;
}

/* Start verifying a consumer's messages. */
void
bench_checker_init(
    struct checker *ck, const struct wl *wl, struct child_res *res)
{
	bench_pattern_init();
	memset(ck, 0, sizeof *ck);
	ck->wl = wl;
	ck->res = res;
}

/* Messages producer prod sends in workload wl. */
uint64_t
bench_per_prod(const struct wl *wl, int prod)
{
	uint64_t base = wl->n / (uint64_t)wl->nprod;

	return base + ((uint64_t)prod < wl->n % (uint64_t)wl->nprod ? 1 : 0);
}

/*
 * Check one message: its length, a valid producer id, a sequence number
 * above the last one seen from that producer (so reordering or duplicates
 * within a consumer fail), and the payload. The parent checks the counts
 * and sums across consumers, which catches losses and cross-consumer
 * duplicates.
 */
int
bench_check(struct checker *ck, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t prod, seq;
	struct child_res *res = ck->res;

	if (len != ck->wl->size) {
		bench_fail(res, "message %llu: length %zu, expected %zu",
		    (unsigned long long)res->count, len, ck->wl->size);
		return -1;
	}
	prod = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
	seq = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
	      (uint32_t)p[7] << 24;
	if (prod >= (uint32_t)ck->wl->nprod) {
		bench_fail(res, "message %llu: producer id %u out of range",
		    (unsigned long long)res->count, prod);
		return -1;
	}
	if (seq < ck->next[prod] || seq >= bench_per_prod(ck->wl, (int)prod)) {
		bench_fail(res,
		    "producer %u: sequence %u after %llu (out of order, "
		    "duplicate or bogus)",
		    prod, seq, (unsigned long long)ck->next[prod]);
		return -1;
	}
	if (len > BENCH_HDR && memcmp(p + BENCH_HDR, bench_pattern + BENCH_HDR,
	                           len - BENCH_HDR) != 0) {
		bench_fail(
		    res, "producer %u sequence %u: payload corrupt", prod, seq);
		return -1;
	}
	ck->next[prod] = (uint64_t)seq + 1;
	res->cnt[prod]++;
	res->sum[prod] += seq;
	res->sq[prod] += (uint64_t)seq * seq;
	res->count++;
	return 0;
}

/* Record the first failure of a child. */
void
bench_fail(struct child_res *res, const char *fmt, ...)
{
	va_list ap;

	if (!res->ok)
		return;
	res->ok = 0;
	va_start(ap, fmt);
	vsnprintf(res->err, sizeof res->err, fmt, ap);
	va_end(ap);
}

/* Compare two latencies for qsort. */
static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* p50, p99 and p99.9 of n latencies (sorts them). */
int
bench_lat_pct(uint64_t *lat, size_t n, uint64_t out[3])
{
	if (n == 0)
		return -1;
	qsort(lat, n, sizeof *lat, bench_cmp_u64);
	out[0] = lat[(n - 1) * 50 / 100];
	out[1] = lat[(n - 1) * 99 / 100];
	out[2] = lat[(n - 1) * 999 / 1000];
	return 0;
}

/* malloc or exit: the benchmark cannot do anything useful without memory. */
void *
bench_xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "conqueue-bench: out of memory\n");
		exit(1);
	}
	return p;
}

/*
 * The ping-pong client every baseline runs: warm-up, then wl->n measured
 * round trips through rt (send req, read the whole reply into back, at
 * most cap bytes; its length, or -1 with errno), each reply checked byte
 * for byte; the latency percentiles go to res->lat.
 */
void
bench_pingpong_client(
    struct run *r, struct child_res *res, size_t cap, bench_rt_fn rt, void *arg)
{
	const struct wl *wl = r->wl;
	uint8_t *buf = bench_xmalloc(wl->size), *back = bench_xmalloc(cap);
	uint64_t *lat = bench_xmalloc(sizeof *lat * (wl->n + 1)), i, t0;
	ssize_t got;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		bench_fill(buf, wl->size, 0, (uint32_t)i);
		t0 = bench_now();
		if ((got = rt(arg, buf, wl->size, back, cap)) < 0) {
			bench_fail(res, "round trip %llu: %s",
			    (unsigned long long)i,
			    errno ? strerror(errno) : "EOF");
			break;
		}
		if (i >= wl->warm)
			lat[i - wl->warm] = bench_now() - t0;
		if ((size_t)got != wl->size ||
		    memcmp(buf, back, wl->size) != 0) {
			bench_fail(res, "round trip %llu: wrong reply",
			    (unsigned long long)i);
			break;
		}
	}
	res->count = i;
	if (res->ok)
		bench_lat_pct(lat, wl->n, res->lat);
	free(lat);
	free(back);
	free(buf);
}

/*
 * The ping-pong server every baseline runs: get each request (at most cap
 * bytes; its length, or -1 with errno), check it, send it back with put
 * (0, or -1 with errno).
 */
void
bench_pingpong_server(struct run *r, struct child_res *res, size_t cap,
    bench_get_fn get, bench_put_fn put, void *arg)
{
	const struct wl *wl = r->wl;
	uint8_t *buf = bench_xmalloc(cap), *want = bench_xmalloc(wl->size);
	uint64_t i;
	ssize_t got;

	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		if ((got = get(arg, buf, cap)) < 0) {
			bench_fail(res, "server: request %llu: %s",
			    (unsigned long long)i,
			    errno ? strerror(errno) : "EOF");
			break;
		}
		bench_fill(want, wl->size, 0, (uint32_t)i);
		if ((size_t)got != wl->size ||
		    memcmp(buf, want, wl->size) != 0) {
			bench_fail(res, "server: request %llu wrong",
			    (unsigned long long)i);
			break;
		}
		if (put(arg, buf, wl->size) != 0) {
			bench_fail(res, "server send: %s", strerror(errno));
			break;
		}
	}
	res->count = i;
	free(want);
	free(buf);
}

/*
 * The stream producer every baseline runs: its share of wl->n messages,
 * each filled with (idx, sequence) and sent with put (0, or -1 with
 * errno; EINTR sends again), timed from the first to the last.
 */
void
bench_stream_produce(
    struct run *r, int idx, struct child_res *res, bench_put_fn put, void *arg)
{
	const struct wl *wl = r->wl;
	uint8_t *buf = bench_xmalloc(wl->size);
	uint64_t i, n = bench_per_prod(wl, idx);

	bench_barrier(r);
	res->t_first = bench_now();
	for (i = 0; i < n; i++) {
		bench_fill(buf, wl->size, (uint32_t)idx, (uint32_t)i);
		if (put(arg, buf, wl->size) != 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			bench_fail(res, "send: %s", strerror(errno));
			break;
		}
	}
	res->t_last = bench_now();
	res->count = i;
	free(buf);
}
