/* check_client_wire.c - the fast reply decoder against the strict one. */

/*
 * wire_reply_fast decodes push and pop replies without frame_check_wire
 * and protobuf-c. It must never accept bytes the strict path refuses, and
 * must decode what it accepts exactly as protobuf-c does. Every valid
 * sample and thousands of corruptions of it are fed to both.
 */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "wire_same.h"
#include "proto/frame.h"

/* Room for the largest reply the tests build. */
#define BUFSZ 8192
/* Most messages of a generated reply (more than a batch of 64). */
#define MAXMSGS 70

/* Encode r with protobuf-c into buf (room for BUFSZ bytes). */
static size_t
pack(const Conqueue__Reply *r, uint8_t *buf)
{
	size_t n = conqueue__reply__get_packed_size(r);

	ck_assert_uint_le(n, BUFSZ);
	return conqueue__reply__pack(r, buf);
}

/* A push reply: id, status, first_id. */
static size_t
sample_push(uint8_t *buf)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	r.id = 300;
	r.status = CQ_OK;
	r.has_first_id = 1;
	r.first_id = 123456789;
	return pack(&r, buf);
}

/* A pop reply: one message with every optional field. */
static size_t
sample_pop(uint8_t *buf)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m = CONQUEUE__MSG__INIT, *mp = &m;

	r.id = 0x123456789abcull;
	r.status = CQ_OK;
	r.n_msgs = 1;
	r.msgs = &mp;
	m.id = 77;
	m.data.data = (uint8_t *)(uintptr_t) "hello, world";
	m.data.len = 12;
	m.has_band = 1;
	m.band = 3;
	m.has_deliveries = 1;
	m.deliveries = 2;
	m.has_enqueued_ns = 1;
	m.enqueued_ns = 1800000000000000000ull;
	return pack(&r, buf);
}

/* A failure: detail and sys_errno. */
static size_t
sample_error(uint8_t *buf)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;

	r.id = 20000; /* three bytes */
	r.status = CQ_SYSTEM;
	r.detail = (char *)(uintptr_t) "no space";
	r.has_sys_errno = 1;
	r.sys_errno = 28;
	return pack(&r, buf);
}

/* A pop reply with an empty message and no optional fields. */
static size_t
sample_empty_msg(uint8_t *buf)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m = CONQUEUE__MSG__INIT, *mp = &m;

	r.id = 1;
	r.status = CQ_OK;
	r.n_msgs = 1;
	r.msgs = &mp;
	m.id = 1;
	return pack(&r, buf);
}

/* Every varint at its longest (10 bytes), or nearly. */
static size_t
sample_long_varints(uint8_t *buf)
{
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m = CONQUEUE__MSG__INIT, *mp = &m;

	r.id = UINT64_MAX;
	r.status = UINT32_MAX;
	r.has_sys_errno = 1;
	r.sys_errno = -1;
	r.n_msgs = 1;
	r.msgs = &mp;
	m.id = (uint64_t)1 << 63;
	m.data.data = (uint8_t *)(uintptr_t) "x";
	m.data.len = 1;
	m.has_band = 1;
	m.band = 0x80000000u;
	m.has_enqueued_ns = 1;
	m.enqueued_ns = ((uint64_t)1 << 56) - 1;
	r.has_first_id = 1;
	r.first_id = ((uint64_t)1 << 49) + 5;
	return pack(&r, buf);
}

/*
 * Feed buf to both decoders, the fast one with room for cap messages: if
 * the fast one accepts, the strict one must too, with the same fields.
 * Returns whether the fast one accepted.
 */
static int
compare_cap(const uint8_t *buf, size_t len, size_t cap)
{
	struct wire_msg msgs[MAXMSGS + 2];
	struct wire_reply wr;
	Conqueue__Reply *r;
	const char *why, *diff;
	int fast;

	ck_assert_uint_le(cap, MAXMSGS + 2);
	wr.msgs = msgs;
	wr.msgs_cap = cap;
	fast = wire_reply_fast(buf, len, &wr);

	r = frame_decode_reply(buf, len, &why);
	if (!fast) {
		if (r != NULL)
			conqueue__reply__free_unpacked(r, NULL);
		return 0;
	}
	ck_assert_msg(r != NULL, "fast path accepted what strict refuses");
	diff = wire_same_fast(&wr, r);
	ck_assert_msg(diff == NULL, "%s differs", diff);
	conqueue__reply__free_unpacked(r, NULL);
	return 1;
}

