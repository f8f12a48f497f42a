/* fuzz_frame.c - libFuzzer target: frame splitting and strict decoding. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if b is empty with NULL data, or lies within [buf, buf + len). */
static int
fuzz_frame_inside(const ProtobufCBinaryData *b, const uint8_t *buf, size_t len)
{
	if (b->len == 0)
		return b->data == NULL;
	return b->data >= buf && b->len <= len &&
	       b->data - buf <= (ptrdiff_t)(len - b->len);
}

/*
 * wire_request_fast took buf: the strict decoding rq must exist and
 * re-encode to the same bytes, and the fast one must point into buf.
 */
static void
fuzz_frame_same(const Conqueue__Request *fast, const Conqueue__Request *rq,
    const uint8_t *buf, size_t len)
{
	size_t n, i;
	uint8_t *a, *b;

	if (rq == NULL || fast->op_case != rq->op_case)
		abort();
	n = conqueue__request__get_packed_size(fast);
	if (n != conqueue__request__get_packed_size(rq))
		abort();
	if ((a = malloc(n + 1)) == NULL || (b = malloc(n + 1)) == NULL)
		abort();
	if (conqueue__request__pack(fast, a) != n ||
	    conqueue__request__pack(rq, b) != n || memcmp(a, b, n) != 0)
		abort();
	free(a);
	free(b);
	if (fast->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		if (!fuzz_frame_inside(&fast->push->name, buf, len))
			abort();
		for (i = 0; i < fast->push->n_data; i++)
			if (!fuzz_frame_inside(&fast->push->data[i], buf, len))
				abort();
	} else if (fast->op_case == CONQUEUE__REQUEST__OP_POP) {
		if (!fuzz_frame_inside(&fast->pop->name, buf, len))
			abort();
	}
}

/*
 * Treat the input as a byte stream from a peer: split it into frames the
 * way a connection does (length header, limit check before any
 * allocation), decode each strictly as a Request and as a Reply, and
 * whenever the hand decoder of hot requests takes one, require the strict
 * path to accept it and decode the same Request.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint32_t limit = 4u * 1024 * 1024;
	static struct wire_fast_req fr;
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
		if (wire_request_fast(data, len, &fr))
			fuzz_frame_same(&fr.req, rq, data, len);
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
