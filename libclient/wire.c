/* wire.c - hand coding of the hot frames: push/pop requests, their replies. */

/*
 * protobuf-c's get_packed_size + pack walk the descriptors field by field
 * and were about a quarter of the client's instructions per async op. The
 * requests sent once per message are encoded here directly, byte for byte
 * what protobuf-c would produce (fields in number order, packed receipts);
 * every other request still goes through protobuf-c.
 */

#include <string.h>

#include "wire.h"

/* Bytes of a varint: one per 7 significant bits (9/64 ~ 1/7). */
static inline size_t
wire_vlen(uint64_t v)
{
	return ((size_t)(64 - __builtin_clzll(v | 1)) * 9 + 64) / 64;
}

/* Write a varint; returns the end. */
static uint8_t *
wire_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* sint64 on the wire. */
static uint64_t
wire_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Size of a length-delimited field (one-byte tag) holding n bytes. */
static size_t
wire_lenfield(size_t n)
{
	return 1 + wire_vlen(n) + n;
}

/* Size of a varint field (one-byte tag). */
static size_t
wire_vfield(uint64_t v)
{
	return 1 + wire_vlen(v);
}

/* Bytes of the packed ids of a receipt list. */
static size_t
wire_ids_len(const uint64_t *v, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += wire_vlen(v[i]);
	return len;
}

/* Body size of a Push. */
static size_t
wire_push_len(const Conqueue__Push *m)
{
	size_t i, len = wire_lenfield(m->name.len);

	for (i = 0; i < m->n_data; i++)
		len += wire_lenfield(m->data[i].len);
	if (m->has_band)
		len += wire_vfield(m->band);
	if (m->has_front)
		len += 2;
	if (m->has_timeout_ms)
		len += wire_vfield(wire_zigzag(m->timeout_ms));
	return len;
}

/* Body size of a Pop. */
static size_t
wire_pop_len(const Conqueue__Pop *m)
{
	size_t len = wire_lenfield(m->name.len);

	if (m->has_max)
		len += wire_vfield(m->max);
	if (m->has_timeout_ms)
		len += wire_vfield(wire_zigzag(m->timeout_ms));
	if (m->has_reserve)
		len += 2;
	if (m->has_lease_ms)
		len += wire_vfield(m->lease_ms);
	if (m->has_detach)
		len += 2;
	return len;
}

/* 1 if req is one wire_request_pack handles (no unknown fields). */
static int
wire_request_handled(const Conqueue__Request *req)
{
	if (req->base.n_unknown_fields != 0)
		return 0;
	switch (req->op_case) {
	case CONQUEUE__REQUEST__OP__NOT_SET:
		return 1;
	case CONQUEUE__REQUEST__OP_PUSH:
		return req->push->base.n_unknown_fields == 0;
	case CONQUEUE__REQUEST__OP_POP:
		return req->pop->base.n_unknown_fields == 0;
	default:
		return 0;
	}
}

/* Bytes the receipt fields of a request add to it. */
size_t
wire_receipts_len(const uint64_t *confirm, size_t n_confirm,
    const uint64_t *reject, size_t n_reject)
{
	size_t len = 0;

	if (n_confirm > 0)
		len += wire_lenfield(wire_ids_len(confirm, n_confirm));
	if (n_reject > 0)
		len += wire_lenfield(wire_ids_len(reject, n_reject));
	return len;
}

/*
 * Packed size of req as wire_request_pack writes it, 0 if not handled;
 * *body is the size of its Push or Pop, which wire_request_pack needs.
 */
size_t
wire_request_len(const Conqueue__Request *req, size_t *body)
{
	size_t len;

	*body = 0;
	if (!wire_request_handled(req))
		return 0;
	len = wire_vfield(req->id);
	if (req->n_confirm > 0 || req->n_reject > 0)
		len += wire_receipts_len(
		    req->confirm, req->n_confirm, req->reject, req->n_reject);
	if (req->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		*body = wire_push_len(req->push);
		len += wire_lenfield(*body);
	} else if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
		*body = wire_pop_len(req->pop);
		len += wire_lenfield(*body);
	}
	return len;
}

