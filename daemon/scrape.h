/* scrape.h - the optional metrics listener: HTTP GET /metrics. */

#ifndef CQ_DAEMON_SCRAPE_H
#define CQ_DAEMON_SCRAPE_H

#include <stdio.h>

struct event_base;

/*
 * scrape_open: serve OpenMetrics text over HTTP at spec, a socket path
 * (starting with '/') or a loopback HOST:PORT (127.x.x.x, [::1] or
 * localhost; port 0 picks one). Refuses any other address: every queue
 * name is shown to whoever connects. Returns 0, or -1 with *cause.
 */
int scrape_open(struct event_base *base, const char *spec, char **cause);
/* scrape_check: whether spec is an address scrape_open accepts. */
int scrape_check(const char *spec, char **cause);
/* scrape_write: the exposition of the daemon and every queue to f. */
int scrape_write(FILE *f);
/* scrape_close: stop serving; remove the socket file. */
void scrape_close(void);

#endif /* CQ_DAEMON_SCRAPE_H */
