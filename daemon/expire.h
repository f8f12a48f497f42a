/* expire.h - time to live: messages not popped in time leave the queue. */

#ifndef CQ_DAEMON_EXPIRE_H
#define CQ_DAEMON_EXPIRE_H

#include <stdint.h>

#include "proto/conqueue.pb-c.h"

struct rqueue;

/*
 * Give q (just created when fresh, else reattached) its expiry state when
 * it has a time to live or per-message records (N.ttl): a reattached
 * queue reloads the records and sweeps at once. Failures are logged.
 */
void expire_open(struct rqueue *q, int fresh);
/* Free q's expiry state (the records file stays). */
void expire_free(struct rqueue *q);
/* q is deleted: free its state and remove its records file. */
void expire_delete(struct rqueue *q);
/* The reason push m on q is refused (CQ_INVALID), or NULL. */
const char *expire_invalid(const Conqueue__Push *m);
/*
 * After push m committed on q (ids first...): record its own time to live
 * (before the reply) and make sure a sweep is due when it expires.
 */
void expire_after_push(
    struct rqueue *q, const Conqueue__Push *m, uint64_t first);
/* A message of q became visible now (a delayed one came due). */
void expire_visible(struct rqueue *q);
/* Before a pop from q over the socket: drop what has expired by now. */
void expire_before_pop(struct rqueue *q);

#endif /* CQ_DAEMON_EXPIRE_H */
