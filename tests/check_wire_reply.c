/* check_wire_reply.c - the client's reply decoders against protobuf-c. */

/*
 * The client decodes a Reply with wire_reply_fast (in place, unchecked),
 * else with wire_reply_unpack (after frame_check_wire, into its arena),
 * else with protobuf-c. Random replies and mutants of them (bytes
 * changed, fields cut, dropped, doubled, swapped or added, varints
 * stretched to more bytes, all of it inside Msgs too) go to all three:
 * whatever a hand decoder takes, the strict path (frame_check_wire +
 * protobuf-c) must decide the same way and decode the same fields. The
 * decoded replies also go through the daemon's hand encoder, which must
 * write protobuf-c's bytes.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "wire_same.h"

/* Room for the largest reply built, and its mutants. */
#define BUFSZ 16384
/* Most Msgs of a generated reply (more than a batch of 64). */
#define MAXMSGS 70
/* Most top-level (or Msg) fields a mutation handles. */
#define MAXF (MAXMSGS + 64)

/* xorshift64: the same replies on every run. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A value of random magnitude: varints of every length, 1..10 bytes. */
static uint64_t
rng_val(void)
{
	unsigned bits = (unsigned)(rng() % 65);

	return bits == 0 ? 0 : rng() >> (64 - bits);
}

/* What the decoders did over a run: each must be seen, or the test has
 * no power. */
struct tally {
	size_t frames, strict_ok, fast, unpack_ok, unpack_refused,
	    unpack_declined, packed;
};
static struct tally tally;

/* Decode len bytes every way and require agreement. */
static void
check_reply(const uint8_t *buf, size_t len, size_t cap)
{
	static struct wire_msg msgs[MAXF];
	struct wire_reply wr;
	Conqueue__Reply *strict, *rp = NULL;
	const char *why, *diff;
	int fast, handled;

	tally.frames++;
	strict = frame_decode_reply(buf, len, &why);
	tally.strict_ok += strict != NULL;
	wr.msgs = msgs;
	wr.msgs_cap = cap;
	fast = wire_reply_fast(buf, len, &wr);
	if (fast) {
		tally.fast++;
		ck_assert_msg(strict != NULL,
		    "wire_reply_fast accepted a reply the strict path refuses");
		diff = wire_same_fast(&wr, strict);
		ck_assert_msg(
		    diff == NULL, "wire_reply_fast: %s differs", diff);
	}
	if (frame_check_wire(&conqueue__reply__descriptor, buf, len, &why) ==
	    0) {
		wire_same_arena_reset();
		handled = wire_reply_unpack(&wire_same_arena, buf, len, &rp);
		if (!handled) {
			tally.unpack_declined++;
			ck_assert_msg(wire_same_arena_used() == 0,
			    "wire_reply_unpack declined after allocating");
		} else if (rp == NULL) {
			tally.unpack_refused++;
			ck_assert_msg(strict == NULL,
			    "wire_reply_unpack refused a reply "
			    "protobuf-c takes");
		} else {
			tally.unpack_ok++;
			ck_assert_msg(strict != NULL,
			    "wire_reply_unpack took a reply "
			    "protobuf-c refuses");
			ck_assert_msg(
			    (const void *)rp == wire_same_arena_base(),
			    "the Reply is not the arena's first allocation");
			diff = wire_same_reply(rp, strict);
			ck_assert_msg(diff == NULL,
			    "wire_reply_unpack: %s differs", diff);
		}
	} else
		ck_assert_msg(
		    strict == NULL, "strict check and unpack disagree");
	if (strict != NULL) {
		diff = wire_same_pack(strict);
		ck_assert_msg(diff == NULL, "wire_reply_pack: %s", diff);
		tally.packed += wire_reply_pack_size(strict) != 0;
		conqueue__reply__free_unpacked(strict, NULL);
	}
}

/*
 * A random Reply as protobuf-c packs it: mostly push/pop/error replies,
 * now and then (*other) with a field of another reply. Returns its size.
 */
