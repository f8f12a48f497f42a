/* testutil.h - helpers for tests: private daemons, temp dirs, waiting. */

#ifndef CQ_TESTUTIL_H
#define CQ_TESTUTIL_H

#include <check.h>
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
 * until it reports ready through --ready-fd. Returns 0 or -1. The daemon is
 * noted in the suite's registry (tu_run) before it starts.
 */
int tu_daemon_start(struct tu_daemon *d, const char *const *extra);
/*
 * tu_daemon_start with RLIMIT_NOFILE's soft limit lowered to nofile (at
 * most the hard limit), as a shell's ulimit -n would leave it; the daemon
 * inherits it. With hard set the hard limit goes down too and stays (the
 * test process cannot raise it back); else the old limit is restored.
 */
int tu_daemon_start_nofile(struct tu_daemon *d, const char *const *extra,
    unsigned long nofile, int hard);
/*
 * Start the daemon with "-c FILE", FILE holding config text (removed
 * again once the daemon has read it). Returns 0 or -1.
 */
int tu_daemon_start_config(struct tu_daemon *d, const char *text);
/* Write text to a fresh /tmp config file; its path (static, reused). */
const char *tu_write_config(const char *text);
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
/*
 * Run conqueued with args (NULL-terminated) to completion, its stderr
 * into err (NUL-terminated); its exit status, or -1.
 */
int tu_daemon_run(const char *const *args, char *err, size_t errlen);

/*
 * Run suite s with a registry tagged tag (every daemon tu_daemon_start
 * started is removed afterwards, even when a failed test skipped its
 * teardown); the program's exit status.
 */
int tu_run(Suite *s, const char *tag);
/* Unless ok, print "SKIP: why" and exit 77 (Automake's skipped test). */
void tu_require(int ok, const char *why);
/*
 * 1 if argv0 names the variant program ending in suffix (e.g. "_root"):
 * a suite built twice keeps the tests that need root in its _root twin,
 * which exits 77 when not root instead of passing them silently.
 */
int tu_is_variant(const char *argv0, const char *suffix);

/*
 * A fake daemon: a listening socket dir/name (path filled in) served by a
 * forked child that runs serve(lfd, arg) and then _exit(0)s. The pid, or
 * -1; the parent's copy of the socket is closed.
 */
pid_t tu_fake_start(const char *dir, const char *name, char *path,
    size_t pathlen, void (*serve)(int lfd, void *arg), void *arg);
/* Reap the fake daemon pid; 1 if it exited 0. */
int tu_fake_wait(pid_t pid);

/* Milliseconds on the monotonic clock. */
int64_t tu_now_ms(void);
/* Path of a built program: $top_builddir/name, else ./name. */
const char *tu_program(const char *name, char *buf, size_t len);

#endif /* CQ_TESTUTIL_H */
