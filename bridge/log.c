/* log.c - conqueue-bridge's log lines, status line and stats file. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/bridge.h"

/* Print one log line to stderr (journald adds the time under systemd). */
void
blog(const char *level, const char *route, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (route != NULL)
		fprintf(stderr, "conqueue-bridge: %s: [%s] %s\n", level, route,
		    msg);
	else
		fprintf(stderr, "conqueue-bridge: %s: %s\n", level, msg);
}

/* The name of a route state, as the status shows it. */
const char *
log_state(int state)
{
	switch (state) {
	case RS_STARTING:
		return "starting";
	case RS_RUNNING:
		return "running";
	case RS_NO_DAEMON:
		return "no-daemon";
	case RS_NO_QUEUE:
		return "no-queue";
	case RS_NO_STREAM:
		return "no-stream";
	case RS_CLOSED:
		return "closed";
	case RS_BACKPRESSURE:
		return "backpressure";
	}
	return "unknown";
}

/* Write the status (one line per route) to f. */
static void
log_write(struct bridge *b, FILE *f)
{
	struct route *r;
	size_t i;

	fprintf(f, "bridge instance=%s nats=%s reconnects=%llu routes=%zu\n",
	    b->instance,
	    atomic_load(&b->nats_up) ? "connected" : "disconnected",
	    (unsigned long long)atomic_load(&b->nats_reconnects), b->nroutes);
	for (i = 0; i < b->nroutes; i++) {
		r = &b->routes[i];
		fprintf(f,
		    "route %s %s queue=%s subject=%s state=%s forwarded=%llu "
		    "pending=%llu redelivered=%llu rejected=%llu errors=%llu "
		    "closes=%llu\n",
		    r->name, r->kind == ROUTE_OUT ? "outbound" : "inbound",
		    r->queue, r->subject, log_state(atomic_load(&r->state)),
		    (unsigned long long)atomic_load(&r->forwarded),
		    (unsigned long long)atomic_load(&r->pending),
		    (unsigned long long)atomic_load(&r->redelivered),
		    (unsigned long long)atomic_load(&r->rejected),
		    (unsigned long long)atomic_load(&r->errors),
		    (unsigned long long)atomic_load(&r->closes));
	}
}

/*
 * Replace the stats file at path by the current status: written to a
 * temporary file and renamed, so a reader never sees half of it.
 */
int
log_stats(struct bridge *b, const char *path)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return -1;
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	log_write(b, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Log the status (SIGUSR1). */
void
log_status(struct bridge *b)
{
	log_write(b, stderr);
}
