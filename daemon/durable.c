/* durable.c - durable queues: the state directory, create, delete, commit. */

/*
 * Commit points (doc/durability.md):
 *   create  the log gets its name NAME.cqlog (header and a META written
 *           and synced under NAME.cqlog.tmp first, the directory synced
 *           after): from then on the queue exists after a reboot;
 *   delete  the log is unlinked (after the segment);
 *   restore NAME.restore marks a rebuild in progress (durable_start.c): a
 *           segment found beside it at start is a half-made copy, removed
 *           and rebuilt.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/common.h"
#include "daemon/crashpoint.h"
#include "daemon/dflush.h"
#include "daemon/dsync.h"
#include "daemon/durable.h"
#include "daemon/durable_start.h"
#include "daemon/log.h"
#include "daemon/registry.h"

#define DURABLE_CHUNK (1u << 20) /* reserved ahead of the log's end */

int durable_dirfd = -1;
static char durable_path[4096];
static struct event_base *durable_base;
static TAILQ_HEAD(, durable) durable_all = TAILQ_HEAD_INITIALIZER(durable_all);

/* The period of d's timer in ms. */
static uint32_t
durable_period(const struct durable *d)
{
	return d->attr.policy == CQ_DURABLE_INTERVAL ? d->attr.sync_ms : 1000;
}

int (*durable_replies_pending)(void);

/* Whether no reply of the running loop pass waits for a group commit. */
static int
durable_quiet(void)
{
	return durable_replies_pending == NULL || !durable_replies_pending();
}

/*
 * Whether failed d's queue is where its failure was settled: every reply
 * that depended on its state then was dropped, nothing changed since.
 */
static int
durable_settled(const struct durable *d, uint64_t sig)
{
	return d->fail_set && sig == d->fail_sig;
}

/*
 * Flush q if its segment changed since the last flush. After a failure,
 * a group commit (retry 0) tries again only once the queue changed
 * again: the replies of the failed pass were withheld already, and a
 * pass without a new operation on the queue owes it nothing. The timer
 * and the stop retry (retry 1). A retry's failure settles only while no
 * reply waits for the pass's group commit: else its operation may be in
 * the state that failed, and the group commit must fail it too (a pop
 * answered CQ_OK that never reached the disk, when the timer ran between
 * a read callback and its deferred commit).
 */
static cq_status
durable_flush_if(struct durable *d, int sync, int retry)
{
	struct rqueue *q = d->q;
	uint64_t sig;
	cq_status st;

	if (q == NULL || q->core == NULL)
		return CQ_OK;
	sig = dflush_sig(q->core);
	if (!d->broken && !d->failed && sig == d->sig)
		return CQ_OK;
	if (!retry && d->failed && durable_settled(d, sig))
		return CQ_OK;
	if ((st = dflush_flush(d, q->core, sync)) == CQ_OK) {
		d->failed = 0;
		d->fail_set = 0;
		return CQ_OK;
	}
	d->failed = 1;
	if (!retry || durable_quiet()) {
		d->fail_sig = sig;
		d->fail_set = 1;
	} else if (!durable_settled(d, sig))
		d->fail_set = 0;
	return st;
}

/* The timer: interval and always sync, never only writes. */
static void
durable_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct durable *d = arg;
	struct timeval tv;
	uint32_t ms = durable_period(d);

	(void)fd;
	(void)what;
	durable_flush_if(d, d->attr.policy != CQ_DURABLE_NEVER, 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(d->timer, &tv);
}

/* Make the state directory and its instance directory (mode 0700). */
static int
durable_mkdir(char **cause)
{
	char p[sizeof durable_path];
	char *s;

	if (durable_dirfd >= 0)
		return 0;
	snprintf(p, sizeof p, "%s", durable_path);
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		goto fail;
	durable_dirfd =
	    open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (durable_dirfd < 0)
		goto fail;
	return 0;
fail:
	if (asprintf(cause, "state directory %s: %s", p, strerror(errno)) < 0)
		*cause = NULL;
	return -1;
}

/* Allocate a record for a queue with attributes a. */
struct durable *
durable_new(const struct dlog_attr *a)
{
	struct durable *d;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->attr = *a;
	d->fd = -1;
	snprintf(d->file, sizeof d->file, "%s%s", a->name, DURABLE_SUFFIX);
	return d;
}

