/* notify.h - readiness, watchdog and socket activation with the service
 * manager. */

#ifndef CQ_DAEMON_NOTIFY_H
#define CQ_DAEMON_NOTIFY_H

#include <stdint.h>

/* Tell the service manager something ("READY=1"); no-op without it. */
void notify_send(const char *state);
/* A socket passed by socket activation, or -1. */
int notify_listen_fd(void);
/* The service manager's watchdog interval in microseconds, or 0. */
uint64_t notify_watchdog_usec(void);

#endif /* CQ_DAEMON_NOTIFY_H */
