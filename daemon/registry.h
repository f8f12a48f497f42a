/* registry.h - the queues the daemon knows, by name, and per-uid usage. */

#ifndef CQ_DAEMON_REGISTRY_H
#define CQ_DAEMON_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conqueue/conqueue.h"
#include "core/queue.h"
#include "daemon/htab.h"
#include "daemon/waiters.h"

struct event;
struct op;
TAILQ_HEAD(op_list, op);

/* A queue known to the daemon. */
struct rqueue {
	struct hentry h; /* by name */
	TAILQ_ENTRY(rqueue) link;
	char name[CQ_NAME_MAX + 16];
	size_t namelen;
	uint32_t segno;
	char segname[128];
	struct core_queue *core; /* NULL if quarantined */
	int quarantined;
	uint32_t uid; /* owner, charged for storage */
	uint64_t storage;
	struct waitq wq;
	struct op_list handoffs; /* dispatch's in-flight pop records */
	struct htab resv;        /* dispatch's reservations by message id */
	int serving;             /* dispatch: serve loop running */
	int serve_again;
	int back_mark;          /* dispatch: listed among queues to serve */
	struct event *bell_ev;  /* bell.c: doorbell watch, NULL until a grant */
	int bell_fd;            /* its FIFO, valid while bell_ev is set */
	struct event *stall_ev; /* stall.c: retry timer, made on first use */
	uint32_t stall_ms;      /* stall.c: its backoff; 0: not stalled */
	struct dedup *dedup;    /* dedup.c: keys seen, NULL: no window */
	struct expire *expire;  /* expire.c: time to live, NULL: none */
	struct durable *dur;    /* durable.c: its log, NULL: not durable */
	uint64_t trim_sig;      /* trim.c: core_change_sig at the last trim */
};
TAILQ_HEAD(rqueue_list, rqueue);

/* Usage by one uid, for the per-uid limits. */
struct uid_usage {
	struct hentry h;
	uint32_t uid;
	uint32_t queues;
	uint32_t connections;
	uint64_t storage;
};

extern struct rqueue_list registry_queues;
extern uint32_t registry_count;
/* Open files the daemon may have (0: unknown); main sets it at start. */
extern uint64_t registry_fd_limit;
extern uint64_t registry_storage;

/* Scan and reattach the instance's segments; -1 with *cause on failure. */
int registry_open(const char *instance, char **cause);
void registry_close(void);
struct rqueue *registry_find(const void *name, size_t len);
/*
 * Create a queue owned by attr->uid: checks the daemon limits unless
 * force is set. Returns a cq_status with a static or formatted reason.
 */
cq_status registry_create(const struct core_attr *attr, int force,
    struct rqueue **qp, char *why, size_t whylen);
/*
 * Open q's segment file again, O_RDWR|O_CLOEXEC, for SCM_RIGHTS (no fd is
 * kept per queue): the caller closes it. -1 with errno.
 */
int registry_segment_fd(struct rqueue *q);
/* Remove q's segment and forget it (the caller has woken its waiters). */
void registry_delete(struct rqueue *q);
/*
 * Give q to uid:gid, moving its queue count and storage to uid's usage:
 * CQ_LIMIT (nothing changed) if uid's per-uid limits do not allow it.
 */
cq_status registry_chown(
    struct rqueue *q, uint32_t uid, uint32_t gid, char *why, size_t whylen);

#define REGISTRY_DLQ_SUFFIX     ".dlq"
#define REGISTRY_DLQ_SUFFIX_LEN 4

/* Write NAME.dlq for a queue name into buf: its length, or -1 if too long. */
int registry_dlq_name(const char *name, size_t len, char *buf, size_t size);
/* Usage of uid, created on demand (NULL only if out of memory). */
struct uid_usage *registry_uid(uint32_t uid);
/* The default instance name for an absolute socket path. */
void registry_default_instance(const char *sockpath, char *buf, size_t len);

#endif /* CQ_DAEMON_REGISTRY_H */
