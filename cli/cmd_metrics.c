/* cmd_metrics.c - metrics: OpenMetrics text for node_exporter & co. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/metrics.h"

/* Copy the figures of st into m; m->name points into st. */
static void
cmd_metrics_queue(struct metrics_queue *m, const cq_queue_stat *st)
{
	memset(m, 0, sizeof *m);
	m->name = st->name;
	m->depth = st->length;
	m->in_flight = st->in_flight;
	m->delayed = st->delayed;
	m->capacity = st->capacity;
	m->bytes = st->bytes;
	m->max_bytes = st->max_bytes;
	m->resident_bytes = st->resident_bytes;
	m->waiting_poppers = st->waiting_poppers;
	m->waiting_pushers = st->waiting_pushers;
	m->pushed = st->total_pushed;
	m->popped = st->total_popped;
	m->dead_lettered = st->dead_lettered;
	m->expired = st->expired;
	m->oldest_age_ms = st->oldest_age_ms;
	m->closed = st->closed;
	m->paused = st->paused != 0;
	m->quarantined = st->quarantined;
}

/*
 * metrics [NAME...]: every queue the caller may read (or the named ones)
 * and the daemon's figures as one OpenMetrics exposition on stdout. All
 * figures are gathered before the first byte is written, so a failure
 * prints nothing on stdout.
 */
static int
cmd_metrics(struct cli_ctx *x, int argc, char **argv)
{
	struct metrics_daemon d;
	struct metrics_queue *mq = NULL;
	cq_queue_stat *st = NULL;
	cq_daemon_info in;
	char **names = NULL, **listed = NULL;
	size_t count, i, n = 0;
	int nops, rv;
	cq_status s;

	if ((names = calloc((size_t)argc, sizeof *names)) == NULL)
		return cli_fail(x, CQ_SYSTEM, NULL);
	if ((rv = cli_parse(x, &cli_cmd_metrics, argc, argv, NULL, names, 0,
	         argc, &nops)) != CLI_PARSE_OK) {
		free(names);
		return rv == CLI_PARSE_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	if ((rv = cli_connect(x)) != 0)
		goto out;
	if ((s = cq_info(x->c, &in)) != CQ_OK) {
		rv = cli_fail(x, s, NULL);
		goto out;
	}
	count = (size_t)nops;
	if (nops == 0) {
		if ((s = cq_list(x->c, &listed, &count)) != CQ_OK) {
			rv = cli_fail(x, s, NULL);
			goto out;
		}
	}
	st = calloc(count + 1, sizeof *st);
	mq = calloc(count + 1, sizeof *mq);
	if (st == NULL || mq == NULL) {
		rv = cli_fail(x, CQ_SYSTEM, NULL);
		goto out;
	}
	for (i = 0; i < count; i++) {
		s = cq_stat_by_name(x->c, nops == 0 ? listed[i] : names[i],
		    &st[n], sizeof st[n]);
		/* A listed queue deleted meanwhile is simply left out. */
		if (s == CQ_NOTFOUND && nops == 0)
			continue;
		if (s != CQ_OK) {
			rv = cli_fail(x, s, nops == 0 ? listed[i] : names[i]);
			goto out;
		}
		cmd_metrics_queue(&mq[n], &st[n]);
		n++;
	}
	memset(&d, 0, sizeof d);
	d.version = in.version;
	d.uptime_ms = in.uptime_ms;
	d.connections = in.connections;
	d.queues = in.queues;
	d.total_ops = in.total_ops;
	d.storage_bytes = in.storage_bytes;
	d.rss_bytes = in.rss_bytes;
	/* metrics_write flushes: a reader gone (EPIPE) is exit 6. */
	if (metrics_write(stdout, &d, mq, n) != 0)
		rv = errno == EPIPE ? CLI_EXIT_PIPE : CLI_EXIT_ERROR;
	else
		rv = CLI_EXIT_OK;
out:
	if (listed != NULL)
		cq_list_free(listed);
	free(st);
	free(mq);
	free(names);
	return rv;
}

const struct cli_cmd cli_cmd_metrics = {"metrics", cmd_metrics,
    "usage: conqueue-cli metrics [NAME...]\n"
    "Print the daemon's figures and those of every queue you may read\n"
    "(or of each NAME) in the OpenMetrics text format, \"# EOF\" last:\n"
    "depth, in flight, delayed, capacity, bytes held, max bytes,\n"
    "resident bytes, waiters, pushed/popped/dead-lettered totals,\n"
    "oldest age; connections, queues, requests,\n"
    "storage and resident memory. Nothing is printed unless every\n"
    "figure was read. For node_exporter's textfile collector:\n"
    "  conqueue-cli metrics >DIR/conqueue.prom.$$ &&\n"
    "      mv DIR/conqueue.prom.$$ DIR/conqueue.prom\n"};
