/* run.c - one run of a workload: fork the processes, barrier, verify. */

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

struct bdaemon run_daemon; /* the private conqueued of this program */
int run_have_daemon;

/* Stop everything we started when interrupted (sysctls, daemon). */
void
run_on_signal(int sig)
{
	base_mq_restore();
	if (run_daemon.pid > 0) {
		kill(run_daemon.pid, SIGKILL);
		/* Not async-signal-safe, but we are on the way out anyway. */
		bdaemon_cleanup(&run_daemon);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Kill and reap every child of a failed run. */
static void
run_kill_all(pid_t *pids, int n)
{
	int i, st;

	for (i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st, 0);
			pids[i] = -1;
		}
	}
}

/* Fork one child of a run: it does its part and sends a child_res. */
static pid_t
run_fork_child(struct run *r, const struct transport *tr, int role, int idx,
    int *closefds, int nclose, int resfd)
{
	struct child_res res;
	pid_t pid;
	int i;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	/* A stuck child must never outlive the run or the parent. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm((unsigned)r->cfg->timeout_s + 30);
	for (i = 0; i < nclose; i++)
		close(closefds[i]);
	memset(&res, 0, sizeof res);
	res.role = role;
	res.idx = idx;
	res.ok = 1;
	if (role == 0)
		tr->produce(r, idx, &res);
	else
		tr->consume(r, idx, &res);
	if (write(resfd, &res, sizeof res) != (ssize_t)sizeof res)
		_exit(2);
	_exit(0);
}

/* Read one child_res with a deadline: 1 read, 0 EOF, -1 timed out. */
static int
run_read_res(int fd, struct child_res *res, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t n;
	uint64_t now;
	int rc;

	while (got < sizeof *res) {
		now = bench_now();
		if (now >= deadline)
			return -1;
		rc = poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		n = read(fd, (char *)res + got, sizeof *res - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* Check the consumers' counts and sums against what the producers sent. */
static int
run_verify(const struct wl *wl, struct child_res *cons, int ncons, char *err,
    size_t errlen)
{
	uint64_t cnt, sum, sq, n, want_sum, want_sq;
	int p, i;

	for (p = 0; p < wl->nprod; p++) {
		cnt = sum = sq = 0;
		for (i = 0; i < ncons; i++) {
			cnt += cons[i].cnt[p];
			sum += cons[i].sum[p];
			sq += cons[i].sq[p];
		}
		n = bench_per_prod(wl, p);
		want_sum = n * (n - 1) / 2;
		want_sq = n == 0 ? 0 : (n - 1) * n * (2 * n - 1) / 6;
		if (cnt != n || sum != want_sum || sq != want_sq) {
			snprintf(err, errlen,
			    "producer %d: %llu of %llu messages arrived "
			    "(lost or duplicated)",
			    p, (unsigned long long)cnt, (unsigned long long)n);
			return -1;
		}
	}
	return 0;
}

/*
 * Run workload wl over transport tr in flavour fl once: fork the
 * processes, release them together at the barrier, collect and verify
 * their reports within the time bound.
 */
void
run_one(const struct bench_cfg *cfg, const struct transport *tr,
    const struct wl *wl, enum flavour fl, struct result *out)
{
	struct run r;
	int ready[2] = {-1, -1}, go[2] = {-1, -1}, rp[2] = {-1, -1};
	int nchild = wl->nprod + wl->ncons, i, got, nprod_done = 0, rc;
	int closefds[3];
	pid_t pids[2 * BENCH_MAXPROC];
	struct child_res res, cons[BENCH_MAXPROC], prod_res[BENCH_MAXPROC];
	uint64_t deadline, t_first = UINT64_MAX, t_last = 0;
	double cpu0 = 0, cpu1;
	char c;
	int ncons_got = 0;

	memset(out, 0, sizeof *out);
	out->value = NAN;
	memset(&r, 0, sizeof r);
	r.wl = wl;
	r.fl = fl;
	r.cfg = cfg;
	r.batch = cfg->batch;
	if ((size_t)r.batch * wl->size > 2u * 1024 * 1024)
		r.batch = (int)(2u * 1024 * 1024 / wl->size);
	if (r.batch < 1)
		r.batch = 1;
	for (i = 0; i < nchild; i++)
		pids[i] = -1;

	if (tr->not_built != NULL) {
		out->skipped = 1;
		snprintf(out->err, sizeof out->err, "%s", tr->not_built);
		return;
	}
	if (tr->is_conqueue && !bdaemon_alive(&run_daemon)) {
		snprintf(out->err, sizeof out->err,
		    "daemon not running "
		    "(see %s)",
		    run_daemon.log);
		return;
	}
	if ((rc = tr->prepare(&r, out->err, sizeof out->err)) != 0) {
		out->skipped = rc > 0;
		goto done;
	}
	if (pipe(ready) != 0 || pipe(go) != 0 || pipe(rp) != 0) {
		snprintf(
		    out->err, sizeof out->err, "pipe: %s", strerror(errno));
		goto done;
	}
	closefds[0] = ready[0];
	closefds[1] = go[1];
	closefds[2] = rp[0];
	r.ready_fd = ready[1];
	r.go_fd = go[0];
	for (i = 0; i < nchild; i++) {
		int role = i < wl->nprod ? 0 : 1;
		int idx = role == 0 ? i : i - wl->nprod;

		pids[i] = run_fork_child(&r, tr, role, idx, closefds, 3, rp[1]);
		if (pids[i] < 0) {
			snprintf(out->err, sizeof out->err, "fork: %s",
			    strerror(errno));
			run_kill_all(pids, nchild);
			goto done;
		}
	}
	close(ready[1]);
	ready[1] = -1;
	close(go[0]);
	go[0] = -1;
	close(rp[1]);
	rp[1] = -1;

	/* Barrier: every child set up (or failed: EOF), then release them. */
	deadline = bench_now() + (uint64_t)cfg->timeout_s * 1000000000u;
	for (got = 0; got < nchild;) {
		struct pollfd pfd = {.fd = ready[0], .events = POLLIN};

		if (bench_now() >= deadline || poll(&pfd, 1, 1000) < 0 ||
		    ((pfd.revents & (POLLIN | POLLHUP)) &&
		        read(ready[0], &c, 1) <= 0))
			break;
		if (pfd.revents & POLLIN)
			got++;
	}
	if (got < nchild) {
		snprintf(out->err, sizeof out->err,
		    "only %d of %d processes got ready", got, nchild);
		run_kill_all(pids, nchild);
		goto done;
	}
	if (tr->is_conqueue)
		cpu0 = bdaemon_cpu_s(run_daemon.pid);
	close(go[1]);
	go[1] = -1;

	deadline = bench_now() + (uint64_t)cfg->timeout_s * 1000000000u;
	for (got = 0; got < nchild; got++) {
		rc = run_read_res(rp[0], &res, deadline);
		if (rc < 0) {
			snprintf(out->err, sizeof out->err,
			    "timed out after %d s (%d of %d processes done)",
			    cfg->timeout_s, got, nchild);
			break;
		}
		if (rc == 0) {
			snprintf(out->err, sizeof out->err,
			    "a process died without a report");
			break;
		}
		if (!res.ok) {
			snprintf(out->err, sizeof out->err, "%s %d: %s",
			    res.role == 0 ? "producer" : "consumer", res.idx,
			    res.err);
			break;
		}
		if (res.role == 0) {
			prod_res[nprod_done++] = res;
			if (res.t_first < t_first)
				t_first = res.t_first;
			if (wl->kind == WL_STREAM && nprod_done == wl->nprod &&
			    tr->finish(&r, out->err, sizeof out->err) != 0)
				break;
		} else {
			cons[ncons_got++] = res;
			if (res.t_last > t_last)
				t_last = res.t_last;
		}
	}
	if (got < nchild) {
		run_kill_all(pids, nchild);
		goto done;
	}
	for (i = 0; i < nchild; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		pids[i] = -1;
	}
	if (tr->is_conqueue) {
		cpu1 = bdaemon_cpu_s(run_daemon.pid);
		out->dcpu_s =
		    cpu1 >= 0 && cpu0 >= 0 ? cpu1 - cpu0 : (double)NAN;
	}
	if (wl->kind == WL_PINGPONG) {
		for (i = 0; i < 3; i++)
			out->lat[i] = (double)prod_res[0].lat[i] / 1000.0;
		out->value = out->lat[0];
		out->ok = 1;
		goto done;
	}
	if (run_verify(wl, cons, ncons_got, out->err, sizeof out->err) != 0)
		goto done;
	if (t_last <= t_first) {
		snprintf(out->err, sizeof out->err, "no time elapsed");
		goto done;
	}
	out->value = (double)wl->n * 1e9 / (double)(t_last - t_first);
	out->ok = 1;
done:
	tr->cleanup(&r);
	for (i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
		if (rp[i] >= 0)
			close(rp[i]);
	}
}
