/* crash.h - test-only crash sites armed from a "site:n" setting. */

#ifndef CQ_CORE_CRASH_H
#define CQ_CORE_CRASH_H

/*
 * Arm core_crash_hook (core/queue.h) to SIGKILL this process at the n-th
 * pass of a named site, from spec "site:n" (the daemon's
 * CONQUEUE_CRASH_AT, a direct client's CONQUEUE_CLIENT_CRASH_AT). Returns
 * 1 when armed, 0 for a NULL or empty spec or a build without
 * --enable-crash-points (nothing armed), -1 for a malformed spec.
 */
int core_crash_arm(const char *spec);

#endif /* CQ_CORE_CRASH_H */
