/*
 * check_wire_daemon.c - the daemon's hand-encoded replies and hand-decoded
 * requests against protobuf-c.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/wire.h"

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
	size_t got = wire_reply_pack_size(r);
	uint8_t *a, *b;

	ck_assert_uint_eq(got, want);
	ck_assert_uint_ge(wire_reply_pack_bound(r), want);
	a = malloc(want + 1);
	b = malloc(want + 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	a[want] = b[want] = 0xa5; /* guard: no write past the size */
	ck_assert_uint_eq(conqueue__reply__pack(r, a), want);
	ck_assert_uint_eq(wire_reply_pack(r, b), want);
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
	ck_assert_uint_ne(wire_reply_pack_size(&r), 0);
	ck_assert_uint_ne(wire_reply_pack_bound(&r), 0);
	r.detail = (char *)(uintptr_t) "queue not found";
	ck_assert_uint_eq(wire_reply_pack_size(&r), 0);
	ck_assert_uint_eq(wire_reply_pack_bound(&r), 0);
	conqueue__reply__init(&r);
	r.has_sys_errno = 1;
	ck_assert_uint_eq(wire_reply_pack_size(&r), 0);
	ck_assert_uint_eq(wire_reply_pack_bound(&r), 0);
	conqueue__reply__init(&r);
	conqueue__queue_stat__init(&st);
	r.stat = &st;
	ck_assert_uint_eq(wire_reply_pack_size(&r), 0);
	ck_assert_uint_eq(wire_reply_pack_bound(&r), 0);
	conqueue__reply__init(&r);
	r.has_flag = 1;
	ck_assert_uint_eq(wire_reply_pack_size(&r), 0);
	ck_assert_uint_eq(wire_reply_pack_bound(&r), 0);
	conqueue__reply__init(&r);
	r.has_length = 1;
	ck_assert_uint_eq(wire_reply_pack_size(&r), 0);
	ck_assert_uint_eq(wire_reply_pack_bound(&r), 0);
}
END_TEST

/*
 * Requests: wire_request_fast against frame_check_wire + protobuf-c on
 * random frames and mutated copies. Frames are built as lists of fields
 * (of the Request and of its op's body) so mutations can reorder,
 * duplicate, drop and re-encode whole fields, not just bytes.
 */

/*
 * Check records every passing ck_assert (a write to a pipe): the loops
 * below run millions, so they only call it on failure.
 */
#define REQUIRE(c)                                                             \
	do {                                                                   \
		if (!(c))                                                      \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);     \
	} while (0)

#define FL_MAX   1200
#define FL_BYTES (512 * 1024)

/* A message as a list of encoded fields. */
struct fl {
	size_t n;
	size_t off[FL_MAX], len[FL_MAX];
	uint8_t *buf;
	size_t used;
};

/* Append len bytes as a new field at position at. */
static void
fl_insert(struct fl *l, size_t at, const uint8_t *b, size_t len)
{
	REQUIRE((l->n) < (FL_MAX));
	REQUIRE((l->used + len) <= (FL_BYTES));
	memcpy(l->buf + l->used, b, len);
	memmove(&l->off[at + 1], &l->off[at], (l->n - at) * sizeof l->off[0]);
	memmove(&l->len[at + 1], &l->len[at], (l->n - at) * sizeof l->len[0]);
	l->off[at] = l->used;
	l->len[at] = len;
	l->used += len;
	l->n++;
}

/* Remove field at. */
static void
fl_delete(struct fl *l, size_t at)
{
	memmove(
	    &l->off[at], &l->off[at + 1], (l->n - at - 1) * sizeof l->off[0]);
	memmove(
	    &l->len[at], &l->len[at + 1], (l->n - at - 1) * sizeof l->len[0]);
	l->n--;
}

/* Read a well-formed varint; returns its size. */
static size_t
get_varint(const uint8_t *p, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	do
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
	while (p[i++] & 0x80);
	return i;
}

/* Read a varint within len bytes; returns its size, 0 if unterminated. */
static size_t
get_varint_in(const uint8_t *p, size_t len, uint64_t *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < len && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0)
			return i + 1;
	}
	return 0;
}

