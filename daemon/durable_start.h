/* durable_start.h - start: a durable queue brought back from its log. */

#ifndef CQ_DAEMON_DURABLE_START_H
#define CQ_DAEMON_DURABLE_START_H

/*
 * Bring back the durable queue whose log is file (NAME.cqlog) in the state
 * directory: keep its segment when it survived, else rebuild it from the
 * log; then bind it (durable_bind) and rewrite its log. Failures are
 * logged; a log that cannot be used is kept and its queue not made.
 */
void durable_start_load(const char *file);

#endif /* CQ_DAEMON_DURABLE_START_H */