static size_t
gen_reply(uint8_t *buf, size_t *nmsgs, int *other)
{
	static uint8_t data[MAXMSGS][40];
	static char detail[48];
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m[MAXMSGS], *mp[MAXMSGS];
	Conqueue__QueueStat st = CONQUEUE__QUEUE_STAT__INIT;
	size_t i, j, n;

	r.id = rng_val();
	r.status = rng() % 4 == 0 ? (uint32_t)rng_val() : 0;
	if (rng() % 6 == 0) {
		n = (size_t)(rng() % (sizeof detail - 1));
		for (j = 0; j < n; j++)
			detail[j] = (char)(1 + rng() % 255);
		detail[n] = '\0';
		r.detail = detail;
	}
	if (rng() % 6 == 0) {
		r.has_sys_errno = 1;
		r.sys_errno = (int32_t)(uint32_t)rng_val();
	}
	if (rng() % 4 == 0) {
		r.has_first_id = 1;
		r.first_id = rng_val();
	}
	n = rng() % 3 == 0 ? 0
	                   : (size_t)(rng() % (rng() % 8 ? 5 : MAXMSGS + 1));
	for (i = 0; i < n; i++) {
		conqueue__msg__init(&m[i]);
		mp[i] = &m[i];
		m[i].id = rng_val();
		m[i].data.len = (size_t)(rng() % sizeof data[i]);
		for (j = 0; j < m[i].data.len; j++)
			data[i][j] = (uint8_t)rng();
		m[i].data.data = m[i].data.len > 0 ? data[i] : NULL;
		if ((m[i].has_band = rng() % 2))
			m[i].band = (uint32_t)rng_val();
		if ((m[i].has_deliveries = rng() % 2))
			m[i].deliveries = (uint32_t)rng_val();
		if ((m[i].has_enqueued_ns = rng() % 2))
			m[i].enqueued_ns = rng_val();
	}
	r.n_msgs = n;
	r.msgs = n > 0 ? mp : NULL;
	switch (rng() % 16) {
	case 0:
		r.has_flag = 1;
		r.flag = 1;
		break;
	case 1:
		r.has_length = 1;
		r.length = (int64_t)rng_val();
		break;
	case 2:
		st.name.len = 4;
		st.name.data = (uint8_t *)(uintptr_t) "jobs";
		r.stat = &st;
		break;
	}
	*nmsgs = n;
	*other = r.has_flag || r.has_length || r.stat != NULL;
	ck_assert_uint_le(conqueue__reply__get_packed_size(&r), BUFSZ / 2);
	return conqueue__reply__pack(&r, buf);
}

/*
 * Split a message's bytes into fields: off[k] where field k starts (with
 * its tag), vat[k] where what follows the tag starts, off[n] the end.
 * Returns n, or -1 if the bytes do not split.
 */
static int
split(const uint8_t *b, size_t len, size_t *off, size_t *vat)
{
	const uint8_t *p = b, *end = b + len, *q;
	uint64_t tag, v;
	int n = 0;

	while (p < end) {
		if (n == MAXF || (q = wire_get_varint(p, end, &tag)) == NULL)
			return -1;
		off[n] = (size_t)(p - b);
		vat[n++] = (size_t)(q - b);
		switch (tag & 7) {
		case WIRE_VARINT:
			p = wire_get_varint(q, end, &v);
			break;
		case WIRE_LEN:
			p = wire_get_varint(q, end, &v);
			if (p != NULL && v > (uint64_t)(end - p))
				p = NULL;
			else if (p != NULL)
				p += v;
			break;
		case WIRE_I64:
			p = end - q >= 8 ? q + 8 : NULL;
			break;
		case WIRE_I32:
			p = end - q >= 4 ? q + 4 : NULL;
			break;
		default:
			p = NULL;
		}
		if (p == NULL)
			return -1;
	}
	off[n] = len;
	return n;
}

/* A varint of v stretched by pad extra bytes (as protobuf-c may not read
 * it); returns its length. */
static size_t
put_padded(uint8_t *p, uint64_t v, unsigned pad)
{
	uint8_t *e = wire_put_varint(p, v);
	size_t n = (size_t)(e - p);

	if (pad == 0)
		return n;
	p[n - 1] |= 0x80;
	while (--pad > 0)
		p[n++] = 0x80;
	p[n++] = 0x00;
	return n;
}

