/* workloads.c - the reference workloads and the size sweep. */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/direct_api.h" /* generated: BENCH_HAVE_QUEUE_DIRECT */

/* The configurations measured on workload wl. */
static int
workloads_cfgs(const struct wl *wl, const char *systems, const char *flavours,
    struct bcfg *out)
{
	int n = 0, f;

	if (options_in_list(systems, "socketpair") &&
	    (wl->kind == WL_PINGPONG || wl->nprod <= BENCH_MAXPROC))
		out[n++] = (struct bcfg){&bench_sockpair, FL_PLAIN};
	if (options_in_list(systems, "mq"))
		out[n++] = (struct bcfg){&bench_mq, FL_PLAIN};
	if (options_in_list(systems, "boost"))
		out[n++] = (struct bcfg){&bench_boost, FL_PLAIN};
	/* The hops of a broker with no work in it: ping-pong only. */
	if (options_in_list(systems, "relay") && wl->kind == WL_PINGPONG)
		out[n++] = (struct bcfg){&bench_relay, FL_PLAIN};
	if (!options_in_list(systems, "conqueue"))
		return n;
	for (f = FL_SYNC; f < FL_COUNT; f++) {
		/* Ping-pong has one message in flight: only sync applies. */
		if (wl->kind == WL_PINGPONG &&
		    bench_fl_base((enum flavour)f) != FL_SYNC)
			continue;
		if (options_in_list(flavours, bench_fl_names[f]))
			out[n++] =
			    (struct bcfg){&bench_conqueue, (enum flavour)f};
	}
	return n;
}

/* Index of the workload called name, or -1. */
static int
workloads_index(const struct wl *wls, int nwl, const char *name)
{
	int i;

	for (i = 0; i < nwl; i++)
		if (strcmp(wls[i].name, name) == 0)
			return i;
	return -1;
}

/* Median of configuration (tr, fl) on the workload called name, or NaN. */
static double
workloads_fig(struct result (*res)[BENCH_MAXCFGS][BENCH_MAXREPS],
    struct bcfg (*cfgs)[BENCH_MAXCFGS], int *ncfg, int reps,
    const struct wl *wls, int nwl, const char *name, const struct transport *tr,
    enum flavour fl)
{
	int wi = workloads_index(wls, nwl, name);

	return wi < 0 ? (double)NAN
	              : report_fig(res, cfgs, ncfg, reps, wi, tr, fl, -1);
}

/* A ratio as "1.23x", or "-" when either side is missing or failed. */
static const char *
workloads_x(char *buf, size_t len, double r)
{
	if (isnan(r))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2fx", r);
	return buf;
}

/*
 * The direct path's targets (issue 13), each a ratio to a baseline of
 * this run, and whether the direct runs were checked to be direct.
 */
static void
workloads_direct_targets(struct result (*res)[BENCH_MAXCFGS][BENCH_MAXREPS],
    struct bcfg (*cfgs)[BENCH_MAXCFGS], int *ncfg, int reps,
    const struct wl *wls, int nwl, const char *flavours)
{
#define FIG(name, tr, fl)                                                      \
	workloads_fig(res, cfgs, ncfg, reps, wls, nwl, name, tr, fl)
	const struct transport *cq = &bench_conqueue, *mq = &bench_mq;
	char v[4][16];

	if (!options_in_list(flavours, "dsync") &&
	    !options_in_list(flavours, "dbatch") &&
	    !options_in_list(flavours, "dsbatch"))
		return;
#ifdef BENCH_HAVE_QUEUE_DIRECT
	printf("direct: verified (every direct handle said cq_queue_direct, "
	       "every socket one did not)\n");
#else
	printf("direct: unverified (this build's conqueue.h has no "
	       "cq_queue_direct: the d* runs took the default path, "
	       "whichever it was)\n");
#endif
	report_target("dsync A-64 / POSIX mq A-64",
	    FIG("A-64", cq, FL_DSYNC) / FIG("A-64", mq, FL_PLAIN), 4.0, 1, "x");
	report_target("dsync A-64 / Boost mq A-64 (stretch)",
	    FIG("A-64", cq, FL_DSYNC) / FIG("A-64", &bench_boost, FL_PLAIN),
	    1.0, 1, "x");
	report_target("dsync B-64 p50 / POSIX mq B-64 p50",
	    FIG("B-64", cq, FL_DSYNC) / FIG("B-64", mq, FL_PLAIN), 1.0, 0, "x");
	report_target("dsync B-64 p50 / POSIX mq B-64 p50 (stretch)",
	    FIG("B-64", cq, FL_DSYNC) / FIG("B-64", mq, FL_PLAIN), 0.5, 0, "x");
	report_target("dsync C-64 / POSIX mq C-64",
	    FIG("C-64", cq, FL_DSYNC) / FIG("C-64", mq, FL_PLAIN), 4.0, 1, "x");
	report_target("dbatch A-64 / POSIX mq A-64",
	    FIG("A-64", cq, FL_DBATCH) / FIG("A-64", mq, FL_PLAIN), 10.0, 1,
	    "x");
	/* Same run, same calls: what skipping the daemon's hop buys. */
	printf("info    direct / socket, same run: sync A-64 %s, batch A-64 "
	       "%s, sync B-64 p50 %s, sync C-64 %s\n",
	    workloads_x(v[0], sizeof v[0],
	        FIG("A-64", cq, FL_DSYNC) / FIG("A-64", cq, FL_SYNC)),
	    workloads_x(v[1], sizeof v[1],
	        FIG("A-64", cq, FL_DBATCH) / FIG("A-64", cq, FL_BATCH)),
	    workloads_x(v[2], sizeof v[2],
	        FIG("B-64", cq, FL_DSYNC) / FIG("B-64", cq, FL_SYNC)),
	    workloads_x(v[3], sizeof v[3],
	        FIG("C-64", cq, FL_DSYNC) / FIG("C-64", cq, FL_SYNC)));
#undef FIG
}