/* compare_cap with room for every message a test builds. */
static int
compare(const uint8_t *buf, size_t len)
{
	return compare_cap(buf, len, MAXMSGS + 2);
}

START_TEST(test_fast_decodes_push_pop_and_error_replies)
{
	size_t (*samples[])(uint8_t *) = {sample_push, sample_pop, sample_error,
	    sample_empty_msg, sample_long_varints};
	uint8_t buf[BUFSZ];
	size_t i, n;

	for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		n = samples[i](buf);
		ck_assert_msg(compare(buf, n), "sample %zu declined", i);
	}
}
END_TEST

START_TEST(test_fast_never_accepts_corrupted_replies)
{
	size_t (*samples[])(uint8_t *) = {sample_push, sample_pop, sample_error,
	    sample_empty_msg, sample_long_varints};
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x0d,
	    0x10, 0x12, 0x18, 0x1a, 0x2a, 0x2d, 0x60, 0x7f, 0x80, 0x81, 0xff};
	uint8_t orig[BUFSZ], buf[2 * BUFSZ + 16];
	size_t i, n, pos, v, accepted = 0, declined = 0;

	for (i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		n = samples[i](orig);
		/* Every truncation. */
		for (pos = 0; pos < n; pos++) {
			memcpy(buf, orig, pos);
			if (compare(buf, pos))
				accepted++;
			else
				declined++;
		}
		/* Every byte replaced by each interesting value. */
		for (pos = 0; pos < n; pos++) {
			for (v = 0; v < sizeof vals; v++) {
				memcpy(buf, orig, n);
				buf[pos] = vals[v];
				if (compare(buf, n))
					accepted++;
				else
					declined++;
			}
		}
		/* The whole reply twice (every field duplicated). */
		memcpy(buf, orig, n);
		memcpy(buf + n, orig, n);
		ck_assert(!compare(buf, 2 * n));
		/* A trailing unknown field. */
		memcpy(buf, orig, n);
		buf[n] = 0x78; /* field 15, varint */
		buf[n + 1] = 0x01;
		ck_assert(!compare(buf, n + 2));
	}
	/* Both outcomes happened (the check above ran on both sides). */
	ck_assert_uint_gt(accepted, 0);
	ck_assert_uint_gt(declined, 0);
}
END_TEST

START_TEST(test_fast_declines_malformed_and_unusual_replies)
{
	struct wire_msg one;
	struct wire_reply wr;
	/* Each: (length, bytes). */
	static const struct {
		size_t len;
		const char *b;
		int strict_ok; /* whether the strict path accepts it */
	} cases[] = {
	    /* id twice */
	    {6, "\x08\x01\x10\x00\x08\x02", 0},
	    /* no status (required) */
	    {2, "\x08\x01", 0},
	    /* an 11-byte varint */
	    {15, "\x08\x81\x81\x81\x81\x81\x81\x81\x81\x81\x81\x01\x10\x00\x00",
	        0},
	    /* id as length-delimited */
	    {5, "\x0a\x01\x01\x10\x00", 0},
	    /* detail longer than the frame */
	    {6, "\x08\x01\x10\x00\x1a\x05", 0},
	    /* a Msg without data (required) */
	    {8, "\x08\x01\x10\x00\x2a\x02\x08\x01", 0},
	    /* a Msg field with the wrong wire type */
	    {12, "\x08\x01\x10\x00\x2a\x06\x08\x01\x12\x00\x1a\x00", 0},
	    /* two Msgs, room for one: well-formed, strict path */
	    {16,
	        "\x08\x01\x10\x00\x2a\x04\x08\x01\x12\x00\x2a\x04\x08\x02\x12"
	        "\x00",
	        1},
	    /* a two-byte tag for field 1: well-formed, strict path */
	    {5, "\x88\x00\x01\x10\x00", 1},
	    /* status before id: well-formed, strict path */
	    {4, "\x10\x00\x08\x01", 1},
	    /* detail after sys_errno: well-formed, strict path */
	    {9, "\x08\x01\x10\x01\x20\x01\x1a\x01\x41", 1},
	    /* a flag (field 8): well-formed, strict path */
	    {6, "\x08\x01\x10\x00\x40\x01", 1},
	};
	Conqueue__Reply *r;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		wr.msgs = &one;
		wr.msgs_cap = 1;
		ck_assert_msg(!wire_reply_fast((const uint8_t *)cases[i].b,
		                  cases[i].len, &wr),
		    "case %zu accepted", i);
		r = frame_decode_reply(
		    (const uint8_t *)cases[i].b, cases[i].len, &why);
		ck_assert_msg((r != NULL) == cases[i].strict_ok,
		    "case %zu: strict path %s", i, r ? "accepts" : why);
		if (r != NULL)
			conqueue__reply__free_unpacked(r, NULL);
	}
}
END_TEST

