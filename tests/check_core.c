/* check_core.c - every core operation and status, on one process. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/common.h"
#include "core/queue.h"
#include "tests/core_util.h"
#include "tests/testutil.h"

static char seg[128];
static struct core_queue *q;

/* Create queue q with these sizes. */
static void
mkqueue(uint32_t capacity, uint32_t max_size, uint32_t bands)
{
	struct core_attr a = cu_attr(capacity, max_size, bands);

	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
}

/* Default fixture: capacity 8, 16-byte messages, 3 bands. */
static void
setup(void)
{
	mkqueue(8, 16, 3);
}

/* Drop q and its segment. */
static void
teardown(void)
{
	core_detach(q);
	q = NULL;
	core_unlink(seg);
}

/* Push a string to band. */
static cq_status
push_str(const char *s, unsigned band, int front)
{
	uint64_t id;

	return core_push(q, s, strlen(s), band, front, &id);
}

/* Pop one message, confirm it, and check its text. */
static void
pop_expect(const char *want)
{
	struct core_msg m;

	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.len, strlen(want));
	ck_assert_mem_eq(m.data, want, m.len);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
}

START_TEST(test_fifo_within_band)
{
	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("c", 0, 0), CQ_OK);
	pop_expect("a");
	pop_expect("b");
	pop_expect("c");
	ck_assert_int_eq(core_check(q), CQ_OK);
}
END_TEST

START_TEST(test_pop_takes_highest_band_first)
{
	ck_assert_int_eq(push_str("low1", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("mid1", 1, 0), CQ_OK);
	ck_assert_int_eq(push_str("high1", 2, 0), CQ_OK);
	ck_assert_int_eq(push_str("low2", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("high2", 2, 0), CQ_OK);
	pop_expect("high1");
	pop_expect("high2");
	pop_expect("mid1");
	pop_expect("low1");
	pop_expect("low2");
}
END_TEST

START_TEST(test_push_front_goes_to_head_of_band)
{
	ck_assert_int_eq(push_str("b", 1, 0), CQ_OK);
	ck_assert_int_eq(push_str("a", 1, 1), CQ_OK);
	ck_assert_int_eq(push_str("z", 0, 1), CQ_OK);
	/* Many fronts in a row wrap the ring below its start. */
	ck_assert_int_eq(push_str("0", 1, 1), CQ_OK);
	pop_expect("0");
	pop_expect("a");
	pop_expect("b");
	pop_expect("z");
	ck_assert_int_eq(core_check(q), CQ_OK);
}
END_TEST

START_TEST(test_push_many_is_all_or_nothing)
{
	struct iovec iov[9];
	char txt[9][16];
	uint64_t first = 0, id;
	struct core_stat st;
	int i;

	for (i = 0; i < 9; i++) {
		snprintf(txt[i], sizeof txt[i], "m%d", i);
		iov[i].iov_base = txt[i];
		iov[i].iov_len = strlen(txt[i]);
	}
	ck_assert_int_eq(push_str("x", 0, 0), CQ_OK);
	/* 8 do not fit next to one queued message: nothing goes in. */
	ck_assert_int_eq(core_push_many(q, iov, 8, 0, 0, &first), CQ_FULL);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_eq(st.total_pushed, 1);
	/* One too big: nothing goes in either. */
	iov[2].iov_len = 17;
	ck_assert_int_eq(core_push_many(q, iov, 3, 0, 0, &first), CQ_TOOBIG);
	iov[2].iov_len = strlen(txt[2]);
	ck_assert_int_eq(core_push_many(q, iov, 4, 0, 0, &first), CQ_OK);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(core_push_many(q, iov + 4, 3, 0, 1, &first), CQ_OK);
	ck_assert_uint_eq(first, 6);
	ck_assert_uint_eq(core_length(q), 8);
	ck_assert_uint_eq(core_free_slots(q), 0);
	ck_assert_int_eq(core_push(q, "y", 1, 0, 0, &id), CQ_FULL);
	ck_assert_int_eq(core_push_many(q, iov, 0, 0, 0, &first), CQ_INVALID);
	/* The front batch keeps its own order at the head. */
	pop_expect("m4");
	pop_expect("m5");
	pop_expect("m6");
	pop_expect("x");
	pop_expect("m0");
	pop_expect("m1");
	pop_expect("m2");
	pop_expect("m3");
}
END_TEST

START_TEST(test_pop_many_returns_one_to_n_of_one_band)
{
	struct core_msg m[8];
	size_t n = 99;
	int i;

	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 4, &n), CQ_EMPTY);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(push_str("h", 2, 0), CQ_OK);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(push_str("l", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 4, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m[0].band, 2);
	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 3, &n), CQ_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(m[0].id + 1, m[1].id);
	ck_assert_uint_eq(m[1].id + 1, m[2].id);
	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 8, &n), CQ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 0, &n), CQ_INVALID);
	ck_assert_uint_eq(core_free_slots(q), 2);
}
END_TEST

