/* wire.h - the hand codec of the hot frames, both sides, and its varints. */

/*
 * protobuf-c walks descriptors field by field and allocates per field; for
 * the frames sent once per message (push and pop requests, their replies)
 * that was a quarter to a third of the instructions per op on each side.
 * These are coded by hand here, once: wire_request.c (the client encodes
 * requests, the daemon decodes them) and wire_reply.c (the daemon encodes
 * replies, the client decodes them). Every encoder writes byte for byte
 * what protobuf-c writes; every decoder accepts only what the strict path
 * (frame_check_wire + protobuf-c) accepts and decodes it identically, and
 * declines anything unusual so the strict path gives the answer.
 */

#ifndef CQ_PROTO_WIRE_H
#define CQ_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/conqueue.pb-c.h"

/* Protobuf wire types. */
#define WIRE_VARINT 0
#define WIRE_I64    1
#define WIRE_LEN    2
#define WIRE_I32    5

/*
 * The fields the hand codec touches, named once: X(NAME, message, field,
 * number, wire type, protobuf-c type). tests/check_wire_tags.c checks every
 * line against the descriptors protoc-c generates from conqueue.proto.
 */
#define WIRE_FIELDS(X)                                                         \
	X(REQUEST_ID, request, id, 1, VARINT, UINT64)                          \
	X(REQUEST_CONFIRM, request, confirm, 2, LEN, UINT64)                   \
	X(REQUEST_REJECT, request, reject, 3, LEN, UINT64)                     \
	X(REQUEST_PUSH, request, push, 13, LEN, MESSAGE)                       \
	X(REQUEST_POP, request, pop, 14, LEN, MESSAGE)                         \
	X(PUSH_NAME, push, name, 1, LEN, BYTES)                                \
	X(PUSH_DATA, push, data, 2, LEN, BYTES)                                \
	X(PUSH_BAND, push, band, 3, VARINT, UINT32)                            \
	X(PUSH_FRONT, push, front, 4, VARINT, BOOL)                            \
	X(PUSH_TIMEOUT_MS, push, timeout_ms, 5, VARINT, SINT64)                \
	X(PUSH_DEDUP_KEY, push, dedup_key, 6, LEN, BYTES)                      \
	X(PUSH_DELAY_MS, push, delay_ms, 7, VARINT, UINT32)                    \
	X(PUSH_TTL_MS, push, ttl_ms, 8, VARINT, UINT32)                        \
	X(POP_NAME, pop, name, 1, LEN, BYTES)                                  \
	X(POP_MAX, pop, max, 2, VARINT, UINT32)                                \
	X(POP_TIMEOUT_MS, pop, timeout_ms, 3, VARINT, SINT64)                  \
	X(POP_RESERVE, pop, reserve, 4, VARINT, BOOL)                          \
	X(POP_LEASE_MS, pop, lease_ms, 5, VARINT, UINT32)                      \
	X(POP_DETACH, pop, detach, 6, VARINT, BOOL)                            \
	X(REPLY_ID, reply, id, 1, VARINT, UINT64)                              \
	X(REPLY_STATUS, reply, status, 2, VARINT, UINT32)                      \
	X(REPLY_DETAIL, reply, detail, 3, LEN, STRING)                         \
	X(REPLY_SYS_ERRNO, reply, sys_errno, 4, VARINT, INT32)                 \
	X(REPLY_MSGS, reply, msgs, 5, LEN, MESSAGE)                            \
	X(REPLY_FIRST_ID, reply, first_id, 12, VARINT, UINT64)                 \
	X(MSG_ID, msg, id, 1, VARINT, UINT64)                                  \
	X(MSG_DATA, msg, data, 2, LEN, BYTES)                                  \
	X(MSG_BAND, msg, band, 3, VARINT, UINT32)                              \
	X(MSG_DELIVERIES, msg, deliveries, 4, VARINT, UINT32)                  \
	X(MSG_ENQUEUED_NS, msg, enqueued_ns, 5, VARINT, UINT64)

/* WIRE_<NAME>: the field's one-byte tag (number << 3 | wire type). */
#define WIRE_X_TAG(name, msg, field, num, wt, type)                            \
	WIRE_##name = (num) << 3 | WIRE_##wt,
enum wire_tag { WIRE_FIELDS(WIRE_X_TAG) };
#undef WIRE_X_TAG

/* Bytes of a varint: one per 7 significant bits (9/64 ~ 1/7). */
static inline size_t
wire_varint_len(uint64_t v)
{
	return ((size_t)(64 - __builtin_clzll(v | 1)) * 9 + 64) / 64;
}

/* Write a varint; returns the end. */
static inline uint8_t *
wire_put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* sint64 on the wire, and back. */
static inline uint64_t
wire_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
wire_unzigzag(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

/* Gather the 7-bit groups of up to 8 varint bytes (top bits cleared). */
static inline uint64_t
wire_compact(uint64_t x)
{
	x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
	x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
	return ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
}

const uint8_t *wire_get_varint_long(
    const uint8_t *p, const uint8_t *end, uint64_t *v);

/*
 * Read a varint of at most 10 bytes before end; NULL if malformed or
 * truncated. Bits past the 64th are dropped, as protobuf-c drops them.
 */
static inline const uint8_t *
wire_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && *p < 0x80) {
		*v = *p;
		return p + 1;
	}
	return wire_get_varint_long(p, end, v);
}

