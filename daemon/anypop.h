/* anypop.h - pop one message from the first of several queues. */

#ifndef CQ_DAEMON_ANYPOP_H
#define CQ_DAEMON_ANYPOP_H

#include <stdint.h>

#include "daemon/peer.h"
#include "proto/conqueue.pb-c.h"

/* Most queue names one PopAny may carry. */
#define ANYPOP_MAX 64

/* PopAny: try each queue in order, else park on all of them or fail. */
void anypop_request(struct peer *p, uint64_t id, const Conqueue__PopAny *m);

#endif /* CQ_DAEMON_ANYPOP_H */
