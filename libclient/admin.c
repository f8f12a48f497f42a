/* admin.c - queue state and ownership: close, pause, stat, chmod, chown. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "dpath.h"
#include "ops.h"

/* Run a named op on q. */
static cq_status
admin_qnamed(cq_queue *q, Conqueue__Named__Kind kind, Conqueue__Reply **r)
{
	if (q == NULL)
		return CQ_INVALID;
	return ops_named(q->c, q->name, kind, r);
}

/* cq_close: close q. */
cq_status
cq_close(cq_queue *q)
{
	return admin_qnamed(q, CONQUEUE__NAMED__KIND__CLOSE, NULL);
}

/* cq_pause: pops wait until cq_resume. */
cq_status
cq_pause(cq_queue *q)
{
	return admin_qnamed(q, CONQUEUE__NAMED__KIND__PAUSE, NULL);
}

/* cq_resume: end a pause. */
cq_status
cq_resume(cq_queue *q)
{
	return admin_qnamed(q, CONQUEUE__NAMED__KIND__RESUME, NULL);
}

/* cq_is_closed: whether q is closed. */
cq_status
cq_is_closed(cq_queue *q, int *closed)
{
	Conqueue__Reply *r = NULL;
	cq_status st;

	if (closed == NULL)
		return CQ_INVALID;
	*closed = 0;
	if (dpath_query_live(q) && dpath_is_closed(q, closed) == CQ_OK)
		return CQ_OK;
	*closed = 0;
	st = admin_qnamed(q, CONQUEUE__NAMED__KIND__IS_CLOSED, &r);
	if (st == CQ_OK)
		*closed = r->has_flag && r->flag;
	if (r != NULL)
		arena_reply_free(q->c, r);
	return st;
}

/* cq_length: queued minus waiting poppers. */
cq_status
cq_length(cq_queue *q, int64_t *length)
{
	Conqueue__Reply *r = NULL;
	cq_status st;

	if (length == NULL)
		return CQ_INVALID;
	*length = 0;
	if (dpath_query_live(q) && dpath_length(q, length) == CQ_OK)
		return CQ_OK;
	*length = 0;
	st = admin_qnamed(q, CONQUEUE__NAMED__KIND__LENGTH, &r);
	if (st == CQ_OK)
		*length = r->length;
	if (r != NULL)
		arena_reply_free(q->c, r);
	return st;
}

/* Copy a wire QueueStat into *st (zeroed by the caller). */
static void
admin_stat_from_wire(cq_queue_stat *st, const Conqueue__QueueStat *w)
{
	size_t len = w->name.len < CQ_NAME_MAX ? w->name.len : CQ_NAME_MAX;

	memcpy(st->name, w->name.data, len);
	st->name[len] = '\0';
	st->capacity = w->capacity;
	st->max_size = w->max_size;
	st->bands = w->bands;
	st->mode = w->mode;
	st->uid = (uid_t)w->uid;
	st->gid = (gid_t)w->gid;
	st->max_deliveries = w->max_deliveries;
	st->lease_ms = w->lease_ms;
	st->serial = w->serial;
	st->length = w->length;
	st->in_flight = w->in_flight;
	st->waiting_poppers = w->waiting_poppers;
	st->waiting_pushers = w->waiting_pushers;
	st->closed = w->closed;
	/* A daemon before counted pauses sends only the flag. */
	st->paused = w->has_pause_count ? (int)w->pause_count : (int)w->paused;
	st->total_pushed = w->total_pushed;
	st->total_popped = w->total_popped;
	st->dead_lettered = w->dead_lettered;
	st->oldest_age_ms = w->oldest_age_ms;
	st->corrupt_dropped = w->corrupt_dropped;
	st->quarantined = w->quarantined;
	st->no_direct = w->no_direct;
	st->dedup_window_ms = w->dedup_window_ms;
	st->dedup_keys = w->dedup_keys;
	st->dedup_suppressed = w->dedup_suppressed;
	st->delayed = w->delayed;
	st->ttl_ms = w->ttl_ms;
	st->expired = w->expired;
	st->durable = w->durable;
	st->sync_ms = w->sync_ms;
	st->log_bytes = w->log_bytes;
	st->log_syncs = w->log_syncs;
	st->bytes = w->bytes;
	st->max_bytes = w->max_bytes;
	st->resident_bytes = w->resident_bytes;
}

/* STAT name over the socket into *st (zeroed by the caller). */
static cq_status
admin_stat_named(cq_client *c, const char *name, cq_queue_stat *st)
{
	Conqueue__Reply *r = NULL;
	cq_status s;

	s = ops_named(c, name, CONQUEUE__NAMED__KIND__STAT, &r);
	if (s == CQ_OK && (r == NULL || r->stat == NULL)) {
		conn_set_error(c, CQ_PROTOCOL, "stat reply without stat", 0);
		s = CQ_PROTOCOL;
	}
	if (s == CQ_OK)
		admin_stat_from_wire(st, r->stat);
	if (r != NULL)
		arena_reply_free(c, r);
	return s;
}

/*
 * Copy the first size bytes of full into st, zeroing what lies past the
 * library's struct: a caller's struct is never written beyond its size.
 */
static cq_status
admin_stat_out(const cq_queue_stat *full, cq_queue_stat *st, size_t size)
{
	memset(st, 0, size);
	memcpy(st, full, size < sizeof *full ? size : sizeof *full);
	return CQ_OK;
}

/*
 * cq_stat_size: q's state and counters, size bytes of them. A direct
 * handle reads the segment itself; if that finds it corrupt, the daemon
 * says what it sees (its stat shows the queue quarantined, or its own
 * handle still serves the queue).
 */
