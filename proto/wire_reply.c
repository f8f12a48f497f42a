/* wire_reply.c - hand coding of the hot replies: push and pop. */

/*
 * The daemon encodes them here (wire_reply_pack): protobuf-c's
 * get_packed_size + pack walk the descriptors field by field and were ~15%
 * of the daemon's instructions per async op. The client decodes them here:
 * in place and unchecked (wire_reply_fast) when it can, else into its
 * arena after frame_check_wire (wire_reply_unpack); the rest of the
 * replies go through protobuf-c.
 */

#include "wire.h"

/* Body size of one Msg. */
static inline size_t
wire_msg_len(const Conqueue__Msg *m)
{
	size_t len = 1 + wire_varint_len(m->id) + 1 +
	             wire_varint_len(m->data.len) + m->data.len;

	if (m->has_band)
		len += 1 + wire_varint_len(m->band);
	if (m->has_deliveries)
		len += 1 + wire_varint_len(m->deliveries);
	if (m->has_enqueued_ns)
		len += 1 + wire_varint_len(m->enqueued_ns);
	return len;
}

/* Whether r has only the fields the hand encoder writes. */
static inline int
wire_reply_pack_ok(const Conqueue__Reply *r)
{
	return r->detail == NULL && !r->has_sys_errno && r->stat == NULL &&
	       r->n_queues == 0 && !r->has_flag && !r->has_length &&
	       r->welcome == NULL && r->info == NULL && !r->has_fds &&
	       !r->has_count && !r->has_index &&
	       r->base.n_unknown_fields == 0;
}

/*
 * Most bytes a push/pop reply can take (0 if it needs protobuf-c): per
 * message its data and at most 46 bytes of tags and varints; 28 for id,
 * status and first_id. One pass over the messages instead of sizing
 * every varint; wire_reply_pack returns the real size.
 */
size_t
wire_reply_pack_bound(const Conqueue__Reply *r)
{
	size_t i, len = 32;

	if (!wire_reply_pack_ok(r))
		return 0;
	for (i = 0; i < r->n_msgs; i++) {
		if (r->msgs[i] == NULL ||
		    r->msgs[i]->base.n_unknown_fields != 0)
			return 0;
		len += 46 + r->msgs[i]->data.len;
	}
	return len;
}

/* Size of a push/pop reply, 0 if it needs protobuf-c. */
size_t
wire_reply_pack_size(const Conqueue__Reply *r)
{
	size_t i, n, len;

	if (!wire_reply_pack_ok(r))
		return 0;
	len = 1 + wire_varint_len(r->id) + 1 + wire_varint_len(r->status);
	for (i = 0; i < r->n_msgs; i++) {
		if (r->msgs[i] == NULL ||
		    r->msgs[i]->base.n_unknown_fields != 0)
			return 0;
		n = wire_msg_len(r->msgs[i]);
		len += 1 + wire_varint_len(n) + n;
	}
	if (r->has_first_id)
		len += 1 + wire_varint_len(r->first_id);
	return len;
}

/* Encode a reply accepted by wire_reply_pack_size; returns its size. */
size_t
wire_reply_pack(const Conqueue__Reply *r, uint8_t *buf)
{
	uint8_t *p = buf;
	size_t i;

	*p++ = WIRE_REPLY_ID;
	p = wire_put_varint(p, r->id);
	*p++ = WIRE_REPLY_STATUS;
	p = wire_put_varint(p, r->status);
	for (i = 0; i < r->n_msgs; i++) {
		const Conqueue__Msg *m = r->msgs[i];
		uint8_t *lenp;

		*p++ = WIRE_REPLY_MSGS;
		/*
		 * A body of at most 46 + 80 bytes has a one-byte length:
		 * write it after the body instead of sizing every field.
		 */
		lenp = p;
		if (m->data.len <= 80)
			p++;
		else
			p = wire_put_varint(p, wire_msg_len(m));
		*p++ = WIRE_MSG_ID;
		p = wire_put_varint(p, m->id);
		*p++ = WIRE_MSG_DATA;
		p = wire_put_varint(p, m->data.len);
		if (m->data.len > 0)
			memcpy(p, m->data.data, m->data.len);
		p += m->data.len;
		if (m->has_band) {
			*p++ = WIRE_MSG_BAND;
			p = wire_put_varint(p, m->band);
		}
		if (m->has_deliveries) {
			*p++ = WIRE_MSG_DELIVERIES;
			p = wire_put_varint(p, m->deliveries);
		}
		if (m->has_enqueued_ns) {
			*p++ = WIRE_MSG_ENQUEUED_NS;
			p = wire_put_varint(p, m->enqueued_ns);
		}
		if (m->data.len <= 80)
			*lenp = (uint8_t)(p - lenp - 1);
	}
	if (r->has_first_id) {
		*p++ = WIRE_REPLY_FIRST_ID;
		p = wire_put_varint(p, r->first_id);
	}
	return (size_t)(p - buf);
}

