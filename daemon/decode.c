/* decode.c - requests decoded from frame bodies, into a reusable arena. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/common.h"
#include "daemon/decode.h"
#include "proto/frame.h"
#include "proto/wire.h"

/* The request id of an undecodable body, if its first field is the id. */
uint64_t
decode_guess_id(const uint8_t *p, size_t len)
{
	uint64_t v = 0;
	unsigned shift = 0;
	size_t i;

	if (len < 2 || p[0] != 0x08)
		return 0;
	for (i = 1; i < len && i < 11; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << shift;
		if ((p[i] & 0x80) == 0)
			return v;
		shift += 7;
	}
	return 0;
}

/*
 * Requests are decoded into one arena, reset after each frame: dispatch
 * only borrows them (a parked op copies what it needs), so a frame costs
 * no malloc/free per field. A field that does not fit (a large message)
 * gets its own block, freed at the reset.
 */
struct decode_big {
	struct decode_big *next;
	max_align_t data[];
};

#define DECODE_ARENA_SIZE (64 * 1024)
static max_align_t decode_arena[DECODE_ARENA_SIZE / sizeof(max_align_t)];
static size_t decode_arena_used;
static struct decode_big *decode_arena_big;

/* protobuf-c allocation from the arena. */
static void *
decode_arena_alloc(void *data, size_t size)
{
	size_t n = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
	struct decode_big *b;

	(void)data;
	if (n <= nitems(decode_arena) - decode_arena_used) {
		decode_arena_used += n;
		return &decode_arena[decode_arena_used - n];
	}
	if (size > SIZE_MAX - sizeof *b ||
	    (b = malloc(sizeof *b + size)) == NULL)
		return NULL;
	b->next = decode_arena_big;
	decode_arena_big = b;
	return b->data;
}

/* protobuf-c frees: everything goes at the reset instead. */
static void
decode_arena_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

/* Forget the request decoded last. */
void
decode_reset(void)
{
	struct decode_big *b;

	while ((b = decode_arena_big) != NULL) {
		decode_arena_big = b->next;
		free(b);
	}
	decode_arena_used = 0;
}

static ProtobufCAllocator decode_allocator = {
    decode_arena_alloc, decode_arena_free, NULL};

/*
 * Decode a Request strictly (as frame_decode_request). The hot ones
 * (push, pop, receipts, as the library writes them) are decoded in place:
 * their names and data point into body, which stays put until dispatch
 * returns. Anything else goes through the strict pre-pass and protobuf-c
 * into the arena, which also gives the errors.
 */
Conqueue__Request *
decode_request(const uint8_t *body, size_t len, const char **why)
{
	static struct wire_fast_req fast;
	Conqueue__Request *r;

	if (wire_request_fast(body, len, &fast))
		return &fast.req;
	if (frame_check_wire(&conqueue__request__descriptor, body, len, why))
		return NULL;
	r = conqueue__request__unpack(&decode_allocator, len, body);
	if (r == NULL)
		*why = "undecodable message (missing required field?)";
	return r;
}
