/* frame.h - length-prefixed protobuf-c frames and strict decoding. */

#ifndef CQ_PROTO_FRAME_H
#define CQ_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "conqueue/conqueue.h"
#include "proto/conqueue.pb-c.h"

#define FRAME_HDR_LEN 4
/* Hard ceiling for any frame body; the daemon's limit is at most this. */
#define FRAME_MAX_LIMIT (64u * 1024 * 1024)

/* Write the 4-byte big-endian length header for a body of len bytes. */
void frame_put_len(uint8_t *hdr, uint32_t len);
/* Read the body length from a 4-byte header. */
uint32_t frame_get_len(const uint8_t *hdr);

/*
 * Check the wire encoding of len bytes against descriptor desc before
 * unpacking: every field must be known, and no non-repeated field (or
 * oneof) may appear twice, at any depth. Returns 0 if acceptable, else -1
 * with a static reason in *why.
 */
int frame_check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, const char **why);

/*
 * Decode a Request (strictly, as frame_check_wire). NULL on failure with a
 * reason in *why. Free with conqueue__request__free_unpacked(r, NULL).
 */
Conqueue__Request *frame_decode_request(
    const uint8_t *buf, size_t len, const char **why);
/* Decode a Reply, likewise. */
Conqueue__Reply *frame_decode_reply(
    const uint8_t *buf, size_t len, const char **why);

/* Most push data items / receipt ids frame_request_fast decodes in place. */
#define FRAME_FAST_DATA 128
#define FRAME_FAST_IDS  256

/*
 * Storage for a Request decoded by frame_request_fast: req points at push
 * or pop and at the arrays here; bytes fields point into the frame.
 */
struct frame_fast_req {
	Conqueue__Request req;
	Conqueue__Push push;
	Conqueue__Pop pop;
	ProtobufCBinaryData data[FRAME_FAST_DATA];
	uint64_t confirm[FRAME_FAST_IDS];
	uint64_t reject[FRAME_FAST_IDS];
};

/*
 * frame_request_fast decodes the hot requests (Request{id, confirm,
 * reject, push|pop} as the client writes them) by hand. Returns 1 with
 * out->req filled if it handled the len bytes of buf, 0 if they must go
 * through frame_check_wire + conqueue__request__unpack (anything unusual,
 * including every malformed frame). When it returns 1 those would accept
 * the same bytes and unpack an identical Request, so frame_check_wire need
 * not run. out->req borrows buf (name and data bytes point into it, NULL
 * when empty) and out: both must outlive its use; nothing is freed.
 */
int frame_request_fast(
    const uint8_t *buf, size_t len, struct frame_fast_req *out);

/*
 * Hand encoding of the hot replies (push and pop: only id, status, msgs and
 * first_id set), byte for byte what protobuf-c produces. Returns the body
 * size, or 0 if r has any other field and must go through protobuf-c.
 */
size_t frame_reply_fast_size(const Conqueue__Reply *r);
/*
 * An upper bound of frame_reply_fast_size, cheaper to compute (0 exactly
 * when frame_reply_fast_size is 0).
 */
size_t frame_reply_fast_bound(const Conqueue__Reply *r);
/*
 * Write the body of a reply frame_reply_fast_size accepts into buf (room
 * for frame_reply_fast_bound bytes); returns its size, which is
 * frame_reply_fast_size.
 */
size_t frame_reply_fast_pack(const Conqueue__Reply *r, uint8_t *buf);

#endif /* CQ_PROTO_FRAME_H */
