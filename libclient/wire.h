/* wire.h - the client's hand codec of the hot frames (wire.c). */

#ifndef CQ_LIBCLIENT_WIRE_H
#define CQ_LIBCLIENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/conqueue.pb-c.h"

/*
 * A push of one message or a pop, for wire_hot_pack: the fields ops.c
 * would put into a Conqueue__Request (push: has_band when band != 0,
 * has_front when front; pop: has_max when max != 1, has_lease_ms when
 * reserve and lease_ms != 0; always a timeout).
 */
struct wire_hot {
	int op; /* CONQUEUE__REQUEST__OP_PUSH or CONQUEUE__REQUEST__OP_POP */
	const char *name;
	size_t namelen;
	int64_t timeout_ms;
	const void *data; /* push */
	size_t len;
	uint32_t band;
	int front;
	uint32_t max; /* pop */
	int reserve;
	uint32_t lease_ms;
	int detach;
};

/* A Msg decoded in place by wire_reply_fast (data points into the frame). */
struct wire_msg {
	uint64_t id;
	uint64_t enqueued_ns;
	const uint8_t *data;
	size_t len;
	uint32_t band;
	uint32_t deliveries;
	int has_deliveries;
};

/* A push or pop reply decoded in place by wire_reply_fast. */
struct wire_reply {
	uint64_t id;
	uint32_t status;
	int has_sys_errno;
	int32_t sys_errno;
	const uint8_t *detail; /* not NUL-terminated; NULL: none */
	size_t detail_len;
	size_t n_msgs;         /* decoded into msgs */
	struct wire_msg *msgs; /* set by the caller: room for msgs_cap */
	size_t msgs_cap;
};

/* wire.c */
size_t wire_receipts_len(const uint64_t *confirm, size_t n_confirm,
    const uint64_t *reject, size_t n_reject);
size_t wire_request_len(const Conqueue__Request *req, size_t *body);
size_t wire_request_pack(
    const Conqueue__Request *req, size_t body, uint8_t *out);
int wire_reply_unpack(ProtobufCAllocator *al, const uint8_t *buf, size_t len,
    Conqueue__Reply **rp);
int wire_reply_fast(const uint8_t *buf, size_t len, struct wire_reply *wr);
size_t wire_hot_len(const struct wire_hot *h, uint64_t id, size_t *body);
size_t wire_hot_pack(const struct wire_hot *h, uint64_t id, size_t body,
    const uint64_t *confirm, size_t n_confirm, const uint64_t *reject,
    size_t n_reject, uint8_t *out);

#endif /* CQ_LIBCLIENT_WIRE_H */
