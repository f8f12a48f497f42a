/* reply.h - replies that carry a status, a formatted detail or a stat. */

#ifndef CQ_DAEMON_REPLY_H
#define CQ_DAEMON_REPLY_H

#include <stdint.h>

#include "conqueue/conqueue.h"
#include "daemon/peer.h"
#include "daemon/registry.h"
#include "proto/conqueue.pb-c.h"

/* Send a reply carrying only a status and detail (errno for CQ_SYSTEM). */
void reply_status(
    struct peer *p, uint64_t id, cq_status st, const char *detail);
/* Reply with a printf-formatted detail. */
void reply_f(struct peer *p, uint64_t id, cq_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fill a QueueStat for q; the name points into q. */
cq_status reply_fill_stat(struct rqueue *q, Conqueue__QueueStat *s);
/* Reply with the stat of q. */
void reply_stat(struct peer *p, uint64_t id, struct rqueue *q);
/*
 * Reply to an OPEN of q with its stat (its attributes only while a mapper
 * holds the lock: an open never fails CQ_BUSY), the reply handed to send
 * (which sends it, e.g. with fds; NULL: plainly); a failed stat is
 * answered plainly.
 */
void reply_open(struct peer *p, uint64_t id, struct rqueue *q,
    void (*send)(struct peer *, struct rqueue *, Conqueue__Reply *));

#endif /* CQ_DAEMON_REPLY_H */
