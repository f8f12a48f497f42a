/* wire_same.c - do two decodings of a Reply agree (tests and fuzz/). */

#include <stdlib.h>
#include <string.h>

#include "wire_same.h"

/* Room for the largest frame fuzz_reply reads, decoded. */
static _Alignas(16) uint8_t wire_same_block[3 * 4 * 1024 * 1024];
static size_t wire_same_used;

/* Hand out n bytes (16-aligned) of the block, NULL once it is full. */
static void *
wire_same_alloc(void *data, size_t n)
{
	void *p;

	(void)data;
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof wire_same_block - wire_same_used)
		return NULL;
	p = wire_same_block + wire_same_used;
	wire_same_used += n;
	return p;
}

/* Nothing is freed piecemeal. */
static void
wire_same_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

ProtobufCAllocator wire_same_arena = {wire_same_alloc, wire_same_free, NULL};

void
wire_same_arena_reset(void)
{
	wire_same_used = 0;
}

size_t
wire_same_arena_used(void)
{
	return wire_same_used;
}

const void *
wire_same_arena_base(void)
{
	return wire_same_block;
}

/* Whether r has a field outside the hand codec's. */
static int
wire_same_other(const Conqueue__Reply *r)
{
	return r->stat != NULL || r->n_queues != 0 || r->has_flag ||
	       r->has_length || r->welcome != NULL || r->info != NULL ||
	       r->has_fds || r->has_count || r->has_index ||
	       r->base.n_unknown_fields != 0;
}

/* Whether two Msgs hold the same fields. */
static int
wire_same_msg(const Conqueue__Msg *a, const Conqueue__Msg *b)
{
	return a->id == b->id && a->data.len == b->data.len &&
	       (a->data.len == 0 ||
	           memcmp(a->data.data, b->data.data, a->data.len) == 0) &&
	       a->has_band == b->has_band &&
	       (!a->has_band || a->band == b->band) &&
	       a->has_deliveries == b->has_deliveries &&
	       (!a->has_deliveries || a->deliveries == b->deliveries) &&
	       a->has_enqueued_ns == b->has_enqueued_ns &&
	       (!a->has_enqueued_ns || a->enqueued_ns == b->enqueued_ns) &&
	       a->base.n_unknown_fields == 0 && b->base.n_unknown_fields == 0;
}

/* Compare two decoded Replies field by field. */
const char *
wire_same_reply(const Conqueue__Reply *a, const Conqueue__Reply *b)
{
	size_t i;

	if (wire_same_other(a) || wire_same_other(b))
		return "a field outside the hand codec's";
	if (a->id != b->id || a->status != b->status)
		return "id or status";
	if ((a->detail == NULL) != (b->detail == NULL) ||
	    (a->detail != NULL && strcmp(a->detail, b->detail) != 0))
		return "detail";
	if (a->has_sys_errno != b->has_sys_errno ||
	    (a->has_sys_errno && a->sys_errno != b->sys_errno))
		return "sys_errno";
	if (a->has_first_id != b->has_first_id ||
	    (a->has_first_id && a->first_id != b->first_id))
		return "first_id";
	if (a->n_msgs != b->n_msgs)
		return "number of msgs";
	for (i = 0; i < a->n_msgs; i++)
		if (!wire_same_msg(a->msgs[i], b->msgs[i]))
			return "a Msg";
	return NULL;
}

/* Compare an in-place decoding with protobuf-c's. */
const char *
wire_same_fast(const struct wire_reply *w, const Conqueue__Reply *r)
{
	size_t i;

	if (wire_same_other(r))
		return "a field outside the hand codec's";
	if (w->id != r->id || w->status != r->status)
		return "id or status";
	/* (protobuf-c copies the detail whole, NULs included.) */
	if ((w->detail != NULL) != (r->detail != NULL) ||
	    (w->detail != NULL &&
	        (memcmp(w->detail, r->detail, w->detail_len) != 0 ||
	            r->detail[w->detail_len] != '\0')))
		return "detail";
	if (w->has_sys_errno != (int)r->has_sys_errno ||
	    (r->has_sys_errno && w->sys_errno != r->sys_errno))
		return "sys_errno";
	if (w->n_msgs != r->n_msgs || w->n_msgs > w->msgs_cap)
		return "number of msgs";
	for (i = 0; i < r->n_msgs; i++) {
		const Conqueue__Msg *m = r->msgs[i];
		const struct wire_msg *x = &w->msgs[i];

		if (x->id != m->id || x->len != m->data.len ||
		    (m->data.len > 0 &&
		        memcmp(x->data, m->data.data, m->data.len) != 0) ||
		    x->band != (m->has_band ? m->band : 0) ||
		    x->has_deliveries != (int)m->has_deliveries ||
		    (m->has_deliveries && x->deliveries != m->deliveries) ||
		    x->enqueued_ns !=
		        (m->has_enqueued_ns ? m->enqueued_ns : 0) ||
		    m->base.n_unknown_fields != 0)
			return "a Msg";
	}
	return NULL;
}

/* Pack r both ways and compare. */
const char *
wire_same_pack(const Conqueue__Reply *r)
{
	size_t want = conqueue__reply__get_packed_size(r);
	size_t got = wire_reply_pack_size(r), bound = wire_reply_pack_bound(r);
	const char *err = NULL;
	uint8_t *a, *b;

	if ((got == 0) !=
	    (wire_same_other(r) || r->detail != NULL || r->has_sys_errno))
		return "declined the wrong replies";
	if ((bound == 0) != (got == 0))
		return "bound and size disagree";
	if (got == 0)
		return NULL;
	if (got != want || bound < got)
		return "size";
	if ((a = malloc(bound)) == NULL || (b = malloc(want + 1)) == NULL)
		abort();
	if (wire_reply_pack(r, a) != want ||
	    conqueue__reply__pack(r, b) != want || memcmp(a, b, want) != 0)
		err = "bytes";
	free(a);
	free(b);
	return err;
}
