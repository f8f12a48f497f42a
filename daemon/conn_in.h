/* conn_in.h - a connection's input: bytes to decoded requests. */

#ifndef CQ_DAEMON_CONN_IN_H
#define CQ_DAEMON_CONN_IN_H

struct conn;

/*
 * Read what c's socket has and hand every complete frame to dispatch; c
 * may be freed (a closed or failed socket) or left closing.
 */
void conn_in_read(struct conn *c);
/* Handle the frames held in c's own buffer (reading resumed). */
void conn_in_drain(struct conn *c);

#endif /* CQ_DAEMON_CONN_IN_H */
