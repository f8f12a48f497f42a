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

/* A ping-pong round trip over a socketpair end (arg: the fd). */
static ssize_t
base_sp_rt(void *arg, const uint8_t *req, size_t len, uint8_t *back, size_t cap)
{
	int fd = *(int *)arg;

	if (base_sp_write_full(fd, req, len) != 0 ||
	    base_sp_read_full(fd, back, len) != 0)
		return -1;
	return (ssize_t)len;
}

/* The ping-pong server's read of one request (exactly cap bytes). */
static ssize_t
base_sp_get(void *arg, uint8_t *buf, size_t cap)
{
	return base_sp_read_full(*(int *)arg, buf, cap) != 0 ? -1
	                                                     : (ssize_t)cap;
}

/* The ping-pong server's reply. */
static int
base_sp_put(void *arg, const uint8_t *buf, size_t len)
{
	return base_sp_write_full(*(int *)arg, buf, len);
}

/* Stream producer, or ping-pong client. */
static void
base_sp_produce(struct run *r, int idx, struct child_res *res)
{
	struct base_sp_ctx *c = r->ctx;
	int fd = c->fds[idx][0];

	if (r->wl->kind != WL_STREAM)
		bench_pingpong_client(r, res, r->wl->size, base_sp_rt, &fd);
	else
		bench_stream_produce(r, idx, res, base_sp_put, &fd);
}

/* Stream consumer, or ping-pong server. */
static void
base_sp_consume(struct run *r, int idx, struct child_res *res)
{
	struct base_sp_ctx *c = r->ctx;
	const struct wl *wl = r->wl;
	int fd = c->fds[idx][1];
	uint8_t *buf;
	struct checker ck;
	uint64_t i, n;

	if (wl->kind != WL_STREAM) {
		bench_pingpong_server(
		    r, res, wl->size, base_sp_get, base_sp_put, &fd);
		return;
	}
	buf = bench_xmalloc(wl->size);
	n = bench_per_prod(wl, idx);
	bench_checker_init(&ck, wl, res);
	bench_barrier(r);
	for (i = 0; i < n; i++) {
		if (base_sp_read_full(fd, buf, wl->size) != 0) {
			bench_fail(
			    res, "read: %s", errno ? strerror(errno) : "EOF");
			break;
		}
		if (bench_check(&ck, buf, wl->size) != 0)
			break;
	}
	res->t_last = bench_now();
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
