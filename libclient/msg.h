/* msg.h - popped messages as the application owns them (msg.c). */

#ifndef CQ_LIBCLIENT_MSG_H
#define CQ_LIBCLIENT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"
#include "wire.h"

struct cq_msg {
	uint64_t id;
	uint64_t enqueued_ns;
	uint32_t deliveries;
	unsigned band;
	size_t len;
	uint8_t *data; /* points just after the struct; NUL-terminated */
};

cq_msg *msg_new(uint64_t id, unsigned band, uint32_t deliveries,
    uint64_t enqueued_ns, const uint8_t *data, size_t len);
cq_msg *msg_from_wire(const Conqueue__Msg *w);
cq_msg *msg_from_fast(const struct wire_msg *w);

#endif /* CQ_LIBCLIENT_MSG_H */
