/* check_crc.c - crc32c against a bitwise reference, every length and alignment.
 */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* The slowest correct CRC-32C: one bit at a time. */
static uint32_t
ref_crc32c(uint32_t crc, const unsigned char *p, size_t len)
{
	unsigned k;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* A buffer of pseudo-random bytes, the same on every run. */
static unsigned char *
random_buf(size_t len)
{
	unsigned char *b = malloc(len);
	uint32_t x = 12345;
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	return b;
}

START_TEST(test_known_vector)
{
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(test_lengths_and_alignments)
{
	size_t max = 5000, len, off;
	unsigned char *b = random_buf(max + 8);

	/* Every length up to max covers 0-2 three-stream rounds and tails. */
	for (len = 0; len <= max; len++)
		for (off = 0; off < 8; off += (len > 1000 ? 3 : 1))
			ck_assert_uint_eq(crc32c(0, b + off, len),
			    ref_crc32c(0, b + off, len));
	free(b);
}
END_TEST

START_TEST(test_long_and_continued)
{
	size_t max = 1 << 20, cut;
	unsigned char *b = random_buf(max);
	uint32_t whole = ref_crc32c(0, b, max);

	ck_assert_uint_eq(crc32c(0, b, max), whole);
	ck_assert_uint_eq(
	    crc32c(0xdeadbeefu, b, max), ref_crc32c(0xdeadbeefu, b, max));
	for (cut = 0; cut <= max; cut += 77777)
		ck_assert_uint_eq(
		    crc32c(crc32c(0, b, cut), b + cut, max - cut), whole);
	free(b);
}
END_TEST

/* The suite. */
static Suite *
crc_suite(void)
{
	Suite *s = suite_create("crc");
	TCase *tc = tcase_create("crc32c");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_known_vector);
	tcase_add_test(tc, test_lengths_and_alignments);
	tcase_add_test(tc, test_long_and_continued);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(crc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
