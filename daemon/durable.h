/* durable.h - durable queues: a log per queue under the state directory. */

/*
 * The shared-memory segment stays the working copy; a durable queue also
 * has a log, STATE_DIR/INSTANCE/NAME.cqlog (daemon/dlog.h), that a flush
 * brings up to the segment's state: it scans the queue (core_scan),
 * diffs against the image the log holds and appends the difference,
 * then fdatasyncs (always, interval) or not (never). At start the logs
 * are read before the socket accepts: a queue whose segment survived (a
 * daemon restart) keeps it, one whose segment is gone (a reboot) is
 * rebuilt from its log. doc/durability.md has the design and argument.
 */

#ifndef CQ_DAEMON_DURABLE_H
#define CQ_DAEMON_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"
#include "core/queue.h"

struct event_base;
struct rqueue;
struct durable;

/*
 * The state directory: dir (--state-dir / state_dir), else
 * $STATE_DIRECTORY (systemd's StateDirectory=), else /var/lib/conqueue
 * for root and $XDG_STATE_HOME/conqueue or ~/.local/state/conqueue for
 * anyone else; the logs live in its subdirectory INSTANCE. Then bring
 * back every durable queue found there (before the socket accepts).
 * -1 with *cause (malloc'd) if the directory cannot be used.
 */
int durable_open(struct event_base *base, const char *dir,
    const char *instance, char **cause);
/* At stop: a last synced flush of every durable queue, then free. */
void durable_close(void);

/*
 * Make the (empty) log of a new durable queue with attributes a: its
 * creation is committed when the log has its name (doc/durability.md).
 * CQ_OK with *dp, CQ_INVALID (bad policy or period), CQ_LIMIT (no
 * room), CQ_SYSTEM; why says what.
 */
cq_status durable_prepare(const struct core_attr *a, uint32_t policy,
    uint32_t sync_ms, struct durable **dp, char *why, size_t whylen);
/* The queue of d was made: bind them (its timer starts). */
void durable_bind(struct rqueue *q, struct durable *d);
/* The queue of d could not be made: remove the log again. */
void durable_abort(struct durable *d);
/* q is being deleted (its segment is gone): remove its log. */
void durable_delete(struct rqueue *q);
/* Detach q's log without touching the file (registry_close). */
void durable_free(struct rqueue *q);

/*
 * End of a loop pass, before any reply is written: write the records of
 * every always queue whose segment changed, and have them synced (one
 * fdatasync per log for all the operations of the passes that ran while
 * the previous sync did: group commit, daemon/dsync.c). *hold: the sync
 * generation the pass's replies wait for (dsync_synced() reaching it), 0
 * if the pass wrote nothing. 0, or -1 if a write failed: then no reply
 * of the pass may say CQ_OK (the caller drops those connections).
 */
int durable_commit(uint64_t *hold);
/*
 * After durable_commit failed and the pass's connections were dropped
 * (their in-flight messages returned): a failed queue's present state is
 * what the next group commit compares with, so that passes without a new
 * operation on it are not failed too (the timer keeps retrying).
 */
void durable_commit_settle(void);
/*
 * Set by the connection layer: whether a reply queued in the running
 * loop pass waits for its group commit. A failure met outside the group
 * commit (the timer's retry) settles only when none does.
 */
extern int (*durable_replies_pending)(void);
/*
 * Whether an always queue changed since its last flush: then a read
 * callback leaves its replies to the end of the loop pass, so that the
 * requests of every connection read in the pass share one sync.
 */
int durable_commit_due(void);
/* Test builds: the timer's retry now, if $CONQUEUE_TEST_RETRY is set. */
void durable_test_retry(void);

/*
 * Before a push of n messages of bytes in all through the socket: 0 if
 * q's log has room for them (space reserved ahead with fallocate), else
 * CQ_LIMIT (ENOSPC, EDQUOT, EFBIG) or CQ_SYSTEM with why. 0 for a queue
 * that is not durable.
 */
cq_status durable_room(
    struct rqueue *q, size_t n, size_t bytes, char *why, size_t whylen);

/*
 * q's policy (CQ_DURABLE_NONE if it has none), period, log size and the
 * fdatasyncs of its log since the daemon started.
 */
void durable_stat(struct rqueue *q, uint32_t *policy, uint32_t *sync_ms,
    uint64_t *log_bytes, uint64_t *syncs);

/* For durable_start.c. */
#define DURABLE_SUFFIX ".cqlog" /* a log's file is NAME.cqlog */
struct dlog_attr;
/* A record for the queue of a log with attributes a; NULL if no memory. */
struct durable *durable_new(const struct dlog_attr *a);
/* Free d, which no queue is bound to (the file stays). */
void durable_destroy(struct durable *d);
/* The state directory's path (with "/INSTANCE"), for messages. */
const char *durable_dir(void);

#endif /* CQ_DAEMON_DURABLE_H */
