/* wire.c - the hand codec's varint reader, past its one-byte case. */

#include "wire.h"

/* wire_get_varint's varints of 2 bytes and more. */
const uint8_t *
wire_get_varint_long(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	unsigned shift = 0;
	int i = 0;

	/* Ids below 2^21: two or three bytes. */
	if (end - p >= 3 && p[1] < 0x80) {
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		return p + 2;
	}
	if (end - p >= 3 && p[2] < 0x80) {
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 |
		     (uint64_t)p[2] << 14;
		return p + 3;
	}
	*v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Larger ids and timestamps (9 bytes): 8 bytes at once. */
	if (end - p >= 8) {
		uint64_t w, stop;
		unsigned last;

		memcpy(&w, p, 8);
		stop = ~w & 0x8080808080808080ull;
		if (stop != 0) {
			last = (unsigned)__builtin_ctzll(stop); /* 8n - 1 */
			w &= (2ull << last) - 1;
			*v = wire_compact(w & 0x7f7f7f7f7f7f7f7full);
			return p + last / 8 + 1;
		}
		*v = wire_compact(w & 0x7f7f7f7f7f7f7f7full);
		if (end - p >= 9 && p[8] < 0x80) {
			*v |= (uint64_t)p[8] << 56;
			return p + 9;
		}
		p += 8;
		shift = 56;
		i = 8;
	}
#endif
	for (; i < 10 && p < end; i++, p++) {
		*v |= (uint64_t)(*p & 0x7f) << shift;
		if ((*p & 0x80) == 0)
			return p + 1;
		shift += 7;
	}
	return NULL;
}
