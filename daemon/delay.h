/* delay.h - delayed pushes: kept in flight until due, then queued. */

#ifndef CQ_DAEMON_DELAY_H
#define CQ_DAEMON_DELAY_H

#include <stdint.h>

#include "daemon/registry.h"
#include "daemon/resv.h"

/* Longest delay a push may ask for (about 49 days: a uint32 of ms). */
#define DELAY_MAX_MS UINT32_MAX

/*
 * Push one message of len bytes to band of q, due in delay_ms: committed
 * into flight (core_push_delayed), then a timer queues it when due. A
 * record that cannot be made (out of memory) queues it at once.
 */
cq_status delay_push(struct rqueue *q, const void *buf, size_t len,
    unsigned band, uint32_t delay_ms, uint64_t *id);
/* At attach: re-arm every delayed message of q (overdue ones: at once). */
void delay_rearm_all(struct rqueue *q);
/* A delayed message's timer fired: queue it (or try again soon). */
void delay_due(struct resv *r);

#endif /* CQ_DAEMON_DELAY_H */
