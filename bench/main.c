/* main.c - conqueue-bench: DESIGN 6 workloads against same-run baselines. */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define MAX_REPS 31
#define MAX_CFGS 8
#define MAX_WLS  8

/* The outcome of one run. */
struct result {
	int ok;
	int skipped; /* not applicable here (err says why): not a failure */
	char err[256];
	double value;  /* msg/s (stream) or p50 us (ping-pong) */
	double lat[3]; /* p50, p99, p99.9 us (ping-pong) */
	double dcpu_s; /* daemon CPU during the run */
};

/* One transport + flavour measured on a workload. */
struct bcfg {
	const struct transport *tr;
	enum flavour fl;
};

static const char *fl_names[FL_COUNT] = {
    "-", "sync", "async", "batch", "sbatch"};

static struct bdaemon bench_d;
static int bench_have_daemon;

/* Stop everything we started when interrupted (sysctls, daemon). */
static void
main_on_signal(int sig)
{
	base_mq_restore();
	if (bench_d.pid > 0) {
		kill(bench_d.pid, SIGKILL);
		/* Not async-signal-safe, but we are on the way out anyway. */
		bdaemon_cleanup(&bench_d);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Print usage. */
static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: conqueue-bench [options]\n"
	    "  -r, --reps N          repetitions per figure, median shown "
	    "(default 3)\n"
	    "  -w, --workloads LIST  A-64,A-4K,B-64,C-64 (default all)\n"
	    "  -f, --flavours LIST   sync,async,batch,sbatch for conqueue "
	    "(default all)\n"
	    "  -S, --systems LIST    conqueue,socketpair,mq,relay (default "
	    "all)\n"
	    "  -q, --quick           fewer messages (for tests)\n"
	    "      --sizes FILE      also sweep A over 64 B..64 KiB, data to "
	    "FILE\n"
	    "      --scale           cost per message vs depth, queues, "
	    "connections\n"
	    "      --instructions    daemon instructions per message "
	    "(callgrind)\n"
	    "      --window N        async ops in flight (default 128)\n"
	    "      --batch N         messages per batch call (default 64)\n"
	    "      --batches N       batch: batches in flight (default 4)\n"
	    "  -t, --timeout SEC     bound of one run (default 120)\n"
	    "  -d, --daemon PATH     conqueued ($CONQUEUED, else ./conqueued)\n"
	    "  -v, --verbose         print every run\n"
	    "  -h, --help\n");
}

/* 1 if word is in the comma-separated list (NULL list: everything). */
static int
main_in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	if (list == NULL)
		return 1;
	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}

