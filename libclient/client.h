/* client.h - internal state of a connection and the op engine's API. */

#ifndef CQ_LIBCLIENT_CLIENT_H
#define CQ_LIBCLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"
#include "proto/frame.h"
#include "proto/wire.h"

/* Grace the library adds to a timed op before giving up locally. */
#define ENGINE_GRACE_MS 2000
/* Local deadline of the handshake (the daemon's frame timeout is 10 s). */
#define ENGINE_HELLO_MS 15000

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
	void *arg;

	char *qname;    /* reserve: queue name, to release a late reply */
	uint8_t *frame; /* OPS_BACKLOG: the packed frame */
	size_t frame_len;

	struct cq_op *hnext; /* hash chain */
	struct cq_op *next;  /* backlog or done list */
};

/* A growable list of request ids (pending confirms and rejects). */
struct idlist {
	uint64_t *v;
	size_t n, cap;
};

struct cq_client {
	int fd;
	int dead;              /* connection lost: every call fails now */
	int closing;           /* inside cq_disconnect: no new ops */
	cq_status conn_status; /* of a connection-level (id 0) error reply */
	uint64_t next_id;
	int ids_wrapped; /* next_id went round: ids may be taken */

	/* Ops by request id: chained hash, resized to keep chains short. */
	struct cq_op **buckets;
	size_t nbuckets, nops;
	size_t napp; /* ops the application waits for (not internal) */

	/* Ops waiting for room below the daemon's pending limit. */
	struct cq_op *backlog_head, *backlog_tail;
	size_t window, window_used;

	/* Completed ops whose callbacks have not run yet. */
	struct cq_op *done_head, *done_tail;

	/* Local deadlines: a binary min-heap of ops. */
	struct cq_op **timers;
	size_t ntimers, timers_cap;

	uint8_t *out;
	size_t out_len, out_off, out_cap;
	size_t out_frame_start; /* start of the frame being written */
	uint8_t *in;
	size_t in_len, in_off, in_cap;

	struct idlist confirm, reject;

	struct cq_queue *queues; /* handles opened on this connection */

	uint32_t max_frame, max_message, max_pending, max_batch;
	char server_version[32];

	char error[256];
	int sys_errno;

	struct arena *spare; /* a freed reply arena, reused by the next */

	/* wire_reply_fast's Msgs: room for the largest pop submitted. */
	struct wire_msg *wmsgs;
	size_t wmsgs_cap;

	/* Freed op records, reused before calloc (bounded). */
	struct cq_op *op_free;
	size_t nop_free;

	/* Told whenever cq_client_events() may have changed. */
	void (*watch)(cq_client *, void *);
	void *watch_arg;
	int watch_last;
};

struct cq_queue {
	struct cq_client *c;
	struct cq_queue *next, *prev;
	size_t namelen;
	char name[CQ_NAME_MAX + 1];
};

struct cq_msg {
	uint64_t id;
	uint64_t enqueued_ns;
	uint32_t deliveries;
	unsigned band;
	size_t len;
	uint8_t *data; /* points just after the struct; NUL-terminated */
};

/* engine.c */
cq_client *engine_new(int fd);
void engine_free(cq_client *c);
cq_status engine_submit(cq_client *c, Conqueue__Request *req, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp);
cq_status engine_submit_hot(cq_client *c, const struct wire_hot *h,
    enum op_kind kind, int64_t timeout_ms, int sync, struct cq_op **opp);
cq_status engine_wait(cq_client *c, struct cq_op *op);
void engine_op_free(struct cq_op *op);
void engine_reply_free(cq_client *c, Conqueue__Reply *r);
cq_status engine_cancel(struct cq_op *op);
cq_status engine_process(cq_client *c);
void engine_shutdown(cq_client *c);
void engine_set_error(
    cq_client *c, cq_status st, const char *detail, int sys_errno);
int engine_events(cq_client *c);

/* msg.c */
cq_msg *msg_from_wire(const Conqueue__Msg *w);
cq_msg *msg_from_fast(const struct wire_msg *w);

/* ops.c */
cq_status ops_call(cq_client *c, Conqueue__Request *req, int64_t timeout_ms,
    enum op_kind kind, const char *qname, Conqueue__Reply **replyp);

#endif /* CQ_LIBCLIENT_CLIENT_H */
