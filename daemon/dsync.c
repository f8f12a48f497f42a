/* dsync.c - the always queues' group commit: fdatasync off the event loop. */

/*
 * A loop pass that changed an always queue writes its log records
 * (dflush_flush without sync) and its replies wait for generation G =
 * dsync_next(). One sync runs at a time, in a thread of its own, over
 * every log written since the last one started (G); meanwhile the loop
 * goes on serving: what the next passes write belongs to G + 1, whose
 * sync starts the moment G's ends. Every operation that arrives while a
 * sync runs shares the next one (group commit), and none waits for a
 * timer: the window is the disk's own sync time (doc/durability.md).
 *
 * A failed sync marks its logs broken (the next flush rewrites them whole,
 * dflush_compact) and fails every reply still waiting, whatever its
 * generation: after a failed fdatasync the kernel may have dropped pages
 * written before later records, so nothing written since is trusted.
 *
 * The thread only calls fdatasync on duplicates of the logs' descriptors
 * (a queue deleted meanwhile closes its own, never ours); everything else
 * stays on the loop's thread.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/dflush.h"
#include "daemon/dsync.h"
#include "daemon/log.h"
#include "daemon/registry.h"

void (*dsync_on_done)(int failed, uint64_t before);

static uint64_t dsync_gen_next = 1, dsync_gen_synced, dsync_gen_running;

/* Logs written and not yet in a sync (loop thread only). */
static struct durable **dsync_pend;
static size_t dsync_npend, dsync_cpend;

/* The running sync: the loop fills it, the thread reads fds, sets errs. */
static struct durable **dsync_req;
static int *dsync_fds, *dsync_errs;
static size_t dsync_nreq, dsync_creq;
static int dsync_busy; /* loop's view: a sync runs */

static pthread_t dsync_th;
static pthread_mutex_t dsync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dsync_cv = PTHREAD_COND_INITIALIZER;
static int dsync_started, dsync_has_req, dsync_quit;
static int dsync_pipe[2] = {-1, -1};
static struct event *dsync_ev;

uint64_t
dsync_next(void)
{
	return dsync_gen_next;
}

uint64_t
dsync_synced(void)
{
	return dsync_gen_synced;
}

