/* listener.h - the listening socket. */

#ifndef CQ_DAEMON_LISTENER_H
#define CQ_DAEMON_LISTENER_H

struct event_base;

/* Bind and listen on path (or take the activated fd when fd >= 0). */
int listener_open(
    struct event_base *base, const char *path, int fd, char **cause);
/* Give the socket file path to socket_group, if set; -1 with *cause. */
int listener_group(const char *path, char **cause);
/* Stop accepting. */
void listener_close(void);

#endif /* CQ_DAEMON_LISTENER_H */
