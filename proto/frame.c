/* frame.c - length-prefixed protobuf-c frames and strict decoding. */

#include <string.h>

#include "frame.h"
#include "wire.h"

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
		const uint8_t *q;
		const ProtobufCFieldDescriptor *f;
		size_t used;
		long idx;
		unsigned wt;

		if (p[0] < 0x80) {
			tag = p[0];
			used = 1;
		} else if ((q = wire_get_varint(p, p + len, &tag)) == NULL) {
			*why = "malformed field tag";
			return -1;
		} else
			used = (size_t)(q - p);
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
			if ((used = wire_skip_varint(p, len)) == 0) {
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
			q = wire_get_varint(p, p + len, &v);
			used = q != NULL ? (size_t)(q - p) : 0;
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
