/* durable.c - durable queues against plain ones in the same run (issue 15). */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "conqueue/conqueue.h"
#include "bench/bench.h"

#define DUR_NMODES 3 /* plain, interval, never */
#define DUR_NFLS   3 /* sync, batch, dsync */
#define DUR_BLOCK  4096

static const struct {
	const char *name;
	int policy;
} dur_modes[DUR_NMODES] = {
    {"plain", CQ_DURABLE_NONE},
    {"interval", CQ_DURABLE_INTERVAL},
    {"never", CQ_DURABLE_NEVER},
};
static const enum flavour dur_fls[DUR_NFLS] = {FL_SYNC, FL_BATCH, FL_DSYNC};

/*
 * The disk's own rate under the state directory: n appends of 4 KiB, each
 * followed by fdatasync (what one group commit of the log costs at least),
 * per second; NaN if the file cannot be written.
 */
static double
durable_disk_rate(const char *dir, int n)
{
	static unsigned char block[DUR_BLOCK];
	char path[512];
	uint64_t t0, t1;
	int fd, i;

	snprintf(path, sizeof path, "%s/fdatasync-probe.%ld", dir,
	    (long)getpid());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0)
		return NAN;
	memset(block, 0xa5, sizeof block);
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		if (pwrite(fd, block, sizeof block, (off_t)i * DUR_BLOCK) !=
		        (ssize_t)sizeof block ||
		    fdatasync(fd) != 0) {
			close(fd);
			unlink(path);
			return NAN;
		}
	}
	t1 = bench_now();
	close(fd);
	unlink(path);
	return t1 > t0 ? n / ((double)(t1 - t0) / 1e9) : (double)NAN;
}

/* Run one configuration, print a failure; the result's value (or NaN). */
static double
durable_one(const struct bench_cfg *cfg, const struct wl *wl, enum flavour fl,
    int policy, struct result *out)
{
	cqt_durable = policy;
	run_one(cfg, &bench_conqueue, wl, fl, out);
	cqt_durable = CQ_DURABLE_NONE;
	if (!out->ok) {
		printf("durable %s %s %s: FAILED: %s\n", wl->name,
		    bench_fl_names[fl], policy == CQ_DURABLE_ALWAYS
		                            ? "always"
		                            : dur_modes[policy == CQ_DURABLE_NONE
		                                            ? 0
		                                            : policy - 1]
		                                  .name,
		    out->err);
		fflush(stdout);
		return NAN;
	}
	if (cfg->verbose) {
		printf("  ran durable %s %s policy %d: %.0f msg/s\n", wl->name,
		    bench_fl_names[fl], policy, out->value);
		fflush(stdout);
	}
	return out->value;
}

/* Median of n doubles (NaN if any is NaN). */
static double
durable_median(const double *v, int n)
{
	struct result rs[BENCH_MAXREPS];
	int i;

	memset(rs, 0, sizeof rs);
	for (i = 0; i < n; i++) {
		rs[i].ok = !isnan(v[i]);
		rs[i].value = v[i];
	}
	return report_median(rs, n, -1);
}

/* The filesystem type of dir, for the report. */
static const char *
durable_fstype(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) != 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0x01021994UL:
		return "tmpfs (fdatasync is free: not a disk)";
	case 0xEF53UL:
		return "ext2/3/4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683EUL:
		return "btrfs";
	case 0x794c7630UL:
		return "overlayfs";
	default:
		return "other";
	}
}

/*
 * Durable queues (interval, never) against plain ones on A-64 sync, batch
 * and dsync; `always` on A-64 (1+1) and C-64 (4+4) sync, with the log's
 * flushes per second beside the disk's own fdatasync rate. Reps are the
 * outer loop, as everywhere. 0 when every run passed its checks.
 */
