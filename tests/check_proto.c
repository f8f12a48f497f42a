/* check_proto.c - tests of proto/: frame headers and strict decoding. */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

/* Pack a Request into a new buffer. */
static uint8_t *
pack_request(const Conqueue__Request *r, size_t *len)
{
	uint8_t *buf;

	*len = conqueue__request__get_packed_size(r);
	buf = malloc(*len + 64); /* room for tests to append fields */
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(conqueue__request__pack(r, buf), *len);
	return buf;
}

/* A valid push request with two messages and piggy-backed receipts. */
static uint8_t *
sample_push(size_t *len)
{
	static uint64_t confirm[] = {7, 8, 300};
	static uint8_t a[] = "hello", b[] = "";
	Conqueue__Request r = CONQUEUE__REQUEST__INIT;
	Conqueue__Push p = CONQUEUE__PUSH__INIT;
	ProtobufCBinaryData data[2] = {{5, a}, {0, b}};

	p.name.data = (uint8_t *)(uintptr_t) "jobs";
	p.name.len = 4;
	p.n_data = 2;
	p.data = data;
	p.has_band = 1;
	p.band = 2;
	p.has_timeout_ms = 1;
	p.timeout_ms = -1;
	r.id = 42;
	r.n_confirm = 3;
	r.confirm = confirm;
	r.op_case = CONQUEUE__REQUEST__OP_PUSH;
	r.push = &p;
	return pack_request(&r, len);
}

START_TEST(test_frame_len_big_endian)
{
	uint8_t h[4];

	frame_put_len(h, 0x01020304u);
	ck_assert_uint_eq(h[0], 1);
	ck_assert_uint_eq(h[1], 2);
	ck_assert_uint_eq(h[2], 3);
	ck_assert_uint_eq(h[3], 4);
	ck_assert_uint_eq(frame_get_len(h), 0x01020304u);
	frame_put_len(h, 0);
	ck_assert_uint_eq(frame_get_len(h), 0);
	frame_put_len(h, 0xffffffffu);
	ck_assert_uint_eq(h[0], 0xff);
	ck_assert_uint_eq(frame_get_len(h), 0xffffffffu);
}
END_TEST

START_TEST(test_good_request_round_trips)
{
	size_t len;
	uint8_t *buf = sample_push(&len);
	const char *why = NULL;
	Conqueue__Request *r;

	ck_assert_int_eq(
	    frame_check_wire(&conqueue__request__descriptor, buf, len, &why),
	    0);
	r = frame_decode_request(buf, len, &why);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->id, 42);
	ck_assert_uint_eq(r->n_confirm, 3);
	ck_assert_uint_eq(r->confirm[2], 300);
	ck_assert_int_eq(r->op_case, CONQUEUE__REQUEST__OP_PUSH);
	ck_assert_uint_eq(r->push->n_data, 2);
	ck_assert_uint_eq(r->push->data[0].len, 5);
	ck_assert_mem_eq(r->push->data[0].data, "hello", 5);
	ck_assert_uint_eq(r->push->data[1].len, 0);
	ck_assert_uint_eq(r->push->band, 2);
	ck_assert_int_eq(r->push->timeout_ms, -1);
	conqueue__request__free_unpacked(r, NULL);
	free(buf);
}
END_TEST

START_TEST(test_unpacked_repeated_accepted)
{
	/* id=1, confirm 5 and 6 as two unpacked varint entries, ping. */
	static const uint8_t buf[] = {
	    0x08, 0x01, 0x10, 0x05, 0x10, 0x06, 0x9a, 0x01, 0x00};
	const char *why = NULL;
	Conqueue__Request *r = frame_decode_request(buf, sizeof buf, &why);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_confirm, 2);
	ck_assert_uint_eq(r->confirm[1], 6);
	ck_assert_int_eq(r->op_case, CONQUEUE__REQUEST__OP_PING);
	conqueue__request__free_unpacked(r, NULL);
}
END_TEST

START_TEST(test_unknown_field_rejected)
{
	size_t len;
	uint8_t *buf = sample_push(&len);
	const char *why = NULL;

	/* Field 99, varint 1: tag (99 << 3) = 0x318 -> 0x98 0x06. */
	buf[len++] = 0x98;
	buf[len++] = 0x06;
	buf[len++] = 0x01;
	ck_assert_int_ne(
	    frame_check_wire(&conqueue__request__descriptor, buf, len, &why),
	    0);
	ck_assert_str_eq(why, "unknown field");
	ck_assert_ptr_null(frame_decode_request(buf, len, &why));
	free(buf);
}
END_TEST

START_TEST(test_unknown_nested_field_rejected)
{
	/* id=1, hello{version=1, field 9 varint 0}. */
	static const uint8_t buf[] = {
	    0x08, 0x01, 0x52, 0x04, 0x08, 0x01, 0x48, 0x00};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(buf, sizeof buf, &why));
	ck_assert_str_eq(why, "unknown field");
}
END_TEST

