/* check_varsize.c - issue 17: the heap of records (layout 3) in the core. */

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "core/layout.h"
#include "core/queue.h"
#include "tests/core_util.h"

static char seg[128];
static struct core_queue *q;

/* Create q with these attributes and max_bytes. */
static void
make(uint32_t cap, uint32_t max_size, uint64_t max_bytes)
{
	struct core_attr a = cu_attr(cap, max_size, 1);

	a.max_bytes = max_bytes;
	cu_segname(seg, sizeof seg);
	ck_assert_int_eq(core_create(seg, &a, &q), CQ_OK);
}

/* Drop q and its segment. */
static void
teardown(void)
{
	if (q != NULL)
		core_detach(q);
	q = NULL;
	core_unlink(seg);
}

/* q's stat. */
static struct core_stat
stat_of(struct core_queue *h)
{
	struct core_stat st;

	ck_assert_int_eq(core_stat(h, &st), CQ_OK);
	return st;
}

/* Fill buf with len bytes derived from seed. */
static void
fill(unsigned char *buf, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)((seed * 131 + i * 7) >> 3);
}

/* Pop one message and confirm it: its length, or -1 if none. */
static long
pop_check(uint64_t seed_of_id(uint64_t), unsigned char *want)
{
	struct core_msg m;

	if (core_pop(q, 1, 0, &m) != CQ_OK)
		return -1;
	fill(want, m.len, seed_of_id(m.id));
	ck_assert_msg(memcmp(m.data, want, m.len) == 0, "message %llu damaged",
	    (unsigned long long)m.id);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	return (long)m.len;
}

/* The seed of message id: its id. */
static uint64_t
seed_id(uint64_t id)
{
	return id;
}

START_TEST(test_max_bytes_default_and_bounds)
{
	struct core_attr a = cu_attr(1024, 65536, 1);
	struct core_queue *q2 = (void *)1;
	char other[128];

	make(1024, 65536, 0);
	ck_assert_uint_eq(core_attr(q)->max_bytes, CORE_MAX_BYTES_DEFAULT);
	ck_assert_uint_eq(stat_of(q).attr.max_bytes, CORE_MAX_BYTES_DEFAULT);
	/* Below max_size, above the maximum: refused, nothing made. */
	cu_segname(other, sizeof other);
	a.max_bytes = 65535;
	ck_assert_int_eq(core_create(other, &a, &q2), CQ_INVALID);
	a.max_bytes = CORE_MAX_BYTES_MAX + 1;
	ck_assert_int_eq(core_create(other, &a, &q2), CQ_INVALID);
	ck_assert_int_eq(core_unlink(other), CQ_NOTFOUND);
	/* Beyond capacity * max_size: lowered to it. */
	a = cu_attr(4, 100, 1);
	a.max_bytes = 1000000;
	ck_assert_int_eq(core_create(other, &a, &q2), CQ_OK);
	ck_assert_uint_eq(core_attr(q2)->max_bytes, 400);
	core_detach(q2);
	ck_assert_int_eq(core_unlink(other), CQ_OK);
	/* A max_size above the default raises the default to it. */
	a = cu_attr(4, 1u << 20, 1);
	ck_assert_int_eq(core_create(other, &a, &q2), CQ_OK);
	ck_assert_uint_eq(core_attr(q2)->max_bytes, 1u << 20);
	core_detach(q2);
	ck_assert_int_eq(core_unlink(other), CQ_OK);
	/* The quota's charge: reserved part plus max_bytes, not the file. */
	a = cu_attr(1024, 65536, 1);
	ck_assert_uint_gt(core_charge_size(&a), CORE_MAX_BYTES_DEFAULT);
	ck_assert_uint_lt(core_charge_size(&a), CORE_MAX_BYTES_DEFAULT + 65536);
}
END_TEST