/* xorshift64: the same replies on every run. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value of random magnitude: varints of every length, 1..10 bytes. */
static uint64_t
rnd_val(uint64_t *s)
{
	unsigned bits = (unsigned)(rnd(s) % 65);

	return bits == 0 ? 0 : rnd(s) >> (64 - bits);
}

/* A pop reply of n messages with random fields, as protobuf-c packs it. */
static size_t
sample_many(uint64_t *s, size_t n, uint8_t *buf)
{
	static const char pool[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	Conqueue__Reply r = CONQUEUE__REPLY__INIT;
	Conqueue__Msg m[MAXMSGS], *mp[MAXMSGS];
	size_t i;

	ck_assert_uint_le(n, MAXMSGS);
	r.id = rnd_val(s);
	r.status = rnd(s) % 4 == 0 ? (uint32_t)rnd_val(s) : CQ_OK;
	if (rnd(s) % 8 == 0)
		r.detail = (char *)(uintptr_t) "detail";
	if (rnd(s) % 8 == 0) {
		r.has_sys_errno = 1;
		r.sys_errno = (int32_t)(uint32_t)rnd_val(s);
	}
	if (rnd(s) % 4 == 0) {
		r.has_first_id = 1;
		r.first_id = rnd_val(s);
	}
	for (i = 0; i < n; i++) {
		conqueue__msg__init(&m[i]);
		mp[i] = &m[i];
		m[i].id = rnd_val(s);
		m[i].data.len = (size_t)(rnd(s) % 24);
		m[i].data.data = (uint8_t *)(uintptr_t)pool + rnd(s) % 8;
		if ((m[i].has_band = rnd(s) % 2))
			m[i].band = (uint32_t)rnd_val(s);
		if ((m[i].has_deliveries = rnd(s) % 2))
			m[i].deliveries = (uint32_t)rnd_val(s);
		if ((m[i].has_enqueued_ns = rnd(s) % 2))
			m[i].enqueued_ns = rnd_val(s);
	}
	r.n_msgs = n;
	r.msgs = n > 0 ? mp : NULL;
	return pack(&r, buf);
}

/*
 * Offsets of the top-level fields of a reply as pack() writes it (one-byte
 * tags); off[k] is where field k starts, off[*nf] the end.
 */
static void
fields(const uint8_t *buf, size_t len, size_t *off, size_t *nf)
{
	size_t p = 0;
	uint64_t v;
	unsigned shift;

	*nf = 0;
	while (p < len) {
		uint8_t tag = buf[p++];

		off[(*nf)++] = p - 1;
		v = 0;
		shift = 0;
		do {
			v |= (uint64_t)(buf[p] & 0x7f) << shift;
			shift += 7;
		} while (buf[p++] & 0x80);
		if ((tag & 7) == 2)
			p += (size_t)v;
	}
	ck_assert_uint_eq(p, len);
	off[*nf] = len;
}

/* buf with the bytes ins inserted at pos, into out; the new length. */
static size_t
insert(const uint8_t *buf, size_t len, size_t pos, const void *ins, size_t n,
    uint8_t *out)
{
	memcpy(out, buf, pos);
	memcpy(out + pos, ins, n);
	memcpy(out + pos + n, buf + pos, len - pos);
	return len + n;
}

START_TEST(test_fast_many_messages_match_strict)
{
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x08, 0x0a, 0x10, 0x12,
	    0x1a, 0x2a, 0x2d, 0x60, 0x7f, 0x80, 0xff};
	/* A Msg without data (required), an unknown field, a first_id
	 * (out of order before a Msg, or a duplicate), a second status. */
	static const struct {
		size_t len;
		const char *b;
	} bad[] = {
	    {4, "\x2a\x02\x08\x05"},
	    {2, "\x78\x01"},
	    {2, "\x60\x01"},
	    {2, "\x10\x00"},
	};
	static uint8_t orig[BUFSZ], buf[BUFSZ + 16];
	size_t off[MAXMSGS + 8];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t n, len, nf, k, pos, t, accepted = 0, declined = 0, mlen;

	for (n = 0; n <= MAXMSGS; n++) {
		len = sample_many(&seed, n, orig);
		/* The canonical reply: handled fast, given room. */
		ck_assert_msg(compare(orig, len), "%zu messages declined", n);
		ck_assert_msg(compare_cap(orig, len, n > 0 ? n : 1),
		    "%zu messages declined with room for exactly them", n);
		if (n > 1)
			ck_assert(!compare_cap(orig, len, n - 1));
		/* Truncations: all of the short ones, a sample of the rest. */
		for (t = 0; t < (n <= 8 ? len : 300); t++) {
			pos = n <= 8 ? t : (size_t)(rnd(&seed) % len);
			memcpy(buf, orig, pos);
			if (compare(buf, pos))
				accepted++;
			else
				declined++;
		}
		/* Byte substitutions at random places. */
		for (t = 0; t < 400; t++) {
			memcpy(buf, orig, len);
			pos = (size_t)(rnd(&seed) % len);
			buf[pos] = vals[rnd(&seed) % sizeof vals];
			if (compare(buf, len))
				accepted++;
			else
				declined++;
		}
		fields(orig, len, off, &nf);
		/* Two adjacent fields swapped: out of order, or Msgs in
		 * another order (which must then decode the same way). */
		for (k = 0; k + 1 < nf; k++) {
			size_t a = off[k], b = off[k + 1], e = off[k + 2];

			memcpy(buf, orig, a);
			memcpy(buf + a, orig + b, e - b);
			memcpy(buf + a + (e - b), orig + a, b - a);
			memcpy(buf + e, orig + e, len - e);
			(void)compare(buf, len);
		}
		/* Each bad field at every boundary after id and status:
		 * between Msgs, before and after them. */
		for (k = 2; k <= nf; k++) {
			for (t = 0; t < sizeof bad / sizeof bad[0]; t++) {
				if (t == 2 && k == nf)
					continue; /* last: maybe in order */
				mlen = insert(orig, len, off[k], bad[t].b,
				    bad[t].len, buf);
				ck_assert_msg(!compare(buf, mlen),
				    "bad field %zu at field %zu of %zu "
				    "accepted",
				    t, k, nf);
			}
		}
	}
	ck_assert_uint_gt(accepted, 0);
	ck_assert_uint_gt(declined, 0);
}
END_TEST

