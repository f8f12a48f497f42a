/* registry.c - queue names to shared-memory segments, reattached on start. */

/*
 * Each queue's segment lives in the daemon's own directory (segdir.c),
 * named by a decimal N the registry builds itself, never from a client
 * string. The handles hold no fd of their files. At start the instance's
 * segments are attached again; the in-flight messages of the previous run
 * go back to their queues, and a segment that fails validation is kept as
 * a quarantined queue.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "daemon/config.h"
#include "daemon/bell.h"
#include "daemon/crashpoint.h"
#include "daemon/dedup.h"
#include "daemon/durable.h"
#include "daemon/delay.h"
#include "daemon/expire.h"
#include "daemon/log.h"
#include "daemon/registry.h"
#include "daemon/segdir.h"

struct rqueue_list registry_queues = TAILQ_HEAD_INITIALIZER(registry_queues);
uint32_t registry_count;
uint64_t registry_fd_limit;
uint64_t registry_storage;

static struct htab registry_names;
static struct htab registry_uids;
static uint32_t registry_next_segno = 1;

/* Key for name lookups. */
struct registry_key {
	const void *name;
	size_t len;
};

/* Match a queue by name. */
static int
registry_match_name(const struct hentry *e, const void *key)
{
	const struct rqueue *q = (const struct rqueue *)e;
	const struct registry_key *k = key;

	return q->namelen == k->len && memcmp(q->name, k->name, k->len) == 0;
}

/* Match a uid usage entry. */
static int
registry_match_uid(const struct hentry *e, const void *key)
{
	return ((const struct uid_usage *)e)->uid == *(const uint32_t *)key;
}