/* Run the reference workloads, print the table, ratios and targets. */
int
workloads_run(const struct bench_cfg *cfg, const char *wlist,
    const char *systems, const char *flavours)
{
	static struct result res[BENCH_MAXWLS][BENCH_MAXCFGS][BENCH_MAXREPS];
	struct bcfg cfgs[BENCH_MAXWLS][BENCH_MAXCFGS];
	struct wl all[4], wls[4];
	int ncfg[BENCH_MAXWLS], nwl = 0, wi, ci, rep, failed = 0;
	uint64_t ns = cfg->quick ? 20000 : 200000;
	char v1[32], v2[32];
	double mq, sp, m, lo, hi, dc;

	all[0] = (struct wl){"A-64", WL_STREAM, 1, 1, 64, ns, 0};
	all[1] = (struct wl){"A-4K", WL_STREAM, 1, 1, 4096, ns, 0};
	all[2] = (struct wl){"B-64", WL_PINGPONG, 1, 1, 64,
	    cfg->quick ? 2000 : 20000, cfg->quick ? 100 : 1000};
	all[3] = (struct wl){"C-64", WL_STREAM, 4, 4, 64, ns, 0};
	for (wi = 0; wi < 4; wi++)
		if (options_in_list(wlist, all[wi].name))
			wls[nwl++] = all[wi];
	for (wi = 0; wi < nwl; wi++)
		ncfg[wi] =
		    workloads_cfgs(&wls[wi], systems, flavours, cfgs[wi]);

	/* Reps outermost: drift of a noisy machine spreads over everything. */
	for (rep = 0; rep < cfg->reps; rep++) {
		for (wi = 0; wi < nwl; wi++) {
			for (ci = 0; ci < ncfg[wi]; ci++) {
				struct result *rr = &res[wi][ci][rep];

				run_one(cfg, cfgs[wi][ci].tr, &wls[wi],
				    cfgs[wi][ci].fl, rr);
				if (cfg->verbose || !rr->ok)
					fprintf(stderr,
					    "run %d/%d %s %s %s: %s%.1f %s\n",
					    rep + 1, cfg->reps, wls[wi].name,
					    cfgs[wi][ci].tr->name,
					    bench_fl_names[cfgs[wi][ci].fl],
					    rr->ok        ? ""
					    : rr->skipped ? "skipped "
					                  : "FAILED ",
					    rr->value, rr->ok ? "" : rr->err);
			}
		}
	}

	printf("\n%-5s %-10s %-7s %12s %-6s %8s %8s %12s  %s\n", "wload",
	    "system", "flav", "median", "unit", "vs-mq", "vs-sp", "daemon-cpu",
	    "spread(min..max)");
	for (wi = 0; wi < nwl; wi++) {
		int pp = wls[wi].kind == WL_PINGPONG;
		const char *unit = pp ? "us-p50" : "msg/s";

		mq = report_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_mq, FL_PLAIN, -1);
		sp = report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_sockpair,
		    FL_PLAIN, -1);
		for (ci = 0; ci < ncfg[wi]; ci++) {
			const struct bcfg *b = &cfgs[wi][ci];

			m = report_median(res[wi][ci], cfg->reps, -1);
			report_range(res[wi][ci], cfg->reps, &lo, &hi);
			if (res[wi][ci][0].skipped) {
				printf("%-5s %-10s %-7s %12s  %s\n",
				    wls[wi].name, b->tr->name,
				    bench_fl_names[b->fl],
				    b->tr->not_built != NULL ? "not built"
				                             : "skipped",
				    res[wi][ci][0].err);
				continue;
			}
			if (isnan(m))
				failed = 1;
			if (pp)
				snprintf(v1, sizeof v1, "%.1f", m);
			else
				report_fmt(v1, sizeof v1, m);
			printf("%-5s %-10s %-7s %12s %-6s", wls[wi].name,
			    b->tr->name, bench_fl_names[b->fl],
			    isnan(m) ? "FAILED" : v1, unit);
			if (b->tr->is_conqueue) {
				report_ratio(m / mq);
				report_ratio(m / sp);
				dc = report_median(res[wi][ci], cfg->reps, 3);
				snprintf(v2, sizeof v2, "%.2f us/%s",
				    dc * 1e6 / (double)wls[wi].n,
				    pp ? "rt" : "msg");
				printf(" %12s", isnan(dc) ? "-" : v2);
			} else
				printf(" %8s %8s %12s", "-", "-", "-");
			if (pp)
				printf("  p99 %.1f p99.9 %.1f us",
				    report_median(res[wi][ci], cfg->reps, 1),
				    report_median(res[wi][ci], cfg->reps, 2));
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
	wi = workloads_index(wls, nwl, "A-64");
	if (wi >= 0) {
		mq = report_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_mq, FL_PLAIN, -1);
		report_target("batch A-64 / POSIX mq A-64",
		    report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_BATCH, -1) /
		        mq,
		    2.0, 1, "x");
		report_target("async A-64 / POSIX mq A-64",
		    report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_ASYNC, -1) /
		        mq,
		    1.0, 1, "x");
	}
	wi = workloads_index(wls, nwl, "B-64");
	if (wi >= 0) {
		double cq = report_fig(res, cfgs, ncfg, cfg->reps, wi,
		    &bench_conqueue, FL_SYNC, -1);
		double rl = report_fig(
		    res, cfgs, ncfg, cfg->reps, wi, &bench_relay, FL_PLAIN, -1);

		sp = report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_sockpair,
		    FL_PLAIN, -1);
		report_target("sync B-64 p50 / socketpair B-64 p50", cq / sp,
		    2.5, 0, "x");
		/* What the hops alone cost: a broker that does nothing. */
		if (!isnan(rl) && !isnan(sp))
			printf("info    B-64 p50: relay %.2fx socketpair; "
			       "conqueue %.2fx relay\n",
			    rl / sp, cq / rl);
	}
	wi = workloads_index(wls, nwl, "C-64");
	ci = workloads_index(wls, nwl, "A-64");
	if (wi >= 0 && ci >= 0)
		report_target("sync C-64 (4+4) / sync A-64 (1+1)",
		    report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_SYNC, -1) /
		        report_fig(res, cfgs, ncfg, cfg->reps, ci,
		            &bench_conqueue, FL_SYNC, -1),
		    1.0, 1, "x");
	wi = workloads_index(wls, nwl, "A-4K");
	if (wi >= 0)
		report_target("batch A-4K payload GB/s (stretch)",
		    report_fig(res, cfgs, ncfg, cfg->reps, wi, &bench_conqueue,
		        FL_BATCH, -1) *
		        4096 / 1e9,
		    1.5, 1, "");
	workloads_direct_targets(res, cfgs, ncfg, cfg->reps, wls, nwl,
	    options_in_list(systems, "conqueue") ? flavours : "");
	return failed;
}