/* Hand-encode req and compare it byte for byte with protobuf-c. */
static void
request_same(const Conqueue__Request *req)
{
	static uint8_t want[1 << 18], got[1 << 18];
	Conqueue__Request bare;
	size_t n, body, wn;

	n = wire_request_len(req, &body);
	ck_assert_uint_gt(n, 0);
	wn = conqueue__request__get_packed_size(req);
	ck_assert_uint_eq(n, wn);
	ck_assert_uint_le(n, sizeof got);
	conqueue__request__pack(req, want);
	ck_assert_uint_eq(wire_request_pack(req, body, got), n);
	ck_assert_mem_eq(got, want, n);
	/* The receipts' share, as engine_out_request adds it. */
	bare = *req;
	bare.n_confirm = bare.n_reject = 0;
	bare.confirm = bare.reject = NULL;
	ck_assert_uint_eq(wire_request_len(&bare, &body) +
	                      wire_receipts_len(req->confirm, req->n_confirm,
	                          req->reject, req->n_reject),
	    n);
}

START_TEST(test_requests_encode_as_protobuf_c)
{
	static uint8_t data[70000];
	static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384,
	    (1u << 21) - 1, 1u << 21, (1ull << 28), (1ull << 35) - 1,
	    (1ull << 49), (1ull << 56) - 1, 1ull << 56, (1ull << 63) - 1,
	    1ull << 63, UINT64_MAX};
	static const size_t lens[] = {
	    0, 1, 64, 127, 128, 4096, 16383, 16384, 70000};
	static const int64_t timeouts[] = {-1, 0, 1, 1000, INT64_MAX};
	uint64_t ids[3];
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	Conqueue__Pop pop = CONQUEUE__POP__INIT;
	ProtobufCBinaryData d[2];
	size_t i, j, k;

	memset(data, 'x', sizeof data);
	push.name.data = (uint8_t *)(uintptr_t) "queue.name";
	push.name.len = 10;
	pop.name = push.name;
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		for (j = 0; j < sizeof lens / sizeof lens[0]; j++) {
			for (k = 0; k < 4; k++) {
				req.id = vals[i];
				req.n_confirm = k & 1 ? 3 : 0;
				req.n_reject = k & 2 ? 1 : 0;
				ids[0] = vals[i];
				ids[1] = vals[j % 16];
				ids[2] = 5;
				req.confirm = req.n_confirm ? ids : NULL;
				req.reject = req.n_reject ? ids + 1 : NULL;
				/* A push of one or two messages. */
				req.op_case = CONQUEUE__REQUEST__OP_PUSH;
				req.push = &push;
				d[0].data = data;
				d[0].len = lens[j];
				d[1] = d[0];
				push.n_data = 1 + (k == 3);
				push.data = d;
				push.has_band = k > 1;
				push.band = (uint32_t)vals[i];
				push.has_front = k == 2;
				push.front = 1;
				push.has_timeout_ms = 1;
				push.timeout_ms = timeouts[(i + j) % 5];
				/* A keyed push (doc/dedup.md): 1..256 bytes. */
				push.has_dedup_key = k == 1;
				push.dedup_key.data = data;
				push.dedup_key.len = 1 + lens[j] % 256;
				/* Delayed and expiring pushes (fields 7, 8). */
				push.has_delay_ms = k == 3;
				push.delay_ms = (uint32_t)vals[i];
				push.has_ttl_ms = k >= 2;
				push.ttl_ms = (uint32_t)vals[j % 16];
				request_same(&req);
				push.has_dedup_key = 0;
				push.has_delay_ms = push.has_ttl_ms = 0;
				/* A pop. */
				req.op_case = CONQUEUE__REQUEST__OP_POP;
				req.pop = &pop;
				pop.has_max = k & 1;
				pop.max = (uint32_t)lens[j];
				pop.has_timeout_ms = k != 0;
				pop.timeout_ms = -timeouts[(i + j) % 5];
				pop.has_reserve = pop.has_lease_ms = k > 1;
				pop.reserve = 1;
				pop.lease_ms = (uint32_t)vals[i];
				pop.has_detach = k == 3;
				pop.detach = 1;
				request_same(&req);
			}
		}
	}
}
END_TEST