/* Kill and reap every child of a failed run. */
static void
main_kill_all(pid_t *pids, int n)
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
main_fork_child(struct run *r, const struct transport *tr, int role, int idx,
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
main_read_res(int fd, struct child_res *res, uint64_t deadline)
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
main_verify(const struct wl *wl, struct child_res *cons, int ncons, char *err,
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
static void
main_run_one(const struct bench_cfg *cfg, const struct transport *tr,
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

	if (tr->is_conqueue && !bdaemon_alive(&bench_d)) {
		snprintf(out->err, sizeof out->err,
		    "daemon not running "
		    "(see %s)",
		    bench_d.log);
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

		pids[i] =
		    main_fork_child(&r, tr, role, idx, closefds, 3, rp[1]);
		if (pids[i] < 0) {
			snprintf(out->err, sizeof out->err, "fork: %s",
			    strerror(errno));
			main_kill_all(pids, nchild);
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
		main_kill_all(pids, nchild);
		goto done;
	}
	if (tr->is_conqueue)
		cpu0 = bdaemon_cpu_s(bench_d.pid);
	close(go[1]);
	go[1] = -1;

	deadline = bench_now() + (uint64_t)cfg->timeout_s * 1000000000u;
	for (got = 0; got < nchild; got++) {
		rc = main_read_res(rp[0], &res, deadline);
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
		main_kill_all(pids, nchild);
		goto done;
	}
	for (i = 0; i < nchild; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		pids[i] = -1;
	}
	if (tr->is_conqueue) {
		cpu1 = bdaemon_cpu_s(bench_d.pid);
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
	if (main_verify(wl, cons, ncons_got, out->err, sizeof out->err) != 0)
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

/* Compare doubles for qsort (NaN last). */
static int
main_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (isnan(x))
		return isnan(y) ? 0 : 1;
	if (isnan(y))
		return -1;
	return x < y ? -1 : x > y;
}

/* Median of the successful values; NaN if any run failed. */
static double
main_median(const struct result *rs, int n, int field)
{
	double v[MAX_REPS];
	int i;

	for (i = 0; i < n; i++) {
		if (!rs[i].ok)
			return NAN;
		v[i] = field < 0   ? rs[i].value
		       : field < 3 ? rs[i].lat[field]
		                   : rs[i].dcpu_s;
	}
	qsort(v, (size_t)n, sizeof v[0], main_cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Smallest and largest successful value (the spread of the reps). */
static void
main_range(const struct result *rs, int n, double *lo, double *hi)
{
	int i;

	*lo = INFINITY;
	*hi = -INFINITY;
	for (i = 0; i < n; i++) {
		if (!rs[i].ok)
			continue;
		if (rs[i].value < *lo)
			*lo = rs[i].value;
		if (rs[i].value > *hi)
			*hi = rs[i].value;
	}
}

/* The configurations measured on workload wl. */
static int
main_cfgs(const struct wl *wl, const char *systems, const char *flavours,
    struct bcfg *out)
{
	int n = 0, f;

	if (main_in_list(systems, "socketpair") &&
	    (wl->kind == WL_PINGPONG || wl->nprod <= BENCH_MAXPROC))
		out[n++] = (struct bcfg){&bench_sockpair, FL_PLAIN};
	if (main_in_list(systems, "mq"))
		out[n++] = (struct bcfg){&bench_mq, FL_PLAIN};
	/* The hops of a broker with no work in it: ping-pong only. */
	if (main_in_list(systems, "relay") && wl->kind == WL_PINGPONG)
		out[n++] = (struct bcfg){&bench_relay, FL_PLAIN};
	if (!main_in_list(systems, "conqueue"))
		return n;
	for (f = FL_SYNC; f < FL_COUNT; f++) {
		/* Ping-pong has one message in flight: only sync applies. */
		if (wl->kind == WL_PINGPONG && f != FL_SYNC)
			continue;
		if (main_in_list(flavours, fl_names[f]))
			out[n++] =
			    (struct bcfg){&bench_conqueue, (enum flavour)f};
	}
	return n;
}

/* Print a message count or rate compactly. */
static void
main_fmt(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "FAILED");
	else
		snprintf(buf, len, "%.0f", v);
}

/* Median of configuration ci on workload wi, NaN if absent. */
static double
main_fig(struct result (*res)[MAX_CFGS][MAX_REPS],
    struct bcfg (*cfgs)[MAX_CFGS], int *ncfg, int reps, int wi,
    const struct transport *tr, enum flavour fl, int field)
{
	int ci;

	for (ci = 0; ci < ncfg[wi]; ci++)
		if (cfgs[wi][ci].tr == tr && cfgs[wi][ci].fl == fl)
			return main_median(res[wi][ci], reps, field);
	return NAN;
}

/* Index of the workload called name, or -1. */
static int
main_wl_index(const struct wl *wls, int nwl, const char *name)
{
	int i;

	for (i = 0; i < nwl; i++)
		if (strcmp(wls[i].name, name) == 0)
			return i;
	return -1;
}

/* Print a ratio column, "-" when either side is missing or failed. */
static void
main_ratio(double r)
{
	if (isnan(r))
		printf(" %8s", "-");
	else
		printf(" %7.2fx", r);
}

/* Print one target line. */
static void
main_target(
    const char *what, double ratio, double want, int higher, const char *unit)
{
	const char *verdict;

	if (isnan(ratio))
		verdict = "NOT MEASURED";
	else if (higher ? ratio >= want : ratio <= want)
		verdict = "MET";
	else
		verdict = "MISSED";
	if (isnan(ratio))
		printf("target  %-44s %8s%-3s (want %s %.2f%s)  %s\n", what,
		    "-", "", higher ? ">=" : "<=", want, unit, verdict);
	else
		printf("target  %-44s %8.2f%-3s (want %s %.2f%s)  %s\n", what,
		    ratio, unit, higher ? ">=" : "<=", want, unit, verdict);
}

/* Run the DESIGN 6 workloads, print the table, ratios and targets. */
static int
main_workloads(const struct bench_cfg *cfg, const char *wlist,
    const char *systems, const char *flavours)
{
	static struct result res[MAX_WLS][MAX_CFGS][MAX_REPS];
	struct bcfg cfgs[MAX_WLS][MAX_CFGS];
	struct wl all[4], wls[4];
	int ncfg[MAX_WLS], nwl = 0, wi, ci, rep, failed = 0;
	uint64_t ns = cfg->quick ? 20000 : 200000;
	char v1[32], v2[32];
	double mq, sp, m, lo, hi, dc;

	all[0] = (struct wl){"A-64", WL_STREAM, 1, 1, 64, ns, 0};
	all[1] = (struct wl){"A-4K", WL_STREAM, 1, 1, 4096, ns, 0};
	all[2] = (struct wl){"B-64", WL_PINGPONG, 1, 1, 64,
	    cfg->quick ? 2000 : 20000, cfg->quick ? 100 : 1000};
	all[3] = (struct wl){"C-64", WL_STREAM, 4, 4, 64, ns, 0};
	for (wi = 0; wi < 4; wi++)
		if (main_in_list(wlist, all[wi].name))
			wls[nwl++] = all[wi];
	for (wi = 0; wi < nwl; wi++)
		ncfg[wi] = main_cfgs(&wls[wi], systems, flavours, cfgs[wi]);

	/* Reps outermost: drift of a noisy machine spreads over everything. */
	for (rep = 0; rep < cfg->reps; rep++) {
		for (wi = 0; wi < nwl; wi++) {
			for (ci = 0; ci < ncfg[wi]; ci++) {
				struct result *rr = &res[wi][ci][rep];

				main_run_one(cfg, cfgs[wi][ci].tr, &wls[wi],
				    cfgs[wi][ci].fl, rr);
				if (cfg->verbose || !rr->ok)
					fprintf(stderr,
					    "run %d/%d %s %s %s: %s%.1f %s\n",
					    rep + 1, cfg->reps, wls[wi].name,
					    cfgs[wi][ci].tr->name,
					    fl_names[cfgs[wi][ci].fl],
					    rr->ok ? "" : "FAILED ", rr->value,
					    rr->ok ? "" : rr->err);
			}
		}
	}

	printf("\n%-5s %-10s %-6s %12s %-6s %8s %8s %12s  %s\n", "wload",
	    "system", "flav", "median", "unit", "vs-mq", "vs-sp", "daemon-cpu",
	    "spread(min..max)");
	for (wi = 0; wi < nwl; wi++) {
		int pp = wls[wi].kind == WL_PINGPONG;
		const char *unit = pp ? "us-p50" : "msg/s";

		mq = main_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_mq, FL_PLAIN, -1);
		sp = main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_sockpair,
		    FL_PLAIN, -1);
		for (ci = 0; ci < ncfg[wi]; ci++) {
			const struct bcfg *b = &cfgs[wi][ci];

			m = main_median(res[wi][ci], cfg->reps, -1);
			main_range(res[wi][ci], cfg->reps, &lo, &hi);
			if (res[wi][ci][0].skipped) {
				printf("%-5s %-10s %-6s %12s  %s\n",
				    wls[wi].name, b->tr->name, fl_names[b->fl],
				    "skipped", res[wi][ci][0].err);
				continue;
			}
			if (isnan(m))
				failed = 1;
			if (pp)
				snprintf(v1, sizeof v1, "%.1f", m);
			else
				main_fmt(v1, sizeof v1, m);
			printf("%-5s %-10s %-6s %12s %-6s", wls[wi].name,
			    b->tr->name, fl_names[b->fl],
			    isnan(m) ? "FAILED" : v1, unit);
			if (b->tr->is_conqueue) {
				main_ratio(m / mq);
				main_ratio(m / sp);
				dc = main_median(res[wi][ci], cfg->reps, 3);
				snprintf(v2, sizeof v2, "%.2f us/%s",
				    dc * 1e6 / (double)wls[wi].n,
				    pp ? "rt" : "msg");
				printf(" %12s", isnan(dc) ? "-" : v2);
			} else
				printf(" %8s %8s %12s", "-", "-", "-");
			if (pp)
				printf("  p99 %.1f p99.9 %.1f us",
				    main_median(res[wi][ci], cfg->reps, 1),
				    main_median(res[wi][ci], cfg->reps, 2));
			else if (!isnan(m))
				printf("  %.0f..%.0f", lo, hi);
			printf("\n");
		}
	}
	printf("(vs-mq, vs-sp: conqueue median / baseline median; higher is "
	       "better for msg/s, lower for latency)\n");
	base_mq_report(stdout);
	printf("\n");

	/* Targets of the Performance issue, each against this run. */
	wi = main_wl_index(wls, nwl, "A-64");
	if (wi >= 0) {
		mq = main_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_mq, FL_PLAIN, -1);
		main_target("batch A-64 / POSIX mq A-64",
		    main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_BATCH, -1) /
		        mq,
		    2.0, 1, "x");
		main_target("async A-64 / POSIX mq A-64",
		    main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_ASYNC, -1) /
		        mq,
		    1.0, 1, "x");
	}
	wi = main_wl_index(wls, nwl, "B-64");
	if (wi >= 0) {
		double cq = main_fig(res, cfgs, ncfg, cfg->reps, wi,
		    &bench_conqueue, FL_SYNC, -1);
		double rl = main_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_relay, FL_PLAIN, -1);

		sp = main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_sockpair,
		    FL_PLAIN, -1);
		main_target("sync B-64 p50 / socketpair B-64 p50", cq / sp, 2.5,
		    0, "x");
		/* What the hops alone cost: a broker that does nothing. */
		if (!isnan(rl) && !isnan(sp))
			printf("info    B-64 p50: relay %.2fx socketpair; "
			       "conqueue %.2fx relay\n",
			    rl / sp, cq / rl);
	}
	wi = main_wl_index(wls, nwl, "C-64");
	ci = main_wl_index(wls, nwl, "A-64");
	if (wi >= 0 && ci >= 0)
		main_target("sync C-64 (4+4) / sync A-64 (1+1)",
		    main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_SYNC, -1) /
		        main_fig(res, cfgs, ncfg, cfg->reps, ci,
		            &bench_conqueue, FL_SYNC, -1),
		    1.0, 1, "x");
	wi = main_wl_index(wls, nwl, "A-4K");
	if (wi >= 0)
		main_target("batch A-4K payload GB/s (stretch)",
		    main_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_BATCH, -1) *
		        4096 / 1e9,
		    1.5, 1, "");
	return failed;
}

