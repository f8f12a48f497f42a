/* fuzz_frame.c - libFuzzer target: frame splitting and strict decoding. */

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Treat the input as a byte stream from a peer: split it into frames the
 * way a connection does (length header, limit check before any
 * allocation), decode each strictly as a Request and as a Reply.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint32_t limit = 4u * 1024 * 1024;
	const char *why;

	while (size >= FRAME_HDR_LEN) {
		uint32_t len = frame_get_len(data);
		Conqueue__Request *rq;
		Conqueue__Reply *rp;

		if (len > limit || len > size - FRAME_HDR_LEN)
			break;
		data += FRAME_HDR_LEN;
		size -= FRAME_HDR_LEN;
		why = NULL;
		rq = frame_decode_request(data, len, &why);
		if (rq != NULL)
			conqueue__request__free_unpacked(rq, NULL);
		else if (why == NULL)
			__builtin_trap();
		why = NULL;
		rp = frame_decode_reply(data, len, &why);
		if (rp != NULL)
			conqueue__reply__free_unpacked(rp, NULL);
		else if (why == NULL)
			__builtin_trap();
		data += len;
		size -= len;
	}
	return 0;
}