/* Grow an array of n elements of size sz to hold one more. */
static int
dsync_grow(void **p, size_t *cap, size_t n, size_t sz)
{
	void *np;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	if ((np = realloc(*p, nc * sz)) == NULL)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

void
dsync_written(struct durable *d)
{
	size_t i;

	for (i = 0; i < dsync_npend; i++)
		if (dsync_pend[i] == d)
			return;
	if (dsync_grow((void **)&dsync_pend, &dsync_cpend, dsync_npend,
	        sizeof *dsync_pend) != 0) {
		/* No memory for the list: sync it here, the old way. */
		if (d->fd >= 0 && fdatasync(d->fd) == 0)
			d->syncs++;
		else
			d->broken = 1;
		return;
	}
	dsync_pend[dsync_npend++] = d;
}

/* The thread: fdatasync each descriptor of a request, then ring. */
static void *
dsync_main(void *arg)
{
	size_t i, n;
	char b = 1;

	(void)arg;
	pthread_mutex_lock(&dsync_mu);
	for (;;) {
		while (!dsync_has_req && !dsync_quit)
			pthread_cond_wait(&dsync_cv, &dsync_mu);
		if (!dsync_has_req)
			break;
		n = dsync_nreq;
		pthread_mutex_unlock(&dsync_mu);
		for (i = 0; i < n; i++)
			dsync_errs[i] = fdatasync(dsync_fds[i]) != 0 ? errno : 0;
		pthread_mutex_lock(&dsync_mu);
		dsync_has_req = 0;
		while (write(dsync_pipe[1], &b, 1) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&dsync_mu);
	return NULL;
}

/*
 * d's sync failed: nothing written to it is trusted any more. The next
 * flush rewrites it whole. The failure is settled (durable.c) once the
 * replies that waited for the sync were dropped (dsync_on_done).
 */
static void
dsync_failed(struct durable *d)
{
	d->broken = 1;
	d->failed = 1;
	d->fail_set = 0;
}

/* The loop: the running sync ended. */
static void
dsync_end(void)
{
	struct durable *d;
	uint64_t before = dsync_gen_synced;
	size_t i;
	int failed = 0;

	for (i = 0; i < dsync_nreq; i++) {
		close(dsync_fds[i]);
		if ((d = dsync_req[i]) == NULL)
			continue; /* deleted meanwhile */
		if (dsync_errs[i] == 0) {
			d->syncs++;
			continue;
		}
		failed = 1;
		dsync_failed(d);
		log_error("queue '%s': durable log %s: fdatasync: %s",
		    d->attr.name, d->file, strerror(dsync_errs[i]));
	}
	dsync_nreq = 0;
	dsync_busy = 0;
	dsync_gen_synced = dsync_gen_running;
	if (failed) {
		/* Nothing written since is trusted either: drop its wait. */
		dsync_gen_synced = dsync_gen_next - 1;
		for (i = 0; i < dsync_npend; i++) {
			dsync_failed(dsync_pend[i]);
		}
		dsync_npend = 0;
	}
	if (dsync_on_done != NULL)
		dsync_on_done(failed, before);
}

/* The pipe rang: a sync ended. */
static void
dsync_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event_base *base = arg;
	char b[16];

	(void)what;
	while (read(fd, b, sizeof b) < 0 && errno == EINTR)
		;
	if (!dsync_busy)
		return;
	pthread_mutex_lock(&dsync_mu);
	if (dsync_has_req) { /* a stale ring: not ours yet */
		pthread_mutex_unlock(&dsync_mu);
		return;
	}
	pthread_mutex_unlock(&dsync_mu);
	dsync_end();
	dsync_kick(base);
}

/* Start the thread and its pipe: 0 or -1. */
static int
dsync_start(struct event_base *base)
{
	sigset_t all, old;
	int rc;

	if (dsync_started)
		return 0;
	if (pipe(dsync_pipe) != 0)
		return -1;
	evutil_make_socket_nonblocking(dsync_pipe[0]);
	evutil_make_socket_closeonexec(dsync_pipe[0]);
	evutil_make_socket_closeonexec(dsync_pipe[1]);
	dsync_ev = event_new(
	    base, dsync_pipe[0], EV_READ | EV_PERSIST, dsync_ev_cb, base);
	if (dsync_ev == NULL || event_add(dsync_ev, NULL) != 0)
		goto fail;
	/* The thread takes no signal: the loop's handlers stay the loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&dsync_th, NULL, dsync_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	dsync_started = 1;
	return 0;
fail:
	if (dsync_ev != NULL)
		event_free(dsync_ev);
	dsync_ev = NULL;
	close(dsync_pipe[0]);
	close(dsync_pipe[1]);
	dsync_pipe[0] = dsync_pipe[1] = -1;
	return -1;
}

/* No thread: sync the pending logs here and now (the pass waits). */
static void
dsync_inline(void)
{
	struct durable *d;
	uint64_t before = dsync_gen_synced;
	size_t i;
	int failed = 0;

	for (i = 0; i < dsync_npend; i++) {
		d = dsync_pend[i];
		if (d->fd >= 0 && fdatasync(d->fd) == 0) {
			d->syncs++;
			continue;
		}
		failed = 1;
		dsync_failed(d);
	}
	dsync_npend = 0;
	dsync_gen_synced = dsync_gen_next++;
	if (dsync_on_done != NULL)
		dsync_on_done(failed, before);
}

void
dsync_kick(struct event_base *base)
{
	struct durable *d;
	size_t i, n = 0;

	if (dsync_busy || dsync_npend == 0)
		return;
	if (dsync_start(base) != 0) {
		log_warn("durable sync thread: %s: syncing in the loop",
		    strerror(errno));
		dsync_inline();
		return;
	}
	if (dsync_npend > dsync_creq) {
		void *r = realloc(dsync_req, dsync_npend * sizeof *dsync_req);
		void *f = r != NULL ? realloc(dsync_fds,
		                          dsync_npend * sizeof *dsync_fds)
		                    : NULL;
		void *e = f != NULL ? realloc(dsync_errs,
		                          dsync_npend * sizeof *dsync_errs)
		                    : NULL;

		if (r != NULL)
			dsync_req = r;
		if (f != NULL)
			dsync_fds = f;
		if (e == NULL) {
			dsync_inline();
			return;
		}
		dsync_errs = e;
		dsync_creq = dsync_npend;
	}
	for (i = 0; i < dsync_npend; i++) {
		d = dsync_pend[i];
		if (d->fd < 0 || (dsync_fds[n] = dup(d->fd)) < 0) {
			dsync_failed(d);
			continue;
		}
		dsync_req[n] = d;
		dsync_errs[n] = 0;
		n++;
	}
	dsync_npend = 0;
	dsync_nreq = n;
	dsync_gen_running = dsync_gen_next++;
	dsync_busy = 1;
	pthread_mutex_lock(&dsync_mu);
	dsync_has_req = 1;
	pthread_cond_signal(&dsync_cv);
	pthread_mutex_unlock(&dsync_mu);
}

void
dsync_forget(struct durable *d)
{
	size_t i;

	for (i = 0; i < dsync_nreq; i++)
		if (dsync_req[i] == d)
			dsync_req[i] = NULL;
	for (i = 0; i < dsync_npend; i++)
		if (dsync_pend[i] == d) {
			dsync_pend[i] = dsync_pend[--dsync_npend];
			break;
		}
}

void
dsync_drain(void)
{
	struct pollfd p;
	int busy;

	while (dsync_busy) {
		pthread_mutex_lock(&dsync_mu);
		busy = dsync_has_req;
		pthread_mutex_unlock(&dsync_mu);
		if (!busy) {
			dsync_end();
			break;
		}
		p.fd = dsync_pipe[0];
		p.events = POLLIN;
		poll(&p, 1, -1);
	}
}

void
dsync_stop(void)
{
	dsync_drain();
	if (!dsync_started)
		goto out; /* no thread (it could not start): only the lists */
	pthread_mutex_lock(&dsync_mu);
	dsync_quit = 1;
	pthread_cond_signal(&dsync_cv);
	pthread_mutex_unlock(&dsync_mu);
	pthread_join(dsync_th, NULL);
	event_free(dsync_ev);
	dsync_ev = NULL;
	close(dsync_pipe[0]);
	close(dsync_pipe[1]);
	dsync_pipe[0] = dsync_pipe[1] = -1;
	dsync_started = 0;
out:
	free(dsync_pend);
	free(dsync_req);
	free(dsync_fds);
	free(dsync_errs);
	dsync_pend = dsync_req = NULL;
	dsync_fds = dsync_errs = NULL;
	dsync_cpend = dsync_creq = dsync_npend = 0;
}
