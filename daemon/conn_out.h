/* conn_out.h - a connection's output: replies to bytes on the socket. */

#ifndef CQ_DAEMON_CONN_OUT_H
#define CQ_DAEMON_CONN_OUT_H

#include "proto/conqueue.pb-c.h"

struct conn;
struct peer;

/* Pack reply r onto p's output as one frame (peer_ops send). */
void conn_out_send(struct peer *p, const Conqueue__Reply *r);
/*
 * Send r with fds on their own if nothing is queued before it (peer_ops
 * send_fds): 0 when the frame went, -1 when nothing was sent.
 */
int conn_out_send_fds(
    struct peer *p, const Conqueue__Reply *r, const int *fds, int nfds);
/*
 * Write what c has buffered; resume reading a paused c once half of
 * max_outbuf is gone. -1 if c was freed.
 */
int conn_out_write(struct conn *c);
/* Write the replies of every connection that got some this pass. */
void conn_out_flush(void);
/* A durable sync ended (dsync_on_done): release or drop its waiters. */
void conn_out_synced(int failed, uint64_t before);
/* Whether a reply queued in this loop pass waits for its group commit. */
int conn_out_fresh(void);
/* Pack r as a frame onto a fresh socket fd directly (refusals at accept). */
void conn_out_direct(int fd, const Conqueue__Reply *r);

#endif /* CQ_DAEMON_CONN_OUT_H */