int
durable_run(const struct bench_cfg *cfg, const char *state_dir)
{
	static double v[DUR_NFLS][DUR_NMODES][BENCH_MAXREPS];
	double a1[BENCH_MAXREPS], c4[BENCH_MAXREPS], fl1[BENCH_MAXREPS];
	double fl4[BENCH_MAXREPS], disk[BENCH_MAXREPS], m[DUR_NMODES];
	uint64_t ns = cfg->quick ? 20000 : 200000;
	uint64_t na = cfg->quick ? 2000 : 20000;
	struct wl a64 = {"A-64", WL_STREAM, 1, 1, 64, ns, 0};
	struct wl aa = {"A-64", WL_STREAM, 1, 1, 64, na, 0};
	struct wl ca = {"C-64", WL_STREAM, 4, 4, 64, na, 0};
	struct result r;
	int rep, f, k, failed = 0;
	char b[DUR_NMODES][32];

	printf("durable: logs under %s (%s); interval = %d ms; always: %llu "
	       "messages per run\n",
	    state_dir, durable_fstype(state_dir), CQ_DURABLE_SYNC_MS_DEFAULT,
	    (unsigned long long)na);
	fflush(stdout);
	for (rep = 0; rep < cfg->reps; rep++) {
		disk[rep] = durable_disk_rate(state_dir, cfg->quick ? 100 : 500);
		for (f = 0; f < DUR_NFLS; f++)
			for (k = 0; k < DUR_NMODES; k++) {
				v[f][k][rep] = durable_one(cfg, &a64,
				    dur_fls[f], dur_modes[k].policy, &r);
				failed |= !r.ok;
			}
		a1[rep] = durable_one(cfg, &aa, FL_SYNC, CQ_DURABLE_ALWAYS, &r);
		failed |= !r.ok;
		fl1[rep] = r.ok ? (double)cqt_last_syncs * r.value / (double)na
		                : (double)NAN;
		c4[rep] = durable_one(cfg, &ca, FL_SYNC, CQ_DURABLE_ALWAYS, &r);
		failed |= !r.ok;
		fl4[rep] = r.ok ? (double)cqt_last_syncs * r.value / (double)na
		                : (double)NAN;
	}

	printf("\ndurable A-64 (msg/s, medians)   plain     interval  never   "
	       "  interval/plain never/plain\n");
	for (f = 0; f < DUR_NFLS; f++) {
		for (k = 0; k < DUR_NMODES; k++) {
			m[k] = durable_median(v[f][k], cfg->reps);
			report_fmt(b[k], sizeof b[k], m[k]);
		}
		printf("durable A-64 %-18s %9s %9s %9s", bench_fl_names[dur_fls[f]],
		    b[0], b[1], b[2]);
		report_ratio(m[1] / m[0]);
		printf("    ");
		report_ratio(m[2] / m[0]);
		printf("\n");
	}
	for (f = 0; f < DUR_NFLS; f++)
		for (k = 1; k < DUR_NMODES; k++) {
			char what[64];

			snprintf(what, sizeof what, "durable %s A-64 %s / plain",
			    dur_modes[k].name, bench_fl_names[dur_fls[f]]);
			report_target(what,
			    durable_median(v[f][k], cfg->reps) /
			        durable_median(v[f][0], cfg->reps),
			    0.8, 1, "x");
		}

	report_fmt(b[0], sizeof b[0], durable_median(a1, cfg->reps));
	report_fmt(b[1], sizeof b[1], durable_median(c4, cfg->reps));
	printf("durable always sync: A-64 (1+1) %s msg/s, %.0f flushes/s; "
	       "C-64 (4+4) %s msg/s, %.0f flushes/s; disk: %.0f "
	       "fdatasync/s (4 KiB appends, same run)\n",
	    b[0], durable_median(fl1, cfg->reps), b[1],
	    durable_median(fl4, cfg->reps), durable_median(disk, cfg->reps));
	report_target("durable always C-64 (4+4) / A-64 (1+1)",
	    durable_median(c4, cfg->reps) / durable_median(a1, cfg->reps), 3.0,
	    1, "x");
	printf("info    always C-64: %.1f messages per flush; flushes/s / "
	       "disk fdatasync/s: A-64 %.2f, C-64 %.2f\n",
	    durable_median(c4, cfg->reps) / durable_median(fl4, cfg->reps),
	    durable_median(fl1, cfg->reps) / durable_median(disk, cfg->reps),
	    durable_median(fl4, cfg->reps) / durable_median(disk, cfg->reps));
	fflush(stdout);
	return failed;
}
