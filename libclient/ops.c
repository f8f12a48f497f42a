/* ops.c - the blocking call under every public op; connection-level ops. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "dpath.h"
#include "engine.h"
#include "ops.h"
#include "send.h"

/*
 * Wait for op, submitted blocking, and record a failure for
 * cq_client_error(); the caller still owns op and what it holds (the
 * Reply, or a message decoded in place).
 */
cq_status
ops_wait(cq_client *c, struct cq_op *op, const char *qname)
{
	cq_status st;
	const Conqueue__Reply *r;

	if (qname != NULL && (op->qname = strdup(qname)) == NULL) {
		/* Without the name a late reservation waits for its lease
		 * instead of being released: acceptable. */
	}
	st = engine_wait(c, op);
	r = op->reply;
	if (st != CQ_OK && r != NULL)
		conn_set_error(
		    c, st, r->detail, r->has_sys_errno ? r->sys_errno : 0);
	else if (st != CQ_OK && op->fast)
		conn_set_error(c, st, op->detail, op->sys_errno);
	else if (st != CQ_OK && st != CQ_DISCONNECTED && st != CQ_TIMEDOUT)
		conn_set_error(c, st, NULL, 0);
	return st;
}

/*
 * Submit req and wait for its reply: the blocking style on top of the
 * engine. On return *replyp (if asked for) is the reply to free, or NULL.
 */
cq_status
ops_call(cq_client *c, Conqueue__Request *req, int64_t timeout_ms,
    enum op_kind kind, const char *qname, Conqueue__Reply **replyp)
{
	struct cq_op *op;
	cq_status st;

	if (replyp != NULL)
		*replyp = NULL;
	st = send_submit(c, req, kind, timeout_ms, 1, &op);
	if (st != CQ_OK) {
		conn_set_error(c, st, NULL, st == CQ_SYSTEM ? ENOMEM : 0);
		return st;
	}
	/* A caller that wants only the status takes a reply decoded in
	 * place too (any plain reply is id, status, maybe detail). */
	op->hot = replyp == NULL && kind == OP_PLAIN;
	st = ops_wait(c, op, qname);
	if (replyp != NULL) {
		*replyp = op->reply;
		op->reply = NULL;
	}
	optab_op_free(op);
	return st;
}

/* Reject a bad queue name before it costs a round trip. */
cq_status
ops_check_name(cq_client *c, const char *name)
{
	if (name == NULL || !cq_name_valid(name, strlen(name))) {
		conn_set_error(c, CQ_INVALID, "invalid queue name", 0);
		return CQ_INVALID;
	}
	return CQ_OK;
}

/* Run a Named op on queue name. */
cq_status
ops_named(cq_client *c, const char *name, Conqueue__Named__Kind kind,
    Conqueue__Reply **replyp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Named named = CONQUEUE__NAMED__INIT;

	req.op_case = CONQUEUE__REQUEST__OP_NAMED;
	req.named = &named;
	named.kind = kind;
	named.name = ops_bytes(name, strlen(name));
	return ops_call(c, &req, -1, OP_PLAIN, NULL, replyp);
}

/* cq_ping: a round trip. */
cq_status
cq_ping(cq_client *c)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Ping ping = CONQUEUE__PING__INIT;

	if (c == NULL)
		return CQ_INVALID;
	req.op_case = CONQUEUE__REQUEST__OP_PING;
	req.ping = &ping;
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_create: create a queue (attr NULL: defaults chosen by the daemon). */
cq_status
cq_create(cq_client *c, const char *name, const cq_queue_attr *attr)
{
	return cq_create_ttl(c, name, attr, 0, 0, 0);
}

/* cq_create_flags: cq_create with CQ_CREATE_* flags. */
cq_status
cq_create_flags(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags)
{
	return cq_create_ttl(c, name, attr, flags, 0, 0);
}

/* cq_create_dedup: cq_create_flags with a de-duplication window. */
cq_status
cq_create_dedup(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags, uint64_t window_ms)
{
	return cq_create_ttl(c, name, attr, flags, window_ms, 0);
}

/* cq_create_ttl: cq_create_dedup with a per-queue time to live too. */
cq_status
cq_create_ttl(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags, uint64_t window_ms, uint64_t ttl_ms)
{
	return cq_create_durable(
	    c, name, attr, flags, window_ms, ttl_ms, CQ_DURABLE_NONE, 0);
}

