/* testutil.h - helpers for tests: private daemons, temp dirs, waiting. */

#ifndef CQ_TESTUTIL_H
#define CQ_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A conqueued started on a private socket for one test. */
struct tu_daemon {
	char dir[256];     /* private temp dir (holds the socket) */
	char sock[300];    /* socket path */
	char instance[64]; /* --instance name: shm segments start with it */
	pid_t pid;
};

/*
 * Start $CONQUEUED (or ./conqueued) on a fresh private socket with a unique
 * instance name, passing extra argv (NULL-terminated, may be NULL), and wait
 * until it reports ready through --ready-fd. Returns 0 or -1.
 */
int tu_daemon_start(struct tu_daemon *d, const char *const *extra);
/* Restart the daemon on the same socket and instance (after a kill). */
int tu_daemon_restart(struct tu_daemon *d, const char *const *extra);
/* SIGKILL the daemon and reap it. */
void tu_daemon_kill(struct tu_daemon *d);
/* SIGTERM the daemon and reap it; returns its exit status or -1. */
int tu_daemon_stop(struct tu_daemon *d);
/* Stop (SIGTERM, then SIGKILL) and remove the dir and shm segments. */
void tu_daemon_cleanup(struct tu_daemon *d);
/* Remove every /dev/shm entry whose name starts with "conqueue-" prefix. */
void tu_shm_remove_prefix(const char *prefix);
/* Count /dev/shm entries starting with "conqueue-" prefix. */
int tu_shm_count_prefix(const char *prefix);
/*
 * Check ends a failed test with _exit() in its forked child, so neither
 * atexit nor teardown runs there. A suite opens a registry file in main
 * (tu_registry_open), notes each daemon it starts (tu_registry_note), and
 * after the run removes whatever failed tests left (tu_registry_sweep).
 */
void tu_registry_open(const char *tag);
void tu_registry_note(const struct tu_daemon *d);
void tu_registry_sweep(void);
/* Milliseconds on the monotonic clock. */
int64_t tu_now_ms(void);
/* Path of a built program: $top_builddir/name, else ./name. */
const char *tu_program(const char *name, char *buf, size_t len);

#endif /* CQ_TESTUTIL_H */