/* Write v as a varint padded with pad redundant bytes; returns the size. */
static size_t
put_varint(uint8_t *p, uint64_t v, unsigned pad)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	for (; pad > 0; pad--) {
		p[n - 1] |= 0x80;
		p[n++] = 0;
	}
	return n;
}

/* Split a protobuf-c encoded message into l (emptied first). */
static void
fl_split(struct fl *l, const uint8_t *b, size_t len)
{
	size_t i = 0, start;
	uint64_t tag, v;

	l->n = l->used = 0;
	while (i < len) {
		start = i;
		i += get_varint(b + i, &tag);
		switch (tag & 7) {
		case 0:
			i += get_varint(b + i, &v);
			break;
		case 2:
			i += get_varint(b + i, &v);
			i += (size_t)v;
			break;
		default:
			ck_abort_msg("unexpected wire type from protobuf-c");
		}
		fl_insert(l, l->n, b + start, i - start);
	}
	REQUIRE((i) == (len));
}

/* Concatenate l's fields into out; returns the size. */
static size_t
fl_join(const struct fl *l, uint8_t *out)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++) {
		memcpy(out + n, l->buf + l->off[i], l->len[i]);
		n += l->len[i];
	}
	return n;
}

/* Replace field at with len bytes. */
static void
fl_replace(struct fl *l, size_t at, const uint8_t *b, size_t len)
{
	fl_delete(l, at);
	fl_insert(l, at, b, len);
}

/* A random field number and wire type with a valid value. */
static size_t
random_field(uint8_t *out)
{
	static const unsigned wts[] = {0, 1, 2, 5};
	unsigned wt = wts[rng() % 4];
	size_t n = put_varint(out, (1 + rng() % 24) << 3 | wt, 0), k;

	switch (wt) {
	case 0:
		return n + put_varint(out + n, rng_bits(), 0);
	case 1:
		k = 8;
		break;
	case 5:
		k = 4;
		break;
	default:
		k = rng() % 6;
		n += put_varint(out + n, k, 0);
		break;
	}
	while (k-- > 0)
		out[n++] = (uint8_t)rng();
	return n;
}

/*
 * One field-level mutation of l: reorder, duplicate, drop, add an unknown
 * field, pad a varint, change a wire type or a length; top (the Request)
 * may also have its packed receipts rewritten as single varints.
 */
static void
fl_mutate(struct fl *l, int top)
{
	uint8_t f[FL_BYTES / 8], *b;
	size_t at, n, k, i, hl;
	uint64_t tag, v;

	if (l->n == 0) {
		k = random_field(f);
		fl_insert(l, 0, f, k);
		return;
	}
	at = (size_t)(rng() % l->n);
	b = l->buf + l->off[at];
	n = l->len[at];
	REQUIRE((n) <= (sizeof f - 16));
	hl = get_varint(b, &tag);
	switch (rng() % 10) {
	case 9: /* another field number, same wire type and bytes */
		k = (size_t)(tag >> 3);
		k = rng() % 2 ? k + 1 : rng() % 2 ? k - 1 : 1 + rng() % 24;
		k = put_varint(f, (uint64_t)k << 3 | (tag & 7), 0);
		memcpy(f + k, b + hl, n - hl);
		fl_replace(l, at, f, k + n - hl);
		break;
	case 0: /* drop: e.g. a required field */
		fl_delete(l, at);
		break;
	case 1: /* duplicate, anywhere */
		memcpy(f, b, n);
		fl_insert(l, (size_t)(rng() % (l->n + 1)), f, n);
		break;
	case 2: /* swap with another field */
		k = (size_t)(rng() % l->n);
		i = l->off[at];
		l->off[at] = l->off[k];
		l->off[k] = i;
		i = l->len[at];
		l->len[at] = l->len[k];
		l->len[k] = i;
		break;
	case 3: /* unknown or misplaced field */
		k = random_field(f);
		fl_insert(l, (size_t)(rng() % (l->n + 1)), f, k);
		break;
	case 4: /* non-minimal tag */
		k = put_varint(f, tag, 1 + (unsigned)(rng() % 5));
		memcpy(f + k, b + hl, n - hl);
		fl_replace(l, at, f, k + n - hl);
		break;
	case 5: /* non-minimal value or length */
		if ((i = get_varint_in(b + hl, n - hl, &v)) == 0)
			break;
		memcpy(f, b, hl);
		k = hl + put_varint(f + hl, v, 1 + (unsigned)(rng() % 10));
		memcpy(f + k, b + hl + i, n - hl - i);
		fl_replace(l, at, f, k + n - hl - i);
		break;
	case 6: /* another wire type, same bytes */
		k = put_varint(f, (tag & ~(uint64_t)7) | (rng() % 8), 0);
		memcpy(f + k, b + hl, n - hl);
		fl_replace(l, at, f, k + n - hl);
		break;
	case 7: /* a length (or value) off by a little, same bytes */
		if ((i = get_varint_in(b + hl, n - hl, &v)) == 0)
			break;
		memcpy(f, b, hl);
		v += rng() % 2 ? 1 + rng() % 3 : (uint64_t)-1;
		k = hl + put_varint(f + hl, v, 0);
		memcpy(f + k, b + hl + i, n - hl - i);
		fl_replace(l, at, f, k + n - hl - i);
		break;
	default: /* packed receipts as single varints */
		if (!top || (tag != (2 << 3 | 2) && tag != (3 << 3 | 2)))
			break;
		if ((i = get_varint_in(b + hl, n - hl, &v)) == 0)
			break;
		for (i += hl, k = 0; i < n; i += hl) {
			if ((hl = get_varint_in(b + i, n - i, &v)) == 0)
				break;
			k += put_varint(f + k, tag & ~(uint64_t)7, 0);
			k += put_varint(f + k, v, 0);
		}
		fl_replace(l, at, f, k);
		break;
	}
}