START_TEST(test_bytes_bound_is_full_and_changes_nothing)
{
	unsigned char buf[1000];
	struct iovec iov[3];
	struct core_msg m;
	uint64_t id;
	int i;

	make(16, 1000, 2500);
	memset(buf, 'x', sizeof buf);
	ck_assert_int_eq(core_push(q, buf, 1000, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(q, buf, 1000, 0, 0, &id), CQ_OK);
	/* Slots are free, bytes are not. */
	ck_assert_uint_ge(core_free_slots(q), 14);
	ck_assert_int_eq(core_push(q, buf, 1000, 0, 0, &id), CQ_FULL);
	ck_assert_uint_eq(stat_of(q).bytes, 2000);
	ck_assert_uint_eq(stat_of(q).length, 2);
	/* What still fits goes in. */
	ck_assert_int_eq(core_push(q, buf, 500, 0, 0, &id), CQ_OK);
	ck_assert_uint_eq(stat_of(q).bytes, 2500);
	ck_assert_int_eq(core_push(q, "", 0, 0, 0, &id), CQ_OK);
	/* In flight still holds its bytes; confirmed, it gives them back. */
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(core_push(q, buf, 1000, 0, 0, &id), CQ_FULL);
	ck_assert_int_eq(core_confirm(q, m.slot, m.id), CQ_OK);
	ck_assert_uint_eq(stat_of(q).bytes, 1500);
	ck_assert_int_eq(core_push(q, buf, 1000, 0, 0, &id), CQ_OK);
	/* A batch is all or nothing on bytes too. */
	for (i = 0; i < 3; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 10;
	}
	ck_assert_int_eq(core_push_many(q, iov, 3, 0, 0, &id), CQ_FULL);
	ck_assert_uint_eq(stat_of(q).length, 4);
	ck_assert_uint_eq(stat_of(q).bytes, 2500);
	/* Delayed pushes count too. */
	ck_assert_int_eq(
	    core_push_delayed(q, buf, 1, 0, time_real_ns(), &id, &m.slot),
	    CQ_FULL);
}
END_TEST

START_TEST(test_mixed_sizes_round_trip_through_fragmentation)
{
	unsigned char *buf = malloc(8192), *want = malloc(8192);
	uint64_t rs = UINT64_C(0x17) + (uint64_t)_i, id, pushed = 0, popped = 0;
	long rounds = cu_scaled(20000), r, len;
	uint64_t held = 0;
	cq_status st;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(want);
	make(64, 8192, 40000);
	for (r = 0; r < rounds; r++) {
		/* Mostly small, sometimes large: holes of every size. */
		len = (long)(cu_rand(&rs) % 8) == 0
		          ? (long)(cu_rand(&rs) % 8193)
		          : (long)(cu_rand(&rs) % 300);
		if (cu_rand(&rs) % 3 != 0) {
			fill(buf, (size_t)len, stat_of(q).total_pushed + 1);
			st = core_push(q, buf, (size_t)len, 0, 0, &id);
			ck_assert_msg(st == CQ_OK || st == CQ_FULL, "push %d", st);
			if (st == CQ_OK) {
				ck_assert_uint_eq(id, pushed + 1);
				pushed++;
				held += (uint64_t)len;
			}
		} else if ((len = pop_check(seed_id, want)) >= 0) {
			popped++;
			held -= (uint64_t)len;
		}
		if (r % 997 == 0) {
			ck_assert_uint_eq(stat_of(q).bytes, held);
			ck_assert_int_eq(core_check(q), CQ_OK);
			ck_assert_uint_eq(stat_of(q).bytes, held);
		}
	}
	while ((len = pop_check(seed_id, want)) >= 0) {
		popped++;
		held -= (uint64_t)len;
	}
	ck_assert_uint_eq(pushed, popped);
	ck_assert_uint_eq(held, 0);
	ck_assert_uint_eq(stat_of(q).bytes, 0);
	/* Drained: a largest message always fits an empty queue. */
	ck_assert_int_eq(core_push(q, buf, 8192, 0, 0, &id), CQ_OK);
	free(buf);
	free(want);
}
END_TEST

START_TEST(test_memory_follows_what_is_held)
{
	static unsigned char big[4000];
	struct core_stat st;
	uint64_t id, pages = 0;
	int i;

	/* The defaults: capacity 1024, max_size 64 KiB, max_bytes 512 KiB. */
	make(1024, 65536, 0);
	st = stat_of(q);
	ck_assert_msg(st.resident <= 64 * 1024, "empty queue: %llu bytes",
	    (unsigned long long)st.resident);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(core_push(q, big, 64, 0, 0, &id), CQ_OK);
	st = stat_of(q);
	ck_assert_msg(st.resident <= 256 * 1024, "1,000 x 64 B: %llu bytes",
	    (unsigned long long)st.resident);
	ck_assert_int_eq(core_purge(q, NULL), CQ_OK);
	/* A burst of ~400 KiB, drained: trim gives it back. */
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(
		    core_push(q, big, sizeof big, 0, 0, &id), CQ_OK);
	ck_assert_uint_gt(stat_of(q).resident, 400 * 1000);
	ck_assert_int_eq(core_purge(q, NULL), CQ_OK);
	ck_assert_int_eq(core_trim(q, &pages), CQ_OK);
	ck_assert_uint_ge(pages, 400 * 1000 / QUEUE_PAGE);
	st = stat_of(q);
	ck_assert_msg(st.resident <= 64 * 1024, "drained: %llu bytes",
	    (unsigned long long)st.resident);
	ck_assert_uint_eq(st.bytes, 0);
	/* Trimmed pages are backed again when used. */
	ck_assert_int_eq(core_push(q, big, sizeof big, 0, 0, &id), CQ_OK);
	ck_assert_uint_gt(stat_of(q).resident, st.resident);
	ck_assert_int_eq(core_trim(q, &pages), CQ_OK);
	ck_assert_uint_eq(pages, 0); /* in use: kept */
}
END_TEST

START_TEST(test_recovery_rebuilds_the_heap)
{
	struct core_queue *q2;
	struct core_msg m;
	uint64_t id;
	uint32_t s;

	make(8, 100, 800);
	ck_assert_int_eq(core_push(q, "one", 3, 0, 0, &id), CQ_OK);
	ck_assert_int_eq(core_push(q, "two", 3, 0, 0, &id), CQ_OK);
	/* Derived words gone wrong are rebuilt, not believed. */
	q->hdr->bytes = 1u << 30;
	q->hdr->heap_hint = 1u << 30;
	ck_assert_int_eq(core_push(q, "three", 5, 0, 0, &id), CQ_OK);
	ck_assert_uint_eq(stat_of(q).bytes, 11);
	/* A bitmap that says nothing is free, on a queue that holds
	 * messages: recovery (any attach after a crash) finds the truth. */
	memset(q->map, 0xff, q->heap_chunks / 8);
	ck_assert_int_eq(core_attach(seg, &q2), CQ_OK);
	ck_assert_int_eq(core_push(q2, "four", 4, 0, 0, &id), CQ_OK);
	core_detach(q2);
	/* Two live slots naming one record: only one survives recovery. */
	s = *(q->ring + (q->hdr->head[0] + 1) % q->capacity);
	q->idx[s] = q->idx[*(q->ring + q->hdr->head[0] % q->capacity)];
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 3);
	ck_assert_uint_eq(stat_of(q).corrupt_dropped, 1);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(memcmp(m.data, "one", 3), 0);
	ck_assert_int_eq(core_pop(q, 1, 0, &m), CQ_OK);
	ck_assert_int_eq(memcmp(m.data, "three", 5), 0);
	/* A record beyond the heap is dropped, never read out of bounds. */
	s = *(q->ring + q->hdr->head[0] % q->capacity);
	q->idx[s] = (uint64_t)q->heap_chunks | UINT64_C(5) << 32;
	ck_assert_int_eq(core_check(q), CQ_OK);
	ck_assert_uint_eq(stat_of(q).length, 0);
}
END_TEST

