/* crash.c - test-only crash sites armed from a "site:n" setting. */

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/crash.h"
#include "core/queue.h"

#ifdef CQ_CRASH_POINTS
static char crash_site[64];
static unsigned long crash_left;

/* Count passes of the chosen site; SIGKILL ourselves at the n-th. */
static void
crash_hit(const char *site)
{
	if (crash_left == 0 || strcmp(site, crash_site) != 0)
		return;
	if (--crash_left == 0)
		raise(SIGKILL);
}
#endif

/*
 * Parse "site:n" and arm the hook. Compiled in only with
 * --enable-crash-points: a shipped build ignores the setting, so no
 * environment can make it kill itself.
 */
int
core_crash_arm(const char *spec)
{
#ifdef CQ_CRASH_POINTS
	const char *colon;
	char *end;
	unsigned long n;

	if (spec == NULL || *spec == '\0')
		return 0;
	colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec ||
	    (size_t)(colon - spec) >= sizeof crash_site)
		return -1;
	n = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || n == 0)
		return -1;
	memcpy(crash_site, spec, (size_t)(colon - spec));
	crash_site[colon - spec] = '\0';
	crash_left = n;
	core_crash_hook = crash_hit;
	return 1;
#else
	(void)spec;
	return 0;
#endif
}
