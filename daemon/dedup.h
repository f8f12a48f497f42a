/* dedup.h - keyed pushes: the keys each queue saw within its window. */

#ifndef CQ_DAEMON_DEDUP_H
#define CQ_DAEMON_DEDUP_H

#include <stdint.h>

#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"

struct rqueue;

/*
 * Give q (just created when fresh, else reattached) its key table when its
 * window is set: a fresh one starts empty (a leftover file is replaced),
 * a reattached one reloads N.dedup. Failures are logged: the queue works,
 * keys just are not remembered across a restart.
 */
void dedup_open(struct rqueue *q, int fresh);
/* Free q's table (the file stays). */
void dedup_free(struct rqueue *q);
/* q is deleted: free its table and remove its file. */
void dedup_delete(struct rqueue *q);
/* The reason a keyed push m on q is refused (CQ_INVALID), or NULL. */
const char *dedup_invalid(struct rqueue *q, const Conqueue__Push *m);
/*
 * Before pushing m: 1 if it is answered without a push (*st CQ_OK with
 * *first the id of the push that first carried the key, or CQ_LIMIT: the
 * table is full), 0 to go ahead (m has no key, or a key not held).
 */
int dedup_before(
    struct rqueue *q, const Conqueue__Push *m, cq_status *st, uint64_t *first);
/* After m's push committed as first: record its key (before the reply). */
void dedup_after(struct rqueue *q, const Conqueue__Push *m, uint64_t first);
/* Keys held now (expired ones dropped first) and duplicates answered. */
void dedup_counts(struct rqueue *q, uint64_t *keys, uint64_t *suppressed);

#endif /* CQ_DAEMON_DEDUP_H */
