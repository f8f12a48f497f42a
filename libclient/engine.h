/* engine.h - driving a connection: wait, process, cancel, shut down. */

#ifndef CQ_LIBCLIENT_ENGINE_H
#define CQ_LIBCLIENT_ENGINE_H

#include "optab.h"

cq_client *engine_new(int fd);
void engine_free(cq_client *c);
cq_status engine_wait(cq_client *c, struct cq_op *op);
cq_status engine_cancel(struct cq_op *op);
cq_status engine_process(cq_client *c);
void engine_shutdown(cq_client *c);

#endif /* CQ_LIBCLIENT_ENGINE_H */