START_TEST(test_pop_after_close_drains)
{
	struct core_msg m, m2;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 0, 0), CQ_OK);
	ck_assert_int_eq(core_is_closed(q), 0);
	ck_assert_int_eq(core_close(q), CQ_OK);
	ck_assert_int_eq(core_close(q), CQ_OK);
	ck_assert_int_eq(core_is_closed(q), 1);
	ck_assert_int_eq(push_str("c", 0, 0), CQ_CLOSED);
	ck_assert_int_eq(push_str("c", 0, 1), CQ_CLOSED);
	pop_expect("a");
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	/* Closed and drained, even with a message still in flight. */
	ck_assert_int_eq(core_pop(q, 1, 0, &m2), CQ_CLOSED);
	/* A returned message is queued again and can be drained. */
	ck_assert_int_eq(core_return(q, m.slot, m.id), CQ_OK);
	pop_expect("b");
	ck_assert_int_eq(core_pop(q, 1, 0, &m2), CQ_CLOSED);
}
END_TEST

START_TEST(test_full_then_empty)
{
	struct core_msg m;
	int i;

	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(push_str("x", (unsigned)i % 3, 0), CQ_OK);
	ck_assert_int_eq(push_str("x", 0, 0), CQ_FULL);
	ck_assert_int_eq(push_str("x", 2, 1), CQ_FULL);
	/* A message in flight still occupies its slot. */
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(push_str("x", 0, 0), CQ_FULL);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(push_str("x", 0, 0), CQ_OK);
	for (i = 0; i < 8; i++)
		pop_expect("x");
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
	ck_assert_uint_eq(core_free_slots(q), 8);
}
END_TEST

