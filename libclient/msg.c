/* msg.c - popped messages: one allocation holding header and bytes. */

#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Copy a wire message into a cq_msg the application will own. */
cq_msg *
msg_from_wire(const Conqueue__Msg *w)
{
	cq_msg *m;

	/* One extra NUL so text messages can be used as C strings. */
	if ((m = malloc(sizeof *m + w->data.len + 1)) == NULL)
		return NULL;
	m->id = w->id;
	m->band = w->has_band ? w->band : 0;
	m->deliveries = w->has_deliveries ? w->deliveries : 1;
	m->enqueued_ns = w->has_enqueued_ns ? w->enqueued_ns : 0;
	m->len = w->data.len;
	m->data = (uint8_t *)(m + 1);
	if (w->data.len > 0)
		memcpy(m->data, w->data.data, w->data.len);
	m->data[w->data.len] = '\0';
	return m;
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