/* Encode h as ops.c's Request would be, and compare with protobuf-c. */
static void
hot_same(const struct wire_hot *h, uint64_t id, const uint64_t *confirm,
    size_t n_confirm, const uint64_t *reject, size_t n_reject)
{
	static uint8_t want[1 << 18], got[1 << 18];
	Conqueue__Request req = CONQUEUE__REQUEST__INIT;
	Conqueue__Push push = CONQUEUE__PUSH__INIT;
	Conqueue__Pop pop = CONQUEUE__POP__INIT;
	ProtobufCBinaryData d;
	size_t n, body, wn;

	req.id = id;
	req.n_confirm = n_confirm;
	req.confirm = (uint64_t *)(uintptr_t)confirm;
	req.n_reject = n_reject;
	req.reject = (uint64_t *)(uintptr_t)reject;
	if (h->op == CONQUEUE__REQUEST__OP_PUSH) {
		req.op_case = CONQUEUE__REQUEST__OP_PUSH;
		req.push = &push;
		push.name.data = (uint8_t *)(uintptr_t)h->name;
		push.name.len = h->namelen;
		d.data = (uint8_t *)(uintptr_t)h->data;
		d.len = h->len;
		push.n_data = 1;
		push.data = &d;
		push.has_band = h->band != 0;
		push.band = h->band;
		push.has_front = h->front != 0;
		push.front = h->front != 0;
		push.has_timeout_ms = 1;
		push.timeout_ms = h->timeout_ms;
	} else {
		req.op_case = CONQUEUE__REQUEST__OP_POP;
		req.pop = &pop;
		pop.name.data = (uint8_t *)(uintptr_t)h->name;
		pop.name.len = h->namelen;
		pop.has_max = h->max != 1;
		pop.max = h->max;
		pop.has_timeout_ms = 1;
		pop.timeout_ms = h->timeout_ms;
		pop.has_reserve = h->reserve != 0;
		pop.reserve = h->reserve != 0;
		pop.has_lease_ms = h->reserve && h->lease_ms != 0;
		pop.lease_ms = h->lease_ms;
		pop.has_detach = h->detach != 0;
		pop.detach = h->detach != 0;
	}
	n = wire_hot_len(h, id, &body) +
	    wire_receipts_len(confirm, n_confirm, reject, n_reject);
	wn = conqueue__request__get_packed_size(&req);
	ck_assert_uint_eq(n, wn);
	ck_assert_uint_le(n, sizeof got);
	conqueue__request__pack(&req, want);
	ck_assert_uint_eq(wire_hot_pack(h, id, body, confirm, n_confirm, reject,
	                      n_reject, got),
	    n);
	ck_assert_mem_eq(got, want, n);
}

