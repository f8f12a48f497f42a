/* conn.h - a connection's state, its last error and the events it wants. */

/*
 * The library's layers, calls going down only:
 *   public API (client.c, ops.c, admin.c, push.c, pop.c, msg.c)
 *     -> ops.c (blocking call helper)
 *     -> engine.c (wait, callbacks, deadlines, loss, shutdown)
 *     -> send.c (submit, output buffer, receipts) / recv.c (replies)
 *     -> optab.c (op records, table, timers), arena.c (reply memory)
 *     -> conn.c (this state), msg.c (messages), wire.c (hand codec)
 */

#ifndef CQ_LIBCLIENT_CONN_H
#define CQ_LIBCLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "conqueue/conqueue.h"
#include "proto/frame.h"

struct arena;
struct core_queue;
struct cq_op;

/* Fds received with SCM_RIGHTS and not yet claimed by a reply frame. */
#define CONN_FDQ_MAX 16
struct wire_msg;

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

	/* Received fds in arrival order, each with the stream offset of the
	 * first byte that came with it: a reply frame announcing fds = N
	 * takes those that came with its bytes; any other is closed. */
	int fdq[CONN_FDQ_MAX];
	uint64_t fdq_at[CONN_FDQ_MAX];
	size_t fdq_n;
	uint64_t rx_total; /* bytes received so far */
	int no_direct;     /* CQ_CONNECT_NO_DIRECT or CONQUEUE_DIRECT=0 */
	/* Receipts went out with request settle_id (or just before it); 0
	 * once a reply to it or a later request proved them settled. */
	uint64_t settle_id;

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

	/* The direct path (dpath.c): the mapped segment, or NULL. */
	struct core_queue *dq;
	int bell;          /* the daemon's doorbell eventfd */
	uint32_t max_size; /* of the segment's geometry */
	uint8_t *pbuf;     /* a direct pop's copy-out buffer */
	size_t pbuf_cap;
};

/* conn.c */
void conn_set_error(
    cq_client *c, cq_status st, const char *detail, int sys_errno);
int conn_events(cq_client *c);
void conn_notify(cq_client *c);
void conn_fdq_push(cq_client *c, int fd, uint64_t at);
size_t conn_fdq_take(cq_client *c, int *fds, size_t n, uint64_t end);
void conn_fdq_drop(cq_client *c, uint64_t end);
void conn_fdq_clear(cq_client *c);

#endif /* CQ_LIBCLIENT_CONN_H */