/* Sweep A (1+1) over message sizes; write a data file for gnuplot. */
static int
main_sizes(
    const struct bench_cfg *cfg, const char *systems, const char *flavours)
{
	static const size_t sizes[] = {64, 256, 1024, 4096, 16384, 65536};
	struct bcfg cfgs[MAX_CFGS];
	struct result rs[MAX_REPS];
	struct wl wl;
	int ncfg, ci, si, rep, failed = 0;
	double m;
	FILE *f = NULL;

	if (cfg->plotdat != NULL && (f = fopen(cfg->plotdat, "w")) == NULL) {
		fprintf(stderr, "conqueue-bench: %s: %s\n", cfg->plotdat,
		    strerror(errno));
		return 1;
	}
	wl = (struct wl){"A-size", WL_STREAM, 1, 1, 64, 0, 0};
	ncfg = main_cfgs(&wl, systems, flavours, cfgs);
	if (f != NULL) {
		fprintf(f,
		    "# A workload (1+1, capacity 1024) by message size:"
		    " MB/s of payload, median of %d\n# size",
		    cfg->reps);
		for (ci = 0; ci < ncfg; ci++)
			fprintf(f, " %s%s%s", cfgs[ci].tr->name,
			    cfgs[ci].fl == FL_PLAIN ? "" : "-",
			    cfgs[ci].fl == FL_PLAIN ? ""
			                            : fl_names[cfgs[ci].fl]);
		fprintf(f, "\n");
	}
	printf("\nsize sweep: A (1+1), MB/s of payload, median of %d "
	       "(messages: %s)\n",
	    cfg->reps,
	    cfg->quick ? "20000, fewer above 4 KiB"
	               : "200000, bounded to 800 MiB above 4 KiB");
	printf("%-7s", "size");
	for (ci = 0; ci < ncfg; ci++) {
		char h[40];

		snprintf(h, sizeof h, "%s%s%s", cfgs[ci].tr->name,
		    cfgs[ci].fl == FL_PLAIN ? "" : "-",
		    cfgs[ci].fl == FL_PLAIN ? "" : fl_names[cfgs[ci].fl]);
		printf(" %16s", h);
	}
	printf("\n");
	for (si = 0; si < (int)(sizeof sizes / sizeof sizes[0]); si++) {
		wl.size = sizes[si];
		snprintf(wl.name, sizeof wl.name, "A-%zu", sizes[si]);
		wl.n = cfg->quick ? 20000 : 200000;
		if (wl.n * wl.size > (cfg->quick ? 80u : 800u) << 20)
			wl.n = ((cfg->quick ? 80u : 800u) << 20) / wl.size;
		printf("%-7zu", sizes[si]);
		if (f != NULL)
			fprintf(f, "%zu", sizes[si]);
		for (ci = 0; ci < ncfg; ci++) {
			for (rep = 0; rep < cfg->reps; rep++) {
				main_run_one(cfg, cfgs[ci].tr, &wl, cfgs[ci].fl,
				    &rs[rep]);
				if (!rs[rep].ok)
					fprintf(stderr, "run %s %s %s: %s %s\n",
					    wl.name, cfgs[ci].tr->name,
					    fl_names[cfgs[ci].fl],
					    rs[rep].skipped ? "skipped"
					                    : "FAILED",
					    rs[rep].err);
			}
			m = main_median(rs, cfg->reps, -1) * (double)wl.size /
			    1e6;
			if (isnan(m) && !rs[0].skipped)
				failed = 1;
			printf(" %16.1f", m);
			if (f != NULL)
				fprintf(f, " %.1f", m);
		}
		printf("\n");
		if (f != NULL)
			fprintf(f, "\n");
		fflush(stdout);
	}
	if (f != NULL)
		fclose(f);
	return failed;
}