START_TEST(test_hot_requests_encode_as_protobuf_c)
{
	static uint8_t data[70000];
	static const uint64_t vals[] = {0, 1, 127, 128, 16384, 1u << 21,
	    (1ull << 35) - 1, 1ull << 56, UINT64_MAX};
	static const size_t lens[] = {0, 1, 64, 128, 16384, 70000};
	static const int64_t timeouts[] = {-1, 0, 1, 1000, INT64_MAX};
	uint64_t ids[3] = {1, 300, UINT64_MAX};
	struct wire_hot h;
	size_t i, j, k;

	memset(data, 'y', sizeof data);
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		for (j = 0; j < sizeof lens / sizeof lens[0]; j++) {
			for (k = 0; k < 8; k++) {
				memset(&h, 0, sizeof h);
				h.op = CONQUEUE__REQUEST__OP_PUSH;
				h.name = "a.queue";
				h.namelen = 7;
				h.timeout_ms = timeouts[(i + j + k) % 5];
				h.data = data;
				h.len = lens[j];
				h.band = k & 1 ? (uint32_t)vals[i] : 0;
				h.front = (k & 2) != 0;
				hot_same(&h, vals[i], ids, k & 4 ? 3 : 0,
				    ids + 1, k & 1 ? 2 : 0);
				h.op = CONQUEUE__REQUEST__OP_POP;
				h.max = k & 1 ? (uint32_t)lens[j] : 1;
				h.reserve = (k & 2) != 0;
				h.lease_ms = k & 4 ? (uint32_t)vals[i] : 0;
				h.detach = k == 7;
				hot_same(&h, vals[i], ids, k & 4 ? 3 : 0,
				    ids + 1, k & 1 ? 2 : 0);
			}
		}
	}
}
END_TEST

/* The suite. */
static Suite *
client_wire_suite(void)
{
	Suite *s = suite_create("client_wire");
	TCase *tc = tcase_create("fast");

	tcase_add_test(tc, test_fast_decodes_push_pop_and_error_replies);
	tcase_add_test(tc, test_fast_never_accepts_corrupted_replies);
	tcase_add_test(tc, test_fast_declines_malformed_and_unusual_replies);
	tcase_add_test(tc, test_fast_many_messages_match_strict);
	tcase_add_test(tc, test_requests_encode_as_protobuf_c);
	tcase_add_test(tc, test_hot_requests_encode_as_protobuf_c);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the number of failures. */
int
main(void)
{
	SRunner *sr = srunner_create(client_wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
