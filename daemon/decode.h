/* decode.h - requests decoded from frame bodies, into a reusable arena. */

#ifndef CQ_DAEMON_DECODE_H
#define CQ_DAEMON_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/conqueue.pb-c.h"

/*
 * Decode the len-byte frame body strictly; NULL with a reason in *why.
 * The result may point into body and into the arena: valid until the
 * next decode_reset (call it once the request is handled).
 */
Conqueue__Request *decode_request(
    const uint8_t *body, size_t len, const char **why);
/* Forget the request decoded last. */
void decode_reset(void);
/* The request id of an undecodable body, if its first field is the id. */
uint64_t decode_guess_id(const uint8_t *p, size_t len);

#endif /* CQ_DAEMON_DECODE_H */
