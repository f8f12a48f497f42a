/* crc32c.c - CRC-32C checksums (SSE4.2 instruction when the CPU has it). */

#include <string.h>

#include "common.h"

/*
 * The crc32 instruction has a latency of 3 cycles but a throughput of 1, so
 * long buffers are cut into three streams of CRC32C_STREAM bytes computed
 * side by side, then joined: the register is linear, so crc(c, A B) =
 * shift(crc(c, A)) ^ crc(0, B), where shift is CRC32C_STREAM zero bytes,
 * applied with crc32c_shift_table.
 */
#define CRC32C_STREAM 256

static uint32_t crc32c_table[8][256];
static uint32_t crc32c_shift_table[4][256];
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

/* The register after CRC32C_STREAM zero bytes, starting from crc. */
static inline uint32_t
crc32c_shift(uint32_t crc)
{
	return crc32c_shift_table[0][crc & 0xff] ^
	       crc32c_shift_table[1][(crc >> 8) & 0xff] ^
	       crc32c_shift_table[2][(crc >> 16) & 0xff] ^
	       crc32c_shift_table[3][crc >> 24];
}

#if defined(__x86_64__)
/* Hardware CRC-32C with the SSE4.2 crc32 instruction. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 3 * CRC32C_STREAM) {
		const unsigned char *end = p + CRC32C_STREAM;
		uint64_t c1 = 0, c2 = 0;

		for (; p < end; p += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p, 8);
			memcpy(&w1, p + CRC32C_STREAM, 8);
			memcpy(&w2, p + 2 * CRC32C_STREAM, 8);
			c = __builtin_ia32_crc32di(c, w0);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
		}
		c = crc32c_shift((uint32_t)c) ^ (uint32_t)c1;
		c = crc32c_shift((uint32_t)c) ^ (uint32_t)c2;
		p += 2 * CRC32C_STREAM;
		len -= 3 * CRC32C_STREAM;
	}
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

/* Tabulate crc32c_shift: zero bytes act linearly on the register's bits. */
static void
crc32c_init_shift(void)
{
	static const unsigned char zeros[CRC32C_STREAM];
	uint32_t bit[32], i, j, k, v;

	for (i = 0; i < 32; i++)
		bit[i] = crc32c_sw(1u << i, zeros, sizeof zeros);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 256; j++) {
			v = 0;
			for (k = 0; k < 8; k++)
				if (j & (1u << k))
					v ^= bit[8 * i + k];
			crc32c_shift_table[i][j] = v;
		}
}

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
	crc32c_init_shift();
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