/* Free d (no queue bound; the file stays). */
void
durable_destroy(struct durable *d)
{
	dsync_forget(d);
	if (d->timer != NULL)
		event_free(d->timer);
	if (d->fd >= 0)
		close(d->fd);
	free(d->img);
	free(d);
}

/* The state directory's path (+ "/INSTANCE"), for messages. */
const char *
durable_dir(void)
{
	return durable_path;
}

/* Bind d to q: list it and start its timer. */
void
durable_bind(struct rqueue *q, struct durable *d)
{
	struct timeval tv;
	uint32_t ms = durable_period(d);

	d->q = q;
	q->dur = d;
	d->sig = q->core != NULL ? dflush_sig(q->core) : 0;
	TAILQ_INSERT_TAIL(&durable_all, d, link);
	d->timer = evtimer_new(durable_base, durable_timer_cb, d);
	if (d->timer != NULL) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(d->timer, &tv);
	} else
		log_error("queue '%s': no timer: flushed only by operations "
		          "and at stop",
		    d->attr.name);
}

/* The log header's attributes of a queue. */
static void
durable_attr(struct dlog_attr *da, const struct core_attr *a,
    uint32_t policy, uint32_t sync_ms)
{
	memset(da, 0, sizeof *da);
	memcpy(da->name, a->name, sizeof da->name);
	da->capacity = a->capacity;
	da->max_size = a->max_size;
	da->bands = a->bands;
	da->mode = a->mode;
	da->uid = a->uid;
	da->gid = a->gid;
	da->max_deliveries = a->max_deliveries;
	da->lease_ms = a->lease_ms;
	da->serial = a->serial;
	da->no_direct = a->no_direct;
	da->ttl_ms = a->ttl_ms;
	da->dedup_window_ms = a->dedup_window_ms;
	da->max_bytes = a->max_bytes;
	da->policy = policy;
	da->sync_ms = policy == CQ_DURABLE_INTERVAL ? sync_ms : 0;
}

/* Make the log of a new durable queue (see durable.h). */
cq_status
durable_prepare(const struct core_attr *a, uint32_t policy, uint32_t sync_ms,
    struct durable **dp, char *why, size_t whylen)
{
	struct dlog_attr da;
	struct durable *d;
	char *cause = NULL;
	struct stat sb;
	cq_status st;

