/* admin.c - queue administration: create, delete, chmod, chown, list, info. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "core/direct.h"
#include "daemon/access.h"
#include "daemon/admin.h"
#include "daemon/bell.h"
#include "daemon/browse.h"
#include "daemon/config.h"
#include "daemon/flow.h"
#include "daemon/durable.h"
#include "daemon/log.h"
#include "daemon/op.h"
#include "daemon/reply.h"
#include "daemon/stall.h"
#include "daemon/resv.h"

#define ADMIN_DEFAULT_CAPACITY 1024
#define ADMIN_DEFAULT_MAX_SIZE 65536
#define ADMIN_DEFAULT_MODE     0600

/* The library checks max_bytes against the same bounds as the core. */
_Static_assert(CORE_MAX_BYTES_MAX == CQ_MAX_BYTES_MAX &&
                   CORE_MAX_BYTES_DEFAULT == CQ_MAX_BYTES_DEFAULT,
    "the public max_bytes bounds are the core's");

uint64_t admin_total_ops;
uint32_t admin_connections;
uint64_t admin_start_ns;

/*
 * Dead letters must stay with the owner of their queue: refuse
 * max_deliveries when NAME.dlq would not fit a name or already belongs to
 * someone else, and refuse NAME.dlq to anyone but NAME's owner (or an
 * admin) while NAME exists. 0, or -1 with the reply sent.
 */
static int
admin_dlq_check(
    struct peer *p, uint64_t id, const struct core_attr *a, size_t namelen)
{
	char dname[CQ_NAME_MAX + 8];
	struct rqueue *q;
	int n;

	if (a->max_deliveries != 0) {
		if (namelen > CQ_NAME_MAX - REGISTRY_DLQ_SUFFIX_LEN) {
			reply_f(p, id, CQ_INVALID,
			    "max_deliveries needs a name of at most %d bytes "
			    "(room for the \"%s\" dead-letter suffix)",
			    CQ_NAME_MAX - REGISTRY_DLQ_SUFFIX_LEN,
			    REGISTRY_DLQ_SUFFIX);
			return -1;
		}
		n = registry_dlq_name(a->name, namelen, dname, sizeof dname);
		q = registry_find(dname, (size_t)n);
		if (q != NULL && q->uid != a->uid) {
			reply_f(p, id, CQ_EXISTS,
			    "dead-letter queue '%s' already exists and belongs "
			    "to another user",
			    dname);
			return -1;
		}
	}
	if (namelen > REGISTRY_DLQ_SUFFIX_LEN &&
	    memcmp(a->name + namelen - REGISTRY_DLQ_SUFFIX_LEN,
	        REGISTRY_DLQ_SUFFIX, REGISTRY_DLQ_SUFFIX_LEN) == 0 &&
	    (q = registry_find(a->name, namelen - REGISTRY_DLQ_SUFFIX_LEN)) !=
	        NULL &&
	    !access_may(p, q, ACCESS_OWNER)) {
		reply_f(p, id, CQ_DENIED,
		    "'%s' is the dead-letter queue of '%.*s': only its owner "
		    "may create it",
		    a->name, (int)q->namelen, q->name);
		return -1;
	}
	return 0;
}

