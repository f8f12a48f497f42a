/* frame.c - length-prefixed protobuf-c frames and strict decoding. */

#include <string.h>

#include "frame.h"

#define FRAME_MAX_DEPTH 8

/* Write a big-endian length header. */
void
frame_put_len(uint8_t *hdr, uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

/* Read a big-endian length header. */
uint32_t
frame_get_len(const uint8_t *hdr)
{
	return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
	       ((uint32_t)hdr[2] << 8) | (uint32_t)hdr[3];
}

/* Read a varint; returns bytes used, 0 if malformed or truncated. */
static inline size_t
frame_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	size_t i;
	unsigned shift = 0;

	/* Tags, lengths and most values here fit one byte. */
	if (len > 0 && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	*v = 0;
	for (i = 0; i < len && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << shift;
		if ((p[i] & 0x80) == 0)
			return i + 1;
		shift += 7;
	}
	return 0;
}

/* Skip a varint's bytes; returns bytes used, 0 if malformed/truncated. */
static inline size_t
frame_varint_skip(const uint8_t *p, size_t len)
{
	size_t i, max = len < 10 ? len : 10;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Ids and timestamps are 3..9 bytes: find the last byte of the
	 * varint in 8 at once (the first byte with its top bit clear). */
	if (len >= 8) {
		uint64_t w, end;

		memcpy(&w, p, 8);
		end = ~w & 0x8080808080808080ull;
		if (end != 0)
			return (size_t)__builtin_ctzll(end) / 8 + 1;
		i = 8;
	} else
		i = 0;
#else
	i = 0;
#endif
	for (; i < max; i++)
		if ((p[i] & 0x80) == 0)
			return i + 1;
	return 0;
}

/*
 * Index of field number tag in desc->fields, or -1: the descriptor's
 * sorted ranges of consecutive numbers, walked inline (our messages have
 * one or two ranges; the library's lookup is a call plus a search).
 */
static inline long
frame_field_index(const ProtobufCMessageDescriptor *desc, uint64_t tag)
{
	const ProtobufCIntRange *r = desc->field_ranges;
	unsigned i;

	for (i = 0; i < desc->n_field_ranges; i++) {
		/* r[n_field_ranges] is a sentinel holding n_fields. */
		uint64_t start = (uint64_t)r[i].start_value;
		uint64_t count = r[i + 1].orig_index - r[i].orig_index;

		if (tag < start)
			return -1;
		if (tag - start < count)
			return (long)(r[i].orig_index + (tag - start));
	}
	return -1;
}

/*
 * Walk one message's fields, recursing into sub-messages. One pass over
 * the bytes with no allocation; it runs before every unpack, so it is
 * kept to table lookups and bit tests.
 */
static int
frame_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
    size_t len, unsigned depth, const char **why)
{
	uint64_t seen = 0;
	size_t n_oneof = 0;
	unsigned oneof_off[4];

	if (depth > FRAME_MAX_DEPTH) {
		*why = "message nested too deeply";
		return -1;
	}
	if (desc->n_fields > 64) {
		*why = "internal: descriptor too large";
		return -1;
	}
	while (len > 0) {
		uint64_t tag, v;
		const ProtobufCFieldDescriptor *f;
		size_t used;
		long idx;
		unsigned wt;

		if (p[0] < 0x80) {
			tag = p[0];
			used = 1;
		} else if ((used = frame_varint(p, len, &tag)) == 0) {
			*why = "malformed field tag";
			return -1;
		}
		if ((tag >> 3) == 0 || (tag >> 3) > 0xffffffffu) {
			*why = "malformed field tag";
			return -1;
		}
		wt = (unsigned)(tag & 7);
		p += used;
		len -= used;
		if ((idx = frame_field_index(desc, tag >> 3)) < 0) {
			*why = "unknown field";
			return -1;
		}
		f = &desc->fields[idx];
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			if (seen & ((uint64_t)1 << idx)) {
				*why = "duplicate field";
				return -1;
			}
			seen |= (uint64_t)1 << idx;
			if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				size_t i;

				for (i = 0; i < n_oneof; i++)
					if (oneof_off[i] ==
					    f->quantifier_offset)
						break;
				if (i < n_oneof) {
					*why = "two members of one oneof";
					return -1;
				}
				if (n_oneof <
				    sizeof oneof_off / sizeof oneof_off[0])
					oneof_off[n_oneof++] =
					    f->quantifier_offset;
			}
		}
		switch (wt) {
		case 0: /* varint */
			if ((used = frame_varint_skip(p, len)) == 0) {
				*why = "malformed varint";
				return -1;
			}
			break;
		case 1: /* 64-bit */
			used = 8;
			break;
		case 5: /* 32-bit */
			used = 4;
			break;
		case 2: /* length-delimited */
			used = frame_varint(p, len, &v);
			if (used == 0 || v > len - used) {
				*why = "truncated field";
				return -1;
			}
			if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    frame_check(f->descriptor, p + used, (size_t)v,
			        depth + 1, why) != 0)
				return -1;
			used += (size_t)v;
			break;
		default:
			*why = "unsupported wire type";
			return -1;
		}
		if (used > len) {
			*why = "truncated field";
			return -1;
		}
		p += used;
		len -= used;
	}
	return 0;
}