START_TEST(test_max_size_fits_and_one_more_is_toobig)
{
	char big[17];
	struct core_msg m;
	uint64_t id;

	memset(big, 'q', sizeof big);
	ck_assert_int_eq(core_push(q, big, 17, 0, 0, &id), CQ_TOOBIG);
	ck_assert_int_eq(core_push(q, big, 16, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(q, big, 0, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(q, NULL, 0, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.len, 16);
	ck_assert_mem_eq(m.data, big, 16);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_int_eq(core_check(q), CQ_OK);
}
END_TEST

START_TEST(test_invalid_band_is_rejected)
{
	uint64_t id;
	struct iovec iov = {.iov_base = (void *)(uintptr_t) "x", .iov_len = 1};

	ck_assert_int_eq(core_push(q, "x", 1, 3, 0, &id), CQ_INVALID);
	ck_assert_int_eq(core_push(q, "x", 1, 99, 1, &id), CQ_INVALID);
	ck_assert_int_eq(core_push_many(q, &iov, 1, 3, 0, &id), CQ_INVALID);
	ck_assert_uint_eq(core_length(q), 0);
}
END_TEST

START_TEST(test_paused_pops_empty_pushes_go_in)
{
	struct core_msg m;
	struct core_stat st;

	ck_assert_int_eq(core_set_paused(q, 1), CQ_OK);
	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_int_eq(st.paused, 1);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_int_eq(core_set_paused(q, 0), CQ_OK);
	pop_expect("a");
	/* Paused, closed and drained: CLOSED, so waiters can finish. */
	ck_assert_int_eq(core_set_paused(q, 1), CQ_OK);
	ck_assert_int_eq(core_close(q), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_CLOSED);
}
END_TEST

START_TEST(test_serial_hands_out_one_at_a_time)
{
	struct core_attr a = cu_attr(4, 8, 1);
	struct core_queue *s;
	struct core_msg m[4];
	char name[128];
	uint64_t id;
	size_t n;

	a.serial = 1;
	cu_segname(name, sizeof name);
	ck_assert_int_eq(core_create(name, &a, &s), CQ_OK);
	ck_assert_int_eq(core_push(s, "1", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(s, "2", 1, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_pop_many(s, 1, 0, m, 4, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_mem_eq(m[0].data, "1", 1);
	ck_assert_int_eq(core_pop(s, 1, 0, &m[1]), CQ_EMPTY);
	ck_assert_int_eq(core_confirm(s, m[0].slot, m[0].id), CQ_OK);
	ck_assert_int_eq(core_pop(s, 1, 0, &m[1]), CQ_OK);
	ck_assert_mem_eq(m[1].data, "2", 1);
	core_detach(s);
	ck_assert_int_eq(core_unlink(name), CQ_OK);
}
END_TEST

START_TEST(test_confirm_deletes_and_unknown_is_notfound)
{
	struct core_msg m;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 7, 0, &m), CQ_OK);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id + 1), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm(q, m.slot + 1, m.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm(q, 1000, m.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm(q, m.slot, 0), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_return(q, m.slot, m.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_touch(q, m.slot, m.id, 5), CQ_NOTFOUND);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_EMPTY);
}
END_TEST

START_TEST(test_confirm_many_confirms_each_under_one_lock)
{
	struct core_msg m[6], bad;
	struct core_stat st;
	size_t n = 0;
	int i;

	for (i = 0; i < 6; i++)
		ck_assert_int_eq(push_str("x", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop_many(q, 1, 0, m, 6, &n), CQ_OK);
	ck_assert_uint_eq(n, 6);
	/* One of them not in flight: the others are still confirmed. */
	bad = m[2];
	bad.id += 100;
	m[2] = bad;
	ck_assert_int_eq(core_confirm_many(q, m, 4), CQ_NOTFOUND);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 3);
	ck_assert_uint_eq(st.total_popped, 3);
	ck_assert_uint_eq(core_free_slots(q), 8 - 3);
	/* Twice is not found; the rest go. */
	ck_assert_int_eq(core_confirm_many(q, m, 2), CQ_NOTFOUND);
	ck_assert_int_eq(core_confirm_many(q, m + 4, 2), CQ_OK);
	ck_assert_int_eq(core_confirm_many(q, m, 0), CQ_OK);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.total_popped, 5);
	ck_assert_uint_eq(core_free_slots(q), 8 - 1);
}
END_TEST

START_TEST(test_return_puts_back_at_head_and_counts_delivery)
{
	struct core_msg m, m2;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.deliveries, 1);
	ck_assert_int_eq(core_return(q, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_NOTFOUND);
	ck_assert_int_eq(core_pop(q, 1, 0, &m2), CQ_OK);
	ck_assert_uint_eq(m2.id, m.id);
	ck_assert_uint_eq(m2.deliveries, 2);
	ck_assert_mem_eq(m2.data, "a", 1);
	ck_assert_int_eq(core_confirm(q, m2.slot, m2.id), CQ_OK);
	pop_expect("b");
}
END_TEST

START_TEST(test_return_at_max_deliveries_is_limit)
{
	struct core_attr a = cu_attr(4, 8, 2);
	struct core_queue *s;
	struct core_msg m;
	struct core_stat st;
	char name[128];
	uint64_t id;

	a.max_deliveries = 2;
	cu_segname(name, sizeof name);
	ck_assert_int_eq(core_create(name, &a, &s), CQ_OK);
	ck_assert_int_eq(core_push(s, "p", 1, 1, 0, &id), CQ_OK);
	ck_assert_int_eq(core_pop(s, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(core_return(s, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_pop(s, 1, 0, &m), CQ_OK);
	ck_assert_uint_eq(m.deliveries, 2);
	ck_assert_int_eq(core_return(s, m.slot, m.id), CQ_LIMIT);
	/* Still in flight: the caller dead-letters it, then confirms. */
	ck_assert_int_eq(core_stat(s, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_int_eq(core_count_dead_letter(s), CQ_OK);
	ck_assert_int_eq(core_confirm(s, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_stat(s, &st), CQ_OK);
	ck_assert_uint_eq(st.in_flight, 0);
	ck_assert_uint_eq(st.dead_lettered, 1);
	core_detach(s);
	ck_assert_int_eq(core_unlink(name), CQ_OK);
}
END_TEST

START_TEST(test_touch_sets_deadline_and_iteration_sees_it)
{
	struct core_msg m, it;
	uint64_t owner, dl;
	uint32_t cur = 0;
	int n = 0;

	ck_assert_int_eq(push_str("a", 1, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 2, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 42, 1000, &m), CQ_OK);
	ck_assert_int_eq(core_touch(q, m.slot, m.id, 5000), CQ_OK);
	while (core_inflight_next(q, &cur, &it, &owner, &dl)) {
		ck_assert_uint_eq(it.id, m.id);
		ck_assert_uint_eq(it.slot, m.slot);
		ck_assert_uint_eq(it.band, 2);
		ck_assert_uint_eq(owner, 42);
		ck_assert_uint_eq(dl, 5000);
		ck_assert_mem_eq(it.data, "b", 1);
		n++;
	}
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(core_inflight_next(q, &cur, &it, NULL, NULL), 0);
}
END_TEST

START_TEST(test_return_all_restores_id_order)
{
	struct core_msg m[8];
	size_t n;
	int i;

	for (i = 0; i < 6; i++) {
		char t[2] = {(char)('a' + i), 0};
		ck_assert_int_eq(push_str(t, (unsigned)i % 2, 0), CQ_OK);
	}
	/* band 1: b d f, band 0: a c e */
	ck_assert_int_eq(core_pop(q, 1, 0, &m[0]), CQ_OK); /* b */
	ck_assert_int_eq(core_pop(q, 1, 0, &m[1]), CQ_OK); /* d */
	ck_assert_int_eq(core_pop_many(q, 1, 0, &m[2], 2, &n), CQ_OK);
	ck_assert_uint_eq(n, 1);                           /* f */
	ck_assert_int_eq(core_pop(q, 1, 0, &m[3]), CQ_OK); /* a */
	/* Put d back first, so the table is not in id order. */
	ck_assert_int_eq(core_return(q, m[1].slot, m[1].id), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m[1]), CQ_OK); /* d again */
	ck_assert_int_eq(core_return_all(q), CQ_OK);
	ck_assert_uint_eq(core_length(q), 6);
	pop_expect("b");
	pop_expect("d");
	pop_expect("f");
	pop_expect("a");
	pop_expect("c");
	pop_expect("e");
	ck_assert_int_eq(core_return_all(q), CQ_OK);
	ck_assert_uint_eq(core_length(q), 0);
}
END_TEST

START_TEST(test_return_all_many_keeps_every_band_in_order)
{
	struct core_attr a = cu_attr(200, 8, 3);
	struct core_queue *s;
	struct core_msg m[200];
	uint64_t id, last[3] = {0, 0, 0}, rs = 3;
	char name[128];
	size_t n, got = 0;
	uint32_t band = 2;
	int i;

	cu_segname(name, sizeof name);
	ck_assert_int_eq(core_create(name, &a, &s), CQ_OK);
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(
		    core_push(s, "x", 1, (unsigned)(cu_rand(&rs) % 3), 0, &id),
		    CQ_OK);
	while (got < 200) {
		ck_assert_int_eq(
		    core_pop_many(s, 1, 0, m + got, 1 + cu_rand(&rs) % 7, &n),
		    CQ_OK);
		got += n;
	}
	/* Give a few back by hand so the table is out of order. */
	for (i = 0; i < 200; i += 17)
		ck_assert_int_eq(core_return(s, m[i].slot, m[i].id), CQ_OK);
	for (i = 0; i < 200; i += 17)
		ck_assert_int_eq(core_pop(s, 1, 0, &m[i]), CQ_OK);
	ck_assert_int_eq(core_return_all(s), CQ_OK);
	ck_assert_uint_eq(core_length(s), 200);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(core_pop(s, 1, 0, &m[0]), CQ_OK);
		/* Highest band first, then ids ascending within a band. */
		ck_assert_uint_le(m[0].band, band);
		band = m[0].band;
		ck_assert_uint_gt(m[0].id, last[band]);
		last[band] = m[0].id;
		ck_assert_int_eq(core_confirm(s, m[0].slot, m[0].id), CQ_OK);
	}
	core_detach(s);
	ck_assert_int_eq(core_unlink(name), CQ_OK);
}
END_TEST

START_TEST(test_ids_are_monotonic)
{
	uint64_t id, last = 0;
	struct core_msg m;
	int i;

	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(
		    core_push(q, "x", 1, (unsigned)i % 3, i % 2, &id), CQ_OK);
		ck_assert_uint_gt(id, last);
		last = id;
		ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
		ck_assert_uint_eq(m.id, id);
		ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	}
	/* Reattaching (which validates and repairs) keeps counting. */
	core_detach(q);
	ck_assert_int_eq(core_attach(seg, &q), CQ_OK);
	ck_assert_int_eq(core_push(q, "x", 1, 0, 0, &id), CQ_OK);
	ck_assert_uint_gt(id, last);
}
END_TEST

START_TEST(test_stat_counts_everything)
{
	struct core_stat st;
	struct core_msg m;
	uint64_t before = time_real_ns();

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 2, 0), CQ_OK);
	ck_assert_int_eq(push_str("c", 2, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	pop_expect("c");
	ck_assert_int_eq(core_set_mode(q, 0640), CQ_OK);
	ck_assert_int_eq(core_set_mode(q, 010000), CQ_INVALID);
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_str_eq(st.attr.name, "test.q");
	ck_assert_uint_eq(st.attr.capacity, 8);
	ck_assert_uint_eq(st.attr.max_size, 16);
	ck_assert_uint_eq(st.attr.bands, 3);
	ck_assert_uint_eq(st.attr.mode, 0640);
	ck_assert_uint_eq(st.attr.uid, getuid());
	ck_assert_uint_eq(st.attr.lease_ms, 30000);
	ck_assert_uint_eq(st.length, 1);
	ck_assert_uint_eq(st.in_flight, 1);
	ck_assert_uint_eq(st.total_pushed, 3);
	ck_assert_uint_eq(st.total_popped, 1);
	ck_assert_uint_eq(st.dead_lettered, 0);
	ck_assert_uint_ge(st.oldest_enqueued_ns, before);
	ck_assert_uint_le(st.oldest_enqueued_ns, time_real_ns());
	ck_assert_int_eq(st.closed, 0);
	ck_assert_int_eq(st.paused, 0);
	ck_assert_uint_eq(core_attr(q)->mode, 0640);
	ck_assert_uint_eq(core_free_slots(q), 6);
	ck_assert_uint_eq(core_length(q), 1);
	pop_expect("a");
	ck_assert_int_eq(core_stat(q, &st), CQ_OK);
	ck_assert_uint_eq(st.oldest_enqueued_ns, 0);
}
END_TEST

START_TEST(test_attach_sees_existing_contents)
{
	struct core_queue *q2;
	struct core_msg m;

	ck_assert_int_eq(push_str("a", 1, 0), CQ_OK);
	ck_assert_int_eq(push_str("b", 0, 0), CQ_OK);
	ck_assert_int_eq(core_pop(q, 9, 0, &m), CQ_OK);
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	ck_assert_str_eq(core_attr(q2)->name, "test.q");
	ck_assert_uint_eq(core_attr(q2)->capacity, 8);
	ck_assert_uint_eq(core_length(q2), 1);
	/* Both handles see the same state. */
	ck_assert_int_eq(core_confirm(q2, m.slot, m.id), CQ_OK);
	ck_assert_int_eq(core_pop(q2, 1, 0, &m), CQ_OK);
	ck_assert_mem_eq(m.data, "b", 1);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	core_detach(q2);
	ck_assert_int_eq(
	    core_attach("/cqcore-no-such-segment", &q2), CQ_NOTFOUND);
	ck_assert_ptr_null(q2);
}
END_TEST

/* Make segment name with this mode, size and contents (may be NULL). */
static void
make_file(
    const char *name, mode_t mode, size_t size, const void *data, size_t dlen)
{
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	if (data != NULL)
		ck_assert_int_eq(pwrite(fd, data, dlen, 0), (ssize_t)dlen);
	close(fd);
}

/* Copy segment seg into a new one with this mode and size. */
static void
copy_seg(const char *to, mode_t mode, size_t size)
{
	size_t len = core_segment_size(core_attr(q));
	char *buf = calloc(1, len);
	int fd = shm_open(seg, O_RDONLY, 0);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	make_file(to, mode, size, buf, len < size ? len : size);
	free(buf);
}

START_TEST(test_attach_refuses_untrusted_files)
{
	size_t len = core_segment_size(core_attr(q));
	struct core_queue *q2 = (void *)1;
	char name[128];
	int fd;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	/* A faithful copy attaches: the cases below fail for one reason. */
	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len);
	ck_assert_int_eq(core_attach(name, &q2), CQ_OK);
	core_detach(q2);
	ck_assert_int_eq(core_unlink(name), CQ_OK);

	cu_segname(name, sizeof name);
	copy_seg(name, 0644, len);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	ck_assert_ptr_null(q2);
	core_unlink(name);

	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len - 64);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);

	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len + 4096);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);

	cu_segname(name, sizeof name);
	make_file(name, 0600, 16, "short", 5);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);

	/* What a create killed before its commit leaves: nothing. */
	cu_segname(name, sizeof name);
	make_file(name, 0600, len, NULL, 0);
	ck_assert_int_eq(core_attach(name, &q2), CQ_NOTFOUND);
	core_unlink(name);
	cu_segname(name, sizeof name);
	make_file(name, 0600, 0, NULL, 0);
	ck_assert_int_eq(core_attach(name, &q2), CQ_NOTFOUND);
	core_unlink(name);
	/* ... but not when it is someone else's kind of file. */
	cu_segname(name, sizeof name);
	make_file(name, 0644, 0, NULL, 0);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);

	/* Wrong magic, then an immutable field changed (checksum). */
	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len);
	fd = shm_open(name, O_RDWR, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);

	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len);
	fd = shm_open(name, O_RDWR, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 120), 1); /* in the name */
	close(fd);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	core_unlink(name);
}
END_TEST

