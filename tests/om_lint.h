/* om_lint.h - a small OpenMetrics text checker for the metrics tests. */
#ifndef CQ_TESTS_OM_LINT_H
#define CQ_TESTS_OM_LINT_H

#include <stddef.h>

/*
 * om_lint: check text (len bytes) against the OpenMetrics 1.0 text grammar
 * as far as conqueue uses it: metadata before samples, families contiguous
 * and declared once, sample names matching their family's type (_total for
 * counters, _info for info), label names and escaped values, numbers,
 * counters not negative, no repeated series, "# EOF" last. Returns 0, or -1
 * with the first problem and its line in err.
 */
int om_lint(const char *text, size_t len, char *err, size_t errlen);

/*
 * om_value: the value of the sample whose name and labels are exactly
 * series (for example conqueue_queue_depth{queue="q"}) in text; 0, or -1
 * when no such line.
 */
int om_value(const char *text, const char *series, double *out);

#endif
