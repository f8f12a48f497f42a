/* conn.c - a connection's last error and the events an event loop watches. */

#include <string.h>
#include <unistd.h>

#include "conn.h"

/* Tell the event-loop adapter if the events we want changed. */
void
conn_notify(cq_client *c)
{
	int ev;

	if (c->watch == NULL)
		return;
	ev = conn_events(c);
	if (ev != c->watch_last) {
		c->watch_last = ev;
		c->watch(c, c->watch_arg);
	}
}

/* Record a failure for cq_client_error() and cq_client_errno(). */
void
conn_set_error(cq_client *c, cq_status st, const char *detail, int sys_errno)
{
	if (detail == NULL || detail[0] == '\0')
		detail = cq_strstatus(st);
	strncpy(c->error, detail, sizeof c->error - 1);
	c->error[sizeof c->error - 1] = '\0';
	c->sys_errno = st == CQ_SYSTEM ? sys_errno : 0;
}

/* cq_client_events: what to poll for. */
int
conn_events(cq_client *c)
{
	if (c->dead)
		return 0;
	return CQ_WANT_READ | (c->out_off < c->out_len ? CQ_WANT_WRITE : 0);
}

/* Keep a received fd for the reply frame that claims it (full: close). */
void
conn_fdq_push(cq_client *c, int fd)
{
	if (c->fdq_n < CONN_FDQ_MAX)
		c->fdq[c->fdq_n++] = fd;
	else
		close(fd);
}

/*
 * Take the n oldest received fds into fds. -1 when fewer are there: what
 * was there is closed (the frame that claims them is a protocol error).
 */
int
conn_fdq_take(cq_client *c, int *fds, size_t n)
{
	size_t i;

	if (c->fdq_n < n) {
		conn_fdq_clear(c);
		return -1;
	}
	for (i = 0; i < n; i++)
		fds[i] = c->fdq[i];
	memmove(c->fdq, c->fdq + n, (c->fdq_n - n) * sizeof c->fdq[0]);
	c->fdq_n -= n;
	return 0;
}

/* Close every fd nobody claimed (on disconnect, or a broken frame). */
void
conn_fdq_clear(cq_client *c)
{
	while (c->fdq_n > 0)
		close(c->fdq[--c->fdq_n]);
}