/* Create a queue. */
void
admin_create(struct peer *p, uint64_t id, const Conqueue__Create *m)
{
	const Conqueue__QueueAttr *qa = m->attr;
	struct core_attr a;
	struct rqueue *q;
	struct durable *d = NULL;
	uint32_t policy, sync_ms;
	char why[512];
	cq_status st;

	if (!cq_name_valid((const char *)m->name.data, m->name.len)) {
		reply_status(p, id, CQ_INVALID,
		    "invalid queue name (1-64 bytes of [A-Za-z0-9._-], not "
		    "starting with '.')");
		return;
	}
	memset(&a, 0, sizeof a);
	memcpy(a.name, m->name.data, m->name.len);
	a.capacity =
	    qa && qa->has_capacity ? qa->capacity : ADMIN_DEFAULT_CAPACITY;
	a.max_size =
	    qa && qa->has_max_size ? qa->max_size : ADMIN_DEFAULT_MAX_SIZE;
	a.bands = qa && qa->has_bands ? qa->bands : 1;
	a.mode = qa && qa->has_mode ? qa->mode : ADMIN_DEFAULT_MODE;
	a.max_deliveries =
	    qa && qa->has_max_deliveries ? qa->max_deliveries : 0;
	a.lease_ms = qa && qa->has_lease_ms && qa->lease_ms
	                 ? qa->lease_ms
	                 : RESV_DEFAULT_LEASE_MS;
	a.serial = qa && qa->has_serial && qa->serial;
	a.no_direct = qa && qa->has_no_direct && qa->no_direct;
	a.dedup_window_ms =
	    qa && qa->has_dedup_window_ms ? qa->dedup_window_ms : 0;
	a.ttl_ms = qa && qa->has_ttl_ms ? qa->ttl_ms : 0;
	a.max_bytes = qa && qa->has_max_bytes ? qa->max_bytes : 0;
	a.uid = p->uid;
	a.gid = p->gid;
	policy = qa && qa->has_durable ? qa->durable : CQ_DURABLE_NONE;
	sync_ms = qa && qa->has_sync_ms ? qa->sync_ms : 0;
	if (policy > CQ_DURABLE_NEVER || sync_ms > CQ_DURABLE_SYNC_MS_MAX ||
	    (policy != CQ_DURABLE_INTERVAL && sync_ms != 0)) {
		reply_f(p, id, CQ_INVALID,
		    "durable must be 0..3 (none, always, interval, never); "
		    "sync_ms 1..%u, for interval only",
		    CQ_DURABLE_SYNC_MS_MAX);
		return;
	}
	/* An always queue answers once on disk: never mapped by clients. */
	if (policy == CQ_DURABLE_ALWAYS)
		a.no_direct = 1;
	if (a.capacity < 1 || a.capacity > cfg.max_capacity) {
		reply_f(p, id, CQ_INVALID, "capacity must be 1..%u",
		    cfg.max_capacity);
		return;
	}
	if (a.max_size < 1 || a.max_size > cfg.max_message) {
		reply_f(p, id, CQ_INVALID, "max_size must be 1..%u",
		    cfg.max_message);
		return;
	}
	/* 0: the core's default. */
	if (a.max_bytes != 0 &&
	    (a.max_bytes < a.max_size || a.max_bytes > CORE_MAX_BYTES_MAX)) {
		reply_f(p, id, CQ_INVALID,
		    "max_bytes must be 0 (the default) or max_size (%u) to "
		    "%llu",
		    a.max_size, (unsigned long long)CORE_MAX_BYTES_MAX);
		return;
	}
	/* More than capacity messages of max_size can never be held: the
	 * quota would be charged for bytes no push can use. */
	if (a.max_bytes > (uint64_t)a.capacity * a.max_size)
		a.max_bytes = (uint64_t)a.capacity * a.max_size;
	if (a.dedup_window_ms > CQ_DEDUP_WINDOW_MAX) {
		reply_f(p, id, CQ_INVALID, "dedup_window_ms must be 0..%u",
		    CQ_DEDUP_WINDOW_MAX);
		return;
	}
	if (a.ttl_ms > CQ_TTL_MAX) {
		reply_f(p, id, CQ_INVALID, "ttl_ms must be 0..%u", CQ_TTL_MAX);
		return;
	}
	if (a.bands < 1 || a.bands > CQ_BANDS_MAX) {
		reply_f(p, id, CQ_INVALID, "bands must be 1..%u", CQ_BANDS_MAX);
		return;
	}
	if (a.mode & ~0777u) {
		reply_status(p, id, CQ_INVALID, "mode must be within 0777");
		return;
	}
	if ((q = registry_find(m->name.data, m->name.len)) == NULL &&
	    admin_dlq_check(p, id, &a, m->name.len) != 0)
		return;
	if (q != NULL) {
		/* Like an OPEN: a mapper holding the lock (CQ_BUSY for a
		 * STAT) gets the attributes only; the queue exists. */
		if (m->exist_ok && !q->quarantined &&
		    access_may(p, q, ACCESS_RW))
			reply_open(p, id, q, NULL);
		else
			reply_f(p, id, CQ_EXISTS, "queue '%.*s' already exists",
			    (int)m->name.len, (const char *)m->name.data);
		return;
	}
	/* The log first: its name commits a durable create. */
	if (policy != CQ_DURABLE_NONE &&
	    (st = durable_prepare(&a, policy, sync_ms, &d, why, sizeof why)) !=
	        CQ_OK) {
		reply_status(p, id, st, why);
		return;
	}
	st = registry_create(&a, 0, &q, why, sizeof why);
	if (st != CQ_OK) {
		durable_abort(d);
		reply_status(p, id, st, why);
		return;
	}
	if (d != NULL)
		durable_bind(q, d);
	log_info("queue '%s': created by uid %u (mode %04o)", a.name, p->uid,
	    a.mode);
	reply_stat(p, id, q);
}

/*
 * Close q and wake everyone: pushers fail, poppers drain. CQ_BUSY (a
 * mapper holds the lock: nothing changed) is the caller's answer.
 */
static cq_status
admin_close_queue(struct rqueue *q)
{
	cq_status st = core_close(q->core);

	if (st == CQ_BUSY)
		stall_busy(q);
	else
		flow_serve(q);
	return st == CQ_BUSY ? st : CQ_OK;
}