/* The site a forked child dies at. */
static const char *die_site;

/* Crash hook: SIGKILL at die_site. */
static void
die_hook(const char *site)
{
	if (strcmp(site, die_site) == 0)
		raise(SIGKILL);
}

/*
 * In a child: attach, then push n messages of len bytes (trim: purge and
 * trim instead) and die at site. The parent checks the child got there.
 */
static void
die_in_child(const char *site, int n, size_t len, int trim)
{
	static unsigned char buf[4000];
	struct core_queue *c;
	pid_t pid;
	int ws, i;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (core_attach(seg, &c) != CQ_OK)
			_exit(3);
		die_site = site;
		core_crash_hook = die_hook;
		if (trim) {
			core_purge(c, NULL);
			core_trim(c, NULL);
		}
		for (i = 0; i < n; i++)
			core_push(c, buf, len, 0, 0, NULL);
		_exit(4); /* never reached the site */
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL,
	    "child did not die at %s (status %d)", site, ws);
}

/* Push len bytes of fill(next id) to q. */
static void
push_seeded(size_t len)
{
	static unsigned char buf[4000];
	uint64_t id;

	fill(buf, len, stat_of(q).total_pushed + 1);
	ck_assert_int_eq(core_push(q, buf, len, 0, 0, &id), CQ_OK);
	ck_assert_uint_eq(id, stat_of(q).total_pushed);
}