/* Write a length-delimited field's tag, length and bytes. */
static uint8_t *
wire_bytes(uint8_t *p, unsigned field, const void *data, size_t n)
{
	*p++ = (uint8_t)(field << 3 | 2);
	p = wire_varint(p, n);
	if (n > 0)
		memcpy(p, data, n);
	return p + n;
}

/* Write a varint field. */
static uint8_t *
wire_vput(uint8_t *p, unsigned field, uint64_t v)
{
	*p++ = (uint8_t)(field << 3);
	return wire_varint(p, v);
}

/* Write a packed receipt list as field. */
static uint8_t *
wire_ids(uint8_t *p, unsigned field, const uint64_t *v, size_t n)
{
	size_t i;

	*p++ = (uint8_t)(field << 3 | 2);
	p = wire_varint(p, wire_ids_len(v, n));
	for (i = 0; i < n; i++)
		p = wire_varint(p, v[i]);
	return p;
}

/*
 * Encode req (wire_request_len(req, &body) > 0) into out, which has room
 * for that many bytes. Returns the bytes written.
 */
size_t
wire_request_pack(const Conqueue__Request *req, size_t body, uint8_t *out)
{
	uint8_t *p = out;
	size_t i;

	p = wire_vput(p, 1, req->id);
	if (req->n_confirm > 0)
		p = wire_ids(p, 2, req->confirm, req->n_confirm);
	if (req->n_reject > 0)
		p = wire_ids(p, 3, req->reject, req->n_reject);
	if (req->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		const Conqueue__Push *m = req->push;

		*p++ = 13 << 3 | 2;
		p = wire_varint(p, body);
		p = wire_bytes(p, 1, m->name.data, m->name.len);
		for (i = 0; i < m->n_data; i++)
			p = wire_bytes(p, 2, m->data[i].data, m->data[i].len);
		if (m->has_band)
			p = wire_vput(p, 3, m->band);
		if (m->has_front)
			p = wire_vput(p, 4, m->front != 0);
		if (m->has_timeout_ms)
			p = wire_vput(p, 5, wire_zigzag(m->timeout_ms));
	} else if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
		const Conqueue__Pop *m = req->pop;

		*p++ = 14 << 3 | 2;
		p = wire_varint(p, body);
		p = wire_bytes(p, 1, m->name.data, m->name.len);
		if (m->has_max)
			p = wire_vput(p, 2, m->max);
		if (m->has_timeout_ms)
			p = wire_vput(p, 3, wire_zigzag(m->timeout_ms));
		if (m->has_reserve)
			p = wire_vput(p, 4, m->reserve != 0);
		if (m->has_lease_ms)
			p = wire_vput(p, 5, m->lease_ms);
		if (m->has_detach)
			p = wire_vput(p, 6, m->detach != 0);
	}
	return (size_t)(p - out);
}

/*
 * The hot requests (one message pushed, or a pop) are also described by a
 * struct wire_hot instead of protobuf-c structs, and measured and written
 * straight from it: the same bytes as wire_request_pack for the Request
 * ops.c would otherwise build.
 */

/* Size of h's Push or Pop. */
static size_t
wire_hot_body(const struct wire_hot *h)
{
	size_t len =
	    wire_lenfield(h->namelen) + wire_vfield(wire_zigzag(h->timeout_ms));

	if (h->op == CONQUEUE__REQUEST__OP_PUSH) {
		len += wire_lenfield(h->len);
		if (h->band != 0)
			len += wire_vfield(h->band);
		if (h->front)
			len += 2;
	} else {
		if (h->max != 1)
			len += wire_vfield(h->max);
		if (h->reserve) {
			len += 2;
			if (h->lease_ms != 0)
				len += wire_vfield(h->lease_ms);
		}
		if (h->detach)
			len += 2;
	}
	return len;
}

