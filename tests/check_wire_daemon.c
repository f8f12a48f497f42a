/* check_wire_daemon.c - the daemon's hand-encoded replies against protobuf-c.
 */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

/* A small deterministic generator, so a failure repeats. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Next pseudo-random 64-bit value (xorshift64*). */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* A value with a random number of significant bits: every varint length. */
static uint64_t
rng_bits(void)
{
	unsigned bits = (unsigned)(rng() % 65);

	return bits == 0 ? 0 : rng() >> (64 - bits);
}

/* Encode r both ways and require identical bytes. */
static void
compare(const Conqueue__Reply *r)
{
	size_t want = conqueue__reply__get_packed_size(r);
	size_t got = frame_reply_fast_size(r);
	uint8_t *a, *b;

	ck_assert_uint_eq(got, want);
	a = malloc(want + 1);
	b = malloc(want + 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	a[want] = b[want] = 0xa5; /* guard: no write past the size */
	ck_assert_uint_eq(conqueue__reply__pack(r, a), want);
	frame_reply_fast_pack(r, b);
	ck_assert_mem_eq(a, b, want);
	ck_assert_uint_eq(b[want], 0xa5);
	free(a);
	free(b);
}

START_TEST(test_random_pop_replies)
{
	static uint8_t data[300];
	Conqueue__Msg m[70], *pm[70];
	Conqueue__Reply r;
	size_t i, k;

	for (i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)rng();
	for (k = 0; k < 20000; k++) {
		conqueue__reply__init(&r);
		r.id = rng_bits();
		r.status = (uint32_t)rng_bits();
		r.n_msgs = (size_t)(rng() % 70);
		for (i = 0; i < r.n_msgs; i++) {
			conqueue__msg__init(&m[i]);
			m[i].id = rng_bits();
			m[i].data.len = (size_t)(rng() % sizeof data);
			m[i].data.data = m[i].data.len ? data : NULL;
			m[i].has_band = (int)(rng() & 1);
			m[i].band = (uint32_t)rng_bits();
			m[i].has_deliveries = (int)(rng() & 1);
			m[i].deliveries = (uint32_t)rng_bits();
			m[i].has_enqueued_ns = (int)(rng() & 1);
			m[i].enqueued_ns = rng_bits();
			pm[i] = &m[i];
		}
		r.msgs = pm;
		r.has_first_id = (int)(rng() % 4 == 0);
		r.first_id = rng_bits();
		compare(&r);
	}
}
END_TEST

START_TEST(test_random_push_replies)
{
	Conqueue__Reply r;
	size_t k;

	for (k = 0; k < 20000; k++) {
		conqueue__reply__init(&r);
		r.id = rng_bits();
		r.status = (uint32_t)rng_bits();
		r.has_first_id = (int)(rng() & 1);
		r.first_id = rng_bits();
		compare(&r);
	}
}
END_TEST

START_TEST(test_other_replies_fall_back)
{
	Conqueue__Reply r;
	Conqueue__QueueStat st;

	conqueue__reply__init(&r);
	r.id = 1;
	ck_assert_uint_ne(frame_reply_fast_size(&r), 0);
	r.detail = (char *)(uintptr_t) "queue not found";
	ck_assert_uint_eq(frame_reply_fast_size(&r), 0);
	conqueue__reply__init(&r);
	r.has_sys_errno = 1;
	ck_assert_uint_eq(frame_reply_fast_size(&r), 0);
	conqueue__reply__init(&r);
	conqueue__queue_stat__init(&st);
	r.stat = &st;
	ck_assert_uint_eq(frame_reply_fast_size(&r), 0);
	conqueue__reply__init(&r);
	r.has_flag = 1;
	ck_assert_uint_eq(frame_reply_fast_size(&r), 0);
	conqueue__reply__init(&r);
	r.has_length = 1;
	ck_assert_uint_eq(frame_reply_fast_size(&r), 0);
}
END_TEST

/* The suite. */
static Suite *
wire_daemon_suite(void)
{
	Suite *s = suite_create("wire_daemon");
	TCase *tc = tcase_create("reply");

	tcase_add_test(tc, test_random_pop_replies);
	tcase_add_test(tc, test_random_push_replies);
	tcase_add_test(tc, test_other_replies_fall_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wire_daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
