/* metrics.c - OpenMetrics text of queue and daemon figures. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"

/* How a queue family's value is read and printed. */
enum metrics_kind {
	METRICS_U64,     /* an integer field */
	METRICS_MS,      /* milliseconds, printed as seconds */
	METRICS_WAITERS, /* two samples: kind="pop" and kind="push" */
	METRICS_FLAG,    /* an int field, printed 0 or 1 */
};

/* One per-queue metric family. */
struct metrics_family {
	const char *name; /* family name; counters add _total to samples */
	const char *type; /* gauge, counter */
	const char *unit; /* or NULL */
	const char *help;
	enum metrics_kind kind;
	size_t off; /* of the field in struct metrics_queue */
};

#define Q(f) offsetof(struct metrics_queue, f)
static const struct metrics_family metrics_families[] = {
    {"conqueue_queue_depth", "gauge", NULL,
        "Messages queued (not in flight).", METRICS_U64, Q(depth)},
    {"conqueue_queue_in_flight", "gauge", NULL,
        "Messages popped or reserved and not yet confirmed.", METRICS_U64,
        Q(in_flight)},
    {"conqueue_queue_delayed", "gauge", NULL,
        "Messages not yet due (delayed pushes).", METRICS_U64, Q(delayed)},
    {"conqueue_queue_capacity", "gauge", NULL,
        "Most messages the queue holds.", METRICS_U64, Q(capacity)},
    {"conqueue_queue_bytes", "gauge", "bytes",
        "Payload bytes held (queued, in flight and delayed).", METRICS_U64,
        Q(bytes)},
    {"conqueue_queue_max_bytes", "gauge", "bytes",
        "Most payload bytes the queue holds.", METRICS_U64, Q(max_bytes)},
    {"conqueue_queue_resident_bytes", "gauge", "bytes",
        "Bytes of the queue's storage backed by memory now.", METRICS_U64,
        Q(resident_bytes)},
    {"conqueue_queue_waiters", "gauge", NULL,
        "Parked blocking pops (kind=pop) and pushes (kind=push).",
        METRICS_WAITERS, 0},
    {"conqueue_queue_pushed", "counter", NULL,
        "Messages pushed since the queue was created.", METRICS_U64,
        Q(pushed)},
    {"conqueue_queue_popped", "counter", NULL,
        "Messages popped since the queue was created.", METRICS_U64,
        Q(popped)},
    {"conqueue_queue_dead_lettered", "counter", NULL,
        "Messages moved to the dead-letter queue.", METRICS_U64,
        Q(dead_lettered)},
    {"conqueue_queue_expired", "counter", NULL,
        "Messages dropped or dead-lettered at their time to live.",
        METRICS_U64, Q(expired)},
    {"conqueue_queue_oldest_age_seconds", "gauge", "seconds",
        "Age of the oldest queued message (0: empty).", METRICS_MS,
        Q(oldest_age_ms)},
    {"conqueue_queue_closed", "gauge", NULL,
        "1 when the queue is closed.", METRICS_FLAG, Q(closed)},
    {"conqueue_queue_paused", "gauge", NULL,
        "1 when the queue is paused.", METRICS_FLAG, Q(paused)},
};
#undef Q

/* Write s escaped as an OpenMetrics label value (\\, \" and \n). */
void
metrics_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			putc(*s, f);
	}
}

/* Write a family's metadata lines. */
static void
metrics_head(FILE *f, const char *name, const char *type, const char *unit,
    const char *help)
{
	fprintf(f, "# TYPE %s %s\n", name, type);
	if (unit != NULL)
		fprintf(f, "# UNIT %s %s\n", name, unit);
	fprintf(f, "# HELP %s %s\n", name, help);
}

/* Write the sample name and the queue label of one sample. */
static void
metrics_sample(FILE *f, const struct metrics_family *m,
    const struct metrics_queue *q, const char *extra)
{
	fprintf(f, "%s%s{queue=\"", m->name,
	    m->type[0] == 'c' ? "_total" : "");
	metrics_label(f, q->name);
	fprintf(f, "\"%s} ", extra);
}

/* Milliseconds as a decimal number of seconds. */
static void
metrics_seconds(FILE *f, uint64_t ms)
{
	fprintf(f, "%llu.%03u\n", (unsigned long long)(ms / 1000),
	    (unsigned)(ms % 1000));
}