/* Check a whole encoded message. */
int
frame_check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, const char **why)
{
	return frame_check(desc, buf, len, 0, why);
}

/* Decode a Request strictly. */
Conqueue__Request *
frame_decode_request(const uint8_t *buf, size_t len, const char **why)
{
	Conqueue__Request *r;

	if (frame_check_wire(&conqueue__request__descriptor, buf, len, why))
		return NULL;
	r = conqueue__request__unpack(NULL, len, buf);
	if (r == NULL)
		*why = "undecodable message (missing required field?)";
	return r;
}

/* Decode a Reply strictly. */
Conqueue__Reply *
frame_decode_reply(const uint8_t *buf, size_t len, const char **why)
{
	Conqueue__Reply *r;

	if (frame_check_wire(&conqueue__reply__descriptor, buf, len, why))
		return NULL;
	r = conqueue__reply__unpack(NULL, len, buf);
	if (r == NULL)
		*why = "undecodable message (missing required field?)";
	return r;
}

/*
 * Hand decoding of the hot requests. frame_check_wire plus protobuf-c's
 * unpack (descriptor walks, an allocation per field) were a third of the
 * daemon's instructions per async op. Only the canonical shape is taken
 * here: each field at most once (push data: one run), in number order,
 * one-byte tags, the expected wire types, varints no longer than
 * protobuf-c reads them without truncation, bools as one byte 0 or 1.
 * Everything else, valid or not, returns 0 and goes through the strict
 * slow path, which gives the authoritative answer or error.
 */

/* Read a uint64 varint below end; NULL if malformed or over 64 bits. */
static inline const uint8_t *
frame_fast_u64(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	size_t i, n = (size_t)(end - p);
	uint64_t x = 0;

	if (n > 0 && p[0] < 0x80) {
		*v = p[0];
		return p + 1;
	}
	if (n > 10)
		n = 10;
	for (i = 0; i < n; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (p[i] < 0x80) {
			if (i == 9 && p[i] > 1)
				return NULL; /* protobuf-c drops the bits */
			*v = x;
			return p + i + 1;
		}
	}
	return NULL;
}

/* Read a uint32 varint of at most 5 bytes; NULL if malformed or too big. */
static inline const uint8_t *
frame_fast_u32(const uint8_t *p, const uint8_t *end, uint32_t *v)
{
	size_t i, n = (size_t)(end - p);
	uint32_t x = 0;

	if (n > 0 && p[0] < 0x80) {
		*v = p[0];
		return p + 1;
	}
	if (n > 5)
		n = 5;
	for (i = 0; i < n; i++) {
		x |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (p[i] < 0x80) {
			if (i == 4 && p[i] > 0x0f)
				return NULL; /* protobuf-c truncates it */
			*v = x;
			return p + i + 1;
		}
	}
	return NULL;
}

/* Read a sint64 varint. */
static inline const uint8_t *
frame_fast_s64(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	uint64_t u;

	if ((p = frame_fast_u64(p, end, &u)) != NULL)
		*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return p;
}

/* Read a bool: one byte, 0 or 1 (protobuf-c reads any varint). */
static inline const uint8_t *
frame_fast_bool(const uint8_t *p, const uint8_t *end, protobuf_c_boolean *v)
{
	if (p >= end || p[0] > 1)
		return NULL;
	*v = p[0];
	return p + 1;
}

/* Read a length-delimited field's bytes in place, NULL data if empty. */
static inline const uint8_t *
frame_fast_bytes(const uint8_t *p, const uint8_t *end, ProtobufCBinaryData *b)
{
	uint32_t n;

	if ((p = frame_fast_u32(p, end, &n)) == NULL || n > (size_t)(end - p))
		return NULL;
	b->len = n;
	b->data = n > 0 ? (uint8_t *)(uintptr_t)p : NULL;
	return p + n;
}

