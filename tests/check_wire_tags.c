/* check_wire_tags.c - the hand codec's field tags against conqueue.proto. */

/*
 * proto/wire.h names every field the hand codec reads or writes once, in
 * WIRE_FIELDS. Each entry is looked up by name in the descriptors protoc-c
 * generated from conqueue.proto: its number, its wire type and its type
 * must be the ones the codec assumes, so a change to the .proto that the
 * codec does not follow fails here.
 */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

/* One WIRE_FIELDS entry, as the codec sees it. */
struct tag_entry {
	const char *what;
	const ProtobufCMessageDescriptor *desc;
	const char *field;
	unsigned tag;
	ProtobufCType type;
};

#define TAG_ENTRY(name, msg, fld, num, wt, ty)                                 \
	{"WIRE_" #name, &conqueue__##msg##__descriptor, #fld, WIRE_##name,     \
	    PROTOBUF_C_TYPE_##ty},
static const struct tag_entry tag_entries[] = {WIRE_FIELDS(TAG_ENTRY)};
#undef TAG_ENTRY

#define TAG_N (sizeof tag_entries / sizeof tag_entries[0])

/* The wire type protobuf-c writes field f with. */
static unsigned
tag_wire_type(const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED &&
	    (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED))
		return WIRE_LEN;
	switch (f->type) {
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return WIRE_I64;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return WIRE_I32;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return WIRE_LEN;
	default:
		return WIRE_VARINT;
	}
}

/* Whether the codec treats entry what as a repeated field. */
static int
tag_repeated(const char *what)
{
	static const char *const rep[] = {"WIRE_REQUEST_CONFIRM",
	    "WIRE_REQUEST_REJECT", "WIRE_PUSH_DATA", "WIRE_REPLY_MSGS"};
	size_t i;

	for (i = 0; i < sizeof rep / sizeof rep[0]; i++)
		if (strcmp(what, rep[i]) == 0)
			return 1;
	return 0;
}

START_TEST(test_tags_match_descriptors)
{
	const struct tag_entry *e = &tag_entries[_i];
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(e->desc, e->field);

	ck_assert_msg(f != NULL, "%s: no field %s in %s", e->what, e->field,
	    e->desc->name);
	ck_assert_msg(e->tag >> 3 == f->id, "%s: field number %u, .proto %u",
	    e->what, e->tag >> 3, f->id);
	ck_assert_msg((e->tag & 7) == tag_wire_type(f),
	    "%s: wire type %u, protobuf-c writes %u", e->what, e->tag & 7,
	    tag_wire_type(f));
	ck_assert_msg(e->type == f->type, "%s: type %d, .proto %d", e->what,
	    (int)e->type, (int)f->type);
	/* The codec compares and writes tags as single bytes. */
	ck_assert_msg(
	    e->tag < 0x80, "%s: tag 0x%x is not one byte", e->what, e->tag);
	/* And it knows which fields may repeat. */
	ck_assert_msg(
	    (f->label == PROTOBUF_C_LABEL_REPEATED) == tag_repeated(e->what),
	    "%s: repeated or not", e->what);
}
END_TEST

/*
 * The hand decoders check presence of the required fields themselves and
 * treat the others as optional: every required field of the messages
 * they decode must have a WIRE_FIELDS entry, so a new required field
 * (which protobuf-c would insist on) fails here.
 */
START_TEST(test_required_fields_all_named)
{
	const ProtobufCMessageDescriptor *descs[] = {
	    &conqueue__request__descriptor, &conqueue__push__descriptor,
	    &conqueue__pop__descriptor, &conqueue__reply__descriptor,
	    &conqueue__msg__descriptor};
	size_t d, i, k;

	for (d = 0; d < sizeof descs / sizeof descs[0]; d++) {
		for (i = 0; i < descs[d]->n_fields; i++) {
			const ProtobufCFieldDescriptor *f =
			    &descs[d]->fields[i];

			if (f->label != PROTOBUF_C_LABEL_REQUIRED)
				continue;
			for (k = 0; k < TAG_N; k++)
				if (tag_entries[k].desc == descs[d] &&
				    tag_entries[k].tag >> 3 == f->id)
					break;
			ck_assert_msg(k < TAG_N,
			    "required %s.%s has no WIRE_FIELDS entry",
			    descs[d]->name, f->name);
		}
	}
}
END_TEST

/* Every field of Push, Pop and Msg is one the hand codec handles: a new
 * field would be silently dropped by its encoders. */
START_TEST(test_hot_messages_fully_named)
{
	const ProtobufCMessageDescriptor *descs[] = {
	    &conqueue__push__descriptor, &conqueue__pop__descriptor,
	    &conqueue__msg__descriptor};
	size_t d, i, k;

	for (d = 0; d < sizeof descs / sizeof descs[0]; d++) {
		for (i = 0; i < descs[d]->n_fields; i++) {
			for (k = 0; k < TAG_N; k++)
				if (tag_entries[k].desc == descs[d] &&
				    tag_entries[k].tag >> 3 ==
				        descs[d]->fields[i].id)
					break;
			ck_assert_msg(k < TAG_N,
			    "%s.%s has no WIRE_FIELDS entry", descs[d]->name,
			    descs[d]->fields[i].name);
		}
	}
}
END_TEST

/* The suite. */
static Suite *
wire_tags_suite(void)
{
	Suite *s = suite_create("wire_tags");
	TCase *tc = tcase_create("tags");

	tcase_add_loop_test(tc, test_tags_match_descriptors, 0, (int)TAG_N);
	tcase_add_test(tc, test_required_fields_all_named);
	tcase_add_test(tc, test_hot_messages_fully_named);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wire_tags_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
