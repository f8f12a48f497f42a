/* ops.h - what the public operations share: the blocking call, names. */

#ifndef CQ_LIBCLIENT_OPS_H
#define CQ_LIBCLIENT_OPS_H

#include <stdint.h>

#include "optab.h"
#include "proto/conqueue.pb-c.h"

/* Wire bytes of a C string (protobuf-c wants a non-const pointer). */
static inline ProtobufCBinaryData
ops_bytes(const char *s, size_t len)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)s;
	b.len = len;
	return b;
}

/* Any negative timeout means forever on the wire. */
static inline int64_t
ops_timeout(int64_t timeout_ms)
{
	return timeout_ms < 0 ? -1 : timeout_ms;
}

cq_status ops_call(cq_client *c, Conqueue__Request *req, int64_t timeout_ms,
    enum op_kind kind, const char *qname, Conqueue__Reply **replyp);
cq_status ops_wait(cq_client *c, struct cq_op *op, const char *qname);
cq_status ops_check_name(cq_client *c, const char *name);
cq_status ops_named(cq_client *c, const char *name, Conqueue__Named__Kind kind,
    Conqueue__Reply **replyp);

#endif /* CQ_LIBCLIENT_OPS_H */
