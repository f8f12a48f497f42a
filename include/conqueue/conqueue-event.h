/* conqueue-event.h - run a conqueue client on a libevent event_base. */

#ifndef CONQUEUE_CONQUEUE_EVENT_H
#define CONQUEUE_CONQUEUE_EVENT_H

#include <conqueue/conqueue.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/*
 * cq_event_attach: watch c's socket on base (read, and write while output
 * waits) and call cq_client_process() when it is ready, so the callbacks of
 * c's async operations run from base's loop. Link with -lconqueue-event.
 * CQ_OK, CQ_INVALID if c is already attached, CQ_SYSTEM if libevent fails.
 * Detach before cq_disconnect() or event_base_free().
 */
CQ_EXPORT cq_status cq_event_attach(cq_client *c, struct event_base *base);

/* cq_event_detach: stop watching c (nothing if it is not attached). */
CQ_EXPORT void cq_event_detach(cq_client *c);

#ifdef __cplusplus
}
#endif

#endif /* CONQUEUE_CONQUEUE_EVENT_H */
