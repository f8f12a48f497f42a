/* crc32c.c - CRC-32C checksums (SSE4.2 instruction when the CPU has it). */

#include <string.h>

#include "common.h"

static uint32_t crc32c_table[8][256];
static uint32_t (*crc32c_impl)(uint32_t, const unsigned char *, size_t);

/* Slice-by-8 software CRC-32C. */
static uint32_t
crc32c_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc32c_table[7][w & 0xff] ^
		    crc32c_table[6][(w >> 8) & 0xff] ^
		    crc32c_table[5][(w >> 16) & 0xff] ^
		    crc32c_table[4][(w >> 24) & 0xff] ^
		    crc32c_table[3][(w >> 32) & 0xff] ^
		    crc32c_table[2][(w >> 40) & 0xff] ^
		    crc32c_table[1][(w >> 48) & 0xff] ^
		    crc32c_table[0][(w >> 56) & 0xff];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* Hardware CRC-32C with the SSE4.2 crc32 instruction. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

/* Build the tables and pick the implementation once per process. */
__attribute__((constructor)) static void
crc32c_init(void)
{
	uint32_t i, j, crc;

	for (i = 0; i < 256; i++) {
		crc = i;
		for (j = 0; j < 8; j++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
		crc32c_table[0][i] = crc;
	}
	for (i = 0; i < 256; i++) {
		crc = crc32c_table[0][i];
		for (j = 1; j < 8; j++) {
			crc = crc32c_table[0][crc & 0xff] ^ (crc >> 8);
			crc32c_table[j][i] = crc;
		}
	}
	crc32c_impl = crc32c_sw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_impl = crc32c_hw;
#endif
}

/* Return the CRC-32C of buf, continuing from crc. */
uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (crc32c_impl == NULL)
		crc32c_init();
	return ~crc32c_impl(~crc, buf, len);
}
