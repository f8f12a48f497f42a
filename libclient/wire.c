/* wire.c - hand encoding of the hot requests (push, pop, receipts). */

/*
 * protobuf-c's get_packed_size + pack walk the descriptors field by field
 * and were about a quarter of the client's instructions per async op. The
 * requests sent once per message are encoded here directly, byte for byte
 * what protobuf-c would produce (fields in number order, packed receipts);
 * every other request still goes through protobuf-c.
 */

#include <string.h>

#include "client.h"

/* Bytes of a varint. */
static size_t
wire_vlen(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
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
int
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

/* Packed size of req as wire_request_pack writes it, 0 if not handled. */
size_t
wire_request_len(const Conqueue__Request *req)
{
	size_t len, n;

	if (!wire_request_handled(req))
		return 0;
	len = wire_vfield(req->id);
	if (req->n_confirm > 0)
		len +=
		    wire_lenfield(wire_ids_len(req->confirm, req->n_confirm));
	if (req->n_reject > 0)
		len += wire_lenfield(wire_ids_len(req->reject, req->n_reject));
	if (req->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		n = wire_push_len(req->push);
		len += wire_lenfield(n);
	} else if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
		n = wire_pop_len(req->pop);
		len += wire_lenfield(n);
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
 * Encode req (wire_request_len(req) > 0) into out, which has room for that
 * many bytes. Returns the bytes written.
 */
size_t
wire_request_pack(const Conqueue__Request *req, uint8_t *out)
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
		p = wire_varint(p, wire_push_len(m));
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
		p = wire_varint(p, wire_pop_len(m));
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