/*
 * wire_reply_unpack: a first pass declines (returns 0, nothing allocated)
 * anything outside its fields or shape: other fields, multi-byte tags,
 * lengths protobuf-c would not read. After it the bytes are known to
 * split into fields, so the second pass only maps them, refusing what
 * protobuf-c refuses (wire types, required fields), from the arena.
 */

/* Read one field of a checked message: its tag, and its varint value or
 * the length (*v) and start (*data) of its bytes; NULL to decline. */
static const uint8_t *
wire_field(const uint8_t *p, const uint8_t *end, unsigned *tag, uint64_t *v,
    const uint8_t **data)
{
	size_t n;

	if (p >= end || *p >= 0x80)
		return NULL;
	*tag = *p++;
	if ((*tag & 7) == WIRE_LEN) {
		if ((p = wire_get_len(p, end, &n)) == NULL)
			return NULL;
		*v = n;
		*data = p;
		return p + n;
	}
	if ((*tag & 7) != WIRE_VARINT)
		return NULL;
	return wire_get_varint(p, end, v);
}

/* Whether a Msg body splits into fields wire_field reads. */
static int
wire_msg_shape(const uint8_t *p, const uint8_t *end)
{
	unsigned tag;
	uint64_t v;
	const uint8_t *d;

	while (p < end)
		if ((p = wire_field(p, end, &tag, &v, &d)) == NULL)
			return 0;
	return 1;
}

/* Decode one Msg body into m; 0, or -1 if protobuf-c would refuse it. */
static int
wire_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
    Conqueue__Msg *m)
{
	int have_id = 0, have_data = 0;
	unsigned tag;
	uint64_t v;
	const uint8_t *d = NULL;

	conqueue__msg__init(m);
	while (p < end) {
		p = wire_field(p, end, &tag, &v, &d);
		switch (tag) {
		case WIRE_MSG_ID:
			m->id = v;
			have_id = 1;
			break;
		case WIRE_MSG_DATA:
			m->data.len = (size_t)v;
			m->data.data = NULL;
			if (v > 0) {
				if ((m->data.data = al->alloc(
				         al->allocator_data, (size_t)v)) ==
				    NULL)
					return -1;
				memcpy(m->data.data, d, (size_t)v);
			}
			have_data = 1;
			break;
		case WIRE_MSG_BAND:
			m->has_band = 1;
			m->band = (uint32_t)v;
			break;
		case WIRE_MSG_DELIVERIES:
			m->has_deliveries = 1;
			m->deliveries = (uint32_t)v;
			break;
		case WIRE_MSG_ENQUEUED_NS:
			m->has_enqueued_ns = 1;
			m->enqueued_ns = v;
			break;
		default:
			return -1; /* a wire type protobuf-c would refuse */
		}
	}
	return have_id && have_data ? 0 : -1;
}

/* Decode a checked push/pop/error Reply into arena al (see wire.h). */
int
wire_reply_unpack(ProtobufCAllocator *al, const uint8_t *buf, size_t len,
    Conqueue__Reply **rp)
{
	const uint8_t *p = buf, *end = buf + len, *d = NULL;
	Conqueue__Reply *r;
	Conqueue__Msg *msgs = NULL;
	size_t nmsgs = 0;
	int have_id = 0, have_status = 0;
	unsigned tag;
	uint64_t v;

	/* First pass: only our fields, well shaped, and how many Msgs. */
	while (p < end) {
		if ((p = wire_field(p, end, &tag, &v, &d)) == NULL)
			return 0;
		switch (tag) {
		case WIRE_REPLY_ID:
		case WIRE_REPLY_STATUS:
		case WIRE_REPLY_DETAIL:
		case WIRE_REPLY_SYS_ERRNO:
		case WIRE_REPLY_FIRST_ID:
			break;
		case WIRE_REPLY_MSGS:
			if (!wire_msg_shape(d, d + v))
				return 0;
			nmsgs++;
			break;
		default:
			return 0;
		}
	}
	*rp = NULL;
	if ((r = al->alloc(al->allocator_data, sizeof *r)) == NULL)
		return 1;
	conqueue__reply__init(r);
	if (nmsgs > 0) {
		r->msgs =
		    al->alloc(al->allocator_data, nmsgs * sizeof *r->msgs);
		msgs = al->alloc(al->allocator_data, nmsgs * sizeof *msgs);
		if (r->msgs == NULL || msgs == NULL)
			return 1;
	}
	for (p = buf; p < end;) {
		p = wire_field(p, end, &tag, &v, &d);
		switch (tag) {
		case WIRE_REPLY_ID:
			r->id = v;
			have_id = 1;
			break;
		case WIRE_REPLY_STATUS:
			r->status = (uint32_t)v;
			have_status = 1;
			break;
		case WIRE_REPLY_DETAIL:
			if ((r->detail = al->alloc(
			         al->allocator_data, (size_t)v + 1)) == NULL)
				return 1;
			memcpy(r->detail, d, (size_t)v);
			r->detail[v] = '\0';
			break;
		case WIRE_REPLY_SYS_ERRNO:
			r->has_sys_errno = 1;
			r->sys_errno = (int32_t)(uint32_t)v;
			break;
		case WIRE_REPLY_MSGS:
			if (wire_msg(al, d, d + v, &msgs[r->n_msgs]) != 0)
				return 1;
			r->msgs[r->n_msgs] = &msgs[r->n_msgs];
			r->n_msgs++;
			break;
		case WIRE_REPLY_FIRST_ID:
			r->has_first_id = 1;
			r->first_id = v;
			break;
		}
	}
	if (have_id && have_status)
		*rp = r;
	return 1;
}