/* Packed size of h as request id, without receipts; *body for the pack. */
size_t
wire_hot_len(const struct wire_hot *h, uint64_t id, size_t *body)
{
	*body = wire_hot_body(h);
	return wire_vfield(id) + wire_lenfield(*body);
}

/* Encode h as request id with receipts into out (room for wire_hot_len
 * plus wire_receipts_len bytes). Returns the bytes written. */
size_t
wire_hot_pack(const struct wire_hot *h, uint64_t id, size_t body,
    const uint64_t *confirm, size_t n_confirm, const uint64_t *reject,
    size_t n_reject, uint8_t *out)
{
	uint8_t *p = out;

	p = wire_vput(p, 1, id);
	if (n_confirm > 0)
		p = wire_ids(p, 2, confirm, n_confirm);
	if (n_reject > 0)
		p = wire_ids(p, 3, reject, n_reject);
	if (h->op == CONQUEUE__REQUEST__OP_PUSH) {
		*p++ = 13 << 3 | 2;
		p = wire_varint(p, body);
		p = wire_bytes(p, 1, h->name, h->namelen);
		p = wire_bytes(p, 2, h->data, h->len);
		if (h->band != 0)
			p = wire_vput(p, 3, h->band);
		if (h->front)
			p = wire_vput(p, 4, 1);
		p = wire_vput(p, 5, wire_zigzag(h->timeout_ms));
	} else {
		*p++ = 14 << 3 | 2;
		p = wire_varint(p, body);
		p = wire_bytes(p, 1, h->name, h->namelen);
		if (h->max != 1)
			p = wire_vput(p, 2, h->max);
		p = wire_vput(p, 3, wire_zigzag(h->timeout_ms));
		if (h->reserve) {
			p = wire_vput(p, 4, 1);
			if (h->lease_ms != 0)
				p = wire_vput(p, 5, h->lease_ms);
		}
		if (h->detach)
			p = wire_vput(p, 6, 1);
	}
	return (size_t)(p - out);
}

/*
 * Replies: pop and push replies (id, status, detail, sys_errno, msgs,
 * first_id) are decoded here, the rest by protobuf-c. The input has passed
 * frame_check_wire (known fields, no duplicates, lengths and varints
 * well-formed), so this only maps fields, checks wire types and required
 * fields the way protobuf-c does, and allocates from the caller's arena.
 */

/* Read a varint that frame_check_wire already found well-formed. */
static const uint8_t *
wire_get(const uint8_t *p, uint64_t *v)
{
	unsigned shift = 0;

	*v = 0;
	do {
		*v |= (uint64_t)(*p & 0x7f) << shift;
		shift += 7;
	} while (*p++ & 0x80);
	return p;
}

/* Decode one Msg body into m; 0, or -1 if protobuf-c would refuse it. */
static int
wire_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
    Conqueue__Msg *m)
{
	int have_id = 0, have_data = 0;
	uint64_t tag, v;

	conqueue__msg__init(m);
	while (p < end) {
		p = wire_get(p, &tag);
		if ((tag & 7) != ((tag >> 3) == 2 ? 2u : 0u))
			return -1; /* a wire type protobuf-c would refuse */
		p = wire_get(p, &v);
		switch (tag >> 3) {
		case 1:
			m->id = v;
			have_id = 1;
			break;
		case 2:
			m->data.len = (size_t)v;
			m->data.data = NULL;
			if (v > 0) {
				if ((m->data.data = al->alloc(
				         al->allocator_data, (size_t)v)) ==
				    NULL)
					return -1;
				memcpy(m->data.data, p, (size_t)v);
			}
			p += v;
			have_data = 1;
			break;
		case 3:
			m->has_band = 1;
			m->band = (uint32_t)v;
			break;
		case 4:
			m->has_deliveries = 1;
			m->deliveries = (uint32_t)v;
			break;
		case 5:
			m->has_enqueued_ns = 1;
			m->enqueued_ns = v;
			break;
		default:
			return -1;
		}
	}
	return have_id && have_data ? 0 : -1;
}