/* Read a packed receipt list (not empty) into ids. */
static inline const uint8_t *
frame_fast_ids(
    const uint8_t *p, const uint8_t *end, uint64_t *ids, size_t *nids)
{
	const uint8_t *q;
	uint32_t len;
	size_t k = 0;

	if ((p = frame_fast_u32(p, end, &len)) == NULL || len == 0 ||
	    len > (size_t)(end - p))
		return NULL;
	end = p + len;
	for (q = p; q < end; k++)
		if (k == FRAME_FAST_IDS ||
		    (q = frame_fast_u64(q, end, &ids[k])) == NULL)
			return NULL;
	*nids = k;
	return end;
}

/* Decode a Push body (name first, then data, band, front, timeout_ms). */
static inline int
frame_fast_push(
    const uint8_t *p, const uint8_t *end, struct frame_fast_req *out)
{
	Conqueue__Push *m = &out->push;
	size_t n = 0;

	*m = (Conqueue__Push)CONQUEUE__PUSH__INIT;
	if (p == end || *p != (1 << 3 | 2) ||
	    (p = frame_fast_bytes(p + 1, end, &m->name)) == NULL)
		return 0;
	while (p < end && *p == (2 << 3 | 2)) {
		if (n == FRAME_FAST_DATA ||
		    (p = frame_fast_bytes(p + 1, end, &out->data[n])) == NULL)
			return 0;
		n++;
	}
	if (n > 0) {
		m->n_data = n;
		m->data = out->data;
	}
	if (p < end && *p == 3 << 3) {
		if ((p = frame_fast_u32(p + 1, end, &m->band)) == NULL)
			return 0;
		m->has_band = 1;
	}
	if (p < end && *p == 4 << 3) {
		if ((p = frame_fast_bool(p + 1, end, &m->front)) == NULL)
			return 0;
		m->has_front = 1;
	}
	if (p < end && *p == 5 << 3) {
		if ((p = frame_fast_s64(p + 1, end, &m->timeout_ms)) == NULL)
			return 0;
		m->has_timeout_ms = 1;
	}
	return p == end;
}

/* Decode a Pop body (name, max, timeout_ms, reserve, lease_ms, detach). */
static inline int
frame_fast_pop(const uint8_t *p, const uint8_t *end, Conqueue__Pop *m)
{
	*m = (Conqueue__Pop)CONQUEUE__POP__INIT;
	if (p == end || *p != (1 << 3 | 2) ||
	    (p = frame_fast_bytes(p + 1, end, &m->name)) == NULL)
		return 0;
	if (p < end && *p == 2 << 3) {
		if ((p = frame_fast_u32(p + 1, end, &m->max)) == NULL)
			return 0;
		m->has_max = 1;
	}
	if (p < end && *p == 3 << 3) {
		if ((p = frame_fast_s64(p + 1, end, &m->timeout_ms)) == NULL)
			return 0;
		m->has_timeout_ms = 1;
	}
	if (p < end && *p == 4 << 3) {
		if ((p = frame_fast_bool(p + 1, end, &m->reserve)) == NULL)
			return 0;
		m->has_reserve = 1;
	}
	if (p < end && *p == 5 << 3) {
		if ((p = frame_fast_u32(p + 1, end, &m->lease_ms)) == NULL)
			return 0;
		m->has_lease_ms = 1;
	}
	if (p < end && *p == 6 << 3) {
		if ((p = frame_fast_bool(p + 1, end, &m->detach)) == NULL)
			return 0;
		m->has_detach = 1;
	}
	return p == end;
}

/* Decode a hot Request by hand; 0 if it needs the slow path. */
int
frame_request_fast(const uint8_t *buf, size_t len, struct frame_fast_req *out)
{
	Conqueue__Request *r = &out->req;
	const uint8_t *p = buf, *end;
	uint32_t n;
	uint8_t tag;

	*r = (Conqueue__Request)CONQUEUE__REQUEST__INIT;
	if (len == 0 || buf[0] != 1 << 3)
		return 0;
	end = buf + len;
	if ((p = frame_fast_u64(p + 1, end, &r->id)) == NULL)
		return 0;
	if (p < end && *p == (2 << 3 | 2)) {
		if ((p = frame_fast_ids(
		         p + 1, end, out->confirm, &r->n_confirm)) == NULL)
			return 0;
		r->confirm = out->confirm;
	}
	if (p < end && *p == (3 << 3 | 2)) {
		if ((p = frame_fast_ids(
		         p + 1, end, out->reject, &r->n_reject)) == NULL)
			return 0;
		r->reject = out->reject;
	}
	if (p == end)
		return 1; /* receipts only */
	/* One op, the frame's last field (a second would be a oneof clash). */
	tag = *p;
	if ((p = frame_fast_u32(p + 1, end, &n)) == NULL ||
	    n != (size_t)(end - p))
		return 0;
	if (tag == (13 << 3 | 2)) {
		if (!frame_fast_push(p, end, out))
			return 0;
		r->op_case = CONQUEUE__REQUEST__OP_PUSH;
		r->push = &out->push;
		return 1;
	}
	if (tag == (14 << 3 | 2)) {
		if (!frame_fast_pop(p, end, &out->pop))
			return 0;
		r->op_case = CONQUEUE__REQUEST__OP_POP;
		r->pop = &out->pop;
		return 1;
	}
	return 0;
}