START_TEST(test_crash_at_heap_sites_loses_nothing)
{
	unsigned char want[4000];
	struct core_stat st;
	uint64_t pages;
	int i;

	make(64, 4000, 0);
	memset(want, 0, sizeof want);
	for (i = 0; i < 3; i++)
		push_seeded(100);
	/* Killed with new pages backed but not yet marked: nothing pushed. */
	die_in_child("heap.backed", 20, 4000, 0);
	ck_assert_int_eq(core_check(q), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 3);
	ck_assert_uint_eq(st.bytes, 300);
	push_seeded(4000);
	ck_assert_uint_eq(stat_of(q).bytes, 4300);
	/* Killed in a trim after the purge: the purge stands, the heap works. */
	for (i = 0; i < 40; i++)
		push_seeded(4000);
	die_in_child("trim.before_remove", 0, 0, 1);
	ck_assert_int_eq(core_check(q), CQ_OK);
	st = stat_of(q);
	ck_assert_uint_eq(st.length, 0);
	ck_assert_uint_eq(st.bytes, 0);
	for (i = 0; i < 40; i++)
		push_seeded(4000);
	for (i = 0; i < 40; i++)
		ck_assert_uint_eq((uint64_t)pop_check(seed_id, want), 4000);
	ck_assert_int_eq(core_trim(q, &pages), CQ_OK);
	ck_assert_uint_gt(pages, 0);
}
END_TEST

/* Layout 2's immutable part, as the fixed-slot releases wrote it. */
struct old_imm {
	uint64_t magic;
	uint32_t layout, hdr_size;
	uint64_t offs[6];
	uint32_t capacity, max_size, bands, slot_size, uid, gid;
	uint32_t max_deliveries, lease_ms, serial, flags;
	char name[QUEUE_NAME_LEN];
};

START_TEST(test_older_layout_is_refused_by_name)
{
	unsigned char buf[8192];
	struct old_imm im;
	struct core_attr a;
	struct core_queue *q2 = (void *)1;
	uint32_t crc;
	int fd;

	memset(buf, 0, sizeof buf);
	memset(&im, 0, sizeof im);
	im.magic = QUEUE_MAGIC;
	im.layout = 2;
	im.capacity = 4;
	im.max_size = 8;
	im.bands = 1;
	im.uid = (uint32_t)geteuid();
	im.gid = (uint32_t)getegid();
	strcpy(im.name, "old-queue");
	crc = crc32c(0, &im, sizeof im);
	memcpy(buf, &im, sizeof im);
	memcpy(buf + sizeof im, &crc, sizeof crc);
	cu_segname(seg, sizeof seg);
	fd = shm_open(seg, O_CREAT | O_EXCL | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	ck_assert_int_eq(pwrite(fd, buf, sizeof buf, 0), (ssize_t)sizeof buf);
	close(fd);
	/* Named, so the daemon quarantines it under its own name. */
	ck_assert_int_eq(core_peek(seg, &a), CQ_OK);
	ck_assert_str_eq(a.name, "old-queue");
	ck_assert_uint_eq(a.uid, geteuid());
	/* Never attached: its offsets mean something else now. */
	ck_assert_int_eq(core_attach(seg, &q2), CQ_CORRUPT);
	ck_assert_int_eq(core_unlink(seg), CQ_OK);
}
END_TEST

/* The suite. */
static Suite *
varsize_suite(void)
{
	Suite *s = suite_create("varsize");
	TCase *tc = tcase_create("heap");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_max_bytes_default_and_bounds);
	tcase_add_test(tc, test_bytes_bound_is_full_and_changes_nothing);
	tcase_add_loop_test(
	    tc, test_mixed_sizes_round_trip_through_fragmentation, 0, 2);
	tcase_add_test(tc, test_memory_follows_what_is_held);
	tcase_add_test(tc, test_recovery_rebuilds_the_heap);
	tcase_add_test(tc, test_older_layout_is_refused_by_name);
	tcase_add_test(tc, test_crash_at_heap_sites_loses_nothing);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite, then remove any segment a failed test left behind. */
int
main(void)
{
	return cu_run(varsize_suite, "check_varsize");
}