START_TEST(test_duplicate_field_rejected)
{
	/* id twice, then ping. */
	static const uint8_t buf[] = {0x08, 0x01, 0x08, 0x02, 0x9a, 0x01, 0x00};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(buf, sizeof buf, &why));
	ck_assert_str_eq(why, "duplicate field");
}
END_TEST

START_TEST(test_two_oneof_members_rejected)
{
	/* id=1, ping{}, info{}. */
	static const uint8_t buf[] = {
	    0x08, 0x01, 0x9a, 0x01, 0x00, 0xa2, 0x01, 0x00};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(buf, sizeof buf, &why));
	ck_assert_str_eq(why, "two members of one oneof");
}
END_TEST

START_TEST(test_truncation_rejected)
{
	size_t len, cut;
	uint8_t *buf = sample_push(&len);
	const char *why;
	Conqueue__Request *r;

	/* Every strict prefix that ends inside a field must be refused. */
	for (cut = 1; cut < len; cut++) {
		why = NULL;
		r = frame_decode_request(buf, cut, &why);
		if (r != NULL) {
			/* Only a prefix ending on a field boundary with every
			 * required field present may decode. */
			conqueue__request__free_unpacked(r, NULL);
			continue;
		}
		ck_assert_ptr_nonnull(why);
	}
	/* Length-delimited field claiming more than is there. */
	{
		static const uint8_t bad[] = {0x08, 0x01, 0x6a, 0x10, 0x0a};
		why = NULL;
		ck_assert_ptr_null(frame_decode_request(bad, sizeof bad, &why));
		ck_assert_str_eq(why, "truncated field");
	}
	free(buf);
}
END_TEST

START_TEST(test_bad_varint_rejected)
{
	static const uint8_t bad[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t cut[] = {0x08, 0x80};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(bad, sizeof bad, &why));
	ck_assert_str_eq(why, "malformed varint");
	why = NULL;
	ck_assert_ptr_null(frame_decode_request(cut, sizeof cut, &why));
	ck_assert_str_eq(why, "malformed varint");
}
END_TEST

START_TEST(test_bad_wire_type_rejected)
{
	/* id with wire type 3 (start group). */
	static const uint8_t bad[] = {0x0b, 0x01};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(bad, sizeof bad, &why));
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_missing_required_rejected)
{
	/* ping without the required id; and the empty body. */
	static const uint8_t noid[] = {0x9a, 0x01, 0x00};
	const char *why = NULL;

	ck_assert_ptr_null(frame_decode_request(noid, sizeof noid, &why));
	ck_assert_ptr_nonnull(why);
	why = NULL;
	ck_assert_ptr_null(frame_decode_request(noid, 0, &why));
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_reply_round_trips)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT, *d;
	Conqueue__Msg m = CONQUEUE__MSG__INIT, *mp = &m;
	const char *why = NULL;
	uint8_t *buf;
	size_t len;

	m.id = 9;
	m.data.data = (uint8_t *)(uintptr_t) "x\0y";
	m.data.len = 3;
	m.has_deliveries = 1;
	m.deliveries = 2;
	r.id = 77;
	r.status = CQ_OK;
	r.n_msgs = 1;
	r.msgs = &mp;
	r.detail = (char *)(uintptr_t) "fine";
	len = conqueue__reply__get_packed_size(&r);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	conqueue__reply__pack(&r, buf);
	d = frame_decode_reply(buf, len, &why);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->id, 77);
	ck_assert_uint_eq(d->n_msgs, 1);
	ck_assert_uint_eq(d->msgs[0]->id, 9);
	ck_assert_uint_eq(d->msgs[0]->data.len, 3);
	ck_assert_mem_eq(d->msgs[0]->data.data, "x\0y", 3);
	ck_assert_uint_eq(d->msgs[0]->deliveries, 2);
	ck_assert_str_eq(d->detail, "fine");
	conqueue__reply__free_unpacked(d, NULL);
	/* A duplicated status in a reply is refused as well. */
	{
		static const uint8_t dup[] = {
		    0x08, 0x01, 0x10, 0x00, 0x10, 0x00};
		ck_assert_ptr_null(frame_decode_reply(dup, sizeof dup, &why));
	}
	free(buf);
}
END_TEST

/* The suite. */
static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, test_frame_len_big_endian);
	tcase_add_test(tc, test_good_request_round_trips);
	tcase_add_test(tc, test_unpacked_repeated_accepted);
	tcase_add_test(tc, test_unknown_field_rejected);
	tcase_add_test(tc, test_unknown_nested_field_rejected);
	tcase_add_test(tc, test_duplicate_field_rejected);
	tcase_add_test(tc, test_two_oneof_members_rejected);
	tcase_add_test(tc, test_truncation_rejected);
	tcase_add_test(tc, test_bad_varint_rejected);
	tcase_add_test(tc, test_bad_wire_type_rejected);
	tcase_add_test(tc, test_missing_required_rejected);
	tcase_add_test(tc, test_reply_round_trips);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
