/* durable_start.c - start: a durable queue brought back from its log. */

/*
 * A log found in the state directory at start (durable_open) names a
 * durable queue. If its segment survived (a daemon restart), the queue
 * keeps it and gets a fresh log of it; if not (a reboot), the queue is
 * rebuilt from the replayed log under the marker NAME.restore, so that a
 * start cut short during the rebuild redoes it (doc/durability.md).
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "daemon/crashpoint.h"
#include "daemon/delay.h"
#include "daemon/dflush.h"
#include "daemon/durable.h"
#include "daemon/durable_start.h"
#include "daemon/log.h"
#include "daemon/registry.h"

#define DURABLE_START_MARK ".restore"

/* Whether the marker file NAME.restore exists. */
static int
durable_start_marked(const char *name)
{
	char f[CQ_NAME_MAX + 16];
	struct stat sb;

	snprintf(f, sizeof f, "%s%s", name, DURABLE_START_MARK);
	return fstatat(durable_dirfd, f, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Set (1) or clear (0) the marker file NAME.restore: 0 or -1. */
static int
durable_start_mark(const char *name, int on)
{
	char f[CQ_NAME_MAX + 16];
	int fd;

	snprintf(f, sizeof f, "%s%s", name, DURABLE_START_MARK);
	if (on) {
		fd = openat(durable_dirfd, f,
		    O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -1;
		close(fd);
	} else if (unlinkat(durable_dirfd, f, 0) != 0 && errno != ENOENT)
		return -1;
	return fsync(durable_dirfd);
}

/* Rebuild q's segment from a replayed log (the marker is set). */
static void
durable_start_fill(struct rqueue *q, const struct dlog_state *st)
{
	struct core_live lv;
	uint64_t i, lost = 0;

	for (i = 0; i < st->n; i++) {
		memset(&lv, 0, sizeof lv);
		lv.m.id = st->msgs[i].id;
		lv.m.band = st->msgs[i].band;
		lv.m.enqueued_ns = st->msgs[i].enqueued_ns;
		lv.m.deliveries = st->msgs[i].deliveries;
		lv.m.len = st->msgs[i].len;
		lv.m.data = st->msgs[i].data;
		lv.due_ns = st->msgs[i].due_ns;
		if (core_restore(q->core, &lv) != CQ_OK)
			lost++;
	}
	if (lost != 0)
		log_error("queue '%s': %llu message(s) of the log could not be "
		          "restored",
		    st->attr.name, (unsigned long long)lost);
	core_set_next_id(q->core, st->next_id);
	for (i = 0; i < st->paused && i < 65536; i++)
		core_suspend(q->core, 0, NULL);
	if (st->closed)
		core_close(q->core);
	delay_rearm_all(q);
}

/* The core attributes a log's header keeps. */
static void
durable_start_attr(struct core_attr *a, const struct dlog_attr *da)
{
	memset(a, 0, sizeof *a);
	memcpy(a->name, da->name, sizeof a->name);
	a->capacity = da->capacity;
	a->max_size = da->max_size;
	a->bands = da->bands;
	a->mode = da->mode;
	a->uid = da->uid;
	a->gid = da->gid;
	a->max_deliveries = da->max_deliveries;
	a->lease_ms = da->lease_ms;
	a->serial = da->serial;
	a->no_direct = da->no_direct;
	a->ttl_ms = da->ttl_ms;
	a->dedup_window_ms = da->dedup_window_ms;
	a->max_bytes = da->max_bytes;
}

/* Bring back the durable queue of log file f (see durable_start.h). */
void
durable_start_load(const char *f)
{
	struct dlog_state st;
	struct core_attr a;
	struct durable *d;
	struct rqueue *q;
	char name[CQ_NAME_MAX + 1], why[512];
	size_t len = strlen(f) - strlen(DURABLE_SUFFIX);
	cq_status s;
	int fd, restore;

	if (len == 0 || len > CQ_NAME_MAX || !cq_name_valid(f, len))
		return;
	memcpy(name, f, len);
	name[len] = '\0';
	fd = openat(durable_dirfd, f, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || dlog_replay(fd, &st) != 0 ||
	    strcmp(st.attr.name, name) != 0) {
		log_error("durable queue '%s': %s/%s is not a valid log (%s): "
		          "not brought back, file kept",
		    name, durable_dir(), f,
		    fd < 0 ? strerror(errno) : "bad header or name");
		if (fd >= 0)
			close(fd);
		return;
	}
	q = registry_find(name, len);
	if (q != NULL && q->dur != NULL) {
		close(fd);
		dlog_state_free(&st);
		return;
	}
	restore = q == NULL || durable_start_marked(name) || q->core == NULL;
	if (q != NULL && restore) {
		/* A quarantined segment (an older layout, say): the log wins. */
		log_warn(q->core == NULL
		             ? "queue '%s': its segment is quarantined: "
		               "rebuilt from its log"
		             : "queue '%s': a restore was cut short: redone",
		    name);
		registry_delete(q);
		q = NULL;
	}
	if ((d = durable_new(&st.attr)) == NULL) {
		log_error("queue '%s': out of memory", name);
		goto out;
	}
	d->fd = fd;
	fd = -1;
	if (restore) {
		durable_start_attr(&a, &st.attr);
		if (st.has_owner) { /* a chown or chmod since the create */
			a.uid = st.uid;
			a.gid = st.gid;
			a.mode = st.mode;
		}
		if (durable_start_mark(name, 1) != 0 ||
		    (s = registry_create(&a, 1, &q, why, sizeof why)) !=
		        CQ_OK) {
			log_error("durable queue '%s': cannot rebuild it: %s",
			    name, q == NULL ? why : strerror(errno));
			durable_destroy(d);
			goto out;
		}
		durable_start_fill(q, &st);
		crashpoint("durable.restored");
	}
	durable_bind(q, d);
	/* A fresh log of the segment, its positions (durable.h). */
	if (q->core != NULL && dflush_compact(d, q->core) != CQ_OK)
		log_error("queue '%s': rewriting its log failed: it is retried "
		          "at the next flush",
		    name);
	if (restore && !d->broken && durable_start_mark(name, 0) != 0)
		log_warn("queue '%s': removing its restore mark: %s", name,
		    strerror(errno));
	log_info("durable queue '%s': %s (%zu message(s) in its log, %s)", name,
	    restore ? "restored from its log" : "segment kept", st.n,
	    st.attr.policy == CQ_DURABLE_ALWAYS     ? "always"
	    : st.attr.policy == CQ_DURABLE_INTERVAL ? "interval"
	                                            : "never");
out:
	if (fd >= 0)
		close(fd);
	dlog_state_free(&st);
}
