/* recv.h - reading replies and completing their ops (recv.c). */

#ifndef CQ_LIBCLIENT_RECV_H
#define CQ_LIBCLIENT_RECV_H

#include "conn.h"

int recv_read(cq_client *c, const char **why);

#endif /* CQ_LIBCLIENT_RECV_H */