	*dp = NULL;
	if (policy < CQ_DURABLE_ALWAYS || policy > CQ_DURABLE_NEVER ||
	    sync_ms > CQ_DURABLE_SYNC_MS_MAX ||
	    (policy != CQ_DURABLE_INTERVAL && sync_ms != 0)) {
		snprintf(why, whylen,
		    "durable must be always, interval (sync_ms 1..%u) or "
		    "never",
		    CQ_DURABLE_SYNC_MS_MAX);
		return CQ_INVALID;
	}
	if (policy == CQ_DURABLE_INTERVAL && sync_ms == 0)
		sync_ms = CQ_DURABLE_SYNC_MS_DEFAULT;
	if (durable_mkdir(&cause) != 0) {
		snprintf(why, whylen, "%s", cause ? cause : "state directory");
		free(cause);
		return CQ_SYSTEM;
	}
	durable_attr(&da, a, policy, sync_ms);
	if ((d = durable_new(&da)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return CQ_SYSTEM;
	}
	if (fstatat(durable_dirfd, d->file, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		/* A log without a queue: one the start could not restore. */
		snprintf(why, whylen,
		    "%s/%s exists (a durable queue the daemon could not "
		    "bring back: see its log)",
		    durable_path, d->file);
		durable_destroy(d);
		return CQ_EXISTS;
	}
	/* An empty queue: nothing to scan, a header and a META. */
	if ((st = dflush_compact(d, NULL)) != CQ_OK) {
		snprintf(why, whylen, "cannot make the durable log %s/%s: %s",
		    durable_path, d->file, strerror(errno));
		durable_destroy(d);
		return st;
	}
	crashpoint("durable.created");
	*dp = d;
	return CQ_OK;
}

/* The queue of d could not be made: remove the log again. */
void
durable_abort(struct durable *d)
{
	if (d == NULL)
		return;
	unlinkat(durable_dirfd, d->file, 0);
	fsync(durable_dirfd);
	durable_destroy(d);
}

/* Forget d (the file stays). */
static void
durable_unlist(struct durable *d)
{
	if (d->q != NULL) {
		TAILQ_REMOVE(&durable_all, d, link);
		d->q->dur = NULL;
	}
	durable_destroy(d);
}

/* q is being deleted: remove its log. */
void
durable_delete(struct rqueue *q)
{
	struct durable *d = q->dur;

	if (d == NULL)
		return;
	crashpoint("durable.before_unlink");
	if (unlinkat(durable_dirfd, d->file, 0) != 0 && errno != ENOENT)
		log_warn("queue '%s': removing %s/%s: %s", d->attr.name,
		    durable_path, d->file, strerror(errno));
	fsync(durable_dirfd);
	durable_unlist(d);
}

/* Detach q's log (registry_close). */
void
durable_free(struct rqueue *q)
{
	if (q->dur != NULL)
		durable_unlist(q->dur);
}

/* At stop: a last synced flush of every durable queue. */
void
durable_close(void)
{
	struct durable *d;

	dsync_drain();
	TAILQ_FOREACH(d, &durable_all, link)
	{
		if (durable_flush_if(d, 1, 1) != CQ_OK)
			log_error("queue '%s': last flush failed: %s",
			    d->attr.name, strerror(errno));
	}
	dsync_stop();
}

/*
 * End of a loop pass: group commit of the always queues. Their records
 * are written now and synced by daemon/dsync.c, with whatever the passes
 * write while an earlier sync runs.
 */
int
durable_commit(uint64_t *hold)
{
	struct durable *d;
	uint64_t end;
	int rc = 0, fd;

	*hold = 0;
	TAILQ_FOREACH(d, &durable_all, link)
	{
		if (d->attr.policy != CQ_DURABLE_ALWAYS)
			continue;
		end = d->end;
		fd = d->fd;
		if (durable_flush_if(d, 0, 0) != CQ_OK) {
			rc = -1;
			continue;
		}
		if (d->end != end || d->fd != fd) {
			dsync_written(d);
			*hold = dsync_next();
		}
	}
	dsync_kick(durable_base);
	return rc;
}

/*
 * Test builds (--enable-crash-points) with $CONQUEUE_TEST_RETRY set: the
 * timer's retry of every durable queue, run where a read callback defers
 * its group commit, the interleaving tests/durable_retry.sh needs.
 */
void
durable_test_retry(void)
{
#ifdef CQ_CRASH_POINTS
	static int on = -1;
	struct durable *d;

	if (on < 0 && (on = getenv("CONQUEUE_TEST_RETRY") != NULL))
		log_warn("test hook armed: the timer's retry before each "
		         "deferred group commit");
	if (!on)
		return;
	TAILQ_FOREACH(d, &durable_all, link)
	{
		durable_flush_if(d, d->attr.policy != CQ_DURABLE_NEVER, 1);
	}
#endif
}

/* Whether an always queue changed since its last flush. */
int
durable_commit_due(void)
{
	struct durable *d;
	uint64_t sig;

	TAILQ_FOREACH(d, &durable_all, link)
	{
		if (d->attr.policy != CQ_DURABLE_ALWAYS || d->q == NULL ||
		    d->q->core == NULL)
			continue;
		sig = dflush_sig(d->q->core);
		if (d->failed ? !durable_settled(d, sig)
		              : sig != d->sig || d->broken)
			return 1;
	}
	return 0;
}

/* After a failed commit's connections were dropped (see durable.h). */
void
durable_commit_settle(void)
{
	struct durable *d;

	TAILQ_FOREACH(d, &durable_all, link)
	{
		if (d->failed && d->q != NULL && d->q->core != NULL) {
			d->fail_sig = dflush_sig(d->q->core);
			d->fail_set = 1;
		}
	}
}

/* Room in q's log for n more messages of bytes in all. */
cq_status
durable_room(struct rqueue *q, size_t n, size_t bytes, char *why,
    size_t whylen)
{
	struct durable *d = q->dur;
	uint64_t need, want;
	int e;

	if (d == NULL || d->fd < 0)
		return CQ_OK;
	need = d->end + (uint64_t)n * (DLOG_REC_SIZE + 8) + bytes +
	       2 * DLOG_REC_SIZE;
	if (need <= d->reserved)
		return CQ_OK;
	want = need + DURABLE_CHUNK;
	crashpoint("durable.room");
	if ((e = posix_fallocate(d->fd, 0, (off_t)want)) == 0) {
		d->reserved = want;
		return CQ_OK;
	}
	if ((e = posix_fallocate(d->fd, 0, (off_t)need)) == 0) {
		d->reserved = need;
		return CQ_OK;
	}
	snprintf(why, whylen, "no room to make the push durable in %s/%s: %s",
	    durable_path, d->file, strerror(e));
	return dflush_errno_status(e);
}

/* q's policy, period, log size and syncs. */
void
durable_stat(struct rqueue *q, uint32_t *policy, uint32_t *sync_ms,
    uint64_t *log_bytes, uint64_t *syncs)
{
	struct durable *d = q->dur;

	*policy = d != NULL ? d->attr.policy : CQ_DURABLE_NONE;
	*sync_ms = d != NULL ? d->attr.sync_ms : 0;
	*log_bytes = d != NULL ? d->end : 0;
	*syncs = d != NULL ? d->syncs : 0;
}

/* The state directory's path by the rule in durable.h (+ "/INSTANCE"). */
static int
durable_dir_rule(const char *dir, const char *instance, char **cause)
{
	const char *env, *home;
	struct passwd *pw;
	int n;

	if (dir != NULL && dir[0] != '\0')
		n = snprintf(durable_path, sizeof durable_path, "%s/%s", dir,
		    instance);
	else if ((env = getenv("STATE_DIRECTORY")) != NULL && env[0] == '/')
		/* systemd may list several, ':'-separated: the first. */
		n = snprintf(durable_path, sizeof durable_path, "%.*s/%s",
		    (int)strcspn(env, ":"), env, instance);
	else if (geteuid() == 0)
		n = snprintf(durable_path, sizeof durable_path,
		    "/var/lib/conqueue/%s", instance);
	else if ((env = getenv("XDG_STATE_HOME")) != NULL && env[0] == '/')
		n = snprintf(durable_path, sizeof durable_path,
		    "%s/conqueue/%s", env, instance);
	else {
		home = getenv("HOME");
		if ((home == NULL || home[0] != '/') &&
		    (pw = getpwuid(geteuid())) != NULL)
			home = pw->pw_dir;
		if (home == NULL || home[0] != '/') {
			*cause = strdup("no state directory: set state_dir, "
			                "$STATE_DIRECTORY or $HOME");
			return -1;
		}
		n = snprintf(durable_path, sizeof durable_path,
		    "%s/.local/state/conqueue/%s", home, instance);
	}
	if (n < 0 || (size_t)n >= sizeof durable_path || durable_path[0] != '/') {
		*cause = strdup("the state directory must be an absolute path "
		                "of at most 4000 bytes");
		return -1;
	}
	return 0;
}

/* Find and bring back the durable queues (see durable.h). */
int
durable_open(struct event_base *base, const char *dir, const char *instance,
    char **cause)
{
	struct dirent *de;
	struct stat sb;
	DIR *dp;
	char **names = NULL, **nn;
	size_t len, sl = strlen(DURABLE_SUFFIX), n = 0, cap = 0, i;
	int fd;

	durable_base = base;
	*cause = NULL;
	if (durable_dir_rule(dir, instance, cause) != 0)
		return -1;
	if (stat(durable_path, &sb) != 0) {
		if (errno == ENOENT)
			return 0; /* made at the first durable create */
		if (asprintf(cause, "state directory %s: %s", durable_path,
		        strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	if (durable_mkdir(cause) != 0)
		return -1;
	if ((fd = dup(durable_dirfd)) < 0 || (dp = fdopendir(fd)) == NULL) {
		if (asprintf(cause, "state directory %s: %s", durable_path,
		        strerror(errno)) < 0)
			*cause = NULL;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Names first: loading renames files in this directory. */
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len <= sl || strcmp(de->d_name + len - sl, DURABLE_SUFFIX))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nn = realloc(names, cap * sizeof *nn)) == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(dp);
	for (i = 0; i < n; i++) {
		durable_start_load(names[i]);
		free(names[i]);
	}
	free(names);
	log_info("state directory %s: %s", durable_path,
	    TAILQ_EMPTY(&durable_all) ? "no durable queue"
	                              : "durable queues attached");
	return 0;
}