cq_status
cq_stat_size(cq_queue *q, cq_queue_stat *st, size_t size)
{
	cq_queue_stat full;
	cq_status s = CQ_CORRUPT;

	if (st == NULL || size < CQ_QUEUE_STAT_SIZE_0_1)
		return CQ_INVALID;
	memset(st, 0, size);
	if (q == NULL)
		return CQ_INVALID;
	memset(&full, 0, sizeof full);
	if (dpath_query_live(q))
		s = dpath_stat(q, &full);
	/* The key counts are the daemon's (dedup.c): ask it for them. */
	if (s == CQ_OK && full.dedup_window_ms != 0 &&
	    size > offsetof(cq_queue_stat, dedup_keys)) {
		memset(&full, 0, sizeof full);
		s = CQ_CORRUPT;
	}
	if (s == CQ_CORRUPT)
		s = admin_stat_named(q->c, q->name, &full);
	return s == CQ_OK ? admin_stat_out(&full, st, size) : s;
}

/* cq_stat_by_name: name's state and counters without opening it. */
cq_status
cq_stat_by_name(cq_client *c, const char *name, cq_queue_stat *st, size_t size)
{
	cq_queue_stat full;
	cq_status s;

	if (st == NULL || size < CQ_QUEUE_STAT_SIZE_0_1)
		return CQ_INVALID;
	memset(st, 0, size);
	/* Not cq_name_valid: a ".quarantined-N" that cq_list shows is asked
	 * for too; the daemon answers CQ_INVALID or CQ_NOTFOUND. */
	if (c == NULL || name == NULL || name[0] == '\0' ||
	    strlen(name) > CQ_NAME_MAX)
		return CQ_INVALID;
	memset(&full, 0, sizeof full);
	s = admin_stat_named(c, name, &full);
	return s == CQ_OK ? admin_stat_out(&full, st, size) : s;
}

/*
 * cq_stat, the exported function: what binaries built with the 0.1 header
 * call. Their struct ends before corrupt_dropped, so that is all it fills.
 */
#undef cq_stat
cq_status
cq_stat(cq_queue *q, cq_queue_stat *st)
{
	return cq_stat_size(q, st, CQ_QUEUE_STAT_SIZE_0_1);
}

/* Change name's permission bits (the queue need not be open). */
static cq_status
admin_chmod(cq_client *c, const char *name, size_t namelen, uint32_t mode)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Chmod ch = CONQUEUE__CHMOD__INIT;

	req.op_case = CONQUEUE__REQUEST__OP_CHMOD;
	req.chmod = &ch;
	ch.name = ops_bytes(name, namelen);
	ch.mode = mode;
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* Change name's owner and/or group (the queue need not be open). */
static cq_status
admin_chown(
    cq_client *c, const char *name, size_t namelen, int64_t uid, int64_t gid)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Chown ch = CONQUEUE__CHOWN__INIT;

	/* (uint32_t)-1 is chown(2)'s "unchanged", never an id: refuse it. */
	if (uid < -1 || uid >= UINT32_MAX || gid < -1 || gid >= UINT32_MAX ||
	    (uid == -1 && gid == -1))
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_CHOWN;
	req.chown = &ch;
	ch.name = ops_bytes(name, namelen);
	if (uid >= 0) {
		ch.has_uid = 1;
		ch.uid = (uint32_t)uid;
	}
	if (gid >= 0) {
		ch.has_gid = 1;
		ch.gid = (uint32_t)gid;
	}
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_chmod: change q's permission bits. */
cq_status
cq_chmod(cq_queue *q, uint32_t mode)
{
	if (q == NULL)
		return CQ_INVALID;
	return admin_chmod(q->c, q->name, q->namelen, mode);
}

/* cq_chown: change q's owner and/or group; -1 leaves one unchanged. */
cq_status
cq_chown(cq_queue *q, int64_t uid, int64_t gid)
{
	if (q == NULL)
		return CQ_INVALID;
	return admin_chown(q->c, q->name, q->namelen, uid, gid);
}

/*
 * The owner's and admin's ops by name: they need no cq_open, which asks
 * for read or write permission, so an owner who cleared its own bits can
 * still restore them, close or pause its queue.
 */

/* Run a Named op on a queue given by name (validated first). */
static cq_status
admin_byname(cq_client *c, const char *name, Conqueue__Named__Kind kind)
{
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return ops_named(c, name, kind, NULL);
}

/* cq_close_by_name: close queue name. */
cq_status
cq_close_by_name(cq_client *c, const char *name)
{
	return admin_byname(c, name, CONQUEUE__NAMED__KIND__CLOSE);
}

/* cq_pause_by_name: pause queue name. */
cq_status
cq_pause_by_name(cq_client *c, const char *name)
{
	return admin_byname(c, name, CONQUEUE__NAMED__KIND__PAUSE);
}

/* cq_resume_by_name: end the pause of queue name. */
cq_status
cq_resume_by_name(cq_client *c, const char *name)
{
	return admin_byname(c, name, CONQUEUE__NAMED__KIND__RESUME);
}

/* cq_chmod_by_name: change the permission bits of queue name. */
cq_status
cq_chmod_by_name(cq_client *c, const char *name, uint32_t mode)
{
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return admin_chmod(c, name, strlen(name), mode);
}

/* cq_chown_by_name: change the owner and/or group of queue name. */
cq_status
cq_chown_by_name(cq_client *c, const char *name, int64_t uid, int64_t gid)
{
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return admin_chown(c, name, strlen(name), uid, gid);
}
