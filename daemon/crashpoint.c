/* crashpoint.c - test-only deterministic crash sites (CONQUEUE_CRASH_AT). */

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/queue.h"
#include "daemon/crashpoint.h"
#include "daemon/log.h"

#ifdef CQ_CRASH_POINTS
static char crashpoint_site[64];
static unsigned long crashpoint_left;

/* Count passes of the chosen site; SIGKILL ourselves at the n-th. */
static void
crashpoint_hit(const char *site)
{
	if (crashpoint_left == 0 || strcmp(site, crashpoint_site) != 0)
		return;
	if (--crashpoint_left == 0)
		raise(SIGKILL);
}
#endif

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
#ifdef CQ_CRASH_POINTS
	const char *v = getenv("CONQUEUE_CRASH_AT"), *colon;
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return 0;
	colon = strrchr(v, ':');
	if (colon == NULL || colon == v ||
	    (size_t)(colon - v) >= sizeof crashpoint_site)
		return -1;
	n = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || n == 0)
		return -1;
	memcpy(crashpoint_site, v, (size_t)(colon - v));
	crashpoint_site[colon - v] = '\0';
	crashpoint_left = n;
	core_crash_hook = crashpoint_hit;
	log_warn("test crash point armed: SIGKILL at pass %lu of %s", n,
	    crashpoint_site);
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
