/* metrics.h - OpenMetrics text of queue and daemon figures. */

#ifndef CQ_METRICS_H
#define CQ_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * One queue's figures. The CLI fills it from cq_queue_stat, the daemon's
 * scrape listener from its own stat reply.
 */
struct metrics_queue {
	const char *name;
	uint64_t depth;           /* queued, not in flight */
	uint64_t in_flight;       /* popped/reserved, not yet confirmed */
	uint64_t delayed;         /* delayed pushes not yet due */
	uint64_t capacity;
	uint64_t bytes;           /* payload bytes held, in flight included */
	uint64_t max_bytes;       /* the bound on bytes */
	uint64_t resident_bytes;  /* the queue's storage in memory now */
	uint32_t waiting_poppers; /* parked pops, direct and socket */
	uint32_t waiting_pushers; /* parked pushes, direct and socket */
	uint64_t pushed;          /* totals since create */
	uint64_t popped;
	uint64_t dead_lettered;
	uint64_t expired;         /* dropped or dead-lettered at their TTL */
	uint64_t oldest_age_ms;   /* age of the oldest queued message */
	int closed;
	int paused;
	int quarantined;          /* only this metric is known then */
};

/* The daemon's own figures (cq_daemon_info). */
struct metrics_daemon {
	const char *version;
	uint64_t uptime_ms;
	uint32_t connections;
	uint32_t queues;
	uint64_t total_ops;
	uint64_t storage_bytes;
	uint64_t rss_bytes;
};

/* The media type of metrics_write's output (OpenMetrics 1.0). */
#define METRICS_CONTENT_TYPE                                                   \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/*
 * metrics_write: write the OpenMetrics exposition of d (may be NULL) and
 * the n queues of q to f, ending with "# EOF". Returns 0, or -1 when f
 * reported a write error.
 */
int metrics_write(FILE *f, const struct metrics_daemon *d,
    const struct metrics_queue *q, size_t n);

/* metrics_label: write s to f escaped as an OpenMetrics label value. */
void metrics_label(FILE *f, const char *s);

#endif /* CQ_METRICS_H */