/* Random bytes, every length including 0. */
static void
random_bytes(ProtobufCBinaryData *b, uint8_t *pool, size_t pool_len)
{
	b->len = rng() % 2 ? (size_t)(rng() % 9) : (size_t)(rng() % 300);
	b->data = pool + rng() % (pool_len - 300);
}

/* A random count: mostly small, sometimes near and over limit. */
static size_t
random_count(size_t min, size_t limit)
{
	switch (rng() % 8) {
	case 0:
		return limit - 2 + (size_t)(rng() % 8);
	case 1:
		return min + (size_t)(rng() % limit);
	default:
		return min + (size_t)(rng() % 3);
	}
}

/* Storage for a random Request. */
struct gen {
	Conqueue__Request r;
	Conqueue__Push push;
	Conqueue__Pop pop;
	Conqueue__Named named;
	Conqueue__Cancel cancel;
	Conqueue__Ping ping;
	Conqueue__Hello hello;
	Conqueue__MsgOp msg_op;
	Conqueue__Chmod chmod;
	ProtobufCBinaryData data[WIRE_FAST_DATA + 8];
	uint64_t confirm[WIRE_FAST_IDS + 8], reject[WIRE_FAST_IDS + 8];
};

/* Fill g->r with a random Request, push and pop the most likely. */
static void
gen_request(struct gen *g, uint8_t *pool, size_t pool_len)
{
	Conqueue__Request *r = &g->r;
	size_t i;

	conqueue__request__init(r);
	r->id = rng() % 4 == 0 ? 0 : rng_bits();
	if (rng() % 2) {
		r->n_confirm = random_count(1, WIRE_FAST_IDS);
		r->confirm = g->confirm;
		for (i = 0; i < r->n_confirm; i++)
			g->confirm[i] = rng_bits();
	}
	if (rng() % 4 == 0) {
		r->n_reject = random_count(1, WIRE_FAST_IDS);
		r->reject = g->reject;
		for (i = 0; i < r->n_reject; i++)
			g->reject[i] = rng_bits();
	}
	switch (rng() % 10) {
	case 0:
		break; /* receipts only */
	case 1:
	case 2:
	case 3:
	case 4:
		conqueue__push__init(&g->push);
		random_bytes(&g->push.name, pool, pool_len);
		g->push.n_data =
		    random_count(rng() % 16 ? 1 : 0, WIRE_FAST_DATA);
		g->push.data = g->data;
		for (i = 0; i < g->push.n_data; i++)
			random_bytes(&g->data[i], pool, pool_len);
		g->push.has_band = (int)(rng() & 1);
		g->push.band = (uint32_t)rng_bits();
		g->push.has_front = (int)(rng() & 1);
		g->push.front = (int)(rng() & 1);
		g->push.has_timeout_ms = (int)(rng() & 1);
		g->push.timeout_ms = (int64_t)rng_bits();
		r->op_case = CONQUEUE__REQUEST__OP_PUSH;
		r->push = &g->push;
		break;
	case 5:
	case 6:
	case 7:
		conqueue__pop__init(&g->pop);
		random_bytes(&g->pop.name, pool, pool_len);
		g->pop.has_max = (int)(rng() & 1);
		g->pop.max = (uint32_t)rng_bits();
		g->pop.has_timeout_ms = (int)(rng() & 1);
		g->pop.timeout_ms = (int64_t)rng_bits();
		g->pop.has_reserve = (int)(rng() & 1);
		g->pop.reserve = (int)(rng() & 1);
		g->pop.has_lease_ms = (int)(rng() & 1);
		g->pop.lease_ms = (uint32_t)rng_bits();
		g->pop.has_detach = (int)(rng() & 1);
		g->pop.detach = (int)(rng() & 1);
		r->op_case = CONQUEUE__REQUEST__OP_POP;
		r->pop = &g->pop;
		break;
	default:
		switch (rng() % 5) {
		case 4: /* a body that reads as a Pop {name, max} */
			conqueue__chmod__init(&g->chmod);
			random_bytes(&g->chmod.name, pool, pool_len);
			g->chmod.mode = (uint32_t)rng_bits();
			r->op_case = CONQUEUE__REQUEST__OP_CHMOD;
			r->chmod = &g->chmod;
			break;
		case 0:
			conqueue__named__init(&g->named);
			g->named.kind = CONQUEUE__NAMED__KIND__STAT;
			random_bytes(&g->named.name, pool, pool_len);
			r->op_case = CONQUEUE__REQUEST__OP_NAMED;
			r->named = &g->named;
			break;
		case 1:
			conqueue__cancel__init(&g->cancel);
			g->cancel.target = rng_bits();
			r->op_case = CONQUEUE__REQUEST__OP_CANCEL;
			r->cancel = &g->cancel;
			break;
		case 2:
			conqueue__ping__init(&g->ping);
			r->op_case = CONQUEUE__REQUEST__OP_PING;
			r->ping = &g->ping;
			break;
		default:
			conqueue__msg_op__init(&g->msg_op);
			g->msg_op.kind = CONQUEUE__MSG_OP__KIND__ACK;
			random_bytes(&g->msg_op.name, pool, pool_len);
			g->msg_op.msg_id = rng_bits();
			r->op_case = CONQUEUE__REQUEST__OP_MSG_OP;
			r->msg_op = &g->msg_op;
			break;
		}
		break;
	}
}

