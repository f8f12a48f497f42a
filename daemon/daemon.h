/* daemon.h - internal interfaces between the modules of conqueued. */

#ifndef CQ_DAEMON_H
#define CQ_DAEMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "common/common.h"
#include "conqueue/conqueue.h"
#include "core/queue.h"
#include "proto/conqueue.pb-c.h"

struct event_base;

/*
 * Dependencies point down: main -> listener -> conn -> dispatch ->
 * waiters, registry -> core. dispatch and registry take no libevent types
 * in their signatures; waiters owns the deadline timers.
 */

/* config.c ------------------------------------------------------------ */

#define LOG_LEVEL_ERROR 0
#define LOG_LEVEL_WARN  1
#define LOG_LEVEL_INFO  2
#define LOG_LEVEL_DEBUG 3

/* Every setting of conqueued.conf; strings are owned (free with config_free).
 */
struct config {
	char *socket;   /* NULL: the default path rule */
	char *instance; /* NULL: derived from the socket path */
	uint32_t socket_mode;
	char *socket_group; /* NULL: leave the group alone */
	int log_level;
	int syslog;
	uint32_t max_frame;
	uint32_t max_message;
	uint32_t max_capacity;
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t max_queues;
	uint32_t max_queues_per_uid;
	uint64_t max_storage_per_uid;
	uint32_t max_pending_per_conn;
	uint32_t max_batch;
	uint64_t max_outbuf;
	uint32_t slow_reader_grace_ms;
	uint32_t frame_timeout_ms;
	uint32_t lock_timeout_ms;
};

/* The settings in force (main owns it; SIGHUP updates the limits). */
extern struct config cfg;

void config_defaults(struct config *c);
void config_free(struct config *c);
/* Set key to value; -1 with a malloc'd reason in *cause. */
int config_set(
    struct config *c, const char *key, const char *value, char **cause);
/* Read a file of key = value lines; -1 with "file:line: reason" in *cause. */
int config_load(struct config *c, const char *path, char **cause);
/* Check the settings against each other; -1 with a reason in *cause. */
int config_check(const struct config *c, char **cause);
/* SIGHUP: take the reloadable settings of n into dst, logging changes. */
void config_update(struct config *dst, const struct config *n);
/* Parse a log level name; -1 if unknown. */
int config_log_level(const char *name);
/* The name of log level l. */
const char *config_log_level_name(int l);

/* log.c --------------------------------------------------------------- */

