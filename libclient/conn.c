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
conn_fdq_push(cq_client *c, int fd, uint64_t at)
{
	if (c->fdq_n < CONN_FDQ_MAX) {
		c->fdq_at[c->fdq_n] = at;
		c->fdq[c->fdq_n++] = fd;
	} else {
		close(fd);
	}
}

/* Remove the first k fds from the FIFO (already taken or closed). */
static void
conn_fdq_shift(cq_client *c, size_t k)
{
	memmove(c->fdq, c->fdq + k, (c->fdq_n - k) * sizeof c->fdq[0]);
	memmove(c->fdq_at, c->fdq_at + k, (c->fdq_n - k) * sizeof c->fdq_at[0]);
	c->fdq_n -= k;
}

/* Close every fd that came with a byte before stream offset end. */
void
conn_fdq_drop(cq_client *c, uint64_t end)
{
	size_t k = 0;

	while (k < c->fdq_n && c->fdq_at[k] < end)
		close(c->fdq[k++]);
	conn_fdq_shift(c, k);
}

/*
 * Take up to n fds that came with a byte before stream offset end into
 * fds (oldest first); returns how many.
 */
size_t
conn_fdq_take(cq_client *c, int *fds, size_t n, uint64_t end)
{
	size_t k = 0;

	while (k < n && k < c->fdq_n && c->fdq_at[k] < end) {
		fds[k] = c->fdq[k];
		k++;
	}
	conn_fdq_shift(c, k);
	return k;
}

/* Close every fd nobody claimed (on disconnect, or a broken frame). */
void
conn_fdq_clear(cq_client *c)
{
	while (c->fdq_n > 0)
		close(c->fdq[--c->fdq_n]);
}