/* Sweep A (1+1) over message sizes; write a data file for gnuplot. */
int
workloads_sizes(
    const struct bench_cfg *cfg, const char *systems, const char *flavours)
{
	static const size_t sizes[] = {64, 256, 1024, 4096, 16384, 65536};
	struct bcfg cfgs[BENCH_MAXCFGS];
	struct result rs[BENCH_MAXREPS];
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
	ncfg = workloads_cfgs(&wl, systems, flavours, cfgs);
	if (f != NULL) {
		fprintf(f,
		    "# A workload (1+1, capacity 1024) by message size:"
		    " MB/s of payload, median of %d\n# size",
		    cfg->reps);
		for (ci = 0; ci < ncfg; ci++)
			fprintf(f, " %s%s%s", cfgs[ci].tr->name,
			    cfgs[ci].fl == FL_PLAIN ? "" : "-",
			    cfgs[ci].fl == FL_PLAIN
			        ? ""
			        : bench_fl_names[cfgs[ci].fl]);
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
		    cfgs[ci].fl == FL_PLAIN ? "" : bench_fl_names[cfgs[ci].fl]);
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
				run_one(cfg, cfgs[ci].tr, &wl, cfgs[ci].fl,
				    &rs[rep]);
				if (!rs[rep].ok)
					fprintf(stderr, "run %s %s %s: %s %s\n",
					    wl.name, cfgs[ci].tr->name,
					    bench_fl_names[cfgs[ci].fl],
					    rs[rep].skipped ? "skipped"
					                    : "FAILED",
					    rs[rep].err);
			}
			m = report_median(rs, cfg->reps, -1) * (double)wl.size /
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