/* cq_create_durable: cq_create_ttl of a durable queue. */
cq_status
cq_create_durable(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags, uint64_t window_ms, uint64_t ttl_ms, cq_durable policy,
    uint32_t sync_ms)
{
	return cq_create_full(
	    c, name, attr, flags, window_ms, ttl_ms, policy, sync_ms, 0);
}

/* cq_create_bounded: cq_create_flags with a bound on the bytes held. */
cq_status
cq_create_bounded(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags, uint64_t max_bytes)
{
	return cq_create_full(
	    c, name, attr, flags, 0, 0, CQ_DURABLE_NONE, 0, max_bytes);
}

/*
 * cq_create_full: every create option at once. The daemon checks
 * max_bytes against max_size (its default too, when attr leaves it 0).
 */
cq_status
cq_create_full(cq_client *c, const char *name, const cq_queue_attr *attr,
    unsigned flags, uint64_t window_ms, uint64_t ttl_ms, cq_durable policy,
    uint32_t sync_ms, uint64_t max_bytes)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Create cr = CONQUEUE__CREATE__INIT;
	Conqueue__QueueAttr qa = CONQUEUE__QUEUE_ATTR__INIT;
	cq_status st;

	if (c == NULL || (flags & ~CQ_CREATE_NO_DIRECT) != 0 ||
	    window_ms > CQ_DEDUP_WINDOW_MAX || ttl_ms > CQ_TTL_MAX ||
	    (unsigned)policy > 3 ||
	    (policy != CQ_DURABLE_INTERVAL && sync_ms != 0) ||
	    sync_ms > CQ_DURABLE_SYNC_MS_MAX || max_bytes > CQ_MAX_BYTES_MAX ||
	    (max_bytes != 0 && attr != NULL && attr->max_size != 0 &&
	        max_bytes < attr->max_size))
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	req.op_case = CONQUEUE__REQUEST__OP_CREATE;
	req.create = &cr;
	cr.name = ops_bytes(name, strlen(name));
	if (attr != NULL) {
		/* Zero means "default": leave those fields out. */
		cr.attr = &qa;
		qa.has_capacity = attr->capacity != 0;
		qa.capacity = attr->capacity;
		qa.has_max_size = attr->max_size != 0;
		qa.max_size = attr->max_size;
		qa.has_bands = attr->bands != 0;
		qa.bands = attr->bands;
		qa.has_mode = attr->mode != 0;
		qa.mode = attr->mode;
		qa.has_max_deliveries = attr->max_deliveries != 0;
		qa.max_deliveries = attr->max_deliveries;
		qa.has_lease_ms = attr->lease_ms != 0;
		qa.lease_ms = attr->lease_ms;
		qa.has_serial = attr->serial != 0;
		qa.serial = attr->serial != 0;
	}
	if (flags & CQ_CREATE_NO_DIRECT) {
		cr.attr = &qa;
		qa.has_no_direct = qa.no_direct = 1;
	}
	if (window_ms != 0) {
		cr.attr = &qa;
		qa.has_dedup_window_ms = 1;
		qa.dedup_window_ms = window_ms;
	}
	if (ttl_ms != 0) {
		cr.attr = &qa;
		qa.has_ttl_ms = 1;
		qa.ttl_ms = ttl_ms;
	}
	if (policy != CQ_DURABLE_NONE) {
		cr.attr = &qa;
		qa.has_durable = 1;
		qa.durable = (uint32_t)policy;
		qa.has_sync_ms = sync_ms != 0;
		qa.sync_ms = sync_ms;
	}
	if (max_bytes != 0) {
		cr.attr = &qa;
		qa.has_max_bytes = 1;
		qa.max_bytes = max_bytes;
	}
	return ops_call(c, &req, -1, OP_PLAIN, NULL, NULL);
}

/* cq_delete: close and remove a queue. */
cq_status
cq_delete(cq_client *c, const char *name)
{
	cq_status st;

	if (c == NULL)
		return CQ_INVALID;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	return ops_named(c, name, CONQUEUE__NAMED__KIND__DELETE, NULL);
}