/* Usage of uid, created on demand. */
struct uid_usage *
registry_uid(uint32_t uid)
{
	uint64_t h = htab_hash_u64(uid);
	struct uid_usage *u;

	u = (struct uid_usage *)htab_find(
	    &registry_uids, h, registry_match_uid, &uid);
	if (u != NULL)
		return u;
	if ((u = calloc(1, sizeof *u)) == NULL)
		return NULL;
	u->uid = uid;
	if (htab_insert(&registry_uids, &u->h, h) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

/*
 * The queue found last: most requests name the queue the one before
 * named, and comparing the name is cheaper than hashing it. Cleared
 * whenever a queue record is freed.
 */
static struct rqueue *registry_last;

/* Find a queue by name. */
struct rqueue *
registry_find(const void *name, size_t len)
{
	struct registry_key k = {name, len};
	struct rqueue *q = registry_last;

	if (q != NULL && q->namelen == len && memcmp(q->name, name, len) == 0)
		return q;
	q = (struct rqueue *)htab_find(&registry_names,
	    htab_hash_bytes(name, len), registry_match_name, &k);
	if (q != NULL)
		registry_last = q;
	return q;
}

/* Derive an instance name from the socket path (a hash: short and safe). */
void
registry_default_instance(const char *sockpath, char *buf, size_t len)
{
	snprintf(buf, len, "s%016llx",
	    (unsigned long long)htab_hash_bytes(sockpath, strlen(sockpath)));
}

/* Allocate and link a queue record. */
static struct rqueue *
registry_add(
    const char *name, size_t namelen, uint32_t segno, struct core_queue *core)
{
	struct rqueue *q;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	memcpy(q->name, name, namelen);
	q->namelen = namelen;
	q->segno = segno;
	snprintf(q->segname, sizeof q->segname, "%u", segno);
	q->core = core;
	q->quarantined = core == NULL;
	waitq_init(&q->wq);
	TAILQ_INIT(&q->handoffs);
	htab_init(&q->resv);
	if (htab_insert(
	        &registry_names, &q->h, htab_hash_bytes(name, namelen)) != 0) {
		free(q);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&registry_queues, q, link);
	registry_count++;
	if (segno >= registry_next_segno)
		registry_next_segno = segno + 1;
	return q;
}

/* Charge (or with sign -1 refund) q's storage to its owner. */
static void
registry_charge(struct rqueue *q, int sign)
{
	struct uid_usage *u;

	if (q->quarantined || (u = registry_uid(q->uid)) == NULL)
		return;
	if (sign > 0) {
		u->queues++;
		u->storage += q->storage;
		registry_storage += q->storage;
	} else {
		u->queues--;
		u->storage -= q->storage;
		registry_storage -= q->storage;
	}
}

/*
 * Keep segment seg, which failed validation with st, as a quarantined
 * queue: under its own name when its immutable header still gives one
 * (so ops on that name answer CQ_CORRUPT, the name is not reused, and its
 * owner can stat and delete it), else under a name no client can create.
 */
static void
registry_quarantine(const char *seg, uint32_t segno, cq_status st)
{
	char qname[64];
	struct core_attr a;
	struct rqueue *q;
	size_t len;

	if (core_peek_at(segdir_fd(), seg, &a) == CQ_OK &&
	    cq_name_valid(a.name, (len = strlen(a.name))) &&
	    registry_find(a.name, len) == NULL) {
		log_error("segment %s/%s failed validation (%s): queue '%s' "
		          "quarantined",
		    segdir_path(), seg, cq_strstatus(st), a.name);
		if ((q = registry_add(a.name, len, segno, NULL)) != NULL)
			q->uid = a.uid;
		return;
	}
	/* A name no client can spell: it cannot shadow a queue. */
	snprintf(qname, sizeof qname, ".quarantined-%u", segno);
	log_error("segment %s/%s failed validation (%s): quarantined as '%s'",
	    segdir_path(), seg, cq_strstatus(st), qname);
	registry_add(qname, strlen(qname), segno, NULL);
}

/* Attach one segment found at start; quarantine it if it fails. */
static void
registry_reattach(const char *seg, uint32_t segno)
{
	struct core_queue *core = NULL;
	const struct core_attr *a;
	struct rqueue *q;
	cq_status st;
	uint64_t dropped;

	st = core_attach_at(segdir_fd(), seg, &core);
	if (st == CQ_NOTFOUND) {
		/* A create that died before its commit: it did nothing. */
		log_info("segment %s/%s: unfinished create, removed",
		    segdir_path(), seg);
		core_unlink_at(segdir_fd(), seg);
		return;
	}
	if (st == CQ_OK) {
		a = core_attr(core);
		if (registry_find(a->name, strlen(a->name)) != NULL ||
		    !cq_name_valid(a->name, strlen(a->name))) {
			log_error("segment %s/%s: duplicate or bad queue name; "
			          "quarantined",
			    segdir_path(), seg);
			core_detach(core);
			core = NULL;
			st = CQ_CORRUPT;
		}
	}
	if (st != CQ_OK) {
		registry_quarantine(seg, segno, st);
		return;
	}
	a = core_attr(core);
	core_set_lock_timeout(core, cfg.lock_timeout_ms);
	if ((st = core_return_all(core)) != CQ_OK)
		log_warn("queue '%s': returning in-flight messages: %s",
		    a->name, cq_strstatus(st));
	if ((dropped = core_dropped(core)) != 0)
		log_warn(
		    "queue '%s': %llu corrupt message(s) dropped at attach",
		    a->name, (unsigned long long)dropped);
	if ((q = registry_add(a->name, strlen(a->name), segno, core)) == NULL) {
		log_error("queue '%s': out of memory", a->name);
		core_detach(core);
		return;
	}
	q->uid = a->uid;
	q->storage = core_charge_size(a);
	registry_charge(q, 1);
	dedup_open(q, 0);
	delay_rearm_all(q);
	expire_open(q, 0);
	log_debug("reattached queue '%s' (%s/%s)", a->name, segdir_path(), seg);
}

/* Open the segment directory and attach the instance's segments. */
int
registry_open(const char *instance, char **cause)
{
	htab_init(&registry_names);
	htab_init(&registry_uids);
	if (segdir_open(instance, registry_reattach, cause) != 0)
		return -1;
	log_info("instance %s: %u queue(s) attached from %s", instance,
	    registry_count, segdir_path());
	return 0;
}

/*
 * Open q's segment O_RDWR|O_CLOEXEC (by the directory fd and its name,
 * the file attach checked, never through a symlink) for handing it to a
 * direct client; the caller closes it. -1 with errno (EINVAL if q is
 * quarantined).
 */
int
registry_segment_fd(struct rqueue *q)
{
	if (q->core == NULL) {
		errno = EINVAL;
		return -1;
	}
	return core_reopen(q->core);
}

/* Detach every queue and free the tables (the segments stay). */
void
registry_close(void)
{
	struct rqueue *q;
	struct hentry *e;
	size_t i;

	registry_last = NULL;
	while ((q = TAILQ_FIRST(&registry_queues)) != NULL) {
		TAILQ_REMOVE(&registry_queues, q, link);
		bell_free(q);
		dedup_free(q);
		expire_free(q);
		durable_free(q);
		if (q->core != NULL)
			core_detach(q->core);
		htab_free(&q->resv);
		free(q);
	}
	registry_count = 0;
	registry_storage = 0;
	htab_free(&registry_names);
	i = 0;
	while ((e = htab_drain_next(&registry_uids, &i)) != NULL) {
		htab_remove(&registry_uids, e);
		free(e);
	}
	htab_free(&registry_uids);
	segdir_close();
}

/*
 * Whether one more queue of size bytes fits uid u's per-uid limits:
 * CQ_LIMIT with the reason in why if not.
 */
static cq_status
registry_fits(
    const struct uid_usage *u, uint64_t size, char *why, size_t whylen)
{
	if (u->queues >= cfg.max_queues_per_uid) {
		snprintf(why, whylen,
		    "too many queues for uid %u (max_queues_per_uid %u)",
		    u->uid, cfg.max_queues_per_uid);
		return CQ_LIMIT;
	}
	if (u->storage + size > cfg.max_storage_per_uid) {
		snprintf(why, whylen,
		    "storage quota of uid %u exceeded: %llu + %llu > %llu "
		    "bytes (max_storage_per_uid)",
		    u->uid, (unsigned long long)u->storage,
		    (unsigned long long)size,
		    (unsigned long long)cfg.max_storage_per_uid);
		return CQ_LIMIT;
	}
	return CQ_OK;
}

/*
 * Give q to uid:gid. A new uid takes over the queue's count and storage
 * under its own per-uid limits (CQ_LIMIT and nothing changed if they do
 * not fit); the segment is written before the usage moves, so a failed
 * store leaves both as they were.
 */
cq_status
registry_chown(
    struct rqueue *q, uint32_t uid, uint32_t gid, char *why, size_t whylen)
{
	struct uid_usage *u;
	cq_status st;

	*why = '\0';
	if (q->core == NULL)
		return CQ_CORRUPT;
	if (uid != q->uid) {
		if ((u = registry_uid(uid)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return CQ_SYSTEM;
		}
		if (registry_fits(u, q->storage, why, whylen) != CQ_OK)
			return CQ_LIMIT;
	}
	if ((st = core_set_owner(q->core, uid, gid)) != CQ_OK) {
		snprintf(why, whylen, "%s", cq_strstatus(st));
		return st;
	}
	registry_charge(q, -1);
	q->uid = uid;
	registry_charge(q, 1);
	return CQ_OK;
}

/* Create a queue's segment and record it. */
cq_status
registry_create(const struct core_attr *attr, int force, struct rqueue **qp,
    char *why, size_t whylen)
{
	struct uid_usage *u;
	struct core_queue *core = NULL;
	struct rqueue *q;
	size_t size;
	uint32_t segno;
	char seg[32];
	cq_status st;
	int tries;

	*qp = NULL;
	if ((u = registry_uid(attr->uid)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return CQ_SYSTEM;
	}
	size = core_charge_size(attr);
	if (size == 0 && attr->max_bytes != 0 &&
	    (attr->max_bytes < attr->max_size ||
	        attr->max_bytes > CORE_MAX_BYTES_MAX)) {
		snprintf(why, whylen,
		    "max_bytes %llu out of range: from max_size (%u) to %llu",
		    (unsigned long long)attr->max_bytes, attr->max_size,
		    (unsigned long long)CORE_MAX_BYTES_MAX);
		return CQ_INVALID;
	}
	if (size == 0) {
		snprintf(why, whylen, "queue size overflows");
		return CQ_INVALID;
	}
	if (!force) {
		if (registry_count >= cfg.max_queues) {
			snprintf(why, whylen,
			    "too many queues (max_queues "
			    "%u)",
			    cfg.max_queues);
			return CQ_LIMIT;
		}
		if (registry_fits(u, size, why, whylen) != CQ_OK)
			return CQ_LIMIT;
	}
	/* A leftover segment with the next number is skipped, not reused. */
	for (tries = 0; tries < 100; tries++) {
		segno = registry_next_segno++;
		snprintf(seg, sizeof seg, "%u", segno);
		st = core_create_at(segdir_fd(), seg, attr, &core);
		if (st != CQ_EXISTS)
			break;
	}
	if (st == CQ_LIMIT) {
		/* core keeps the errno: say which resource ran out. */
		snprintf(why, whylen,
		    "cannot reserve %zu bytes of queue storage in %s: %s", size,
		    segdir_path(), strerror(errno));
		return st;
	}
	if (st != CQ_OK) {
		snprintf(why, whylen, "cannot create queue storage: %s",
		    st == CQ_SYSTEM ? strerror(errno) : cq_strstatus(st));
		return st;
	}
	core_set_lock_timeout(core, cfg.lock_timeout_ms);
	q = registry_add(attr->name, strlen(attr->name), segno, core);
	if (q == NULL) {
		core_detach(core);
		core_unlink_at(segdir_fd(), seg);
		snprintf(why, whylen, "out of memory");
		return CQ_SYSTEM;
	}
	q->uid = attr->uid;
	q->storage = size;
	registry_charge(q, 1);
	dedup_open(q, 1);
	expire_open(q, 1);
	*qp = q;
	return CQ_OK;
}

/* Unlink q's segment and forget q. */
void
registry_delete(struct rqueue *q)
{
	cq_status st;

	registry_charge(q, -1);
	if (registry_last == q)
		registry_last = NULL;
	htab_remove(&registry_names, &q->h);
	TAILQ_REMOVE(&registry_queues, q, link);
	registry_count--;
	bell_free(q);
	if (q->core != NULL)
		core_detach(q->core);
	crashpoint("delete.before_unlink");
	st = core_unlink_at(segdir_fd(), q->segname);
	crashpoint("delete.after_unlink");
	durable_delete(q);
	dedup_delete(q);
	expire_delete(q);
	if (st != CQ_OK)
		log_warn("queue '%.*s': removing %s/%s: %s", (int)q->namelen,
		    q->name, segdir_path(), q->segname, cq_strstatus(st));
	htab_free(&q->resv);
	free(q);
}

/* Write NAME.dlq for a queue name into buf: its length, or -1 if too long. */
int
registry_dlq_name(const char *name, size_t len, char *buf, size_t size)
{
	int n =
	    snprintf(buf, size, "%.*s%s", (int)len, name, REGISTRY_DLQ_SUFFIX);

	return n < 0 || (size_t)n >= size ? -1 : n;
}