/*
 * Decode a checked Reply into arena allocator al when it holds only the
 * fields above. Returns 0 if not handled here (*rp untouched), else 1 with
 * *rp the reply or NULL if protobuf-c would refuse it too. The Reply is
 * al's first allocation.
 */
int
wire_reply_unpack(ProtobufCAllocator *al, const uint8_t *buf, size_t len,
    Conqueue__Reply **rp)
{
	const uint8_t *p = buf, *end = buf + len;
	Conqueue__Reply *r;
	Conqueue__Msg *msgs = NULL;
	size_t nmsgs = 0;
	int have_id = 0, have_status = 0;
	uint64_t tag, v;

	/* First pass: only our fields, and how many messages. */
	while (p < end) {
		p = wire_get(p, &tag);
		switch (tag >> 3) {
		case 1:
		case 2:
		case 4:
		case 12:
			if ((tag & 7) != 0)
				return 0;
			p = wire_get(p, &v);
			break;
		case 3:
		case 5:
			if ((tag & 7) != 2)
				return 0;
			p = wire_get(p, &v);
			p += v;
			nmsgs += (tag >> 3) == 5;
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
		p = wire_get(p, &tag);
		p = wire_get(p, &v);
		switch (tag >> 3) {
		case 1:
			r->id = v;
			have_id = 1;
			break;
		case 2:
			r->status = (uint32_t)v;
			have_status = 1;
			break;
		case 3:
			if ((r->detail = al->alloc(
			         al->allocator_data, (size_t)v + 1)) == NULL)
				return 1;
			memcpy(r->detail, p, (size_t)v);
			r->detail[v] = '\0';
			p += v;
			break;
		case 4:
			r->has_sys_errno = 1;
			r->sys_errno = (int32_t)(uint32_t)v;
			break;
		case 5:
			if (wire_msg(al, p, p + v, &msgs[r->n_msgs]) != 0)
				return 1;
			r->msgs[r->n_msgs] = &msgs[r->n_msgs];
			r->n_msgs++;
			p += v;
			break;
		case 12:
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
 * The hottest replies (pushes and pops) skip both the strict
 * check and the arena: wire_reply_fast validates and decodes them in one
 * pass, in place. It accepts only a subset of what frame_check_wire plus
 * protobuf-c accept (one-byte tags, the fields below, as many Msgs in a
 * row as the caller has room for) and decodes it the same way; for anything
 * else, well-formed or not, it declines and the caller takes the strict path,
 * which gives malformed frames their usual reason.
 */

/* Gather the 7-bit groups of up to 8 varint bytes (top bits cleared). */
static inline uint64_t
wire_compact(uint64_t x)
{
	x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
	x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
	return ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
}

/* wire_getv's varints of 2 bytes and more. */
static const uint8_t *
wire_getv_long(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	unsigned shift = 0;
	int i = 0;

	/* Ids below 2^21: two or three bytes. */
	if (end - p >= 3 && p[1] < 0x80) {
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		return p + 2;
	}
	if (end - p >= 3 && p[2] < 0x80) {
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 |
		     (uint64_t)p[2] << 14;
		return p + 3;
	}
	*v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Larger ids and timestamps (9 bytes): 8 bytes at once. */
	if (end - p >= 8) {
		uint64_t w, stop;
		unsigned last;

		memcpy(&w, p, 8);
		stop = ~w & 0x8080808080808080ull;
		if (stop != 0) {
			last = (unsigned)__builtin_ctzll(stop); /* 8n - 1 */
			w &= (2ull << last) - 1;
			*v = wire_compact(w & 0x7f7f7f7f7f7f7f7full);
			return p + last / 8 + 1;
		}
		*v = wire_compact(w & 0x7f7f7f7f7f7f7f7full);
		if (end - p >= 9 && p[8] < 0x80) {
			*v |= (uint64_t)p[8] << 56;
			return p + 9;
		}
		p += 8;
		shift = 56;
		i = 8;
	}
#endif
	for (; i < 10 && p < end; i++, p++) {
		*v |= (uint64_t)(*p & 0x7f) << shift;
		if ((*p & 0x80) == 0)
			return p + 1;
		shift += 7;
	}
	return NULL;
}

/* Read a varint of at most 10 bytes before end; NULL if malformed. */
static inline const uint8_t *
wire_getv(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && *p < 0x80) {
		*v = *p;
		return p + 1;
	}
	return wire_getv_long(p, end, v);
}

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
	if (p >= end || *p != 0x08 ||
	    (p = wire_getv(p + 1, end, &m->id)) == NULL || p >= end ||
	    *p != 0x12 || (p = wire_getv(p + 1, end, &v)) == NULL ||
	    v > (uint64_t)(end - p))
		return -1;
	m->data = p;
	m->len = (size_t)v;
	p += v;
	m->band = 0;
	m->has_deliveries = 0;
	m->enqueued_ns = 0;
	/* Then band (3), deliveries (4), enqueued_ns (5), each optional. */
	if (p < end && *p == (3 << 3 | 0)) {
		if ((p = wire_getv(p + 1, end, &v)) == NULL)
			return -1;
		m->band = (uint32_t)v;
	}
	if (p < end && *p == (4 << 3 | 0)) {
		if ((p = wire_getv(p + 1, end, &v)) == NULL)
			return -1;
		m->has_deliveries = 1;
		m->deliveries = (uint32_t)v;
	}
	if (p < end && *p == (5 << 3 | 0)) {
		if ((p = wire_getv(p + 1, end, &m->enqueued_ns)) == NULL)
			return -1;
	}
	return p == end ? 0 : -1;
}

/*
 * Validate and decode a Reply of id, status, then optionally detail,
 * sys_errno, consecutive Msgs (at most wr->msgs_cap, into wr->msgs) and
 * first_id, in that order, pointing into buf. 1 if done, 0 if the strict
 * path must decide (anything else, more Msgs than room, or malformed).
 */
int
wire_reply_fast(const uint8_t *buf, size_t len, struct wire_reply *wr)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t v;

	wr->n_msgs = 0;
	wr->detail = NULL;
	wr->detail_len = 0;
	wr->has_sys_errno = 0;
	/* id and status: required, and first. */
	if (len < 4 || *p != 0x08 ||
	    (p = wire_getv(p + 1, end, &wr->id)) == NULL || p >= end ||
	    *p != 0x10 || (p = wire_getv(p + 1, end, &v)) == NULL)
		return 0;
	wr->status = (uint32_t)v;
	/* Then each of these at most once, in this order. */
	if (p < end && *p == (3 << 3 | 2)) { /* detail */
		if ((p = wire_getv(p + 1, end, &v)) == NULL ||
		    v > (uint64_t)(end - p))
			return 0;
		wr->detail = p;
		wr->detail_len = (size_t)v;
		p += v;
	}
	if (p < end && *p == (4 << 3 | 0)) { /* sys_errno */
		if ((p = wire_getv(p + 1, end, &v)) == NULL)
			return 0;
		wr->has_sys_errno = 1;
		wr->sys_errno = (int32_t)(uint32_t)v;
	}
	/* msgs: a run, into wr->msgs (room for wr->msgs_cap). */
	while (p < end && *p == (5 << 3 | 2)) {
		if (wr->n_msgs >= wr->msgs_cap ||
		    (p = wire_getv(p + 1, end, &v)) == NULL ||
		    v > (uint64_t)(end - p) ||
		    wire_fast_msg(p, p + v, &wr->msgs[wr->n_msgs]) != 0)
			return 0;
		wr->n_msgs++;
		p += v;
	}
	if (p < end && *p == (12 << 3 | 0)) { /* first_id */
		if ((p = wire_getv(p + 1, end, &v)) == NULL)
			return 0;
	}
	/* Anything left: another field, a Msg out of its run, a long tag. */
	return p == end;
}
