/*
 * base.c - the baselines every Linux host has: a socketpair, and a
 * do-nothing relay process (the hops of any broker, for B-64). POSIX mq
 * is base_mq.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

/* ---- AF_UNIX socketpair ---- */

/*
 * One stream socketpair per producer/consumer pair: a byte stream has no
 * shared-queue equivalent, so C-64 over socketpairs is 4 independent
 * 1+1 streams (an upper bound, not the same workload).
 */
struct base_sp_ctx {
	int fds[BENCH_MAXPROC][2];
	int n;
};

/* Write all of buf. */
static int
base_sp_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read exactly len bytes (a message: the stream has no boundaries). */
static int
base_sp_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t r;

	while (len > 0) {
		r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Make one socketpair per producer/consumer pair. */
static int
base_sp_prepare(struct run *r, char *err, size_t errlen)
{
	struct base_sp_ctx *c = bench_xmalloc(sizeof *c);
	int i;

	c->n = r->wl->kind == WL_PINGPONG ? 1 : r->wl->nprod;
	if (r->wl->kind == WL_STREAM && r->wl->nprod != r->wl->ncons) {
		snprintf(
		    err, errlen, "socketpair needs producers == consumers");
		free(c);
		return -1;
	}
	for (i = 0; i < c->n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->fds[i]) != 0) {
			snprintf(
			    err, errlen, "socketpair: %s", strerror(errno));
			while (--i >= 0) {
				close(c->fds[i][0]);
				close(c->fds[i][1]);
			}
			free(c);
			return -1;
		}
	}
	r->ctx = c;
	return 0;
}

/* Stream producer, or ping-pong client. */
static void
base_sp_produce(struct run *r, int idx, struct child_res *res)
{
	struct base_sp_ctx *c = r->ctx;
	const struct wl *wl = r->wl;
	int fd = c->fds[idx][0];
	uint8_t *buf = bench_xmalloc(wl->size), *back;
	uint64_t i, n, t0, *lat;

	if (wl->kind == WL_STREAM) {
		n = bench_per_prod(wl, idx);
		bench_barrier(r);
		res->t_first = bench_now();
		for (i = 0; i < n; i++) {
			bench_fill(buf, wl->size, (uint32_t)idx, (uint32_t)i);
			if (base_sp_write_full(fd, buf, wl->size) != 0) {
				bench_fail(res, "write: %s", strerror(errno));
				break;
			}
		}
		res->t_last = bench_now();
		res->count = i;
		free(buf);
		return;
	}
	back = bench_xmalloc(wl->size);
	lat = bench_xmalloc(sizeof *lat * (wl->n + 1));
	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		bench_fill(buf, wl->size, 0, (uint32_t)i);
		t0 = bench_now();
		if (base_sp_write_full(fd, buf, wl->size) != 0 ||
		    base_sp_read_full(fd, back, wl->size) != 0) {
			bench_fail(res, "round trip %llu: %s",
			    (unsigned long long)i, strerror(errno));
			break;
		}
		if (i >= wl->warm)
			lat[i - wl->warm] = bench_now() - t0;
		if (memcmp(buf, back, wl->size) != 0) {
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

/* Stream consumer, or ping-pong server. */
static void
base_sp_consume(struct run *r, int idx, struct child_res *res)
{
	struct base_sp_ctx *c = r->ctx;
	const struct wl *wl = r->wl;
	int fd = c->fds[idx][1];
	uint8_t *buf = bench_xmalloc(wl->size), *want;
	struct checker ck;
	uint64_t i, n;

	if (wl->kind == WL_STREAM) {
		n = bench_per_prod(wl, idx);
		bench_checker_init(&ck, wl, res);
		bench_barrier(r);
		for (i = 0; i < n; i++) {
			if (base_sp_read_full(fd, buf, wl->size) != 0) {
				bench_fail(res, "read: %s",
				    errno ? strerror(errno) : "EOF");
				break;
			}
			if (bench_check(&ck, buf, wl->size) != 0)
				break;
		}
		res->t_last = bench_now();
		free(buf);
		return;
	}
	want = bench_xmalloc(wl->size);
	bench_barrier(r);
	for (i = 0; i < wl->warm + wl->n; i++) {
		if (base_sp_read_full(fd, buf, wl->size) != 0) {
			bench_fail(res, "server read: %s", strerror(errno));
			break;
		}
		bench_fill(want, wl->size, 0, (uint32_t)i);
		if (memcmp(buf, want, wl->size) != 0) {
			bench_fail(res, "server: request %llu wrong",
			    (unsigned long long)i);
			break;
		}
		if (base_sp_write_full(fd, buf, wl->size) != 0) {
			bench_fail(res, "server write: %s", strerror(errno));
			break;
		}
	}
	res->count = i;
	free(want);
	free(buf);
}

/* Nothing to do: consumers know their counts. */
static int
base_sp_finish(struct run *r, char *err, size_t errlen)
{
	return 0;
}

/* Close the pairs. */
static void
base_sp_cleanup(struct run *r)
{
	struct base_sp_ctx *c = r->ctx;
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		close(c->fds[i][0]);
		close(c->fds[i][1]);
	}
	free(c);
	r->ctx = NULL;
}

const struct transport bench_sockpair = {
    .name = "socketpair",
    .flavours = 1u << FL_PLAIN,
    .prepare = base_sp_prepare,
    .produce = base_sp_produce,
    .consume = base_sp_consume,
    .finish = base_sp_finish,
    .cleanup = base_sp_cleanup,
};

/* ---- a relay process between two socketpairs (B-64 only) ---- */

/*
 * The client and the server each talk to a third process that only
 * forwards bytes: a round trip is then four one-way hops and two of them
 * wake the relay, as through any broker (conqueue needs at least these).
 * The ping-pong code of the socketpair baseline runs unchanged on it.
 */
struct base_relay_ctx {
	struct base_sp_ctx
	    sp;     /* first: base_sp_produce/base_sp_consume read fds[0] */
	int mid[2]; /* the relay's ends: towards client, server */
	pid_t pid;
};

/* The relay: copy whatever arrives on one end to the other until EOF. */
static void
base_relay_run(int a, int b)
{
	struct pollfd pfd[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
	static uint8_t buf[65536];
	ssize_t n;
	int i;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof buf);
			if (n <= 0)
				_exit(0);
			if (base_sp_write_full(pfd[1 - i].fd, buf, (size_t)n) !=
			    0)
				_exit(1);
		}
	}
}

