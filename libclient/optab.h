/* optab.h - op records, the table of ops by request id, local deadlines. */

#ifndef CQ_LIBCLIENT_OPTAB_H
#define CQ_LIBCLIENT_OPTAB_H

#include <stdint.h>

#include "conn.h"
#include "proto/conqueue.pb-c.h"

/* Grace the library adds to a timed op before giving up locally. */
#define OPTAB_GRACE_MS 2000

/* What an op's reply means to the engine. */
enum op_kind {
	OP_PLAIN,   /* any reply ends it */
	OP_POP,     /* plain pop: an OK reply must be confirmed or rejected */
	OP_RESERVE, /* reserve: an abandoned OK reply is released */
	OP_CANCEL,  /* internal Cancel{target}: no result for anyone */
	OP_RELEASE, /* internal release of an abandoned reservation */
};

/* Where an op is in its life. */
enum op_state {
	OPS_BACKLOG, /* packed, waiting for room in the daemon's pending limit
	              */
	OPS_SENT,    /* in the output buffer or sent; waiting for its reply */
	OPS_DONE,    /* has its result; callback not yet run */
	OPS_GHOST,   /* given up locally; its late reply is still expected */
};

struct cq_op {
	struct cq_client *c;
	uint64_t id;
	enum op_kind kind;
	enum op_state state;
	int sync;             /* a blocking call waits on it: no callback */
	int hot;              /* a blocking op that may complete from
	                         wire_reply_fast (no Reply wanted) */
	int cancel_sent;      /* Cancel{id} already went out */
	int in_window;        /* counted in c->window_used */
	int fast;             /* completed by wire_reply_fast: the reply's
	                         detail, sys_errno and msg are held below */
	int64_t timeout_ms;   /* as sent to the daemon (-1: forever) */
	uint64_t deadline_ns; /* local safety net; UINT64_MAX: none */
	size_t heap_idx;      /* position in c->timers, or SIZE_MAX */

	cq_status status;
	Conqueue__Reply *reply; /* kept for sync callers; freed by them */
	char *detail;           /* detail text of an async failure */
	int sys_errno;          /* with detail */
	cq_msg *msg;            /* async pop: its message, made at the reply */
	cq_msg **msgs;          /* fast batch pop: its n_msgs messages */
	size_t n_msgs;

	cq_push_cb *push_cb;
	cq_pop_cb *pop_cb;
	cq_pop_many_cb *pop_many_cb;
	cq_pop_any_cb *pop_any_cb;
	void *arg;

	int fds[2]; /* OPEN with direct: fds its reply carried (nfds) */
	size_t nfds;

	char *qname;    /* reserve: queue name, to release a late reply */
	uint8_t *frame; /* OPS_BACKLOG: the packed frame */
	size_t frame_len;

	struct cq_op *hnext; /* hash chain */
	struct cq_op *next;  /* backlog or done list */
};

struct cq_op *optab_op_new(cq_client *c);
void optab_op_free(struct cq_op *op);
uint64_t optab_next_id(cq_client *c);
struct cq_op *optab_find(const cq_client *c, uint64_t id);
void optab_add(cq_client *c, struct cq_op *op);
void optab_del(cq_client *c, struct cq_op *op);
void optab_timer_add(cq_client *c, struct cq_op *op);
void optab_timer_del(cq_client *c, struct cq_op *op);
void optab_unlink(cq_client *c, struct cq_op *op);
void optab_finish(
    cq_client *c, struct cq_op *op, cq_status st, Conqueue__Reply *reply);

#endif /* CQ_LIBCLIENT_OPTAB_H */