/* Two bytes fields alike; a's data must point into [buf, buf + len). */
static void
same_bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b,
    const uint8_t *buf, size_t len)
{
	REQUIRE((a->len) == (b->len));
	REQUIRE((a->data == NULL) == (b->data == NULL));
	if (a->len > 0) {
		REQUIRE(a->data >= buf && a->data + a->len <= buf + len);
		REQUIRE(memcmp(a->data, b->data, a->len) == 0);
	}
}

/* The fast decoding a of buf against protobuf-c's b, field by field. */
static void
same_request(const Conqueue__Request *a, const Conqueue__Request *b,
    const uint8_t *buf, size_t len)
{
	size_t i, na, nb;
	uint8_t *pa, *pb;

	REQUIRE((a->base.descriptor) == (b->base.descriptor));
	REQUIRE((a->base.n_unknown_fields) == (0));
	REQUIRE((b->base.n_unknown_fields) == (0));
	REQUIRE((a->id) == (b->id));
	REQUIRE((a->n_confirm) == (b->n_confirm));
	REQUIRE((a->n_reject) == (b->n_reject));
	REQUIRE((a->confirm == NULL) == (b->confirm == NULL));
	REQUIRE((a->reject == NULL) == (b->reject == NULL));
	for (i = 0; i < a->n_confirm; i++)
		REQUIRE((a->confirm[i]) == (b->confirm[i]));
	for (i = 0; i < a->n_reject; i++)
		REQUIRE((a->reject[i]) == (b->reject[i]));
	REQUIRE((a->op_case) == (b->op_case));
	if (a->op_case == CONQUEUE__REQUEST__OP_PUSH) {
		const Conqueue__Push *x = a->push, *y = b->push;

		REQUIRE((x->base.descriptor) == (y->base.descriptor));
		REQUIRE((y->base.n_unknown_fields) == (0));
		same_bytes(&x->name, &y->name, buf, len);
		REQUIRE((x->n_data) == (y->n_data));
		REQUIRE((x->data == NULL) == (y->data == NULL));
		for (i = 0; i < x->n_data; i++)
			same_bytes(&x->data[i], &y->data[i], buf, len);
		REQUIRE((x->has_band) == (y->has_band));
		REQUIRE((x->band) == (y->band));
		REQUIRE((x->has_front) == (y->has_front));
		REQUIRE((x->front) == (y->front));
		REQUIRE((x->has_timeout_ms) == (y->has_timeout_ms));
		REQUIRE((x->timeout_ms) == (y->timeout_ms));
	} else if (a->op_case == CONQUEUE__REQUEST__OP_POP) {
		const Conqueue__Pop *x = a->pop, *y = b->pop;

		REQUIRE((x->base.descriptor) == (y->base.descriptor));
		REQUIRE((y->base.n_unknown_fields) == (0));
		same_bytes(&x->name, &y->name, buf, len);
		REQUIRE((x->has_max) == (y->has_max));
		REQUIRE((x->max) == (y->max));
		REQUIRE((x->has_timeout_ms) == (y->has_timeout_ms));
		REQUIRE((x->timeout_ms) == (y->timeout_ms));
		REQUIRE((x->has_reserve) == (y->has_reserve));
		REQUIRE((x->reserve) == (y->reserve));
		REQUIRE((x->has_lease_ms) == (y->has_lease_ms));
		REQUIRE((x->lease_ms) == (y->lease_ms));
		REQUIRE((x->has_detach) == (y->has_detach));
		REQUIRE((x->detach) == (y->detach));
	} else
		REQUIRE((a->op_case) == (CONQUEUE__REQUEST__OP__NOT_SET));
	/* And the whole thing once more, as bytes. */
	na = conqueue__request__get_packed_size(a);
	nb = conqueue__request__get_packed_size(b);
	REQUIRE((na) == (nb));
	pa = malloc(na + 1);
	pb = malloc(nb + 1);
	REQUIRE((pa) != NULL);
	REQUIRE((pb) != NULL);
	REQUIRE(conqueue__request__pack(a, pa) == na);
	REQUIRE(conqueue__request__pack(b, pb) == nb);
	REQUIRE(memcmp(pa, pb, na) == 0);
	free(pa);
	free(pb);
}

