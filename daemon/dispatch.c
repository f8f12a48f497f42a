/* dispatch.c - decoded requests to queue operations and replies. */

/*
 * dispatch knows the protocol's semantics (doc/protocol.md) and nothing of
 * sockets or libevent: a connection is a struct peer with two callbacks,
 * so tests can drive it directly. This file checks a request's envelope
 * and routes it; the work lives below it, each file with one job:
 *
 *   admin.c   create, delete, close, pause, chmod, chown, list, info
 *   browse.c  peek, purge, remove by id (queued messages in place)
 *   lease.c   ack, release, touch of reserved messages; lease expiry
 *   settle.c  receipts; messages going back, to NAME.dlq, or held
 *   flow.c    push and pop: at once, parked, served when a queue changes
 *   anypop.c  pop from the first of several queues (parked on all)
 *   resv.c    reservation records     op.c  a peer's pending ops
 *   access.c  permission checks       reply.c  status and stat replies
 *
 * Per peer, every op that is still pending lives in one table by request
 * id: parked pops and pushes (waiting in waiters.c) and hand-offs (pop
 * replies sent but not yet confirmed). A hand-off keeps its messages in
 * flight in the segment until the client confirms; a reject or the
 * connection closing puts them back at the head of their bands.
 *
 * After every mutation of a queue, flow_serve() answers the parked ops
 * that can now complete, oldest first.
 */

#include <ctype.h>

#include "common/common.h"
#include "daemon/admin.h"
#include "daemon/anypop.h"
#include "daemon/browse.h"
#include "daemon/config.h"
#include "daemon/dispatch.h"
#include "daemon/flow.h"
#include "daemon/lease.h"
#include "daemon/log.h"
#include "daemon/op.h"
#include "daemon/reply.h"
#include "daemon/resv.h"
#include "daemon/settle.h"

/* Set up a peer's tables. */
void
dispatch_peer_init(struct peer *p)
{
	htab_init(&p->opsby_id);
	TAILQ_INIT(&p->resv);
	p->greeted = 0;
	p->gone = 0;
	admin_connections++;
	lease_init();
	if (admin_start_ns == 0)
		admin_start_ns = time_mono_ns();
}

/* Send a reply carrying only a status and detail. */
void
dispatch_reply_status(
    struct peer *p, uint64_t id, cq_status st, const char *detail)
{
	reply_status(p, id, st, detail);
}

/* A parked op's deadline passed. */
void
dispatch_waiter_expired(struct waiter *w)
{
	flow_expired(w);
}

/* Hello: check the version, answer with the limits. */
static void
dispatch_hello(struct peer *p, const Conqueue__Request *req)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Welcome w = CONQUEUE__WELCOME__INIT;
	Conqueue__Limits l = CONQUEUE__LIMITS__INIT;

	if (p->greeted) {
		reply_status(
		    p, req->id, CQ_INVALID, "hello was already received");
		return;
	}
	l.max_frame = cfg.max_frame;
	l.max_message = cfg.max_message;
	l.max_pending = cfg.max_pending_per_conn;
	l.max_batch = cfg.max_batch;
	w.protocol_version = CQ_PROTOCOL_VERSION;
	w.server_version = (char *)(uintptr_t)PACKAGE_VERSION;
	w.limits = &l;
	r.id = req->id;
	r.status = CQ_OK;
	r.welcome = &w;
	p->greeted = 1;
	if (req->hello->client_name != NULL) {
		char name[65];
		size_t i;
		/* The name is the client's word: printable bytes only. */
		for (i = 0;
		     i < sizeof name - 1 && req->hello->client_name[i] != '\0';
		     i++)
			name[i] =
			    isprint((unsigned char)req->hello->client_name[i])
			        ? req->hello->client_name[i]
			        : '?';
		name[i] = '\0';
		log_debug("connection %llu: uid %u pid %ld client '%s'",
		    (unsigned long long)p->cid, p->uid, (long)p->pid, name);
	}
	p->ops->send(p, &r);
}

