/* trim.h - give drained queues' memory back (issue 17). */

#ifndef CQ_DAEMON_TRIM_H
#define CQ_DAEMON_TRIM_H

#include <event2/event.h>

/* How often queues that changed are trimmed. */
#define TRIM_INTERVAL_MS 1000

/*
 * trim_start: once every TRIM_INTERVAL_MS, core_trim each attached queue
 * whose state changed since it was last trimmed (core_change_sig), with a
 * trylock: a queue whose lock a mapper holds waits for the next round. So
 * the heap pages a drained queue no longer uses are given back within
 * about two intervals of its last change. 0, or -1 if the timer cannot be
 * armed. trim_stop frees the timer.
 */
int trim_start(struct event_base *base);
void trim_stop(void);

/* One round now (the timer's work; tests call it). */
void trim_round(void);

#endif /* CQ_DAEMON_TRIM_H */