/* Run a command, output to /dev/null; returns its exit status. */
static int
main_system(char *const argv[])
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* callgrind_control chatters on both streams. */
		if (freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Instructions ("summary:" or "totals:") of a callgrind dump, or -1. */
static double
main_cg_total(const char *path)
{
	char line[512];
	double v = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "summary:", 8) == 0 ||
		    strncmp(line, "totals:", 7) == 0) {
			v = strtod(strchr(line, ':') + 1, NULL);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Attach strace -c to the daemon for one run of each flavour: system calls
 * per message, the other half of what a message costs the daemon.
 */
static int
main_strace(struct bench_cfg *cfg, const struct wl *wl, const char *flavours)
{
	static const enum flavour fls[] = {FL_SYNC, FL_ASYNC, FL_BATCH};
	char out[300], pidarg[32], line[512], err[256], buf[4096];
	struct result rs;
	pid_t sp;
	int i, p[2], st, failed = 0;
	size_t got;
	ssize_t n;
	long calls;
	FILE *f;
	struct pollfd pfd;

	if (bdaemon_start(&bench_d, cfg->daemon, NULL, NULL) != 0 ||
	    cqt_init(bench_d.sock, err, sizeof err) != 0) {
		fprintf(
		    stderr, "conqueue-bench: cannot start %s\n", cfg->daemon);
		bdaemon_cleanup(&bench_d);
		return 1;
	}
	snprintf(pidarg, sizeof pidarg, "%ld", (long)bench_d.pid);
	snprintf(out, sizeof out, "/tmp/cqbench-strace.%ld", (long)getpid());
	printf("\ndaemon system calls per message (strace -c attached for "
	       "the run, %s 1+1, %llu messages)\n",
	    wl->name, (unsigned long long)wl->n);
	for (i = 0; i < 3; i++) {
		if (!main_in_list(flavours, fl_names[fls[i]]))
			continue;
		if (pipe(p) != 0)
			break;
		fflush(NULL);
		if ((sp = fork()) == 0) {
			dup2(p[1], 2);
			close(p[0]);
			execlp("strace", "strace", "-c", "-f", "-o", out, "-p",
			    pidarg, (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		/* strace says "attached" on stderr once it traces the pid. */
		got = 0;
		buf[0] = '\0';
		pfd.fd = p[0];
		pfd.events = POLLIN;
		while (got < sizeof buf - 1 &&
		       strstr(buf, "attached") == NULL &&
		       poll(&pfd, 1, 10000) > 0 &&
		       (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
		}
		close(p[0]);
		if (strstr(buf, "attached") == NULL) {
			printf("strace %s %-6s: strace did not attach (%s)\n",
			    wl->name, fl_names[fls[i]], buf);
			kill(sp, SIGKILL);
			waitpid(sp, &st, 0);
			failed = 1;
			break;
		}
		main_run_one(cfg, &bench_conqueue, wl, fls[i], &rs);
		kill(sp, SIGINT);
		waitpid(sp, &st, 0);
		if (!rs.ok || (f = fopen(out, "r")) == NULL) {
			printf("strace %s %-6s FAILED %s\n", wl->name,
			    fl_names[fls[i]],
			    rs.ok ? "no strace output" : rs.err);
			failed = 1;
			continue;
		}
		calls = -1;
		printf("strace %s %-6s top system calls of the daemon:\n",
		    wl->name, fl_names[fls[i]]);
		while (fgets(line, sizeof line, f) != NULL) {
			if (strstr(line, " total") != NULL)
				sscanf(line, "%*f %*f %*d %ld", &calls);
			printf("    %s", line);
		}
		fclose(f);
		unlink(out);
		if (calls >= 0)
			printf("strace %s %-6s %8.2f system calls/msg\n",
			    wl->name, fl_names[fls[i]],
			    (double)calls / (double)wl->n);
	}
	cqt_fini();
	bdaemon_cleanup(&bench_d);
	return failed;
}

/* A function's own instructions in a callgrind dump. */
struct cg_fn {
	char name[160];
	double self;
};

/* Order by self cost, largest first. */
static int
main_cmp_fn(const void *a, const void *b)
{
	const struct cg_fn *x = a, *y = b;

	return x->self < y->self ? 1 : x->self > y->self ? -1 : 0;
}

/*
 * Print the top functions of a dump by self cost, summed from the file
 * itself (callgrind_annotate 3.19 credits a dump taken after -z to main
 * alone). A cost line right after "calls=" is a callee's inclusive cost
 * and is skipped; f'2 (a recursion level) counts as f.
 */
static void
main_cg_top(const char *path, int top)
{
	static struct cg_fn fns[4096]; /* zeroed: names stay terminated */
	char line[1024], *q;
	int nfn = 0, cur = -1, skip = 0, i;
	size_t len;
	double tot = 0, v;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "fn=", 3) == 0) {
			if ((q = strchr(line + 3, '\'')) != NULL)
				*q = '\0';
			for (cur = 0; cur < nfn; cur++)
				if (strcmp(fns[cur].name, line + 3) == 0)
					break;
			if (cur == nfn && nfn < (int)nitems(fns)) {
				len = strlen(line + 3);
				if (len >= sizeof fns[nfn].name)
					len = sizeof fns[nfn].name - 1;
				memcpy(fns[nfn].name, line + 3, len);
				fns[nfn].name[len] = '\0';
				fns[nfn++].self = 0;
			}
			if (cur >= nfn)
				cur = -1;
		} else if (strncmp(line, "calls=", 6) == 0)
			skip = 1;
		else if ((line[0] >= '0' && line[0] <= '9') || line[0] == '+' ||
		         line[0] == '-') {
			if (skip) {
				skip = 0;
				continue;
			}
			if ((q = strchr(line, ' ')) == NULL || cur < 0)
				continue;
			v = strtod(q + 1, NULL);
			fns[cur].self += v;
			tot += v;
		}
	}
	fclose(f);
	qsort(fns, (size_t)nfn, sizeof fns[0], main_cmp_fn);
	for (i = 0; i < nfn && i < top; i++)
		printf("    %12.0f %5.1f%%  %s\n", fns[i].self,
		    tot > 0 ? 100 * fns[i].self / tot : 0.0, fns[i].name);
}

/*
 * Run A-64 sync and batch with the daemon under callgrind: zero its
 * counters at the barrier, dump them after the run, and divide by the
 * messages. Prints the top functions of each dump.
 */
static int
main_instructions(
    struct bench_cfg *cfg, const char *wlist, const char *flavours)
{
	static const enum flavour fls[] = {FL_SYNC, FL_ASYNC, FL_BATCH};
	char out[300], pidarg[32], dump[320];
	const char *wrap[] = {"valgrind", "--tool=callgrind", out,
	    "--dump-instr=no", "--compress-strings=no", "--compress-pos=no",
	    NULL};
	struct wl wl = {"A-64", WL_STREAM, 1, 1, 64, 0, 0};
	struct result rs;
	static char ctl[] = "callgrind_control", zopt[] = "-z", dopt[] = "-d";
	char *zero[] = {ctl, zopt, pidarg, NULL};
	char *dumpc[] = {ctl, dopt, pidarg, NULL};
	char err[256];
	int i, ndump = 0, failed = 0;
	double ir;

	wl.n = cfg->quick ? 2000 : 20000;
	/* A-64 by default; -w A-4K looks at the cost of bigger messages. */
	if (wlist != NULL && strcmp(wlist, "A-4K") == 0) {
		snprintf(wl.name, sizeof wl.name, "A-4K");
		wl.size = 4096;
	}
	cfg->timeout_s = cfg->timeout_s < 600 ? 600 : cfg->timeout_s;
	snprintf(out, sizeof out, "--callgrind-out-file=/tmp/cqbench-cg.%ld",
	    (long)getpid());
	if (bdaemon_start(&bench_d, cfg->daemon, NULL, wrap) != 0) {
		fprintf(stderr,
		    "conqueue-bench: cannot start %s under "
		    "callgrind (log %s)\n",
		    cfg->daemon, bench_d.log);
		return 1;
	}
	bench_have_daemon = 1;
	if (cqt_init(bench_d.sock, err, sizeof err) != 0) {
		fprintf(stderr, "conqueue-bench: %s\n", err);
		return 1;
	}
	snprintf(pidarg, sizeof pidarg, "%ld", (long)bench_d.pid);
	printf("daemon instructions per message (valgrind callgrind, "
	       "%s 1+1, %llu messages, counters zeroed at the barrier)\n",
	    wl.name, (unsigned long long)wl.n);
	for (i = 0; i < 3; i++) {
		if (!main_in_list(flavours, fl_names[fls[i]]))
			continue;
		/* Zero before the run: set-up and connects are not counted. */
		if (main_system(zero) != 0) {
			fprintf(stderr, "conqueue-bench: callgrind_control -z "
			                "failed\n");
			failed = 1;
			break;
		}
		main_run_one(cfg, &bench_conqueue, &wl, fls[i], &rs);
		if (main_system(dumpc) != 0) {
			fprintf(stderr, "conqueue-bench: callgrind_control -d "
			                "failed\n");
			failed = 1;
			break;
		}
		ndump++;
		snprintf(dump, sizeof dump, "/tmp/cqbench-cg.%ld.%d",
		    (long)getpid(), ndump);
		ir = main_cg_total(dump);
		if (!rs.ok || ir < 0) {
			printf("instr %s %-6s FAILED %s\n", wl.name,
			    fl_names[fls[i]],
			    rs.ok ? "no callgrind dump" : rs.err);
			failed = 1;
			continue;
		}
		printf("instr %s %-6s %10.0f instructions/msg  (%.0f msg/s "
		       "under callgrind)\n",
		    wl.name, fl_names[fls[i]], ir / (double)wl.n, rs.value);
		printf("  top daemon functions by own instructions:\n");
		fflush(stdout);
		main_cg_top(dump, 15);
		unlink(dump);
	}
	cqt_fini();
	bdaemon_cleanup(&bench_d);
	snprintf(dump, sizeof dump, "/tmp/cqbench-cg.%ld", (long)getpid());
	unlink(dump);
	return failed | main_strace(cfg, &wl, flavours);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"reps", required_argument, NULL, 'r'},
	    {"workloads", required_argument, NULL, 'w'},
	    {"flavours", required_argument, NULL, 'f'},
	    {"systems", required_argument, NULL, 'S'},
	    {"quick", no_argument, NULL, 'q'},
	    {"sizes", required_argument, NULL, 'Z'},
	    {"scale", no_argument, NULL, 'X'},
	    {"instructions", no_argument, NULL, 'I'},
	    {"window", required_argument, NULL, 'W'},
	    {"batch", required_argument, NULL, 'B'},
	    {"batches", required_argument, NULL, 'N'},
	    {"timeout", required_argument, NULL, 't'},
	    {"daemon", required_argument, NULL, 'd'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_cfg cfg;
	const char *wlist = NULL, *systems = NULL, *flavours = NULL;
	int opt, sizes = 0, scale = 0, instr = 0, failed = 0, ncpu;
	char note[256], err[256], cfgpath[300];
	struct rlimit rl;
	struct utsname un;
	cq_daemon_info info;
	double loadavg[3] = {0, 0, 0};
	FILE *f;

	memset(&cfg, 0, sizeof cfg);
	cfg.reps = 3;
	cfg.window = 128;
	cfg.batch = 64;
	cfg.batches = 4;
	cfg.timeout_s = 120;
	cfg.daemon =
	    getenv("CONQUEUED") != NULL ? getenv("CONQUEUED") : "./conqueued";
	while ((opt = getopt_long(
	            argc, argv, "r:w:f:S:qt:d:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			cfg.reps = atoi(optarg);
			break;
		case 'w':
			wlist = optarg;
			break;
		case 'f':
			flavours = optarg;
			break;
		case 'S':
			systems = optarg;
			break;
		case 'q':
			cfg.quick = 1;
			break;
		case 'Z':
			sizes = 1;
			cfg.plotdat = optarg;
			break;
		case 'X':
			scale = 1;
			break;
		case 'I':
			instr = 1;
			break;
		case 'W':
			cfg.window = atoi(optarg);
			break;
		case 'B':
			cfg.batch = atoi(optarg);
			break;
		case 'N':
			cfg.batches = atoi(optarg);
			break;
		case 't':
			cfg.timeout_s = atoi(optarg);
			break;
		case 'd':
			cfg.daemon = optarg;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 1;
		}
	}
	if (optind != argc || cfg.reps < 1 || cfg.reps > MAX_REPS ||
	    cfg.window < 1 || cfg.batch < 1 || cfg.batch > 1024 ||
	    cfg.batches < 1 || cfg.batches > 64 || cfg.timeout_s < 1) {
		main_usage(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, main_on_signal);
	signal(SIGTERM, main_on_signal);
	/* The daemon inherits this: 10,000 idle connections need the fds. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (instr)
		return main_instructions(&cfg, wlist, flavours);

	base_mq_setup(note, sizeof note);
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	uname(&un);
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &loadavg[0], &loadavg[1],
		        &loadavg[2]) != 3)
			loadavg[0] = -1;
		fclose(f);
	}
	printf("conqueue-bench %s: %s %s, %d CPUs, load %.2f %.2f %.2f "
	       "(shared machine: expect noise)\n",
	    cq_version(), un.sysname, un.release, ncpu, loadavg[0], loadavg[1],
	    loadavg[2]);
	printf("reps %d (medians), %s messages per A/C run, B %s round trips "
	       "after %s warm-up, async window %d, batch %d (%d in flight)\n",
	    cfg.reps, cfg.quick ? "20000" : "200000",
	    cfg.quick ? "2000" : "20000", cfg.quick ? "100" : "1000",
	    cfg.window, cfg.batch, cfg.batches);
	printf("%s\n", note);
	printf("socketpair: stream, one write/read per message; C-64 uses one "
	       "socketpair per producer/consumer pair (4 independent 1+1 "
	       "streams, not one shared queue)\n");

	if (main_in_list(systems, "conqueue") || scale) {
		/* Limits for the scale checks: 10,000 idle connections. */
		snprintf(cfgpath, sizeof cfgpath, "/tmp/cqbench-%ld.conf",
		    (long)getpid());
		if ((f = fopen(cfgpath, "w")) == NULL) {
			perror(cfgpath);
			return 1;
		}
		fprintf(f, "# conqueue-bench: room for the scale checks\n"
		           "max_connections = 12000\n"
		           "max_connections_per_uid = 12000\n"
		           "max_queues = 4096\nmax_queues_per_uid = 4096\n");
		fclose(f);
		if (bdaemon_start(&bench_d, cfg.daemon, cfgpath, NULL) != 0) {
			fprintf(stderr, "conqueue-bench: cannot start %s\n",
			    cfg.daemon);
			unlink(cfgpath);
			bdaemon_cleanup(&bench_d);
			base_mq_restore();
			return 1;
		}
		bench_have_daemon = 1;
		if (cqt_init(bench_d.sock, err, sizeof err) != 0) {
			unlink(cfgpath);
			fprintf(stderr, "conqueue-bench: %s\n", err);
			bdaemon_cleanup(&bench_d);
			base_mq_restore();
			return 1;
		}
		if (cqt_info(&info) == 0)
			printf("daemon: conqueued %s, pid %ld\n", info.version,
			    (long)bench_d.pid);
	}
	fflush(stdout);

	if (wlist == NULL || wlist[0] != '\0')
		failed |= main_workloads(&cfg, wlist, systems, flavours);
	if (sizes)
		failed |= main_sizes(&cfg, systems, flavours);
	if (bench_have_daemon) {
		printf("daemon: CPU %.2f s in all, peak RSS (VmHWM) %ld kB\n",
		    bdaemon_cpu_s(bench_d.pid),
		    bdaemon_status_kb(bench_d.pid, "VmHWM"));
		cqt_fini();
		if (bdaemon_stop(&bench_d) != 0) {
			printf("daemon: did not exit 0 on SIGTERM\n");
			failed = 1;
		}
		bdaemon_cleanup(&bench_d);
		/*
		 * The scale checks get a daemon of their own: the heap the
		 * workloads freed stays with the one that ran them, and would
		 * hide what idle connections cost (and its idle RSS).
		 */
		if (scale) {
			if (bdaemon_start(
			        &bench_d, cfg.daemon, cfgpath, NULL) != 0) {
				printf("scale   cannot start %s: FAILED\n",
				    cfg.daemon);
				failed = 1;
			} else {
				failed |= scale_run(&cfg, &bench_d);
				if (bdaemon_stop(&bench_d) != 0) {
					printf("daemon: did not exit 0 on "
					       "SIGTERM\n");
					failed = 1;
				}
			}
			bdaemon_cleanup(&bench_d);
		}
		unlink(cfgpath);
	}
	base_mq_restore();
	printf("result: %s\n", failed ? "SOME RUNS FAILED"
	                              : "all runs passed "
	                                "their checks");
	return failed ? 1 : 0;
}
