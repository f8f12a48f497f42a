/*
 * frame.h - length-prefixed protobuf-c frames and strict decoding (the hot
 * frames' hand codec is proto/wire.h).
 */

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

#endif /* CQ_PROTO_FRAME_H */