/* Delete q: close, answer every waiter CQ_CLOSED, drop the records. */
static void
admin_delete_queue(struct rqueue *q)
{
	struct op *o;

	if (q->core != NULL)
		core_close(q->core);
	flow_fail_parked(q, CQ_CLOSED, "queue deleted");
	/* Late confirms of these ids are ignored as unknown. */
	while ((o = TAILQ_FIRST(&q->handoffs)) != NULL)
		op_free(o);
	resv_free_queue(q);
	bell_delete(q);
	registry_delete(q); /* wakes direct sleepers: closed */
}

/* Operations that only name a queue. */
void
admin_named(struct peer *p, uint64_t id, const Conqueue__Named *m)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	struct rqueue *q;
	int need = ACCESS_R;
	cq_status st = CQ_OK;
	uint64_t count = 0;

	switch (m->kind) {
	case CONQUEUE__NAMED__KIND__OPEN:
		need = ACCESS_RW;
		break;
	case CONQUEUE__NAMED__KIND__DELETE:
	case CONQUEUE__NAMED__KIND__CLOSE:
	case CONQUEUE__NAMED__KIND__PAUSE:
	case CONQUEUE__NAMED__KIND__RESUME:
	case CONQUEUE__NAMED__KIND__PURGE:
		need = ACCESS_OWNER;
		break;
	default:
		break;
	}
	/* A quarantined queue can be inspected and deleted, nothing else. */
	q = access_lookup(p, id, m->name, need,
	    m->kind == CONQUEUE__NAMED__KIND__DELETE ||
	        m->kind == CONQUEUE__NAMED__KIND__STAT);
	if (q == NULL)
		return;
	r.id = id;
	switch (m->kind) {
	case CONQUEUE__NAMED__KIND__OPEN:
		reply_open(p, id, q,
		    m->has_direct && m->direct ? bell_open_reply : NULL);
		return;
	case CONQUEUE__NAMED__KIND__STAT:
		reply_stat(p, id, q);
		return;
	case CONQUEUE__NAMED__KIND__DELETE:
		log_info("queue '%.*s': deleted by uid %u", (int)q->namelen,
		    q->name, p->uid);
		admin_delete_queue(q);
		break;
	case CONQUEUE__NAMED__KIND__CLOSE:
		st = admin_close_queue(q);
		break;
	case CONQUEUE__NAMED__KIND__IS_CLOSED:
		r.has_flag = 1;
		r.flag = core_is_closed(q->core) != 0;
		break;
	case CONQUEUE__NAMED__KIND__PAUSE:
	case CONQUEUE__NAMED__KIND__RESUME:
		/* Counted (libdispatch): n pauses need n resumes. */
		st = core_suspend(
		    q->core, m->kind == CONQUEUE__NAMED__KIND__RESUME, &count);
		if (st == CQ_LIMIT) {
			reply_f(p, id, st, "queue is paused %llu times already",
			    (unsigned long long)count);
			return;
		}
		if (st == CQ_OK && count == 0)
			flow_serve(q);
		break;
	case CONQUEUE__NAMED__KIND__PURGE:
		browse_purge(p, id, q);
		return;
	case CONQUEUE__NAMED__KIND__LENGTH:
		r.has_length = 1;
		/* Direct poppers wait too; the parked ones are published. */
		r.length = direct_usable(q->core)
		               ? direct_length(q->core)
		               : (int64_t)core_length(q->core) -
		                     (int64_t)q->wq.n[WAIT_POP];
		break;
	default:
		st = CQ_INVALID;
		break;
	}
	if (st != CQ_OK) {
		reply_status(p, id, st, cq_strstatus(st));
		return;
	}
	r.status = CQ_OK;
	p->ops->send(p, &r);
}

/* Change a queue's permission bits. */
void
admin_chmod(struct peer *p, uint64_t id, const Conqueue__Chmod *m)
{
	struct rqueue *q;
	uint32_t old;
	cq_status st;

	if ((q = access_lookup(p, id, m->name, ACCESS_OWNER, 0)) == NULL)
		return;
	if (m->mode & ~0777u) {
		reply_status(p, id, CQ_INVALID, "mode must be within 0777");
		return;
	}
	old = core_attr(q->core)->mode;
	st = core_set_mode(q->core, m->mode);
	if (st == CQ_OK)
		log_info("queue '%.*s': mode %04o -> %04o (by uid %u)",
		    (int)q->namelen, q->name, old, m->mode, p->uid);
	reply_status(p, id, st, cq_strstatus(st));
}

/*
 * Change a queue's owner and/or group like chown(2): a new uid only from
 * an admin, a new gid from the owner only to a group it is in. The queue
 * NAME.dlq keeps its own owner.
 */