/* Someone else's file is refused (root: check_core_root). */
START_TEST(test_attach_refuses_foreign_owner)
{
	size_t len = core_segment_size(core_attr(q));
	struct core_queue *q2 = (void *)1;
	char name[128];
	int fd;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	cu_segname(name, sizeof name);
	copy_seg(name, 0600, len);
	fd = shm_open(name, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchown(fd, 4242, 4242), 0);
	close(fd);
	ck_assert_int_eq(core_attach(name, &q2), CQ_CORRUPT);
	ck_assert_ptr_null(q2);
	core_unlink(name);
}
END_TEST

START_TEST(test_create_on_existing_is_exists)
{
	struct core_attr a = cu_attr(2, 2, 1);
	struct core_queue *q2 = (void *)1;

	ck_assert_int_eq(push_str("keep", 0, 0), CQ_OK);
	ck_assert_int_eq(core_create(seg, &a, &q2), CQ_EXISTS);
	ck_assert_ptr_null(q2);
	/* The existing segment is untouched. */
	pop_expect("keep");
}
END_TEST

START_TEST(test_create_rejects_bad_attributes)
{
	struct core_attr a;
	struct core_queue *q2;
	char name[128];
	int before = cu_count();

	cu_segname(name, sizeof name);
	a = cu_attr(0, 8, 1);
	ck_assert_uint_eq(core_segment_size(&a), 0);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, 0, 1);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, 8, 0);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, 8, CQ_BANDS_MAX + 1);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, (1u << 30) + 1, 1);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, 8, 1);
	a.mode = 0100000;
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_INVALID);
	a = cu_attr(8, 8, CQ_BANDS_MAX);
	ck_assert_uint_gt(core_segment_size(&a), 8 * 8);
	ck_assert_int_eq(cu_count(), before);
}
END_TEST

