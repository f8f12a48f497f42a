/* om_lint_main.c - om-lint: check OpenMetrics text on stdin (exit 0/1). */

#include <stdio.h>
#include <stdlib.h>

#include "tests/om_lint.h"

int
main(void)
{
	char *buf = NULL, err[512];
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (len == cap &&
		    (buf = realloc(buf, cap = cap ? 2 * cap : 65536)) == NULL)
			return 2;
		if ((n = fread(buf + len, 1, cap - len, stdin)) == 0)
			break;
		len += n;
	}
	if (om_lint(buf, len, err, sizeof err) != 0) {
		fprintf(stderr, "om-lint: %s\n", err);
		free(buf);
		return 1;
	}
	free(buf);
	return 0;
}