/*
 * The hottest replies (pushes and pops) skip both the strict check and
 * the arena: wire_reply_fast validates and decodes them in one pass, in
 * place. It accepts only a subset of what frame_check_wire plus protobuf-c
 * accept (one-byte tags, the fields below, as many Msgs in a row as the
 * caller has room for) and decodes it the same way; for anything else,
 * well-formed or not, it declines and the caller takes the strict path,
 * which gives malformed frames their usual reason.
 */

/*
 * Validate and decode one Msg body in place; 0, or -1 to decline. Fields
 * must come in rising order (as every encoder writes them), which also
 * rules out duplicates.
 */
static int
wire_fast_msg(const uint8_t *p, const uint8_t *end, struct wire_msg *m)
{
	uint64_t v;

	/* id, then data: both required. */
	if (p >= end || *p != WIRE_MSG_ID ||
	    (p = wire_get_varint(p + 1, end, &m->id)) == NULL || p >= end ||
	    *p != WIRE_MSG_DATA ||
	    (p = wire_get_len(p + 1, end, &m->len)) == NULL)
		return -1;
	m->data = p;
	p += m->len;
	m->band = 0;
	m->has_deliveries = 0;
	m->enqueued_ns = 0;
	/* Then band, deliveries, enqueued_ns, each optional. */
	if (p < end && *p == WIRE_MSG_BAND) {
		if ((p = wire_get_varint(p + 1, end, &v)) == NULL)
			return -1;
		m->band = (uint32_t)v;
	}
	if (p < end && *p == WIRE_MSG_DELIVERIES) {
		if ((p = wire_get_varint(p + 1, end, &v)) == NULL)
			return -1;
		m->has_deliveries = 1;
		m->deliveries = (uint32_t)v;
	}
	if (p < end && *p == WIRE_MSG_ENQUEUED_NS) {
		if ((p = wire_get_varint(p + 1, end, &m->enqueued_ns)) == NULL)
			return -1;
	}
	return p == end ? 0 : -1;
}

/* Validate and decode a hot Reply in place; 0 if the strict path must. */
int
wire_reply_fast(const uint8_t *buf, size_t len, struct wire_reply *wr)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t v;
	size_t n;

	wr->n_msgs = 0;
	wr->detail = NULL;
	wr->detail_len = 0;
	wr->has_sys_errno = 0;
	/* id and status: required, and first. */
	if (len < 4 || *p != WIRE_REPLY_ID ||
	    (p = wire_get_varint(p + 1, end, &wr->id)) == NULL || p >= end ||
	    *p != WIRE_REPLY_STATUS ||
	    (p = wire_get_varint(p + 1, end, &v)) == NULL)
		return 0;
	wr->status = (uint32_t)v;
	/* Then each of these at most once, in this order. */
	if (p < end && *p == WIRE_REPLY_DETAIL) {
		if ((p = wire_get_len(p + 1, end, &wr->detail_len)) == NULL)
			return 0;
		wr->detail = p;
		p += wr->detail_len;
	}
	if (p < end && *p == WIRE_REPLY_SYS_ERRNO) {
		if ((p = wire_get_varint(p + 1, end, &v)) == NULL)
			return 0;
		wr->has_sys_errno = 1;
		wr->sys_errno = (int32_t)(uint32_t)v;
	}
	/* msgs: a run, into wr->msgs (room for wr->msgs_cap). */
	while (p < end && *p == WIRE_REPLY_MSGS) {
		if (wr->n_msgs >= wr->msgs_cap ||
		    (p = wire_get_len(p + 1, end, &n)) == NULL ||
		    wire_fast_msg(p, p + n, &wr->msgs[wr->n_msgs]) != 0)
			return 0;
		wr->n_msgs++;
		p += n;
	}
	if (p < end && *p == WIRE_REPLY_FIRST_ID) {
		if ((p = wire_get_varint(p + 1, end, &v)) == NULL)
			return 0;
	}
	/* Anything left: another field, a Msg out of its run, a long tag. */
	return p == end;
}
