/* dflush.h - a durable queue's log kept up to its segment (durable.c). */

#ifndef CQ_DAEMON_DFLUSH_H
#define CQ_DAEMON_DFLUSH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conqueue/conqueue.h"
#include "core/queue.h"
#include "daemon/dlog.h"

/* What the log says about one live message (the image, sorted by id). */
struct dimg {
	uint64_t id, pos, due_ns;
	uint32_t band, deliveries, len;
};

/* What a META record says: the queue's state beside its messages. */
struct dmeta {
	uint64_t next_id, closed, paused;
	uint64_t owner; /* uid << 32 | gid (a chown moves it) */
	uint64_t mode;  /* permission bits (a chmod moves them) */
};

struct durable {
	struct rqueue *q; /* NULL until bound */
	TAILQ_ENTRY(durable) link;
	struct dlog_attr attr;
	char file[CQ_NAME_MAX + 16]; /* NAME.cqlog in the state directory */
	int fd;                      /* the log, -1 after a failure */
	struct dimg *img;            /* the log's state of the queue */
	size_t n;
	struct dmeta meta; /* its last META */
	uint64_t end;        /* where the next record goes */
	uint64_t live_bytes; /* what a fresh log would take */
	uint64_t reserved;   /* fallocated up to here */
	uint64_t sig;        /* the segment's change signature at the flush */
	uint32_t gen;
	int broken;          /* a write or sync failed: compact next time */
	int failed;          /* the last flush failed (durable.c) */
	uint64_t syncs;      /* fdatasyncs of the log (stat's log_syncs) */
	uint64_t fail_sig;   /* the segment's signature then */
	int fail_set;        /* fail_sig is settled: see durable.c */
	struct event *timer;
};

/*
 * Bring d's log up to q: scan, diff against d's image, append, and with
 * sync fdatasync. A broken log (or one over twice its live size) is
 * rewritten whole instead (dflush_compact). CQ_OK, or the failure (errno
 * kept: CQ_SYSTEM, CQ_LIMIT for ENOSPC/EDQUOT/EFBIG); the image stays the
 * last one that reached the file.
 */
cq_status dflush_flush(struct durable *d, struct core_queue *q, int sync);
/*
 * Write a fresh log of q to NAME.cqlog.tmp, fdatasync it, rename it over
 * NAME.cqlog and fsync the directory: d then describes the new file.
 */
cq_status dflush_compact(struct durable *d, struct core_queue *q);
/* Change signature of q's segment (a cheap "did anything happen"). */
uint64_t dflush_sig(struct core_queue *q);
/* The state directory's fd (durable.c). */
extern int durable_dirfd;
/* The status for a failed write's errno. */
cq_status dflush_errno_status(int e);

#endif /* CQ_DAEMON_DFLUSH_H */
