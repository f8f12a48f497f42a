/* send.h - submitting ops: the output buffer, the backlog, receipts. */

#ifndef CQ_LIBCLIENT_SEND_H
#define CQ_LIBCLIENT_SEND_H

#include <stdint.h>

#include "optab.h"
#include "wire.h"

cq_status send_submit(cq_client *c, Conqueue__Request *req, enum op_kind kind,
    int64_t timeout_ms, int sync, struct cq_op **opp);
cq_status send_submit_hot(cq_client *c, const struct wire_hot *h,
    enum op_kind kind, int64_t timeout_ms, int sync, struct cq_op **opp);
int send_fits(cq_client *c, Conqueue__Request *req);
void send_receipt_add(struct idlist *l, uint64_t id);
void send_receipts(cq_client *c);
void send_backlog_del(cq_client *c, struct cq_op *op);
void send_pump(cq_client *c);
int send_write(cq_client *c);

#endif /* CQ_LIBCLIENT_SEND_H */
