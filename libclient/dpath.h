/* dpath.h - the direct path of a handle: the mapped segment (dpath.c). */

#ifndef CQ_LIBCLIENT_DPATH_H
#define CQ_LIBCLIENT_DPATH_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

int dpath_off(unsigned flags);
cq_status dpath_open(cq_client *c, cq_queue *q);
void dpath_free(cq_queue *q);
int dpath_live(cq_queue *q);
int dpath_query_live(cq_queue *q);
cq_status dpath_push(cq_queue *q, const void *const *bufs, const size_t *lens,
    size_t n, unsigned band, int front, int64_t timeout_ms, int *via_socket);
cq_status dpath_pop(cq_queue *q, cq_msg **msgs, size_t max, size_t *n,
    int64_t timeout_ms, int *via_socket);
cq_status dpath_is_closed(cq_queue *q, int *closed);
cq_status dpath_length(cq_queue *q, int64_t *length);
cq_status dpath_stat(cq_queue *q, cq_queue_stat *st);

#endif /* CQ_LIBCLIENT_DPATH_H */
