/* msg.c - popped messages: one allocation holding header and bytes. */

#include <stdlib.h>
#include <string.h>

#include "msg.h"

/* A cq_msg the application will own, holding a copy of data. */
cq_msg *
msg_new(uint64_t id, unsigned band, uint32_t deliveries, uint64_t enqueued_ns,
    const uint8_t *data, size_t len)
{
	cq_msg *m;

	/* One extra NUL so text messages can be used as C strings. */
	if ((m = malloc(sizeof *m + len + 1)) == NULL)
		return NULL;
	m->id = id;
	m->band = band;
	m->deliveries = deliveries;
	m->enqueued_ns = enqueued_ns;
	m->len = len;
	m->data = (uint8_t *)(m + 1);
	if (len > 0)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	return m;
}

/* Copy a wire message into a cq_msg the application will own. */
cq_msg *
msg_from_wire(const Conqueue__Msg *w)
{
	return msg_new(w->id, w->has_band ? w->band : 0,
	    w->has_deliveries ? w->deliveries : 1,
	    w->has_enqueued_ns ? w->enqueued_ns : 0, w->data.data, w->data.len);
}

/* Copy a message decoded in place (wire_reply_fast) into a cq_msg. */
cq_msg *
msg_from_fast(const struct wire_msg *w)
{
	return msg_new(w->id, w->band, w->has_deliveries ? w->deliveries : 1,
	    w->enqueued_ns, w->data, w->len);
}

/* cq_msg_data: the message bytes (followed by a NUL not counted in len). */
const void *
cq_msg_data(const cq_msg *m)
{
	return m->data;
}

/* cq_msg_len: the message length in bytes. */
size_t
cq_msg_len(const cq_msg *m)
{
	return m->len;
}

/* cq_msg_id: the message id, unique within its queue. */
uint64_t
cq_msg_id(const cq_msg *m)
{
	return m->id;
}

/* cq_msg_band: the message's priority band. */
unsigned
cq_msg_band(const cq_msg *m)
{
	return m->band;
}

/* cq_msg_deliveries: how often the message was handed out (1 first). */
uint32_t
cq_msg_deliveries(const cq_msg *m)
{
	return m->deliveries;
}

/* cq_msg_enqueued_ns: when it was pushed (CLOCK_REALTIME ns). */
uint64_t
cq_msg_enqueued_ns(const cq_msg *m)
{
	return m->enqueued_ns;
}

/* cq_msg_free: free a message (NULL is fine). */
void
cq_msg_free(cq_msg *m)
{
	free(m);
}
