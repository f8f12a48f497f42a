/* conn.h - client connections: framing bytes to and from dispatch. */

#ifndef CQ_DAEMON_CONN_H
#define CQ_DAEMON_CONN_H

#include <stdint.h>
#include <sys/types.h>

struct event_base;

extern uint32_t conn_count;

/* Take over accepted socket fd of a peer with these credentials. */
int conn_new(
    struct event_base *base, int fd, uint32_t uid, uint32_t gid, pid_t pid);
/* Close every connection after flushing; calls done() when none are left. */
void conn_close_all(void (*done)(void));
/* Free whatever connections remain (at exit). */
void conn_free_all(void);

#endif /* CQ_DAEMON_CONN_H */
