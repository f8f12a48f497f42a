/* event.c - libevent adapter: drive a client from an event_base. */

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "conqueue/conqueue-event.h"

/* One attached client. */
struct event_adapter {
	cq_client *c;
	struct event_base *base;
	struct event *ev;
	struct event_adapter *next;
};

/* Attached clients (the public API has no slot for adapter data). */
static struct event_adapter *event_list;
static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;

/* The socket is ready: let the library work. */
static void
event_ready(evutil_socket_t fd, short what, void *arg)
{
	struct event_adapter *a = arg;

	cq_client_process(a->c);
}

/* Re-arm the event for what the client wants now. */
static void
event_update(cq_client *c, void *arg)
{
	struct event_adapter *a = arg;
	int want = cq_client_events(c);
	short ev = EV_PERSIST;

	event_del(a->ev);
	if (want == 0 || cq_client_fd(c) < 0)
		return; /* lost: the fd is about to close */
	if (want & CQ_WANT_READ)
		ev |= EV_READ;
	if (want & CQ_WANT_WRITE)
		ev |= EV_WRITE;
	event_assign(a->ev, a->base, cq_client_fd(c), ev, event_ready, a);
	event_add(a->ev, NULL);
}

/* cq_event_attach: start watching c on base. */
cq_status
cq_event_attach(cq_client *c, struct event_base *base)
{
	struct event_adapter *a;

	if (c == NULL || base == NULL)
		return CQ_INVALID;
	pthread_mutex_lock(&event_lock);
	for (a = event_list; a != NULL; a = a->next) {
		if (a->c == c) {
			pthread_mutex_unlock(&event_lock);
			return CQ_INVALID;
		}
	}
	pthread_mutex_unlock(&event_lock);
	if ((a = calloc(1, sizeof *a)) == NULL)
		return CQ_SYSTEM;
	a->c = c;
	a->base = base;
	/* Assigned for real in event_update. */
	a->ev = event_new(base, -1, 0, event_ready, a);
	if (a->ev == NULL) {
		free(a);
		return CQ_SYSTEM;
	}
	pthread_mutex_lock(&event_lock);
	a->next = event_list;
	event_list = a;
	pthread_mutex_unlock(&event_lock);
	cq_client_set_watch(c, event_update, a);
	event_update(c, a);
	/* Replies may already sit in our buffers: look once from the loop. */
	event_active(a->ev, EV_READ, 0);
	return CQ_OK;
}

/* cq_event_detach: stop watching c. */
void
cq_event_detach(cq_client *c)
{
	struct event_adapter **pp, *a = NULL;

	pthread_mutex_lock(&event_lock);
	for (pp = &event_list; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->c == c) {
			a = *pp;
			*pp = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&event_lock);
	if (a == NULL)
		return;
	cq_client_set_watch(c, NULL, NULL);
	event_free(a->ev);
	free(a);
}