/* cq_list: names of the readable queues, NULL-terminated. */
cq_status
cq_list(cq_client *c, char ***namesp, size_t *countp)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__ListQueues lq = CONQUEUE__LIST_QUEUES__INIT;
	Conqueue__Reply *r = NULL;
	cq_status st;
	char **names;
	size_t i;

	if (c == NULL || namesp == NULL)
		return CQ_INVALID;
	*namesp = NULL;
	if (countp != NULL)
		*countp = 0;
	req.op_case = CONQUEUE__REQUEST__OP_LIST;
	req.list = &lq;
	if ((st = ops_call(c, &req, -1, OP_PLAIN, NULL, &r)) != CQ_OK)
		goto out;
	if ((names = calloc(r->n_queues + 1, sizeof *names)) == NULL) {
		st = CQ_SYSTEM;
		goto out;
	}
	for (i = 0; i < r->n_queues; i++) {
		const ProtobufCBinaryData *n = &r->queues[i]->name;
		if ((names[i] = malloc(n->len + 1)) == NULL) {
			cq_list_free(names);
			st = CQ_SYSTEM;
			goto out;
		}
		memcpy(names[i], n->data, n->len);
		names[i][n->len] = '\0';
	}
	*namesp = names;
	if (countp != NULL)
		*countp = r->n_queues;
out:
	if (st == CQ_SYSTEM && r != NULL)
		conn_set_error(c, st, "out of memory", ENOMEM);
	arena_reply_free(c, r);
	return st;
}

/* cq_list_free: free what cq_list returned. */
void
cq_list_free(char **names)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/* cq_open: check the queue exists and may be used; a handle on it. */
cq_status
cq_open(cq_client *c, const char *name, cq_queue **qp)
{
	struct cq_queue *q;
	cq_status st;

	if (c == NULL || qp == NULL)
		return CQ_INVALID;
	*qp = NULL;
	if ((st = ops_check_name(c, name)) != CQ_OK)
		return st;
	if ((q = calloc(1, sizeof *q)) == NULL) {
		conn_set_error(c, CQ_SYSTEM, "out of memory", ENOMEM);
		return CQ_SYSTEM;
	}
	q->c = c;
	q->namelen = strlen(name);
	memcpy(q->name, name, q->namelen + 1);
	/* The daemon may hand over the segment (the direct path). */
	if ((st = dpath_open(c, q)) != CQ_OK) {
		free(q);
		return st;
	}
	q->next = c->queues;
	if (c->queues != NULL)
		c->queues->prev = q;
	c->queues = q;
	*qp = q;
	return CQ_OK;
}

/* cq_queue_free: forget a handle (ops already submitted go on). */
void
cq_queue_free(cq_queue *q)
{
	if (q == NULL)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->c->queues = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	dpath_free(q);
	free(q);
}

/* cq_queue_name: the name the handle was opened with. */
const char *
cq_queue_name(const cq_queue *q)
{
	return q->name;
}

/* cq_info: the daemon's own figures. */
cq_status
cq_info(cq_client *c, cq_daemon_info *info)
{
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Info in = CONQUEUE__INFO__INIT;
	Conqueue__Reply *r = NULL;
	const Conqueue__DaemonInfo *w;
	cq_status st;

	if (c == NULL || info == NULL)
		return CQ_INVALID;
	memset(info, 0, sizeof *info);
	req.op_case = CONQUEUE__REQUEST__OP_INFO;
	req.info = &in;
	st = ops_call(c, &req, -1, OP_PLAIN, NULL, &r);
	if (st == CQ_OK && (r == NULL || r->info == NULL)) {
		conn_set_error(c, CQ_PROTOCOL, "info reply without info", 0);
		st = CQ_PROTOCOL;
	}
	if (st == CQ_OK) {
		w = r->info;
		strncpy(info->version, w->version != NULL ? w->version : "",
		    sizeof info->version - 1);
		info->uptime_ms = w->uptime_ms;
		info->connections = w->connections;
		info->queues = w->queues;
		info->total_ops = w->total_ops;
		info->storage_bytes = w->storage_bytes;
		info->rss_bytes = w->rss_bytes;
		info->pid = w->pid;
	}
	if (r != NULL)
		arena_reply_free(c, r);
	return st;
}