/*
 * The hot replies are encoded by hand: protobuf-c's get_packed_size + pack
 * walk the descriptors field by field and were ~15% of the daemon's
 * instructions per async op. Fields go in number order, as protobuf-c
 * writes them; anything unusual falls back to protobuf-c.
 */

/* Bytes of a varint. */
static inline size_t
frame_vlen(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Write a varint; returns the end. */
static inline uint8_t *
frame_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Body size of one Msg. */
static inline size_t
frame_msg_len(const Conqueue__Msg *m)
{
	size_t len =
	    1 + frame_vlen(m->id) + 1 + frame_vlen(m->data.len) + m->data.len;

	if (m->has_band)
		len += 1 + frame_vlen(m->band);
	if (m->has_deliveries)
		len += 1 + frame_vlen(m->deliveries);
	if (m->has_enqueued_ns)
		len += 1 + frame_vlen(m->enqueued_ns);
	return len;
}

/* Whether r has only the fields the hand encoder writes. */
static inline int
frame_reply_fast_ok(const Conqueue__Reply *r)
{
	return r->detail == NULL && !r->has_sys_errno && r->stat == NULL &&
	       r->n_queues == 0 && !r->has_flag && !r->has_length &&
	       r->welcome == NULL && r->info == NULL &&
	       r->base.n_unknown_fields == 0;
}

/*
 * Most bytes a push/pop reply can take (0 if it needs protobuf-c): per
 * message its data and at most 46 bytes of tags and varints; 28 for id,
 * status and first_id. One pass over the messages instead of sizing
 * every varint; frame_reply_fast_pack returns the real size.
 */
size_t
frame_reply_fast_bound(const Conqueue__Reply *r)
{
	size_t i, len = 32;

	if (!frame_reply_fast_ok(r))
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
frame_reply_fast_size(const Conqueue__Reply *r)
{
	size_t i, n, len;

	if (!frame_reply_fast_ok(r))
		return 0;
	len = 1 + frame_vlen(r->id) + 1 + frame_vlen(r->status);
	for (i = 0; i < r->n_msgs; i++) {
		if (r->msgs[i] == NULL ||
		    r->msgs[i]->base.n_unknown_fields != 0)
			return 0;
		n = frame_msg_len(r->msgs[i]);
		len += 1 + frame_vlen(n) + n;
	}
	if (r->has_first_id)
		len += 1 + frame_vlen(r->first_id);
	return len;
}

/* Encode a reply accepted by frame_reply_fast_size; returns its size. */
size_t
frame_reply_fast_pack(const Conqueue__Reply *r, uint8_t *buf)
{
	uint8_t *p = buf;
	size_t i;

	*p++ = 0x08; /* 1: id, varint */
	p = frame_put_varint(p, r->id);
	*p++ = 0x10; /* 2: status, varint */
	p = frame_put_varint(p, r->status);
	for (i = 0; i < r->n_msgs; i++) {
		const Conqueue__Msg *m = r->msgs[i];
		uint8_t *lenp;

		*p++ = 0x2a; /* 5: msgs, length-delimited */
		/*
		 * A body of at most 46 + 80 bytes has a one-byte length:
		 * write it after the body instead of sizing every field.
		 */
		lenp = p;
		if (m->data.len <= 80)
			p++;
		else
			p = frame_put_varint(p, frame_msg_len(m));
		*p++ = 0x08; /* Msg 1: id */
		p = frame_put_varint(p, m->id);
		*p++ = 0x12; /* Msg 2: data */
		p = frame_put_varint(p, m->data.len);
		if (m->data.len > 0)
			memcpy(p, m->data.data, m->data.len);
		p += m->data.len;
		if (m->has_band) {
			*p++ = 0x18;
			p = frame_put_varint(p, m->band);
		}
		if (m->has_deliveries) {
			*p++ = 0x20;
			p = frame_put_varint(p, m->deliveries);
		}
		if (m->has_enqueued_ns) {
			*p++ = 0x28;
			p = frame_put_varint(p, m->enqueued_ns);
		}
		if (m->data.len <= 80)
			*lenp = (uint8_t)(p - lenp - 1);
	}
	if (r->has_first_id) {
		*p++ = 0x60; /* 12: first_id, varint */
		p = frame_put_varint(p, r->first_id);
	}
	return (size_t)(p - buf);
}
