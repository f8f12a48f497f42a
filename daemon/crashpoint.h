/* crashpoint.h - named crash sites for the crash tests. */

#ifndef CQ_DAEMON_CRASHPOINT_H
#define CQ_DAEMON_CRASHPOINT_H

/* Arm the crash site named by the environment; -1 on a bad setting. */
int crashpoint_init(void);
/* Exit abruptly here if site is the armed one. */
void crashpoint(const char *site);

#endif /* CQ_DAEMON_CRASHPOINT_H */