START_TEST(test_create_too_big_for_shm_fails_cleanly)
{
	/*
	 * A reserved part (rings and tables, 40 bytes a slot) twice the
	 * size of /dev/shm: fallocate fails, never a SIGBUS. (The heap is
	 * sparse: a push that finds no memory is CQ_LIMIT, check_varsize.)
	 */
	struct core_attr a = cu_attr(1, 1, 1);
	uint64_t cap;
	struct core_queue *q2 = (void *)1;
	struct statvfs vfs;
	char name[128];
	int before = cu_count();
	cq_status st;

	/* Size-limited /dev/shm only (check_core_root requires it). */
	ck_assert_int_eq(statvfs("/dev/shm", &vfs), 0);
	ck_assert_uint_gt(vfs.f_blocks, 0);
	cap = 2 * (uint64_t)vfs.f_blocks * vfs.f_frsize / 40 + 2;
	ck_assert_msg(cap < UINT32_MAX, "/dev/shm too large for this test");
	a.capacity = (uint32_t)cap;
	cu_segname(name, sizeof name);
	st = core_create(name, &a, &q2);
	ck_assert_msg(st == CQ_LIMIT || st == CQ_SYSTEM, "got %d", st);
	ck_assert_ptr_null(q2);
	ck_assert_int_eq(cu_count(), before);
	ck_assert_int_eq(core_unlink(name), CQ_NOTFOUND);
}
END_TEST