/* Write a random field, of any number and wire type; returns its size. */
static size_t
random_field(uint8_t *p)
{
	static const unsigned nums[] = {
	    1, 2, 3, 4, 5, 6, 8, 9, 12, 13, 15, 16, 300};
	static const unsigned wts[] = {0, 0, 2, 2, 1, 5, 3};
	unsigned num = nums[rng() % (sizeof nums / sizeof nums[0])];
	unsigned wt = wts[rng() % (sizeof wts / sizeof wts[0])];
	size_t n = put_padded(p, (uint64_t)num << 3 | wt, rng() % 8 == 0);
	size_t k, len;

	switch (wt) {
	case 0:
		n += put_padded(p + n, rng_val(), rng() % 8 == 0);
		break;
	case 2:
		len = (size_t)(rng() % 12);
		n += put_padded(p + n, len, rng() % 8 == 0);
		for (k = 0; k < len; k++)
			p[n++] = (uint8_t)(rng() % 4 ? rng() : 0x08);
		break;
	case 1:
	case 5:
		for (k = 0; k < (wt == 1 ? 8u : 4u); k++)
			p[n++] = (uint8_t)rng();
		break;
	}
	return n;
}

/* Replace out[at, at + cut) by the n bytes of ins; returns the new
 * length. */
static size_t
splice(uint8_t *out, size_t len, size_t at, size_t cut, const uint8_t *ins,
    size_t n)
{
	memmove(out + at + n, out + at + cut, len - at - cut);
	if (n > 0)
		memcpy(out + at, ins, n);
	return len - cut + n;
}

/*
 * Mutate the message in b (len bytes, room for BUFSZ) once; depth > 0 is
 * a Msg inside a Reply. Returns the new length.
 */
static size_t
mutate(uint8_t *b, size_t len, int depth)
{
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x08, 0x0a, 0x10, 0x12,
	    0x18, 0x1a, 0x20, 0x22, 0x28, 0x2a, 0x2d, 0x60, 0x62, 0x7f, 0x80,
	    0xff};
	size_t off[MAXF + 1], vat[MAXF], k, at, n;
	uint8_t tmp[BUFSZ];
	uint64_t tag, v;
	int nf = split(b, len, off, vat);

	switch (nf <= 0 ? rng() % 2 : rng() % 9) {
	case 0: /* a byte changed */
		if (len > 0)
			b[rng() % len] = vals[rng() % sizeof vals];
		return len;
	case 1: /* cut short */
		return len > 0 ? (size_t)(rng() % len) : 0;
	case 2: /* a field dropped */
		k = rng() % (size_t)nf;
		return splice(b, len, off[k], off[k + 1] - off[k], NULL, 0);
	case 3: /* a field doubled, anywhere */
		k = rng() % (size_t)nf;
		n = off[k + 1] - off[k];
		memcpy(tmp, b + off[k], n);
		return splice(b, len, off[rng() % ((size_t)nf + 1)], 0, tmp, n);
	case 4: /* two fields swapped */
		k = rng() % (size_t)nf;
		if (k + 1 == (size_t)nf)
			return len;
		n = off[k + 2] - off[k];
		memcpy(tmp, b + off[k + 1], off[k + 2] - off[k + 1]);
		memcpy(tmp + (off[k + 2] - off[k + 1]), b + off[k],
		    off[k + 1] - off[k]);
		memcpy(b + off[k], tmp, n);
		return len;
	case 5: /* a random field added */
		n = random_field(tmp);
		return splice(b, len, off[rng() % ((size_t)nf + 1)], 0, tmp, n);
	case 6: /* a tag stretched */
		k = rng() % (size_t)nf;
		wire_get_varint(b + off[k], b + len, &tag);
		n = put_padded(tmp, tag, 1 + (unsigned)(rng() % 6));
		return splice(b, len, off[k], vat[k] - off[k], tmp, n);
	case 7: /* a value or a length stretched */
		k = rng() % (size_t)nf;
		wire_get_varint(b + off[k], b + len, &tag);
		if ((tag & 7) != WIRE_VARINT && (tag & 7) != WIRE_LEN)
			return len;
		at = vat[k];
		n = (size_t)(wire_get_varint(b + at, b + len, &v) - (b + at));
		return splice(b, len, at, n, tmp,
		    put_padded(tmp, v, 1 + (unsigned)(rng() % 6)));
	default: /* a mutation inside a Msg (its length follows) */
		for (k = 0; k < (size_t)nf; k++) {
			size_t at2 = off[(k + (size_t)rng()) % (size_t)nf];
			size_t body, blen, hl;

			if (depth > 0 || b[at2] != WIRE_REPLY_MSGS)
				continue;
			body =
			    (size_t)(wire_get_varint(b + at2 + 1, b + len, &v) -
			             b);
			blen = (size_t)v;
			memcpy(tmp, b + body, blen);
			blen = mutate(tmp, blen, depth + 1);
			hl = (size_t)(wire_put_varint(tmp + blen, blen) -
			              (tmp + blen));
			memmove(tmp + hl, tmp, blen);
			wire_put_varint(tmp, blen);
			return splice(b, len, at2 + 1,
			    body + (size_t)v - at2 - 1, tmp, hl + blen);
		}
		return len;
	}
}

