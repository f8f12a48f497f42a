/* crashpoint.c - test-only deterministic crash sites (CONQUEUE_CRASH_AT). */

#include <stdlib.h>

#include "core/crash.h"
#include "core/queue.h"
#include "daemon/crashpoint.h"
#include "daemon/log.h"

/*
 * Arm the crash site named by $CONQUEUE_CRASH_AT ("site:n": die at the n-th
 * pass of site). Sites are the core's (core/queue.h) plus the daemon's
 * "delete.before_unlink" and "delete.after_unlink". Compiled in only with
 * --enable-crash-points (the default for test builds); harmless and inert
 * unless the variable is set. Returns -1 for a malformed value.
 */
int
crashpoint_init(void)
{
	const char *v = getenv("CONQUEUE_CRASH_AT");
	int r = core_crash_arm(v);

	if (r < 0)
		return -1;
#ifdef CQ_CRASH_POINTS
	/* tests/crash/sites.sh finds this message in crash-point builds. */
	if (r > 0)
		log_warn("test crash point armed: SIGKILL at %s", v);
#endif
	return 0;
}

/* Pass a daemon-level crash site. */
void
crashpoint(const char *site)
{
	if (core_crash_hook != NULL)
		core_crash_hook(site);
}
