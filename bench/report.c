/* report.c - statistics of the reps and the printed figures. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"

/* Compare doubles for qsort (NaN last). */
static int
report_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	if (isnan(x))
		return isnan(y) ? 0 : 1;
	if (isnan(y))
		return -1;
	return x < y ? -1 : x > y;
}

/* Median of the successful values; NaN if any run failed. */
double
report_median(const struct result *rs, int n, int field)
{
	double v[BENCH_MAXREPS];
	int i;

	for (i = 0; i < n; i++) {
		if (!rs[i].ok)
			return NAN;
		v[i] = field < 0   ? rs[i].value
		       : field < 3 ? rs[i].lat[field]
		                   : rs[i].dcpu_s;
	}
	qsort(v, (size_t)n, sizeof v[0], report_cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Smallest and largest successful value (the spread of the reps). */
void
report_range(const struct result *rs, int n, double *lo, double *hi)
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

/* Print a message count or rate compactly. */
void
report_fmt(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "FAILED");
	else
		snprintf(buf, len, "%.0f", v);
}

/* Median of configuration ci on workload wi, NaN if absent. */
double
report_fig(struct result (*res)[BENCH_MAXCFGS][BENCH_MAXREPS],
    struct bcfg (*cfgs)[BENCH_MAXCFGS], int *ncfg, int reps, int wi,
    const struct transport *tr, enum flavour fl, int field)
{
	int ci;

	for (ci = 0; ci < ncfg[wi]; ci++)
		if (cfgs[wi][ci].tr == tr && cfgs[wi][ci].fl == fl)
			return report_median(res[wi][ci], reps, field);
	return NAN;
}

/* Print a ratio column, "-" when either side is missing or failed. */
void
report_ratio(double r)
{
	if (isnan(r))
		printf(" %8s", "-");
	else
		printf(" %7.2fx", r);
}

/* Print one target line. */
void
report_target(
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