START_TEST(test_created_file_is_0600_whatever_the_umask)
{
	struct core_attr a = cu_attr(2, 2, 1);
	struct core_queue *q2;
	char name[128], path[160];
	struct stat sb;
	mode_t old = umask(0777);

	cu_segname(name, sizeof name);
	ck_assert_int_eq(core_create(name, &a, &q2), CQ_OK);
	umask(old);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_uint_eq(sb.st_uid, geteuid());
	ck_assert_uint_eq((uint64_t)sb.st_size, core_segment_size(&a));
	core_detach(q2);
	ck_assert_int_eq(core_unlink(name), CQ_OK);
	ck_assert_int_eq(core_unlink(name), CQ_NOTFOUND);
}
END_TEST

START_TEST(test_check_passes_on_busy_queue)
{
	struct core_msg m;
	int i;

	for (i = 0; i < 6; i++)
		ck_assert_int_eq(
		    push_str("abc", (unsigned)i % 3, i & 1), CQ_OK);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(core_length(q), 5);
	ck_assert_uint_eq(core_free_slots(q), 2);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
}
END_TEST

START_TEST(test_check_quarantines_a_file_changed_under_it)
{
	struct core_queue *q2;
	struct core_msg m;
	int fd;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	fd = shm_open(seg, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0666), 0);
	close(fd);
	ck_assert_int_eq(core_check(q), CQ_CORRUPT);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_CORRUPT);
	ck_assert_int_eq(
	    core_stat(q, &(struct core_stat){.length = 0}), CQ_CORRUPT);
	/* The other handle learns it at its next lock. */
	ck_assert_int_eq(core_pop(q2, 1, 0, &m), CQ_CORRUPT);
	core_detach(q2);
}
END_TEST

