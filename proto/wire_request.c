/* wire_request.c - hand coding of the hot requests: push, pop, receipts. */

/*
 * The client encodes them here (wire_request_pack from a Conqueue__Request,
 * wire_hot_pack from a struct wire_hot), byte for byte what protobuf-c
 * writes: fields in number order, one run of data, packed receipts. The
 * daemon decodes them here (wire_request_fast) when they come in exactly
 * that shape; every other request goes through protobuf-c.
 */

#include "wire.h"

/* Size of a length-delimited field (one-byte tag) holding n bytes. */
static inline size_t
wire_lenfield(size_t n)
{
	return 1 + wire_varint_len(n) + n;
}

/* Size of a varint field (one-byte tag). */
static inline size_t
wire_vfield(uint64_t v)
{
	return 1 + wire_varint_len(v);
}

/* Bytes of the packed ids of a receipt list. */
static size_t
wire_ids_len(const uint64_t *v, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += wire_varint_len(v[i]);
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
	if (m->has_dedup_key)
		len += wire_lenfield(m->dedup_key.len);
	if (m->has_delay_ms)
		len += wire_vfield(m->delay_ms);
	if (m->has_ttl_ms)
		len += wire_vfield(m->ttl_ms);
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

/* Packed size of req as wire_request_pack writes it, 0 if not handled. */
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
static inline uint8_t *
wire_bytes(uint8_t *p, enum wire_tag tag, const void *data, size_t n)
{
	*p++ = (uint8_t)tag;
	p = wire_put_varint(p, n);
	if (n > 0)
		memcpy(p, data, n);
	return p + n;
}

/* Write a varint field. */
static inline uint8_t *
wire_vput(uint8_t *p, enum wire_tag tag, uint64_t v)
{
	*p++ = (uint8_t)tag;
	return wire_put_varint(p, v);
}

/* Write a packed receipt list. */
static uint8_t *
wire_ids(uint8_t *p, enum wire_tag tag, const uint64_t *v, size_t n)
{
	size_t i;

	*p++ = (uint8_t)tag;
	p = wire_put_varint(p, wire_ids_len(v, n));
	for (i = 0; i < n; i++)
		p = wire_put_varint(p, v[i]);
	return p;
}

/* Write id and the receipts, the fields every hot request starts with. */
static inline uint8_t *
wire_head(uint8_t *p, uint64_t id, const uint64_t *confirm, size_t n_confirm,
    const uint64_t *reject, size_t n_reject)
{
	p = wire_vput(p, WIRE_REQUEST_ID, id);
	if (n_confirm > 0)
		p = wire_ids(p, WIRE_REQUEST_CONFIRM, confirm, n_confirm);
	if (n_reject > 0)
		p = wire_ids(p, WIRE_REQUEST_REJECT, reject, n_reject);
	return p;
}

/* Encode req (wire_request_len(req, &body) > 0) into out; bytes written. */
size_t
wire_request_pack(const Conqueue__Request *req, size_t body, uint8_t *out)
{
	uint8_t *p;
	size_t i;

	p = wire_head(out, req->id, req->confirm, req->n_confirm, req->reject,
	    req->n_reject);
	if (req->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		const Conqueue__Push *m = req->push;

		*p++ = WIRE_REQUEST_PUSH;
		p = wire_put_varint(p, body);
		p = wire_bytes(p, WIRE_PUSH_NAME, m->name.data, m->name.len);
		for (i = 0; i < m->n_data; i++)
			p = wire_bytes(
			    p, WIRE_PUSH_DATA, m->data[i].data, m->data[i].len);
		if (m->has_band)
			p = wire_vput(p, WIRE_PUSH_BAND, m->band);
		if (m->has_front)
			p = wire_vput(p, WIRE_PUSH_FRONT, m->front != 0);
		if (m->has_timeout_ms)
			p = wire_vput(p, WIRE_PUSH_TIMEOUT_MS,
			    wire_zigzag(m->timeout_ms));
		/* Keyed pushes (doc/dedup.md): the daemon's fast decoder
		 * declines the field, protobuf-c decodes it. */
		if (m->has_dedup_key)
			p = wire_bytes(p, WIRE_PUSH_DEDUP_KEY,
			    m->dedup_key.data, m->dedup_key.len);
		if (m->has_delay_ms)
			p = wire_vput(p, WIRE_PUSH_DELAY_MS, m->delay_ms);
		if (m->has_ttl_ms)
			p = wire_vput(p, WIRE_PUSH_TTL_MS, m->ttl_ms);
	} else if (req->op_case == CONQUEUE__REQUEST__OP_POP) {
		const Conqueue__Pop *m = req->pop;

		*p++ = WIRE_REQUEST_POP;
		p = wire_put_varint(p, body);
		p = wire_bytes(p, WIRE_POP_NAME, m->name.data, m->name.len);
		if (m->has_max)
			p = wire_vput(p, WIRE_POP_MAX, m->max);
		if (m->has_timeout_ms)
			p = wire_vput(
			    p, WIRE_POP_TIMEOUT_MS, wire_zigzag(m->timeout_ms));
		if (m->has_reserve)
			p = wire_vput(p, WIRE_POP_RESERVE, m->reserve != 0);
		if (m->has_lease_ms)
			p = wire_vput(p, WIRE_POP_LEASE_MS, m->lease_ms);
		if (m->has_detach)
			p = wire_vput(p, WIRE_POP_DETACH, m->detach != 0);
	}
	return (size_t)(p - out);
}

/*
 * The hot requests (one message pushed, or a pop) are also described by a
 * struct wire_hot instead of protobuf-c structs, and measured and written
 * straight from it: the same bytes as wire_request_pack for the Request
 * the client would otherwise build.
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

/* Encode h as request id with receipts into out; bytes written. */
size_t
wire_hot_pack(const struct wire_hot *h, uint64_t id, size_t body,
    const uint64_t *confirm, size_t n_confirm, const uint64_t *reject,
    size_t n_reject, uint8_t *out)
{
	uint8_t *p;

	p = wire_head(out, id, confirm, n_confirm, reject, n_reject);
	if (h->op == CONQUEUE__REQUEST__OP_PUSH) {
		*p++ = WIRE_REQUEST_PUSH;
		p = wire_put_varint(p, body);
		p = wire_bytes(p, WIRE_PUSH_NAME, h->name, h->namelen);
		p = wire_bytes(p, WIRE_PUSH_DATA, h->data, h->len);
		if (h->band != 0)
			p = wire_vput(p, WIRE_PUSH_BAND, h->band);
		if (h->front)
			p = wire_vput(p, WIRE_PUSH_FRONT, 1);
		p = wire_vput(
		    p, WIRE_PUSH_TIMEOUT_MS, wire_zigzag(h->timeout_ms));
	} else {
		*p++ = WIRE_REQUEST_POP;
		p = wire_put_varint(p, body);
		p = wire_bytes(p, WIRE_POP_NAME, h->name, h->namelen);
		if (h->max != 1)
			p = wire_vput(p, WIRE_POP_MAX, h->max);
		p = wire_vput(
		    p, WIRE_POP_TIMEOUT_MS, wire_zigzag(h->timeout_ms));
		if (h->reserve) {
			p = wire_vput(p, WIRE_POP_RESERVE, 1);
			if (h->lease_ms != 0)
				p = wire_vput(
				    p, WIRE_POP_LEASE_MS, h->lease_ms);
		}
		if (h->detach)
			p = wire_vput(p, WIRE_POP_DETACH, 1);
	}
	return (size_t)(p - out);
}

/*
 * Hand decoding of the hot requests in the daemon. frame_check_wire plus
 * protobuf-c's unpack (descriptor walks, an allocation per field) were a
 * third of the daemon's instructions per async op. Only the canonical
 * shape is taken here: each field at most once (push data: one run), in
 * number order, one-byte tags, the expected wire types, lengths of at most
 * 5 bytes (as protobuf-c reads them), bools as one byte 0 or 1. Everything
 * else, valid or not, returns 0 and goes through the strict slow path,
 * which gives the authoritative answer or error.
 */

/* Read a uint32 field's varint (protobuf-c keeps its low 32 bits). */
static inline const uint8_t *
wire_fast_u32(const uint8_t *p, const uint8_t *end, uint32_t *v)
{
	uint64_t u;

	if ((p = wire_get_varint(p, end, &u)) != NULL)
		*v = (uint32_t)u;
	return p;
}

/* Read a sint64 field's varint. */
static inline const uint8_t *
wire_fast_s64(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	uint64_t u;

	if ((p = wire_get_varint(p, end, &u)) != NULL)
		*v = wire_unzigzag(u);
	return p;
}

/* Read a bool: one byte, 0 or 1 (protobuf-c reads any varint). */
static inline const uint8_t *
wire_fast_bool(const uint8_t *p, const uint8_t *end, protobuf_c_boolean *v)
{
	if (p >= end || p[0] > 1)
		return NULL;
	*v = p[0];
	return p + 1;
}

/* Read a length-delimited field's bytes in place, NULL data if empty. */
static inline const uint8_t *
wire_fast_bytes(const uint8_t *p, const uint8_t *end, ProtobufCBinaryData *b)
{
	size_t n;

	if ((p = wire_get_len(p, end, &n)) == NULL)
		return NULL;
	b->len = n;
	b->data = n > 0 ? (uint8_t *)(uintptr_t)p : NULL;
	return p + n;
}

/* Read a packed receipt list (not empty) into ids. */
static inline const uint8_t *
wire_fast_ids(const uint8_t *p, const uint8_t *end, uint64_t *ids, size_t *nids)
{
	const uint8_t *q;
	size_t len, k = 0;

	if ((p = wire_get_len(p, end, &len)) == NULL || len == 0)
		return NULL;
	end = p + len;
	for (q = p; q < end; k++)
		if (k == WIRE_FAST_IDS ||
		    (q = wire_get_varint(q, end, &ids[k])) == NULL)
			return NULL;
	*nids = k;
	return end;
}

/* Decode a Push body (name first, then data, band, front, timeout_ms,
 * delay_ms, ttl_ms). */
static inline int
wire_fast_push(const uint8_t *p, const uint8_t *end, struct wire_fast_req *out)
{
	Conqueue__Push *m = &out->push;
	size_t n = 0;

	*m = (Conqueue__Push)CONQUEUE__PUSH__INIT;
	if (p == end || *p != WIRE_PUSH_NAME ||
	    (p = wire_fast_bytes(p + 1, end, &m->name)) == NULL)
		return 0;
	while (p < end && *p == WIRE_PUSH_DATA) {
		if (n == WIRE_FAST_DATA ||
		    (p = wire_fast_bytes(p + 1, end, &out->data[n])) == NULL)
			return 0;
		n++;
	}
	if (n > 0) {
		m->n_data = n;
		m->data = out->data;
	}
	if (p < end && *p == WIRE_PUSH_BAND) {
		if ((p = wire_fast_u32(p + 1, end, &m->band)) == NULL)
			return 0;
		m->has_band = 1;
	}
	if (p < end && *p == WIRE_PUSH_FRONT) {
		if ((p = wire_fast_bool(p + 1, end, &m->front)) == NULL)
			return 0;
		m->has_front = 1;
	}
	if (p < end && *p == WIRE_PUSH_TIMEOUT_MS) {
		if ((p = wire_fast_s64(p + 1, end, &m->timeout_ms)) == NULL)
			return 0;
		m->has_timeout_ms = 1;
	}
	if (p < end && *p == WIRE_PUSH_DELAY_MS) {
		if ((p = wire_fast_u32(p + 1, end, &m->delay_ms)) == NULL)
			return 0;
		m->has_delay_ms = 1;
	}
	if (p < end && *p == WIRE_PUSH_TTL_MS) {
		if ((p = wire_fast_u32(p + 1, end, &m->ttl_ms)) == NULL)
			return 0;
		m->has_ttl_ms = 1;
	}
	return p == end;
}

/* Decode a Pop body (name, max, timeout_ms, reserve, lease_ms, detach). */
static inline int
wire_fast_pop(const uint8_t *p, const uint8_t *end, Conqueue__Pop *m)
{
	*m = (Conqueue__Pop)CONQUEUE__POP__INIT;
	if (p == end || *p != WIRE_POP_NAME ||
	    (p = wire_fast_bytes(p + 1, end, &m->name)) == NULL)
		return 0;
	if (p < end && *p == WIRE_POP_MAX) {
		if ((p = wire_fast_u32(p + 1, end, &m->max)) == NULL)
			return 0;
		m->has_max = 1;
	}
	if (p < end && *p == WIRE_POP_TIMEOUT_MS) {
		if ((p = wire_fast_s64(p + 1, end, &m->timeout_ms)) == NULL)
			return 0;
		m->has_timeout_ms = 1;
	}
	if (p < end && *p == WIRE_POP_RESERVE) {
		if ((p = wire_fast_bool(p + 1, end, &m->reserve)) == NULL)
			return 0;
		m->has_reserve = 1;
	}
	if (p < end && *p == WIRE_POP_LEASE_MS) {
		if ((p = wire_fast_u32(p + 1, end, &m->lease_ms)) == NULL)
			return 0;
		m->has_lease_ms = 1;
	}
	if (p < end && *p == WIRE_POP_DETACH) {
		if ((p = wire_fast_bool(p + 1, end, &m->detach)) == NULL)
			return 0;
		m->has_detach = 1;
	}
	return p == end;
}

/* Decode a hot Request by hand; 0 if it needs the slow path. */
int
wire_request_fast(const uint8_t *buf, size_t len, struct wire_fast_req *out)
{
	Conqueue__Request *r = &out->req;
	const uint8_t *p = buf, *end;
	size_t n;
	uint8_t tag;

	*r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	if (len == 0 || buf[0] != WIRE_REQUEST_ID)
		return 0;
	end = buf + len;
	if ((p = wire_get_varint(p + 1, end, &r->id)) == NULL)
		return 0;
	if (p < end && *p == WIRE_REQUEST_CONFIRM) {
		if ((p = wire_fast_ids(
		         p + 1, end, out->confirm, &r->n_confirm)) == NULL)
			return 0;
		r->confirm = out->confirm;
	}
	if (p < end && *p == WIRE_REQUEST_REJECT) {
		if ((p = wire_fast_ids(
		         p + 1, end, out->reject, &r->n_reject)) == NULL)
			return 0;
		r->reject = out->reject;
	}
	if (p == end)
		return 1; /* receipts only */
	/* One op, the frame's last field (a second would be a oneof clash). */
	tag = *p;
	if ((p = wire_get_len(p + 1, end, &n)) == NULL ||
	    n != (size_t)(end - p))
		return 0;
	if (tag == WIRE_REQUEST_PUSH) {
		if (!wire_fast_push(p, end, out))
			return 0;
		r->op_case = CONQUEUE__REQUEST__OP_PUSH;
		r->push = &out->push;
		return 1;
	}
	if (tag == WIRE_REQUEST_POP) {
		if (!wire_fast_pop(p, end, &out->pop))
			return 0;
		r->op_case = CONQUEUE__REQUEST__OP_POP;
		r->pop = &out->pop;
		return 1;
	}
	return 0;
}