/* Two socketpairs and the relay process between them. */
static int
base_relay_prepare(struct run *r, char *err, size_t errlen)
{
	struct base_relay_ctx *c;
	int cl[2], sv[2];

	if (r->wl->kind != WL_PINGPONG) {
		snprintf(err, errlen, "relay: ping-pong only");
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, cl) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close(cl[0]);
		close(cl[1]);
		return -1;
	}
	c = bench_xmalloc(sizeof *c);
	c->sp.n = 1;
	c->sp.fds[0][0] = cl[0]; /* the client's end */
	c->sp.fds[0][1] = sv[1]; /* the server's end */
	c->mid[0] = cl[1];
	c->mid[1] = sv[0];
	if ((c->pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(cl[0]);
		close(cl[1]);
		close(sv[0]);
		close(sv[1]);
		free(c);
		return -1;
	}
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(cl[0]);
		close(sv[1]);
		base_relay_run(cl[1], sv[0]);
	}
	r->ctx = c;
	return 0;
}

/* Stop the relay and close everything. */
static void
base_relay_cleanup(struct run *r)
{
	struct base_relay_ctx *c = r->ctx;

	if (c == NULL)
		return;
	close(c->sp.fds[0][0]);
	close(c->sp.fds[0][1]);
	close(c->mid[0]);
	close(c->mid[1]);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(c);
	r->ctx = NULL;
}

const struct transport bench_relay = {
    .name = "relay",
    .flavours = 1u << FL_PLAIN,
    .prepare = base_relay_prepare,
    .produce = base_sp_produce,
    .consume = base_sp_consume,
    .finish = base_sp_finish,
    .cleanup = base_relay_cleanup,
};