void
admin_chown(struct peer *p, uint64_t id, const Conqueue__Chown *m)
{
	const struct core_attr *a;
	struct rqueue *q, *dlq;
	uint32_t uid, gid, ouid, ogid;
	char why[200], dname[CQ_NAME_MAX + 8];
	cq_status st;
	int n;

	if ((q = access_lookup(p, id, m->name, ACCESS_OWNER, 0)) == NULL)
		return;
	if (!m->has_uid && !m->has_gid) {
		reply_status(p, id, CQ_INVALID, "chown needs a uid or a gid");
		return;
	}
	a = core_attr(q->core);
	ouid = a->uid;
	ogid = a->gid;
	uid = m->has_uid ? m->uid : ouid;
	gid = m->has_gid ? m->gid : ogid;
	if (uid == UINT32_MAX || gid == UINT32_MAX) {
		reply_status(
		    p, id, CQ_INVALID, "uid and gid must be below 4294967295");
		return;
	}
	if (uid != ouid && !access_is_admin(p)) {
		reply_f(p, id, CQ_DENIED,
		    "only an admin may change the owner of queue '%.*s'",
		    (int)q->namelen, q->name);
		return;
	}
	if (gid != ogid && !access_is_admin(p) && !peer_in_group(p, gid)) {
		reply_f(p, id, CQ_DENIED,
		    "uid %u is not in group %u (queue '%.*s')", p->uid, gid,
		    (int)q->namelen, q->name);
		return;
	}
	if ((st = registry_chown(q, uid, gid, why, sizeof why)) != CQ_OK) {
		reply_status(p, id, st, why);
		return;
	}
	log_info("queue '%.*s': owner %u:%u -> %u:%u (by uid %u)",
	    (int)q->namelen, q->name, ouid, ogid, uid, gid, p->uid);
	/* Dead letters only go to a NAME.dlq of the same owner. */
	n = registry_dlq_name(q->name, q->namelen, dname, sizeof dname);
	if (n > 0 && (dlq = registry_find(dname, (size_t)n)) != NULL &&
	    dlq->uid != uid)
		log_warn(
		    "queue '%s' still belongs to uid %u: dead letters of "
		    "'%.*s' stay in flight until it is given to uid %u too",
		    dname, dlq->uid, (int)q->namelen, q->name, uid);
	reply_status(p, id, CQ_OK, NULL);
}

/* List the queues the caller may read. */
void
admin_list(struct peer *p, uint64_t id)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__QueueStat *s, **sp;
	struct rqueue *q;
	size_t n = 0;

	s = calloc(registry_count + 1, sizeof *s);
	sp = calloc(registry_count + 1, sizeof *sp);
	if (s == NULL || sp == NULL) {
		free(s);
		free(sp);
		errno = ENOMEM;
		reply_status(p, id, CQ_SYSTEM, "out of memory");
		return;
	}
	TAILQ_FOREACH(q, &registry_queues, link)
	{
		if (!access_may(p, q, ACCESS_R))
			continue;
		if (reply_fill_stat(q, &s[n]) != CQ_OK) {
			/* Storage went bad since: show it as quarantined. */
			conqueue__queue_stat__init(&s[n]);
			s[n].name.data = (uint8_t *)q->name;
			s[n].name.len = q->namelen;
			s[n].has_quarantined = s[n].quarantined = 1;
		}
		sp[n] = &s[n];
		n++;
	}
	r.id = id;
	r.status = CQ_OK;
	r.n_queues = n;
	r.queues = sp;
	p->ops->send(p, &r);
	free(s);
	free(sp);
}

/* Resident set size in bytes, from /proc. */
uint64_t
admin_rss(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The daemon's own figures. */
void
admin_info(struct peer *p, uint64_t id)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__DaemonInfo i = CONQUEUE__DAEMON_INFO__INIT;

	i.version = (char *)(uintptr_t)PACKAGE_VERSION;
	i.has_uptime_ms = 1;
	i.uptime_ms = (time_mono_ns() - admin_start_ns) / 1000000u;
	i.has_connections = 1;
	i.connections = admin_connections;
	i.has_queues = 1;
	i.queues = registry_count;
	i.has_total_ops = 1;
	i.total_ops = admin_total_ops;
	i.has_storage_bytes = 1;
	i.storage_bytes = registry_storage;
	i.has_rss_bytes = 1;
	i.rss_bytes = admin_rss();
	i.has_pid = 1;
	i.pid = (uint32_t)getpid();
	i.has_direct = 1;
	i.direct = cfg.direct != 0;
	r.id = id;
	r.status = CQ_OK;
	r.info = &i;
	p->ops->send(p, &r);
}
