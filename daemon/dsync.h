/* dsync.h - the always queues' group commit: fdatasync off the event loop. */

#ifndef CQ_DAEMON_DSYNC_H
#define CQ_DAEMON_DSYNC_H

#include <stdint.h>

struct durable;
struct event_base;

/*
 * Generations: the records a loop pass writes to always logs belong to
 * generation dsync_next() and are on disk once dsync_synced() reaches it.
 * A pass's replies wait for their generation (conn_out.c).
 */
uint64_t dsync_next(void);
uint64_t dsync_synced(void);
/* d's log has records written and not synced: sync them soon. */
void dsync_written(struct durable *d);
/* Start a sync of every written log if none runs now. */
void dsync_kick(struct event_base *base);
/* d goes away: never touch it again (its pending sync is dropped). */
void dsync_forget(struct durable *d);
/* Wait for the running sync, if any, and handle its end. */
void dsync_drain(void);
/* Stop the sync thread (after dsync_drain). */
void dsync_stop(void);
/*
 * Called (from the loop) when a sync ended and dsync_synced() moved on
 * from before. failed: a log could not be synced, and no reply waiting
 * for a generation after before may say CQ_OK.
 */
extern void (*dsync_on_done)(int failed, uint64_t before);

#endif /* CQ_DAEMON_DSYNC_H */