START_TEST(test_check_quarantines_a_resized_file)
{
	size_t len = core_segment_size(core_attr(q));
	struct core_msg m;
	int fd;

	ck_assert_int_eq(push_str("a", 0, 0), CQ_OK);
	fd = shm_open(seg, O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)len + 4096), 0);
	close(fd);
	ck_assert_int_eq(core_check(q), CQ_CORRUPT);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_CORRUPT);
}
END_TEST

/* The suite. */
static Suite *
core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("ops");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fifo_within_band);
	tcase_add_test(tc, test_pop_takes_highest_band_first);
	tcase_add_test(tc, test_push_front_goes_to_head_of_band);
	tcase_add_test(tc, test_push_many_is_all_or_nothing);
	tcase_add_test(tc, test_pop_many_returns_one_to_n_of_one_band);
	tcase_add_test(tc, test_pop_after_close_drains);
	tcase_add_test(tc, test_full_then_empty);
	tcase_add_test(tc, test_max_size_fits_and_one_more_is_toobig);
	tcase_add_test(tc, test_invalid_band_is_rejected);
	tcase_add_test(tc, test_paused_pops_empty_pushes_go_in);
	tcase_add_test(tc, test_serial_hands_out_one_at_a_time);
	tcase_add_test(tc, test_confirm_deletes_and_unknown_is_notfound);
	tcase_add_test(tc, test_confirm_many_confirms_each_under_one_lock);
	tcase_add_test(tc, test_return_puts_back_at_head_and_counts_delivery);
	tcase_add_test(tc, test_return_at_max_deliveries_is_limit);
	tcase_add_test(tc, test_touch_sets_deadline_and_iteration_sees_it);
	tcase_add_test(tc, test_return_all_restores_id_order);
	tcase_add_test(tc, test_return_all_many_keeps_every_band_in_order);
	tcase_add_test(tc, test_ids_are_monotonic);
	tcase_add_test(tc, test_stat_counts_everything);
	tcase_add_test(tc, test_attach_sees_existing_contents);
	tcase_add_test(tc, test_attach_refuses_untrusted_files);
	tcase_add_test(tc, test_create_on_existing_is_exists);
	tcase_add_test(tc, test_create_rejects_bad_attributes);
	tcase_add_test(tc, test_created_file_is_0600_whatever_the_umask);
	tcase_add_test(tc, test_check_passes_on_busy_queue);
	tcase_add_test(tc, test_check_quarantines_a_file_changed_under_it);
	tcase_add_test(tc, test_check_quarantines_a_resized_file);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
/*
 * The tests that need root (a foreign owner) or a size-limited /dev/shm
 * (an unlimited tmpfs would eat the machine's memory): the check_core_root
 * twin, which exits 77 without them.
 */
static Suite *
core_root_suite(void)
{
	Suite *s = suite_create("core_root");
	TCase *tc = tcase_create("root");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_attach_refuses_foreign_owner);
	tcase_add_test(tc, test_create_too_big_for_shm_fails_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

/* Unless run as root on a size-limited /dev/shm, skip the twin. */
static void
core_root_require(void)
{
	struct statvfs vfs;

	tu_require(geteuid() == 0, "check_core_root needs root");
	tu_require(statvfs("/dev/shm", &vfs) == 0 && vfs.f_blocks > 0,
	    "check_core_root needs a size-limited /dev/shm");
}

int
main(int argc, char **argv)
{
	SRunner *sr;
	int failed, root = tu_is_variant(argv[0], "_root");

	(void)argc;
	if (root)
		core_root_require();
	cu_init();
	sr = srunner_create(root ? core_root_suite() : core_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (cu_count() != 0) {
		fprintf(stderr, "check_core: segments left behind\n");
		failed++;
	}
	cu_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