START_TEST(test_canonical_replies_taken)
{
	uint8_t buf[BUFSZ];
	size_t i, len, n, plain = 0;
	int other;

	for (i = 0; i < 3000; i++) {
		len = gen_reply(buf, &n, &other);
		tally = (struct tally){0};
		check_reply(buf, len, n);
		ck_assert_msg(tally.strict_ok == 1, "reply %zu refused", i);
		if (other) {
			ck_assert_msg(tally.fast == 0 && tally.unpack_declined,
			    "reply %zu with another field taken", i);
			continue;
		}
		/* Every push, pop and error reply is the hand decoders'. */
		ck_assert_msg(tally.fast == 1 && tally.unpack_ok == 1,
		    "reply %zu (%zu msgs) not taken: fast %zu, unpack %zu", i,
		    n, tally.fast, tally.unpack_ok);
		plain++;
	}
	ck_assert_uint_gt(plain, 2000);
}
END_TEST

START_TEST(test_mutants_decode_as_strict)
{
	static uint8_t orig[BUFSZ], buf[BUFSZ];
	size_t i, j, len, olen, n;
	unsigned m;
	int other;

	tally = (struct tally){0};
	for (i = 0; i < 12000; i++) {
		olen = gen_reply(orig, &n, &other);
		for (j = 0; j < 6; j++) {
			memcpy(buf, orig, olen);
			len = olen;
			for (m = 1 + (unsigned)(rng() % 3); m > 0; m--)
				len = mutate(buf, len, 0);
			check_reply(buf, len,
			    rng() % 4 ? MAXF : (size_t)(rng() % (n + 2)));
		}
	}
	printf("reply frames: %zu; strict took %zu; wire_reply_fast took %zu; "
	       "wire_reply_unpack took %zu, refused %zu, declined %zu; "
	       "hand-packed %zu\n",
	    tally.frames, tally.strict_ok, tally.fast, tally.unpack_ok,
	    tally.unpack_refused, tally.unpack_declined, tally.packed);
	/* Each way through each decoder was taken, on some thousands. */
	ck_assert_uint_gt(tally.strict_ok, 1000);
	ck_assert_uint_lt(tally.strict_ok, tally.frames - 1000);
	ck_assert_uint_gt(tally.fast, 1000);
	ck_assert_uint_gt(tally.unpack_ok, 1000);
	ck_assert_uint_gt(tally.unpack_refused, 100);
	ck_assert_uint_gt(tally.unpack_declined, 1000);
	ck_assert_uint_gt(tally.packed, 1000);
}
END_TEST

/* The suite. */
static Suite *
wire_reply_suite(void)
{
	Suite *s = suite_create("wire_reply");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_canonical_replies_taken);
	tcase_add_test(tc, test_mutants_decode_as_strict);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wire_reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