/*
 * Read the length of a length-delimited field as protobuf-c does: at most
 * 5 bytes, and the bytes it counts must follow before end. Returns where
 * they start, NULL otherwise.
 */
static inline const uint8_t *
wire_get_len(const uint8_t *p, const uint8_t *end, size_t *n)
{
	uint64_t v;
	const uint8_t *q = wire_get_varint(p, end, &v);

	if (q == NULL || q - p > 5 || v > (uint64_t)(end - q))
		return NULL;
	*n = (size_t)v;
	return q;
}

/* Skip a varint of len bytes at most; bytes used, 0 if malformed. */
static inline size_t
wire_skip_varint(const uint8_t *p, size_t len)
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

/* --- Requests (wire_request.c) --- */

/*
 * A push of one message or a pop, for wire_hot_pack: the fields the client
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

/* Bytes the receipt fields of a request add to it. */
size_t wire_receipts_len(const uint64_t *confirm, size_t n_confirm,
    const uint64_t *reject, size_t n_reject);
/*
 * Packed size of req as wire_request_pack writes it (receipts, push, pop),
 * 0 if it must go through protobuf-c; *body is the size of its Push or Pop,
 * which wire_request_pack needs.
 */
size_t wire_request_len(const Conqueue__Request *req, size_t *body);
/* Encode req (wire_request_len(req, &body) > 0) into out; bytes written. */
size_t wire_request_pack(
    const Conqueue__Request *req, size_t body, uint8_t *out);
/* Packed size of h as request id, without receipts; *body for the pack. */
size_t wire_hot_len(const struct wire_hot *h, uint64_t id, size_t *body);
/* Encode h as request id with receipts into out (room for wire_hot_len
 * plus wire_receipts_len bytes). Returns the bytes written. */
size_t wire_hot_pack(const struct wire_hot *h, uint64_t id, size_t body,
    const uint64_t *confirm, size_t n_confirm, const uint64_t *reject,
    size_t n_reject, uint8_t *out);

/* Most push data items / receipt ids wire_request_fast decodes in place. */
#define WIRE_FAST_DATA 128
#define WIRE_FAST_IDS  256

/*
 * Storage for a Request decoded by wire_request_fast: req points at push
 * or pop and at the arrays here; bytes fields point into the frame.
 */
struct wire_fast_req {
	Conqueue__Request req;
	Conqueue__Push push;
	Conqueue__Pop pop;
	ProtobufCBinaryData data[WIRE_FAST_DATA];
	uint64_t confirm[WIRE_FAST_IDS];
	uint64_t reject[WIRE_FAST_IDS];
};

/*
 * wire_request_fast decodes the hot requests (Request{id, confirm,
 * reject, push|pop} as the client writes them) by hand. Returns 1 with
 * out->req filled if it handled the len bytes of buf, 0 if they must go
 * through frame_check_wire + conqueue__request__unpack (anything unusual,
 * including every malformed frame). When it returns 1 those would accept
 * the same bytes and unpack an identical Request, so frame_check_wire need
 * not run. out->req borrows buf (name and data bytes point into it, NULL
 * when empty) and out: both must outlive its use; nothing is freed.
 */
int wire_request_fast(
    const uint8_t *buf, size_t len, struct wire_fast_req *out);

/* --- Replies (wire_reply.c) --- */

/*
 * Hand encoding of the hot replies (push and pop: only id, status, msgs and
 * first_id set), byte for byte what protobuf-c produces. Returns the body
 * size, or 0 if r has any other field and must go through protobuf-c.
 */
size_t wire_reply_pack_size(const Conqueue__Reply *r);
/*
 * An upper bound of wire_reply_pack_size, cheaper to compute (0 exactly
 * when wire_reply_pack_size is 0).
 */
size_t wire_reply_pack_bound(const Conqueue__Reply *r);
/*
 * Write the body of a reply wire_reply_pack_size accepts into buf (room
 * for wire_reply_pack_bound bytes); returns its size, which is
 * wire_reply_pack_size.
 */
size_t wire_reply_pack(const Conqueue__Reply *r, uint8_t *buf);

/*
 * Decode a Reply that passed frame_check_wire into arena allocator al when
 * it holds only id, status, detail, sys_errno, msgs and first_id. Returns
 * 0 if not handled here (*rp untouched), else 1 with *rp the reply or NULL
 * if protobuf-c would refuse it too. The Reply is al's first allocation.
 */
int wire_reply_unpack(ProtobufCAllocator *al, const uint8_t *buf, size_t len,
    Conqueue__Reply **rp);

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

/*
 * Validate and decode a Reply of id, status, then optionally detail,
 * sys_errno, consecutive Msgs (at most wr->msgs_cap, into wr->msgs) and
 * first_id, in that order, pointing into buf, without frame_check_wire.
 * 1 if done, 0 if the strict path must decide (anything else, more Msgs
 * than room, or malformed): it never accepts what the strict path refuses.
 */
int wire_reply_fast(const uint8_t *buf, size_t len, struct wire_reply *wr);

#endif /* CQ_PROTO_WIRE_H */
