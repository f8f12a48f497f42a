/* admin.h - queue administration: create, delete, chmod, chown, list, info. */

#ifndef CQ_DAEMON_ADMIN_H
#define CQ_DAEMON_ADMIN_H

#include <stdint.h>

#include "daemon/peer.h"
#include "proto/conqueue.pb-c.h"

/* The daemon's figures for INFO (dispatch and main keep them). */
extern uint64_t admin_total_ops;
extern uint32_t admin_connections;
extern uint64_t admin_start_ns;

/* Create a queue. */
void admin_create(struct peer *p, uint64_t id, const Conqueue__Create *m);
/* Operations that only name a queue: open, stat, delete, close, pause... */
void admin_named(struct peer *p, uint64_t id, const Conqueue__Named *m);
/* Change a queue's permission bits. */
void admin_chmod(struct peer *p, uint64_t id, const Conqueue__Chmod *m);
/* Change a queue's owner and/or group like chown(2). */
void admin_chown(struct peer *p, uint64_t id, const Conqueue__Chown *m);
/* List the queues the caller may read. */
void admin_list(struct peer *p, uint64_t id);
/* The daemon's own figures. */
void admin_info(struct peer *p, uint64_t id);
/* The daemon's resident set size in bytes (0: unknown). */
uint64_t admin_rss(void);

#endif /* CQ_DAEMON_ADMIN_H */