/* Frames seen by check_request, and how many the fast path took. */
static size_t n_frames, n_fast, n_slow_ok, n_mutant_fast;

/*
 * Decode len bytes both ways. Returns wire_request_fast's answer; if 1,
 * the strict slow path must accept the frame and decode the same Request.
 */
static int
check_request(const uint8_t *buf, size_t len)
{
	static struct wire_fast_req fr;
	Conqueue__Request *slow = NULL;
	const char *why = NULL;
	int fast;

	fast = wire_request_fast(buf, len, &fr);
	REQUIRE(fast == 0 || fast == 1);
	if (frame_check_wire(&conqueue__request__descriptor, buf, len, &why) ==
	    0)
		slow = conqueue__request__unpack(NULL, len, buf);
	else
		REQUIRE((why) != NULL);
	n_frames++;
	n_slow_ok += slow != NULL;
	if (fast) {
		n_fast++;
		if (slow == NULL)
			ck_abort_msg("fast path took a frame the strict path "
			             "refuses (%s)",
			    why != NULL ? why : "unpack failed");
		same_request(&fr.req, slow, buf, len);
	}
	if (slow != NULL)
		conqueue__request__free_unpacked(slow, NULL);
	return fast;
}

START_TEST(test_request_fast_differential)
{
	static struct fl top, sub;
	static struct gen g;
	static uint8_t pool[4096];
	const size_t cap = FL_BYTES;
	uint8_t *frame = malloc(cap + 64), *tmp = malloc(cap);
	size_t k, i, n, len, op_at, eligible = 0, eligible_fast = 0;
	size_t canon = 0, mutants = 0;
	uint64_t op_tag = 0;

	ck_assert_ptr_nonnull(frame);
	ck_assert_ptr_nonnull(tmp);
	top.buf = malloc(FL_BYTES);
	sub.buf = malloc(FL_BYTES);
	ck_assert_ptr_nonnull(top.buf);
	ck_assert_ptr_nonnull(sub.buf);
	for (i = 0; i < sizeof pool; i++)
		pool[i] = (uint8_t)rng();
	for (k = 0; k < 40000; k++) {
		gen_request(&g, pool, sizeof pool);
		len = conqueue__request__pack(&g.r, frame);
		REQUIRE(len <= cap);

		/* The canonical frame, as the client writes it. */
		n = check_request(frame, len);
		canon++;
		if ((g.r.op_case == CONQUEUE__REQUEST__OP__NOT_SET ||
		        g.r.op_case == CONQUEUE__REQUEST__OP_PUSH ||
		        g.r.op_case == CONQUEUE__REQUEST__OP_POP) &&
		    g.r.n_confirm <= WIRE_FAST_IDS &&
		    g.r.n_reject <= WIRE_FAST_IDS &&
		    (g.r.op_case != CONQUEUE__REQUEST__OP_PUSH ||
		        g.push.n_data <= WIRE_FAST_DATA)) {
			eligible++;
			eligible_fast += n;
		} else if (n != 0)
			ck_abort_msg("fast path took an op it has no room "
			             "or code for");

		/* Its fields, and its op's fields. */
		fl_split(&top, frame, len);
		op_at = top.n;
		sub.n = sub.used = 0;
		for (i = 0; i < top.n; i++) {
			const uint8_t *b = top.buf + top.off[i];
			size_t hl = get_varint(b, &op_tag), vl;
			uint64_t v;

			if ((op_tag >> 3) >= 10) {
				vl = get_varint(b + hl, &v);
				fl_split(&sub, b + hl + vl, (size_t)v);
				op_at = i;
				break;
			}
		}

		/*
		 * Mutants: edits of the op's fields, then of the Request's,
		 * then of bytes. top and sub share their byte buffers with
		 * the copies, which only append past what they use.
		 */
		for (n = 0; n < 5; n++) {
			static struct fl t2, s2;
			size_t m, flen;

			t2 = top;
			s2 = sub;
			if (op_at < top.n && rng() % 2) {
				for (m = 1 + rng() % 3; m > 0; m--)
					fl_mutate(&s2, 0);
				flen = put_varint(tmp, op_tag, 0);
				i = fl_join(&s2, tmp + 16);
				flen += put_varint(tmp + flen, i, 0);
				memmove(tmp + flen, tmp + 16, i);
				fl_replace(&t2, op_at, tmp, flen + i);
			}
			for (m = rng() % 3; m > 0; m--)
				fl_mutate(&t2, 1);
			flen = fl_join(&t2, frame);
			switch (rng() % 6) {
			case 0: /* flip a byte */
				if (flen > 0)
					frame[rng() % flen] ^=
					    (uint8_t)(1 + rng() % 255);
				break;
			case 1: /* truncate */
				if (flen > 0)
					flen = (size_t)(rng() % flen);
				break;
			case 2: /* trailing bytes */
				for (i = 1 + rng() % 4; i > 0; i--)
					frame[flen++] = (uint8_t)rng();
				break;
			default:
				break;
			}
			mutants++;
			n_mutant_fast += (size_t)check_request(frame, flen);
		}
	}
	fprintf(stderr,
	    "request frames: %zu (%zu canonical, %zu mutants); fast %zu, "
	    "of which mutants %zu; strict path accepted %zu; canonical "
	    "hot frames %zu, fast %zu\n",
	    n_frames, canon, mutants, n_fast, n_mutant_fast, n_slow_ok,
	    eligible, eligible_fast);
	ck_assert_uint_ge(n_frames, 200000);
	/* Every frame the client writes for push, pop and receipts. */
	ck_assert_uint_gt(eligible, canon / 2);
	ck_assert_uint_eq(eligible_fast, eligible);
	/* Mutants that stay canonical (e.g. swapped data items) too. */
	ck_assert_uint_gt(n_mutant_fast, 0);
	free(top.buf);
	free(sub.buf);
	free(frame);
	free(tmp);
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
	tc = tcase_create("request");
	/* A safety net for slow (sanitizer) builds, not a measurement. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_request_fast_differential);
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