/* Write one family's samples for every queue but quarantined ones. */
static void
metrics_family_write(FILE *f, const struct metrics_family *m,
    const struct metrics_queue *q, size_t n)
{
	const char *p;
	size_t i;

	metrics_head(f, m->name, m->type, m->unit, m->help);
	for (i = 0; i < n; i++) {
		if (q[i].quarantined)
			continue;
		p = (const char *)&q[i] + m->off;
		switch (m->kind) {
		case METRICS_U64:
			metrics_sample(f, m, &q[i], "");
			fprintf(f, "%llu\n",
			    (unsigned long long)*(const uint64_t *)p);
			break;
		case METRICS_MS:
			metrics_sample(f, m, &q[i], "");
			metrics_seconds(f, *(const uint64_t *)p);
			break;
		case METRICS_FLAG:
			metrics_sample(f, m, &q[i], "");
			fprintf(f, "%d\n", *(const int *)p != 0);
			break;
		case METRICS_WAITERS:
			metrics_sample(f, m, &q[i], ",kind=\"pop\"");
			fprintf(f, "%u\n", q[i].waiting_poppers);
			metrics_sample(f, m, &q[i], ",kind=\"push\"");
			fprintf(f, "%u\n", q[i].waiting_pushers);
			break;
		}
	}
}

/* Write the daemon's families. */
static void
metrics_daemon_write(FILE *f, const struct metrics_daemon *d)
{
	metrics_head(f, "conqueue_daemon", "info", NULL,
	    "The daemon's version.");
	fputs("conqueue_daemon_info{version=\"", f);
	metrics_label(f, d->version != NULL ? d->version : "");
	fputs("\"} 1\n", f);
	metrics_head(f, "conqueue_daemon_uptime_seconds", "gauge", "seconds",
	    "Time since the daemon started.");
	fputs("conqueue_daemon_uptime_seconds ", f);
	metrics_seconds(f, d->uptime_ms);
	metrics_head(f, "conqueue_daemon_connections", "gauge", NULL,
	    "Open client connections.");
	fprintf(f, "conqueue_daemon_connections %u\n", d->connections);
	metrics_head(f, "conqueue_daemon_queues", "gauge", NULL,
	    "Queues the daemon holds.");
	fprintf(f, "conqueue_daemon_queues %u\n", d->queues);
	metrics_head(f, "conqueue_daemon_ops", "counter", NULL,
	    "Requests served since start.");
	fprintf(f, "conqueue_daemon_ops_total %llu\n",
	    (unsigned long long)d->total_ops);
	metrics_head(f, "conqueue_daemon_storage_bytes", "gauge", "bytes",
	    "Size of the queue segments.");
	fprintf(f, "conqueue_daemon_storage_bytes %llu\n",
	    (unsigned long long)d->storage_bytes);
	metrics_head(f, "conqueue_daemon_resident_memory_bytes", "gauge",
	    "bytes", "The daemon's resident set size.");
	fprintf(f, "conqueue_daemon_resident_memory_bytes %llu\n",
	    (unsigned long long)d->rss_bytes);
}

/* Write the whole exposition, "# EOF" last. */
int
metrics_write(FILE *f, const struct metrics_daemon *d,
    const struct metrics_queue *q, size_t n)
{
	size_t i;
	int any = 0;

	if (d != NULL)
		metrics_daemon_write(f, d);
	for (i = 0; i < sizeof metrics_families / sizeof metrics_families[0];
	     i++)
		metrics_family_write(f, &metrics_families[i], q, n);
	for (i = 0; i < n; i++)
		any |= q[i].quarantined;
	/* Written only when one is: a storage failure to alert on. */
	if (any) {
		metrics_head(f, "conqueue_queue_quarantined", "gauge", NULL,
		    "1: the queue's storage failed validation.");
		for (i = 0; i < n; i++) {
			fputs("conqueue_queue_quarantined{queue=\"", f);
			metrics_label(f, q[i].name);
			fprintf(f, "\"} %d\n", q[i].quarantined != 0);
		}
	}
	fputs("# EOF\n", f);
	return fflush(f) != 0 || ferror(f) ? -1 : 0;
}