void log_open(int level, int use_syslog);
void log_set_level(int level);
void log_close(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* htab.c -------------------------------------------------------------- */

/* An intrusive chained hash table; the caller embeds struct hentry. */
struct hentry {
	struct hentry *next;
	uint64_t hash;
};

struct htab {
	struct hentry **b;
	size_t nb; /* buckets, a power of two */
	size_t n;  /* entries */
};

/* Return nonzero if entry e matches key. */
typedef int htab_match_fn(const struct hentry *e, const void *key);

void htab_init(struct htab *t);
void htab_free(struct htab *t);
/* Insert e with hash h (no duplicate check); -1 if out of memory. */
int htab_insert(struct htab *t, struct hentry *e, uint64_t h);
struct hentry *htab_find(
    const struct htab *t, uint64_t h, htab_match_fn *m, const void *key);
void htab_remove(struct htab *t, struct hentry *e);
/* Iterate: start with *i = 0 and e = NULL; NULL at the end. */
struct hentry *htab_next(const struct htab *t, size_t *i, struct hentry *e);
/* Draining: first entry in a bucket >= *i (start at 0), or NULL. */
struct hentry *htab_drain_next(const struct htab *t, size_t *i);
/* 64-bit hash of a byte string (FNV-1a). */
uint64_t htab_hash_bytes(const void *buf, size_t len);
/* Hash of an integer key. */
uint64_t htab_hash_u64(uint64_t v);

/* waiters.c ----------------------------------------------------------- */

/* Parked blocking pops and pushes of one queue, each FIFO. */
struct waiter;
TAILQ_HEAD(waiter_list, waiter);
struct waitq {
	struct waiter_list list[2]; /* WAIT_POP, WAIT_PUSH */
	uint32_t n[2];
};
#define WAIT_POP  0
#define WAIT_PUSH 1

/* One parked op; embedded in the owner's op (dispatch). */
struct waiter {
	TAILQ_ENTRY(waiter) link;
	struct waitq *wq; /* NULL when not parked */
	int kind;         /* WAIT_POP or WAIT_PUSH */
	uint64_t deadline_ns;
	struct event *timer; /* only for finite deadlines */
};

/* Called when a waiter's deadline passes (it is already unparked). */
typedef void waiters_expire_fn(struct waiter *w);

void waiters_init(struct event_base *base, waiters_expire_fn *expire);
void waitq_init(struct waitq *wq);
/* Park w at the tail of wq's kind list until deadline_ns (UINT64_MAX: never).
 */
int waiters_park(
    struct waitq *wq, struct waiter *w, int kind, uint64_t deadline_ns);
/* Unpark w (no-op if not parked). */
void waiters_remove(struct waiter *w);
/* The oldest parked waiter of kind, or NULL. */
struct waiter *waiters_first(struct waitq *wq, int kind);

/* Generic lease timer, shared by reservations (same machinery as waiters). */
struct lease_timer {
	struct event *ev;
	uint64_t deadline_ns; /* monotonic */
	void (*fire)(struct lease_timer *t);
};
int lease_timer_set(struct lease_timer *t, uint64_t deadline_ns);
void lease_timer_clear(struct lease_timer *t);

/* registry.c ---------------------------------------------------------- */

struct op;
TAILQ_HEAD(op_list, op);
struct resv;
TAILQ_HEAD(resv_list, resv);

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
	int back_mark; /* dispatch: listed among queues to serve */
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
/* Remove q's segment and forget it (the caller has woken its waiters). */
void registry_delete(struct rqueue *q);
/*
 * Give q to uid:gid, moving its queue count and storage to uid's usage:
 * CQ_LIMIT (nothing changed) if uid's per-uid limits do not allow it.
 */
cq_status registry_chown(
    struct rqueue *q, uint32_t uid, uint32_t gid, char *why, size_t whylen);

/* crashpoint.c */
int crashpoint_init(void);
void crashpoint(const char *site);
/* Usage of uid, created on demand (NULL only if out of memory). */
struct uid_usage *registry_uid(uint32_t uid);
/* The default instance name for an absolute socket path. */
void registry_default_instance(const char *sockpath, char *buf, size_t len);

/* dispatch.c ---------------------------------------------------------- */

struct peer;

/* How dispatch talks back to a connection (conn.c, or a test harness). */
struct peer_ops {
	/* Queue reply r for the peer (packed at once: r may be freed). */
	void (*send)(struct peer *p, const Conqueue__Reply *r);
	/* Close the connection after flushing what was sent. */
	void (*close)(struct peer *p, const char *why);
};

/* One client connection as dispatch sees it. */
struct peer {
	const struct peer_ops *ops;
	uint64_t cid; /* nonzero connection id, the core's owner token */
	uint32_t uid;
	uint32_t gid;
	uint32_t *groups; /* supplementary groups (SO_PEERGROUPS), or NULL */
	uint32_t ngroups;
	pid_t pid;
	int greeted;
	int gone;
	struct htab opsby_id;  /* pending ops (parked pops/pushes, handoffs) */
	struct resv_list resv; /* attached reservations */
};

/* Whether the peer is in group gid: its primary or a supplementary one. */
static inline int
peer_in_group(const struct peer *p, uint32_t gid)
{
	uint32_t i;

	if (p->gid == gid)
		return 1;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return 1;
	return 0;
}

extern uint64_t dispatch_total_ops;
extern uint32_t dispatch_connections;
extern uint64_t dispatch_start_ns;

/* Initialise a peer's state (the caller fills uid, gid, pid, ops). */
void dispatch_peer_init(struct peer *p);
/*
 * Handle one decoded request. req is only lent for the call (the caller
 * frees it after; a parked op keeps copies of what it needs). May call
 * p->ops send and close, but never frees p.
 */
void dispatch_request(struct peer *p, const Conqueue__Request *req);
/*
 * The connection is going away: unpark its ops, return its unconfirmed
 * pops and attached reservations. Idempotent.
 */
void dispatch_peer_gone(struct peer *p);
/* Answer every parked op CQ_DISCONNECTED ("daemon shutting down"). */
void dispatch_shutdown(void);
/* Send a reply with only an id, status and detail. */
void dispatch_reply_status(
    struct peer *p, uint64_t id, cq_status st, const char *detail);
/* At exit: free what is left (detached reservations). */
void dispatch_free_all(void);
/* Expire callback for waiters_init. */
void dispatch_waiter_expired(struct waiter *w);

/* conn.c -------------------------------------------------------------- */

extern uint32_t conn_count;

/* Take over accepted socket fd of a peer with these credentials. */
int conn_new(
    struct event_base *base, int fd, uint32_t uid, uint32_t gid, pid_t pid);
/* Close every connection after flushing; calls done() when none are left. */
void conn_close_all(void (*done)(void));
/* Free whatever connections remain (at exit). */
void conn_free_all(void);
/* Pack r as a frame onto a socket fd directly (for refusals at accept). */
void conn_send_direct(int fd, const Conqueue__Reply *r);

/* listener.c ---------------------------------------------------------- */

/* Bind and listen on path (or take the activated fd when fd >= 0). */
int listener_open(
    struct event_base *base, const char *path, int fd, char **cause);
/* Stop accepting. */
void listener_close(void);

/* notify.c ------------------------------------------------------------ */

/* Tell the service manager something ("READY=1"); no-op without it. */
void notify_send(const char *state);
/* A socket passed by socket activation, or -1. */
int notify_listen_fd(void);
/* The service manager's watchdog interval in microseconds, or 0. */
uint64_t notify_watchdog_usec(void);

#endif /* CQ_DAEMON_H */