/* Handle one request; see doc/protocol.md for the rules applied here. */
void
dispatch_request(struct peer *p, const Conqueue__Request *req)
{
	if (p->gone)
		return;
	admin_total_ops++;
	if (!p->greeted) {
		if (req->op_case != CONQUEUE__REQUEST__OP_HELLO ||
		    req->hello->protocol_version != CQ_PROTOCOL_VERSION) {
			reply_f(p, req->id, CQ_PROTOCOL,
			    "protocol version mismatch: daemon speaks %d",
			    CQ_PROTOCOL_VERSION);
			p->ops->close(p, "bad hello");
			return;
		}
		dispatch_hello(p, req);
		return;
	}
	settle_receipts(p, req);
	if (req->op_case == CONQUEUE__REQUEST__OP__NOT_SET) {
		if (req->id != 0) {
			reply_status(p, req->id, CQ_PROTOCOL,
			    "request without an operation");
			p->ops->close(p, "request without an operation");
		}
		return;
	}
	if (req->id == 0) {
		reply_status(p, 0, CQ_PROTOCOL, "operation with request id 0");
		p->ops->close(p, "operation with request id 0");
		return;
	}
	if (op_find(p, req->id) != NULL) {
		reply_f(p, req->id, CQ_INVALID,
		    "request id %llu is still pending",
		    (unsigned long long)req->id);
		return;
	}
	switch (req->op_case) {
	case CONQUEUE__REQUEST__OP_HELLO:
		dispatch_hello(p, req);
		break;
	case CONQUEUE__REQUEST__OP_CREATE:
		admin_create(p, req->id, req->create);
		break;
	case CONQUEUE__REQUEST__OP_NAMED:
		admin_named(p, req->id, req->named);
		break;
	case CONQUEUE__REQUEST__OP_PUSH:
		flow_push(p, req);
		break;
	case CONQUEUE__REQUEST__OP_POP:
		flow_pop(p, req);
		break;
	case CONQUEUE__REQUEST__OP_MSG_OP:
		if (req->msg_op->kind == CONQUEUE__MSG_OP__KIND__REMOVE)
			browse_remove(p, req->id, req->msg_op);
		else
			lease_msg_op(p, req->id, req->msg_op);
		break;
	case CONQUEUE__REQUEST__OP_POP_ANY:
		anypop_request(p, req->id, req->pop_any);
		break;
	case CONQUEUE__REQUEST__OP_PEEK:
		browse_peek(p, req->id, req->peek);
		break;
	case CONQUEUE__REQUEST__OP_CHMOD:
		admin_chmod(p, req->id, req->chmod);
		break;
	case CONQUEUE__REQUEST__OP_CHOWN:
		admin_chown(p, req->id, req->chown);
		break;
	case CONQUEUE__REQUEST__OP_CANCEL:
		flow_cancel(p, req->id, req->cancel);
		break;
	case CONQUEUE__REQUEST__OP_LIST:
		admin_list(p, req->id);
		break;
	case CONQUEUE__REQUEST__OP_PING:
		reply_status(p, req->id, CQ_OK, NULL);
		break;
	case CONQUEUE__REQUEST__OP_INFO:
		admin_info(p, req->id);
		break;
	default:
		reply_status(p, req->id, CQ_PROTOCOL, "unknown operation");
		p->ops->close(p, "unknown operation");
		break;
	}
}

/* The peer is leaving: unpark, return hand-offs and reservations. */
void
dispatch_peer_gone(struct peer *p)
{
	struct hentry *e, *next;
	size_t i;

	if (p->gone)
		return;
	p->gone = 1;
	admin_connections--;
	/*
	 * Unpark everything first: serving the queues below must not hand
	 * this peer the very messages it is giving back.
	 */
	i = 0;
	for (e = htab_next(&p->opsby_id, &i, NULL); e != NULL; e = next) {
		next = htab_next(&p->opsby_id, &i, e);
		if (op_of_entry(e)->kind == OP_PARKED)
			op_free(op_of_entry(e));
	}
	settle_return_all(p);
	htab_free(&p->opsby_id);
}

/* SIGTERM: every parked op gets CQ_DISCONNECTED now. */
void
dispatch_shutdown(void)
{
	struct rqueue *q;

	TAILQ_FOREACH(q, &registry_queues, link)
	flow_fail_parked(q, CQ_DISCONNECTED, "daemon shutting down");
}

/*
 * At exit: free the detached reservations (their messages stay in flight
 * in the segments and come back at the next start).
 */
void
dispatch_free_all(void)
{
	struct rqueue *q;

	TAILQ_FOREACH(q, &registry_queues, link)
	resv_free_queue(q);
	op_free_pool();
	resv_free_pool();
}
