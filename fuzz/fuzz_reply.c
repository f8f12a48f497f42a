/* fuzz_reply.c - libFuzzer target: replies as the client decodes them. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/frame.h"
#include "proto/wire.h"
#include "tests/wire_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Most Msgs wire_reply_fast gets room for (the client: its largest pop). */
#define FUZZ_REPLY_MSGS 256

/*
 * One reply body through every decoder the client has: whatever
 * wire_reply_fast (with room for cap Msgs) or wire_reply_unpack takes,
 * the strict path must decide the same way with the same fields; and the
 * daemon's hand encoder must write a decoded reply as protobuf-c does.
 */
static void
fuzz_reply_one(const uint8_t *buf, size_t len, size_t cap)
{
	static struct wire_msg msgs[FUZZ_REPLY_MSGS];
	struct wire_reply wr = {.msgs = msgs, .msgs_cap = cap};
	Conqueue__Reply *strict, *rp;
	const char *why = NULL;

	strict = frame_decode_reply(buf, len, &why);
	if (strict == NULL && why == NULL)
		__builtin_trap();
	if (wire_reply_fast(buf, len, &wr) &&
	    (strict == NULL || wire_same_fast(&wr, strict) != NULL))
		__builtin_trap();
	wire_same_arena_reset();
	if (frame_check_wire(&conqueue__reply__descriptor, buf, len, &why) ==
	    0) {
		if (wire_reply_unpack(&wire_same_arena, buf, len, &rp)) {
			if ((rp == NULL) != (strict == NULL))
				__builtin_trap();
			if (rp != NULL &&
			    ((const void *)rp != wire_same_arena_base() ||
			        wire_same_reply(rp, strict) != NULL))
				__builtin_trap();
		} else if (wire_same_arena_used() != 0)
			__builtin_trap();
	} else if (strict != NULL)
		__builtin_trap();
	if (strict != NULL) {
		if (wire_same_pack(strict) != NULL)
			__builtin_trap();
		conqueue__reply__free_unpacked(strict, NULL);
	}
}

/*
 * Treat the input as a byte stream from the daemon: split it into frames
 * as the client does (length header, limit check) and decode each, with
 * room for all Msgs and, as a small pop would have, for one.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint32_t limit = 4u * 1024 * 1024;

	while (size >= FRAME_HDR_LEN) {
		uint32_t len = frame_get_len(data);

		if (len > limit || len > size - FRAME_HDR_LEN)
			break;
		data += FRAME_HDR_LEN;
		size -= FRAME_HDR_LEN;
		fuzz_reply_one(data, len, FUZZ_REPLY_MSGS);
		fuzz_reply_one(data, len, 1);
		data += len;
		size -= len;
	}
	return 0;
}
